"""The one way to call a provider: token, revocation, discovery, resource metadata, registration,
keys, userinfo, the reachability probe, and an API's bare challenge.

Every such call goes through :func:`call`, and so obeys one rule: it never sends
``session.auth`` (only the headers given here), never follows a redirect (a 3xx is the answer),
reads at most the size its kind allows (:data:`LIMITS`; more is one :class:`TokenEndpointError`
naming the host, and the process never holds more than that), and ends within its kind's
deadline, whatever a server drip-feeds, on top of the connect and per-read timeouts.

A call to an endpoint an API named, when that API is not on the person's machine, reaches only
global addresses (:class:`RequestsHTTP` with ``own``): the name is resolved once at connection
time, every address it gives is checked (:func:`.urls.global_addresses`) and the socket is
connected to those very addresses, so neither a literal (``127.0.0.1``, ``2130706433``,
``[::ffff:10.0.0.1]``) nor a name that resolves there, nor a DNS answer that changes between
the check and the connect, lets an API send the tool to the person's own machine or network.

The HTTP library is a seam: :class:`ProviderHTTP` is what an adapter serves with its own library,
:class:`RequestsHTTP` the implementation on a ``requests.Session`` (imported only when used),
:class:`.httpx_calls.HttpxHTTP` the one on an httpx or httpx2 client, and
:class:`ProviderAnswer` what every caller reads, so nothing else in the protocol layer needs to
know which library carried the call.
"""

from __future__ import annotations

import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol, Union, cast, runtime_checkable

from ..errors import TokenEndpointError
from ..waits import wait_in_slices
from .bearer import authorization
from .untrusted import shown
from .urls import NotGlobal, global_addresses, host_of

if TYPE_CHECKING:
    import requests
    from requests.auth import AuthBase


@dataclass(frozen=True)
class Limits:
    """How long and how much one call may take: ``connect`` and ``read`` (seconds, per socket
    operation), ``deadline`` (seconds for the whole call, wall clock, connect to last byte) and
    ``max_bytes`` of body (0: the body is not wanted and not read)."""

    connect: float
    read: float
    deadline: float
    max_bytes: int
    #: What such an answer is, for messages ("no token response needs ...").
    what: str = field(default="provider answer", compare=False)


_KIB = 1024
_MIB = 1024 * _KIB

#: Kinds of call, the keys of :data:`LIMITS`.
TOKEN = "token"
REVOCATION = "revocation"
DISCOVERY = "discovery"
RESOURCE_METADATA = "resource metadata"
REGISTRATION = "registration"
JWKS = "jwks"
USERINFO = "userinfo"
REACHABILITY = "reachability"
CHALLENGE = "challenge"

#: The one table of timeouts and sizes. The deadline is the documented bound, connect + read:
#: a server that answers a byte at a time inside the read timeout is still cut there.
LIMITS: dict[str, Limits] = {
    TOKEN: Limits(5.0, 30.0, 35.0, 256 * _KIB, "token response"),
    REVOCATION: Limits(5.0, 30.0, 35.0, 64 * _KIB, "revocation answer"),
    DISCOVERY: Limits(5.0, 30.0, 35.0, _MIB, "metadata document"),
    RESOURCE_METADATA: Limits(5.0, 30.0, 35.0, _MIB, "metadata document"),
    REGISTRATION: Limits(5.0, 30.0, 35.0, _MIB, "registration answer"),
    JWKS: Limits(5.0, 15.0, 20.0, 256 * _KIB, "key set"),
    USERINFO: Limits(5.0, 15.0, 20.0, 256 * _KIB, "userinfo answer"),
    # Any answer at all will do: the body is never read.
    REACHABILITY: Limits(5.0, 10.0, 15.0, 0, "answer"),
    CHALLENGE: Limits(5.0, 30.0, 35.0, 0, "answer"),
}


def limits_for(kind: str, timeout: tuple[float, float] | None = None) -> Limits:
    """``kind``'s limits, read from :data:`LIMITS` now; ``timeout`` (connect, read) replaces its
    timeouts, and the deadline becomes their sum."""
    limits = LIMITS[kind]
    if timeout is None:
        return limits
    connect, read = timeout
    return replace(limits, connect=connect, read=read, deadline=connect + read)


