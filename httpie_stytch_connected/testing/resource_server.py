"""An API that accepts only valid Stytch access tokens, verified locally against the JWKS.

Checks what a real backend must: RS256 signature by a key from ``jwks_uri``, ``iss``, ``aud``
(the project ID for Stytch), ``exp``, and a required scope. Anything else is answered
``401`` with ``WWW-Authenticate: Bearer error="invalid_token"`` (RFC 6750 §3), or ``403
insufficient_scope``. Used by the examples, the demo and the tests.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import jwt


class ResourceServer:
    def __init__(
        self,
        *,
        jwks_uri: str,
        issuer: str,
        audience: str,
        required_scope: str | None = None,
        path: str = "/api/resources",
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.required_scope = required_scope
        self.path = path
        self._jwks = jwt.PyJWKClient(jwks_uri, cache_keys=True)
        self.counters: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path}"

    def start(self) -> ResourceServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner._handle(self)

            do_POST = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                """Silent: request lines would not leak tokens, but tests read stderr."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ResourceServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def verify(self, token: str) -> dict[str, Any]:
        """Claims of a valid token; raises ``jwt.PyJWTError`` otherwise."""
        key = self._jwks.get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            audience=self.audience,
            issuer=self.issuer,
            options={"require": ["exp", "iat", "sub"]},
        )
        return claims

    def _count(self, outcome: str) -> None:
        with self._lock:
            self.counters[outcome] += 1

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        if request.path.split("?", 1)[0] != self.path:
            return _send(request, 404, {"error": "not_found"})
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            self._count("401")
            return _send(request, 401, {"error": "missing_token"}, 'Bearer realm="api"')
        try:
            claims = self.verify(token)
        except (jwt.PyJWTError, ValueError):
            self._count("401")
            return _send(request, 401, {"error": "invalid_token"}, 'Bearer error="invalid_token"')
        scopes = set(str(claims.get("scope", "")).split())
        if self.required_scope and self.required_scope not in scopes:
            self._count("403")
            return _send(
                request,
                403,
                {"error": "insufficient_scope"},
                f'Bearer error="insufficient_scope", scope="{self.required_scope}"',
            )
        self._count("200")
        _send(request, 200, {"resources": [{"id": 1, "name": "first"}], "sub": claims["sub"]})


def _send(
    request: BaseHTTPRequestHandler,
    status: int,
    body: dict[str, Any],
    challenge: str | None = None,
) -> None:
    payload = json.dumps(body).encode()
    request.send_response(status)
    request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(payload)))
    if challenge:
        request.send_header("WWW-Authenticate", challenge)
    request.end_headers()
    request.wfile.write(payload)
