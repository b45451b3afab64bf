"""The manager reuses a token, cheapest place first: this process's memory, the 0600 access
cache (no keyring), then the secure store; none of them costs a token request or a browser."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from httpie_stytch_connected import StytchAuth
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.storage.store import AccessTokenCache
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.pytest_plugin import ScriptedOpener
from httpie_stytch_connected.testing.resource_server import ResourceServer


def test_a_new_process_reuses_the_stored_token_without_a_browser(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    assert requests.get(stytch_resource_server.url, auth=StytchAuth(), timeout=30).ok
    script = (
        "import requests, sys\n"
        "from httpie_stytch_connected import StytchAuth\n"
        "r = requests.get(sys.argv[1], auth=StytchAuth(), timeout=30)\n"
        "print(r.status_code)\n"
    )
    env = {**os.environ, "BROWSER": "false %s"}  # any login attempt would fail
    done = subprocess.run(
        [sys.executable, "-c", script, stytch_resource_server.url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.stdout.strip() == "200", done.stderr
    assert "sign in" not in done.stderr.lower()
    assert stytch_env.counters["login"] == 1
    assert stytch_env.counters["token_requests"] == 1


def test_the_new_process_uses_the_keyring_when_the_cache_file_is_off(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
    stytch_keyring: Path,
) -> None:
    monkeypatch.setenv("STYTCH_ACCESS_TOKEN_CACHE", "0")
    auth = StytchAuth()
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).ok
    assert not list((stytch_keyring / "cache").rglob("*.json"))
    forget_memory()
    assert requests.get(stytch_resource_server.url, auth=StytchAuth(), timeout=30).ok
    assert stytch_env.counters["token_requests"] == 1


@pytest.fixture
def hang_keyring(monkeypatch: pytest.MonkeyPatch, release_hangs: None) -> Callable[[], None]:
    """Call it to make every keyring call hang from then on; stores built in the test give up
    after 0.5 s with an error (the timeout is read when the store is built)."""
    monkeypatch.setenv("STYTCH_KEYRING_TIMEOUT", "0.5")
    return lambda: monkeypatch.setenv("STYTCH_TEST_KEYRING_FAULT", "hang")


def test_a_token_in_memory_needs_neither_the_cache_file_nor_the_keyring(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    stytch_opener: ScriptedOpener,
    hang_keyring: Callable[[], None],
) -> None:
    auth = StytchAuth(opener=stytch_opener, notify=lambda _: None)
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).ok
    AccessTokenCache().delete(auth.manager.key)
    hang_keyring()
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).status_code == 200
    assert stytch_env.counters["token_requests"] == 1 and stytch_opener.opened == 1


def test_a_new_run_takes_the_cache_file_before_the_keyring(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    stytch_opener: ScriptedOpener,
    hang_keyring: Callable[[], None],
) -> None:
    auth = StytchAuth(opener=stytch_opener, notify=lambda _: None)
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).ok
    forget_memory()  # as a new process would start
    hang_keyring()
    again = StytchAuth(opener=stytch_opener, notify=lambda _: None)
    assert requests.get(stytch_resource_server.url, auth=again, timeout=30).status_code == 200
    assert stytch_env.counters["token_requests"] == 1 and stytch_opener.opened == 1
