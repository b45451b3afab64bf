"""The emulator's HTTP plumbing: its router on the shared loopback server, responses and body
decoding.

Nothing here knows a Stytch rule; it moves bytes and never logs a query string or a body.
"""

from __future__ import annotations

import contextlib
import html
import json
import socket
import struct
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol, cast
from urllib.parse import parse_qs, urlsplit

from ..loopback import LoopbackHTTPServer, QuietHandler

_MAX_BODY = 64 * 1024


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False


class Router(Protocol):
    """What the server needs from the emulator: a router and whether to log."""

    log_requests: bool

    def _route(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Response: ...


def json_response(
    status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    return Response(status, json.dumps(payload).encode(), "application/json", headers or {})


def request_id() -> str:
    return f"request-id-test-{uuid.uuid4()}"


def header(headers: dict[str, str], name: str) -> str:
    """One request header, case-insensitively; ``""`` when absent."""
    return next((v for k, v in headers.items() if k.lower() == name), "")


_PAGE_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}"
    "label,input,button{display:block;margin:.4rem 0}input{width:100%}"
    ".error{color:#a00}"
)


def page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_PAGE_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def decode_form(headers: dict[str, str], body: bytes) -> dict[str, str]:
    """Decode a form or JSON body; repeated or non-string fields are refused (ValueError)."""
    ctype = header(headers, "content-type").split(";", 1)[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("body is not UTF-8") from None
    if ctype == "application/json":
        data = decode_json_object(text)
        out: dict[str, str] = {}
        for key, value in data.items():
            if value is None:
                continue
            if not isinstance(value, str):
                raise ValueError(f"field {key} must be a string")
            out[key] = value
        return out
    if ctype not in ("", "application/x-www-form-urlencoded"):
        raise ValueError("unsupported content type")
    parsed = parse_qs(text, keep_blank_values=True)
    out = {}
    for key, values in parsed.items():
        if len(values) > 1:
            raise ValueError(f"field {key} was given more than once")
        out[key] = values[0]
    return out


def decode_json_object(text: str) -> dict[str, Any]:
    """A JSON object from ``text`` (empty text is ``{}``); ValueError otherwise."""
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        raise ValueError("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ValueError("JSON body must be an object")
    return data


def strip_query(path: str) -> str:
    """Drop query and fragment so that nothing secret reaches a log line."""
    return path.split("?", 1)[0].split("#", 1)[0]


class Server(LoopbackHTTPServer):
    """The loopback server, routing every request to ``router``."""

    def __init__(self, router: Router) -> None:
        self.router = router
        super().__init__(_Handler)

    def error_label(self) -> str | None:
        """Handler errors are printed (their type only) when the router logs requests."""
        return "stytch-emulator" if self.router.log_requests else None


class _Handler(QuietHandler):
    server_version = "StytchEmulator/0.1"
    sys_version = ""
    timeout = 30

    @property
    def router(self) -> Router:
        return cast(Server, self.server).router

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines carry codes and states in the query string: log method and path only.
        if self.router.log_requests:
            command = getattr(self, "command", None) or "-"
            path = strip_query(getattr(self, "path", None) or "-")
            print(f"stytch-emulator: {command} {path}", file=sys.stderr)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding"):
            self._write(Response(411, b"length required", "text/plain"))
            return None
        raw = self.headers.get("Content-Length", "0") or "0"
        try:
            length = int(raw)
        except ValueError:
            length = -1
        if length < 0 or length > _MAX_BODY:
            self.close_connection = True
            self._write(Response(413, b"request body too large", "text/plain"))
            return None
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        body = b""
        if method == "POST":
            read = self._read_body()
            if read is None:
                return
            body = read
        try:
            response = self.router._route(
                method, split.path, split.query, dict(self.headers.items()), body
            )
        except Exception:
            response = Response(
                500,
                json.dumps({"status_code": 500, "error_type": "internal_server_error"}).encode(),
            )
        self._write(response)

    def _write(self, response: Response) -> None:
        if response.reset:
            self.close_connection = True
            linger = struct.pack("HH" if sys.platform == "win32" else "ii", 1, 0)
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            return
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache", **response.headers}
        self.reply(
            response.status, response.body, content_type=response.content_type, headers=headers
        )
