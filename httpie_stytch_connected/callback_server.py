"""The RFC 8252 loopback redirect receiver: ``http://127.0.0.1:<port>/callback``.

Everything that reaches it is treated as hostile: other local processes can connect too. It binds
127.0.0.1 only on an OS-assigned port and keeps that socket (no probe-then-rebind race); it
accepts exactly one response whose ``state`` matches in constant time; forged, malformed or stray
requests (favicon, preconnects, other methods, slow clients) are answered and ignored while the
wait goes on; nothing from the query string is logged, and what it echoes is HTML-escaped.
"""

from __future__ import annotations

import contextlib
import hmac
import html
import logging
import selectors
import socket
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .errors import LoginError
from .waits import wait_in_slices

log = logging.getLogger(__name__)

#: Seconds a connection may stay silent between reads before it is dropped.
REQUEST_TIMEOUT = 5.0
#: Seconds a connection may live in all, however slowly it dribbles bytes in.
CONNECTION_DEADLINE = 10.0
#: Connections served at once; more are closed unanswered (a local flood, not a browser).
MAX_CONNECTIONS = 32
_MAX_FIELDS = 32


@dataclass(frozen=True)
class _Outcome:
    status: int
    title: str
    message: str
    code: str | None = field(default=None, repr=False)
    error: str | None = None
    error_description: str | None = None

    @property
    def final(self) -> bool:
        return self.code is not None or self.error is not None


def evaluate(path: str, query: str, *, expected_path: str, expected_state: str) -> _Outcome:
    """Decide what one request to the listener means; pure, so the paste flow shares it."""
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
    if not state or not hmac.compare_digest(state.encode(), expected_state.encode()):
        return _Outcome(
            400,
            "Sign-in response not recognised",
            "This response does not belong to the sign-in that is waiting. "
            "Go back to the terminal and use the link it shows.",
        )
    if "error" in one:
        error = _printable(one["error"])[:100] or "unknown_error"
        description = _printable(one.get("error_description", ""))[:300] or None
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
    return _Outcome(200, "Signed in", "You are signed in. You can close this tab.", code=code)


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


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = REQUEST_TIMEOUT
    server_version = "httpie-stytch-connected"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # A whole-connection deadline: the socket timeout alone restarts with every byte.
        self._deadline = threading.Timer(CONNECTION_DEADLINE, self._cut)
        self._deadline.daemon = True
        self._deadline.start()

    def finish(self) -> None:
        self._deadline.cancel()
        super().finish()

    def _cut(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    #: Stray local connections (preconnects, slow or hostile clients) must not fill the backlog.
    request_queue_size = 64
    receiver: CallbackServer

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        # Per server: two sign-ins in one process must not share (or skew) one count.
        self._active = 0
        self._active_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Count every accepted connection; :meth:`close_request` runs once for each."""
        with self._active_lock:
            self._active += 1
            flooded = self._active > MAX_CONNECTIONS
        if flooded:
            self.shutdown_request(request)
        else:
            super().process_request(request, client_address)

    def close_request(self, request: Any) -> None:
        with self._active_lock:
            self._active -= 1
        super().close_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Silent: a reset or cut connection is local noise, not something to print a traceback
        for in the middle of a sign-in (and a traceback could carry request data)."""
        log.debug("callback connection ended early (%s)", type(sys.exc_info()[1]).__name__)

    def serve_until(self, stop: socket.socket) -> None:
        """``serve_forever`` that a byte on ``stop`` ends at once: no poll interval to wait out
        between the callback and the token exchange."""
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(stop, selectors.EVENT_READ)
            while not any(key.fileobj is stop for key, _ in selector.select()):
                self._handle_request_noblock()  # type: ignore[attr-defined]


class CallbackServer:
    """Context manager: listen, hand out ``redirect_uri``, :meth:`wait` for the one real answer."""

    def __init__(self, expected_state: str, *, path: str = "/callback") -> None:
        if not path.startswith("/"):
            path = "/" + path
        self.path = path
        self._state = expected_state
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._outcome: _Outcome | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stop: tuple[socket.socket, socket.socket] | None = None

    def __repr__(self) -> str:
        return f"CallbackServer(redirect_uri={self.redirect_uri!r})"

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the callback server is not listening")
        return int(self._server.server_address[1])

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}" if self._server else "(not listening)"

    def __enter__(self) -> CallbackServer:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.receiver = self
        self._server = server
        self._stop = socket.socketpair()
        self._thread = threading.Thread(
            target=server.serve_until, args=(self._stop[0],), name="stytch-callback", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        server, self._server = self._server, None
        stop, self._stop = self._stop, None
        if stop is not None:
            stop[1].send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        if server is not None:
            server.server_close()
        for end in stop or ():
            end.close()

    def answer(self, handler: _Handler, path: str, query: str) -> None:
        outcome = self._settle(path, query)
        handler._reply(outcome.status, render(outcome))

    def submit_url(self, url: str) -> _Outcome:
        """Accept a redirect URL pasted by the person (headless flow); same checks as a request."""
        parts = urlsplit(url.strip())
        return self._settle(parts.path, parts.query)

    def _settle(self, path: str, query: str) -> _Outcome:
        outcome = evaluate(path, query, expected_path=self.path, expected_state=self._state)
        if outcome.final:
            with self._lock:
                if self._outcome is not None:  # answered already: a replay is just noise
                    return _Outcome(404, "Not found", "This sign-in has already completed.")
                self._outcome = outcome
            self._done.set()
        return outcome

    def wait(self, timeout: float) -> str:
        """Block until the real answer arrives; return the code or raise :class:`LoginError`."""
        if not wait_in_slices(self._done.wait, timeout):
            raise LoginError(
                f"No sign-in response arrived within {timeout:g} seconds; run the command again "
                "and finish signing in in the browser (or raise the login timeout)."
            )
        outcome = self._outcome
        assert outcome is not None
        if outcome.error is not None:
            reason = f" ({outcome.error_description})" if outcome.error_description else ""
            raise LoginError(
                f"The sign-in was refused in the browser: {outcome.error}{reason}. "
                "Run the command again to retry."
            )
        assert outcome.code is not None
        return outcome.code
