"""One refresh, one login: however many threads share an auth object, or processes share a store."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from httpie_stytch_connected.auth import StytchAuth
from httpie_stytch_connected.storage.store import KeyringStore
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.pytest_plugin import ScriptedOpener, scripted_opener
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.lifecycle import (
    PROCESSES,
    THREADS,
    http_processes,
    login_then_expire,
    slow_token_endpoint,
)


def _auth(browser: ScriptedOpener) -> StytchAuth:
    notes: list[str] = []
    return StytchAuth(opener=browser, notify=notes.append)


def _storm(auth: StytchAuth, url: str, n: int = THREADS) -> list[int | str]:
    """``n`` threads released together, each sending one request with the shared auth."""
    barrier = threading.Barrier(n, timeout=30)
    results: list[int | str] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        try:
            status: int | str = requests.get(url, auth=auth, timeout=60).status_code
        except Exception as exc:
            status = f"{type(exc).__name__}: {exc}"
        with lock:
            results.append(status)

    threads = [threading.Thread(target=worker, name=f"storm-{i}") for i in range(n)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 90
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "a request did not finish in time"
    return results


# -- threads ----------------------------------------------------------------------------------


def test_thread_storm_with_an_expired_token_makes_one_refresh(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    login_then_expire(stytch_resource_server)
    stytch_env.reset_counters()
    slow_token_endpoint(stytch_env, THREADS, seconds=1.0)
    browser = scripted_opener()
    results = _storm(_auth(browser), stytch_resource_server.url)
    assert results == [200] * THREADS
    assert stytch_env.counters["token_refresh"] == 1
    assert stytch_env.counters["token_requests"] == 1
    assert browser.opened == 0


def test_thread_storm_without_a_token_makes_one_login(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    slow_token_endpoint(stytch_env, THREADS, seconds=1.0)
    browser = scripted_opener()
    results = _storm(_auth(browser), stytch_resource_server.url)
    assert results == [200] * THREADS
    assert browser.opened == 1
    assert stytch_env.counters["codes_issued"] == 1
    assert stytch_env.counters["token_authorization_code"] == 1
    assert stytch_env.counters["token_refresh"] == 0


def test_thread_storm_of_401s_makes_one_refresh(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    key, _ = login_then_expire(stytch_resource_server)
    stored = KeyringStore().load(key)
    assert stored is not None
    # A token the API refuses but that is not expired: every thread sends it and gets a 401.
    KeyringStore().save(
        key, replace(stored, access_token="refused-token", expires_at=time.time() + 3600)
    )
    stytch_env.reset_counters()
    slow_token_endpoint(stytch_env, 16, seconds=1.0)
    results = _storm(_auth(scripted_opener()), stytch_resource_server.url, n=16)
    assert results == [200] * 16
    assert stytch_env.counters["token_refresh"] == 1
    # Threads that started after the refresh used the new token straight away.
    assert 1 <= stytch_resource_server.counters["401"] <= 16


# -- processes --------------------------------------------------------------------------------


def _assert_no_secrets(emulator: StytchEmulator, texts: list[str]) -> None:
    secrets = set(emulator.issued_refresh_tokens()) | set(emulator._access) | set(emulator._codes)
    assert secrets
    for text in texts:
        for secret in secrets:
            assert secret not in text


@pytest.mark.timeout(180)
def test_processes_with_an_expired_token_make_one_refresh(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer, tmp_path: Path
) -> None:
    login_then_expire(stytch_resource_server)
    stytch_env.reset_counters()
    slow_token_endpoint(stytch_env, PROCESSES)  # a wide window for the others to race into
    results = http_processes(stytch_resource_server.url, tmp_path)
    for code, out, err in results:
        assert code == 0, err
        assert '"resources"' in out
    assert stytch_env.counters["token_requests"] == 1
    assert stytch_env.counters["token_refresh_ok"] == 1
    assert stytch_env.counters["codes_issued"] == 0
    assert stytch_resource_server.counters["200"] == 1 + PROCESSES
    _assert_no_secrets(stytch_env, [t for _, out, err in results for t in (out, err)])


@pytest.mark.timeout(180)
def test_processes_without_a_token_make_one_login_and_share_it(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer, tmp_path: Path
) -> None:
    slow_token_endpoint(stytch_env, PROCESSES)
    results = http_processes(stytch_resource_server.url, tmp_path)
    for code, out, err in results:
        assert code == 0, err
        assert '"resources"' in out
    assert stytch_env.counters["authorize_page"] == 1
    assert stytch_env.counters["codes_issued"] == 1
    assert stytch_env.counters["token_requests"] == 1
    assert stytch_env.counters["token_authorization_code"] == 1
    assert sum("Signed in as " in err for _, _, err in results) == 1
    _assert_no_secrets(stytch_env, [t for _, out, err in results for t in (out, err)])
