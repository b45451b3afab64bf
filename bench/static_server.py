"""The API for the ratios: 200 to any ``Authorization: Bearer ...``, 401 otherwise.

Runs as its own process (``python bench/static_server.py [ISSUER]`` prints the port), HTTP/1.1
with keep-alive, so both sides of a ratio hit the same server with the same per-request cost.
Given an authorization server's ISSUER it announces itself for zero configuration: its 401 names
its protected resource metadata (RFC 9728), which it serves, naming ISSUER.
``POST /token/SECONDS`` is a token endpoint slowed to SECONDS that answers every grant with a
fresh token set (row 7's event-loop stall: no provider work in the measured process).
"""

from __future__ import annotations

import json
import secrets
import sys
import time

from httpie_stytch_connected.testing.loopback import LoopbackHTTPServer, QuietHandler

_OK = b'{"resources":[{"id":1,"name":"first"}]}'
_DENIED = b'{"error":"missing_token"}'
_METADATA = "/.well-known/oauth-protected-resource"
#: The authorization server to announce (argv[1]); None: a plain API.
ISSUER: str | None = None


class _Handler(QuietHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stall

    def do_GET(self) -> None:
        origin = f"http://{self.headers.get('Host', '')}"
        if ISSUER and self.path == _METADATA:
            document = {"resource": origin, "authorization_servers": [ISSUER]}
            return self._send(200, json.dumps(document).encode())
        header = self.headers.get("Authorization", "")
        ok = header.startswith("Bearer ") and len(header) > 7
        challenge = f'Bearer resource_metadata="{origin}{_METADATA}", scope="read:data"'
        self._send(
            200 if ok else 401, _OK if ok else _DENIED, None if ok or not ISSUER else challenge
        )

    def _send(self, status: int, body: bytes, challenge: str | None = None) -> None:
        self.reply(status, body, headers={"WWW-Authenticate": challenge} if challenge else None)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(float(self.path.rpartition("/")[2]))  # the slowed endpoint, not a sync
        tokens = {
            "access_token": secrets.token_urlsafe(32),
            "refresh_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": 3600,
        }
        self.reply_json(200, tokens)


class _Server(LoopbackHTTPServer):
    request_queue_size = 256  # 64 threads connect at once: a backlog of 5 drops SYNs (1 s stall)


def main() -> None:
    global ISSUER
    ISSUER = sys.argv[1] if len(sys.argv) > 1 else None
    server = _Server(_Handler)
    print(server.port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
