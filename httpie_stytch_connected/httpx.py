"""The ``httpx`` auth classes: one object serves ``httpx.Client`` and ``httpx.AsyncClient``.

``pip install 'httpie-stytch-connected[httpx]'``. Nothing else in the package imports this
module, so ``requests`` and HTTPie users never load httpx.

The classes take exactly the arguments of the ``requests`` classes of the same names and share
everything with them: settings and pickling (:class:`~.auth.ManagedTokens`), the token lifecycle
(:class:`~.manager.TokenManager`: one login, one refresh across threads and processes) and the
401 and redirect rules (:mod:`.bearer`). One auth flow (:meth:`OAuth2PKCEAuth._flow`) is written
once for both clients; it yields either a request to send or a blocking call into the lifecycle.

``Client`` makes that call on the calling thread. ``AsyncClient`` takes a token that is already
in memory on the event loop (no I/O) and makes every other call on a worker thread
(``anyio.to_thread``, so asyncio and trio both work): a refresh or a browser login never stalls
other tasks. We run the blocking core in a thread rather than writing a second, async one
because the core's guarantees hang on finishing what it starts: once the token endpoint has
rotated the refresh token, the new set must be stored, and that must survive the caller's
cancellation. Cancelling a task that awaits a refresh returns at once; the worker thread
completes the refresh, stores the whole set and releases the locks, and the next request uses
its result. Concurrent tasks each wait on a worker thread for the same per-key lock, so 32
tasks still make one refresh.

The ``hosts`` setting applies as in requests: any other host gets no token and no sign-in. A
401 to our own token renews it, and the request is resent once when its body can be replayed
as it is: bytes, text, form or JSON data, or a file that can seek back. A generator or other
stream gets the 401 back, with the same one-line note (the next request carries the renewed
token); nothing is buffered to make a resend possible (``requires_request_body`` stays False).
httpx drops the Authorization header when a redirect leaves the origin, and the 401 rule only
counts requests that carried it.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar, Union

import anyio.to_thread
import httpx

from .managed import NOT_RESENT, ManagedTokens, StytchTokens
from .oauth.bearer import authorization, rejected

if TYPE_CHECKING:
    from .zero_config.binding import Binding
    from .zero_config.chain import ZeroConfig

__all__ = ["OAuth2PKCEAuth", "StytchAuth"]
T = TypeVar("T")

#: What the flow asks its driver for: send this request, or make this blocking call and send
#: its result back.
_Step = Union[httpx.Request, Callable[[], Any]]
_Flow = Generator[_Step, Any, T]


class OAuth2PKCEAuth(ManagedTokens, httpx.Auth):
    """Bearer tokens from an authorization-code + PKCE login against any OAuth 2.0 provider.

    The arguments are those of :class:`httpie_stytch_connected.auth.OAuth2PKCEAuth`. Raises,
    from the request, the same :class:`~.errors.AuthenticationError` subclasses with the same
    messages.
    """

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        flow = self._flow(request)
        step = _advance(flow, None)
        while step is not None:
            reply = (yield step) if isinstance(step, httpx.Request) else step()
            step = _advance(flow, reply)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow = self._flow(request)
        step = _advance(flow, None)
        while step is not None:
            if isinstance(step, httpx.Request):
                reply: object = yield step
            else:
                reply = await anyio.to_thread.run_sync(step, abandon_on_cancel=True)
            step = _advance(flow, reply)

    def _flow(self, request: httpx.Request) -> _Flow[None]:
        if not self.sends_token_to(str(request.url)):
            yield request  # not an API this token belongs to: no token, no sign-in
            return
        if self._zero is not None:
            yield from _zero_config_flow(self._zero, request)
            return
        manager = self._manager  # built on a worker thread the first time (imports, keyring)
        token = manager.access_token_in_memory() if manager is not None else None
        if token is None:
            token = yield self._access_token
        request.headers["Authorization"] = authorization(token)
        rewind = _rewinder(request.stream)
        response: httpx.Response = yield request
        sent = response.request  # the last hop after any redirects
        if not rejected(response.status_code, sent.headers.get("Authorization"), token):
            return
        renewed = yield functools.partial(self.manager.access_token, rejected=token)
        if not (yield from _resend(request, response, rewind, renewed)):
            self.manager.notify(NOT_RESENT)  # the next request carries the renewed token

    def _access_token(self) -> str:
        return self.manager.access_token()


class StytchAuth(StytchTokens, OAuth2PKCEAuth):
    """Stytch Connected Apps for httpx: ``StytchAuth(project_domain=, client_id=,
    authorize_url=)``, each falling back to its ``STYTCH_*`` environment variable; the same
    arguments as :class:`httpie_stytch_connected.auth.StytchAuth`."""


def _zero_config_flow(zero: ZeroConfig, request: httpx.Request) -> _Flow[None]:
    """No provider configured: the rules of :class:`.ZeroConfig` (a known API gets its own
    token, an unknown one goes out bare and its 401 starts discovery, a 403
    ``insufficient_scope`` one step-up sign-in), each decision made on the driver's thread."""
    from .zero_config.binding import BindingCache

    url = str(request.url)
    found: tuple[Binding, str] | None = yield functools.partial(zero.token_for, url)
    rewind = _rewinder(request.stream)
    if found is None:
        response: httpx.Response = yield request
        if response.status_code != 401:
            return
        sent = response.request
        renewed = functools.partial(
            zero.after_bare,
            BindingCache.origin(url),
            str(sent.url),
            response.status_code,
            "Authorization" in sent.headers,
        )
    else:
        binding, token = found
        request.headers["Authorization"] = authorization(token)
        response = yield request
        if response.status_code not in (401, 403):
            return
        renewed = functools.partial(
            zero.after_bearer,
            binding,
            token,
            response.status_code,
            response.request.headers.get("Authorization"),
        )
    token_or_none = yield functools.partial(renewed, response.headers.get("WWW-Authenticate"))
    if token_or_none is not None:
        yield from _resend(request, response, rewind, token_or_none)


def _resend(
    request: httpx.Request,
    response: httpx.Response,
    rewind: Callable[[], object] | None,
    token: str,
) -> _Flow[bool]:
    """Send the request that got ``response`` once more with ``token``; False when its body
    cannot be replayed (nothing is sent)."""
    sent = response.request  # the last hop after any redirects
    if sent.stream is not request.stream:  # a 303 turned it into a GET without a body
        rewind = _rewinder(sent.stream)
    if rewind is None:
        return False
    rewind()
    sent.headers["Authorization"] = authorization(token)
    yield sent
    return True


def _advance(flow: _Flow[None], reply: object) -> _Step | None:
    """The flow's next step after ``reply`` (None starts it); None once it is done."""
    try:
        return flow.send(reply)
    except StopIteration:
        return None


def _rewinder(stream: object) -> Callable[[], object] | None:
    """How to put a request body back for one resend, or None when it cannot be replayed."""
    if isinstance(stream, httpx.ByteStream):  # bytes, text, form or JSON: sent from memory
        return lambda: None
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
