"""The emulator's Stytch M2M product: clients with scopes and the client-credentials grant,
over real loopback HTTP."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from httpie_stytch_connected.testing.emulator import ClientCredentials, StytchEmulator
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.testing.test_emulator import assert_error

SCOPES = ("read:users", "write:users")


@pytest.fixture
def emulator() -> Iterator[StytchEmulator]:
    with StytchEmulator() as emulator:
        yield emulator


@pytest.fixture
def m2m(emulator: StytchEmulator) -> ClientCredentials:
    return emulator.create_m2m_client(SCOPES, client_name="billing job")


def secret_of(creds: ClientCredentials) -> str:
    assert creds.client_secret is not None
    return creds.client_secret


def token(
    url: str, creds: ClientCredentials, *, scope: str | None = None, how: str = "json"
) -> requests.Response:
    body: dict[str, Any] = {"grant_type": "client_credentials"}
    if scope is not None:
        body["scope"] = scope
    if how == "basic":
        return requests.post(url, data=body, auth=(creds.client_id, secret_of(creds)), timeout=10)
    body.update(client_id=creds.client_id, client_secret=secret_of(creds))
    if how == "json":
        return requests.post(url, json=body, timeout=10)
    return requests.post(url, data=body, timeout=10)


def claims_of(emulator: StytchEmulator, access_token: str) -> dict[str, Any]:
    return emulator.verify_access_token(access_token)


def test_a_created_m2m_client_has_stytchs_shape(
    emulator: StytchEmulator, m2m: ClientCredentials
) -> None:
    assert m2m.client_id.startswith("m2m-client-test-")
    assert secret_of(m2m).startswith("secret-test-")
    assert m2m.scopes == SCOPES
    assert emulator.m2m_clients() == [
        {
            "client_id": m2m.client_id,
            "client_name": "billing job",
            "scopes": list(SCOPES),
            "status": "active",
        }
    ]


@pytest.mark.parametrize("how", ["json", "form", "basic"])
def test_the_documented_request_forms_get_a_token_with_the_clients_scopes(
    emulator: StytchEmulator, m2m: ClientCredentials, how: str
) -> None:
    response = token(emulator.legacy_token_endpoint, m2m, how=how)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["status_code"] == 200 and body["request_id"].startswith("request-id-test-")
    assert "refresh_token" not in body and "id_token" not in body
    claims = claims_of(emulator, body["access_token"])
    assert claims["sub"] == m2m.client_id
    assert claims["iss"] == emulator.legacy_issuer == f"stytch.com/{emulator.project_id}"
    assert claims["aud"] == [emulator.project_id]
    assert claims["scope"] == "read:users write:users"
    assert claims["exp"] - claims["iat"] == 3600 and claims["nbf"] == claims["iat"]
    assert claims["jti"]
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "RS256"
    assert emulator.client_auth_seen == [
        ("token", m2m.client_id, "client_secret_basic" if how == "basic" else "client_secret_post")
    ]
    assert emulator.counters["token_client_credentials"] == 1


def test_the_issuer_follows_the_domain_used(
    emulator: StytchEmulator, m2m: ClientCredentials
) -> None:
    on_domain = token(emulator.token_endpoint, m2m).json()["access_token"]
    assert claims_of(emulator, on_domain)["iss"] == emulator.issuer
    on_m2m_path = token(emulator.m2m_token_endpoint, m2m, how="basic").json()["access_token"]
    assert claims_of(emulator, on_m2m_path)["iss"] == emulator.legacy_issuer


def test_a_scope_narrows_the_token_and_a_foreign_scope_is_refused(
    emulator: StytchEmulator, m2m: ClientCredentials
) -> None:
    narrow = token(emulator.token_endpoint, m2m, scope="read:users").json()["access_token"]
    assert claims_of(emulator, narrow)["scope"] == "read:users"
    refused = token(emulator.token_endpoint, m2m, scope="read:users admin:users")
    assert_error(refused, 400, "oauth_token_exchange_invalid_scope", "invalid_scope")
    assert "admin:users" in refused.json()["error_message"]
    assert emulator.counters["token_errors"] == 1


def test_wrong_or_missing_secret_and_unknown_or_inactive_client_are_refused(
    emulator: StytchEmulator, m2m: ClientCredentials
) -> None:
    url = emulator.token_endpoint
    wrong = ClientCredentials(m2m.client_id, "secret-test-wrong")
    response = token(url, wrong, how="basic")
    assert_error(response, 401, "oauth_token_exchange_invalid_client", "invalid_client")
    assert secret_of(m2m) not in response.text
    missing = requests.post(
        url, json={"grant_type": "client_credentials", "client_id": m2m.client_id}, timeout=10
    )
    assert_error(missing, 401, "oauth_token_exchange_invalid_client", "invalid_client")
    unknown = ClientCredentials("m2m-client-test-unknown", secret_of(m2m))
    assert_error(token(url, unknown), 401, "invalid_client_id", "invalid_client")
    emulator.deactivate_m2m_client(m2m.client_id)
    assert_error(token(url, m2m), 401, "oauth_token_exchange_invalid_client", "invalid_client")


def test_the_secret_is_sent_one_way_only(emulator: StytchEmulator, m2m: ClientCredentials) -> None:
    both = requests.post(
        emulator.token_endpoint,
        data={"grant_type": "client_credentials", "client_secret": secret_of(m2m)},
        auth=(m2m.client_id, secret_of(m2m)),
        timeout=10,
    )
    assert_error(both, 400, "oauth_token_exchange_invalid_request", "invalid_request")


def test_grants_are_kept_apart(emulator: StytchEmulator, m2m: ClientCredentials) -> None:
    refresh = token(emulator.token_endpoint, m2m)
    assert refresh.status_code == 200
    as_refresh = requests.post(
        emulator.token_endpoint,
        json={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=(m2m.client_id, secret_of(m2m)),
        timeout=10,
    )
    assert_error(as_refresh, 400, "oauth_token_exchange_invalid_request", "unauthorized_client")
    public = requests.post(
        emulator.token_endpoint,
        data={"grant_type": "client_credentials", "client_id": emulator.client_id},
        timeout=10,
    )
    assert_error(public, 400, "oauth_token_exchange_invalid_request", "unauthorized_client")
    code_on_m2m_path = requests.post(
        emulator.m2m_token_endpoint,
        data={"grant_type": "authorization_code", "client_id": emulator.client_id},
        timeout=10,
    )
    assert_error(
        code_on_m2m_path, 400, "oauth_token_exchange_invalid_request", "unsupported_grant_type"
    )


def test_the_ttl_switch_and_a_resource_server_accepting_the_token(
    emulator: StytchEmulator, m2m: ClientCredentials
) -> None:
    emulator.m2m_access_token_ttl = 60
    body = token(emulator.token_endpoint, m2m).json()
    assert body["expires_in"] == 60
    with ResourceServer(
        jwks_uri=emulator.jwks_uri,
        issuer=emulator.issuer,
        audience=emulator.project_id,
        required_scope="write:users",
    ) as api:
        ok = requests.get(
            api.url, headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=10
        )
        assert ok.status_code == 200, ok.text
        narrow = token(emulator.token_endpoint, m2m, scope="read:users").json()["access_token"]
        denied = requests.get(api.url, headers={"Authorization": f"Bearer {narrow}"}, timeout=10)
        assert denied.status_code == 403


def test_m2m_tokens_can_be_introspected_and_revoked(
    emulator: StytchEmulator, m2m: ClientCredentials
) -> None:
    access = token(emulator.token_endpoint, m2m).json()["access_token"]
    seen = requests.post(emulator.introspection_endpoint, data={"token": access}, timeout=10)
    assert seen.json()["active"] is True and seen.json()["sub"] == m2m.client_id
    revoked = requests.post(
        emulator.revocation_endpoint,
        data={"token": access},
        auth=(m2m.client_id, secret_of(m2m)),
        timeout=10,
    )
    assert revoked.status_code == 200
    with pytest.raises(ValueError, match="revoked"):
        emulator.verify_access_token(access)


def test_faults_apply_to_client_credentials_too(
    emulator: StytchEmulator, m2m: ClientCredentials
) -> None:
    emulator.inject_token_fault("503")
    assert token(emulator.token_endpoint, m2m).status_code == 503
    assert token(emulator.token_endpoint, m2m).status_code == 200


def test_the_secret_never_shows_in_a_repr_or_listing(
    emulator: StytchEmulator, m2m: ClientCredentials
) -> None:
    secret = secret_of(m2m)
    assert secret not in repr(m2m)
    assert secret not in repr(emulator.m2m_clients())
    assert secret not in repr(emulator._m2m_clients)
    assert secret not in repr(emulator.client_auth_seen)


def test_basic_credentials_are_form_decoded(
    emulator: StytchEmulator, m2m: ClientCredentials
) -> None:
    # RFC 6749 §2.3.1: the id and secret are form-encoded before Basic; Stytch's never need it,
    # but an encoded one must still match.
    raw = f"{m2m.client_id}:{secret_of(m2m)}".replace("-", "%2D").encode()
    response = requests.post(
        emulator.token_endpoint,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(raw).decode()},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_the_plugin_fixture_makes_an_m2m_client(
    stytch_emulator: StytchEmulator, stytch_m2m_client: ClientCredentials
) -> None:
    body = token(stytch_emulator.token_endpoint, stytch_m2m_client, how="basic").json()
    assert claims_of(stytch_emulator, body["access_token"])["scope"] == "read:data write:data"


def test_the_foreground_emulator_prints_a_machine_to_try_a_ci_run_by_hand(
    emulator: StytchEmulator, tmp_path: Path
) -> None:
    """``python -m httpie_stytch_connected.testing.emulator --m2m-client``: the two ``export``
    lines it prints, pasted in order, make a browserless CI-like run of the example API work."""
    import os
    import shlex
    import subprocess
    import sys

    from httpie_stytch_connected.testing.emulator import example_api
    from httpie_stytch_connected.testing.emulator.__main__ import describe, describe_m2m_client
    from httpie_stytch_connected.testing.pytest_plugin import ISOLATED
    from tests.command import REQUESTS_SCRIPT, run_without_terminal

    printed = describe(emulator) + describe_m2m_client(emulator)
    exports = [line for line in printed if line.startswith("export ")]
    assert len(exports) == 2
    env = {k: v for k, v in os.environ.items() if not k.startswith("STYTCH_")}
    env.pop("BROWSER", None)
    env.update({name: str(tmp_path / sub) for name, sub in ISOLATED.items()}, CI="true")
    for line in exports:  # as the shell does: the second overrides the client of the first
        env.update(word.partition("=")[::2] for word in shlex.split(line)[1:])
    with example_api(emulator) as api:  # /api/admin needs write:data
        result = run_without_terminal(
            [sys.executable, "-c", REQUESTS_SCRIPT, api.origin + "/api/admin"], env
        )
    assert result.stdout == "200\n", result.stderr
    assert emulator.counters["token_client_credentials"] == 1
    assert emulator.counters["authorize_page"] == 0
    help_text = subprocess.run(
        [sys.executable, "-m", "httpie_stytch_connected.testing.emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "--m2m-client" in help_text
