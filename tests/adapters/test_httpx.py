"""The httpx and httpx2 classes, tested as the requests ones are: the emulator, the resource
server, the test keyring and the scripted user agent over loopback, through a real ``Client``
(threads) and a real ``AsyncClient`` (asyncio tasks) of each library, from one auth object.
Each test runs once per library (``lib``): the flow is one, and each library must get all of it."""

from __future__ import annotations

import asyncio
import copy
import inspect
import multiprocessing
import os
import pickle
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import anyio
import anyio.to_thread
import pytest
import requests

from httpie_stytch_connected import auth as requests_auth
from httpie_stytch_connected.errors import (
    AuthenticationError,
    ConfigurationError,
    LoginError,
    TokenEndpointError,
)
from httpie_stytch_connected.lifecycle.manager import TokenManager, _thread_lock, forget_memory
from httpie_stytch_connected.storage.store import KeyringStore
from httpie_stytch_connected.testing.emulator import StytchEmulator, example_api
from httpie_stytch_connected.testing.pytest_plugin import scripted_opener
from httpie_stytch_connected.testing.resource_server import ResourceServer
from httpie_stytch_connected.testing.user_agent import ScriptedUserAgent
from tests.adapters import (
    ADAPTERS_IN_PROCESS,
    HTTPX,
    LIBRARIES,
    TIMEOUT,
    auth_module,
    clients_of,
    library,
    oauth2_auth,
    send,
    stytch_auth,
)
from tests.lifecycle import THREADS, expire_stored, login_then_expire, slow_token_endpoint


@pytest.fixture(params=LIBRARIES)
def lib(request: pytest.FixtureRequest) -> str:
    """``httpx`` or ``httpx2``: the library a test runs through."""
    name: str = request.param
    return name


def _auth(lib: str, browser: Callable[[str], bool] | None = None, **kwargs: Any) -> Any:
    notes: list[str] = []
    return auth_module(lib).StytchAuth(
        opener=browser or scripted_opener(), notify=notes.append, **kwargs
    )


