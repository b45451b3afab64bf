"""Provider calls over httpx or httpx2: through the caller's own client.

An httpx user's ``Client(proxy=..., mounts=..., transport=..., timeout=...)`` says how their
process may reach the network (a proxy, a custom CA, an in-process ``MockTransport`` in their
tests). :class:`HttpxHTTP` is :class:`.provider_calls.ProviderHTTP` on that client, written once
for httpx and httpx2: it reaches its library through the module it is given (``httpx`` or
``httpx2``) and imports neither, so an httpx user never loads httpx2 (nor ``requests``), and
the other way round.

Which client: httpx gives an ``Auth`` only the request, never the client sending it, so the
auth flow takes the client from the frame that drives it (``Client._send_handling_auth``, the
same in httpx and httpx2; :func:`client_driving`) and serves each blocking call into the
lifecycle through it (:meth:`HttpxHTTP.serving`). A call with no such client (a thread of the
caller's own that reaches the manager directly) goes through the last ``Client`` the auth
served (an ``AsyncClient``'s transport needs its event loop), or a plain ``Client`` of the
library's when there is none.

How: the request goes straight to the client's transport for its URL
(``client._transport_for_url``: its mounts, its proxies, its ``transport=``), never through
``client.send``, so none of the client's event hooks, cookies, default headers, auth or
redirect following touches it: exactly :data:`ProviderHTTP`'s headers go out, a 3xx is the
answer. Each timeout is the stricter of the client's and ours (:data:`.provider_calls.LIMITS`),
the body is read through :class:`.provider_calls.BoundedBody` (our size cap) and the whole call
ends within our deadline:

- ``Client``: on a worker thread (:func:`.provider_calls.within_deadline`), as for requests;
- ``AsyncClient``: the lifecycle already runs on a worker thread that anyio started
  (:mod:`..httpx_flow`), so the call is run back on the caller's event loop through their async
  transport (``anyio.from_thread.run``: asyncio and trio alike), under ``anyio.fail_after``.
  It runs there as a task of its own, not inside the request's task: a request cancelled
  mid-refresh does not cancel the token call the worker thread is waiting on, so the rotated
  refresh token still comes back and is stored (the lifecycle's rule: finish what it started).
  Only the end of the event loop itself ends it, and then the call is :data:`UNREACHABLE`.

Calls for an API that is not on the person's machine (zero configuration, :meth:`confine`)
reach global addresses only, checked where the connection is made:

- when the client's transport for the URL is the library's own (``HTTPTransport`` or
  ``AsyncHTTPTransport``, proxied or not), through a transport of ours whose httpcore network
  backend (``connect_tcp``: httpcore for httpx, httpcore2 for httpx2) resolves the name once,
  refuses it unless every address is global, and connects to those very addresses (no DNS
  rebinding gap); with the client's TLS context where its transport has one. It connects
  directly, not through the client's proxy: a proxy resolves the name again, out of reach of
  any check;
- when it is a transport of the caller's own (``MockTransport``, WSGI, ASGI, another library's),
  which connects as it likes, through it, after the same check of the name (a literal or a name
  resolving to a local address is refused; a name that does not resolve is left to the
  transport, which can reach nothing local through it). That is a check before the call, not
  at the connect: a custom transport that resolves names again is trusted not to be rebound.
"""

from __future__ import annotations

import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import import_module
from types import FrameType, ModuleType
from typing import Any

from .provider_calls import (
    FAILED,
    LOCAL,
    TIMED_OUT,
    UNREACHABLE,
    BoundedBody,
    Limits,
    ProviderAnswer,
    ProviderRequest,
    TransportFailure,
    late,
    within_deadline,
)
from .untrusted import shown
from .urls import NotGlobal, global_addresses


def client_driving(frame: FrameType | None, library: ModuleType) -> Any:
    """The ``library.Client`` or ``AsyncClient`` whose ``_send_handling_auth`` is ``frame``
    (the caller of an auth flow's step), or None."""
    owner = frame.f_locals.get("self") if frame is not None else None
    return owner if isinstance(owner, (library.Client, library.AsyncClient)) else None


class _Clients:
    """The clients one auth object's calls go through, shared by its confined copies: the one
    each thread serves now, the last ``Client`` served (for calls on a thread serving none)
    and, before any, a plain client of the library's, made on first use."""

    def __init__(self, library: ModuleType) -> None:
        self.library = library
        self.now = threading.local()
        self.last: weakref.ref[Any] | None = None
        self.plain: Any = None
        self.lock = threading.Lock()

    def current(self) -> Any:
        client = getattr(self.now, "client", None)
        if client is None and self.last is not None:
            client = self.last()
        if client is None or client.is_closed:
            with self.lock:
                if self.plain is None:
                    self.plain = self.library.Client()
                client = self.plain
        return client


