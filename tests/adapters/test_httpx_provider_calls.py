"""An httpx or httpx2 user's provider calls (sign-in, refresh, client credentials) go through
their own client: its transport, its mounts, its timeouts, and so never through ``requests``
(:mod:`httpie_stytch_connected.oauth.httpx_calls`). Through ``Client`` and ``AsyncClient`` of
each library, the async one under asyncio and trio."""

from __future__ import annotations

import http.client
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.to_thread
import pytest

from httpie_stytch_connected.storage.store import KeyringStore
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.pytest_plugin import scripted_opener
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.adapters import HTTPX, RUNS, TIMEOUT, get, library, oauth2_auth, stytch_auth
from tests.lifecycle import expire_stored
from tests.loopback import LoopbackServer, QuietHandler


class Seen:
    """The requests a transport of the test's own was given: ``METHOD host/path``."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    def note(self, request: Any) -> None:
        self.requests.append(f"{request.method} {request.url.host}{request.url.path}")


def recording(adapter: str, seen: Seen) -> Any:
    """The library's own transport for ``adapter`` (sync or async), noting each request in
    ``seen`` before sending it: a mount of the caller's."""
    lib = library(adapter)
    if not adapter.endswith("AsyncClient"):

        class Sync(lib.HTTPTransport):  # type: ignore[misc, name-defined]
            def handle_request(self, request: Any) -> Any:
                seen.note(request)
                return super().handle_request(request)

        return Sync()

    class Async(lib.AsyncHTTPTransport):  # type: ignore[misc, name-defined]
        async def handle_async_request(self, request: Any) -> Any:
            seen.note(request)
            return await super().handle_async_request(request)

    return Async()


def machine_auth(adapter: str) -> Any:
    """A client-credentials client of a provider at ``login.invalid`` (no person signs in)."""
    return oauth2_auth(
        adapter,
        client_id="machine",
        client_secret="machine-secret",
        grant_type="client_credentials",
        token_endpoint="https://login.invalid/oauth2/token",
        environ={},
    )


@pytest.mark.parametrize(("adapter", "backend"), RUNS)
def test_a_mock_transport_client_with_no_stored_token_gets_its_token_from_the_mock(
    adapter: str, backend: str, stytch_keyring: Any
) -> None:
    """A client-credentials token with nothing stored: the token request goes to the
    client's ``MockTransport``, like the API request, and never to the network (the names are
    under ``.invalid``: no resolver answers them)."""
    lib = library(adapter)
    seen = Seen()

    def answer(request: Any) -> Any:
        seen.note(request)
        if request.url.host == "login.invalid":
            form = parse_qs(request.content.decode())
            assert form["grant_type"] == ["client_credentials"]
            body = {"access_token": "at-from-the-mock", "token_type": "Bearer", "expires_in": 600}
            return lib.Response(200, json=body)
        ours = request.headers.get("Authorization") == "Bearer at-from-the-mock"
        return lib.Response(200 if ours else 401, json={})

    auth = machine_auth(adapter)
    response = get(
        adapter, backend, auth, "https://api.invalid/data", transport=lib.MockTransport(answer)
    )
    assert response.status_code == 200
    assert seen.requests == ["POST login.invalid/oauth2/token", "GET api.invalid/data"]


@pytest.mark.parametrize(("adapter", "backend"), RUNS)
def test_sign_in_and_refresh_go_through_the_client_s_mount(
    adapter: str,
    backend: str,
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
) -> None:
    """A mount for the provider's origin is the caller's (their proxy, their CA, their
    transport): the code exchange and the refresh go through it, the API request does not."""
    seen = Seen()
    mounts = {stytch_env.url: recording(adapter, seen)}
    auth = stytch_auth(adapter, opener=scripted_opener(), notify=lambda _: None)
    assert get(adapter, backend, auth, stytch_resource_server.url, mounts=mounts).status_code == 200
    token = f"POST 127.0.0.1{stytch_env.token_path}"
    assert seen.requests.count(token) == 1  # the code exchange
    expire_stored(auth.manager.key)
    later = stytch_auth(adapter, opener=scripted_opener("deny"), notify=lambda _: None)
    assert (
        get(adapter, backend, later, stytch_resource_server.url, mounts=mounts).status_code == 200
    )
    assert seen.requests.count(token) == 2  # and the refresh
    assert stytch_env.counters["token_refresh_ok"] == 1


