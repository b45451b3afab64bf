"""The Stytch emulator and the scripted user agent, exercised over real loopback HTTP."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from httpie_stytch_connected.testing import ScriptedUserAgent, StytchEmulator
from tests.loopback import LoopbackServer, QuietHandler

CALLBACK = "http://127.0.0.1:53682/callback"
FULL_SCOPE = "openid email profile offline_access"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def emulator() -> Iterator[StytchEmulator]:
    with StytchEmulator() as emu:
        yield emu


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def pending_id(page: str) -> str:
    match = re.search(r'name="pending_id" id="pending_id" value="([^"]+)"', page)
    assert match, "no pending_id in page"
    return match.group(1)


def authorize_params(
    emu: StytchEmulator, challenge: str, **overrides: str | None
) -> dict[str, str]:
    params: dict[str, str | None] = {
        "client_id": emu.client_id,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": FULL_SCOPE,
        "state": "state-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def sign_in(
    emu: StytchEmulator,
    challenge: str,
    decision: str | None = "approve",
    **overrides: str | None,
) -> tuple[str, dict[str, str]]:
    """Drive the authorize pages by hand; return the final Location and its query."""
    page = requests.get(emu.authorize_url, params=authorize_params(emu, challenge, **overrides))
    assert page.status_code == 200, page.text
    pid = pending_id(page.text)
    resp = requests.post(
        emu.url + "/oauth/authorize/login",
        data={"pending_id": pid, "email": emu.email, "password": emu.password},
        allow_redirects=False,
    )
    if resp.status_code == 200:
        assert 'id="approve"' in resp.text and 'id="deny"' in resp.text
        resp = requests.post(
            emu.url + "/oauth/authorize/consent",
            data={"pending_id": pid, "decision": decision},
            allow_redirects=False,
        )
    assert resp.status_code == 302, resp.text
    location = resp.headers["Location"]
    return location, {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange(
    emu: StytchEmulator,
    code: str,
    verifier: str,
    redirect_uri: str = CALLBACK,
    *,
    endpoint: str | None = None,
    as_json: bool = False,
) -> requests.Response:
    body = {
        "grant_type": "authorization_code",
        "client_id": emu.client_id,
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    url = endpoint or emu.token_endpoint
    if as_json:
        return requests.post(url, json=body, timeout=10)
    return requests.post(url, data=body, timeout=10)


def refresh(emu: StytchEmulator, token: str, endpoint: str | None = None) -> requests.Response:
    body = {"grant_type": "refresh_token", "client_id": emu.client_id, "refresh_token": token}
    return requests.post(endpoint or emu.token_endpoint, json=body, timeout=10)


def login(emu: StytchEmulator, scope: str = FULL_SCOPE, **kw: str | None) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    _, params = sign_in(emu, challenge, scope=scope, **kw)
    resp = exchange(emu, params["code"], verifier)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def assert_error(resp: requests.Response, status: int, error_type: str, error: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["status_code"] == status
    assert body["error_type"] == error_type
    assert body["error"] == error
    assert body["error_message"] and body["error_description"]
    assert body["error_url"] == f"https://stytch.com/docs/api/errors/{status}"
    assert body["request_id"].startswith("request-id-test-")


class CallbackListener:
    """A one-route loopback server standing in for the CLI's redirect listener."""

    def __init__(self) -> None:
        self.queries: list[str] = []
        listener = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                listener.queries.append(urlsplit(self.path).query)
                self.reply(200, b"Signed in. You can close this window.", content_type="text/plain")

        self.server = LoopbackServer(Handler)

    @property
    def redirect_uri(self) -> str:
        return self.server.url + "/callback"

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def listener() -> Iterator[CallbackListener]:
    cb = CallbackListener()
    yield cb
    cb.close()


# ---------------------------------------------------------------- lifecycle and discovery


def test_lifecycle() -> None:
    emu = StytchEmulator()
    with pytest.raises(RuntimeError):
        _ = emu.url
    emu.start()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", emu.url)
    assert emu.project_domain == emu.issuer == emu.url
    with pytest.raises(RuntimeError):
        emu.start()
    emu.stop()
    emu.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(emu.url + "/.well-known/jwks.json", timeout=5)