class HttpxHTTP:
    """:class:`.provider_calls.ProviderHTTP` through the ``library`` client being served (see
    the module). ``own``: as for :class:`.provider_calls.RequestsHTTP`, the calls are for URLs
    an API named; one for which ``own(url)`` is False reaches global addresses only."""

    def __init__(
        self,
        library: ModuleType,
        *,
        own: Callable[[str], bool] | None = None,
        clients: _Clients | None = None,
    ) -> None:
        self._library = library
        self._own = own
        self._clients = clients if clients is not None else _Clients(library)
        self._global_only: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"HttpxHTTP({self._library.__name__})"

    def __reduce__(self) -> tuple[Any, ...]:  # an auth object pickles: the library by name
        return (_rebuilt, (self._library.__name__,))

    @property
    def confined(self) -> bool:
        """True when the URLs it carries were named by an API that is not on this machine."""
        return self._own is not None

    def confine(self, own: Callable[[str], bool]) -> HttpxHTTP:
        """These calls, for URLs an API named (see the class), serving the same clients."""
        return HttpxHTTP(self._library, own=own, clients=self._clients)

    @contextmanager
    def serving(self, client: Any) -> Iterator[None]:
        """Calls made on this thread meanwhile go through ``client`` (None: no change). A
        ``Client`` is also what a thread serving none goes through from then on (an
        ``AsyncClient`` is not: its transport needs its event loop)."""
        if client is None:
            yield
            return
        now = self._clients.now
        before = getattr(now, "client", None)
        now.client = client
        if isinstance(client, self._library.Client):
            self._clients.last = weakref.ref(client)
        try:
            yield
        finally:
            now.client = before

    def send(self, call: ProviderRequest) -> ProviderAnswer:
        """:meth:`.provider_calls.ProviderHTTP.send`; raises only :class:`TransportFailure`."""
        client = self._clients.current()
        library = self._library
        limits = call.limits
        failure: TransportFailure | None = None
        try:
            target = library.URL(call.url)
            transport = client._transport_for_url(target)
            asynchronous = isinstance(client, library.AsyncClient)
            if self._own is not None and not self._own(call.url):
                if isinstance(transport, (library.HTTPTransport, library.AsyncHTTPTransport)):
                    transport, asynchronous = self._global_only_transport(transport), False
                else:
                    _check_name(target)
            request = library.Request(
                call.method,
                target,
                headers=dict(call.headers),
                **call.body,
                extensions={"timeout": _stricter(client.timeout, limits)},
            )
        except (library.HTTPError, library.InvalidURL) as exc:  # a URL the library refuses
            failure = TransportFailure(FAILED, type(exc).__name__)
        if failure is not None:
            raise failure
        if asynchronous:
            return _on_the_loop(library, transport, request, limits)
        return within_deadline(
            limits, lambda ends: _exchange(library, transport, request, limits, ends)
        )

    def _global_only_transport(self, like: Any) -> Any:
        """Our transport for calls that may reach global addresses only (the module): the
        library's own, with a network backend that checks every address, and ``like``'s TLS
        context when its pool has one."""
        with self._lock:
            if self._global_only is None:
                context = getattr(getattr(like, "_pool", None), "_ssl_context", None)
                transport = self._library.HTTPTransport(
                    verify=context if context is not None else True, trust_env=False
                )
                pool = transport._pool
                core = import_module(type(pool).__module__.split(".")[0])
                pool._network_backend = _GlobalOnly(pool._network_backend, core)
                self._global_only = transport
            return self._global_only


def _rebuilt(name: str) -> HttpxHTTP:
    return HttpxHTTP(import_module(name))


def _stricter(theirs: Any, limits: Limits) -> dict[str, float]:
    """httpx's timeout extension: each of the client's timeouts (``None``: none), or ours
    where ours is shorter (connecting and waiting for the pool: ``limits.connect``; reading
    and writing: ``limits.read``)."""

    def least(their: float | None, ours: float) -> float:
        return ours if their is None else min(their, ours)

    return {
        "connect": least(theirs.connect, limits.connect),
        "read": least(theirs.read, limits.read),
        "write": least(theirs.write, limits.read),
        "pool": least(theirs.pool, limits.connect),
    }


