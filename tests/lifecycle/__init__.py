"""Tests of ``lifecycle/manager.py`` (reuse, refresh, login, logout, store faults), and the
helpers other suites share to put the stored tokens in a given state and drive the manager:
from this process (``Harness``), from many threads, or from ``http`` child processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from httpie_stytch_connected.auth import StytchAuth
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.oauth.token_client import TokenClient
from httpie_stytch_connected.oauth.tokens import TokenSet
from httpie_stytch_connected.storage.store import AccessTokenCache, KeyringStore, SecureStore
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.pytest_plugin import scripted_opener
from httpie_stytch_connected.testing.resource_server import ResourceServer

#: Refresh retries short enough for a test, still more than one.
FAST_BACKOFF = (0.01, 0.02)
BIN = Path(sys.executable).parent
HTTP = str(BIN / "http")
CLI = str(BIN / "stytch-connected")
#: Threads in a storm on one auth object; ``http`` processes started at once.
THREADS = 32
PROCESSES = 8


def expire_stored(key: str) -> TokenSet:
    """Rewrite the stored set as expired, remove the access-token cache and forget it here: what
    the next process finds once the access token has run out. Returns the expired set."""
    stored = KeyringStore().load(key)
    assert stored is not None and stored.refresh_token
    expired = replace(stored, expires_at=time.time() - 10)
    KeyringStore().save(key, expired)
    AccessTokenCache().delete(key)
    forget_memory()
    return expired


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``predicate`` until true, bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached in time")


class Harness:
    """One emulator, one resource server, and auth objects as separate runs would build them."""

    def __init__(self, emulator: StytchEmulator, api: ResourceServer) -> None:
        self.emulator = emulator
        self.api = api
        self.notes: list[str] = []
        self.errors: list[BaseException] = []

    def auth(
        self,
        *,
        opener: Callable[[str], bool] | None = None,
        timeout: tuple[float, float] = (2.0, 5.0),
    ) -> StytchAuth:
        auth = StytchAuth(opener=opener or scripted_opener(), notify=self.notes.append)
        manager = auth.manager
        manager.client = TokenClient(
            manager.client.token_endpoint,
            manager.client.client_id,
            revocation_endpoint=manager.client.revocation_endpoint,
            refresh_backoff=FAST_BACKOFF,
            timeout=timeout,
        )
        return auth

    def get(self, auth: StytchAuth | None = None) -> requests.Response:
        return requests.get(self.api.url, auth=auth or self.auth(), timeout=30)

    def login(self) -> tuple[str, TokenSet]:
        auth = self.auth()
        assert self.get(auth).status_code == 200
        stored = KeyringStore().load(auth.manager.key)
        assert stored is not None and stored.refresh_token
        return auth.manager.key, stored

    def expire(self, key: str) -> TokenSet:
        """As if the access token had expired: stored set in the past, no cache, no memory."""
        return expire_stored(key)

    def stored(self, key: str) -> TokenSet | None:
        return KeyringStore().load(key)

    def count(self, name: str) -> int:
        return self.emulator.counters[name]


def login_then_expire(api: ResourceServer, store: SecureStore | None = None) -> tuple[str, str]:
    """One real login here; then the set in ``store`` (the keyring by default) is expired, the
    access cache removed and memory forgotten, so the next run must refresh. Returns the key
    and the stored refresh token."""
    store = store or KeyringStore()
    auth = StytchAuth(opener=scripted_opener(), notify=lambda _: None)
    assert requests.get(api.url, auth=auth, timeout=30).status_code == 200
    key = auth.manager.key
    stored = store.load(key)
    assert stored is not None and stored.refresh_token
    store.save(key, replace(stored, access_token="", expires_at=time.time() - 10))
    AccessTokenCache().delete(key)
    forget_memory()
    return key, stored.refresh_token


def slow_token_endpoint(emulator: StytchEmulator, n: int, seconds: float = 3.0) -> None:
    """Make each of the next ``n`` token requests take ``seconds``: the first refresh or code
    exchange then stays in flight while the other threads or processes arrive, so without
    serialisation they would send their own."""
    emulator.slow_seconds = seconds
    emulator.inject_token_fault("slow", count=n)


def http_argv(url: str) -> list[str]:
    """``http`` with our auth, failing on an error status."""
    return [HTTP, "--ignore-stdin", "--check-status", "--auth-type=stytch", "GET", url]


def run_child(argv: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """A child process with the test's isolation plus ``env``, bounded."""
    full = dict(os.environ, HTTPIE_CONFIG_DIR=str(tmp_path / "httpie"), **env)
    return subprocess.run(
        argv, env=full, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL
    )


def http_processes(url: str, tmp_path: Path, n: int = PROCESSES) -> list[tuple[int, str, str]]:
    """``n`` ``http`` runs started back to back (they race), each bounded."""
    env = dict(os.environ, HTTPIE_CONFIG_DIR=str(tmp_path / "httpie"))
    procs = [
        subprocess.Popen(
            http_argv(url),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    results = []
    deadline = time.monotonic() + 120
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            results.append((proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
    return results


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True
    )
    return probe.returncode == 0


#: For the tests that make a full or read-only disk in a private mount namespace.
needs_mount_namespace = pytest.mark.skipif(
    sys.platform != "linux" or not _unshare_works(),
    reason="needs unshare -rm (user and mount namespaces) to make a full or read-only disk",
)
