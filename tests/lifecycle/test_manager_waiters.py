"""Requests that wait for one attempt (a refresh or a sign-in) take its outcome: one browser
window however many requests were waiting, whether the person signs in or declines, through
every in-process adapter; and a caller that gave up starts nothing."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from typing import Any

import pytest
import requests

from httpie_stytch_connected.errors import LoginError
from httpie_stytch_connected.lifecycle.manager import ABANDONED, Abandoned, on_behalf_of
from httpie_stytch_connected.storage.locks import SIGNING_IN, Activity, StoreLock
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.resource_server import ResourceServer
from httpie_stytch_connected.testing.user_agent import ScriptedUserAgent
from tests.adapters import HTTPX, library, stytch_auth

WAITERS = 8


class _Person:
    """Opens each sign-in page once, after every waiter has queued, and answers ``decision``."""

    def __init__(self, decision: str, queued: threading.Event) -> None:
        self.decision = decision
        self.queued = queued
        self.opened = 0
        self._lock = threading.Lock()

    def __call__(self, url: str) -> bool:
        with self._lock:
            self.opened += 1
        self.queued.wait(30)  # every request is waiting on this sign-in before it ends
        with ScriptedUserAgent(decision=self.decision) as agent:
            agent.open(url)
        return True


def _through_threads(adapter: str, auth: Any, url: str) -> list[str]:
    barrier = threading.Barrier(WAITERS, timeout=30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        barrier.wait()
        try:
            if adapter == "requests":
                status = requests.get(url, auth=auth, timeout=60).status_code
            else:
                with library(adapter).Client(auth=auth, timeout=60) as client:
                    status = client.get(url).status_code
            outcome = str(status)
        except LoginError as exc:
            outcome = f"LoginError: {exc}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(WAITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert not any(t.is_alive() for t in threads)
    return outcomes


def _through_tasks(adapter: str, auth: Any, url: str) -> list[str]:
    async def one(client: Any) -> str:
        try:
            return str((await client.get(url)).status_code)
        except LoginError as exc:
            return f"LoginError: {exc}"

    async def run() -> list[str]:
        async with library(adapter).AsyncClient(auth=auth, timeout=60) as client:
            return list(await asyncio.gather(*(one(client) for _ in range(WAITERS))))

    return asyncio.run(run())


def _storm(adapter: str, decision: str, url: str) -> tuple[list[str], _Person]:
    queued = threading.Event()
    person = _Person(decision, queued)
    auth = stytch_auth(adapter, opener=person, notify=lambda _: None)
    # Every request is queued once the first holds the sign-in and the rest wait for its lock;
    # the person answers only then (a bounded wait: a request that never queues fails below).
    timer = threading.Timer(1.0, queued.set)
    timer.start()
    try:
        if adapter.endswith("AsyncClient"):
            return _through_tasks(adapter, auth, url), person
        return _through_threads(adapter, auth, url), person
    finally:
        timer.cancel()
        queued.set()


@pytest.mark.parametrize("adapter", ["requests", *HTTPX])
def test_a_declined_sign_in_answers_every_request_that_waited_for_it(
    adapter: str, stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    outcomes, person = _storm(adapter, "deny", stytch_resource_server.url)
    assert person.opened == 1
    assert len(outcomes) == WAITERS
    assert all(o.startswith("LoginError:") for o in outcomes), outcomes
    assert len(set(outcomes)) == 1  # the same sentence for everyone: the person's answer
    assert stytch_env.counters["codes_issued"] == 0


@pytest.mark.parametrize("adapter", ["requests", *HTTPX])
def test_a_completed_sign_in_answers_every_request_that_waited_for_it(
    adapter: str, stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    outcomes, person = _storm(adapter, "approve", stytch_resource_server.url)
    assert outcomes == ["200"] * WAITERS
    assert person.opened == 1
    assert stytch_env.counters["token_authorization_code"] == 1


def test_the_next_request_after_a_declined_sign_in_asks_again(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    """The shared outcome is for those who waited on that attempt, not a verdict for later."""
    queued = threading.Event()
    queued.set()
    declined = _Person("deny", queued)
    auth = stytch_auth("requests", opener=declined, notify=lambda _: None)
    with pytest.raises(LoginError):
        requests.get(stytch_resource_server.url, auth=auth, timeout=60)
    auth.manager.opener = _Person("approve", queued)
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=60).status_code == 200


def test_a_caller_that_gave_up_starts_no_sign_in(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    queued = threading.Event()
    queued.set()
    person = _Person("approve", queued)
    auth = stytch_auth("requests", opener=person, notify=lambda _: None)
    started = time.monotonic()
    with pytest.raises(LoginError, match="cancelled") as caught:
        auth.manager.access_token(wanted=lambda: False)
    assert str(caught.value) == ABANDONED
    assert person.opened == 0
    assert time.monotonic() - started < 30


def test_a_caller_that_gives_up_behind_another_processs_lock_leaves_and_starts_nothing(
    stytch_env: StytchEmulator,
) -> None:
    """Another process is signing in (it holds the key's lock file for a long activity); a
    cancelled task's thread stops waiting within a slice and opens no browser of its own."""
    person = _Person("approve", threading.Event())
    auth = stytch_auth("requests", opener=person, notify=lambda _: None)
    manager = auth.manager
    gone = threading.Event()
    outcome: list[BaseException] = []

    def task() -> None:
        try:
            manager.access_token(wanted=lambda: not gone.is_set())
        except BaseException as exc:
            outcome.append(exc)

    other = StoreLock(manager.store.lock_file(manager.key))
    with other.hold(Activity(SIGNING_IN, 300.0), fallback=300.0):
        waiting = threading.Thread(target=task)
        waiting.start()
        deadline = time.monotonic() + 30
        while not other.record.exists() or _not_waiting(waiting, deadline):
            time.sleep(0.01)  # poll (bounded) until the task waits on the lock
        gone.set()
        waiting.join(30)
        assert not waiting.is_alive()
    assert [type(e) for e in outcome] == [Abandoned] and str(outcome[0]) == ABANDONED
    assert person.opened == 0 and stytch_env.counters["authorize_page"] == 0


def _not_waiting(thread: threading.Thread, deadline: float) -> bool:
    """Whether ``thread`` is not yet inside the lock's wait (fails the test past ``deadline``)."""
    assert time.monotonic() < deadline, "the task never waited on the lock"
    frame = sys._current_frames().get(thread.ident or 0)
    while frame is not None:
        if frame.f_code is StoreLock._acquire.__code__:
            return False
        frame = frame.f_back
    return True


def test_a_sign_in_for_a_caller_that_gave_up_is_not_started(stytch_env: StytchEmulator) -> None:
    """A zero-configuration step-up calls ``login()`` on the task's worker thread: a task that
    was cancelled by then opens no browser."""
    person = _Person("approve", threading.Event())
    auth = stytch_auth("requests", opener=person, notify=lambda _: None)
    with on_behalf_of(lambda: False), pytest.raises(Abandoned, match="cancelled"):
        auth.manager.login()
    assert person.opened == 0 and stytch_env.counters["authorize_page"] == 0
