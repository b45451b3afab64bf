"""Nothing live is left where nothing tracks it: real child processes SIGKILLed at each keyring
write of a split value, of a delete, and between an access-cache file's write and its rename."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import keyring
import pytest
import requests

from httpie_stytch_connected.auth import StytchAuth
from httpie_stytch_connected.storage.store import (
    KEYRING_SERVICE,
    AccessTokenCache,
    FileStore,
    KeyringStore,
    write_private,
)
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.pytest_plugin import scripted_opener
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests import crash

HTTP = str(Path(sys.executable).with_name("http"))
LIMIT = "limit:1200"  # as Windows Credential Manager: our token sets are split into parts


def _entries(root: Path) -> crash.Entries:
    def entries() -> dict[str, str]:
        path = root / "keyring" / "keyring.json"
        data: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        return {k.split("\0", 1)[1]: v for k, v in data.items()}

    return entries


@pytest.fixture
def limited(stytch_keyring: Path, monkeypatch: pytest.MonkeyPatch) -> crash.Entries:
    monkeypatch.setenv("STYTCH_TEST_KEYRING_FAULT", LIMIT)
    return _entries(stytch_keyring)


@pytest.mark.timeout(300)
def test_a_split_save_killed_at_any_write_leaves_nothing_untracked(
    limited: crash.Entries,
) -> None:
    crash.kill_a_split_save_at_every_write(limited, "k")


@pytest.mark.timeout(300)
def test_a_delete_killed_at_any_write_is_finished_by_the_next(limited: crash.Entries) -> None:
    crash.kill_a_delete_at_every_write(limited, "k")


@pytest.mark.timeout(300)
def test_five_killed_split_saves_then_logout_leave_nothing(limited: crash.Entries) -> None:
    crash.kill_split_saves_in_a_row_then_delete(limited, "k")


def test_a_whole_value_save_killed_before_dropping_old_parts(
    limited: crash.Entries, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backend lost its size limit (another machine, another keyring): the whole value is
    written, then the old parts go; killed in between, the next save removes them."""
    store = KeyringStore(timeout=60)
    store.save("k", crash.sample(0))
    monkeypatch.delenv("STYTCH_TEST_KEYRING_FAULT")
    new = crash.sample(1)
    assert not crash.store_in_child("save", "k", new, kill_at=2)
    assert store.load("k") == new and len(limited()) > 1
    store.save("k", crash.sample(2))
    assert list(limited()) == ["k"]


