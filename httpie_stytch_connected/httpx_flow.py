"""The auth flow of the ``httpx`` and ``httpx2`` classes, written once for both libraries.

httpx2 is httpx's maintained continuation (the ``mcp`` SDK's HTTP client) with the same ``Auth``
generator API, the same request streams and the same httpcore ``trace`` extension, so one flow
serves both: :class:`HttpxFamilyAuth` reaches its library only through the module its subclass
names in ``_library`` (``httpx`` in :mod:`.httpx`, ``httpx2`` in :mod:`.httpx2`), and this module
imports neither, so an httpx user never loads httpx2 and the other way round.

The classes take exactly the arguments of the ``requests`` classes of the same names and share
everything with them: settings and pickling (:class:`~.auth.ManagedTokens`), the token lifecycle
(:class:`~.manager.TokenManager`: one login, one refresh across threads and processes) and the
401 and redirect rules (:mod:`.bearer`). One auth flow (:meth:`HttpxFamilyAuth._flow`) is written
once for every client; it yields either a request to send or a blocking call into the lifecycle.

``Client`` makes that call on the calling thread. ``AsyncClient`` takes a token that is already
in memory on the event loop (no I/O) and makes every other call on a worker thread
(``anyio.to_thread``, so asyncio and trio both work): a refresh or a browser login never stalls
other tasks. We run the blocking core in a thread rather than writing a second, async one
because the core's guarantees hang on finishing what it starts: once the token endpoint has
rotated the refresh token, the new set must be stored, and that must survive the caller's
cancellation. Cancelling a task that awaits a refresh returns at once; the worker thread
completes the refresh, stores the whole set and releases the locks, and the next request uses
its result. What a cancelled task had not started yet is not started: its thread leaves the
queue for another request's refresh or sign-in within a quarter second and starts no attempt
of its own, so cancelled retries around a sign-in nobody finishes open no second browser
window and leave no threads behind. The worker threads come from a limiter of our own per
event loop, never from anyio's process-wide default one, so tasks waiting on a refresh or a
sign-in take no thread from the rest of the application. Concurrent tasks each wait on a
worker thread for the same per-key lock, so 32 tasks still make one refresh.

Provider calls (discovery, sign-in, refresh, ...) go through the client sending the request,
never through ``requests`` (:mod:`.oauth.httpx_calls`): httpx hands an ``Auth`` only the
request, so each blocking step takes the client from the frame driving the flow
(``_send_handling_auth``, :func:`.oauth.httpx_calls.client_driving`) and runs with it
(``HttpxHTTP.serving``). Under ``AsyncClient`` the step's thread runs each provider call back
on the event loop through the client's async transport, as a task of its own, so a cancelled
request still leaves its refresh to complete and be stored. A ``session=`` given sends them
through that ``requests.Session`` instead.

The ``hosts`` setting applies as in requests: any other host gets no token and no sign-in. A
401 to our own token renews it, and the request is resent once when its body can be replayed
as it is: bytes, text, form or JSON data, a file that can seek back, or a ``files=`` upload
whose parts are in memory or files that can seek. A generator or other stream gets the 401
back, with the same one-line note (the next request carries the renewed token); nothing is
buffered to make a resend possible (``requires_request_body`` stays False).
httpx drops the Authorization header when a redirect leaves the origin, and the 401 rule only
counts requests that carried it.

Redirects inside one origin (zero configuration, where a token belongs to one resource): httpx
follows them inside one step of the auth flow (``Client._send_handling_redirects``), copying
the Authorization header to every hop of the same origin, so the flow never sees the hops.
Each hop does carry the request's extensions, and httpcore calls the documented ``trace``
extension with the outgoing request just before it writes the headers. So the flow puts a
:class:`_Guard` there: on every hop it judges the URL about to be written (the request target
as it goes on the wire, or the absolute form sent to a proxy) with the one redirect rule
(:func:`.bearer.withhold`) and takes our header off a hop that leaves the resource. A
``trace`` the caller set is kept and called after ours, so it sees what is sent. A request
built from ``response.next_request`` carries the guard too, and the flow itself takes our
header off when that request lies outside the resource, whatever the transport. Whatever the
hops, only an answer from inside the resource to a request that carried our token renews it,
steps it up or is resent (:func:`.bearer.answers_for`), and one request the caller made (its
hops and ``next_request`` hops included) opens at most one step-up sign-in.

Limits: the guard acts where httpcore writes the request (``httpx.HTTPTransport`` and
``AsyncHTTPTransport``, the defaults, through proxies too). A custom transport that does not
call ``trace`` (``MockTransport``, WSGI/ASGI transports, other libraries) gets the token on a
same-origin hop that ``follow_redirects=True`` takes outside the resource, as httpx itself
would send it; follow redirects by hand (``next_request``) there, where the flow withholds it.

A response hook of the caller's runs before the flow sees the answer, so httpx's documented
``event_hooks={"response": [raise_for_status]}`` turns a 401 to our token into the caller's
error first. That request fails as the hook says; the flow notes the 401 (``Client`` closes
the flow with the hook's error as context; under ``AsyncClient`` the same ``trace``, on every
request that carries our token, saw the status), and the next request renews the token before
sending it rather than send the refused one again. Under ``AsyncClient`` that note, too, needs
a transport that calls ``trace``.
"""