@dataclass(frozen=True)
class ProviderRequest:
    """One call to a provider, as :class:`ProviderHTTP` sends it: exactly these ``headers``,
    a ``form`` (``application/x-www-form-urlencoded``) or ``json`` body or none, under
    ``limits``."""

    method: str
    url: str
    headers: Mapping[str, str]
    limits: Limits
    form: Mapping[str, str] | None = None
    json: Mapping[str, Any] | None = None

    def __repr__(self) -> str:  # the headers and the body may hold secrets
        return f"ProviderRequest({self.method} {host_of(self.url)!r})"

    @property
    def body(self) -> dict[str, Any]:
        """The body as ``requests`` and ``httpx`` take it: ``data=`` and ``json=`` keywords,
        fresh dictionaries (a library may change what it is given)."""
        return {
            "data": dict(self.form) if self.form is not None else None,
            "json": dict(self.json) if self.json is not None else None,
        }


@dataclass(frozen=True)
class ProviderAnswer:
    """What came back, whatever library carried it. ``headers`` names are lower-case; ``url``
    is the URL that answered (never another: redirects are not followed)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str

    def __repr__(self) -> str:  # the body may hold tokens
        return f"ProviderAnswer(status={self.status}, url={host_of(self.url)!r})"


#: What a :class:`ProviderHTTP` raises, in :attr:`TransportFailure.kind`.
UNREACHABLE = "unreachable"  # refused, reset, DNS, TLS, connect timeout: nothing came back
TIMED_OUT = "timed out"  # a read timeout or the deadline
TOO_LARGE = "too large"  # more than max_bytes of body
FAILED = "failed"  # anything else the library refused (a malformed answer, ...)
LOCAL = "local"  # the name leads to this machine or a private network: nothing was sent


class TransportFailure(Exception):
    """A call that produced no answer. ``cause`` is shown to people in parentheses: the
    library's exception class name ("cannot reach host (ConnectTimeout)"), never its message,
    which may quote the request; or for the limits, "no answer within 35 s", "more than
    1024 KiB"."""

    def __init__(self, kind: str, cause: str) -> None:
        super().__init__(kind, cause)
        self.kind = kind
        self.cause = cause


class ProviderHTTP(Protocol):
    """What an adapter implements to carry provider calls with its own HTTP library.

    ``send`` sends exactly ``headers`` (no auth of the library's or session's own, no cookie
    jar's credentials beyond what the library always sends), a form-encoded ``form`` or a JSON
    ``json`` body (at most one), never follows a redirect, reads at most ``limits.max_bytes`` of
    body (decoding any Content-Encoding within that bound; none at all when it is 0) and returns
    or raises within ``limits.deadline`` seconds. It raises only :class:`TransportFailure`.

    Zero configuration confines the calls for an API that is not on the person's machine
    (:class:`ConfinableHTTP`, ``confine``): an implementation serving those calls checks
    addresses where it connects, raising :data:`LOCAL`, as :class:`RequestsHTTP` and
    :class:`.httpx_calls.HttpxHTTP` do.
    """

    def send(self, request: ProviderRequest) -> ProviderAnswer: ...


@runtime_checkable
class ConfinableHTTP(ProviderHTTP, Protocol):
    """A :class:`ProviderHTTP` that zero configuration can confine: ``confine(own)`` is the
    same calls for URLs an API named, the API not on this machine, reaching global addresses
    only (checked where the connection is made) but for URLs for which ``own`` is True."""

    @property
    def confined(self) -> bool:
        """True when the URLs it carries were named by an API that is not on this machine."""

    def confine(self, own: Callable[[str], bool]) -> ConfinableHTTP: ...


#: Either a seam implementation, or a ``requests.Session`` (wrapped in :class:`RequestsHTTP`).
HTTP = Union[ProviderHTTP, "requests.Session", None]


def provider_http(http: HTTP) -> ProviderHTTP:
    """The seam for ``http``: a ``requests.Session`` (or None: a new one, made when first used)
    is wrapped in :class:`RequestsHTTP`; anything else is already a :class:`ProviderHTTP`."""
    requests = sys.modules.get("requests")  # not imported: ``http`` cannot be a Session
    if http is None or (requests is not None and isinstance(http, requests.Session)):
        return RequestsHTTP(http)
    return cast("ProviderHTTP", http)


