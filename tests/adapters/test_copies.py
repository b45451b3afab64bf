"""An auth object is an ordinary value: it pickles and copies, and its copies share the tokens,
in this process and across a real ``multiprocessing`` pool (spawn and fork)."""

from __future__ import annotations

import copy
import multiprocessing
import pickle
import sys
from typing import TypeVar

import pytest
import requests

from httpie_stytch_connected.auth import StytchAuth
from httpie_stytch_connected.httpie_plugin import HTTPieStytchAuth
from httpie_stytch_connected.settings.config import load_settings
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.lifecycle import expire_stored

WORKERS = 3
TASKS = 6
T = TypeVar("T")
METHODS = ["spawn"] + (["fork"] if sys.platform.startswith("linux") else [])


def _round_trip(value: T) -> T:
    clone: T = pickle.loads(pickle.dumps(value))  # noqa: S301 - our own bytes
    return clone


def test_settings_survive_pickle_and_copy() -> None:
    settings = load_settings({"client_id": "c", "project_domain": "p.example.com"}, {}, None)
    for clone in (_round_trip(settings), copy.copy(settings)):
        assert clone == settings and clone.client_id == "c"
    with pytest.raises(AttributeError):
        settings.no_such_setting  # noqa: B018


def test_auth_objects_pickle_and_copy_without_their_manager(stytch_env: StytchEmulator) -> None:
    auth = StytchAuth()
    assert auth.manager is not None
    for clone in (_round_trip(auth), copy.copy(auth), copy.deepcopy(auth)):
        assert clone.settings == auth.settings
        assert clone._manager is None  # rebuilt on first use, not shared
        assert clone.manager.key == auth.manager.key
    plugin_auth = _round_trip(HTTPieStytchAuth("work"))
    assert plugin_auth.profile == "work"


def _status(auth: StytchAuth, url: str) -> int:
    """Runs in a pool worker: the auth object arrived pickled."""
    return requests.get(url, auth=auth, timeout=60).status_code


def _pool_run(method: str, auth: StytchAuth, url: str) -> list[int]:
    context = multiprocessing.get_context(method)
    pool = context.Pool(WORKERS)
    try:
        # Bounded: an auth object that cannot be unpickled kills each worker, and the pool
        # restarts them forever without ever answering.
        return pool.starmap_async(_status, [(auth, url)] * TASKS).get(timeout=90)
    finally:
        pool.terminate()
        pool.join()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("method", METHODS)
# Python 3.12+ warns of fork() in a threaded process: forking one is this case's point.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_process_pool_shares_one_login_and_one_refresh(
    method: str, stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    auth = StytchAuth()  # the system-browser opener: BROWSER is the scripted user agent
    stytch_env.slow_seconds = 1.0
    stytch_env.inject_token_fault("slow", count=TASKS)  # the first exchange is still in flight
    assert _pool_run(method, auth, stytch_resource_server.url) == [200] * TASKS
    assert stytch_env.counters["codes_issued"] == 1
    assert stytch_env.counters["token_requests"] == 1

    expire_stored(auth.manager.key)
    stytch_env.reset_counters()
    stytch_env.inject_token_fault("slow", count=TASKS)
    assert _pool_run(method, auth, stytch_resource_server.url) == [200] * TASKS
    assert stytch_env.counters["token_refresh_ok"] == 1
    assert stytch_env.counters["token_requests"] == 1
    assert stytch_env.counters["codes_issued"] == 0
