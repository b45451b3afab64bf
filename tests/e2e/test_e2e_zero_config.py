"""Zero configuration end to end: headless Chromium, node's oidc-provider with Dynamic Client
Registration and resource indicators, and APIs that serve their protected resource metadata.
Nothing is configured: every request starts from the API's URL alone."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from httpie_stytch_connected.auth import OAuth2PKCEAuth
from httpie_stytch_connected.errors import ConfigurationError, LoginError
from httpie_stytch_connected.testing.resource_server import ResourceServer
from httpie_stytch_connected.zero_config.binding import Binding, BindingCache

from ..loopback import LoopbackServer, QuietHandler
from .conftest import HTTP_COMMAND, zero_environ
from .oidc_provider import OIDCProviderProcess


def api_for(op: OIDCProviderProcess, **overrides: Any) -> ResourceServer:
    """An API whose tokens are for itself (``aud`` = its resource), naming ``op``."""
    options: dict[str, Any] = {
        "jwks_uri": op.jwks_uri,
        "issuer": op.issuer,
        "audience": None,
        "required_scope": "api:read",
        "authorization_servers": [op.issuer],
        "scopes_supported": ["api:read"],
    }
    options.update(overrides)
    return ResourceServer(**options)


def nothing_configured() -> OAuth2PKCEAuth:
    return OAuth2PKCEAuth(environ=zero_environ(), login_timeout=60)


def binding_of(url: str) -> Binding:
    binding = BindingCache().lookup(url)
    assert binding is not None
    return binding


def test_the_whole_chain_from_a_url_to_a_200(op: OIDCProviderProcess) -> None:
    with api_for(op) as api:
        response = requests.get(api.url, auth=nothing_configured(), timeout=120)
        assert response.status_code == 200, response.text
        assert api.audiences == [api.resource]  # RFC 8707: the token is for this API only
        binding = binding_of(api.url)
    assert binding.client_source == "registered" and binding.issuer == op.issuer
    assert op.counters()["token_success"].get("authorization_code") == 1


def test_metadata_for_another_resource_is_refused_before_the_browser_opens(
    op: OIDCProviderProcess,
) -> None:
    opened: list[str] = []

    def opener(url: str) -> bool:
        opened.append(url)
        return False

    auth = OAuth2PKCEAuth(environ=zero_environ(), opener=opener)
    api = api_for(op, resource="http://127.0.0.1:9/another-api")
    with api, pytest.raises(ConfigurationError, match="another resource"):
        requests.get(api.url, auth=auth, timeout=60)
    assert opened == []
    assert op.counters()["token_requests"] == {}


def test_two_apis_on_one_server_one_registration_two_tokens_each_for_its_own_api(
    op: OIDCProviderProcess,
) -> None:
    auth = nothing_configured()
    with api_for(op) as first, api_for(op) as second:
        assert requests.get(first.url, auth=auth, timeout=120).status_code == 200
        assert requests.get(second.url, auth=auth, timeout=120).status_code == 200
        assert requests.get(first.url, auth=auth, timeout=120).status_code == 200
        assert first.audiences == [first.resource, first.resource]
        assert second.audiences == [second.resource]
        assert first.tokens_seen.isdisjoint(second.tokens_seen)
        one, two = binding_of(first.url), binding_of(second.url)
    assert one.client_id == two.client_id  # one registration at the shared server
    assert one.key != two.key
    assert op.counters()["token_success"].get("authorization_code") == 2


class _MixUpMetadata(QuietHandler):
    """An authorization server that names itself but sends the person to ``honest``'s pages:
    the classic mix-up. ``honest`` is set on the class by the test."""

    honest: dict[str, Any] = {}

    def do_GET(self) -> None:
        if self.path != "/.well-known/oauth-authorization-server":
            return self.reply(404, b"{}")
        document = {**self.honest, "issuer": f"http://{self.headers['Host']}"}
        document.pop("authorization_response_iss_parameter_supported", None)
        self.reply(200, json.dumps(document).encode())


def test_an_authorization_response_from_another_issuer_is_refused_before_the_exchange(
    op: OIDCProviderProcess,
) -> None:
    _MixUpMetadata.honest = op.metadata
    refused = pytest.raises(LoginError, match=re.escape(f"came from '{op.issuer}'"))
    with LoopbackServer(_MixUpMetadata) as mixup:
        api = api_for(op, authorization_servers=[mixup.url])
        with api, refused:
            requests.get(api.url, auth=nothing_configured(), timeout=120)
    assert op.counters()["token_requests"] == {}  # the code was never exchanged


def test_http_with_nothing_configured_gets_a_200_after_one_sign_in(
    op: OIDCProviderProcess, tmp_path: Path
) -> None:
    httpie = tmp_path / "httpie"
    httpie.mkdir()
    (httpie / "config.json").write_text('{"disable_update_warnings": true}')
    env = {**zero_environ(), "HTTPIE_CONFIG_DIR": str(httpie), "STYTCH_LOGIN_TIMEOUT": "60"}
    with api_for(op) as api:
        argv = [
            str(HTTP_COMMAND),
            "--ignore-stdin",
            "--check-status",
            "-A",
            "stytch",
            "GET",
            api.url,
        ]
        runs = [
            subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
            for _ in range(2)
        ]
        assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
        assert [json.loads(r.stdout)["resources"] for r in runs]  # stdout is the body alone
        assert f"Signing in to {op.issuer} for {api.resource}" in runs[0].stderr
        assert runs[1].stderr == ""  # the second run: no discovery, no sign-in, no message
        assert api.audiences == [api.resource, api.resource]
    assert op.counters()["token_success"].get("authorization_code") == 1
