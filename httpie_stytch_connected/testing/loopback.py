"""The one loopback HTTP server behind every test server: the emulator, the example API, the
client-credentials server, the test suite's stand-ins and the bench's API.

- :class:`LoopbackHTTPServer`: a ``ThreadingHTTPServer`` bound to 127.0.0.1 only, on a port
  the OS picks unless one is given, each request on a daemon thread; a handler error prints its
  type, never its message or traceback (either could carry a token).
- :class:`LoopbackServer`: serves one from a daemon thread, from creation until :meth:`close`
  (idempotent, bounded); a context manager.
- :class:`LoopbackService`: the lifecycle of a test server object (the emulator, a
  ``ResourceServer``): :meth:`~LoopbackService.start` once, :meth:`~LoopbackService.stop` any
  number of times, ``origin``, and use as a context manager.
- :class:`QuietHandler`: a request handler that logs nothing, with :meth:`~QuietHandler.reply`
  and :meth:`~QuietHandler.reply_json`.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, TypeVar

__all__ = ["HOST", "LoopbackHTTPServer", "LoopbackServer", "LoopbackService", "QuietHandler"]

HOST = "127.0.0.1"
#: How often the serving loop looks for a stop request: the bound on :meth:`LoopbackServer.close`
#: (besides the thread join below).
POLL_INTERVAL = 0.05
#: Seconds :meth:`LoopbackServer.close` waits for the serving thread to end.
JOIN_TIMEOUT = 10.0

_Service = TypeVar("_Service", bound="LoopbackService")
#: Guards every service's started/stopped flags (held for a bind or a swap, never for a stop).
_LIFECYCLE = threading.Lock()


class LoopbackHTTPServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` on 127.0.0.1; ``port`` 0 (the default) lets the OS pick one."""

    daemon_threads = True
    allow_reuse_address = False  # never share a port with another listener

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0) -> None:
        super().__init__((HOST, port), handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{HOST}:{self.port}"

    def error_label(self) -> str | None:
        """The name a handler error is printed under; None: print nothing."""
        return "loopback server"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback; print only the type so nothing secret can leak.
        label = self.error_label()
        if label is not None:
            print(f"{label}: handler error {type(sys.exc_info()[1]).__name__}", file=sys.stderr)


class _ClosedOnExit:
    """``with``: :meth:`close` on the way out, however the block ends."""

    def close(self) -> None:
        raise NotImplementedError

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class LoopbackServer(_ClosedOnExit):
    """Serves ``handler`` (a handler class, or a bound :class:`LoopbackHTTPServer`) from a
    daemon thread until :meth:`close`; ``url`` is its origin."""

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler] | LoopbackHTTPServer,
        *,
        name: str = "loopback-server",
    ) -> None:
        self._server = (
            handler if isinstance(handler, LoopbackHTTPServer) else LoopbackHTTPServer(handler)
        )
        self._closed = threading.Event()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL},
            name=name,
            daemon=True,
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return self._server.origin

    def close(self) -> None:
        """Stop serving, close the socket and join the thread (at most ``JOIN_TIMEOUT``
        seconds); safe to call more than once, from any thread."""
        with _LIFECYCLE:
            if self._closed.is_set():
                return
            self._closed.set()
        self._server.shutdown()  # the serving loop notices within POLL_INTERVAL
        self._server.server_close()
        self._thread.join(JOIN_TIMEOUT)

    def __enter__(self) -> LoopbackServer:
        return self


class LoopbackService(_ClosedOnExit):
    """Base of a test server object: :meth:`_bind` makes its :class:`LoopbackHTTPServer`,
    :meth:`start` serves it (once), :meth:`stop` ends it (any number of times); ``origin``
    stays readable after the stop."""

    #: The serving thread's name.
    thread_name: ClassVar[str] = "loopback-server"
    _loopback: LoopbackServer | None = None
    _stop_requested: bool = False

    def _bind(self) -> LoopbackHTTPServer:
        raise NotImplementedError

    def start(self: _Service) -> _Service:
        """Bind an OS-assigned port on 127.0.0.1 and serve from a daemon thread."""
        with _LIFECYCLE:
            if self._loopback is not None or self._stop_requested:
                raise RuntimeError(f"{type(self).__name__} can only be started once")
            self._loopback = LoopbackServer(self._bind(), name=self.thread_name)
        return self

    def stop(self) -> None:
        """Shut the server down and join its thread; safe to call more than once."""
        with _LIFECYCLE:
            self._stop_requested = True
            loopback = self._loopback
        if loopback is not None:
            loopback.close()

    def close(self) -> None:
        """:meth:`stop` (what the ``with`` block calls on its way out)."""
        self.stop()

    @property
    def started(self) -> bool:
        return self._loopback is not None

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self._loopback is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._loopback.url

    def __enter__(self: _Service) -> _Service:
        return self.start()


class QuietHandler(BaseHTTPRequestHandler):
    """Logs nothing (request lines carry codes and states; tests read stderr)."""

    def log_message(self, format: str, *args: Any) -> None:
        """Silent."""

    def read_body(self, limit: int = 1 << 20) -> bytes:
        """The request body (``Content-Length`` or chunked), at most ``limit`` bytes.

        Read before answering even when unused: a server that closes its socket with unread
        bytes in it makes the kernel reset the connection, and the client may then meet the
        reset before the answer (a ``ReadError`` now and then, by timing).
        """
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while len(data) <= limit:
                size = int(self.rfile.readline(64).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024).strip():  # trailers, then the blank line
                        pass
                    break
                data += self.rfile.read(size)
                self.rfile.readline(64)  # the CRLF after each chunk
            return bytes(data[:limit])
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, limit)) if length > 0 else b""

    def reply(
        self,
        status: int,
        body: bytes = b"",
        *,
        content_type: str | None = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer ``status`` with ``body`` (not written to a HEAD request)."""
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def reply_json(
        self, status: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        self.reply(status, json.dumps(payload).encode(), headers=headers)
