"""A real child process SIGKILLed at a chosen keyring write (the test keyrings'
``STYTCH_TEST_KEYRING_KILL_AT`` knob), and what may be left behind: shared by the test keyring
and the real Secret Service tests. Every wait is a bounded ``subprocess`` timeout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from httpie_stytch_connected.oauth.tokens import TokenSet
from httpie_stytch_connected.storage.store import KeyringStore

#: The keyring entries of our service: account -> value.
Entries = Callable[[], dict[str, str]]

_STORE_CHILD = """
import sys
from httpie_stytch_connected.storage.store import KeyringStore
from httpie_stytch_connected.oauth.tokens import TokenSet
op, key = sys.argv[1:3]
store = KeyringStore(timeout=60)
if op == "save":
    store.save(key, TokenSet.from_json(sys.stdin.read()))
else:
    store.delete(key)
"""


def sample(n: int, size: int = 1500) -> TokenSet:
    """A token set numbered ``n``, about ``size`` + 1,100 characters of JSON."""
    return TokenSet(
        access_token=f"{n:04d}" + "a" * size,
        expires_at=time.time() + 3600,
        refresh_token=f"refresh-{n:04d}-" + "r" * 48,
        scope="openid offline_access",
        id_token="i" * 900,
        received_at=time.time(),
    )


def store_in_child(op: str, key: str, tokens: TokenSet | None = None, *, kill_at: int) -> bool:
    """``KeyringStore().save`` or ``.delete`` in a new process that dies at its ``kill_at``-th
    keyring write; False if it was killed, True if it finished first."""
    env = dict(os.environ, STYTCH_TEST_KEYRING_KILL_AT=str(kill_at))
    done = subprocess.run(
        [sys.executable, "-c", _STORE_CHILD, op, key],
        input=tokens.to_json() if tokens else "",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode in (0, -signal.SIGKILL), done.stderr
    return done.returncode == 0


def assert_only_tracked(entries: Entries, key: str) -> None:
    """Every entry for ``key`` is its pointer or a part that pointer names: nothing orphaned."""
    found = entries()
    expected = {key}
    pointer = json.loads(found[key])
    if isinstance(pointer, dict) and "gen" in pointer:
        expected |= {f"{key}/{pointer['gen']}/{i}" for i in range(pointer["parts"])}
    assert set(found) == expected


def kill_a_split_save_at_every_write(entries: Entries, key: str) -> None:
    """A split save killed at each of its writes in turn: a reader sees the old set or the new
    one, never a torn one; the next save, or a delete, leaves nothing that no pointer names."""
    store = KeyringStore(timeout=60)
    store.save(key, sample(0))
    assert len(entries()) > 2, "the value was not split"
    for n in range(1, 100):
        before, new = store.load(key), sample(n)
        if store_in_child("save", key, new, kill_at=n):
            break
        assert store.load(key) in (before, new)
        # The next save (another run's refresh) finds and removes what the kill left.
        store.save(key, sample(100 + n))
        assert_only_tracked(entries, key)
        # So does logout, after the same kill.
        assert not store_in_child("save", key, new, kill_at=n)
        store.delete(key)
        assert entries() == {}
        store.save(key, sample(200 + n))
    else:
        raise AssertionError("the save never finished")
    assert n > 4  # it was killed at the whole-value try, parts and the pointer
    assert store.load(key) == new
    assert_only_tracked(entries, key)


def kill_a_delete_at_every_write(entries: Entries, key: str) -> None:
    """Logout killed at each of its deletes: the next logout removes the rest."""
    store = KeyringStore(timeout=60)
    for n in range(1, 100):
        store.save(key, sample(n))
        if store_in_child("delete", key, kill_at=n):
            break
        store.delete(key)
        assert entries() == {}
    else:
        raise AssertionError("the delete never finished")
    assert n > 3
    assert entries() == {}


def kill_split_saves_in_a_row_then_delete(entries: Entries, key: str) -> None:
    """The reported case: five saves killed between their parts and their pointer, then one
    logout; no part of any of them is left."""
    store = KeyringStore(timeout=60)
    first = sample(0)
    store.save(key, first)
    for n in range(1, 6):
        # Write 1 is the whole-value try (refused), 2 and 3 parts: killed with parts written.
        assert not store_in_child("save", key, sample(n), kill_at=2 + n % 3)
    assert store.load(key) == first
    store.delete(key)
    assert entries() == {}