@pytest.mark.parametrize("adapter", HTTPX)
def test_the_client_s_shorter_timeout_bounds_a_provider_call(
    adapter: str, stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    """The client's timeout, stricter than ours, is the one a provider call keeps."""
    lib = library(adapter)
    timeouts: list[Any] = []

    def answer(request: Any) -> Any:
        timeouts.append(request.extensions.get("timeout"))
        return lib.Response(503, json={})

    auth = machine_auth(adapter)
    transport = lib.MockTransport(answer)
    client = {"timeout": lib.Timeout(2.5, connect=1.5), "transport": transport}
    with pytest.raises(lib.HTTPError):
        backend = "asyncio" if adapter.endswith("AsyncClient") else "-"
        get(adapter, backend, auth, "https://api.invalid/", **client)
    assert timeouts and timeouts[0] == {"connect": 1.5, "read": 2.5, "write": 2.5, "pool": 2.5}


class HeldOnTheLoop:
    """An ``AsyncClient``'s mount for the provider that holds the first token answer (on the
    event loop, awaiting a thread) until ``release`` is set, at most 10 s: the provider has
    rotated the refresh token, and nothing is stored yet."""

    def __init__(self, adapter: str) -> None:
        self.held = threading.Event()
        self.release = threading.Event()
        owner = self

        class Held(library(adapter).AsyncHTTPTransport):  # type: ignore[misc]
            async def handle_async_request(self, request: Any) -> Any:
                response = await super().handle_async_request(request)
                if request.url.path.endswith("/oauth2/token") and not owner.held.is_set():
                    owner.held.set()
                    await anyio.to_thread.run_sync(owner.release.wait, 10)
                return response

        self.transport = Held()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("adapter", [a for a in HTTPX if a.endswith("AsyncClient")])
def test_a_task_cancelled_mid_refresh_through_the_client_s_transport_keeps_the_rotated_token(
    adapter: str,
    backend: str,
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
) -> None:
    """The refresh runs on the caller's event loop as a task of its own: cancelling the
    request that started it returns at once and the refresh still completes, stores the
    rotated refresh token and serves the next request, with no second refresh."""
    url = stytch_resource_server.url
    first = stytch_auth(adapter, opener=scripted_opener(), notify=lambda _: None)
    assert get(adapter, backend, first, url).status_code == 200
    expire_stored(first.manager.key)
    stytch_env.reset_counters()
    held = HeldOnTheLoop(adapter)
    auth = stytch_auth(adapter, opener=scripted_opener("deny"), notify=lambda _: None)

    async def main() -> int:
        lib = library(adapter)
        async with lib.AsyncClient(
            auth=auth, timeout=TIMEOUT, mounts={stytch_env.url: held.transport}
        ) as client:
            async with anyio.create_task_group() as group:
                group.start_soon(client.get, url)
                assert await anyio.to_thread.run_sync(held.held.wait, 10)
                group.cancel_scope.cancel()  # the request returns; the refresh is still held
            assert not held.release.is_set()
            held.release.set()
            status: int = (await client.get(url)).status_code
            return status

    assert anyio.run(main, backend=backend) == 200
    assert stytch_env.counters["token_refresh_ok"] == 1
    assert stytch_env.counters["token_requests"] == 1
    stored = KeyringStore().load(auth.manager.key)
    assert stored is not None and stored.refresh_token == stytch_env.issued_refresh_tokens()[-1]


class ForwardingProxy:
    """A plain-http forward proxy on loopback that notes each request line (an absolute URL)
    and forwards it."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        owner = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                owner.seen.append(f"{self.command} {urlsplit(self.path).path}")
                length = int(self.headers.get("Content-Length") or 0)
                target = urlsplit(self.path)
                upstream = http.client.HTTPConnection(target.netloc, timeout=30)
                sent = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("proxy-connection", "connection", "host")
                }
                path = target.path + (f"?{target.query}" if target.query else "")
                body = self.rfile.read(length) if length else None
                upstream.request(self.command, path, body=body, headers=sent)
                answer = upstream.getresponse()
                data = answer.read()
                upstream.close()
                dropped = ("transfer-encoding", "connection", "content-length", "content-type")
                kept = {k: v for k, v in answer.getheaders() if k.lower() not in dropped}
                self.reply(
                    answer.status, data, content_type=answer.getheader("Content-Type"), headers=kept
                )

            do_POST = do_GET

        self.server = LoopbackServer(Handler)


@pytest.mark.parametrize(("adapter", "backend"), RUNS)
def test_sign_in_goes_through_the_client_s_proxy(
    adapter: str,
    backend: str,
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
) -> None:
    """``proxy=`` is the caller's way out of their network: the sign-in's provider calls
    (the code exchange among them) go through it."""
    proxy = ForwardingProxy()
    auth = stytch_auth(adapter, opener=scripted_opener(), notify=lambda _: None)
    with proxy.server:
        answer = get(adapter, backend, auth, stytch_resource_server.url, proxy=proxy.server.url)
    assert answer.status_code == 200
    assert f"POST {stytch_env.token_path}" in proxy.seen