def call(
    http: HTTP,
    method: str,
    url: str,
    action: str,
    *,
    kind: str,
    form: Mapping[str, str] | None = None,
    json: Mapping[str, Any] | None = None,
    bearer: str | None = None,
    limits: Limits | None = None,
    failed: Callable[[TransportFailure], Exception] | None = None,
    headers: Mapping[str, str] | None = None,
) -> ProviderAnswer:
    """Every call to a provider: ``action`` says what it was for ("refresh the access token"),
    ``kind`` picks its :data:`LIMITS` (``limits`` replaces them), ``bearer`` is an access token
    to send as ``Authorization`` (userinfo), ``headers`` more headers (client
    authentication). Any answer is returned, whatever its status; no
    answer is a :class:`TokenEndpointError` saying what could not be done (or what ``failed``
    makes of the :class:`TransportFailure`, but for a :data:`LOCAL` refusal), raised outside
    any ``except`` block so that nothing the library held (our request, its body) hangs off
    it.

    A timeout is worth retrying (``retryable``) except on the token endpoint, where the server
    may have rotated a refresh token before going quiet."""
    sent = {"Accept": "application/json", "Accept-Encoding": "identity", **(headers or {})}
    if bearer is not None:
        sent["Authorization"] = authorization(bearer)
    bounds = limits or limits_for(kind)
    failure: TransportFailure | None = None
    try:
        request = ProviderRequest(method, url, sent, bounds, form, json)
        return provider_http(http).send(request)
    except TransportFailure as exc:
        failure = TransportFailure(exc.kind, exc.cause)  # a fresh one: no traceback, no context
    if failed is not None and failure.kind != LOCAL:  # a refusal is said alike for every call
        raise failed(failure)
    raise _error(failure, url, action, bounds, kind)


def _error(
    failure: TransportFailure, url: str, action: str, limits: Limits, kind: str
) -> TokenEndpointError:
    host = host_of(url)
    if failure.kind == LOCAL:
        return TokenEndpointError(
            f"Could not {action}: {shown(url)} leads to {failure.cause}, an address on this "
            "machine or a private network that zero configuration may not reach here "
            "(STYTCH_LOCAL_HOSTS, when set, replaces the loopback default), "
            "so nothing was sent there; if that server is yours, add its host to "
            "STYTCH_LOCAL_HOSTS, or configure the provider (STYTCH_ISSUER)."
        )
    if failure.kind == TOO_LARGE:
        return TokenEndpointError(
            f"Could not {action}: {host} answered with more than {limits.max_bytes // _KIB} KiB, "
            f"which no {limits.what} needs; tell the server's owner."
        )
    if failure.kind == TIMED_OUT:
        return TokenEndpointError(
            f"Could not {action}: {host} did not answer in time; try again later.",
            retryable=kind != TOKEN,
        )
    if failure.kind == UNREACHABLE:
        # Usually nothing reached the server; when a reset came after a refresh was processed,
        # the retry finds the token rotated, and the manager re-reads the store.
        return TokenEndpointError(
            f"Could not {action}: cannot reach {host} ({failure.cause}); check your network "
            "connection and try again.",
            retryable=True,
        )
    return TokenEndpointError(
        f"Could not {action}: the request to {host} failed ({failure.cause})."
    )


# -- requests ------------------------------------------------------------------------------------

#: Bytes read from the socket at a time.
_CHUNK = 64 * _KIB


def _no_auth() -> AuthBase:
    from requests.auth import AuthBase

    class _NoAuth(AuthBase):
        """Sends nothing: a session passed in may carry this package's own auth (or any other)
        as ``session.auth``, which must never reach the provider, and ours would recurse."""

        def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
            return r

    return _NoAuth()


class RequestsHTTP:
    """:class:`ProviderHTTP` on a ``requests.Session`` (its proxies, CA bundle, adapters; a new
    session when None). The call runs on a worker thread so that the caller gets its answer or
    its :data:`TIMED_OUT` at the deadline even while a server drip-feeds the status line or
    headers; a worker left behind stops at its next read.

    With ``own``, the URLs were named by an API that is not on the person's machine: a call to
    a URL for which ``own(url)`` is False (a server the person did not declare theirs) goes
    through a session of its own whose connections reach global addresses only
    (:func:`_global_only_session`; its own connection pool too, so no connection opened for
    the person's own servers is ever reused for it), and is :data:`LOCAL` otherwise."""

    def __init__(
        self,
        session: requests.Session | None = None,
        *,
        own: Callable[[str], bool] | None = None,
    ) -> None:
        self._session = session
        self._own = own
        self._confined: requests.Session | None = None

    @property
    def confined(self) -> bool:
        """True when the URLs it carries were named by an API that is not on this machine."""
        return self._own is not None

    def session_for(self, url: str) -> requests.Session:
        """The session a call to ``url`` goes through (see the class)."""
        if self._own is None or self._own(url):
            return self.session
        if self._confined is None:
            self._confined = _global_only_session(self.session)
        return self._confined

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

    def __repr__(self) -> str:
        return "RequestsHTTP()"

    def send(self, request: ProviderRequest) -> ProviderAnswer:
        session = self.session_for(request.url)
        return within_deadline(request.limits, lambda ends: _exchange(session, request, ends))

    def confine(self, own: Callable[[str], bool]) -> RequestsHTTP:
        """These calls for URLs an API named, the API not on this machine (see the class)."""
        return RequestsHTTP(self._session, own=own)


