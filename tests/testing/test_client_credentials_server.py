"""The provider-neutral client-credentials server: RFC 8414 metadata, the three client
authentication methods, RFC 7523 assertion checks, and its tokens checked against its JWKS by a
real resource server, all over loopback HTTP."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from httpie_stytch_connected.testing.client_credentials_server import (
    JWT_BEARER,
    ClientCredentials,
    ClientCredentialsServer,
)
from httpie_stytch_connected.testing.resource_server import ResourceServer

SCOPES = ("read", "write")


@pytest.fixture
def server() -> Iterator[ClientCredentialsServer]:
    with ClientCredentialsServer(scopes_supported=SCOPES) as server:
        yield server


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def secret_of(creds: ClientCredentials) -> str:
    assert creds.client_secret is not None
    return creds.client_secret


def assertion(key: Any, client_id: str, audience: Any, *, alg: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    body: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
    }
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=alg)


def with_assertion(server: ClientCredentialsServer, token: str, **extra: str) -> requests.Response:
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": token,
        **extra,
    }
    return requests.post(server.token_endpoint, data=data, timeout=10)


def basic(
    server: ClientCredentialsServer, creds: ClientCredentials, **extra: str
) -> requests.Response:
    data = {"grant_type": "client_credentials", **extra}
    return requests.post(
        server.token_endpoint, data=data, auth=(creds.client_id, secret_of(creds)), timeout=10
    )


def post(
    server: ClientCredentialsServer, creds: ClientCredentials, **extra: str
) -> requests.Response:
    data = {
        "grant_type": "client_credentials",
        "client_id": creds.client_id,
        "client_secret": secret_of(creds),
        **extra,
    }
    return requests.post(server.token_endpoint, data=data, timeout=10)


def assert_refused(response: requests.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error and body["error_description"]
    assert "access_token" not in body


def test_metadata_advertises_what_is_configured(server: ClientCredentialsServer) -> None:
    document = requests.get(server.metadata_url, timeout=10).json()
    assert document["issuer"] == server.issuer == server.url
    assert document["token_endpoint"] == server.token_endpoint
    assert document["jwks_uri"] == server.jwks_uri
    assert document["grant_types_supported"] == ["client_credentials"]
    assert document["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ]
    assert "RS256" in document["token_endpoint_auth_signing_alg_values_supported"]
    assert document["scopes_supported"] == list(SCOPES)
    server.auth_methods = ("client_secret_post",)
    document = requests.get(server.metadata_url, timeout=10).json()
    assert document["token_endpoint_auth_methods_supported"] == ["client_secret_post"]
    assert "token_endpoint_auth_signing_alg_values_supported" not in document
    server.advertised_auth_methods = ["client_secret_basic"]
    document = requests.get(server.metadata_url, timeout=10).json()
    assert document["token_endpoint_auth_methods_supported"] == ["client_secret_basic"]


@pytest.mark.parametrize("how", ["basic", "post"])
def test_a_secret_client_gets_a_jwt_its_jwks_verifies(
    server: ClientCredentialsServer, how: str
) -> None:
    creds = server.add_secret_client(SCOPES)
    response = basic(server, creds) if how == "basic" else post(server, creds)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == "read write" and "refresh_token" not in body
    claims = server.verify_access_token(body["access_token"])
    assert claims["sub"] == claims["client_id"] == creds.client_id
    assert claims["aud"] == server.issuer
    with ResourceServer(
        jwks_uri=server.jwks_uri,
        issuer=server.issuer,
        audience=server.issuer,
        required_scope="write",
    ) as api:
        answer = requests.get(
            api.url, headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=10
        )
        assert answer.status_code == 200, answer.text
    assert server.auth_seen == [(creds.client_id, f"client_secret_{how}")]


def test_scopes_default_to_the_clients_and_cannot_grow(server: ClientCredentialsServer) -> None:
    creds = server.add_secret_client(SCOPES)
    assert basic(server, creds, scope="read").json()["scope"] == "read"
    assert_refused(basic(server, creds, scope="read admin"), 400, "invalid_scope")


def test_secret_failures(server: ClientCredentialsServer) -> None:
    creds = server.add_secret_client(SCOPES)
    wrong = ClientCredentials(creds.client_id, "nope")
    refused = basic(server, wrong)
    assert_refused(refused, 401, "invalid_client")
    assert refused.headers["WWW-Authenticate"].startswith("Basic")
    assert_refused(post(server, wrong), 401, "invalid_client")
    assert_refused(basic(server, ClientCredentials("who", "x")), 401, "invalid_client")
    none = requests.post(
        server.token_endpoint,
        data={"grant_type": "client_credentials", "client_id": creds.client_id},
        timeout=10,
    )
    assert_refused(none, 401, "invalid_client")
    both = requests.post(
        server.token_endpoint,
        data={"grant_type": "client_credentials", "client_secret": secret_of(creds)},
        auth=(creds.client_id, secret_of(creds)),
        timeout=10,
    )
    assert_refused(both, 400, "invalid_request")


def test_a_method_not_enabled_or_not_the_clients_is_refused(
    server: ClientCredentialsServer,
) -> None:
    creds = server.add_secret_client(SCOPES)
    server.auth_methods = ("client_secret_post",)
    assert_refused(basic(server, creds), 401, "invalid_client")
    assert post(server, creds).status_code == 200
    server.auth_methods = ("client_secret_basic", "client_secret_post")
    held = server.add_secret_client(SCOPES, auth_method="client_secret_basic")
    assert_refused(post(server, held), 401, "invalid_client")
    assert basic(server, held).status_code == 200


def test_request_shape(server: ClientCredentialsServer) -> None:
    creds = server.add_secret_client(SCOPES)
    as_json = requests.post(
        server.token_endpoint,
        json={"grant_type": "client_credentials"},
        auth=(creds.client_id, secret_of(creds)),
        timeout=10,
    )
    assert_refused(as_json, 400, "invalid_request")
    assert_refused(
        basic(server, creds, grant_type="authorization_code"), 400, "unsupported_grant_type"
    )


@pytest.mark.parametrize(
    ("audience", "legacy", "accepted"),
    [
        ("issuer", False, True),
        # draft-ietf-oauth-rfc7523bis: the issuer alone, a single string.
        ("endpoint", False, False),
        ("issuer in a list", False, False),
        # RFC 7523's older leniency, which servers may keep.
        ("endpoint", True, True),
        ("list", True, True),
    ],
)
def test_private_key_jwt_with_rsa(
    server: ClientCredentialsServer,
    rsa_key: rsa.RSAPrivateKey,
    audience: str,
    legacy: bool,
    accepted: bool,
) -> None:
    server.legacy_assertion_audiences = legacy
    creds = server.add_key_client(rsa_key.public_key(), SCOPES)
    assert creds.client_secret is None and creds.token_endpoint_auth_method == "private_key_jwt"
    aud: Any = {
        "endpoint": server.token_endpoint,
        "issuer": server.issuer,
        "issuer in a list": [server.issuer],
        "list": ["https://elsewhere.example", server.token_endpoint],
    }[audience]
    response = with_assertion(server, assertion(rsa_key, creds.client_id, aud))
    if not accepted:
        return assert_refused(response, 401, "invalid_client")
    assert response.status_code == 200, response.text
    assert server.verify_access_token(response.json()["access_token"])["sub"] == creds.client_id
    assert server.auth_seen == [(creds.client_id, "private_key_jwt")]


def test_private_key_jwt_with_an_ec_key_given_as_a_jwk(server: ClientCredentialsServer) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    creds = server.add_key_client(jwk, ["read"])
    token = assertion(key, creds.client_id, server.issuer, alg="ES256")
    response = with_assertion(server, token, client_id=creds.client_id)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read"


def test_a_replayed_assertion_is_refused(
    server: ClientCredentialsServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    creds = server.add_key_client(rsa_key, SCOPES)
    token = assertion(rsa_key, creds.client_id, server.issuer)
    assert with_assertion(server, token).status_code == 200
    assert_refused(with_assertion(server, token), 401, "invalid_client")


@pytest.mark.parametrize(
    "case",
    [
        "wrong_aud",
        "expired",
        "no_exp",
        "no_jti",
        "iss_not_sub",
        "other_key",
        "hs256",
        "unsigned",
        "client_id_differs",
        "too_long",
    ],
)
def test_bad_assertions_are_refused(
    server: ClientCredentialsServer, rsa_key: rsa.RSAPrivateKey, case: str
) -> None:
    creds = server.add_key_client(rsa_key, SCOPES)
    cid, aud = creds.client_id, server.issuer
    extra: dict[str, str] = {}
    if case == "wrong_aud":
        token = assertion(rsa_key, cid, "https://elsewhere.example/token")
    elif case == "expired":
        token = assertion(rsa_key, cid, aud, exp=int(time.time()) - 30)
    elif case == "no_exp":
        token = assertion(rsa_key, cid, aud, exp=None)
    elif case == "no_jti":
        token = assertion(rsa_key, cid, aud, jti=None)
    elif case == "iss_not_sub":
        token = assertion(rsa_key, cid, aud, iss="someone-else")
    elif case == "other_key":
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        token = assertion(other, cid, aud)
    elif case == "hs256":
        token = assertion("a-shared-secret-of-32-bytes-or-more!", cid, aud, alg="HS256")
    elif case == "unsigned":
        token = assertion(None, cid, aud, alg="none")
    elif case == "client_id_differs":
        token = assertion(rsa_key, cid, aud)
        extra["client_id"] = "someone-else"
    else:
        server.max_assertion_lifetime = 300
        token = assertion(rsa_key, cid, aud, exp=int(time.time()) + 3600)
    assert_refused(with_assertion(server, token, **extra), 401, "invalid_client")


def test_assertion_type_and_enabled_method(
    server: ClientCredentialsServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    creds = server.add_key_client(rsa_key, SCOPES)
    token = assertion(rsa_key, creds.client_id, server.issuer)
    wrong_type = requests.post(
        server.token_endpoint,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:example:other",
            "client_assertion": token,
        },
        timeout=10,
    )
    assert_refused(wrong_type, 400, "invalid_request")
    server.auth_methods = ("client_secret_basic",)
    assert_refused(with_assertion(server, token), 401, "invalid_client")
    secret_client = server.add_secret_client(SCOPES)
    impostor = assertion(rsa_key, secret_client.client_id, server.issuer)
    server.auth_methods = ("private_key_jwt",)
    assert_refused(with_assertion(server, impostor), 401, "invalid_client")


def test_secrets_stay_out_of_reprs_and_logs(
    capfd: pytest.CaptureFixture[str], rsa_key: rsa.RSAPrivateKey
) -> None:
    with ClientCredentialsServer(log_requests=True) as server:
        creds = server.add_secret_client(SCOPES)
        token = basic(server, creds).json()["access_token"]
        post(server, ClientCredentials(creds.client_id, "wrong"))
        key_client = server.add_key_client(rsa_key, SCOPES)
        signed = assertion(rsa_key, key_client.client_id, server.issuer)
        with_assertion(server, signed)
        texts = [repr(server), repr(creds), repr(server._clients), repr(server.auth_seen)]
    err = capfd.readouterr().err
    assert "POST /token" in err
    for text in [*texts, err]:
        assert secret_of(creds) not in text and token not in text and signed not in text


def test_the_plugin_fixture_serves(client_credentials_server: ClientCredentialsServer) -> None:
    creds = client_credentials_server.add_secret_client(["read"])
    assert basic(client_credentials_server, creds).json()["scope"] == "read"
