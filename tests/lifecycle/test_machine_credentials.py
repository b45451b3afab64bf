"""The token manager's client-credentials strategy and supplied tokens, with the settings that
choose them, against the Stytch emulator over loopback."""

from __future__ import annotations

import copy
import pickle
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from httpie_stytch_connected.auth import OAuth2PKCEAuth, StytchAuth
from httpie_stytch_connected.errors import ConfigurationError, LoginError
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.oauth.tokens import TokenSet
from httpie_stytch_connected.settings.config import resolve
from httpie_stytch_connected.settings.credentials import grant_type
from httpie_stytch_connected.storage.store import AccessTokenCache
from httpie_stytch_connected.testing.emulator import ClientCredentials, StytchEmulator
from httpie_stytch_connected.testing.pytest_plugin import ScriptedOpener
from tests.lifecycle import expire_stored


class UntouchableStore:
    """A secure store that fails the test on any use: a machine never needs one."""

    description = "untouchable store"

    def _fail(self, *args: object) -> None:
        raise AssertionError("the secure store was used")

    load = save = delete = probe = _fail

    def lock_file(self, key: str) -> Path:
        from httpie_stytch_connected.storage.store import lock_dir

        return lock_dir() / "untouchable.lock"


def m2m_auth(emulator: StytchEmulator, creds: ClientCredentials, **more: object) -> StytchAuth:
    return StytchAuth(
        project_domain=emulator.project_domain,
        client_id=creds.client_id,
        client_secret=creds.client_secret,
        store=UntouchableStore(),
        **more,  # type: ignore[arg-type]
    )


STYTCH = {"project_domain": "https://p.example"}
OTHER = {"issuer": "https://id.example", "client_id": "c"}
SECRET = {"client_secret": "s"}
PERSON, MACHINE = "authorization_code", "client_credentials"


@pytest.mark.parametrize(
    ("settings", "grant"),
    [
        ({**STYTCH, "client_id": "connected-app-test-1"}, PERSON),
        ({**STYTCH, "client_id": "m2m-client-test-1", **SECRET}, MACHINE),
        ({**STYTCH, "client_id": "connected-app-test-1", **SECRET}, PERSON),
        ({**OTHER, **SECRET}, MACHINE),
        ({**OTHER, "private_key_file": "/k"}, MACHINE),
        ({**OTHER, **SECRET, "authorize_url": "https://a.example"}, PERSON),
        ({**OTHER, **SECRET, "grant_type": PERSON}, PERSON),
        ({**STYTCH, "client_id": "x", **SECRET, "grant_type": MACHINE}, MACHINE),
    ],
)
def test_which_grant_a_configuration_means(settings: dict[str, str], grant: str) -> None:
    assert grant_type(resolve(settings, {})) == grant


def test_an_m2m_client_never_touches_the_secure_store_and_caches_its_token(
    stytch_keyring: Path, stytch_emulator: StytchEmulator, stytch_m2m_client: ClientCredentials
) -> None:
    auth = m2m_auth(stytch_emulator, stytch_m2m_client)
    manager = auth.manager
    first = manager.access_token()
    assert manager.access_token() == first
    forget_memory()  # another process: the 0600 access-token cache answers
    assert manager.access_token() == first
    assert stytch_emulator.counters["token_client_credentials"] == 1
    # Shortly before expiry a new one is asked for (there is no refresh token).
    cached = AccessTokenCache().load(manager.key)
    assert cached is not None and cached.refresh_token is None
    AccessTokenCache().save(
        manager.key, replace(cached, expires_at=time.time() + 5, received_at=time.time() - 3595)
    )
    forget_memory()
    renewed = manager.access_token()
    assert renewed != first
    assert manager.access_token(rejected=renewed) not in (first, renewed)  # a 401: a new one
    assert stytch_emulator.counters["token_client_credentials"] == 3
    assert manager.logout() is None and AccessTokenCache().load(manager.key) is None


