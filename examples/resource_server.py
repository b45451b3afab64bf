"""An API that accepts only valid Stytch Connected Apps access tokens, verified locally.

What a backend must check (see Stytch's ``introspect_access_token_local``): an RS256 signature
by a key from the project's JWKS, ``iss`` (the project domain), ``aud`` (the project ID),
``exp``, and the scope the endpoint needs. A missing or invalid token gets ``401`` with
``WWW-Authenticate: Bearer error="invalid_token"`` and a missing scope ``403`` (RFC 6750 §3).
It is written against PyJWT alone, so it can be copied into a backend that does not install
this package. A local check cannot see a revocation before ``exp``; introspection can.

    python examples/resource_server.py --jwks-uri https://DOMAIN/.well-known/jwks.json \\
        --issuer https://DOMAIN --audience PROJECT_ID --scope read:data --port 3001
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

import jwt


class Verifier:
    """Verifies bearer tokens against one project's JWKS (keys are cached by ``kid``)."""

    def __init__(self, jwks_uri: str, issuer: str, audience: str, scope: str | None) -> None:
        self.jwks = jwt.PyJWKClient(jwks_uri, cache_keys=True)
        self.issuer = issuer
        self.audience = audience
        self.scope = scope

    def claims(self, token: str) -> dict[str, Any]:
        """The token's claims if it is genuine and current; raises ``jwt.PyJWTError`` if not."""
        key = self.jwks.get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],  # never trust the token's own "alg"
            audience=self.audience,
            issuer=self.issuer,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
        return claims

    def has_scope(self, claims: dict[str, Any]) -> bool:
        return self.scope is None or self.scope in str(claims.get("scope", "")).split()


def make_handler(verifier: Verifier, path: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != path:
                return self.answer(404, {"error": "not_found"})
            scheme, _, token = self.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token:
                return self.answer(401, {"error": "missing_token"}, 'Bearer realm="api"')
            try:
                claims = verifier.claims(token)
            except (jwt.PyJWTError, ValueError):
                return self.answer(401, {"error": "invalid_token"}, 'Bearer error="invalid_token"')
            if not verifier.has_scope(claims):
                challenge = f'Bearer error="insufficient_scope", scope="{verifier.scope}"'
                return self.answer(403, {"error": "insufficient_scope"}, challenge)
            resources = [{"id": 1, "name": "first"}, {"id": 2, "name": "second"}]
            self.answer(200, {"sub": claims["sub"], "resources": resources})

        def answer(self, status: int, body: dict[str, Any], challenge: str | None = None) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if challenge:
                self.send_header("WWW-Authenticate", challenge)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Request lines only (never headers), on stderr."""
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    return Handler


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # leaves serve_forever() so the socket is closed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="An API that verifies Stytch access tokens.")
    parser.add_argument("--jwks-uri", required=True, help="https://DOMAIN/.well-known/jwks.json")
    parser.add_argument("--issuer", required=True, help="https://DOMAIN (the project domain)")
    parser.add_argument("--audience", required=True, help="the Stytch project ID")
    parser.add_argument("--scope", default=None, help="a scope every request must carry")
    parser.add_argument("--port", type=int, default=3001, help="0 picks a free port")
    parser.add_argument("--path", default="/api/resources")
    args = parser.parse_args(argv)

    verifier = Verifier(args.jwks_uri, args.issuer, args.audience, args.scope)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(verifier, args.path))
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, _stop)
    print(f"http://127.0.0.1:{server.server_address[1]}{args.path}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