def test_discovery_documents(emulator: StytchEmulator) -> None:
    emu = emulator
    oidc = requests.get(emu.url + "/.well-known/openid-configuration").json()
    oauth = requests.get(emu.url + "/.well-known/oauth-authorization-server").json()
    assert oidc == oauth
    assert oidc["issuer"] == emu.issuer
    assert oidc["authorization_endpoint"] == emu.authorize_url == emu.url + "/oauth/authorize"
    assert oidc["token_endpoint"] == emu.token_endpoint == emu.url + "/v1/oauth2/token"
    assert oidc["jwks_uri"] == emu.jwks_uri
    assert oidc["userinfo_endpoint"] == emu.userinfo_endpoint
    assert oidc["revocation_endpoint"] == emu.revocation_endpoint
    assert oidc["introspection_endpoint"] == emu.introspection_endpoint
    assert oidc["response_types_supported"] == ["code"]
    assert oidc["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert oidc["code_challenge_methods_supported"] == ["S256"]
    # Stytch's documented two, and none: it accepts public clients with PKCE.
    assert oidc["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "none",
    ]
    assert oidc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"openid", "email", "profile", "offline_access"} <= set(oidc["scopes_supported"])
    assert emu.legacy_token_endpoint == emu.url + f"/v1/public/{emu.project_id}/oauth2/token"
    legacy = requests.get(
        emu.url + f"/v1/public/{emu.project_id}/.well-known/openid-configuration"
    ).json()
    assert legacy["issuer"] == f"stytch.com/{emu.project_id}"
    assert legacy["token_endpoint"] == emu.token_endpoint
    legacy_userinfo = requests.get(emu.url + f"/v1/public/{emu.project_id}/oauth2/userinfo")
    assert legacy_userinfo.status_code == 401


