"""An API that accepts only valid access tokens, verified locally against the JWKS.

Checks what a real backend must: RS256 signature by a key from ``jwks_uri``, ``iss``, ``aud``
(the project ID for Stytch, the resource for a server with resource indicators), ``exp``, and
the scope each route requires. Anything else is answered ``401`` with ``WWW-Authenticate:
Bearer error="invalid_token"`` (RFC 6750 §3), or ``403 insufficient_scope`` naming the scope.

Given ``authorization_servers`` it also announces itself as RFC 9728 asks: it serves its
protected resource metadata at ``/.well-known/oauth-protected-resource`` (root and
path-inserted forms) and names it in every challenge (``resource_metadata``, §5.1), with the
scope the route wants. Used by the examples, the demo and the tests.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import jwt

from .loopback import LoopbackHTTPServer, LoopbackService, QuietHandler

WELL_KNOWN = "/.well-known/oauth-protected-resource"


class ResourceServer(LoopbackService):
    def __init__(
        self,
        *,
        jwks_uri: str,
        issuer: str,
        audience: str | None,
        required_scope: str | None = None,
        path: str = "/api/resources",
        routes: Mapping[str, str | None] | None = None,
        authorization_servers: Sequence[str] = (),
        scopes_supported: Sequence[str] = (),
        resource: str | None = None,
        challenge_metadata: bool = True,
        challenge_scope: bool = True,
    ) -> None:
        """``routes`` maps more paths to the scope each needs; ``resource`` overrides the
        resource identifier the metadata names (default: this server's origin);
        ``challenge_metadata``/``challenge_scope`` say whether a 401 names the metadata
        document and the scope. ``audience`` None means "this server's resource"."""
        self.issuer = issuer
        self.audience = audience
        self.required_scope = required_scope
        self.path = path
        self.routes: dict[str, str | None] = {path: required_scope, **(routes or {})}
        self.authorization_servers = list(authorization_servers)
        self.scopes_supported = list(scopes_supported)
        self.challenge_metadata = challenge_metadata
        self.challenge_scope = challenge_scope
        self._resource = resource
        self._jwks = jwt.PyJWKClient(jwks_uri, cache_keys=True)
        self.counters: Counter[str] = Counter()
        #: The ``aud`` of every token accepted, and every bearer token received (tests only).
        self.audiences: list[Any] = []
        self.tokens_seen: set[str] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self.origin + self.path

    def move_to(self, issuer: str, jwks_uri: str) -> None:
        """From now on accept only ``issuer``'s tokens (checked with the keys at ``jwks_uri``)
        and name it as the authorization server in the metadata: an API that moved to
        another authorization server (RFC 9728 §5.2)."""
        with self._lock:
            self.issuer = issuer
            self._jwks = jwt.PyJWKClient(jwks_uri, cache_keys=True)
            if self.authorization_servers:
                self.authorization_servers = [issuer]

    @property
    def resource(self) -> str:
        """The resource identifier (RFC 9728 §1.2) this server names in its metadata."""
        return self._resource or self.origin

    @property
    def metadata_url(self) -> str:
        return self.origin + WELL_KNOWN

    def metadata(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "authorization_servers": self.authorization_servers,
            "scopes_supported": self.scopes_supported,
            "bearer_methods_supported": ["header"],
        }

    def _bind(self) -> LoopbackHTTPServer:
        owner = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                owner._handle(self)

            do_POST = do_GET
            do_PUT = do_GET

        return LoopbackHTTPServer(Handler)

    def verify(self, token: str) -> dict[str, Any]:
        """Claims of a valid token; raises ``jwt.PyJWTError`` otherwise."""
        key = self._jwks.get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            audience=self.audience or self.resource,
            issuer=self.issuer,
            options={"require": ["exp", "iat", "sub"]},
        )
        return claims

    def _count(self, outcome: str) -> None:
        with self._lock:
            self.counters[outcome] += 1

    def _challenge(self, scope: str | None, error: str | None = None) -> str:
        params = [f'error="{error}"'] if error else []
        if scope and (self.challenge_scope or error == "insufficient_scope"):
            params.append(f'scope="{scope}"')
        if self.authorization_servers and self.challenge_metadata:
            params.append(f'resource_metadata="{self.metadata_url}"')
        return "Bearer " + (", ".join(params) if params else 'realm="api"')

    def _handle(self, request: QuietHandler) -> None:
        body = request.read_body()
        path = request.path.split("?", 1)[0]
        if self.authorization_servers and path in (WELL_KNOWN, WELL_KNOWN + self.path):
            self._count("metadata")
            self._count(f"metadata {path}")
            return _send(request, 200, self.metadata())
        if path not in self.routes:
            return _send(request, 404, {"error": "not_found"})
        scope = self.routes[path]
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if token:
            with self._lock:
                self.tokens_seen.add(token)
        if scheme.lower() != "bearer" or not token:
            self._count("401")
            return _send(request, 401, {"error": "missing_token"}, self._challenge(scope))
        try:
            claims = self.verify(token)
        except (jwt.PyJWTError, ValueError):
            self._count("401")
            return _send(
                request, 401, {"error": "invalid_token"}, self._challenge(scope, "invalid_token")
            )
        scopes = set(str(claims.get("scope", "")).split())
        if scope and scope not in scopes:
            self._count("403")
            return _send(
                request,
                403,
                {"error": "insufficient_scope"},
                self._challenge(scope, "insufficient_scope"),
            )
        self._count("200")
        with self._lock:
            self.audiences.append(claims.get("aud"))
        reply: dict[str, Any] = {"resources": [{"id": 1, "name": "first"}], "sub": claims["sub"]}
        if body:  # what a POST sent, so a test can see it arrived whole
            reply["echo"] = body.decode("utf-8", "replace")
        _send(request, 200, reply)


def _send(
    request: QuietHandler, status: int, body: dict[str, Any], challenge: str | None = None
) -> None:
    request.reply_json(status, body, {"WWW-Authenticate": challenge} if challenge else None)
