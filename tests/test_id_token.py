"""ID tokens are verified (signature, iss, aud, exp, nonce) before anything trusts them, and a
login whose ID token fails stores nothing. Tokens come from real logins against the emulator."""

from __future__ import annotations

import jwt
import pytest
import requests

from httpie_stytch_connected.auth import StytchAuth
from httpie_stytch_connected.errors import LoginError
from httpie_stytch_connected.id_token import IdTokenCheck
from httpie_stytch_connected.login import browser_login
from httpie_stytch_connected.testing import StytchEmulator
from httpie_stytch_connected.testing.resource_server import ResourceServer
from httpie_stytch_connected.token_client import TokenClient

SCOPES = ("openid", "email", "profile", "offline_access")


def quiet(message: str) -> None:
    """Login messages are not under test here."""


def login(emulator: StytchEmulator, token_endpoint: str, check: IdTokenCheck | None) -> str:
    result = browser_login(
        authorization_endpoint=emulator.authorize_url,
        client=TokenClient(token_endpoint, emulator.client_id),
        scopes=SCOPES,
        timeout=30,
        notify=quiet,
        id_token_check=check,
    )
    assert result.tokens.id_token and result.nonce
    return result.tokens.id_token


def check_for(emulator: StytchEmulator, **changes: str) -> IdTokenCheck:
    fields = {
        "jwks_uri": emulator.jwks_uri,
        "issuer": emulator.issuer,
        "client_id": emulator.client_id,
        **changes,
    }
    return IdTokenCheck(**fields)


def test_a_login_verifies_its_id_token_and_the_claims_are_the_users(
    stytch_env: StytchEmulator,
) -> None:
    id_token = login(stytch_env, stytch_env.token_endpoint, check_for(stytch_env))
    claims = check_for(stytch_env).verify(id_token, None)
    assert claims["email"] == "ada@example.com"


def test_legacy_endpoints_use_the_scheme_less_issuer(stytch_env: StytchEmulator) -> None:
    legacy = check_for(stytch_env, issuer=stytch_env.legacy_issuer)
    id_token = login(stytch_env, stytch_env.legacy_token_endpoint, legacy)
    with pytest.raises(LoginError, match="issued by another provider"):
        check_for(stytch_env).verify(id_token, None)


@pytest.mark.parametrize(
    ("changes", "nonce", "reason"),
    [
        ({"client_id": "connected-app-test-someone-else"}, None, "issued to another client"),
        ({"issuer": "https://evil.example.com"}, None, "issued by another provider"),
        ({}, "not-the-nonce-we-sent", "nonce mismatch"),
    ],
)
def test_mismatches_are_refused(
    stytch_env: StytchEmulator, changes: dict[str, str], nonce: str | None, reason: str
) -> None:
    id_token = login(stytch_env, stytch_env.token_endpoint, None)
    with pytest.raises(LoginError, match=reason) as caught:
        check_for(stytch_env, **changes).verify(id_token, nonce)
    assert id_token not in str(caught.value)


def test_forged_and_garbage_tokens_are_refused(stytch_env: StytchEmulator) -> None:
    forged = jwt.encode(
        {"iss": stytch_env.issuer, "aud": stytch_env.client_id, "sub": "mallory"},
        "a-shared-secret-that-anyone-could-know-here",
        algorithm="HS256",
    )
    with pytest.raises(LoginError, match="not signed with any of the provider's keys"):
        check_for(stytch_env).verify(forged, None)
    kid = stytch_env.public_jwk["kid"]
    claims = {"iss": stytch_env.issuer, "aud": stytch_env.client_id, "sub": "mallory"}
    same_kid = jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": kid})
    with pytest.raises(LoginError, match="algorithm that is not accepted"):
        check_for(stytch_env).verify(same_kid, None)
    with pytest.raises(LoginError, match="malformed"):
        check_for(stytch_env).verify("not.a.jwt", None)


def test_unreachable_keys_are_a_clear_error(stytch_env: StytchEmulator) -> None:
    id_token = login(stytch_env, stytch_env.token_endpoint, None)
    gone = stytch_env.url.replace(stytch_env.url.rsplit(":", 1)[1], "1") + "/jwks"
    with pytest.raises(LoginError, match=r"signing keys at 127\.0\.0\.1:1 could not be fetched"):
        check_for(stytch_env, jwks_uri=gone).verify(id_token, None)


def test_a_login_with_a_bad_id_token_fails_and_stores_nothing(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    # The project domain names localhost; the emulator signs its ID tokens as 127.0.0.1.
    auth = StytchAuth(project_domain=stytch_env.url.replace("127.0.0.1", "localhost"))
    with pytest.raises(LoginError, match="issued by another provider; nothing was stored"):
        requests.get(stytch_resource_server.url, auth=auth, timeout=30)
    assert auth.manager.stored() is None
    assert auth.manager.cached_access_token() is None