def test_jwks_endpoints(emulator: StytchEmulator) -> None:
    emu = emulator
    jwks = requests.get(emu.jwks_uri).json()
    legacy = requests.get(emu.url + f"/v1/sessions/jwks/{emu.project_id}").json()
    assert jwks == legacy == emu.jwks
    (key,) = jwks["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
    assert key["kid"] == emu.public_jwk["kid"]
    assert "d" not in key
    assert requests.get(emu.url + "/v1/sessions/jwks/other-project").status_code == 404


def test_unknown_paths_and_favicon(emulator: StytchEmulator) -> None:
    assert requests.get(emulator.url + "/favicon.ico").status_code == 404
    assert requests.get(emulator.url + "/nope").status_code == 404
    assert requests.get(emulator.token_endpoint).status_code == 405


def test_request_body_is_bounded(emulator: StytchEmulator) -> None:
    resp = requests.post(emulator.token_endpoint, data={"x": "a" * 100_000})
    assert resp.status_code == 413


# ---------------------------------------------------------------- authorize pages


def test_full_flow_with_consent(emulator: StytchEmulator) -> None:
    emu = emulator
    verifier, challenge = pkce_pair()
    location, params = sign_in(emu, challenge, nonce="nonce-1")
    assert location.startswith(CALLBACK + "?")
    assert params["state"] == "state-123"
    resp = exchange(emu, params["code"], verifier)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == FULL_SCOPE
    assert body["status_code"] == 200
    assert body["request_id"].startswith("request-id-test-")
    assert body["refresh_token"]

    key = jwt.PyJWK(requests.get(emu.jwks_uri).json()["keys"][0])
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256" and header["kid"] == key.key_id
    claims = jwt.decode(
        body["access_token"],
        key,
        algorithms=["RS256"],
        audience=emu.project_id,
        issuer=emu.issuer,
        options={"require": ["exp", "iat", "nbf", "jti", "sub"]},
    )
    assert claims["aud"] == [emu.project_id]
    assert claims["sub"] == emu.user_id
    assert claims["client_id"] == emu.client_id
    assert claims["scope"] == FULL_SCOPE
    assert claims["exp"] - claims["iat"] == 3600

    id_claims = jwt.decode(
        body["id_token"], key, algorithms=["RS256"], audience=emu.client_id, issuer=emu.issuer
    )
    assert id_claims["nonce"] == "nonce-1"
    assert id_claims["email"] == emu.email and id_claims["email_verified"] is True
    assert id_claims["name"] == "Ada Lovelace"
    assert emu.verify_access_token(body["access_token"], required_scope="email")["sub"]

    counts = emu.counters
    assert counts["authorize_page"] == 1
    assert counts["login"] == 1
    assert counts["consent"] == 1
    assert counts["codes_issued"] == 1
    assert counts["token_authorization_code"] == 1
    assert counts["token_errors"] == 0


def test_state_omitted_is_not_echoed(emulator: StytchEmulator) -> None:
    _, challenge = pkce_pair()
    _, params = sign_in(emulator, challenge, state=None)
    assert "state" not in params and "code" in params


def test_json_body_accepted(emulator: StytchEmulator) -> None:
    verifier, challenge = pkce_pair()
    _, params = sign_in(emulator, challenge)
    resp = exchange(emulator, params["code"], verifier, as_json=True)
    assert resp.status_code == 200, resp.text


def test_default_scope_and_no_consent_without_offline_access(emulator: StytchEmulator) -> None:
    emu = emulator
    verifier, challenge = pkce_pair()
    _, params = sign_in(emu, challenge, scope=None)
    assert emu.counters["consent"] == 0
    body = exchange(emu, params["code"], verifier).json()
    assert body["scope"] == "openid email profile"
    assert "refresh_token" not in body
    assert "id_token" in body


def test_no_id_token_without_openid(emulator: StytchEmulator) -> None:
    body = login(emulator, scope="offline_access")
    assert "id_token" not in body and body["refresh_token"]


def test_consent_can_be_bypassed_for_offline_access() -> None:
    with StytchEmulator(consent_required_for_offline_access=False) as emu:
        body = login(emu)
        assert body["refresh_token"]
        assert emu.counters["consent"] == 0


def test_prompt_consent_forces_consent_page(emulator: StytchEmulator) -> None:
    _, challenge = pkce_pair()
    sign_in(emulator, challenge, scope="openid", prompt="consent")
    assert emulator.counters["consent"] == 1


def test_deny_redirects_with_access_denied(emulator: StytchEmulator) -> None:
    _, challenge = pkce_pair()
    _, params = sign_in(emulator, challenge, decision="deny")
    assert params["error"] == "access_denied"
    assert params["error_description"]
    assert params["state"] == "state-123"
    assert "code" not in params
    assert emulator.counters["codes_issued"] == 0


def test_wrong_password_reshows_form_escaped(emulator: StytchEmulator) -> None:
    emu = emulator
    _, challenge = pkce_pair()
    page = requests.get(emu.authorize_url, params=authorize_params(emu, challenge))
    pid = pending_id(page.text)
    resp = requests.post(
        emu.url + "/oauth/authorize/login",
        data={"pending_id": pid, "email": '"><script>x</script>', "password": "wrong"},
        allow_redirects=False,
    )
    assert resp.status_code == 200
    assert 'id="error"' in resp.text
    assert "<script>x" not in resp.text and "&lt;script&gt;" in resp.text
    assert pending_id(resp.text) == pid
    assert emu.counters["login"] == 0 and emu.counters["login_failed"] == 1


def test_unknown_pending_request_is_an_error_page(emulator: StytchEmulator) -> None:
    resp = requests.post(
        emulator.url + "/oauth/authorize/login",
        data={"pending_id": "nope", "email": emulator.email, "password": emulator.password},
        allow_redirects=False,
    )
    assert resp.status_code == 400 and "Location" not in resp.headers


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1/callback",
        "http://127.0.0.1:1024/callback",
        "http://127.0.0.1:54321/callback",
        "http://127.0.0.1:65535/callback",
    ],
)
def test_any_port_allowed_for_portless_registration(
    emulator: StytchEmulator, redirect_uri: str
) -> None:
    verifier, challenge = pkce_pair()
    location, params = sign_in(emulator, challenge, redirect_uri=redirect_uri)
    assert location.startswith(redirect_uri + "?")
    assert exchange(emulator, params["code"], verifier, redirect_uri).status_code == 200


@pytest.mark.parametrize(
    ("redirect_uri", "error_type"),
    [
        ("http://localhost:5000/callback", "connected_app_redirect_url_cannot_use_localhost"),
        ("http://localhost/callback", "connected_app_redirect_url_cannot_use_localhost"),
        (
            "http://127.0.0.1:5000/other",
            "connected_app_supplied_redirect_url_not_found_in_client",
        ),
        ("https://127.0.0.1/callback", "connected_app_supplied_redirect_url_not_found_in_client"),
        ("http://127.0.0.2/callback", "connected_app_supplied_redirect_url_not_found_in_client"),
        ("http://127.0.0.1:0/callback", "connected_app_supplied_redirect_url_not_found_in_client"),
        (
            "http://127.0.0.1:5000/callback#frag",
            "connected_app_supplied_redirect_url_not_found_in_client",
        ),
    ],
)
def test_bad_redirect_uri_shows_error_page(
    emulator: StytchEmulator, redirect_uri: str, error_type: str
) -> None:
    _, challenge = pkce_pair()
    resp = requests.get(
        emulator.authorize_url,
        params=authorize_params(emulator, challenge, redirect_uri=redirect_uri),
        allow_redirects=False,
    )
    assert resp.status_code in (400, 401)
    assert "Location" not in resp.headers
    assert f'data-error-type="{error_type}"' in resp.text