from __future__ import annotations

import functools
import hashlib
import sys
import threading
from collections.abc import AsyncGenerator, Callable, Generator, MutableMapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, Union, cast

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar

from .errors import TokenEndpointError
from .lifecycle.manager import on_behalf_of
from .managed import NOT_RESENT, ManagedTokens
from .oauth.bearer import authorization, rejected, withhold
from .oauth.httpx_calls import HttpxHTTP, client_driving

if TYPE_CHECKING:
    from types import ModuleType

    from .oauth.provider_calls import HTTP
    from .settings.config import Settings
    from .zero_config.binding import Binding
    from .zero_config.chain import Call, ZeroConfig

__all__ = ["HttpxFamilyAuth", "ProviderErrorBase"]
T = TypeVar("T")


class Headers(Protocol):
    """What the flow uses of ``httpx.Headers`` and ``httpx2.Headers``."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def __contains__(self, key: Any) -> bool: ...

    def __setitem__(self, key: str, value: str) -> None: ...

    def __delitem__(self, key: str) -> None: ...


class Request(Protocol):
    """What the flow uses of ``httpx.Request`` and ``httpx2.Request``."""

    url: Any
    headers: Any
    stream: Any
    extensions: MutableMapping[str, Any]


class Response(Protocol):
    """What the flow uses of ``httpx.Response`` and ``httpx2.Response``."""

    status_code: int
    headers: Any

    @property
    def request(self) -> Request: ...


#: What the flow asks its driver for: send this request, or make this blocking call and send
#: its result back.
_Step = Union[Request, Callable[[], Any]]
_Flow = Generator[_Step, Any, T]


class ProviderErrorBase(TokenEndpointError):
    """A :class:`~.errors.TokenEndpointError` raised from an httpx or httpx2 request: each face
    derives one that is also its library's ``RequestError``, so ``except httpx.HTTPError``
    catches an unreachable or refusing provider as it catches an unreachable API, just as the
    requests classes' errors are ``requests.RequestException`` (which these are not: an httpx
    user's errors need no ``requests``). Same words, same fields."""

    @classmethod
    def of(cls, error: TokenEndpointError, request: object) -> ProviderErrorBase:
        """``error`` as this class, about ``request`` (the library's ``exc.request``): made of
        its words and fields only, so nothing ``error`` reaches (its context, its traceback's
        frames) hangs off the new one."""
        new = cls.like(error)
        # The library's HTTPError.__init__ is not reached (OSError's ends the chain); its
        # ``request`` property's setter keeps the request.
        setattr(new, "request", request)  # noqa: B010 - the library's property, not requests'
        return new