def within_deadline(limits: Limits, work: Callable[[float], ProviderAnswer]) -> ProviderAnswer:
    """``work(ends)`` (``ends``: the deadline on :func:`time.monotonic`'s clock) on a worker
    thread, so that the caller gets its answer or its :data:`TIMED_OUT` at
    ``limits.deadline`` even while a server drip-feeds the status line or headers; a worker
    left behind stops at its next read. Raises only :class:`TransportFailure`."""
    ends = time.monotonic() + limits.deadline
    done = threading.Event()
    outcome: list[ProviderAnswer | TransportFailure] = []

    def run() -> None:
        try:
            outcome.append(work(ends))
        except TransportFailure as exc:
            outcome.append(TransportFailure(exc.kind, exc.cause))
        except BaseException as exc:  # a bug or an interpreter exit: still an answer
            outcome.append(TransportFailure(FAILED, type(exc).__name__))
        finally:
            done.set()

    threading.Thread(target=run, name="provider-call", daemon=True).start()
    if not wait_in_slices(done.wait, limits.deadline) or not outcome:
        raise TransportFailure(TIMED_OUT, late(limits))
    result = outcome[0]
    if isinstance(result, TransportFailure):
        raise result
    return result


def _exchange(session: requests.Session, request: ProviderRequest, ends: float) -> ProviderAnswer:
    import requests

    limits = request.limits
    failure: TransportFailure | None = None
    try:
        response = session.request(
            request.method,
            request.url,
            headers=dict(request.headers),
            **request.body,
            auth=_no_auth(),  # auth=None would fall back to session.auth
            timeout=(limits.connect, limits.read),
            allow_redirects=False,
            stream=True,
        )
    except NotGlobal as exc:
        failure = TransportFailure(LOCAL, shown(exc.address, 60))
    except requests.ConnectionError as exc:  # ConnectTimeout included: nothing was sent
        failure = TransportFailure(UNREACHABLE, type(exc).__name__)
    except requests.Timeout as exc:
        failure = TransportFailure(TIMED_OUT, type(exc).__name__)
    except requests.RequestException as exc:
        failure = TransportFailure(FAILED, type(exc).__name__)
    if failure is not None:
        raise failure
    try:
        body = _read(response, limits, ends) if limits.max_bytes else b""
    finally:
        response.close()
    return ProviderAnswer(
        response.status_code,
        {name.lower(): value for name, value in response.headers.items()},
        body,
        response.url or request.url,
    )


def _global_only_session(like: requests.Session) -> requests.Session:
    """A session that reaches global addresses only, with ``like``'s CA bundle, client
    certificate, proxies and headers (and nothing of its adapters or cookies)."""
    import requests

    session = requests.Session()
    session.verify, session.cert = like.verify, like.cert
    session.proxies, session.trust_env = dict(like.proxies), like.trust_env
    session.headers.update(like.headers)
    adapter = _global_only_adapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _global_only_adapter() -> requests.adapters.HTTPAdapter:
    """An adapter whose every connection is made by :func:`_connect_global`: the connection
    hook, below any adapter and any library above it. Through a proxy, the proxy is the
    person's own (their settings) and is reached as configured; the name tunnelled to is
    checked the same way, though the proxy resolves it again."""
    import requests.adapters
    import urllib3.connection
    import urllib3.connectionpool

    class Plain(urllib3.connection.HTTPConnection):
        def _new_conn(self) -> Any:
            return _connect_global(self, super()._new_conn)

    class Secure(urllib3.connection.HTTPSConnection):
        def _new_conn(self) -> Any:
            return _connect_global(self, super()._new_conn)

    class PlainPool(urllib3.connectionpool.HTTPConnectionPool):
        ConnectionCls = Plain

    class SecurePool(urllib3.connectionpool.HTTPSConnectionPool):
        ConnectionCls = Secure

    class GlobalOnly(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": PlainPool, "https": SecurePool}

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **kwargs)
            manager.pool_classes_by_scheme = {"http": PlainPool, "https": SecurePool}
            return manager

    return GlobalOnly()


