"""RFC 9207: the callback's ``iss`` is checked before any code is exchanged."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests

from httpie_stytch_connected.auth import OAuth2PKCEAuth, StytchAuth
from httpie_stytch_connected.errors import LoginError
from httpie_stytch_connected.oauth.endpoints import ProviderEndpoints
from httpie_stytch_connected.oauth.issuer_identification import (
    iss_problem,
    stytch_default_domain_iss,
)
from httpie_stytch_connected.settings.stytch import stytch_endpoints, stytch_iss_alias
from httpie_stytch_connected.testing import ScriptedUserAgent, StytchEmulator
from httpie_stytch_connected.testing.resource_server import ResourceServer

ISSUER = "https://login.example.com"
PROJECT = "project-test-11111111-2222-3333-4444-555555555555"


def endpoints(**kwargs: Any) -> ProviderEndpoints:
    return ProviderEndpoints(
        authorization_endpoint=ISSUER + "/authorize",
        token_endpoint=ISSUER + "/token",
        issuer=kwargs.pop("issuer", ISSUER),
        **kwargs,
    )


@pytest.mark.parametrize(
    ("provider", "iss", "refused"),
    [
        (endpoints(), ISSUER, False),
        (endpoints(), None, False),  # not advertised: absence is allowed
        (endpoints(iss_parameter_supported=True), None, True),  # advertised: must be there
        (endpoints(), "https://evil.example.com", True),  # present: compared anyway
        (endpoints(), ISSUER + "/", True),  # exactly, not "close enough"
        (endpoints(), f"stytch.com/{PROJECT}", True),  # only the Stytch preset knows that form
        (endpoints(iss_alias=stytch_default_domain_iss(None)), f"stytch.com/{PROJECT}", False),
        (endpoints(iss_alias=stytch_default_domain_iss(PROJECT)), f"stytch.com/{PROJECT}", False),
        (
            endpoints(iss_alias=stytch_default_domain_iss(PROJECT)),
            "stytch.com/project-test-99999999-2222-3333-4444-555555555555",
            True,
        ),
        (endpoints(iss_alias=stytch_default_domain_iss(None)), "stytch.com/evil", True),
        (endpoints(iss_alias=stytch_default_domain_iss(None)), "https://evil.example.com", True),
        (endpoints(issuer=None), "https://anything.example.com", False),  # nothing to compare
    ],
)
def test_iss_problem(provider: ProviderEndpoints, iss: str | None, refused: bool) -> None:
    assert (iss_problem(provider, iss) is not None) is refused


def test_the_stytch_preset_knows_the_default_domain_form_and_others_do_not() -> None:
    preset = stytch_endpoints(authorize_url=ISSUER + "/oauth", project_domain=ISSUER)
    assert iss_problem(preset, f"stytch.com/{PROJECT}") is None
    bound = "the issuer setting"
    assert stytch_iss_alias(ISSUER, ISSUER + "/v1/oauth2/token", bound_by=bound) is not None
    assert stytch_iss_alias(ISSUER, ISSUER + "/oauth/token", bound_by=bound) is None


@pytest.mark.parametrize(
    ("issuer", "granted"),
    [
        ("https://rustic-kilogram-6347.customers.stytch.com", True),
        ("https://calm-cat-1.customers.stytch.dev", True),
        ("https://test.stytch.com/v1/public/project-test-1", True),
        ("https://login.example.com", False),  # a custom domain: only the person can bind it
        ("https://stytch.com.evil.example", False),
        ("https://evilstytch.com", False),
        ("http://x.customers.stytch.com", False),
        ("http://127.0.0.1:8080", False),
    ],
)
def test_the_alias_over_metadata_alone_needs_a_token_endpoint_only_stytch_runs(
    issuer: str, granted: bool
) -> None:
    """Issue 17 §1: Stytch's layout in metadata an API chose is no binding at all: a
    hostile server copies it. Only a Stytch-owned token endpoint host (or the person: see
    above) earns the default-domain form."""
    assert (stytch_iss_alias(issuer, issuer + "/v1/oauth2/token") is not None) is granted


def tampering_opener(iss: str) -> Any:
    """A browser whose callback carries ``iss`` (an attacker's mix-up, as the client sees it)."""

    def open_url(url: str) -> bool:
        with ScriptedUserAgent() as agent:
            send = agent.session.request

            def request(method: str, target: str, **kwargs: Any) -> requests.Response:
                parts = urlsplit(target)
                if parts.path == "/callback":
                    query = dict(parse_qsl(parts.query))
                    query["iss"] = iss
                    target = urlunsplit(parts._replace(query=urlencode(query)))
                return send(method, target, **kwargs)

            agent.session.request = request  # type: ignore[method-assign, assignment]
            agent.open(url)
        return True

    return open_url


def test_a_tampered_iss_ends_the_login_before_the_code_is_exchanged(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    auth = StytchAuth(opener=tampering_opener("https://evil.example.com"), login_timeout=20)
    with pytest.raises(LoginError, match=r"came from 'https://evil\.example\.com'"):
        requests.get(stytch_resource_server.url, auth=auth, timeout=30)
    assert stytch_env.counters["codes_issued"] == 1
    assert stytch_env.counters["token_requests"] == 0  # the code was never sent anywhere


def test_the_stytch_default_domain_form_is_accepted_by_the_preset(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    assert stytch_env.iss_form == "default_domain"
    assert requests.get(stytch_resource_server.url, auth=StytchAuth(), timeout=30).ok


def test_a_generic_issuer_accepts_the_custom_domain_form(
    stytch_keyring: object, stytch_browser: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with StytchEmulator(iss_form="custom_domain") as emulator:
        monkeypatch.setenv("STYTCH_ISSUER", emulator.issuer)
        monkeypatch.setenv("STYTCH_CLIENT_ID", emulator.client_id)
        assert requests.get(emulator.userinfo_endpoint, auth=OAuth2PKCEAuth(), timeout=30).ok