class HttpxFamilyAuth(ManagedTokens):
    """The flow of :class:`.httpx.OAuth2PKCEAuth` and :class:`.httpx2.OAuth2PKCEAuth`, which
    add their library's ``Auth`` base and name the library in ``_library``. The library's two
    entry points, :meth:`sync_auth_flow` (``Client``) and :meth:`async_auth_flow`
    (``AsyncClient``), are here too: listed before the library's ``Auth`` among a face's bases,
    they override its defaults, so a face holds nothing but its library and its docstrings."""

    #: ``httpx`` or ``httpx2``, set by the subclass: where the flow finds ``Request`` and
    #: ``ByteStream``.
    _library: ModuleType

    #: The face's :class:`ProviderErrorBase` subclass that is also its library's
    #: ``RequestError``.
    _provider_error: type[ProviderErrorBase]

    def sync_auth_flow(self, request: Any) -> Generator[Any, Any, None]:
        flow = self._flow(request, asynchronous=False)
        step = _advance(flow, None)
        while step is not None:
            if isinstance(step, self._library.Request):
                try:
                    reply = yield step
                except GeneratorExit:  # the client gave up on the flow: let it see why
                    flow.close()
                    raise
            else:
                failure: TokenEndpointError | None = None
                client = client_driving(sys._getframe(1), self._library)
                try:
                    reply = self._through(client, cast("Callable[[], Any]", step))
                except TokenEndpointError as exc:
                    failure = exc
                if failure is not None:  # raised outside the handler: no context to reach
                    raise self._provider_error.of(failure, self._shown(request)) from None
            step = _advance(flow, reply)

    async def async_auth_flow(self, request: Any) -> AsyncGenerator[Any, Any]:
        flow = self._flow(request, asynchronous=True)
        step = _advance(flow, None)
        while step is not None:
            if isinstance(step, self._library.Request):
                try:
                    reply: object = yield step
                except GeneratorExit:  # the client gave up on the flow: let it see why
                    flow.close()
                    raise
            else:
                failure: TokenEndpointError | None = None
                client = client_driving(sys._getframe(1), self._library)
                call = functools.partial(self._through, client, cast("Callable[[], Any]", step))
                try:
                    reply = await _on_our_thread(call)
                except TokenEndpointError as exc:
                    failure = exc
                if failure is not None:  # raised outside the handler: no context to reach
                    raise self._provider_error.of(failure, self._shown(request)) from None
            step = _advance(flow, reply)

    def _assemble(self, settings: Settings, *, session: HTTP = None, **parts: Any) -> None:
        """As :meth:`.ManagedTokens._assemble`; provider calls go through the caller's client
        (:class:`.httpx_calls.HttpxHTTP`) unless a ``session`` was given."""
        calls = HttpxHTTP(self._library) if session is None else session
        super()._assemble(settings, session=calls, **parts)

    def _through(self, client: Any, step: Callable[[], T]) -> T:
        """``step``, a blocking call into the lifecycle, its provider calls made through
        ``client`` (the one sending the request; None: not known)."""
        calls = self._session
        if not isinstance(calls, HttpxHTTP):
            return step()
        with calls.serving(client):
            return step()

    def _shown(self, request: Any) -> Any:
        """``request`` as the error about it holds it (``exc.request``): a new request with its
        method, URL and headers, but not the Authorization header (the token the API may just
        have refused), the extensions (the redirect guard, which holds that token) or the
        body."""
        headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"authorization"]
        return self._library.Request(request.method, request.url, headers=headers)

    def _flow(self, request: Request, *, asynchronous: bool) -> _Flow[None]:
        guard = _Guard.of(request)  # a hop of an earlier request (``next_request``)
        if guard is not None:
            guard.judge(str(request.url), request.headers)
        if not self.sends_token_to(str(request.url)):
            yield request  # not an API this token belongs to: no token, no sign-in
            return
        byte_stream = self._library.ByteStream
        if self._zero is not None:
            yield from _zero_config_flow(self._zero, request, guard, asynchronous, byte_stream)
            return
        manager = self._manager  # built on a worker thread the first time (imports, keyring)
        token = manager.access_token_in_memory() if manager is not None else None
        if token is None:
            token = yield self._access_token
        if refused_unseen(token):  # its 401 went to the caller's hook, not to us: renew now
            token = yield functools.partial(self.manager.access_token, rejected=token)
        request.headers["Authorization"] = authorization(token)
        # AsyncClient only: for Client, the hook's error reaches the flow itself (_sent), and a
        # trace on every request would cost the warm path a few per cent.
        watch = _Guard.install(request, None, token, None, True) if asynchronous else None
        rewind = _rewinder(request.stream, byte_stream)
        response: Response = yield from _sent(request, token, watch)
        sent = response.request  # the last hop after any redirects
        header = sent.headers.get("Authorization")
        if response.status_code == 403:
            challenge = response.headers.get("WWW-Authenticate")
            yield functools.partial(
                self.manager.after_forbidden, str(sent.url), header, token, challenge
            )
        if not rejected(response.status_code, header, token):
            return
        renewed = yield functools.partial(self.manager.access_token, rejected=token)
        yield from _resend(request, response, rewind, renewed, byte_stream, self.manager.notify)

    def _access_token(self) -> str:
        return self.manager.access_token()


