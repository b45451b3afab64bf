"""The RFC 8252 loopback redirect receiver: ``http://127.0.0.1:<port>/callback``.

Everything that reaches it is treated as hostile: other local processes can connect too. It binds
127.0.0.1 only on an OS-assigned port and keeps that socket (no probe-then-rebind race); it
accepts exactly one response whose ``state`` matches in constant time; forged, malformed or stray
requests (favicon, preconnects, other methods) are answered and ignored while the wait goes on;
nothing from the query string is logged, and what it echoes is HTML-escaped.

One thread does all the listening, without blocking on any client: it reads request heads as
they arrive and hands a connection to the HTTP parser only once its head is complete. A client
that has not sent its whole head within :data:`REQUEST_DEADLINE` is dropped, and when
:data:`MAX_PENDING` clients are still sending, the oldest one makes room for the newest, so a
flood of slow local clients can neither hold the port nor lock out the browser, which sends its
request at once.

The browser's page tells the truth: with ``hold_reply`` the answer to the real callback waits
(at most :data:`HOLD_LIMIT`) until :meth:`CallbackServer.report` says how the sign-in ended, and
the caller's thread writes it before :meth:`CallbackServer.close` returns, so a process that exits
right after signing in never cuts the page off.
"""

from __future__ import annotations

import contextlib
import errno
import hmac
import html
import io
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..errors import LoginError
from ..messages import Notify
from ..waits import wait_in_slices

log = logging.getLogger(__name__)

#: Seconds from accepting a connection to its complete request head; a browser sends it at once.
REQUEST_DEADLINE = 3.0
#: Connections still sending their request head; past this the oldest is dropped for the newest.
MAX_PENDING = 64
#: Seconds the browser's page waits for the outcome of the sign-in before it is sent saying
#: "look at the terminal" (the exchange, the ID-token check and storing the tokens are bounded
#: on their own; this bounds what the person sees).
HOLD_LIMIT = 30.0
#: Seconds to hand one page to the kernel (a page is far smaller than a socket buffer).
SEND_TIMEOUT = 2.0
#: Error callbacks that cannot be checked, reported on the terminal per sign-in (not a flood).
MAX_NOTICES = 3
#: Longest request head read; one byte past the parser's own line limit, so it answers 414.
_MAX_HEAD = 65538
_ACCEPTS_PER_WAKE = 16
_MAX_FIELDS = 32
_ISSUER_MISMATCH = "issuer_mismatch"


@dataclass(frozen=True)
class _Outcome:
    status: int
    title: str
    message: str
    code: str | None = field(default=None, repr=False)
    error: str | None = None
    error_description: str | None = None
    #: A line for the terminal: an error callback that cannot be tied to this sign-in.
    notice: str | None = None
    #: What the paste prompt says instead of ``message`` where the browser page's words would
    #: be wrong there ("go back to the terminal" to someone already at it).
    pasted: str | None = None

    @property
    def final(self) -> bool:
        return self.code is not None or self.error is not None


#: What the held page says once the sign-in has ended (see :meth:`CallbackServer.report`).
SIGNED_IN = _Outcome(200, "Signed in", "You are signed in. You can close this tab.")
NOT_COMPLETED = _Outcome(
    200,
    "Sign-in not completed",
    "The browser part went through, but the sign-in could not be completed. "
    "The terminal says why and what to do next.",
)
RECEIVED = _Outcome(
    200,
    "Sign-in received",
    "Return to your terminal: it shows whether signing in completed. You can close this tab.",
)


