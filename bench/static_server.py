"""The API for the ratios: 200 to any ``Authorization: Bearer ...``, 401 otherwise.

Runs as its own process (``python bench/static_server.py`` prints the port), HTTP/1.1 with
keep-alive, so both sides of a ratio hit the same server with the same per-request cost.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_OK = b'{"resources":[{"id":1,"name":"first"}]}'
_DENIED = b'{"error":"missing_token"}'


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stall

    def do_GET(self) -> None:
        header = self.headers.get("Authorization", "")
        ok = header.startswith("Bearer ") and len(header) > 7
        body = _OK if ok else _DENIED
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # 64 threads connect at once: a backlog of 5 drops SYNs (1 s stall)


def main() -> None:
    server = _Server(("127.0.0.1", 0), _Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