def test_bad_client_id_shows_error_page(emulator: StytchEmulator) -> None:
    _, challenge = pkce_pair()
    for client_id in ("connected-app-test-other", None):
        resp = requests.get(
            emulator.authorize_url,
            params=authorize_params(emulator, challenge, client_id=client_id),
            allow_redirects=False,
        )
        assert resp.status_code in (400, 401) and "Location" not in resp.headers


def test_registered_port_must_match_exactly() -> None:
    with StytchEmulator(redirect_uris=("http://127.0.0.1:8765/cb",)) as emu:
        _, challenge = pkce_pair()
        ok = requests.get(
            emu.authorize_url,
            params=authorize_params(emu, challenge, redirect_uri="http://127.0.0.1:8765/cb"),
        )
        assert ok.status_code == 200
        bad = requests.get(
            emu.authorize_url,
            params=authorize_params(emu, challenge, redirect_uri="http://127.0.0.1:8766/cb"),
        )
        assert bad.status_code == 401


@pytest.mark.parametrize(
    "uri", ["http://localhost/callback", "http://example.com/callback", "myapp:/cb"]
)
def test_unregistrable_redirect_uris_are_refused(uri: str) -> None:
    with pytest.raises(ValueError):
        StytchEmulator(redirect_uris=(uri,))


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "openid admin:everything"}, "invalid_scope"),
    ],
)
def test_authorize_errors_redirect_with_state(
    emulator: StytchEmulator, overrides: dict[str, str | None], error: str
) -> None:
    _, challenge = pkce_pair()
    resp = requests.get(
        emulator.authorize_url,
        params=authorize_params(emulator, challenge, **overrides),
        allow_redirects=False,
    )
    assert resp.status_code == 302
    params = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert params["error"] == [error]
    assert params["state"] == ["state-123"]


# ---------------------------------------------------------------- token endpoint: codes


def test_code_is_single_use(emulator: StytchEmulator) -> None:
    verifier, challenge = pkce_pair()
    _, params = sign_in(emulator, challenge)
    assert exchange(emulator, params["code"], verifier).status_code == 200
    again = exchange(emulator, params["code"], verifier)
    assert_error(again, 400, "idp_auth_code_not_found", "invalid_grant")
    assert emulator.counters["token_errors"] == 1


def test_wrong_verifier_is_pkce_mismatch(emulator: StytchEmulator) -> None:
    _, challenge = pkce_pair()
    other_verifier, _ = pkce_pair()
    _, params = sign_in(emulator, challenge)
    resp = exchange(emulator, params["code"], other_verifier)
    assert_error(resp, 400, "pkce_mismatch", "invalid_grant")


def test_malformed_verifier(emulator: StytchEmulator) -> None:
    _, challenge = pkce_pair()
    _, params = sign_in(emulator, challenge)
    resp = exchange(emulator, params["code"], "short")
    assert_error(resp, 400, "invalid_pkce_code_verifier", "invalid_grant")


def test_redirect_uri_port_mismatch(emulator: StytchEmulator) -> None:
    verifier, challenge = pkce_pair()
    _, params = sign_in(emulator, challenge)
    resp = exchange(emulator, params["code"], verifier, "http://127.0.0.1:53683/callback")
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_grant"


def test_unregistered_redirect_uri_at_token_endpoint(emulator: StytchEmulator) -> None:
    verifier, challenge = pkce_pair()
    _, params = sign_in(emulator, challenge)
    resp = exchange(emulator, params["code"], verifier, "http://127.0.0.1:53682/elsewhere")
    assert_error(
        resp, 401, "connected_app_supplied_redirect_url_not_found_in_client", "invalid_grant"
    )


