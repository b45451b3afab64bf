"""The emulator's Stytch Dynamic Client Registration, the ``iss`` of its authorization
responses, and the example API that announces itself per RFC 9728."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from httpie_stytch_connected.login.callback_server import CallbackServer
from httpie_stytch_connected.login.flow import authorization_url
from httpie_stytch_connected.oauth.pkce import PKCE
from httpie_stytch_connected.testing import ScriptedUserAgent
from httpie_stytch_connected.testing.emulator import StytchEmulator, example_api
from httpie_stytch_connected.testing.resource_server import ResourceServer

PUBLIC = {
    "client_name": "cli",
    "redirect_uris": ["http://127.0.0.1/callback"],
    "token_endpoint_auth_method": "none",
}


@pytest.fixture
def emulator() -> Iterator[StytchEmulator]:
    with StytchEmulator() as emulator:
        yield emulator


def register(emulator: StytchEmulator, body: Any, **kwargs: Any) -> requests.Response:
    return requests.post(emulator.url + "/v1/oauth2/register", json=body, timeout=10, **kwargs)


def test_metadata_lists_the_registration_endpoint_only_when_registration_is_on(
    emulator: StytchEmulator,
) -> None:
    url = emulator.url + "/.well-known/oauth-authorization-server"
    assert requests.get(url, timeout=10).json()["registration_endpoint"] == (
        emulator.url + "/v1/oauth2/register"
    )
    emulator.dcr_enabled = False
    assert "registration_endpoint" not in requests.get(url, timeout=10).json()


def test_a_public_registration_has_stytchs_shape(emulator: StytchEmulator) -> None:
    response = register(emulator, {"redirect_uris": ["http://127.0.0.1/callback"]})
    assert response.status_code == 200
    body = response.json()
    assert body["client_id"].startswith("connected-app-test-")
    assert body["token_endpoint_auth_method"] == "none"  # the documented default
    assert body["grant_types"] == ["authorization_code", "refresh_token"]
    assert body["response_types"] == ["code"]
    assert body["redirect_uris"] == ["http://127.0.0.1/callback"]
    assert "client_secret" not in body
    assert emulator.registered_clients()[0]["client_type"] == "third_party_public"


def test_identical_public_registrations_are_deduplicated(emulator: StytchEmulator) -> None:
    first = register(emulator, PUBLIC).json()["client_id"]
    assert register(emulator, PUBLIC).json()["client_id"] == first
    other = register(emulator, {**PUBLIC, "client_name": "another"}).json()["client_id"]
    assert other != first and len(emulator.registered_clients()) == 2


def test_confidential_registrations_always_make_a_new_client_up_to_a_cap() -> None:
    body = {**PUBLIC, "token_endpoint_auth_method": "client_secret_post"}
    with StytchEmulator(max_connected_apps=2) as emulator:
        ids = {register(emulator, body).json()["client_id"] for _ in range(2)}
        assert len(ids) == 2
        refused = register(emulator, body)
    assert refused.status_code == 400
    assert refused.json()["error_type"] == "too_many_connected_apps"


@pytest.mark.parametrize(
    ("body", "error", "error_type"),
    [
        ({}, "invalid_redirect_uri", "invalid_redirect_uri"),
        (
            {"redirect_uris": ["http://localhost/callback"]},
            "invalid_redirect_uri",
            "connected_app_redirect_url_cannot_use_localhost",
        ),
        (
            {"redirect_uris": ["http://example.com/callback"]},
            "invalid_redirect_uri",
            "connected_app_redirect_url_http_scheme_must_use_loopback",
        ),
        (
            {**PUBLIC, "token_endpoint_auth_method": "private_key_jwt"},
            "invalid_client_metadata",
            "invalid_client_metadata",
        ),
        (
            {**PUBLIC, "grant_types": ["implicit"]},
            "invalid_client_metadata",
            "invalid_client_metadata",
        ),
    ],
)
def test_registration_errors_carry_both_shapes(
    emulator: StytchEmulator, body: dict[str, Any], error: str, error_type: str
) -> None:
    response = register(emulator, body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"] == error and payload["error_type"] == error_type
    assert payload["status_code"] == 400 and payload["error_message"]


def test_registration_turned_off_is_refused(emulator: StytchEmulator) -> None:
    emulator.dcr_enabled = False
    response = register(emulator, PUBLIC)
    assert response.status_code == 403
    assert response.json()["error_type"] == "dynamic_client_registration_not_enabled"


def test_a_form_encoded_registration_is_refused(emulator: StytchEmulator) -> None:
    response = requests.post(emulator.url + "/v1/oauth2/register", data=PUBLIC, timeout=10)
    assert response.json()["error"] == "invalid_client_metadata"


def authorize(emulator: StytchEmulator, client_id: str) -> dict[str, str]:
    """Sign in as ``client_id`` with the scripted person; the callback's parameters."""
    with CallbackServer("s") as server:
        url = authorization_url(
            emulator.authorize_url,
            {
                "client_id": client_id,
                "redirect_uri": server.redirect_uri,
                "response_type": "code",
                "scope": "openid",
                "state": "s",
                "code_challenge": PKCE().challenge,
                "code_challenge_method": "S256",
            },
        )
        with ScriptedUserAgent() as agent:
            result = agent.open(url)
    assert result.ok, result.error
    return result.callback_params


