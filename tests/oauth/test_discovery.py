"""Any OpenID provider from its issuer: discovery against the emulator (and a bare RFC 8414
server), the issuer check, the on-disk cache and its stale-if-unreachable fallback."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from httpie_stytch_connected.auth import OAuth2PKCEAuth, StytchAuth
from httpie_stytch_connected.errors import ConfigurationError, TokenEndpointError
from httpie_stytch_connected.oauth.discovery import metadata_urls, named_on_origin
from httpie_stytch_connected.oauth.urls import host_of
from httpie_stytch_connected.settings.config import load_settings, resolve_endpoints, storage_key
from httpie_stytch_connected.storage.metadata_cache import _digest, discover
from httpie_stytch_connected.storage.store import cache_dir, write_private
from httpie_stytch_connected.testing import StytchEmulator
from httpie_stytch_connected.testing.emulator import example_api
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.adapters import ADAPTERS_IN_PROCESS, oauth2_auth, send
from tests.loopback import LoopbackServer, QuietHandler


@pytest.fixture
def issuer_env(stytch_env: StytchEmulator, monkeypatch: pytest.MonkeyPatch) -> StytchEmulator:
    """Configured as a generic OpenID provider: issuer and client ID only."""
    monkeypatch.delenv("STYTCH_PROJECT_DOMAIN")
    monkeypatch.delenv("STYTCH_AUTHORIZE_URL")
    monkeypatch.setenv("STYTCH_ISSUER", stytch_env.issuer)
    return stytch_env


def test_metadata_urls_follow_rfc_8414_then_openid_in_the_mcp_order() -> None:
    assert metadata_urls("https://id.example.com") == [
        "https://id.example.com/.well-known/oauth-authorization-server",
        "https://id.example.com/.well-known/openid-configuration",
    ]
    assert metadata_urls("https://id.example.com/tenant/a/") == [
        "https://id.example.com/.well-known/oauth-authorization-server/tenant/a",
        "https://id.example.com/.well-known/openid-configuration/tenant/a",
        "https://id.example.com/tenant/a/.well-known/openid-configuration",
    ]


def test_issuer_only_configuration_signs_in(
    issuer_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    auth = OAuth2PKCEAuth()
    response = requests.get(stytch_resource_server.url, auth=auth, timeout=30)
    assert response.status_code == 200, response.text
    endpoints = auth.manager.endpoints
    assert endpoints.token_endpoint == issuer_env.token_endpoint
    assert endpoints.jwks_uri == issuer_env.jwks_uri
    cached = list((cache_dir() / "discovery").glob("*.json"))
    assert len(cached) == 1
    assert stat.S_IMODE(cached[0].stat().st_mode) == 0o600


def test_the_token_command_works_with_an_issuer(issuer_env: StytchEmulator) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "httpie_stytch_connected", "token"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    issuer_env.verify_access_token(result.stdout.strip())


def test_store_key_needs_no_network_and_follows_the_issuer(issuer_env: StytchEmulator) -> None:
    settings = load_settings({}, os.environ)
    issuer_env.stop()
    key = storage_key(settings)
    other = storage_key(load_settings({"issuer": "https://other.example.com"}, os.environ))
    assert key != other


def test_warm_runs_use_the_cache_and_stale_copies_survive_an_outage(
    issuer_env: StytchEmulator,
) -> None:
    first = discover(issuer_env.issuer)
    issuer_env.stop()
    assert discover(issuer_env.issuer) == first  # fresh cache: no request at all
    assert discover(issuer_env.issuer, ttl=0) == first  # stale, provider down: still usable
    with pytest.raises(TokenEndpointError, match="cannot reach"):
        discover(issuer_env.issuer + "/elsewhere", ttl=0)


def test_explicit_endpoints_override_discovered_ones(issuer_env: StytchEmulator) -> None:
    settings = load_settings({"revocation_endpoint": "https://revoke.example.com/r"}, os.environ)
    endpoints = resolve_endpoints(settings)
    assert endpoints.revocation_endpoint == "https://revoke.example.com/r"
    assert endpoints.authorization_endpoint == issuer_env.authorize_url


def test_a_document_for_another_issuer_is_refused(
    issuer_env: StytchEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = issuer_env.issuer.replace("127.0.0.1", "localhost")
    monkeypatch.setenv("STYTCH_ISSUER", wrong)
    with pytest.raises(ConfigurationError, match="names issuer") as caught:
        resolve_endpoints(load_settings({}, os.environ))
    assert wrong in str(caught.value) and issuer_env.issuer in str(caught.value)
    assert not (cache_dir() / "discovery").exists()


def test_stytch_without_authorize_url_uses_the_project_discovery(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STYTCH_AUTHORIZE_URL")
    auth = StytchAuth()
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).status_code == 200
    assert auth.manager.endpoints.authorization_endpoint == stytch_env.authorize_url
    with_url = StytchAuth(authorize_url=stytch_env.authorize_url)
    assert with_url.manager.key == auth.manager.key  # same tokens either way


class _OneLocation(QuietHandler):
    """A provider whose metadata for an issuer with a path is at one location only."""

    document: dict[str, Any] = {}
    location = ""

    def do_GET(self) -> None:
        found = self.path == self.location
        self.reply(200 if found else 404, json.dumps(self.document).encode() if found else b"{}")


@pytest.fixture
def one_location_server(stytch_keyring: Path) -> Iterator[str]:
    with LoopbackServer(_OneLocation) as server:
        base = server.url
        _OneLocation.document = {
            "issuer": base + "/tenant",
            "authorization_endpoint": base + "/tenant/authorize",
            "token_endpoint": base + "/tenant/token",
        }
        yield base + "/tenant"


@pytest.mark.parametrize(
    "location",
    [
        "/.well-known/oauth-authorization-server/tenant",  # RFC 8414 §3.1
        "/.well-known/openid-configuration/tenant",  # OpenID path insertion (MCP order)
        "/tenant/.well-known/openid-configuration",  # OpenID Discovery §4
    ],
)
def test_an_issuer_with_a_path_is_found_at_each_standard_location(
    one_location_server: str, location: str
) -> None:
    _OneLocation.location = location
    endpoints = discover(one_location_server)
    assert endpoints.token_endpoint == one_location_server + "/token"
    assert endpoints.jwks_uri is None


def test_host_of_names_the_host_and_port_only() -> None:
    assert host_of("https://id.example.com:8443/tenant?code=secret") == "id.example.com:8443"
    assert host_of("stytch.com/project-test-1") == "stytch.com/project-test-1"


class _Flaky(QuietHandler):
    """An OpenID provider whose discovery endpoint can be switched to an outage."""

    status = 200
    document: dict[str, Any] = {}
    requests = 0

    def do_GET(self) -> None:
        type(self).requests += 1
        found = self.path == "/.well-known/openid-configuration" and self.status == 200
        body = json.dumps(self.document).encode() if found else b"upstream down"
        status = self.status if self.status != 200 else (200 if found else 404)
        self.reply(status, body, content_type=None)


@pytest.fixture
def flaky_issuer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("STYTCH_CACHE_DIR", str(tmp_path / "cache"))
    with LoopbackServer(_Flaky) as server:
        base = server.url
        _Flaky.status, _Flaky.requests = 200, 0
        _Flaky.document = {
            "issuer": base,
            "authorization_endpoint": base + "/authorize",
            "token_endpoint": base + "/token",
        }
        yield base


def test_a_5xx_from_the_provider_falls_back_to_the_stale_copy(flaky_issuer: str) -> None:
    first = discover(flaky_issuer)
    assert first.token_endpoint == flaky_issuer + "/token"
    _Flaky.status = 503
    asked = _Flaky.requests
    assert discover(flaky_issuer, ttl=0) == first  # stale, provider failing: still usable
    assert _Flaky.requests > asked  # it did ask the provider first
    with pytest.raises(TokenEndpointError, match=r"answered HTTP 503, a provider outage") as err:
        discover(flaky_issuer + "/never-cached", ttl=0)
    assert err.value.retryable and err.value.status == 503


@pytest.mark.parametrize(("configured", "published"), [("{}/", "{}"), ("{}", "{}/")])
def test_issuers_match_exactly_and_a_mismatch_is_found_before_the_browser_opens(
    flaky_issuer: str, stytch_keyring: Path, configured: str, published: str
) -> None:
    configured, published = configured.format(flaky_issuer), published.format(flaky_issuer)
    _Flaky.document = dict(_Flaky.document, issuer=published)
    opened: list[str] = []

    def opener(url: str) -> bool:
        opened.append(url)
        return True

    auth = OAuth2PKCEAuth(client_id="client-1", issuer=configured, opener=opener)
    with pytest.raises(ConfigurationError) as caught:
        requests.get(flaky_issuer + "/api", auth=auth, timeout=30)
    assert opened == []
    message = str(caught.value)
    assert repr(configured) in message and repr(published) in message
    assert "must match exactly (a trailing slash counts)" in message


def test_a_cached_document_for_a_near_miss_issuer_is_not_used(flaky_issuer: str) -> None:
    issuer = flaky_issuer + "/"
    path = cache_dir() / "discovery" / f"{_digest(issuer, metadata_urls(issuer))}.json"
    # As a release that forgave the trailing slash cached it: the provider's own document.
    write_private(path, json.dumps({"fetched_at": time.time(), "document": _Flaky.document}))
    with pytest.raises(ConfigurationError, match="names issuer"):
        discover(issuer)


@pytest.mark.parametrize(
    ("found", "named"),
    [
        ("https://api.example.com", True),
        ("https://api.example.com/oauth", True),
        ("HTTPS://API.example.com:443/oauth", True),  # the same origin (RFC 3986 §6.2)
        ("https://api.example.com.evil.example/oauth", False),
        ("https://login.example.com/oauth", False),
        ("https://api.example.com:8443/oauth", False),
        ("http://api.example.com/oauth", False),  # another scheme, and plain http
        ("https://someone@api.example.com/oauth", False),
        ("https://api.example.com/oauth?tenant=1", False),
        ("https://api.example.com/oauth#x", False),
        ("https://api.example.com/a%2f/oauth", False),
        ("https://api.example.com/o auth", False),
        (["https://api.example.com"], False),
        (None, False),
    ],
)
def test_an_older_apis_origin_may_name_an_issuer_on_itself_only(found: object, named: bool) -> None:
    """MCP 2025-03-26's fallback: the metadata at an API's origin may name an issuer on that
    origin (``{origin}/oauth``), never one on another origin (RFC 8414 §3.3)."""
    assert named_on_origin(found, "https://api.example.com") is named


# -- PKCE methods the server offers (issue 18 §3) ----------------------------------------------


def test_a_server_that_offers_pkce_without_s256_is_refused_before_the_browser(
    issuer_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    issuer_env.code_challenge_methods = ["plain"]
    with pytest.raises(ConfigurationError, match="does not offer PKCE with S256") as caught:
        requests.get(stytch_resource_server.url, auth=OAuth2PKCEAuth(), timeout=30)
    assert issuer_env.issuer in str(caught.value) and "plain" in str(caught.value)
    assert issuer_env.counters["authorize_page"] == 0


@pytest.mark.parametrize("adapter", ADAPTERS_IN_PROCESS)
def test_zero_configuration_refuses_it_before_registering_or_opening_the_browser(
    adapter: str, stytch_zero_env: StytchEmulator
) -> None:
    stytch_zero_env.code_challenge_methods = ["plain"]
    refused = pytest.raises(ConfigurationError, match="does not offer PKCE with S256")
    with example_api(stytch_zero_env) as api, refused:
        send(adapter, oauth2_auth(adapter), "GET", api.url)
    counters = stytch_zero_env.counters
    assert counters["register"] == 0 and counters["authorize_page"] == 0


def test_metadata_that_does_not_say_which_pkce_methods_it_offers_still_signs_in_with_s256(
    issuer_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    """The field is optional (RFC 8414 §2): absent, S256 is sent as always (see
    :mod:`httpie_stytch_connected.oauth.discovery` for why this is not a refusal)."""
    issuer_env.code_challenge_methods = None
    response = requests.get(stytch_resource_server.url, auth=OAuth2PKCEAuth(), timeout=30)
    assert response.status_code == 200, response.text
    assert issuer_env.counters["login"] == 1
