"""A real MCP server, built with the ``mcp`` package, acting as an OAuth 2.0 resource server.

It is what an MCP client with our auth is tested against (the ``stytch_mcp_server`` fixture
serves one for the emulator; this module needs the ``mcp`` package, Python 3.10+):

- ``AuthSettings`` naming the authorization server, so the SDK serves the RFC 9728 protected
  resource metadata at ``/.well-known/oauth-protected-resource/mcp`` and answers a request without
  a valid token ``401`` with ``WWW-Authenticate: Bearer …, resource_metadata="…"``;
- a :class:`JwtTokenVerifier` that checks the provider's RS256 JWT access tokens against its JWKS
  (signature, ``exp``, ``iss``, ``aud``);
- two tools: ``whoami`` (the endpoint's scope is enough) and ``write_note``, which needs a wider
  scope. The SDK's ``required_scopes`` covers the whole endpoint, so the per-tool check is a layer
  of our own in front (:class:`ScopeGate`): a ``tools/call`` of a guarded tool with a token that
  lacks the scope is answered ``403`` with ``Bearer error="insufficient_scope", scope="…"``
  (RFC 6750 §3.1), which is the step-up the MCP specification describes.

Use :class:`McpResourceServer` as a context manager (it serves on 127.0.0.1 from a thread and
waits a bounded time for uvicorn to be up), or run
``python -m httpie_stytch_connected.testing.mcp_server --issuer URL --audience AUD``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import threading
import warnings
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from ..errors import library_missing

try:  # first: the package brings anyio, starlette and uvicorn, which the plain install lacks
    import mcp  # noqa: F401
except ModuleNotFoundError as exc:
    if exc.name != "mcp":
        raise
    raise library_missing("httpie_stytch_connected.testing.mcp_server", "mcp") from None

import anyio.to_thread
import jwt
import uvicorn
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MCP_PATH = "/mcp"
PRM_PATH = "/.well-known/oauth-protected-resource" + MCP_PATH
#: The emulator's custom scopes: the endpoint needs the first, ``write_note`` also the second.
DEFAULT_SCOPE = "read:data"
WRITE_SCOPE = "write:data"
#: Bounds: uvicorn's start, its stop, and the body a guarded request may carry.
STARTUP_TIMEOUT = 15.0
SHUTDOWN_TIMEOUT = 10.0
MAX_BODY = 1 << 20


class JwtTokenVerifier:
    """The SDK's ``TokenVerifier`` protocol over PyJWT: RS256, a key from the JWKS, ``exp``,
    ``iss`` and ``aud`` (the project ID for Stytch, the resource for a provider with resource
    indicators). Any failure means "no valid token" (``None``), never an exception."""

    def __init__(self, *, jwks_uri: str, issuer: str, audience: str) -> None:
        self.issuer = issuer
        self.audience = audience
        self._jwks = jwt.PyJWKClient(jwks_uri, cache_keys=True, timeout=10)

    def claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a valid token, else None (blocking: fetches the JWKS once)."""
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except (jwt.PyJWTError, ValueError):
            return None
        return claims

    async def verify_token(self, token: str) -> AccessToken | None:
        claims = await anyio.to_thread.run_sync(self.claims, token)
        if claims is None:
            return None
        return AccessToken(
            token=token,
            client_id=str(claims.get("client_id") or claims.get("azp") or ""),
            scopes=str(claims.get("scope", "")).split(),
            expires_at=int(claims["exp"]),
            subject=str(claims["sub"]),
            claims={"iss": claims["iss"]},
        )

    def __repr__(self) -> str:
        return f"JwtTokenVerifier(issuer={self.issuer!r}, audience={self.audience!r})"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ScopeGate:
    """ASGI layer in front of the MCP app: a ``tools/call`` of a tool in ``tool_scopes`` with a
    valid token lacking that tool's scope is answered 403 ``insufficient_scope``. Everything else
    (no token, an invalid one, other methods) goes on to the SDK, which answers 401 itself."""

    def __init__(
        self,
        app: ASGIApp,
        verifier: JwtTokenVerifier,
        *,
        tool_scopes: Mapping[str, str],
        endpoint_scopes: Sequence[str],
        metadata_url: str,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.tool_scopes = dict(tool_scopes)
        self.endpoint_scopes = list(endpoint_scopes)
        self.metadata_url = metadata_url
        #: How many requests were refused for want of a scope (tests read it).
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != MCP_PATH:
            await self.app(scope, receive, send)
            return
        body, more = await _read_body(receive)
        needed = self._needed_scope(body) if not more else None
        token = _bearer(scope)
        if needed and token:
            claims = await anyio.to_thread.run_sync(self.verifier.claims, token)
            granted = set(str(claims.get("scope", "")).split()) if claims else None
            if granted is not None and needed not in granted:
                self.refused += 1
                await self._refuse(send, [*self.endpoint_scopes, needed])
                return
        await self.app(scope, _replay(body, more, receive), send)

    def _needed_scope(self, body: bytes) -> str | None:
        try:
            message = json.loads(body)
        except ValueError:
            return None
        messages = message if isinstance(message, list) else [message]
        for item in messages:
            if not isinstance(item, dict) or item.get("method") != "tools/call":
                continue
            params = item.get("params")
            name = params.get("name") if isinstance(params, dict) else None
            if isinstance(name, str) and name in self.tool_scopes:
                return self.tool_scopes[name]
        return None

    async def _refuse(self, send: Send, scopes: Sequence[str]) -> None:
        wanted = " ".join(dict.fromkeys(scopes))
        challenge = (
            f'Bearer error="insufficient_scope", scope={_quoted(wanted)}, '
            f"resource_metadata={_quoted(self.metadata_url)}, "
            'error_description="this tool needs a wider scope"'
        )
        payload = json.dumps(
            {"error": "insufficient_scope", "error_description": f"needs scope {wanted}"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"www-authenticate", challenge.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _bearer(scope: Scope) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        if name == b"authorization":
            kind, _, token = value.decode("latin-1").partition(" ")
            if kind.lower() == "bearer" and token.strip():
                return token.strip()
    return None


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """Up to :data:`MAX_BODY` bytes of the request; ``more`` says the body went on (then the gate
    does not inspect it and the SDK reads the rest)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False
        if size > MAX_BODY:
            return b"".join(chunks), True


def _replay(body: bytes, more: bool, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replay


def build_mcp(
    *,
    issuer: str,
    resource_url: str,
    verifier: JwtTokenVerifier,
    endpoint_scope: str = DEFAULT_SCOPE,
) -> MCPServer[Any]:
    """The MCP server: its auth settings (every request needs ``endpoint_scope``) and the two
    tools."""
    with warnings.catch_warnings():
        # validate_token_resource=False is deliberate (the verifier checks ``aud``); the SDK
        # warns only when it is left unset, but keep the constructor quiet either way.
        warnings.simplefilter("ignore")
        auth = AuthSettings(
            issuer_url=issuer,  # type: ignore[arg-type]
            resource_server_url=resource_url,  # type: ignore[arg-type]
            required_scopes=[endpoint_scope],
            validate_token_resource=False,
        )
    server: MCPServer[Any] = MCPServer(
        name="httpie-stytch-connected test server",
        token_verifier=verifier,
        auth=auth,
        log_level="WARNING",
    )

    @server.tool(description="Who the access token says you are.")
    def whoami() -> str:
        token = get_access_token()
        return f"subject={token.subject if token else None}"

    @server.tool(description=f"Save a note (needs the {WRITE_SCOPE} scope).")
    def write_note(text: str) -> str:
        return f"saved: {text}"

    del whoami, write_note
    return server


class _Uvicorn(uvicorn.Server):
    """uvicorn that says when it is listening, so the starter waits on an event, not a sleep."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.up = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.up.set()


class McpResourceServer:
    """The MCP server on ``http://127.0.0.1:<free port>/mcp``, served from a daemon thread."""

    def __init__(
        self,
        *,
        issuer: str,
        jwks_uri: str | None = None,
        audience: str | None,
        authorization_server: str | None = None,
        endpoint_scope: str = DEFAULT_SCOPE,
        tool_scopes: Mapping[str, str] | None = None,
        port: int = 0,
    ) -> None:
        """``authorization_server`` is what the metadata names (default: ``issuer``);
        ``audience`` the ``aud`` tokens must carry (None: this server's own URL, as from a
        server that honours RFC 8707 ``resource``); ``endpoint_scope`` the scope every request
        needs (the emulator's ``read:data`` by default)."""
        self.issuer = issuer
        self.endpoint_scope = endpoint_scope
        self.authorization_server = authorization_server or issuer
        self.verifier = JwtTokenVerifier(
            jwks_uri=jwks_uri or issuer.rstrip("/") + "/.well-known/jwks.json",
            issuer=issuer,
            audience=audience or "",
        )
        self.tool_scopes = dict(tool_scopes or {"write_note": WRITE_SCOPE})
        self._port = port
        self._socket: socket.socket | None = None
        self._server: _Uvicorn | None = None
        self._thread: threading.Thread | None = None
        self.gate: ScopeGate | None = None

    @property
    def origin(self) -> str:
        if self._socket is None:
            raise RuntimeError("not started")
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    @property
    def url(self) -> str:
        """The MCP endpoint, which is also the resource identifier."""
        return self.origin + MCP_PATH

    @property
    def metadata_url(self) -> str:
        return self.origin + PRM_PATH

    def start(self) -> McpResourceServer:
        if self._socket is not None:
            raise RuntimeError("already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._port))
        self._socket = sock
        self.verifier.audience = self.verifier.audience or self.url
        mcp = build_mcp(
            issuer=self.authorization_server,
            resource_url=self.url,
            verifier=self.verifier,
            endpoint_scope=self.endpoint_scope,
        )
        self.gate = ScopeGate(
            mcp.streamable_http_app(host="127.0.0.1"),
            self.verifier,
            tool_scopes=self.tool_scopes,
            endpoint_scopes=[self.endpoint_scope],
            metadata_url=self.metadata_url,
        )
        config = uvicorn.Config(self.gate, log_level="warning", access_log=False, lifespan="on")
        server = _Uvicorn(config)
        self._server = server
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])),
            name="mcp-resource-server",
            daemon=True,
        )
        self._thread.start()
        if not server.up.wait(STARTUP_TIMEOUT):
            self.stop()
            raise RuntimeError(f"the MCP server did not start within {STARTUP_TIMEOUT} s")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(SHUTDOWN_TIMEOUT)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> McpResourceServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m httpie_stytch_connected.testing.mcp_server",
        description="Serve the MCP resource server on 127.0.0.1 until interrupted.",
    )
    parser.add_argument("--issuer", required=True, help="the token issuer (iss)")
    parser.add_argument("--audience", required=True, help="the aud tokens must carry")
    parser.add_argument("--jwks-uri", help="default: <issuer>/.well-known/jwks.json")
    parser.add_argument("--authorization-server", help="what the metadata names (default: issuer)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = McpResourceServer(
        issuer=args.issuer,
        audience=args.audience,
        jwks_uri=args.jwks_uri,
        authorization_server=args.authorization_server,
        port=args.port,
    )
    with server:
        print(server.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