def test_expired_code() -> None:
    with StytchEmulator(code_ttl=0) as emu:
        verifier, challenge = pkce_pair()
        _, params = sign_in(emu, challenge)
        assert_error(
            exchange(emu, params["code"], verifier), 400, "idp_auth_code_expired", "invalid_grant"
        )


@pytest.mark.parametrize(
    ("body", "status", "error_type", "error"),
    [
        ({}, 400, "oauth_token_exchange_invalid_request", "invalid_request"),
        (
            {"grant_type": "password", "client_id": "x"},
            400,
            "oauth_token_exchange_invalid_request",
            "unsupported_grant_type",
        ),
        (
            {"grant_type": "refresh_token"},
            400,
            "oauth_token_exchange_invalid_request",
            "invalid_request",
        ),
        (
            {"grant_type": "refresh_token", "client_id": "connected-app-test-wrong"},
            401,
            "invalid_client_id",
            "invalid_client",
        ),
        (
            {"grant_type": "authorization_code", "client_id": "CLIENT", "code": "c"},
            400,
            "oauth_token_exchange_invalid_request",
            "invalid_request",
        ),
        (
            {"grant_type": "refresh_token", "client_id": "CLIENT", "client_secret": "s"},
            401,
            "public_connected_apps_do_not_have_secrets",
            "invalid_client",
        ),
    ],
)
def test_token_request_errors(
    emulator: StytchEmulator, body: dict[str, str], status: int, error_type: str, error: str
) -> None:
    body = {k: (emulator.client_id if v == "CLIENT" else v) for k, v in body.items()}
    assert_error(requests.post(emulator.token_endpoint, data=body), status, error_type, error)


def test_bad_json_body(emulator: StytchEmulator) -> None:
    resp = requests.post(
        emulator.token_endpoint, data=b"[1,2]", headers={"Content-Type": "application/json"}
    )
    assert_error(resp, 400, "oauth_token_exchange_invalid_request", "invalid_request")


# ---------------------------------------------------------------- refresh tokens


def test_refresh_rotates_and_rejects_reuse(emulator: StytchEmulator) -> None:
    emu = emulator
    first = login(emu)
    second = refresh(emu, first["refresh_token"])
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["refresh_token"] != first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    assert body["scope"] == FULL_SCOPE
    assert "id_token" in body
    assert_error(
        refresh(emu, first["refresh_token"]), 400, "idp_refresh_token_already_used", "invalid_grant"
    )
    third = refresh(emu, body["refresh_token"])
    assert third.status_code == 200
    assert emu.issued_refresh_tokens() == [
        first["refresh_token"],
        body["refresh_token"],
        third.json()["refresh_token"],
    ]
    counts = emu.counters
    assert counts["token_refresh"] == 3
    assert counts["token_refresh_ok"] == 2
    assert counts["token_errors"] == 1


def test_refresh_unknown_and_expired() -> None:
    with StytchEmulator(refresh_token_ttl=0) as emu:
        assert_error(
            refresh(emu, "no-such-token"), 400, "idp_refresh_token_not_found", "invalid_grant"
        )
        body = login(emu)
        assert_error(
            refresh(emu, body["refresh_token"]), 400, "idp_refresh_token_expired", "invalid_grant"
        )


def test_rotate_refresh_token_control(emulator: StytchEmulator) -> None:
    old = login(emulator)["refresh_token"]
    new = emulator.rotate_refresh_token(old)
    assert_error(refresh(emulator, old), 400, "idp_refresh_token_already_used", "invalid_grant")
    assert refresh(emulator, new).status_code == 200
    with pytest.raises(ValueError):
        emulator.rotate_refresh_token(old)


def test_refresh_can_narrow_scope(emulator: StytchEmulator) -> None:
    first = login(emulator)
    body = {
        "grant_type": "refresh_token",
        "client_id": emulator.client_id,
        "refresh_token": first["refresh_token"],
        "scope": "openid email",
    }
    resp = requests.post(emulator.token_endpoint, data=body)
    assert resp.status_code == 200 and resp.json()["scope"] == "openid email"
    body["refresh_token"] = resp.json()["refresh_token"]
    body["scope"] = "openid read:data"
    assert_error(
        requests.post(emulator.token_endpoint, data=body),
        400,
        "oauth_token_exchange_invalid_scope",
        "invalid_scope",
    )


# ---------------------------------------------------------------- issuers and verification