def _zero_config_flow(
    zero: ZeroConfig,
    request: Request,
    guard: _Guard | None,
    asynchronous: bool,
    byte_stream: type,
) -> _Flow[None]:
    """No provider configured: the rules of :class:`.ZeroConfig` (a known API gets its own
    token, an unknown one goes out bare and its 401 starts discovery, a 403
    ``insufficient_scope`` one step-up sign-in), each decision made on the driver's thread.
    Every request that carries a resource's token carries a :class:`_Guard` for it."""
    from .zero_config.binding import BindingCache
    from .zero_config.chain import Call

    url = str(request.url)
    call = guard.call if guard is not None and guard.call is not None else Call()
    found: tuple[Binding, str] | None = yield functools.partial(zero.token_for, url)
    rewind = _rewinder(request.stream, byte_stream)
    if found is None:
        response: Response = yield request
        if response.status_code != 401:
            return
        sent = response.request
        token = yield functools.partial(
            zero.after_bare,
            BindingCache.origin(url),
            str(sent.url),
            response.status_code,
            "Authorization" in sent.headers,
            response.headers.get("WWW-Authenticate"),
        )
        if token is None:
            return
        binding = zero.binding_for(str(sent.url))  # the one just found: memory, no I/O
        if binding is None:
            return  # not reached: after_bare found and saved it
        _Guard.install(sent, binding.resource, token, call, asynchronous)
        yield from _resend(request, response, rewind, token, byte_stream, zero.notify)
        return
    binding, token = found
    if refused_unseen(token):  # its 401 went to the caller's hook, not to us: renew now
        token = yield functools.partial(zero.access_token, binding, rejected=token)
    request.headers["Authorization"] = authorization(token)
    guard = _Guard.install(request, binding.resource, token, call, asynchronous)
    response = yield from _sent(request, token, guard)
    if response.status_code not in (401, 403):
        return
    # judged on the last hop, which the guard may have sent without our header
    renewed = yield _after_bearer(zero, binding, token, response, call)
    if renewed is None:
        return
    guard.token = renewed  # the resend's own redirect hops are judged for the new token
    second = yield from _resend(request, response, rewind, renewed, byte_stream, zero.notify)
    if second is None or second.status_code != 401:
        return
    # not cured: the API may have moved to another server (once)
    moved = yield _after_bearer(zero, binding, renewed, second, call, resent=True)
    if moved is not None:
        guard.token = moved
        yield from _resend(request, second, rewind, moved, byte_stream, zero.notify)


class _Guard:
    """The ``trace`` extension that keeps one resource's token inside it on every hop httpx
    takes by itself: called by httpcore with each outgoing request just before its headers are
    written, it removes our Authorization header where :func:`.bearer.withhold` says so
    (``resource`` None: a configured provider's token, which httpx itself keeps to its origin).
    It also carries, across the hops of one request the caller made, that request's
    :class:`~.zero_config.chain.Call` (one step-up at most), and notes whether the last hop
    carried our token and what status it was answered: a response hook of the caller's
    (``raise_for_status``) can end the flow before the flow sees that answer (:func:`_sent`).
    Holds no secret in its repr."""

    def __init__(self, resource: str | None, token: str, call: Call | None, previous: Any) -> None:
        self.resource = resource
        self.token = token
        self.call = call
        self.previous = previous  # the caller's own trace, called after ours
        self.carried = False  # the last hop went out with our token
        self.status: int | None = None  # and was answered this

    def __repr__(self) -> str:
        return f"_Guard(resource={self.resource!r})"

    @classmethod
    def of(cls, request: Request) -> _Guard | None:
        trace = request.extensions.get("trace")
        found = getattr(trace, "guard", trace)
        return found if isinstance(found, _Guard) else None

    @classmethod
    def install(
        cls,
        request: Request,
        resource: str | None,
        token: str,
        call: Call | None,
        asynchronous: bool,
    ) -> _Guard:
        existing = cls.of(request)
        previous = request.extensions.get("trace") if existing is None else existing.previous
        guard = cls(resource, token, call, previous)
        request.extensions["trace"] = guard.asynchronous() if asynchronous else guard
        return guard

    def judge(self, url: str, headers: Headers) -> None:
        """Take our header off a request to ``url`` outside the resource (the flow's check on
        a ``next_request``, whatever the transport)."""
        if self.resource is None:
            return
        if withhold(self.resource, self.token, url, headers.get("Authorization")):
            del headers["Authorization"]

    def _on_wire(self, name: str, info: dict[str, Any]) -> None:
        if name.endswith("receive_response_headers.complete"):
            answer = info.get("return_value")
            if isinstance(answer, tuple):  # HTTP/1.1: (version, status, …); HTTP/2: (status, …)
                self.status = next((v for v in answer if isinstance(v, int)), None)
            return
        if not name.endswith("send_request_headers.started"):
            return
        outgoing: Any = info.get("request")
        if outgoing is None:
            return
        url = _wire_url(outgoing.url)
        ours = authorization(self.token)
        self.carried, self.status = False, None
        for item in [h for h in outgoing.headers if h[0].lower() == b"authorization"]:
            value = item[1].decode("latin-1")
            if self.resource is not None and withhold(self.resource, self.token, url, value):
                outgoing.headers.remove(item)
            elif value == ours:
                self.carried = True

    def __call__(self, name: str, info: dict[str, Any]) -> None:
        self._on_wire(name, info)
        if self.previous is not None:
            self.previous(name, info)

    def asynchronous(self) -> Callable[[str, dict[str, Any]], Any]:
        """The same guard for ``AsyncClient``, whose httpcore awaits its ``trace``."""

        async def trace(name: str, info: dict[str, Any]) -> None:
            self._on_wire(name, info)
            if self.previous is not None:
                await self.previous(name, info)

        trace.guard = self  # type: ignore[attr-defined]
        return trace


