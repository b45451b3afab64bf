"""The manager signs out: it revokes at the provider (RFC 7009), then deletes what is stored and
the access cache, even when the provider cannot be reached."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from httpie_stytch_connected.auth import OAuth2PKCEAuth, StytchAuth
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.storage.store import AccessTokenCache, KeyringStore
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.pytest_plugin import ScriptedOpener
from httpie_stytch_connected.testing.resource_server import ResourceServer


def test_logout_revokes_the_grant_then_deletes_the_stored_set_and_the_cache(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    stytch_opener: ScriptedOpener,
) -> None:
    auth = StytchAuth(opener=stytch_opener, notify=lambda _: None)
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).ok
    key = auth.manager.key
    stored = KeyringStore().load(key)
    assert stored is not None and stored.refresh_token
    assert auth.manager.logout() is True
    assert KeyringStore().load(key) is None and AccessTokenCache().load(key) is None
    refresh = requests.post(
        stytch_env.token_endpoint,
        data={
            "grant_type": "refresh_token",
            "refresh_token": stored.refresh_token,
            "client_id": stytch_env.client_id,
        },
        timeout=10,
    )
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
    assert auth.manager.logout() is None  # nothing stored any more


def test_logout_removes_the_cache_file_even_with_the_cache_turned_off(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer, stytch_keyring: Path
) -> None:
    assert requests.get(stytch_resource_server.url, auth=StytchAuth(), timeout=30).ok
    assert list((stytch_keyring / "cache" / "access").glob("*.json"))
    assert StytchAuth(access_token_cache=False).manager.logout() is True
    assert not list((stytch_keyring / "cache" / "access").glob("*.json"))
    assert stytch_env.counters["revoke"] == 1


def test_logout_deletes_locally_when_the_provider_cannot_even_be_discovered(
    stytch_keyring: Path, stytch_browser: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with StytchEmulator() as emulator:
        monkeypatch.setenv("STYTCH_ISSUER", emulator.issuer)
        monkeypatch.setenv("STYTCH_CLIENT_ID", emulator.client_id)
        auth = OAuth2PKCEAuth()
        assert requests.get(emulator.userinfo_endpoint, auth=auth, timeout=30).ok
        key = auth.manager.key
    for cached in (stytch_keyring / "cache").rglob("*.json"):
        if "discovery" in cached.parts:
            cached.unlink()
    forget_memory()
    manager = OAuth2PKCEAuth().manager
    assert manager.logout() is False  # the provider is gone: nothing to revoke at
    assert KeyringStore().load(key) is None
    assert manager.cached_access_token() is None