@pytest.mark.timeout(300)
def test_killed_http_runs_then_logout_leave_no_keyring_entry(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    limited: crash.Entries,
    tmp_path: Path,
) -> None:
    """``http`` runs each killed between writing parts and the pointer; ``stytch-connected
    logout`` then removes everything ever written for the key, as it says it did."""
    auth = StytchAuth(opener=scripted_opener(), notify=lambda _: None)
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).status_code == 200
    key = auth.manager.key
    stored = KeyringStore().load(key)
    assert stored is not None
    env = dict(os.environ, HTTPIE_CONFIG_DIR=str(tmp_path / "httpie"))
    for _ in range(5):
        AccessTokenCache().delete(key)  # each run goes to the keyring, refreshes, saves
        KeyringStore().save(key, replace(stored, expires_at=0.0))
        before = set(limited())
        run = subprocess.run(
            [HTTP, "--ignore-stdin", "--auth-type=stytch", "GET", stytch_resource_server.url],
            # The probe's write and delete, the whole try, part 0, then it dies.
            env=dict(env, STYTCH_TEST_KEYRING_KILL_AT="5"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == -signal.SIGKILL, run.stderr
        assert set(limited()) - before  # it did leave a part behind
        stored = KeyringStore().load(key) or stored
    logout = subprocess.run(
        [sys.executable, "-m", "httpie_stytch_connected", "logout"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert logout.returncode == 0, logout.stderr
    assert limited() == {}


# -- the access-token cache --------------------------------------------------------------------

_KILLED_IN_A_CACHE_WRITE = """
import os, signal, sys
import requests
from httpie_stytch_connected.auth import StytchAuth

def in_cache_dir(path):
    return os.path.basename(os.path.dirname(path)) == "access"  # the access-token cache

def killer(name, path_of):
    real = getattr(os, name)
    def call(*args, **kwargs):
        if in_cache_dir(path_of(*args)):
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    setattr(os, name, call)

if sys.argv[2] == "rename":  # the temporary file is complete, not yet renamed
    killer("replace", lambda src, dst: dst)
else:  # the data is being written
    killer("fsync", lambda fd: os.readlink(f"/proc/self/fd/{fd}"))
requests.get(sys.argv[1], auth=StytchAuth(notify=lambda _: None), timeout=30)
"""


def _cache_temp_files(root: Path, key: str) -> list[Path]:
    return sorted((root / "cache" / "access").glob(f".{key}.json.*"))


def _killed_in_a_cache_write(url: str, step: str = "rename") -> None:
    """A run that got its tokens and was killed writing them to the access-token cache."""
    run = subprocess.run(
        [sys.executable, "-c", _KILLED_IN_A_CACHE_WRITE, url, step],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == -signal.SIGKILL, run.stderr


@pytest.mark.timeout(180)
def test_a_run_killed_while_writing_the_access_cache_leaves_no_file(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer, stytch_keyring: Path
) -> None:
    """The token is written to a file with no name, named only once complete (Linux)."""
    _killed_in_a_cache_write(stytch_resource_server.url, "write")
    key = StytchAuth().manager.key
    assert list((stytch_keyring / "cache" / "access").iterdir()) == []
    assert KeyringStore().load(key) is not None  # it did get that far


def test_write_private_without_nameless_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other systems, and file systems without O_TMPFILE, get a named temporary file."""
    monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    write_private(tmp_path / "f.json", "text")
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]
    assert (tmp_path / "f.json").read_text() == "text"
    assert stat.S_IMODE((tmp_path / "f.json").stat().st_mode) == 0o600


@pytest.mark.timeout(180)
def test_an_access_cache_temp_file_left_by_a_kill_is_removed(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer, stytch_keyring: Path
) -> None:
    _killed_in_a_cache_write(stytch_resource_server.url)  # signs in, stores, dies
    key = StytchAuth().manager.key
    left = _cache_temp_files(stytch_keyring, key)
    assert len(left) == 1 and "access_token" in left[0].read_text()
    # The next run (the token is in the keyring) writes the cache and removes the leftover.
    auth = StytchAuth(notify=lambda _: None)
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).status_code == 200
    assert _cache_temp_files(stytch_keyring, key) == []
    assert (stytch_keyring / "cache" / "access" / f"{key}.json").exists()
    assert stytch_env.counters["codes_issued"] == 1
    # Logout removes one too.
    AccessTokenCache().delete(key)
    _killed_in_a_cache_write(stytch_resource_server.url)
    assert len(_cache_temp_files(stytch_keyring, key)) == 1
    auth.manager.logout()
    assert _cache_temp_files(stytch_keyring, key) == []
    assert sorted(p.name for p in (stytch_keyring / "cache" / "access").iterdir()) == []


def test_file_store_temp_files_left_by_a_kill_are_removed(tmp_path: Path) -> None:
    """The file store holds refresh tokens: its leftovers go on the next save and on logout."""
    store = FileStore(tmp_path)
    for logout in (False, True):
        (tmp_path / ".k.json.x1y2z3").write_text(crash.sample(0).to_json())
        (tmp_path / ".other.json.x1y2z3").write_text("another key's, not ours to touch")
        if logout:
            store.delete("k")
        else:
            store.save("k", crash.sample(1))
        assert not (tmp_path / ".k.json.x1y2z3").exists()
        assert (tmp_path / ".other.json.x1y2z3").exists()


def test_parts_of_two_saves_never_join_into_one_token_set(limited: crash.Entries) -> None:
    """A reader that lags a whole save behind may read a slot being rewritten: the pointer's
    digest makes that read nothing, never a mix of two token sets."""
    store = KeyringStore(timeout=60)
    first = crash.sample(1)
    store.save("k", first)
    pointer = json.loads(limited()["k"])
    store.save("k", crash.sample(2))  # the other slot
    store.save("k", crash.sample(3))  # this slot again
    # The reader read the first pointer and part 0 before the third save, the rest after it.
    keyring.set_password(KEYRING_SERVICE, "k", json.dumps(pointer))
    keyring.set_password(KEYRING_SERVICE, f"k/{pointer['gen']}/0", first.to_json()[:1000])
    assert store.load("k") is None