class WireURL(Protocol):
    """What the guard reads of ``httpcore.URL`` and ``httpcore2.URL``."""

    scheme: bytes
    host: bytes
    port: int | None
    target: bytes


def _wire_url(url: WireURL) -> str:
    """The URL a request written with httpcore's ``url`` goes to: its target as written, which
    through a forwarding proxy is the absolute URL itself."""
    target = url.target.decode("latin-1")
    if not target.startswith("/"):
        return target  # absolute form (a proxy), or "*" / authority form: judged as they are
    host = url.host.decode("latin-1")
    host = f"[{host}]" if ":" in host else host
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme.decode('latin-1')}://{host}{port}{target}"


def _sent(request: Request, token: str, guard: _Guard | None) -> _Flow[Response]:
    """Send ``request`` with ``token`` and return its answer. When the client ends the flow
    instead (a response hook raised on the answer), a 401 to ``token`` is remembered
    (:func:`refused_unseen`), so that the next request renews the token rather than send it
    again. ``Client`` hands the hook's error to the flow's close; ``AsyncClient`` does not,
    and there the ``guard``'s note of the last hop's status says it (a transport that calls
    ``trace``)."""
    try:
        response: Response = yield request
    except GeneratorExit as closing:
        on_wire = guard is not None and guard.carried and guard.status == 401
        if on_wire or _refused_in(closing, token):
            _refused(token)
        raise
    return response


def _after_bearer(
    zero: ZeroConfig,
    binding: Binding,
    token: str,
    response: Response,
    call: Call,
    *,
    resent: bool = False,
) -> Callable[[], str | None]:
    """:meth:`.ZeroConfig.after_bearer` for ``response`` to the request as it was sent, to be
    yielded (it may sign in: the flow runs it off the event loop)."""
    sent = response.request
    return functools.partial(
        zero.after_bearer,
        binding,
        token,
        str(sent.url),
        response.status_code,
        sent.headers.get("Authorization"),
        response.headers.get("WWW-Authenticate"),
        call=call,
        resent=resent,
    )


def _refused_in(closing: BaseException, token: str) -> bool:
    """Whether the error that closed the flow (a few links up ``closing``'s context: the
    driver's own close is one) is an ``HTTPStatusError`` for a 401 to ``token``."""
    error: BaseException | None = closing
    for _ in range(4):
        if error is None:
            return False
        response = getattr(error, "response", None)
        if getattr(response, "status_code", None) == 401:
            sent = getattr(response, "request", None)
            headers = getattr(sent, "headers", None)
            return headers is not None and headers.get("Authorization") == authorization(token)
        error = error.__context__
    return False


def _resend(
    request: Request,
    response: Response,
    rewind: Callable[[], object] | None,
    token: str,
    byte_stream: type,
    notify: Callable[[str], None],
) -> _Flow[Response | None]:
    """Send the request that got ``response`` once more with ``token`` and return the answer;
    when its body cannot be replayed, nothing is sent, ``notify`` says so (:data:`NOT_RESENT`:
    the next request carries the renewed token), in every adapter's words, and None comes
    back."""
    sent = response.request  # the last hop after any redirects
    if sent.stream is not request.stream:  # a 303 turned it into a GET without a body
        rewind = _rewinder(sent.stream, byte_stream)
    if rewind is None:
        notify(NOT_RESENT)
        return None
    rewind()
    sent.headers["Authorization"] = authorization(token)
    again: Response = yield sent
    return again


