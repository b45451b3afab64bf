"""No live grant left behind (issue 18 §6, RFC 7009): a grant a sign-in replaces, or that a
killed save abandoned in the keyring, is revoked where the provider offers revocation; one that
cannot be revoked now is kept with the stored set (the same atomic write) until it can, and
``logout`` revokes every one of them. The emulator says which grants are still live."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import keyring
import pytest

from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.storage.store import (
    KEYRING_SERVICE,
    AccessTokenCache,
    FileStore,
    KeyringStore,
    write_private,
)
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.command import ENTRY_POINTS, TIMEOUT
from tests.lifecycle import Harness


@pytest.fixture
def h(stytch_env: StytchEmulator, stytch_resource_server: ResourceServer) -> Harness:
    return Harness(stytch_env, stytch_resource_server)


def grant(h: Harness, refresh_token: str | None) -> str:
    assert refresh_token
    found = h.emulator.grant_of(refresh_token)
    assert found is not None
    return found


def test_a_sign_in_over_a_stored_set_revokes_the_grant_it_replaced(h: Harness) -> None:
    key, first = h.login()
    forget_memory()
    h.auth().manager.login()  # `stytch-connected login` over an existing set
    second = h.stored(key)
    assert second is not None and second.refresh_token != first.refresh_token
    assert h.emulator.live_grants() == [grant(h, second.refresh_token)]
    assert not second.superseded  # revoked: nothing kept for later


def test_two_logins_at_once_leave_one_live_grant(h: Harness, tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [*ENTRY_POINTS["module"], "login"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        results = [proc.communicate(timeout=TIMEOUT * 2) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
    assert [proc.returncode for proc in procs] == [0, 0], results
    assert h.count("login") == 2
    assert len(h.emulator.live_grants()) == 1


def test_a_grant_that_cannot_be_revoked_now_is_kept_and_logout_revokes_it(h: Harness) -> None:
    key, first = h.login()
    h.emulator.revocation_unavailable = True
    forget_memory()
    h.auth().manager.login()
    second = h.stored(key)
    assert second is not None
    assert second.superseded == (first.refresh_token,)  # kept with the set, in one write
    assert "superseded" not in repr(second) and str(first.refresh_token) not in repr(second)
    assert len(h.emulator.live_grants()) == 2
    h.emulator.revocation_unavailable = False
    forget_memory()
    assert h.auth().manager.logout() is True
    assert h.emulator.live_grants() == [] and h.stored(key) is None


def test_a_refresh_revokes_what_an_earlier_sign_in_could_not_and_keeps_its_own_grant(
    h: Harness,
) -> None:
    key, _ = h.login()
    h.emulator.revocation_unavailable = True
    forget_memory()
    h.auth().manager.login()
    h.emulator.revocation_unavailable = False
    h.expire(key)
    assert h.get().status_code == 200  # a refresh
    refreshed = h.stored(key)
    assert refreshed is not None and not refreshed.superseded
    assert h.emulator.live_grants() == [grant(h, refreshed.refresh_token)]


def test_logout_with_revocation_down_says_so_and_still_deletes(h: Harness) -> None:
    key, _ = h.login()
    h.emulator.revocation_unavailable = True
    assert h.auth().manager.logout() is False
    assert h.stored(key) is None and len(h.emulator.live_grants()) == 1


def _orphan_parts(key: str, tokens_json: str) -> None:
    """What a save killed after writing its parts and before its pointer leaves: the whole
    value in parts of the slot the pointer does not name."""
    head = keyring.get_password(KEYRING_SERVICE, key)
    pointer = json.loads(head or "null")
    slot = "b" if isinstance(pointer, dict) and pointer.get("gen") == "a" else "a"
    for i in range(0, len(tokens_json), 1000):
        keyring.set_password(
            KEYRING_SERVICE, f"{key}/{slot}/{i // 1000}", tokens_json[i : i + 1000]
        )


def _abandoned_grant(h: Harness, key: str) -> str:
    """A second real grant whose only copy is in orphaned parts of ``key``."""
    other = h.auth()
    other.manager.key = key + "-other"
    other.manager.login()
    stored = KeyringStore().load(other.manager.key)
    assert stored is not None
    KeyringStore().delete(other.manager.key)
    _orphan_parts(key, stored.to_json())
    assert [t.refresh_token for t in KeyringStore().abandoned(key)] == [stored.refresh_token]
    return grant(h, stored.refresh_token)


def test_a_grant_in_parts_a_killed_save_left_is_revoked_by_the_next_save(h: Harness) -> None:
    key, _ = h.login()
    h.expire(key)
    lost = _abandoned_grant(h, key)
    assert lost in h.emulator.live_grants()
    assert h.get().status_code == 200  # the refresh's save finds and sweeps the parts
    assert KeyringStore().abandoned(key) == []
    refreshed = h.stored(key)
    assert refreshed is not None
    assert h.emulator.live_grants() == [grant(h, refreshed.refresh_token)]


def test_logout_revokes_a_grant_in_abandoned_parts_too(h: Harness) -> None:
    key, _ = h.login()
    _abandoned_grant(h, key)
    assert len(h.emulator.live_grants()) == 2
    assert h.auth().manager.logout() is True
    assert h.emulator.live_grants() == []


def test_abandoned_parts_of_the_grant_being_refreshed_are_never_revoked(h: Harness) -> None:
    """A copy of the set being refreshed in abandoned parts: its refresh token belongs to the
    grant the refresh continues (revoking it would end the new token too)."""
    key, _ = h.login()
    expired = h.expire(key)
    _orphan_parts(key, replace(expired, access_token="x" * 20).to_json())
    assert h.get().status_code == 200
    stored = h.stored(key)
    assert stored is not None and h.emulator.live_grants() == [grant(h, stored.refresh_token)]


def test_a_grant_in_a_file_a_killed_write_left_is_revoked_by_the_next_save(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file store's counterpart: a temporary file named just before its rename."""
    monkeypatch.setenv("STYTCH_TOKEN_STORE", "file")
    store = FileStore()
    auth = h.auth()
    assert h.get(auth).status_code == 200
    key = auth.manager.key
    stored = store.load(key)
    assert stored is not None and stored.refresh_token
    store.save(key, replace(stored, expires_at=time.time() - 10))
    AccessTokenCache().delete(key)
    other = h.auth()
    other.manager.key = key + "-other"
    other.manager.login()
    lost = store.load(other.manager.key)
    assert lost is not None
    store.delete(other.manager.key)
    write_private(store.directory / f".{key}.json.0123456789ab", lost.to_json())
    assert [t.refresh_token for t in store.abandoned(key)] == [lost.refresh_token]
    forget_memory()
    assert h.get().status_code == 200  # a refresh; its save finds the file, then removes it
    refreshed = store.load(key)
    assert refreshed is not None and store.abandoned(key) == []
    assert h.emulator.live_grants() == [grant(h, refreshed.refresh_token)]