def test_threads_share_one_grant(
    stytch_keyring: Path, stytch_emulator: StytchEmulator, stytch_m2m_client: ClientCredentials
) -> None:
    auth = m2m_auth(stytch_emulator, stytch_m2m_client)
    stytch_emulator.slow_seconds = 1.0
    stytch_emulator.inject_token_fault("slow", count=1)
    tokens: list[str] = []
    threads = [
        threading.Thread(target=lambda: tokens.append(auth.manager.access_token()))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(tokens) == 8 and len(set(tokens)) == 1
    assert stytch_emulator.counters["token_client_credentials"] == 1


def test_the_secret_is_in_no_repr_and_survives_a_copy(
    stytch_keyring: Path, stytch_emulator: StytchEmulator, stytch_m2m_client: ClientCredentials
) -> None:
    auth = StytchAuth(
        project_domain=stytch_emulator.project_domain,
        client_id=stytch_m2m_client.client_id,
        client_secret=stytch_m2m_client.client_secret,
    )
    secret = str(stytch_m2m_client.client_secret)
    for shown in (repr(auth), repr(auth.settings), repr(auth.manager), repr(auth.manager.client)):
        assert secret not in shown
    clone = pickle.loads(pickle.dumps(auth))  # noqa: S301 - our own object
    assert copy.copy(auth).manager.access_token() == clone.manager.access_token()


def test_a_wrong_secret_is_one_error_that_does_not_echo_it(
    stytch_keyring: Path, stytch_emulator: StytchEmulator, stytch_m2m_client: ClientCredentials
) -> None:
    wrong = replace(stytch_m2m_client, client_secret="secret-test-wrong-value")
    with pytest.raises(Exception) as caught:
        m2m_auth(stytch_emulator, wrong).manager.access_token()
    assert "invalid_client" in str(caught.value)
    assert "secret-test-wrong-value" not in str(caught.value)


def test_a_secret_file_must_be_ours_alone(
    stytch_keyring: Path,
    stytch_emulator: StytchEmulator,
    stytch_m2m_client: ClientCredentials,
    tmp_path: Path,
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(str(stytch_m2m_client.client_secret) + "\n")
    secret_file.chmod(0o644)
    auth = StytchAuth(
        project_domain=stytch_emulator.project_domain,
        client_id=stytch_m2m_client.client_id,
        client_secret_file=str(secret_file),
    )
    with pytest.raises(ConfigurationError, match="other users can read") as caught:
        auth.manager.access_token()
    assert str(stytch_m2m_client.client_secret) not in str(caught.value)
    secret_file.chmod(0o600)
    forget_memory()
    fresh = StytchAuth(
        project_domain=stytch_emulator.project_domain,
        client_id=stytch_m2m_client.client_id,
        client_secret_file=str(secret_file),
    )
    assert stytch_emulator.verify_access_token(fresh.manager.access_token())


def test_any_provider_by_token_endpoint_with_an_explicit_method(
    stytch_keyring: Path, client_credentials_server: object
) -> None:
    from httpie_stytch_connected.testing.client_credentials_server import (
        ClientCredentialsServer,
    )

    assert isinstance(client_credentials_server, ClientCredentialsServer)
    server = client_credentials_server
    creds = server.add_secret_client(("read",), auth_method="client_secret_post")
    auth = OAuth2PKCEAuth(
        token_endpoint=server.token_endpoint,
        client_id=creds.client_id,
        client_secret=creds.client_secret,
        token_endpoint_auth_method="client_secret_post",
        scopes="read",
    )
    assert server.verify_access_token(auth.manager.access_token())["scope"] == "read"
    assert server.auth_seen == [(creds.client_id, "client_secret_post")]


def test_a_supplied_token_is_never_stored_refreshed_or_signed_in_for(
    stytch_keyring: Path,
) -> None:
    auth = OAuth2PKCEAuth(access_token="given.token.value", store=UntouchableStore())
    manager = auth.manager
    assert manager.access_token() == "given.token.value"
    assert manager.cached_access_token() == "given.token.value"
    with pytest.raises(LoginError, match="refused the supplied access token") as caught:
        manager.access_token(rejected="given.token.value")
    assert "given.token.value" not in str(caught.value)
    with pytest.raises(LoginError, match="nothing signs in"):
        manager.login()
    assert manager.current() == (TokenSet("given.token.value"), "supplied (argument)")
    assert "given.token.value" not in repr(auth.settings)


def test_a_store_failure_does_not_matter_to_a_machine(
    stytch_keyring: Path, stytch_emulator: StytchEmulator, stytch_m2m_client: ClientCredentials
) -> None:
    """The keyring is missing on most CI runners: a machine works without one."""
    auth = m2m_auth(stytch_emulator, stytch_m2m_client, access_token_cache=False)
    assert stytch_emulator.verify_access_token(auth.manager.access_token())


def test_a_confidential_connected_app_refreshes_without_rotation_and_revokes_with_its_secret(
    stytch_env: StytchEmulator,
    stytch_confidential_client: ClientCredentials,
    stytch_opener: ScriptedOpener,
) -> None:
    """Issue 19 §1: the secret authenticates the client at the token endpoint (code exchange
    and refresh) and at the revocation endpoint, with the method it was created for (the
    strict emulator refuses any other), and its refresh token does not rotate."""
    emulator, app = stytch_env, stytch_confidential_client
    emulator.strict_client_auth_method = True
    auth = StytchAuth(
        client_id=app.client_id, client_secret=app.client_secret, opener=stytch_opener
    )
    manager = auth.manager
    signed_in = manager.access_token()
    stored = manager.stored()
    assert stored is not None and stored.refresh_token
    expire_stored(manager.key)
    assert manager.access_token() != signed_in  # refreshed, not signed in again
    assert stytch_opener.opened == 1 and emulator.counters["token_refresh_ok"] == 1
    refreshed = manager.stored()
    assert refreshed is not None and refreshed.refresh_token == stored.refresh_token
    assert manager.logout() is True
    assert emulator.live_grants(app.client_id) == []
    method = app.token_endpoint_auth_method
    seen = [
        (where, how) for where, client, how in emulator.client_auth_seen if client == app.client_id
    ]
    assert seen == [("token", method), ("token", method), ("revoke", method)]