#: Digests of access tokens an API answered 401 to where the flow could not see it (a response
#: hook raised first), oldest first; at most ``_REFUSED_KEPT``. Digests, not tokens: nothing
#: here is a credential.
_REFUSED: dict[bytes, None] = {}
_REFUSED_KEPT = 256
_REFUSED_LOCK = threading.Lock()


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _refused(token: str) -> None:
    with _REFUSED_LOCK:
        _REFUSED[_digest(token)] = None
        while len(_REFUSED) > _REFUSED_KEPT:
            del _REFUSED[next(iter(_REFUSED))]


def refused_unseen(token: str) -> bool:
    """True once for a token an API answered 401 to while a caller's response hook ended the
    flow (:meth:`_Guard.sent`): the next request renews it, as a 401 the flow saw would."""
    key = _digest(token)
    with _REFUSED_LOCK:
        if key not in _REFUSED:
            return False
        del _REFUSED[key]
        return True


#: The worker threads of this event loop's blocking calls into the lifecycle.
_THREADS: RunVar[anyio.CapacityLimiter] = RunVar("httpie_stytch_connected_threads")
#: At most this many at once per event loop; more tasks wait on the loop for one (they all
#: wait for the same refresh or sign-in anyway).
THREADS_PER_LOOP = 64


def _our_threads() -> anyio.CapacityLimiter:
    """A thread limiter of our own, per event loop, for the blocking calls. anyio's default one
    is the whole process's (40 threads for every ``to_thread`` user, FastAPI's sync endpoints
    included): tasks waiting on a refresh or a sign-in must not hold those, or the rest of the
    application waits as long as they do."""
    try:
        return _THREADS.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(THREADS_PER_LOOP)
        _THREADS.set(limiter)
        return limiter


async def _on_our_thread(call: Callable[[], T]) -> T:
    """``call`` on one of :func:`_our_threads`, for a task that may stop waiting: cancelled, it
    returns at once (``abandon_on_cancel``) and the thread goes on with what it started, but
    a sign-in or refresh that the call has not started yet is not started, and a thread still
    queueing for another request's attempt leaves the queue (:func:`.manager.on_behalf_of`)."""
    waiting = threading.Event()
    waiting.set()

    def run() -> T:
        with on_behalf_of(waiting.is_set):
            return call()

    try:
        return await anyio.to_thread.run_sync(run, abandon_on_cancel=True, limiter=_our_threads())
    finally:
        waiting.clear()  # answered, failed or cancelled: nobody waits for it any more


def _advance(flow: _Flow[None], reply: object) -> _Step | None:
    """The flow's next step after ``reply`` (None starts it); None once it is done."""
    try:
        return flow.send(reply)
    except StopIteration:
        return None


def _rewinder(stream: object, byte_stream: type) -> Callable[[], object] | None:
    """How to put a request body back for one resend, or None when it cannot be replayed
    (``byte_stream``: the library's ``ByteStream``)."""
    if isinstance(stream, byte_stream):  # bytes, text, form or JSON: sent from memory
        return lambda: None
    fields = getattr(stream, "fields", None)  # a MultipartStream: ``files=``
    if isinstance(fields, list):
        # httpx renders each part afresh and seeks each file part back to 0 itself; a part is
        # replayable when it is in memory or a file that can seek.
        return (lambda: None) if all(_replayable_part(f) for f in fields) else None
    # httpx wraps a file (any iterable) in an IteratorByteStream that keeps it as ``_stream``;
    # anything else, or an httpx without that attribute, is simply not replayed.
    source = getattr(stream, "_stream", None)
    try:
        if source is None or not source.seekable():
            return None
        position = source.tell()
    except (AttributeError, OSError, ValueError):
        return None
    return functools.partial(source.seek, position)


def _replayable_part(field: object) -> bool:
    """A multipart part httpx can render twice: a data field, in-memory content, or a file
    that can seek (httpx seeks it to 0 before rendering it)."""
    part = getattr(field, "file", None)
    if part is None or isinstance(part, (str, bytes)):
        return True
    try:
        return bool(part.seekable())
    except (AttributeError, OSError, ValueError):
        return False