def _check_name(url: Any) -> None:
    """:data:`LOCAL` unless the name of ``url`` resolves to global addresses only (or not at
    all): the check before a call through a transport of the caller's own."""
    host = url.host
    if not host:
        return
    try:
        global_addresses(host, url.port or (443 if url.scheme == "https" else 80))
    except NotGlobal as exc:
        raise TransportFailure(LOCAL, shown(exc.address, 60)) from None
    except (socket.gaierror, UnicodeError):
        return


def _failure(library: ModuleType, exc: BaseException) -> TransportFailure:
    """What ``exc``, raised by a transport, is as a :class:`TransportFailure`: the class name
    only, never the message (it may quote the request)."""
    name = type(exc).__name__
    if isinstance(exc, NotGlobal):
        return TransportFailure(LOCAL, shown(exc.address, 60))
    if isinstance(exc, (library.ConnectError, library.ConnectTimeout)):
        return TransportFailure(UNREACHABLE, name)  # nothing was sent
    if isinstance(exc, (library.TimeoutException, TimeoutError)):
        return TransportFailure(TIMED_OUT, name)
    # A dropped connection (RemoteProtocolError: closed before the answer) as requests says it.
    if isinstance(exc, (library.NetworkError, library.RemoteProtocolError, OSError)):
        return TransportFailure(UNREACHABLE, name)
    return TransportFailure(FAILED, name)


def _answer(response: Any, body: bytes, request: Any) -> ProviderAnswer:
    return ProviderAnswer(
        response.status_code,
        {name.lower(): value for name, value in response.headers.items()},
        body,
        str(request.url),
    )


def _exchange(
    library: ModuleType, transport: Any, request: Any, limits: Limits, ends: float
) -> ProviderAnswer:
    """One call through a synchronous transport, on :func:`within_deadline`'s thread."""
    failure: TransportFailure | None = None
    try:
        response = transport.handle_request(request)
        try:
            body = BoundedBody(response.headers.get("Content-Encoding", ""), limits, ends)
            if limits.max_bytes:
                for chunk in response.stream:
                    body.add(chunk)
            return _answer(response, body.finish(), request)
        finally:
            response.close()
    except TransportFailure:
        raise
    except Exception as exc:  # the transport's own: only its class name is kept
        failure = _failure(library, exc)
    raise failure  # outside the handler: nothing the library held hangs off it


def _on_the_loop(
    library: ModuleType, transport: Any, request: Any, limits: Limits
) -> ProviderAnswer:
    """One call through an ``AsyncClient``'s transport, run on its event loop from the worker
    thread anyio started for the lifecycle (see the module)."""
    import anyio
    import anyio.from_thread

    async def call() -> ProviderAnswer:
        ends = time.monotonic() + limits.deadline
        failure: TransportFailure | None = None
        try:
            with anyio.fail_after(limits.deadline):
                response = await transport.handle_async_request(request)
                try:
                    body = BoundedBody(response.headers.get("Content-Encoding", ""), limits, ends)
                    if limits.max_bytes:
                        async for chunk in response.stream:
                            body.add(chunk)
                    return _answer(response, body.finish(), request)
                finally:
                    await response.aclose()
        except TransportFailure:
            raise
        except TimeoutError:
            failure = TransportFailure(TIMED_OUT, late(limits))
        except Exception as exc:  # the transport's own: only its class name is kept
            failure = _failure(library, exc)
        raise failure

    failure: TransportFailure | None = None
    try:
        return anyio.from_thread.run(call)
    except TransportFailure as exc:
        failure = TransportFailure(exc.kind, exc.cause)
    except BaseException as exc:  # no loop to run it on any more (it ended or cancels its
        # tasks on the way out), or not anyio's thread: an answer for the lifecycle all the same
        failure = TransportFailure(UNREACHABLE, type(exc).__name__)
    raise failure


class _GlobalOnly:
    """An httpcore (or httpcore2) network backend around ``inner`` whose every TCP connection
    goes to global addresses only: the name is resolved once, refused unless every address is
    global (:func:`.urls.global_addresses`), and ``inner`` is handed the addresses, never the
    name, so it resolves nothing again. TLS still verifies the name: httpcore passes the
    origin's host to ``start_tls``."""

    def __init__(self, inner: Any, core: ModuleType) -> None:
        self._inner = inner
        self._core = core

    def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        try:
            addresses = global_addresses(host, port)
        except (socket.gaierror, UnicodeError) as exc:  # as httpcore says it: nothing was sent
            raise self._core.ConnectError(type(exc).__name__) from None
        failure: Exception | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(address, port, *args, **kwargs)
            except self._core.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
        raise NotGlobal("unix socket", "a unix socket")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)
