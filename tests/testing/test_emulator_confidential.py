"""Confidential Connected App clients in the emulator: the secret at the token, refresh and
revocation endpoints (HTTP Basic or body), refresh tokens that do not rotate, and the
switches for registration and metadata; over real loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from httpie_stytch_connected.testing.emulator import ClientCredentials, StytchEmulator
from tests.testing.test_emulator import CALLBACK, FULL_SCOPE, assert_error, pkce_pair, sign_in


@pytest.fixture
def emulator() -> Iterator[StytchEmulator]:
    with StytchEmulator() as emulator:
        yield emulator


@pytest.fixture
def app(emulator: StytchEmulator) -> ClientCredentials:
    return emulator.create_connected_app("first_party", client_name="backend")


def secret_of(creds: ClientCredentials) -> str:
    assert creds.client_secret is not None
    return creds.client_secret


def post(
    url: str, body: dict[str, str], creds: ClientCredentials | None, how: str
) -> requests.Response:
    """POST ``body`` authenticated as ``creds``: ``basic``, ``post`` (body) or ``none``."""
    body = dict(body)
    if creds is not None and how == "basic":
        return requests.post(url, data=body, auth=(creds.client_id, secret_of(creds)), timeout=10)
    if creds is not None:
        body["client_id"] = creds.client_id
        if how == "post":
            body["client_secret"] = secret_of(creds)
    return requests.post(url, data=body, timeout=10)


def code_for(emulator: StytchEmulator, client_id: str, scope: str = FULL_SCOPE) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    _, params = sign_in(emulator, challenge, client_id=client_id, scope=scope)
    return params["code"], verifier


def exchange(
    emulator: StytchEmulator, creds: ClientCredentials, how: str, scope: str = FULL_SCOPE
) -> requests.Response:
    code, verifier = code_for(emulator, creds.client_id, scope)
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
    }
    return post(emulator.token_endpoint, body, creds, how)


def login(emulator: StytchEmulator, creds: ClientCredentials, how: str = "basic") -> dict[str, Any]:
    response = exchange(emulator, creds, how)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refresh(
    emulator: StytchEmulator, creds: ClientCredentials, token: str, how: str = "basic"
) -> requests.Response:
    body = {"grant_type": "refresh_token", "refresh_token": token}
    return post(emulator.token_endpoint, body, creds, how)


def revoke(
    emulator: StytchEmulator, creds: ClientCredentials | None, token: str, how: str = "basic"
) -> requests.Response:
    return post(emulator.revocation_endpoint, {"token": token}, creds, how)


def test_created_clients_have_the_four_stytch_types(emulator: StytchEmulator) -> None:
    for client_type in ("first_party", "third_party"):
        creds = emulator.create_connected_app(client_type)
        assert creds.client_id.startswith("connected-app-test-")
        assert secret_of(creds).startswith("secret-test-")
        assert creds.token_endpoint_auth_method == "client_secret_basic"
    for client_type in ("first_party_public", "third_party_public"):
        public = emulator.create_connected_app(client_type)
        assert public.client_secret is None and public.token_endpoint_auth_method == "none"
    with pytest.raises(ValueError, match="client_type"):
        emulator.create_connected_app("machine")
    assert emulator.registered_clients() == []  # created, not registered


@pytest.mark.parametrize("how", ["basic", "post"])
def test_the_code_exchange_takes_the_secret_either_way(
    emulator: StytchEmulator, app: ClientCredentials, how: str
) -> None:
    body = login(emulator, app, how)
    assert body["refresh_token"] and body["id_token"]
    claims = emulator.verify_access_token(body["access_token"])
    assert claims["client_id"] == app.client_id
    method = "client_secret_basic" if how == "basic" else "client_secret_post"
    assert emulator.client_auth_seen == [("token", app.client_id, method)]


@pytest.mark.parametrize("how", ["none", "wrong"])
def test_the_code_exchange_without_the_right_secret_is_refused(
    emulator: StytchEmulator, app: ClientCredentials, how: str
) -> None:
    creds = ClientCredentials(app.client_id, "secret-test-wrong") if how == "wrong" else app
    response = exchange(emulator, creds, "basic" if how == "wrong" else "none")
    assert_error(response, 401, "oauth_token_exchange_invalid_client", "invalid_client")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert secret_of(app) not in response.text


def test_refresh_tokens_do_not_rotate_and_each_use_extends_them(
    emulator: StytchEmulator, app: ClientCredentials
) -> None:
    first = login(emulator, app)
    token = first["refresh_token"]
    expiry = emulator._refresh[token].expires_at
    for how in ("basic", "post", "basic"):
        again = refresh(emulator, app, token, how)
        assert again.status_code == 200, again.text
        assert again.json()["refresh_token"] == token
        assert again.json()["access_token"] != first["access_token"]
    assert emulator._refresh[token].expires_at > expiry
    assert emulator.issued_refresh_tokens() == [token]
    emulator.confidential_refresh_returns_token = False
    quiet = refresh(emulator, app, token)
    assert quiet.status_code == 200 and "refresh_token" not in quiet.json()
    assert refresh(emulator, app, token).status_code == 200


def test_public_clients_still_rotate(emulator: StytchEmulator) -> None:
    public = emulator.create_connected_app("first_party_public")
    first = login(emulator, public, "none")
    second = refresh(emulator, public, first["refresh_token"], "none")
    assert second.json()["refresh_token"] != first["refresh_token"]
    assert_error(
        refresh(emulator, public, first["refresh_token"], "none"),
        400,
        "idp_refresh_token_already_used",
        "invalid_grant",
    )


def test_refresh_without_the_secret_is_refused(
    emulator: StytchEmulator, app: ClientCredentials
) -> None:
    token = login(emulator, app)["refresh_token"]
    assert_error(
        refresh(emulator, app, token, "none"),
        401,
        "oauth_token_exchange_invalid_client",
        "invalid_client",
    )
    assert refresh(emulator, app, token).status_code == 200


def test_revocation_needs_the_owning_client_and_its_secret(
    emulator: StytchEmulator, app: ClientCredentials
) -> None:
    body = login(emulator, app)
    token = body["refresh_token"]
    assert_error(
        revoke(emulator, None, token), 401, "oauth_token_exchange_invalid_client", "invalid_client"
    )
    assert_error(
        revoke(emulator, app, token, "none"),
        401,
        "oauth_token_exchange_invalid_client",
        "invalid_client",
    )
    other = emulator.create_connected_app("first_party")
    assert_error(
        revoke(emulator, other, token),
        400,
        "oauth_token_exchange_invalid_client",
        "unauthorized_client",
    )
    assert_error(
        revoke(emulator, None, body["access_token"]),
        401,
        "oauth_token_exchange_invalid_client",
        "invalid_client",
    )
    assert refresh(emulator, app, token).status_code == 200  # nothing was revoked yet
    assert revoke(emulator, app, token, "post").status_code == 200
    assert_error(refresh(emulator, app, token), 400, "idp_refresh_token_not_found", "invalid_grant")
    assert ("revoke", app.client_id, "client_secret_post") in emulator.client_auth_seen


def test_public_revocation_is_unchanged(emulator: StytchEmulator) -> None:
    public = emulator.create_connected_app("first_party_public")
    token = login(emulator, public, "none")["refresh_token"]
    assert revoke(emulator, None, token).status_code == 200


def test_the_strict_switch_holds_a_client_to_its_method(emulator: StytchEmulator) -> None:
    app = emulator.create_connected_app(
        "third_party", token_endpoint_auth_method="client_secret_post"
    )
    assert app.token_endpoint_auth_method == "client_secret_post"
    assert exchange(emulator, app, "basic").status_code == 200  # Stytch accepts either way
    emulator.strict_client_auth_method = True
    assert_error(
        exchange(emulator, app, "basic"),
        401,
        "oauth_token_exchange_invalid_client",
        "invalid_client",
    )
    assert exchange(emulator, app, "post").status_code == 200


def test_the_registration_switch_answers_with_a_confidential_client(
    emulator: StytchEmulator,
) -> None:
    metadata_url = emulator.url + "/.well-known/oauth-authorization-server"
    assert (
        "none"
        in requests.get(metadata_url, timeout=10).json()["token_endpoint_auth_methods_supported"]
    )
    emulator.registration_auth_method = "client_secret_basic"
    metadata = requests.get(metadata_url, timeout=10).json()
    assert metadata["token_endpoint_auth_methods_supported"] == ["client_secret_basic"]
    registered = requests.post(
        emulator.registration_endpoint,
        json={"client_name": "cli", "redirect_uris": ["http://127.0.0.1/callback"]},
        timeout=10,
    ).json()
    assert registered["token_endpoint_auth_method"] == "client_secret_basic"
    creds = ClientCredentials(registered["client_id"], registered["client_secret"])
    assert emulator.registered_clients()[0]["client_type"] == "third_party"
    assert login(emulator, creds, "basic")["access_token"]
    assert_error(
        exchange(emulator, creds, "none"),
        401,
        "oauth_token_exchange_invalid_client",
        "invalid_client",
    )
    emulator.token_endpoint_auth_methods = ["client_secret_post", "client_secret_basic"]
    assert requests.get(metadata_url, timeout=10).json()[
        "token_endpoint_auth_methods_supported"
    ] == ["client_secret_post", "client_secret_basic"]


def test_the_secret_never_shows_in_a_repr(emulator: StytchEmulator, app: ClientCredentials) -> None:
    secret = secret_of(app)
    assert secret not in repr(app)
    assert secret not in repr(emulator._client(app.client_id))
    assert secret not in repr(emulator.client_auth_seen)


def test_the_secret_never_shows_in_the_request_log(capfd: pytest.CaptureFixture[str]) -> None:
    with StytchEmulator(log_requests=True) as emulator:
        app = emulator.create_connected_app("first_party")
        m2m = emulator.create_m2m_client(["read:data"])
        body = login(emulator, app, "post")
        refresh(emulator, app, body["refresh_token"], "basic")
        revoke(emulator, app, body["refresh_token"], "post")
        exchange(emulator, ClientCredentials(app.client_id, "secret-test-wrong"), "post")
        requests.post(
            emulator.token_endpoint + "?client_secret=" + secret_of(m2m),
            data={"grant_type": "client_credentials"},
            auth=(m2m.client_id, secret_of(m2m)),
            timeout=10,
        )
    err = capfd.readouterr().err
    assert "POST /v1/oauth2/token" in err  # the log is on
    for secret in (secret_of(app), secret_of(m2m), body["refresh_token"]):
        assert secret not in err


def test_the_plugin_fixture_makes_a_confidential_client(
    stytch_emulator: StytchEmulator, stytch_confidential_client: ClientCredentials
) -> None:
    body = login(stytch_emulator, stytch_confidential_client, "post")
    again = refresh(stytch_emulator, stytch_confidential_client, body["refresh_token"])
    assert again.json()["refresh_token"] == body["refresh_token"]