def test_third_party_clients_always_see_the_consent_page(emulator: StytchEmulator) -> None:
    client_id = register(
        emulator, {**PUBLIC, "redirect_uris": ["http://127.0.0.1/callback"]}
    ).json()["client_id"]
    authorize(emulator, client_id)
    assert emulator.counters["consent"] == 1
    authorize(emulator, emulator.client_id)  # first party, no offline_access: no consent
    assert emulator.counters["consent"] == 1


@pytest.mark.parametrize(
    ("form", "expected"),
    [("default_domain", "stytch.com/{project_id}"), ("custom_domain", "{issuer}"), ("none", None)],
)
def test_the_authorization_response_iss_has_the_chosen_form(
    form: str, expected: str | None
) -> None:
    with StytchEmulator(iss_form=form) as emulator:
        params = authorize(emulator, emulator.client_id)
        iss = expected and expected.format(project_id=emulator.project_id, issuer=emulator.issuer)
        assert params.get("iss") == iss


def test_the_example_api_announces_itself(emulator: StytchEmulator) -> None:
    with example_api(emulator) as api:
        bare = requests.get(api.url, timeout=10)
        assert bare.status_code == 401
        challenge = bare.headers["WWW-Authenticate"]
        assert f'resource_metadata="{api.metadata_url}"' in challenge
        assert 'scope="read:data"' in challenge
        metadata = requests.get(api.metadata_url, timeout=10).json()
        assert metadata["resource"] == api.resource
        assert metadata["authorization_servers"] == [emulator.issuer]
        path_inserted = api.origin + "/.well-known/oauth-protected-resource/api/resources"
        assert requests.get(path_inserted, timeout=10).json() == metadata


def test_the_example_api_admin_route_needs_a_scope_the_default_login_lacks(
    emulator: StytchEmulator,
) -> None:
    token = emulator._keys.sign(
        {
            "iss": emulator.issuer,
            "aud": [emulator.project_id],
            "sub": "user",
            "scope": "openid read:data",
            "iat": 0,
            "exp": 2**31,
        }
    )
    with example_api(emulator) as api:
        headers = {"Authorization": f"Bearer {token}"}
        assert requests.get(api.url, headers=headers, timeout=10).status_code == 200
        admin = requests.get(api.origin + "/api/admin", headers=headers, timeout=10)
        assert admin.status_code == 403
        assert 'error="insufficient_scope"' in admin.headers["WWW-Authenticate"]
        assert 'scope="write:data"' in admin.headers["WWW-Authenticate"]


def test_resource_server_without_authorization_servers_serves_no_metadata(
    emulator: StytchEmulator,
) -> None:
    with ResourceServer(
        jwks_uri=emulator.jwks_uri, issuer=emulator.issuer, audience=emulator.project_id
    ) as api:
        assert requests.get(api.metadata_url, timeout=10).status_code == 404
        assert (
            "resource_metadata" not in requests.get(api.url, timeout=10).headers["WWW-Authenticate"]
        )
