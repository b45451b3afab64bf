"""A keyring that shortens long values without a word: what was written is read back, so the
tokens are kept in parts where that works, and the person is told where it does not (never a
silent sign-in on the next run)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from httpie_stytch_connected.auth import StytchAuth
from httpie_stytch_connected.errors import TokenStoreError
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.oauth.tokens import TokenSet
from httpie_stytch_connected.storage.store import AccessTokenCache, KeyringStore
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.resource_server import ResourceServer
from httpie_stytch_connected.testing.user_agent import ScriptedUserAgent

LONG = TokenSet(access_token="a" * 1800, refresh_token="r" * 700, expires_at=None)


def _opener(url: str) -> bool:
    with ScriptedUserAgent() as agent:
        return agent.open(url).ok


def test_a_value_the_keyring_shortens_is_kept_in_parts(
    stytch_keyring: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STYTCH_TEST_KEYRING_FAULT", "truncate:1500")  # parts are 1000
    store = KeyringStore()
    store.save("key", LONG)
    assert store.load("key") == LONG


def test_a_keyring_that_shortens_even_the_parts_is_an_error_that_says_so(
    stytch_keyring: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STYTCH_TEST_KEYRING_FAULT", "truncate:20")
    with pytest.raises(TokenStoreError, match="even in parts"):
        KeyringStore().save("key", LONG)


def test_a_sign_in_the_keyring_shortened_is_kept_and_the_next_run_does_not_sign_in(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STYTCH_TEST_KEYRING_FAULT", "truncate:600")  # a token set is longer
    opened: list[str] = []

    def browser(url: str) -> bool:
        opened.append(url)
        return _opener(url)

    notes: list[str] = []
    auth = StytchAuth(opener=browser, notify=notes.append, access_token_cache=False)
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).status_code == 200
    forget_memory()
    AccessTokenCache().delete(auth.manager.key)
    again = StytchAuth(opener=browser, notify=notes.append, access_token_cache=False)
    assert requests.get(stytch_resource_server.url, auth=again, timeout=30).status_code == 200
    assert len(opened) == 1
    assert not any("could not be stored" in n for n in notes)
