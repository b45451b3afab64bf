"""ID tokens are verified (signature, iss, aud, exp, nonce) before anything trusts them, and a
login whose ID token fails stores nothing. Tokens come from real logins against the emulator."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from httpie_stytch_connected.auth import StytchAuth
from httpie_stytch_connected.errors import LoginError
from httpie_stytch_connected.login.flow import browser_login
from httpie_stytch_connected.oauth.endpoints import ProviderEndpoints
from httpie_stytch_connected.oauth.id_token import IdTokenCheck
from httpie_stytch_connected.oauth.token_client import TokenClient
from httpie_stytch_connected.testing import StytchEmulator
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.loopback import LoopbackServer, QuietHandler

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
    return IdTokenCheck(
        jwks_uri=changes.get("jwks_uri", emulator.jwks_uri),
        issuer=changes.get("issuer", emulator.issuer),
        client_id=changes.get("client_id", emulator.client_id),
    )


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
    with pytest.raises(LoginError, match="algorithm that is not accepted"):
        check_for(stytch_env).verify(forged, None)  # a shared secret: never the provider's
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


class _Keys(QuietHandler):
    """A provider's key set (one key, no ``kid``) at /jwks, and a redirect to it at /moved."""

    jwks: dict[str, Any] = {}

    def do_GET(self) -> None:
        if self.path == "/moved":
            self.reply(302, content_type=None, headers={"Location": "/jwks"})
        else:
            self.reply(200, json.dumps(self.jwks).encode())


@pytest.fixture
def key_server() -> Iterator[tuple[str, rsa.RSAPrivateKey]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    _Keys.jwks = {"keys": [dict(public, use="sig")]}  # no kid
    with LoopbackServer(_Keys) as server:
        yield server.url, private


def test_keys_are_fetched_with_the_configured_session_and_never_through_a_redirect(
    key_server: tuple[str, rsa.RSAPrivateKey],
) -> None:
    base, private = key_server
    now = int(time.time())
    claims = {"iss": base, "aud": "client-1", "sub": "ada", "iat": now, "exp": now + 300}
    id_token = jwt.encode(claims, private, algorithm="RS256")  # no kid: the only key is used
    fetched: list[str] = []
    session = requests.Session()
    session.hooks["response"].append(lambda r, *args, **kwargs: fetched.append(r.url))
    endpoints = ProviderEndpoints(
        authorization_endpoint=base + "/authorize",
        token_endpoint=base + "/token",
        issuer=base,
        jwks_uri=base + "/jwks",
    )
    check = IdTokenCheck.for_provider(endpoints, "client-1", session=session)
    assert check is not None and "session" not in repr(check)
    assert check.verify(id_token, None)["sub"] == "ada"
    assert fetched == [base + "/jwks"]
    moved = IdTokenCheck(base + "/moved", base, "client-1", session=session)
    with pytest.raises(LoginError, match=r"could not be fetched \(HTTP 302\)") as caught:
        moved.verify(id_token, None)
    assert id_token not in str(caught.value)
    assert fetched == [base + "/jwks", base + "/moved"]


def signed(private: rsa.RSAPrivateKey, issuer: str, offset: float = 0, **claims: Any) -> str:
    """An ID token from a provider whose clock is ``offset`` seconds off ours."""
    now = int(time.time() + offset)
    body = {"iss": issuer, "aud": "client-1", "sub": "ada", "iat": now, "exp": now + 300}
    body.update({k: now + v if isinstance(v, int) else v for k, v in claims.items()})
    return jwt.encode(body, private, algorithm="RS256")


@pytest.mark.parametrize("offset", [90, 240, -240])
def test_a_provider_clock_a_few_minutes_off_is_tolerated(
    key_server: tuple[str, rsa.RSAPrivateKey], offset: int
) -> None:
    base, private = key_server
    check = IdTokenCheck(base + "/jwks", base, "client-1")
    assert check.verify(signed(private, base, offset), None)["sub"] == "ada"


@pytest.mark.parametrize(
    ("claims", "words"),
    [
        ({"iat": 600}, r"it was issued [56]\d\d s ahead of this machine's time"),
        ({"nbf": 900}, r"it was issued [89]\d\d s ahead of this machine's time"),
        ({"iat": -1200, "exp": -600}, r"it expired \d{3} s before this machine's time"),
    ],
)
def test_a_clock_beyond_the_tolerance_is_named_as_the_cause(
    key_server: tuple[str, rsa.RSAPrivateKey], claims: dict[str, int], words: str
) -> None:
    base, private = key_server
    check = IdTokenCheck(base + "/jwks", base, "client-1")
    with pytest.raises(LoginError, match=words) as caught:
        check.verify(signed(private, base, **claims), None)
    message = str(caught.value)
    assert "300 s of clock difference" in message and "Check this machine's clock" in message
    assert "issuer and client_id" not in message


def test_id_tokens_are_checked_against_the_exact_issuer_string(
    key_server: tuple[str, rsa.RSAPrivateKey],
) -> None:
    base, private = key_server
    check = IdTokenCheck(base + "/jwks", base, "client-1")
    for near_miss in (base + "/", base.upper(), base.replace("127.0.0.1", "localhost")):
        with pytest.raises(LoginError, match="issued by another provider"):
            check.verify(signed(private, near_miss), None)


def _ec_public_jwk() -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    return dict(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key(), as_dict=True))


def _rsa_public_jwk(bits: int = 2048) -> dict[str, Any]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return dict(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True))


@pytest.mark.parametrize(
    ("keys", "why"),
    [
        ([{"kty": "oct", "k": "c2VjcmV0"}], "no usable signing key"),  # a shared secret
        ([{"kty": "RSA", "n": 12, "e": ["x"]}], "no usable signing key"),  # not strings
        ([{"kty": "RSA", "n": "!!", "e": "AQAB"}], "no usable signing key"),  # not base64url
        ([{"kty": "EC", "crv": "P-999", "x": "AA", "y": "AA"}], "no usable signing key"),
        ([_rsa_public_jwk(1024)], "no usable signing key"),  # too short
        ([dict(_rsa_public_jwk(), use="enc")], "no usable signing key"),
        ([dict(_rsa_public_jwk(), alg="HS256")], "no usable signing key"),
        (["not a key", 7, None], "no usable signing key"),
        ([_ec_public_jwk()], "does not fit the provider's key"),  # an EC key for an RS256 token
        ([dict(_rsa_public_jwk(), alg="PS256")], "does not fit the provider's key"),
    ],
)
def test_a_key_set_that_cannot_check_the_token_is_one_sentence(
    key_server: tuple[str, rsa.RSAPrivateKey], keys: list[Any], why: str
) -> None:
    """Every key is checked at receipt: type, algorithm, use, size, and that it loads; an
    unusable set or a key that does not fit the token's algorithm is refused in one sentence,
    never a library exception."""
    base, private = key_server
    _Keys.jwks = {"keys": keys}
    check = IdTokenCheck(base + "/jwks", base, "client-1")
    with pytest.raises(LoginError, match=why) as caught:
        check.verify(signed(private, base), None)
    assert type(caught.value) is LoginError
