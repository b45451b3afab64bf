"""Token stores against a real keyring backend (the test one) and the 0600 file store."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import keyring
import pytest
import requests
from keyring.backends import fail, null

from httpie_stytch_connected.auth import StytchAuth
from httpie_stytch_connected.errors import TokenStoreError
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.oauth.tokens import TokenSet
from httpie_stytch_connected.storage.store import (
    KEYRING_SERVICE,
    AccessTokenCache,
    FileStore,
    KeyringStore,
    cache_dir,
    ensure_private_dir,
    write_private,
)
from httpie_stytch_connected.testing import keyring_backend
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.pytest_plugin import scripted_opener
from httpie_stytch_connected.testing.resource_server import ResourceServer

HTTP = str(Path(sys.executable).with_name("http"))


def _http_get(url: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``http -A stytch GET url`` in a new process, with the test's isolation plus ``env``."""
    full = dict(os.environ, HTTPIE_CONFIG_DIR=str(tmp_path / "httpie"), **env)
    return subprocess.run(
        [HTTP, "--ignore-stdin", "--auth-type=stytch", "GET", url],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _auth(opener: Callable[[str], bool] | None = None) -> StytchAuth:
    notes: list[str] = []
    return StytchAuth(opener=opener or scripted_opener(), notify=notes.append)


def _entries(root: Path) -> dict[str, str]:
    path = root / "keyring" / "keyring.json"
    if not path.exists():
        return {}
    data: dict[str, str] = json.loads(path.read_text())
    return {k.split("\0", 1)[1]: v for k, v in data.items()}


def _sample(size: int = 3000) -> TokenSet:
    return TokenSet(
        access_token="a" * size,
        expires_at=time.time() + 3600,
        refresh_token="r" * 64,
        scope="openid offline_access",
        id_token="i" * 900,
        received_at=time.time(),
    )


# -- keyring: round trips, splitting -----------------------------------------------------


def test_keyring_round_trip_and_delete(stytch_keyring: Path) -> None:
    store = KeyringStore()
    tokens = _sample(200)
    store.save("k1", tokens)
    assert store.load("k1") == tokens
    assert store.load("other") is None
    store.delete("k1")
    assert store.load("k1") is None
    assert _entries(stytch_keyring) == {}
    store.delete("k1")  # deleting nothing is fine


@pytest.mark.parametrize("limit", [1200, 300, 130])
def test_a_size_limited_keyring_still_holds_the_token_set(
    stytch_keyring: Path, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    monkeypatch.setenv("STYTCH_TEST_KEYRING_FAULT", f"limit:{limit}")
    store = KeyringStore()
    tokens = _sample(3000)
    store.save("k", tokens)
    entries = _entries(stytch_keyring)
    assert len(entries) > 2 and all(len(v) <= limit for v in entries.values())
    assert store.load("k") == tokens
    # Replacing it leaves no orphaned parts behind, nor does deleting it.
    smaller = _sample(2000)
    store.save("k", smaller)
    assert store.load("k") == smaller
    pointer = json.loads(_entries(stytch_keyring)["k"])
    assert len(_entries(stytch_keyring)) == pointer["parts"] + 1
    store.delete("k")
    assert _entries(stytch_keyring) == {}


def test_a_keyring_refusing_even_tiny_parts_is_a_clear_error(
    stytch_keyring: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = KeyringStore()
    store.save("k", _sample(100))
    monkeypatch.setenv("STYTCH_TEST_KEYRING_FAULT", "limit:10")
    with pytest.raises(TokenStoreError, match="STYTCH_TOKEN_STORE=file"):
        store.save("k", _sample(3000))
    monkeypatch.delenv("STYTCH_TEST_KEYRING_FAULT")
    kept = store.load("k")
    assert kept is not None and kept.access_token == "a" * 100
    assert len(_entries(stytch_keyring)) == 1  # the old whole value, no half-written parts


def test_parts_replaced_by_a_whole_value_are_dropped(
    stytch_keyring: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = KeyringStore()
    monkeypatch.setenv("STYTCH_TEST_KEYRING_FAULT", "limit:1200")
    store.save("k", _sample(3000))
    assert len(_entries(stytch_keyring)) > 2
    monkeypatch.delenv("STYTCH_TEST_KEYRING_FAULT")
    tokens = _sample(3000)
    store.save("k", tokens)
    assert list(_entries(stytch_keyring)) == ["k"]
    assert store.load("k") == tokens


def test_login_with_a_size_limited_keyring_end_to_end(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STYTCH_TEST_KEYRING_FAULT", "limit:1200")
    auth = _auth()
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).status_code == 200
    stored = KeyringStore().load(auth.manager.key)
    assert stored is not None and stored.refresh_token
    assert len(stored.to_json()) > 1200
    # A new process (no memory, no cache) finds it in the keyring: no second login.
    forget_memory()
    AccessTokenCache().delete(auth.manager.key)
    assert requests.get(stytch_resource_server.url, auth=_auth(), timeout=30).status_code == 200
    assert stytch_env.counters["codes_issued"] == 1


# -- keyring: corrupt and foreign entries --------------------------------------------------

CORRUPT = [
    "not json at all",
    "[" * 50_000,
    "null",
    "42",
    '{"gen": "abcd", "parts": 3}',
    '{"gen": "abcd", "parts": 100000}',
    '{"gen": 7, "parts": "x"}',
    '{"v": 2, "access_token": "x"}',
    '{"v": 1, "access_token": 5}',
    '{"v": 1, "access_token": "x", "expires_at": "soon"}',
    '{"v": 1, "access_token": "x", "expires_at": NaN}',
    '{"v": 1, "access_token": "x", "expires_at": 1' + "0" * 400 + "}",
    '{"username": "someone", "password": "hunter2"}',
]


@pytest.mark.parametrize("value", CORRUPT, ids=range(len(CORRUPT)))
def test_corrupt_or_foreign_entries_read_as_nothing(stytch_keyring: Path, value: str) -> None:
    keyring.get_keyring().set_password(KEYRING_SERVICE, "k", value)
    assert KeyringStore().load("k") is None


def test_a_corrupt_entry_is_replaced_by_a_fresh_login(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    auth = _auth()
    key = auth.manager.key
    for value in ("[" * 50_000, '{"gen": "abcd", "parts": 3}', "garbage"):
        keyring.get_keyring().set_password(KEYRING_SERVICE, key, value)
        forget_memory()
        AccessTokenCache().delete(key)
        response = requests.get(stytch_resource_server.url, auth=_auth(), timeout=30)
        assert response.status_code == 200
        assert KeyringStore().load(key) is not None
    assert stytch_env.counters["codes_issued"] == 3


# -- keyring: missing, hanging ---------------------------------------------------------------


@pytest.mark.parametrize("backend", [fail.Keyring, null.Keyring])
def test_no_keyring_is_one_clear_error_before_any_browser_opens(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    stytch_keyring: Path,
    backend: type[keyring.backend.KeyringBackend],
) -> None:
    keyring.set_keyring(backend())
    browser = scripted_opener()
    with pytest.raises(TokenStoreError) as caught:
        requests.get(stytch_resource_server.url, auth=_auth(opener=browser), timeout=30)
    message = str(caught.value)
    for fix in ("PYTHON_KEYRING_BACKEND", "STYTCH_TOKEN_STORE=file", "keyring"):
        assert fix in message
    assert "\n" not in message
    assert browser.opened == 0
    assert stytch_env.counters["authorize_page"] == 0
    # No silent plaintext fallback: nothing was written anywhere.
    written = [p for p in stytch_keyring.rglob("*") if p.is_file() and p.suffix != ".lock"]
    assert written == []


def test_no_keyring_in_an_http_process_is_one_error_line(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer, tmp_path: Path
) -> None:
    done = _http_get(
        stytch_resource_server.url, tmp_path, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring"
    )
    assert done.returncode != 0
    assert "STYTCH_TOKEN_STORE=file" in done.stderr and "Traceback" not in done.stderr
    assert stytch_env.counters["authorize_page"] == 0


@pytest.mark.parametrize("backend", [fail.Keyring, null.Keyring])
def test_a_keyring_turned_off_by_name_is_said_so_not_blamed_on_dbus(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    stytch_keyring: Path,
    monkeypatch: pytest.MonkeyPatch,
    backend: type[keyring.backend.KeyringBackend],
) -> None:
    """``PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring`` (or ``fail``) is how CI images
    and tools turn keyrings off: the line says that this setting is why nothing can be kept,
    not that a D-Bus session or a Secret Service is missing, nor to name a backend there."""
    name = f"{backend.__module__}.{backend.__qualname__}"
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", name)
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    keyring.set_keyring(backend())
    browser = scripted_opener()
    with pytest.raises(TokenStoreError) as caught:
        requests.get(stytch_resource_server.url, auth=_auth(opener=browser), timeout=30)
    message = str(caught.value)
    assert f"{name}, chosen by PYTHON_KEYRING_BACKEND, keeps nothing" in message, message
    assert "STYTCH_TOKEN_STORE=file" in message and "D-Bus" not in message
    assert "\n" not in message and browser.opened == 0
    done = _http_get(stytch_resource_server.url, stytch_keyring, PYTHON_KEYRING_BACKEND=name)
    assert done.returncode == 1 and done.stdout == ""
    assert f"{name}, chosen by PYTHON_KEYRING_BACKEND, keeps nothing" in done.stderr, done.stderr
    assert "D-Bus" not in done.stderr and "Traceback" not in done.stderr
    assert stytch_env.counters["authorize_page"] == 0


def test_a_hanging_keyring_is_bounded_and_clear(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
    release_hangs: None,
) -> None:
    monkeypatch.setenv("STYTCH_TEST_KEYRING_FAULT", "hang")
    monkeypatch.setenv("STYTCH_KEYRING_TIMEOUT", "0.5")
    browser = scripted_opener()
    started = time.monotonic()
    with pytest.raises(TokenStoreError, match=r"did not answer within 0\.5 s") as caught:
        requests.get(stytch_resource_server.url, auth=_auth(opener=browser), timeout=30)
    assert time.monotonic() - started < 5
    assert "STYTCH_KEYRING_TIMEOUT" in str(caught.value)
    assert browser.opened == 0 and stytch_env.counters["authorize_page"] == 0


def test_a_hanging_keyring_in_an_http_process_is_bounded(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    done = _http_get(
        stytch_resource_server.url,
        tmp_path,
        STYTCH_TEST_KEYRING_FAULT="hang",
        STYTCH_KEYRING_TIMEOUT="1",
    )
    assert time.monotonic() - started < 30
    assert done.returncode != 0
    assert "did not answer within 1 s" in done.stderr and "Traceback" not in done.stderr
    assert stytch_env.counters["authorize_page"] == 0


# -- the file store ----------------------------------------------------------------------------


def test_the_file_store_end_to_end(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    stytch_keyring: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STYTCH_TOKEN_STORE", "file")
    auth = _auth()
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).status_code == 200
    key = auth.manager.key
    path = stytch_keyring / "data" / "tokens" / f"{key}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    stored = TokenSet.from_json(path.read_text())
    assert stored.refresh_token in stytch_env.issued_refresh_tokens()
    # No temp files left; the lock lives beside the token file (and its holder record is gone).
    assert sorted(p.name for p in path.parent.iterdir()) == [f"{key}.json", f"{key}.lock"]
    assert _entries(stytch_keyring) == {}  # the keyring was not used
    # The access-token cache holds no refresh token.
    cached = (stytch_keyring / "cache" / "access" / f"{key}.json").read_text()
    assert stored.refresh_token not in cached and stored.access_token in cached
    # A new process refreshes from the file and rewrites it atomically (new inode, still 0600).
    expired = replace(TokenSet.from_json(path.read_text()), access_token="", expires_at=0.0)
    FileStore().save(key, expired)
    forget_memory()
    AccessTokenCache().delete(key)
    with path.open() as old:  # held open, so its inode cannot be reused
        old_text = old.read()
        assert requests.get(stytch_resource_server.url, auth=_auth(), timeout=30).ok
        assert os.fstat(old.fileno()).st_ino != path.stat().st_ino
        old.seek(0)
        assert old.read() == old_text  # replaced, never rewritten in place
    assert stytch_env.counters["token_refresh_ok"] == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    refreshed = TokenSet.from_json(path.read_text())
    assert refreshed.refresh_token != stored.refresh_token


def test_write_private_replaces_a_loose_file_with_a_0600_one(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "f.json"
    path.parent.mkdir()
    path.write_text("old")
    path.chmod(0o644)
    write_private(path, "new")
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["f.json"]


def test_the_file_store_reads_corrupt_files_as_nothing(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    for value in CORRUPT:
        (tmp_path / "k.json").write_text(value)
        assert store.load("k") is None
    (tmp_path / "k.json").write_bytes(b"\xff\xfe\x00")
    assert store.load("k") is None
    store.delete("k")
    store.delete("k")
    assert store.load("k") is None


def test_an_unwritable_file_store_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(TokenStoreError, match="writable"):
        FileStore(blocker / "tokens").save("k", _sample(10))


def test_a_locked_keyring_is_reported_as_such_after_one_write(
    stytch_keyring: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = keyring.get_keyring()
    assert isinstance(backend, keyring_backend.DirectoryKeyring)
    monkeypatch.setenv("STYTCH_TEST_KEYRING_FAULT", "fail")
    with pytest.raises(TokenStoreError) as caught:
        KeyringStore().save("k", _sample(3000))
    message = str(caught.value)
    assert "keyring is locked (KeyringLocked)" in message and "unlock it" in message
    assert "in parts" not in message
    assert backend.writes == 1  # not retried as smaller and smaller parts
    assert _entries(stytch_keyring) == {}


def test_a_cache_dir_that_is_a_file_is_a_clear_error_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "cache-file"
    blocker.write_text("")
    monkeypatch.setenv("STYTCH_CACHE_DIR", str(blocker))
    monkeypatch.setenv("STYTCH_DATA_DIR", str(blocker))
    with pytest.raises(TokenStoreError, match="STYTCH_CACHE_DIR") as caught:
        ensure_private_dir(cache_dir() / "locks")
    assert str(blocker) in str(caught.value)
    with pytest.raises(TokenStoreError, match="set STYTCH_CACHE_DIR to a writable directory"):
        write_private(cache_dir() / "discovery" / "d.json", "{}")
    with pytest.raises(TokenStoreError, match="STYTCH_SOMETHING"):
        ensure_private_dir(tmp_path / "cache-file" / "x", "STYTCH_SOMETHING")
    monkeypatch.delenv("STYTCH_CACHE_DIR")
    with pytest.raises(TokenStoreError, match="set STYTCH_DATA_DIR to a writable directory"):
        FileStore().save("k", _sample(10))
    # Nothing can be under a file: deleting from there is a no-op, and the cache only slower.
    monkeypatch.setenv("STYTCH_CACHE_DIR", str(blocker))
    AccessTokenCache().delete("k")
    FileStore().delete("k")
    AccessTokenCache().save("k", _sample(10))
    assert AccessTokenCache().load("k") is None


def test_a_token_file_that_cannot_be_deleted_is_an_error_not_silence(tmp_path: Path) -> None:
    (tmp_path / "k.json").mkdir()  # unlink() fails on it, as on a read-only file system
    with pytest.raises(TokenStoreError, match=r"Could not delete .*k\.json"):
        FileStore(tmp_path).delete("k")
    with pytest.raises(TokenStoreError, match=r"Could not delete .*k\.json"):
        AccessTokenCache(tmp_path).delete("k")
