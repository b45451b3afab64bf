"""An MCP client end to end against the independent OpenID provider (issue 20 §2): the ``mcp``
package's client with ``httpx2.AsyncClient(auth=OAuth2PKCEAuth())``, a real MCP server built
with the same package as the resource server (tokens checked against the provider's JWKS, its
``aud`` the server's own URL: the provider honours RFC 8707), headless Chromium signing in at
node's oidc-provider, and nothing configured but the server's URL. A second client, as a new
process would, reuses the stored token without a browser; the same client without our auth is
refused."""

from __future__ import annotations

import pytest

pytest.importorskip("mcp", reason="the MCP tests need the [mcp] extra (Python 3.10+)")

import anyio
import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from httpie_stytch_connected.httpx2 import OAuth2PKCEAuth
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.testing.mcp_server import McpResourceServer

from .conftest import zero_environ
from .oidc_provider import OIDCProviderProcess

pytestmark = pytest.mark.timeout(180)


async def _whoami(url: str, auth: httpx2.Auth | None, statuses: list[int]) -> str:
    async def record(response: httpx2.Response) -> None:
        statuses.append(response.status_code)

    async with (
        httpx2.AsyncClient(auth=auth, timeout=60, event_hooks={"response": [record]}) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        assert "whoami" in [t.name for t in (await session.list_tools()).tools]
        result = await session.call_tool("whoami", {})
        assert not result.is_error, result
        return str(getattr(result.content[0], "text", ""))


def whoami(url: str, auth: httpx2.Auth | None, statuses: list[int] | None = None) -> str:
    """Initialize, list the tools and call ``whoami``; ``statuses`` gets every HTTP status."""

    async def run() -> str:
        with anyio.fail_after(120):
            return await _whoami(url, auth, [] if statuses is None else statuses)

    return anyio.run(run)


def test_an_mcp_client_signs_in_once_at_an_independent_provider(op: OIDCProviderProcess) -> None:
    server = McpResourceServer(
        issuer=op.issuer, jwks_uri=op.jwks_uri, audience=None, endpoint_scope="api:read"
    )
    with server:
        bare: list[int] = []
        with pytest.raises(BaseException):  # noqa: B017 - the SDK's exception group
            whoami(server.url, None, bare)
        assert bare == [401]
        first = whoami(server.url, OAuth2PKCEAuth(environ=zero_environ(), login_timeout=60))
        assert first.startswith("subject=") and first != "subject=None"
        forget_memory()  # as a new process: only what was stored
        again = whoami(server.url, OAuth2PKCEAuth(environ=zero_environ(), login_timeout=60))
        assert again == first
    counters = op.counters()
    assert counters["token_success"].get("authorization_code") == 1  # one sign-in in all
