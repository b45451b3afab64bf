"""One lock per token set, wherever the caller's cache is; readers and lock failures that tell
the truth (issue 10 §3, §4). Real child processes; the waits are bounded, never sleeps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from httpie_stytch_connected.auth import StytchAuth
from httpie_stytch_connected.errors import LoginError
from httpie_stytch_connected.storage.store import FileStore, KeyringStore, cache_dir, lock_dir
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.pytest_plugin import scripted_opener
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.lifecycle import (
    CLI,
    http_argv,
    login_then_expire,
    needs_mount_namespace,
    run_child,
    wait_for,
)

# -- §3: the lock belongs to the store and the key ----------------------------------------------


def test_the_lock_follows_the_store_not_the_cache_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STYTCH_LOCK_DIR", raising=False)
    places = set()
    for name in ("one", "two"):
        monkeypatch.setenv("STYTCH_CACHE_DIR", str(tmp_path / name / "cache"))
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / name / "xdg"))
        lock = KeyringStore().lock_file("k")
        assert not lock.is_relative_to(tmp_path) and not lock.is_relative_to(cache_dir())
        places.add(lock)
    assert places == {lock_dir() / "k.lock"}
    monkeypatch.setenv("STYTCH_LOCK_DIR", str(tmp_path / "locks"))
    assert KeyringStore().lock_file("k") == tmp_path / "locks" / "k.lock"
    assert FileStore(tmp_path / "tokens").lock_file("k") == tmp_path / "tokens" / "k.lock"


def test_processes_with_different_cache_dirs_make_one_refresh(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer, tmp_path: Path
) -> None:
    """cron and a terminal: one keyring entry, two cache settings, one refresh token."""
    login_then_expire(stytch_resource_server, KeyringStore())
    stytch_env.reset_counters()
    # The first refresh stays in flight while the other process arrives.
    stytch_env.slow_seconds = 3.0
    stytch_env.inject_token_fault("slow", count=2)
    runs = []
    for name in ("cron", "terminal"):
        env = dict(
            os.environ,
            HTTPIE_CONFIG_DIR=str(tmp_path / "httpie"),
            STYTCH_CACHE_DIR=str(tmp_path / name / "cache"),
            XDG_CACHE_HOME=str(tmp_path / name / "xdg"),
        )
        runs.append(
            subprocess.Popen(
                http_argv(stytch_resource_server.url),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = [(run.wait(timeout=90), run.communicate()[1]) for run in runs]
    assert results == [(0, ""), (0, "")]
    assert stytch_env.counters["token_refresh"] == 1
    assert stytch_env.counters["authorize_page"] == 0


# -- §4: readers see the old set or the new one -------------------------------------------------

_SPLIT_WRITER = """
import sys, time
from httpie_stytch_connected.storage.store import KeyringStore
from httpie_stytch_connected.oauth.tokens import TokenSet
store = KeyringStore(timeout=60)
for n in range(int(sys.argv[1])):
    store.save("k", TokenSet(access_token=f"{n:04d}" + "a" * 3000, refresh_token=f"r{n}",
                             expires_at=time.time() + 3600, received_at=time.time()))
    if n == 0:
        print("ready", flush=True)  # from here on there is always a set to read
"""


def test_a_reader_during_saves_of_a_split_entry_never_reads_nothing(
    stytch_keyring: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``status`` reads (no lock) while another process refreshes a split keyring value:
    each save moves the parts to the other slot and empties the old one under the reader."""
    monkeypatch.setenv("STYTCH_TEST_KEYRING_FAULT", "limit:1000")
    store = KeyringStore(timeout=60)
    writer = subprocess.Popen(
        [sys.executable, "-c", _SPLIT_WRITER, "150"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
        reads, nothing = 0, 0
        while writer.poll() is None:
            reads += 1
            nothing += store.load("k") is None
        assert writer.wait(timeout=120) == 0
    finally:
        writer.kill()
        writer.wait()
    assert reads > 20
    assert nothing == 0
    final = store.load("k")
    assert final is not None and final.refresh_token == "r149"


# -- §4: every lock failure is a clean error naming the directory and the setting ---------------

_READ_ONLY = r"""
set -eu
locks=$1; shift
mount --bind "$locks" "$locks"
mount -o remount,bind,ro "$locks"
exec "$@"
"""


@needs_mount_namespace
@pytest.mark.parametrize("lock_file", ["existing", "fresh"])
def test_a_read_only_lock_dir_is_a_clean_error_naming_it_and_the_setting(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    stytch_keyring: Path,
    tmp_path: Path,
    lock_file: str,
) -> None:
    key, _ = login_then_expire(stytch_resource_server, KeyringStore())
    locks = stytch_keyring / "locks"
    assert (locks / f"{key}.lock").exists()  # the login above took the lock
    if lock_file == "fresh":
        for path in locks.iterdir():
            path.unlink()
    stytch_env.reset_counters()
    done = run_child(
        ["unshare", "-rm", "sh", "-c", _READ_ONLY, "sh", str(locks), CLI, "token"], tmp_path
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (
        f"stytch-connected: error: Could not use the lock file {key}.lock in {locks} "
        "(Read-only file system); set STYTCH_LOCK_DIR to a writable directory.\n"
    )
    assert stytch_env.counters["token_requests"] == 0


# -- §4: a waiter behind a stopped holder says what the holder was doing ------------------------

_HOLDER = """
from httpie_stytch_connected.auth import StytchAuth
from httpie_stytch_connected.oauth.token_client import TokenClient

manager = StytchAuth(notify=lambda _: None, opener=lambda url: False).manager
endpoint = manager.client.token_endpoint
manager.client = TokenClient(endpoint, manager.client_id, timeout=(1.0, 5.0), refresh_backoff=())
manager.access_token()
"""


def test_a_waiter_behind_a_stopped_refresh_says_so_within_the_refresh_timeouts(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The holder is stopped (Ctrl-Z) while its refresh is in flight: the waiter gives up after
    the holder's own refresh timeouts (1 s keyring, 1 + 5 s HTTP here), not login_timeout + 60,
    and says the holder was refreshing."""
    login_then_expire(stytch_resource_server, KeyringStore())
    monkeypatch.setenv("STYTCH_KEYRING_TIMEOUT", "1")
    stytch_env.reset_counters()
    stytch_env.slow_seconds = 120.0
    stytch_env.inject_token_fault("slow")
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_for(lambda: stytch_env.counters["token_requests"] == 1, timeout=60)
        os.kill(holder.pid, signal.SIGSTOP)
        browser = scripted_opener()
        waiter = StytchAuth(opener=browser, notify=lambda _: None, login_timeout=120)
        started = time.monotonic()
        with pytest.raises(LoginError) as caught:
            waiter.manager.access_token()
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    message = str(caught.value)
    assert message.startswith(f"Another process (pid {holder.pid}) has been refreshing the tokens")
    assert "Ctrl-Z" in message and "signing in" not in message
    assert waited < 60  # the refresh's bound, far below login_timeout + 60
    assert browser.opened == 0