def _connect_global(connection: Any, connect: Callable[[], Any]) -> Any:
    """Resolve the name once, refuse it unless every address is global
    (:func:`.urls.global_addresses`), then connect to the checked addresses in turn: the
    library is handed an address, never the name, so it resolves nothing again. Through a
    proxy (``_tunnel_host``, or a forwarding proxy, whose requests name an http:// URL: only
    loopback hosts pass :func:`.urls.check_endpoint` there) the proxy itself is connected to
    as configured and the target name is checked first."""
    import urllib3.exceptions

    name = connection._dns_host
    target = getattr(connection, "_tunnel_host", None)
    if getattr(connection, "proxy", None) is not None and target is None:
        raise NotGlobal(connection.host, "loopback (plain http)")  # only loopback passes
    if target is not None:
        _resolve_global(connection, target, connection._tunnel_port or connection.port)
        return connect()
    addresses = _resolve_global(connection, name, connection.port)
    failure: Exception | None = None
    for address in addresses:
        connection._dns_host = address
        try:
            return connect()
        except urllib3.exceptions.NewConnectionError as exc:
            failure = exc
        finally:
            connection._dns_host = name
    assert failure is not None
    raise failure


def _resolve_global(connection: Any, name: str, port: int) -> list[str]:
    import socket

    import urllib3.exceptions

    try:
        return global_addresses(name, port)
    except socket.gaierror:  # as the library says it (urllib3 1.26 and 2): nothing was sent
        message = f"Failed to resolve {name!r}"
        raise urllib3.exceptions.NewConnectionError(connection, message) from None


def _read(response: requests.Response, limits: Limits, ends: float) -> bytes:
    """The body, decoded, refusing more than ``limits.max_bytes`` (before or after decoding)
    and stopping at the deadline."""
    import requests
    import urllib3.exceptions

    body = BoundedBody(response.headers.get("Content-Encoding", ""), limits, ends)
    failure: TransportFailure | None = None
    try:
        for chunk in _raw_chunks(response):
            body.add(chunk)
        return body.finish()
    except (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError) as exc:
        failure = TransportFailure(TIMED_OUT, type(exc).__name__)
    except (requests.ConnectionError, urllib3.exceptions.HTTPError, OSError) as exc:
        failure = TransportFailure(UNREACHABLE, type(exc).__name__)
    raise failure


class BoundedBody:
    """A body read chunk by chunk as it came off the wire (only the transfer coding undone):
    decoded here, refusing more than ``limits.max_bytes`` (before or after decoding, as
    :data:`TOO_LARGE`) and anything after ``ends`` (:func:`time.monotonic`, as
    :data:`TIMED_OUT`). Every library's reader feeds one."""

    def __init__(self, encoding: str, limits: Limits, ends: float) -> None:
        self._decoder = _decoder(encoding)
        self._limits = limits
        self._ends = ends
        self._body = bytearray()

    def add(self, chunk: bytes) -> None:
        limits, body = self._limits, self._body
        try:
            if self._decoder is not None:
                chunk = self._decoder.decompress(chunk, limits.max_bytes + 1 - len(body))
        except zlib.error:
            raise TransportFailure(FAILED, "ContentDecodingError") from None
        body += chunk
        if len(body) > limits.max_bytes:
            raise TransportFailure(TOO_LARGE, _large(limits))
        if time.monotonic() > self._ends:
            raise TransportFailure(TIMED_OUT, late(limits))

    def finish(self) -> bytes:
        """The whole body, once the last chunk is in."""
        limits, body = self._limits, self._body
        if self._decoder is not None:
            try:
                body += self._decoder.flush()[: limits.max_bytes + 1 - len(body)]
            except zlib.error:
                raise TransportFailure(FAILED, "ContentDecodingError") from None
            if len(body) > limits.max_bytes or self._decoder.unconsumed_tail:
                raise TransportFailure(TOO_LARGE, _large(limits))
        return bytes(body)


def late(limits: Limits) -> str:
    """What a call cut at its deadline says in parentheses."""
    return f"no answer within {limits.deadline:g} s"


def _large(limits: Limits) -> str:
    return f"more than {limits.max_bytes // _KIB} KiB"


def _raw_chunks(response: requests.Response) -> Iterator[bytes]:
    """The body as it came (only the transfer coding undone): decoding is ours, bounded."""
    yield from response.raw.stream(_CHUNK, decode_content=False)


def _decoder(encoding: str) -> Any:
    """A bounded decompressor for ``encoding``; None for none. We ask for ``identity``; an
    encoding we cannot bound is refused."""
    name = encoding.strip().lower()
    if name in ("", "identity"):
        return None
    if name in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if name == "deflate":
        return zlib.decompressobj(zlib.MAX_WBITS)
    raise TransportFailure(FAILED, f"Content-Encoding {_printable(name)}")


def _printable(text: str) -> str:
    return "".join(c for c in text[:40] if c.isprintable() and c.isascii())