def evaluate(
    path: str,
    query: str,
    *,
    expected_path: str,
    expected_state: str,
    check_iss: Callable[[str | None], str | None] | None = None,
) -> _Outcome:
    """Decide what one request to the listener means; pure, so the paste flow shares it.

    ``check_iss`` says why the response's ``iss`` (RFC 9207) is refused, or None: a refused
    one ends the sign-in as an error, so its code is never exchanged. It guards responses that
    carry a code; an error response ends the sign-in anyway and is shown as the person's."""
    if path != expected_path:
        return _Outcome(404, "Not found", "This address is not part of the sign-in.")
    try:
        params = parse_qs(query, keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except ValueError:
        return _Outcome(400, "Invalid sign-in response", "The response has too many parameters.")
    if any(len(values) > 1 for values in params.values()):
        return _Outcome(400, "Invalid sign-in response", "The response repeats a parameter.")
    one = {name: values[0] for name, values in params.items()}
    state = one.get("state", "")
    error, description = _error_of(one)
    if not state or not hmac.compare_digest(state.encode(), expected_state.encode()):
        if error is None:
            return _Outcome(
                400,
                "Sign-in response not recognised",
                "This response does not belong to the sign-in that is waiting. "
                "Go back to the terminal and use the link it shows.",
                pasted=(
                    "That URL belongs to another sign-in (its state is not this one's); sign in "
                    "with the link above and paste the address that sign-in ends on."
                ),
            )
        # Anyone on this machine can send this, so it cannot end the wait (RFC 6749 §10.12);
        # but a real provider that drops `state` from its errors must not leave the person
        # waiting out the whole timeout in silence.
        return _Outcome(
            400,
            "Sign-in error not recognised",
            f"The sign-in reported an error ({error}) without the state that ties it to the "
            "sign-in that is waiting, so it cannot be trusted; the terminal keeps waiting.",
            notice=(
                "The browser reported a sign-in error that cannot be checked (no matching "
                f"state): {_said(error, description)}. Still waiting; if it was yours, press "
                "Ctrl-C and try again."
            ),
        )
    if error is not None:
        # The person's own answer (access_denied, ...): shown as it is. The mix-up defence
        # guards codes, and servers that advertise `iss` may leave it off error responses.
        return _Outcome(
            200,
            "Sign-in failed",
            "The sign-in did not complete. You can close this tab.",
            error=error,
            error_description=description,
        )
    code = one.get("code")
    if not code:
        return _Outcome(400, "Invalid sign-in response", "The response has no authorization code.")
    problem = check_iss(one.get("iss")) if check_iss else None
    if problem is not None:
        return _Outcome(
            400,
            "Sign-in response refused",
            "This response came from another server than the one you were sent to; nothing "
            "was done with it. Go back to the terminal.",
            error=_ISSUER_MISMATCH,
            error_description=_printable(problem)[:300],
        )
    return _Outcome(RECEIVED.status, RECEIVED.title, RECEIVED.message, code=code)


def _error_of(params: dict[str, str]) -> tuple[str | None, str | None]:
    """The RFC 6749 §4.1.2.1 ``error`` and ``error_description``, printable; None if absent."""
    if "error" not in params:
        return None, None
    description = _printable(params.get("error_description", ""))[:300] or None
    return _printable(params["error"])[:100] or "unknown_error", description


def _said(error: str, description: str | None) -> str:
    return f"{error} ({description})" if description else error


def _printable(text: str) -> str:
    """What reaches the terminal: no control characters, so no escape sequences."""
    return "".join(c for c in " ".join(text.split()) if c.isprintable())


def render(outcome: _Outcome) -> bytes:
    detail = ""
    if outcome.error:
        detail = f"<p><code>{html.escape(outcome.error)}</code></p>"
        if outcome.error_description:
            detail += f"<p>{html.escape(outcome.error_description)}</p>"
    page = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>{html.escape(outcome.title)}</title>"
        "<style>body{font:16px system-ui,sans-serif;max-width:34em;margin:4em auto;padding:0 1em}"
        "</style>"
        f"<h1>{html.escape(outcome.title)}</h1><p>{html.escape(outcome.message)}</p>{detail}</html>"
    )
    return page.encode("utf-8")


class _Writer(io.BufferedIOBase):
    """``wfile`` for the handler: whole buffers, each bounded by the socket's timeout."""

    def __init__(self, connection: socket.socket) -> None:
        super().__init__()
        self._connection = connection

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._connection.sendall(data)
        return len(data)

    def flush(self) -> None:
        """Nothing buffered."""