def _python(script: str, *argv: str, browser: str = "false %s") -> subprocess.CompletedProcess[str]:
    """``script`` run by a new interpreter with ``argv``, bounded; a sign-in there would fail
    unless ``browser`` (``BROWSER``; by default, ``false``) signs in."""
    return subprocess.run(
        [sys.executable, "-c", script, *argv],
        env={**os.environ, "BROWSER": browser},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


# -- the same classes, arguments and values as the requests ones ------------------------------


@pytest.mark.parametrize("name", ["StytchAuth", "OAuth2PKCEAuth"])
def test_the_classes_take_exactly_the_requests_arguments(lib: str, name: str) -> None:
    ours, theirs = getattr(auth_module(lib), name), getattr(requests_auth, name)
    assert issubclass(ours, library(lib).Auth)
    assert inspect.signature(ours) == inspect.signature(theirs)


def test_an_auth_object_pickles_and_copies(lib: str, stytch_env: StytchEmulator) -> None:
    auth = auth_module(lib).StytchAuth()
    assert auth.manager is not None
    for clone in (
        pickle.loads(pickle.dumps(auth)),  # noqa: S301 - our own bytes
        copy.copy(auth),
        copy.deepcopy(auth),
    ):
        assert isinstance(clone, type(auth)) and clone.settings == auth.settings
        assert clone.manager.key == auth.manager.key


def test_importing_the_package_and_the_httpie_plugin_never_imports_httpx_nor_httpx2() -> None:
    script = (
        "import sys\n"
        "import httpie_stytch_connected\n"
        "from httpie_stytch_connected import StytchAuth\n"
        "import httpie_stytch_connected.httpie_plugin\n"
        "import httpie_stytch_connected.cli\n"
        "StytchAuth(client_id='c', project_domain='p.example.com', authorize_url='https://a/')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('httpx', 'httpx2', 'anyio')))\n"
    )
    done = _python(script)
    assert done.stdout.strip() == "[]", done.stderr


@pytest.mark.parametrize(("ours", "other"), [("httpx", "httpx2"), ("httpx2", "httpx")])
def test_one_library_s_classes_never_import_the_other_library(ours: str, other: str) -> None:
    """An httpx user never loads httpx2, and an httpx2 user (an MCP client) never loads httpx:
    the shared flow reaches its library only through the face that names it."""
    script = (
        "import sys\n"
        f"from httpie_stytch_connected.{ours} import StytchAuth\n"
        "StytchAuth(client_id='c', project_domain='p.example.com', authorize_url='https://a/')\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] == {other!r}))\n"
    )
    done = _python(script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


def test_an_httpx_user_loads_no_requests_until_a_provider_call(
    lib: str, stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    """Importing a face, building its auth objects (zero configuration's too) and warm
    requests with a stored token, through ``Client`` and ``AsyncClient``, import no
    ``requests`` (tens of milliseconds an httpx user never asked for)."""
    client = clients_of(lib)[0]
    assert send(client, stytch_auth(client), "GET", stytch_resource_server.url).status_code == 200
    script = (
        "import asyncio, sys\n"
        "loaded = lambda: 'requests' in sys.modules\n"
        f"import {lib}\n"
        f"from httpie_stytch_connected.{lib} import OAuth2PKCEAuth, StytchAuth\n"
        "stages = {'import': loaded()}\n"
        "auth = StytchAuth()\n"
        "OAuth2PKCEAuth(environ={})\n"
        "stages['auth objects'] = loaded()\n"
        f"with {lib}.Client(auth=auth, timeout=30) as client:\n"
        "    statuses = [client.get(sys.argv[1]).status_code]\n"
        "stages['Client'] = loaded()\n"
        "async def main():\n"
        f"    async with {lib}.AsyncClient(auth=auth, timeout=30) as client:\n"
        "        statuses.append((await client.get(sys.argv[1])).status_code)\n"
        "asyncio.run(main())\n"
        "stages['AsyncClient'] = loaded()\n"
        "print(statuses, stages)\n"
    )
    done = _python(script, stytch_resource_server.url)
    assert done.returncode == 0, done.stderr
    expected = {"import": False, "auth objects": False, "Client": False, "AsyncClient": False}
    assert done.stdout.strip() == f"{[200, 200]} {expected}"
    assert stytch_env.counters["token_requests"] == 1  # the first sign-in's: none since


def test_an_httpx_user_never_loads_requests_to_sign_in_or_refresh(
    lib: str,
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    stytch_browser: str,
) -> None:
    """A whole browser sign-in in one process, then a refresh in each of two more (an
    ``AsyncClient``, then a ``Client``): every provider call (discovery, the reachability
    probe, the code exchange, the keys, the refreshes) goes through the library's own client,
    so ``requests`` is never imported."""
    script = (
        "import asyncio, sys\n"
        f"import {lib}\n"
        f"from httpie_stytch_connected.{lib} import StytchAuth\n"
        "auth = StytchAuth()\n"
        "async def main():\n"
        f"    async with {lib}.AsyncClient(auth=auth, timeout=30) as client:\n"
        "        return (await client.get(sys.argv[1])).status_code\n"
        "if sys.argv[2] == 'Client':\n"
        f"    with {lib}.Client(auth=auth, timeout=30) as client:\n"
        "        status = client.get(sys.argv[1]).status_code\n"
        "else:\n"
        "    status = asyncio.run(main())\n"
        "print(status, 'requests' in sys.modules)\n"
    )
    url, key = stytch_resource_server.url, stytch_auth(lib).manager.key
    for run, client in enumerate(("Client", "AsyncClient", "Client")):
        if run:
            expire_stored(key)
        done = _python(script, url, client, browser=stytch_browser)
        assert done.stdout.strip() == "200 False", done.stderr
    assert stytch_env.counters["login"] == 1
    assert stytch_env.counters["token_refresh_ok"] == 2


# -- one login, reuse, refresh ----------------------------------------------------------------


def test_one_login_serves_a_client_and_an_async_client(
    lib: str, stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    browser = scripted_opener()
    auth = _auth(lib, browser)
    for mode in clients_of(lib) * 2:
        response = send(mode, auth, "GET", stytch_resource_server.url)
        assert response.status_code == 200, response.text
    assert browser.opened == 1
    assert stytch_env.counters["token_requests"] == 1


def test_a_new_process_reuses_the_stored_token_without_a_browser(
    lib: str, stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    client = clients_of(lib)[0]
    assert send(client, stytch_auth(client), "GET", stytch_resource_server.url).status_code == 200
    script = (
        f"import asyncio, sys, {lib}\n"
        f"from httpie_stytch_connected.{lib} import StytchAuth\n"
        "async def main():\n"
        f"    async with {lib}.AsyncClient(auth=StytchAuth(), timeout=30) as client:\n"
        "        print((await client.get(sys.argv[1])).status_code)\n"
        "asyncio.run(main())\n"
    )
    done = _python(script, stytch_resource_server.url)
    assert done.stdout.strip() == "200", done.stderr
    assert stytch_env.counters["login"] == 1
    assert stytch_env.counters["token_requests"] == 1


@pytest.mark.parametrize("mode", [m for lib in LIBRARIES for m in clients_of(lib)])
def test_an_expired_token_is_refreshed_and_the_rotated_refresh_token_stored(
    mode: str, stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    auth = stytch_auth(mode)
    assert send(mode, auth, "GET", stytch_resource_server.url).status_code == 200
    expired = auth.manager.stored()
    expire_stored(auth.manager.key)
    assert send(mode, stytch_auth(mode), "GET", stytch_resource_server.url).status_code == 200
    assert stytch_env.counters["token_refresh_ok"] == 1
    assert stytch_env.counters["login"] == 1
    stored = auth.manager.stored()
    assert stored is not None and expired is not None
    assert stored.refresh_token != expired.refresh_token
    assert stored.refresh_token == stytch_env.issued_refresh_tokens()[-1]


# -- one refresh for many threads, tasks and processes ----------------------------------------


def test_32_threads_on_one_client_make_one_refresh(
    lib: str, stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    login_then_expire(stytch_resource_server)
    stytch_env.reset_counters()
    slow_token_endpoint(stytch_env, THREADS, seconds=1.0)
    barrier = threading.Barrier(THREADS, timeout=30)
    statuses: list[int | str] = []

    with library(lib).Client(auth=_auth(lib), timeout=TIMEOUT) as client:

        def worker() -> None:
            barrier.wait()
            try:
                status: int | str = client.get(stytch_resource_server.url).status_code
            except Exception as exc:
                status = f"{type(exc).__name__}: {exc}"
            statuses.append(status)

        threads = [threading.Thread(target=worker) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
    assert statuses == [200] * THREADS
    assert stytch_env.counters["token_requests"] == 1
    assert stytch_env.counters["token_refresh_ok"] == 1


def _task_storm(lib: str, auth: Any, url: str) -> list[int | str]:
    """``THREADS`` tasks on one AsyncClient of ``lib``, gathered: each sends one GET."""
    http = library(lib)

    async def storm() -> list[int | str]:
        async with http.AsyncClient(auth=auth, timeout=TIMEOUT) as client:
            gets = (client.get(url) for _ in range(THREADS))
            results = await asyncio.gather(*gets, return_exceptions=True)
        return [r.status_code if isinstance(r, http.Response) else repr(r) for r in results]

    return asyncio.run(storm())


def test_32_tasks_on_one_async_client_make_one_refresh(
    lib: str, stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    login_then_expire(stytch_resource_server)
    stytch_env.reset_counters()
    slow_token_endpoint(stytch_env, THREADS, seconds=1.0)
    assert _task_storm(lib, _auth(lib), stytch_resource_server.url) == [200] * THREADS
    assert stytch_env.counters["token_requests"] == 1
    assert stytch_env.counters["token_refresh_ok"] == 1


def test_32_tasks_without_a_token_make_one_login(
    lib: str, stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    slow_token_endpoint(stytch_env, THREADS, seconds=1.0)
    browser = scripted_opener()
    assert _task_storm(lib, _auth(lib, browser), stytch_resource_server.url) == [200] * THREADS
    assert browser.opened == 1
    assert stytch_env.counters["token_authorization_code"] == 1


def _pool_get(auth: Any, url: str) -> int:
    """Runs in a pool worker: the auth object arrived pickled, and names its own library."""

    async def get() -> int:
        async with auth._library.AsyncClient(auth=auth, timeout=TIMEOUT) as client:
            status: int = (await client.get(url)).status_code
            return status

    return asyncio.run(get())


@pytest.mark.timeout(240)
def test_processes_share_one_login_and_one_refresh(
    lib: str, stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    auth = auth_module(lib).StytchAuth()  # the system-browser opener: BROWSER is the scripted UA
    tasks = 6

    def run_pool() -> list[int]:
        pool = multiprocessing.get_context("spawn").Pool(3)
        try:
            work = [(auth, stytch_resource_server.url)] * tasks
            return pool.starmap_async(_pool_get, work).get(timeout=90)
        finally:
            pool.terminate()
            pool.join()

    slow_token_endpoint(stytch_env, tasks, seconds=1.0)
    assert run_pool() == [200] * tasks
    assert stytch_env.counters["codes_issued"] == 1
    assert stytch_env.counters["token_requests"] == 1
    expire_stored(auth.manager.key)
    stytch_env.reset_counters()
    slow_token_endpoint(stytch_env, tasks, seconds=1.0)
    assert run_pool() == [200] * tasks
    assert stytch_env.counters["token_refresh_ok"] == 1
    assert stytch_env.counters["token_requests"] == 1


# -- the event loop keeps running; cancelling leaves nothing behind ---------------------------


class HeldTokenAnswers(requests.Session):
    """A provider session that holds the first token-endpoint answer until ``release`` is set
    (at most 10 s, then the call fails): the refresh is in flight, the provider has already
    rotated the refresh token, and nothing is stored yet."""

    def __init__(self) -> None:
        super().__init__()
        self.held = threading.Event()
        self.release = threading.Event()

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        response = super().request(method, url, *args, **kwargs)
        if str(url).endswith("/oauth2/token") and not self.held.is_set():
            self.held.set()
            if not self.release.wait(10):
                raise requests.ConnectionError("the test never released the token answer")
        return response


def _expired_auth(lib: str, api: ResourceServer) -> tuple[Any, HeldTokenAnswers]:
    client = clients_of(lib)[0]
    first = stytch_auth(client)
    assert send(client, first, "GET", api.url).status_code == 200
    expire_stored(first.manager.key)
    session = HeldTokenAnswers()
    return stytch_auth(client, session=session), session


def test_a_refresh_never_blocks_the_event_loop(
    lib: str, stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    auth, session = _expired_auth(lib, stytch_resource_server)
    http = library(lib)

    async def main() -> None:
        async with http.AsyncClient(auth=auth, timeout=TIMEOUT) as client:
            refreshing = asyncio.create_task(client.get(stytch_resource_server.url))
            assert await anyio.to_thread.run_sync(session.held.wait, 10)
            # The refresh is waiting on the token endpoint: other tasks still run meanwhile.
            async with http.AsyncClient(timeout=TIMEOUT) as plain:
                other = await plain.get(stytch_resource_server.url)
            assert other.status_code == 401  # a real round trip, with no token
            assert not refreshing.done()
            session.release.set()
            assert (await refreshing).status_code == 200

    asyncio.run(main())
    assert stytch_env.counters["token_refresh_ok"] == 1


def test_tasks_waiting_on_a_refresh_take_no_thread_from_the_shared_pool(
    lib: str, stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    """anyio's default thread limiter is the whole process's (FastAPI's sync endpoints, every
    ``to_thread`` call): requests waiting for a refresh must not hold its threads, or the rest
    of the application waits as long as the refresh."""
    auth, session = _expired_auth(lib, stytch_resource_server)
    waiting = 8

    async def main() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 4
        async with library(lib).AsyncClient(auth=auth, timeout=TIMEOUT) as client:
            url = stytch_resource_server.url
            gets = [asyncio.create_task(client.get(url)) for _ in range(waiting)]
            assert await asyncio.to_thread(session.held.wait, 10)  # not anyio's pool
            with anyio.fail_after(5):  # an unrelated to_thread call gets a thread at once
                assert await anyio.to_thread.run_sync(lambda: "free") == "free"
            assert not any(get.done() for get in gets)  # the refresh is still held
            session.release.set()
            responses = await asyncio.gather(*gets)
        assert [r.status_code for r in responses] == [200] * waiting

    asyncio.run(main())
    assert stytch_env.counters["token_refresh_ok"] == 1


def test_under_trio_tasks_waiting_on_one_refresh_make_one_and_leave_the_shared_pool_free(
    lib: str, stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    """The same AsyncClient under trio (anyio runs our worker threads there too): 8 tasks on
    an expired token make one refresh, and an unrelated ``to_thread`` call gets a thread while
    they wait."""
    trio = pytest.importorskip("trio")
    auth, session = _expired_auth(lib, stytch_resource_server)
    statuses: list[int] = []

    async def get(client: Any) -> None:
        statuses.append((await client.get(stytch_resource_server.url)).status_code)

    async def main() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 4
        async with (
            library(lib).AsyncClient(auth=auth, timeout=TIMEOUT) as client,
            trio.open_nursery() as nursery,
        ):
            for _ in range(8):
                nursery.start_soon(get, client)
            assert await trio.to_thread.run_sync(session.held.wait, 10)
            with anyio.fail_after(5):
                assert await anyio.to_thread.run_sync(lambda: "free") == "free"
            assert statuses == []  # the refresh is still held
            session.release.set()

    trio.run(main)
    assert statuses == [200] * 8
    assert stytch_env.counters["token_refresh_ok"] == 1


def test_cancelling_a_task_mid_refresh_leaves_a_whole_token_set_and_no_held_lock(
    lib: str, stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    auth, session = _expired_auth(lib, stytch_resource_server)
    stytch_env.reset_counters()

    async def main() -> int:
        async with library(lib).AsyncClient(auth=auth, timeout=TIMEOUT) as client:
            refreshing = asyncio.create_task(client.get(stytch_resource_server.url))
            assert await anyio.to_thread.run_sync(session.held.wait, 10)
            refreshing.cancel()
            with pytest.raises(asyncio.CancelledError):
                await refreshing  # returns at once, while the provider's answer is still held
            assert not session.release.is_set()
            session.release.set()
            status: int = (await client.get(stytch_resource_server.url)).status_code
            return status

    assert asyncio.run(main()) == 200
    # The cancelled refresh finished on its worker thread and was used: one refresh, no login.
    assert stytch_env.counters["token_refresh_ok"] == 1
    assert stytch_env.counters["token_requests"] == 1
    stored = KeyringStore().load(auth.manager.key)
    assert stored is not None and stored.refresh_token == stytch_env.issued_refresh_tokens()[-1]
    assert not _thread_lock(auth.manager.key).locked()


class _Unfinished:
    """An opener for a sign-in nobody finishes: it keeps each URL it is given and visits none;
    the test ends the sign-in itself (``decline``)."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def __call__(self, url: str) -> bool:
        self.urls.append(url)
        return True

    def decline(self) -> None:
        """The person declines the one sign-in that was opened."""
        with ScriptedUserAgent(decision="deny") as agent:
            agent.open(self.urls[0])


def _threads_in_access_token() -> int:
    """Threads now inside :meth:`TokenManager.access_token`: queueing for an attempt or making
    one (the threads of ours that a request holds)."""
    code = TokenManager.access_token.__code__
    inside = 0
    for frame in sys._current_frames().values():
        walked: FrameType | None = frame
        while walked is not None and walked.f_code is not code:
            walked = walked.f_back
        inside += walked is not None
    return inside


async def _until(predicate: Callable[[], bool], seconds: float = 10.0) -> None:
    with anyio.fail_after(seconds):
        while not predicate():
            await anyio.sleep(0.02)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_cancelled_requests_around_an_unfinished_sign_in_start_nothing_and_hold_no_thread(
    lib: str, backend: str, stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    """Retries of ``wait_for(get, 0.2)`` around a sign-in nobody finishes: the browser opens
    once, each given-up request's thread leaves at once rather than queue for that sign-in
    (up to ``login_timeout``), and once the sign-in ends the next request signs in and works."""
    retries = 20
    url = stytch_resource_server.url
    unfinished = _Unfinished()
    auth = _auth(lib, unfinished, login_timeout=120)  # the sign-in outlives the test's waits

    async def given_up(client: Any) -> None:
        if backend == "asyncio":
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(client.get(url), 0.2)
        else:
            with anyio.move_on_after(0.2) as scope:
                await client.get(url)
            assert scope.cancelled_caught

    async def main() -> int:
        async with library(lib).AsyncClient(auth=auth, timeout=TIMEOUT) as client:
            for _ in range(retries):
                await given_up(client)
            # Only the sign-in the first request started is left, on its one thread.
            await _until(lambda: _threads_in_access_token() <= 1)
            assert _threads_in_access_token() == 1 and len(unfinished.urls) == 1
            await anyio.to_thread.run_sync(unfinished.decline)
            await _until(lambda: _threads_in_access_token() == 0)
            auth.manager.opener = browser = scripted_opener()
            status: int = (await client.get(url)).status_code
            assert browser.opened == 1
            return status

    if backend == "trio":
        pytest.importorskip("trio")
    assert anyio.run(main, backend=backend) == 200
    assert len(unfinished.urls) == 1
    assert stytch_env.counters["token_authorization_code"] == 1


# -- the same errors, in the same words -------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "kind"),
    [
        ({"authorize_url": "http://app.example/authorize"}, ConfigurationError),
        ({"login_timeout": 1}, LoginError),
    ],
)
def test_errors_are_the_requests_errors_word_for_word(
    stytch_env: StytchEmulator,
    monkeypatch: pytest.MonkeyPatch,
    kwargs: dict[str, Any],
    kind: type[Exception],
) -> None:
    monkeypatch.setenv("STYTCH_UA_DECISION", "ignore")  # nobody completes a sign-in
    errors = []
    for adapter in ADAPTERS_IN_PROCESS:
        with pytest.raises(AuthenticationError) as caught:
            send(adapter, stytch_auth(adapter, **kwargs), "GET", stytch_env.url)
        errors.append(caught.value)
    assert {type(e) for e in errors} == {kind}
    # The same words; a timeout names its own redirect URI, whose port each sign-in picks.
    assert len({re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", str(e)) for e in errors}) == 1


def test_a_missing_client_id_is_the_same_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STYTCH_CLIENT_ID", raising=False)
    messages = set()
    for cls in (requests_auth.OAuth2PKCEAuth, *(auth_module(n).OAuth2PKCEAuth for n in LIBRARIES)):
        with pytest.raises(ConfigurationError) as caught:
            cls(issuer="https://idp.example", environ={})
        messages.add(str(caught.value))
    assert len(messages) == 1


@pytest.mark.parametrize("mode", [m for lib in LIBRARIES for m in clients_of(lib)])
def test_a_provider_outage_is_the_library_s_own_http_error(
    mode: str, stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    """An httpx (httpx2) user catches a token endpoint that cannot be reached or answers 503
    with ``except httpx.HTTPError``, as they catch an API that cannot be reached; it is still
    our ``TokenEndpointError``, and no ``requests`` exception (a requests user's errors are:
    ``test_a_provider_outage_is_a_requests_exception``)."""
    auth = stytch_auth(mode)
    assert send(mode, auth, "GET", stytch_resource_server.url).status_code == 200
    expire_stored(auth.manager.key)
    for fault in ("reset", "503"):
        stytch_env.inject_token_fault(fault, count=10)  # every retry of the refresh fails
        with pytest.raises(library(mode).HTTPError) as caught:
            send(mode, stytch_auth(mode), "GET", stytch_resource_server.url)
        error = caught.value
        assert isinstance(error, TokenEndpointError)
        assert not isinstance(error, requests.RequestException)
        assert isinstance(error, library(mode).RequestError) and error.retryable
        assert str(error.request.url) == stytch_resource_server.url
        assert error.__cause__ is None and error.__context__ is None
        stytch_env.clear_token_faults()
        forget_memory()


@pytest.mark.parametrize("adapter", ADAPTERS_IN_PROCESS)
def test_a_provider_outage_during_zero_configuration_is_the_library_s_own_error(
    adapter: str, stytch_zero_env: StytchEmulator
) -> None:
    """Nothing configured, and the authorization server the API names is down when its 401
    starts discovery: an httpx (httpx2) user catches it as ``httpx.HTTPError``, a requests
    user as ``requests.RequestException``; for both it is our ``TokenEndpointError``."""
    with example_api(stytch_zero_env) as api:
        stytch_zero_env.stop()  # its port is closed: its metadata cannot be fetched
        caught = library(adapter).HTTPError if adapter in HTTPX else requests.RequestException
        with pytest.raises(caught) as raised:
            send(adapter, oauth2_auth(adapter), "GET", api.url)
    assert isinstance(raised.value, TokenEndpointError) and raised.value.retryable
    assert "cannot reach" in str(raised.value)
    assert isinstance(raised.value, requests.RequestException) == (adapter == "requests")
    # the request being authenticated, for every adapter (the requests one held None)
    assert str(getattr(raised.value, "request").url) == api.url  # noqa: B009 - the library error's


@pytest.mark.parametrize("adapter", ADAPTERS_IN_PROCESS)
def test_an_issuer_without_a_scheme_is_a_setting_to_correct_not_a_provider_outage(
    adapter: str, stytch_keyring: object
) -> None:
    """``issuer="login.example.com"`` was sent to discovery and came back as a provider failure
    (a ``TokenEndpointError``, so a ``requests.RequestException`` or ``httpx.HTTPError``, as if
    worth a retry) about a garbled URL; it is a ``ConfigurationError`` naming the issuer."""
    auth = oauth2_auth(adapter, client_id="c", issuer="login.example.com")
    with pytest.raises(AuthenticationError) as caught:
        send(adapter, auth, "GET", "http://127.0.0.1:9/api")
    assert type(caught.value) is ConfigurationError
    assert str(caught.value) == (
        "issuer must be an absolute URL, https://host/… (or http:// on 127.0.0.1, ::1 or "
        "localhost); got a value without scheme://host."
    )
