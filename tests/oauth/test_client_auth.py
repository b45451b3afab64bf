"""Client authentication at the token endpoint (RFC 6749 §2.3.1, RFC 7523), over loopback HTTP
against the provider-neutral client-credentials server and the Stytch emulator."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from httpie_stytch_connected.errors import ConfigurationError, TokenEndpointError
from httpie_stytch_connected.oauth.client_auth import (
    BASIC,
    POST,
    PRIVATE_KEY_JWT,
    ClientSecret,
    PrivateKeyJwt,
    PublicClient,
    choose,
)
from httpie_stytch_connected.oauth.token_client import TokenClient
from httpie_stytch_connected.testing.client_credentials_server import ClientCredentialsServer
from httpie_stytch_connected.testing.emulator import StytchEmulator


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.mark.parametrize("method", [BASIC, POST])
def test_a_secret_client_gets_a_token_with_the_method_chosen(
    client_credentials_server: ClientCredentialsServer, method: str
) -> None:
    server = client_credentials_server
    creds = server.add_secret_client(("read", "write"), auth_method=method)
    assert creds.client_secret is not None
    auth = choose(creds.client_id, secret=creds.client_secret, supported=[method])
    client = TokenClient(server.token_endpoint, creds.client_id, client_auth=auth)
    tokens = client.client_credentials(("read",))
    assert server.verify_access_token(tokens.access_token)["scope"] == "read"
    assert tokens.refresh_token is None
    assert server.auth_seen == [(creds.client_id, method)]


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_private_key_jwt_signs_an_assertion_the_server_accepts(
    client_credentials_server: ClientCredentialsServer, kind: str
) -> None:
    server = client_credentials_server
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if kind == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    creds = server.add_key_client(key, ("read",))
    auth = choose(creds.client_id, private_key=pem(key), supported=[PRIVATE_KEY_JWT])
    client = TokenClient(
        server.token_endpoint, creds.client_id, client_auth=auth, issuer=server.issuer
    )
    first = client.client_credentials()
    second = client.client_credentials()  # a fresh jti each time: no replay refusal
    assert server.verify_access_token(first.access_token)["sub"] == creds.client_id
    assert server.verify_access_token(second.access_token)
    assert server.auth_seen == [(creds.client_id, PRIVATE_KEY_JWT)] * 2


def test_a_client_assertion_names_the_issuer_alone_where_one_is_known(
    client_credentials_server: ClientCredentialsServer,
) -> None:
    """draft-ietf-oauth-rfc7523bis: ``aud`` is the issuer identifier, a single string (a
    server following it refuses the token endpoint); only without a known issuer (a configured
    token endpoint alone) is it the token endpoint, which RFC 7523 §3 lets servers accept."""
    server = client_credentials_server
    key = ec.generate_private_key(ec.SECP256R1())
    creds = server.add_key_client(key, ("read",))
    auth = choose(creds.client_id, private_key=pem(key), supported=[PRIVATE_KEY_JWT])
    known = TokenClient(
        server.token_endpoint, creds.client_id, client_auth=auth, issuer=server.issuer
    )
    sent: dict[str, str] = {}
    auth.apply(sent, {}, known.assertion_audience)
    claims = jwt.decode(sent["client_assertion"], options={"verify_signature": False})
    assert claims["aud"] == server.issuer  # a string, not a list
    assert known.client_credentials().access_token
    unknown = TokenClient(server.token_endpoint, creds.client_id, client_auth=auth)
    assert unknown.assertion_audience == server.token_endpoint
    with pytest.raises(TokenEndpointError) as caught:
        unknown.client_credentials()
    assert caught.value.error == "invalid_client"
    server.legacy_assertion_audiences = True
    assert unknown.client_credentials().access_token


def test_the_method_follows_what_the_metadata_offers() -> None:
    assert isinstance(choose("c", secret="s"), ClientSecret)
    assert choose("c", secret="s").method == BASIC  # nothing known: RFC 8414's default
    assert choose("c", secret="s", supported=["client_secret_post"]).method == POST
    assert choose("c", secret="s", supported=["none", BASIC, POST]).method == BASIC
    assert choose("c", secret="s", preferred=POST, supported=[BASIC, POST]).method == POST
    assert isinstance(choose("c"), PublicClient)
    with pytest.raises(ConfigurationError, match="offers neither"):
        choose("c", secret="s", supported=["private_key_jwt"])
    with pytest.raises(ConfigurationError, match="does not offer private_key_jwt"):
        choose("c", private_key="x", supported=[BASIC])
    with pytest.raises(ConfigurationError, match="PEM private key") as caught:
        choose("c", private_key="not a key -----", supported=[PRIVATE_KEY_JWT])
    assert "not a key" not in str(caught.value)


def test_secrets_are_never_in_a_repr_or_a_provider_error(
    client_credentials_server: ClientCredentialsServer,
) -> None:
    server = client_credentials_server
    creds = server.add_secret_client(("read",), auth_method=POST)
    wrong = "wrong-" + str(creds.client_secret)
    auth = ClientSecret(creds.client_id, wrong, POST)
    key = PrivateKeyJwt("c", pem(ec.generate_private_key(ec.SECP256R1())), "ES256")
    assert wrong not in repr(auth) and "PRIVATE KEY" not in repr(key)
    client = TokenClient(server.token_endpoint, creds.client_id, client_auth=auth)
    with pytest.raises(TokenEndpointError) as caught:
        client.client_credentials()
    assert caught.value.error == "invalid_client"
    assert wrong not in str(caught.value) and wrong not in repr(client)


def test_a_confidential_connected_app_is_never_a_machine_and_sends_basic_by_default(
    stytch_emulator: StytchEmulator,
) -> None:
    """The emulator's confidential client: no client-credentials grant for it, with or without
    its secret, and basic by default (refresh and revocation: tests/lifecycle/test_machine_
    credentials.py)."""
    emulator = stytch_emulator
    app = emulator.create_connected_app("first_party")
    assert app.client_secret is not None
    auth = choose(app.client_id, secret=app.client_secret)
    client = TokenClient(
        emulator.token_endpoint,
        app.client_id,
        client_auth=auth,
        revocation_endpoint=emulator.revocation_endpoint,
    )
    public = TokenClient(emulator.token_endpoint, app.client_id)
    with pytest.raises(TokenEndpointError):
        public.client_credentials()  # no secret: refused
    with pytest.raises(TokenEndpointError, match="Connected App"):
        client.client_credentials()  # a Connected App is never a machine
    seen = [entry for entry in emulator.client_auth_seen if entry[1] == app.client_id]
    assert (("token", app.client_id, BASIC)) in seen