class _Handler(BaseHTTPRequestHandler):
    """Parses one complete request head (already read) and answers it, or leaves it held."""

    server: _Listener  # type: ignore[assignment]
    server_version = "httpie-stytch-connected"
    sys_version = ""
    held = False

    def setup(self) -> None:
        self.connection, head = self.request
        self.rfile = io.BytesIO(head)
        self.wfile = _Writer(self.connection)

    def finish(self) -> None:
        """The listener (or, for a held reply, :meth:`CallbackServer.report`) closes it."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        self.server.receiver.answer(self, parts.path, parts.query)

    def do_HEAD(self) -> None:
        self._reply(404, b"")

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: access logs would carry the authorization code."""

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _close_gently(connection: socket.socket) -> None:
    """Close after the reply: FIN, not RST, so the client keeps every byte of the page.

    Closing with unread bytes in the receive buffer makes the kernel send a reset, which may
    discard the page on the client's side: read whatever is left first.
    """
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_WR)
        connection.setblocking(False)
        for _ in range(16):
            if not connection.recv(65536):
                break
    connection.close()


@dataclass
class _Pending:
    """A connection whose request head is still arriving."""

    accepted: float
    address: Any
    head: bytearray = field(default_factory=bytearray)


class _Listener:
    """The listening socket and the one thread that serves it (:meth:`run`)."""

    def __init__(self, receiver: CallbackServer, port: int = 0) -> None:
        self.receiver = receiver
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.socket.bind(("127.0.0.1", port))
            self.socket.listen(128)
            self.socket.setblocking(False)
        except OSError as exc:
            self.socket.close()
            if port and exc.errno == errno.EADDRINUSE:
                raise LoginError(
                    f"The callback port {port} on 127.0.0.1 is in use, so no sign-in can come "
                    "back to it; close what holds it (another sign-in?) or choose another "
                    "callback_port (STYTCH_CALLBACK_PORT)."
                ) from None
            raise
        self._pending: dict[socket.socket, _Pending] = {}

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    def run(self, stop: socket.socket) -> None:
        """Serve until a byte arrives on ``stop``; never blocks on a client."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ, "accept")
            selector.register(stop, selectors.EVENT_READ, "stop")
            try:
                while True:
                    events = selector.select(self._next_timeout())
                    # Reads first: a request that has arrived is served before new accepts could
                    # push its connection out of the pending set.
                    events.sort(key=lambda event: event[0].data != "read")
                    for key, _ in events:
                        if key.data == "stop":
                            return
                        if key.data == "accept":
                            self._accept(selector)
                        else:
                            self._read(selector, key.fileobj)  # type: ignore[arg-type]
                    self._expire(selector)
            finally:
                for connection in list(self._pending):
                    self._drop(selector, connection)

    def _next_timeout(self) -> float | None:
        deadlines = [self.receiver.hold_deadline()]
        if self._pending:
            deadlines.append(next(iter(self._pending.values())).accepted + REQUEST_DEADLINE)
        times = [t for t in deadlines if t is not None]
        return max(0.0, min(times) - time.monotonic()) if times else None

    def _accept(self, selector: selectors.BaseSelector) -> None:
        for _ in range(_ACCEPTS_PER_WAKE):
            try:
                connection, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of descriptors, for one: the next wake tries again
                log.debug("accept failed (%s)", type(exc).__name__)
                return
            if len(self._pending) >= MAX_PENDING:
                self._drop(selector, next(iter(self._pending)))  # the oldest, not the newest
            connection.setblocking(False)
            self._pending[connection] = _Pending(time.monotonic(), address)
            selector.register(connection, selectors.EVENT_READ, "read")
            self._read(selector, connection)  # a browser's request is usually there already

    def _read(self, selector: selectors.BaseSelector, connection: socket.socket) -> None:
        pending = self._pending.get(connection)
        if pending is None:
            return
        try:
            data = connection.recv(_MAX_HEAD - len(pending.head))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(selector, connection)
            return
        start = max(0, len(pending.head) - 3)
        pending.head += data
        complete = (
            pending.head.find(b"\n\n", start) >= 0 or pending.head.find(b"\n\r\n", start) >= 0
        )
        if complete or len(pending.head) >= _MAX_HEAD:
            selector.unregister(connection)
            del self._pending[connection]
            self._serve(connection, bytes(pending.head), pending.address)

    def _serve(self, connection: socket.socket, head: bytes, address: Any) -> None:
        connection.setblocking(True)
        connection.settimeout(SEND_TIMEOUT)
        handler: _Handler | None = None
        try:
            handler = _Handler((connection, head), address, self)  # type: ignore[arg-type]
        except Exception as exc:  # a reset mid-reply is local noise, not worth a traceback
            log.debug("callback connection ended early (%s)", type(exc).__name__)
        if handler is None or not handler.held:
            _close_gently(connection)

    def _expire(self, selector: selectors.BaseSelector) -> None:
        now = time.monotonic()
        for connection, pending in list(self._pending.items()):
            if now - pending.accepted < REQUEST_DEADLINE:
                break  # in order of arrival: the rest are younger
            self._drop(selector, connection)
        self.receiver.expire_hold(now)

    def _drop(self, selector: selectors.BaseSelector, connection: socket.socket) -> None:
        self._pending.pop(connection, None)
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(connection)
        connection.close()


class CallbackServer:
    """Context manager: listen, hand out ``redirect_uri``, :meth:`wait` for the one real answer.

    ``notify`` receives a line for each error callback that cannot be checked (at most
    :data:`MAX_NOTICES`). With ``hold_reply`` the browser's answer to the real callback waits
    for :meth:`report` (or :meth:`close`), so it can say how the sign-in really ended.
    """

    def __init__(
        self,
        expected_state: str,
        *,
        path: str = "/callback",
        port: int = 0,
        host: str = "127.0.0.1",
        notify: Notify | None = None,
        hold_reply: bool = False,
        check_iss: Callable[[str | None], str | None] | None = None,
    ) -> None:
        """``port`` 0 takes any free port; ``host`` is the name the redirect URI carries
        (127.0.0.1 or localhost): the listener itself is on 127.0.0.1 whatever it says."""
        if not path.startswith("/"):
            path = "/" + path
        self.path = path
        self._port = port
        self._host = host
        self._check_iss = check_iss
        self._state = expected_state
        self._notify = notify
        self._hold_reply = hold_reply
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._outcome: _Outcome | None = None
        self._held: _Handler | None = None
        self._held_since = 0.0
        self._notices = 0
        self._listener: _Listener | None = None
        self._thread: threading.Thread | None = None
        self._stop: tuple[socket.socket, socket.socket] | None = None

    def __repr__(self) -> str:
        return f"CallbackServer(redirect_uri={self.redirect_uri!r})"

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("the callback server is not listening")
        return self._listener.port

    @property
    def redirect_uri(self) -> str:
        if self._listener is None:
            return "(not listening)"
        return f"http://{self._host}:{self.port}{self.path}"

    @property
    def answered(self) -> bool:
        """True once the one real answer (a code or an error) has been accepted."""
        return self._done.is_set()

    def __enter__(self) -> CallbackServer:
        listener = _Listener(self, self._port)
        self._listener = listener
        self._stop = socket.socketpair()
        self._thread = threading.Thread(
            target=listener.run, args=(self._stop[0],), name="stytch-callback", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(failed=exc_type is not None)

    def close(self, *, failed: bool = False) -> None:
        """Stop listening; a page still held is sent now (saying the sign-in failed if
        ``failed``, else to look at the terminal) before this returns."""
        listener, self._listener = self._listener, None
        stop, self._stop = self._stop, None
        if stop is not None:
            stop[1].send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=SEND_TIMEOUT + 3)
        if listener is not None:
            listener.socket.close()
        for end in stop or ():
            end.close()
        self._release(NOT_COMPLETED if failed else RECEIVED)

    def report(self, *, signed_in: bool) -> None:
        """Send the held page now, saying how the sign-in ended; bounded by ``SEND_TIMEOUT``."""
        self._release(SIGNED_IN if signed_in else NOT_COMPLETED)

    def hold_deadline(self) -> float | None:
        with self._lock:
            return self._held_since + HOLD_LIMIT if self._held is not None else None

    def expire_hold(self, now: float) -> None:
        deadline = self.hold_deadline()
        if deadline is not None and now >= deadline:
            self._release(RECEIVED)

    def _release(self, outcome: _Outcome) -> None:
        with self._lock:
            handler, self._held = self._held, None
        if handler is None:
            return
        try:
            handler._reply(outcome.status, render(outcome))
        except OSError as exc:  # the tab was closed: nobody to tell
            log.debug("the sign-in page could not be sent (%s)", type(exc).__name__)
        finally:
            _close_gently(handler.connection)

    def answer(self, handler: _Handler, path: str, query: str) -> None:
        outcome = self._settle(path, query, handler)
        if handler.held:
            return
        if outcome.notice and self._notify is not None:
            with self._lock:
                self._notices += 1
                tell = self._notices <= MAX_NOTICES
            if tell:
                self._notify(outcome.notice)
        handler._reply(outcome.status, render(outcome))

    def submit_url(self, url: str) -> _Outcome:
        """Accept a redirect URL pasted by the person (headless flow); same checks as a request."""
        parts = urlsplit(url.strip())
        outcome = self._settle(parts.path, parts.query)
        if not outcome.final and parts.path != self.path:
            # The page's "not part of the sign-in" names nothing to look for; here we can.
            return replace(
                outcome,
                pasted=(
                    f"That is not the address this sign-in ends on ({self.redirect_uri}?code=…); "
                    "copy the whole URL from the address bar of the page the browser ends on."
                ),
            )
        return outcome

    def _settle(self, path: str, query: str, handler: _Handler | None = None) -> _Outcome:
        outcome = evaluate(
            path,
            query,
            expected_path=self.path,
            expected_state=self._state,
            check_iss=self._check_iss,
        )
        if outcome.final:
            with self._lock:
                if self._outcome is not None:  # answered already: a replay is just noise
                    return _Outcome(404, "Not found", "This sign-in has already completed.")
                self._outcome = outcome
                if handler is not None and self._hold_reply and outcome.code is not None:
                    # Held before the waiter wakes, so its report always finds the page.
                    handler.held = True
                    self._held, self._held_since = handler, time.monotonic()
            self._done.set()
        return outcome

    def wait(self, timeout: float) -> str:
        """Block until the real answer arrives; return the code or raise :class:`LoginError`."""
        if not wait_in_slices(self._done.wait, timeout):
            raise LoginError(
                f"No sign-in response arrived within {timeout:g} seconds; try again and "
                "finish signing in with the browser, or allow more time with "
                "STYTCH_LOGIN_TIMEOUT. If the browser showed an error instead, the provider may "
                f"not accept the redirect URI {self.redirect_uri}: it must allow a loopback "
                "redirect on any port (RFC 8252), or set STYTCH_CALLBACK_PORT (and "
                "STYTCH_CALLBACK_HOST) to the one registered there.",
                unanswered=True,
            )
        outcome = self._outcome
        assert outcome is not None
        if outcome.error == _ISSUER_MISMATCH:
            raise LoginError(
                f"The sign-in response was refused: {outcome.error_description}; its code was "
                "not used. Check the issuer setting, then try again."
            )
        if outcome.error is not None:
            raise LoginError(
                "The sign-in was refused in the browser: "
                f"{_said(outcome.error, outcome.error_description)}. "
                "Try again to sign in once more.",
                error=outcome.error,
            )
        assert outcome.code is not None
        return outcome.code