def test_legacy_endpoint_uses_stytch_issuer(emulator: StytchEmulator) -> None:
    emu = emulator
    verifier, challenge = pkce_pair()
    _, params = sign_in(emu, challenge)
    resp = exchange(emu, params["code"], verifier, endpoint=emu.legacy_token_endpoint)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    legacy_iss = f"stytch.com/{emu.project_id}"
    assert (
        jwt.decode(body["access_token"], options={"verify_signature": False})["iss"] == legacy_iss
    )
    assert emu.verify_access_token(body["access_token"])["iss"] == legacy_iss
    refreshed = refresh(emu, body["refresh_token"], endpoint=emu.legacy_token_endpoint).json()
    claims = jwt.decode(refreshed["access_token"], options={"verify_signature": False})
    assert claims["iss"] == legacy_iss


def test_verify_access_token_failures(emulator: StytchEmulator) -> None:
    token = login(emulator, scope="openid")["access_token"]
    with pytest.raises(ValueError):
        emulator.verify_access_token(token, required_scope="read:data")
    with pytest.raises(jwt.InvalidTokenError):
        emulator.verify_access_token(token[:-4] + "AAAA")
    with StytchEmulator() as other, pytest.raises(jwt.InvalidTokenError):
        other.verify_access_token(token)


def test_expired_access_token_is_rejected() -> None:
    with StytchEmulator(access_token_ttl=0) as emu:
        body = login(emu)
        assert body["expires_in"] == 0
        with pytest.raises(jwt.ExpiredSignatureError):
            emu.verify_access_token(body["access_token"])
        resp = requests.get(
            emu.userinfo_endpoint, headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        assert resp.status_code == 401


# ---------------------------------------------------------------- userinfo / revoke / introspect


def test_userinfo_claims_follow_scope(emulator: StytchEmulator) -> None:
    emu = emulator
    full = login(emu)["access_token"]
    auth = {"Authorization": f"Bearer {full}"}
    info = requests.get(emu.userinfo_endpoint, headers=auth).json()
    assert info["sub"] == emu.user_id
    assert info["email"] == emu.email and info["email_verified"] is True
    assert info["name"] == "Ada Lovelace"
    assert requests.post(emu.userinfo_endpoint, headers=auth).status_code == 200
    narrow = login(emu, scope="openid")["access_token"]
    info = requests.get(emu.userinfo_endpoint, headers={"Authorization": f"bearer {narrow}"}).json()
    assert "email" not in info and "name" not in info
    missing = requests.get(emu.userinfo_endpoint)
    assert missing.status_code == 401 and "Bearer" in missing.headers["WWW-Authenticate"]
    assert emu.counters["userinfo"] == 4


def introspect(emu: StytchEmulator, token: str) -> dict[str, Any]:
    resp = requests.post(
        emu.introspection_endpoint, data={"token": token, "client_id": emu.client_id}
    )
    assert resp.status_code == 200
    body: dict[str, Any] = resp.json()
    return body


def test_revoke_refresh_token_revokes_its_access_tokens(emulator: StytchEmulator) -> None:
    emu = emulator
    body = login(emu)
    active = introspect(emu, body["access_token"])
    assert active["active"] is True
    assert active["sub"] == emu.user_id
    assert active["scope"] == FULL_SCOPE
    assert active["aud"] == [emu.project_id]
    assert active["iss"] == emu.issuer
    assert active["client_id"] == emu.client_id
    assert active["token_type"] == "access_token"
    assert {"exp", "iat", "nbf"} <= set(active)
    assert introspect(emu, body["refresh_token"])["active"] is True

    resp = requests.post(
        emu.revocation_endpoint,
        data={
            "token": body["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_id": emu.client_id,
        },
    )
    assert resp.status_code == 200
    inactive = introspect(emu, body["access_token"])
    assert inactive["active"] is False and "sub" not in inactive
    assert introspect(emu, body["refresh_token"])["active"] is False
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    assert requests.get(emu.userinfo_endpoint, headers=auth).status_code == 401
    assert_error(
        refresh(emu, body["refresh_token"]), 400, "idp_refresh_token_not_found", "invalid_grant"
    )
    with pytest.raises(ValueError):
        emu.verify_access_token(body["access_token"])
    assert emu.verify_access_token(body["access_token"], check_revocation=False)
    assert emu.counters["revoke"] == 1


def test_revoke_access_token_only(emulator: StytchEmulator) -> None:
    emu = emulator
    body = login(emu)
    resp = requests.post(
        emu.revocation_endpoint, data={"token": body["access_token"], "client_id": emu.client_id}
    )
    assert resp.status_code == 200
    assert introspect(emu, body["access_token"])["active"] is False
    assert refresh(emu, body["refresh_token"]).status_code == 200


def test_revoke_unknown_token_is_ok(emulator: StytchEmulator) -> None:
    resp = requests.post(
        emulator.revocation_endpoint, data={"token": "garbage", "client_id": emulator.client_id}
    )
    assert resp.status_code == 200
    assert introspect(emulator, "garbage")["active"] is False


def test_revoke_all(emulator: StytchEmulator) -> None:
    emu = emulator
    a, b = login(emu), login(emu)
    emu.revoke_all()
    for body in (a, b):
        assert introspect(emu, body["access_token"])["active"] is False
        assert_error(
            refresh(emu, body["refresh_token"]), 400, "idp_refresh_token_not_found", "invalid_grant"
        )
    fresh = login(emu)
    assert refresh(emu, fresh["refresh_token"]).status_code == 200


# ---------------------------------------------------------------- faults and concurrency


def start_code(emu: StytchEmulator) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    _, params = sign_in(emu, challenge)
    return params["code"], verifier


@pytest.mark.parametrize(
    ("kind", "status", "content_type"),
    [
        ("500", 500, "application/json"),
        ("503", 503, "text/plain"),
        ("html", 200, "text/html"),
        ("not_json", 200, "application/json"),
        ("no_access_token", 200, "application/json"),
    ],
)
def test_token_faults(emulator: StytchEmulator, kind: str, status: int, content_type: str) -> None:
    code, verifier = start_code(emulator)
    emulator.inject_token_fault(kind)
    resp = exchange(emulator, code, verifier)
    assert resp.status_code == status
    assert resp.headers["Content-Type"].startswith(content_type)
    if kind == "not_json":
        with pytest.raises(ValueError):
            resp.json()
    if kind == "no_access_token":
        assert "access_token" not in resp.json()
    # A fault does not consume the code: the next request is served normally.
    assert exchange(emulator, code, verifier).status_code == 200
    assert emulator.counters["token_faults"] == 1


def test_reset_fault_closes_connection(emulator: StytchEmulator) -> None:
    code, verifier = start_code(emulator)
    emulator.inject_token_fault("reset", count=2)
    for _ in range(2):
        with pytest.raises(requests.ConnectionError):
            exchange(emulator, code, verifier)
    assert exchange(emulator, code, verifier).status_code == 200


def test_slow_fault_times_out_client_then_answers(emulator: StytchEmulator) -> None:
    emulator.slow_seconds = 30.0
    emulator.inject_token_fault("slow")
    with pytest.raises(requests.Timeout):
        requests.post(emulator.token_endpoint, data={}, timeout=0.5)
    emulator.slow_seconds = 0.05
    emulator.inject_token_fault("slow")
    code, verifier = start_code(emulator)
    assert exchange(emulator, code, verifier).status_code == 200


def test_concurrent_requests_during_slow_token_request() -> None:
    emu = StytchEmulator().start()
    emu.slow_seconds = 60.0
    emu.inject_token_fault("slow")
    results: list[int] = []

    def slow_call() -> None:
        results.append(requests.post(emu.token_endpoint, data={}, timeout=60).status_code)

    thread = threading.Thread(target=slow_call)
    thread.start()
    try:
        with requests.Session() as session:
            for _ in range(10):
                assert session.get(emu.jwks_uri, timeout=5).status_code == 200
    finally:
        # Stopping wakes the slow handler, which then answers normally.
        emu.stop()
        thread.join(timeout=30)
    assert results == [400]


def test_unknown_fault_kind(emulator: StytchEmulator) -> None:
    with pytest.raises(ValueError):
        emulator.inject_token_fault("teapot")


def test_counters_reset(emulator: StytchEmulator) -> None:
    login(emulator)
    assert emulator.counters["codes_issued"] == 1
    snapshot = emulator.counters
    snapshot["codes_issued"] = 99
    assert emulator.counters["codes_issued"] == 1
    assert emulator.counters() == emulator.counters
    emulator.reset_counters()
    assert set(emulator.counters.values()) == {0}
    assert {
        "authorize_page",
        "login",
        "consent",
        "codes_issued",
        "token_authorization_code",
        "token_refresh",
        "token_refresh_ok",
        "token_errors",
        "revoke",
        "introspect",
        "userinfo",
    } <= set(emulator.counters)


def test_logging_is_silent_or_query_free(capfd: pytest.CaptureFixture[str]) -> None:
    with StytchEmulator() as emu:
        login(emu)
    assert capfd.readouterr().err == ""
    with StytchEmulator(log_requests=True) as emu:
        body = login(emu)
        refresh(emu, body["refresh_token"])
    err = capfd.readouterr().err
    assert "POST /v1/oauth2/token" in err
    assert "?" not in err and "code=" not in err
    assert body["refresh_token"] not in err


# ---------------------------------------------------------------- scripted user agent


def ua_url(emu: StytchEmulator, redirect_uri: str, challenge: str, scope: str = FULL_SCOPE) -> str:
    params = authorize_params(emu, challenge, redirect_uri=redirect_uri, scope=scope)
    return requests.Request("GET", emu.authorize_url, params=params).prepare().url or ""


def test_user_agent_approves(emulator: StytchEmulator, listener: CallbackListener) -> None:
    verifier, challenge = pkce_pair()
    with ScriptedUserAgent() as agent:
        result = agent.open(ua_url(emulator, listener.redirect_uri, challenge))
    assert result.reached_callback and result.ok, result.error
    assert result.status == 200 and "Signed in" in result.text
    assert result.callback_params["state"] == "state-123"
    assert "code" not in repr(result)
    (query,) = listener.queries
    code = parse_qs(query)["code"][0]
    assert exchange(emulator, code, verifier, listener.redirect_uri).status_code == 200
    assert emulator.counters["consent"] == 1


def test_user_agent_denies(emulator: StytchEmulator, listener: CallbackListener) -> None:
    _, challenge = pkce_pair()
    result = ScriptedUserAgent(decision="deny").open(
        ua_url(emulator, listener.redirect_uri, challenge)
    )
    assert result.reached_callback
    assert result.callback_params["error"] == "access_denied"


def test_user_agent_wrong_password(emulator: StytchEmulator, listener: CallbackListener) -> None:
    _, challenge = pkce_pair()
    result = ScriptedUserAgent(password="wrong").open(
        ua_url(emulator, listener.redirect_uri, challenge)
    )
    assert not result.reached_callback
    assert result.error == "login rejected"
    assert listener.queries == []


def test_user_agent_ignore(emulator: StytchEmulator, listener: CallbackListener) -> None:
    _, challenge = pkce_pair()
    result = ScriptedUserAgent(decision="ignore").open(
        ua_url(emulator, listener.redirect_uri, challenge)
    )
    assert not result.reached_callback
    assert emulator.counters["authorize_page"] == 1 and emulator.counters["login"] == 0


def run_user_agent(url: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "httpie_stytch_connected.testing.user_agent", url],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_user_agent_module_has_help_and_names_what_it_reads() -> None:
    """Run by hand, ``--help`` says what it is and which variables steer it; it used to be
    taken for the URL to open ("did not reach the callback … GET ://--help")."""
    shown = run_user_agent("--help")
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    assert "usage:" in shown.stdout and "BROWSER" in shown.stdout
    for name in ("STYTCH_UA_DECISION", "STYTCH_UA_EMAIL", "STYTCH_UA_PASSWORD"):
        assert name in shown.stdout
    wrong = run_user_agent("--bogus")
    assert wrong.returncode == 2 and "usage:" in wrong.stderr and wrong.stdout == ""


def test_user_agent_module_entry_point(
    emulator: StytchEmulator, listener: CallbackListener
) -> None:
    _, challenge = pkce_pair()
    ok = run_user_agent(ua_url(emulator, listener.redirect_uri, challenge))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == ""
    assert len(listener.queries) == 1

    bad = run_user_agent(
        ua_url(emulator, listener.redirect_uri, challenge), STYTCH_UA_PASSWORD="wrong"
    )
    assert bad.returncode != 0
    assert bad.stdout == ""
    assert "?" not in bad.stderr and challenge not in bad.stderr

    emulator.reset_counters()
    ignored = run_user_agent(
        ua_url(emulator, listener.redirect_uri, challenge), STYTCH_UA_DECISION="ignore"
    )
    assert ignored.returncode == 0 and ignored.stdout == ""
    assert emulator.counters["authorize_page"] == 0
    assert len(listener.queries) == 1
