"""The MCP resource server (``httpie_stytch_connected.testing.mcp_server``) against the Stytch
emulator, through a plain ``mcp`` client with a static Bearer header: what it refuses and what
it accepts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp", reason="the MCP tests need the [mcp] extra (Python 3.10+)")

import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import TextContent

from httpie_stytch_connected.testing import StytchEmulator
from httpie_stytch_connected.testing.mcp_server import (
    DEFAULT_SCOPE,
    WRITE_SCOPE,
    McpResourceServer,
)

from .emulator_tokens import sign_in

pytestmark = pytest.mark.timeout(60)

READ = f"openid {DEFAULT_SCOPE}"
WRITE = f"openid {DEFAULT_SCOPE} {WRITE_SCOPE}"
TOOLS_CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
JSON_RPC_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.fixture
def emulator() -> Iterator[StytchEmulator]:
    with StytchEmulator() as emu:
        yield emu


@pytest.fixture
def server(emulator: StytchEmulator) -> Iterator[McpResourceServer]:
    with McpResourceServer(
        issuer=emulator.issuer, jwks_uri=emulator.jwks_uri, audience=emulator.project_id
    ) as srv:
        yield srv


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _session_call(url: str, token: str, tool: str, arguments: dict[str, Any]) -> Any:
    async with (
        httpx2.AsyncClient(headers=bearer(token), timeout=10) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tools = await session.list_tools()
        result = await session.call_tool(tool, arguments)
        return [t.name for t in tools.tools], result


def call_tool(url: str, token: str, tool: str, arguments: dict[str, Any]) -> Any:
    async def run() -> Any:
        with anyio.fail_after(30):
            return await _session_call(url, token, tool, arguments)

    return anyio.run(run)


def leaves(error: BaseException) -> list[BaseException]:
    inner: tuple[BaseException, ...] | None = getattr(error, "exceptions", None)
    if inner is not None:  # an exception group (a builtin from Python 3.11)
        return [leaf for each in inner for leaf in leaves(each)]
    return [error]


def challenge_params(header: str) -> dict[str, str]:
    scheme, _, rest = header.partition(" ")
    assert scheme == "Bearer"
    params: dict[str, str] = {}
    for part in rest.split('", '):
        name, _, value = part.partition("=")
        params[name.strip()] = value.strip().strip('"')
    return params


def test_no_token_is_401_naming_the_resource_metadata(
    server: McpResourceServer, emulator: StytchEmulator
) -> None:
    response = httpx2.post(server.url, json=TOOLS_CALL, headers=JSON_RPC_HEADERS, timeout=10)
    assert response.status_code == 401
    params = challenge_params(response.headers["WWW-Authenticate"])
    assert params["resource_metadata"] == server.metadata_url
    metadata = httpx2.get(params["resource_metadata"], timeout=10).json()
    assert metadata["resource"] == server.url
    assert metadata["authorization_servers"] == [emulator.issuer]
    assert metadata["scopes_supported"] == [DEFAULT_SCOPE]


def test_a_valid_token_lists_tools_and_calls_one(
    server: McpResourceServer, emulator: StytchEmulator
) -> None:
    token = sign_in(emulator, READ)["access_token"]
    names, result = call_tool(server.url, token, "whoami", {})
    assert sorted(names) == ["whoami", "write_note"]
    assert not result.is_error
    assert isinstance(result.content[0], TextContent)
    assert result.content[0].text == f"subject={emulator.user_id}"


def test_a_token_from_another_issuer_is_refused(server: McpResourceServer) -> None:
    # Same project ID, same shape, another signing key and issuer.
    with StytchEmulator() as other:
        token = sign_in(other, READ)["access_token"]
    response = httpx2.post(
        server.url, json=TOOLS_CALL, headers={**JSON_RPC_HEADERS, **bearer(token)}, timeout=10
    )
    assert response.status_code == 401
    params = challenge_params(response.headers["WWW-Authenticate"])
    assert params["error"] == "invalid_token"
    assert params["resource_metadata"] == server.metadata_url


def test_an_expired_token_is_refused() -> None:
    with (
        StytchEmulator(access_token_ttl=-120) as emu,
        McpResourceServer(issuer=emu.issuer, jwks_uri=emu.jwks_uri, audience=emu.project_id) as srv,
    ):
        token = sign_in(emu, READ)["access_token"]
        response = httpx2.post(
            srv.url, json=TOOLS_CALL, headers={**JSON_RPC_HEADERS, **bearer(token)}, timeout=10
        )
    assert response.status_code == 401
    assert challenge_params(response.headers["WWW-Authenticate"])["error"] == "invalid_token"


def test_a_token_for_another_audience_is_refused(emulator: StytchEmulator) -> None:
    token = sign_in(emulator, READ)["access_token"]
    with McpResourceServer(
        issuer=emulator.issuer, jwks_uri=emulator.jwks_uri, audience="project-test-someone-else"
    ) as srv:
        response = httpx2.post(
            srv.url, json=TOOLS_CALL, headers={**JSON_RPC_HEADERS, **bearer(token)}, timeout=10
        )
    assert response.status_code == 401


def test_step_up_403_insufficient_scope_then_the_wider_token_succeeds(
    server: McpResourceServer, emulator: StytchEmulator
) -> None:
    narrow = sign_in(emulator, READ)["access_token"]
    request = {**TOOLS_CALL, "params": {"name": "write_note", "arguments": {"text": "hi"}}}
    response = httpx2.post(
        server.url, json=request, headers={**JSON_RPC_HEADERS, **bearer(narrow)}, timeout=10
    )
    assert response.status_code == 403
    params = challenge_params(response.headers["WWW-Authenticate"])
    assert params["error"] == "insufficient_scope"
    assert params["scope"].split() == [DEFAULT_SCOPE, WRITE_SCOPE]
    assert params["resource_metadata"] == server.metadata_url
    assert json.loads(response.content)["error"] == "insufficient_scope"

    # Through the MCP client: the narrow token lists tools but cannot call write_note.
    assert server.gate is not None and server.gate.refused == 1
    with pytest.raises(BaseException) as refused:
        call_tool(server.url, narrow, "write_note", {"text": "hi"})
    assert any(isinstance(e, MCPError) for e in leaves(refused.value))
    assert server.gate.refused == 2

    wide = sign_in(emulator, WRITE)["access_token"]
    _, result = call_tool(server.url, wide, "write_note", {"text": "hi"})
    assert not result.is_error
    assert isinstance(result.content[0], TextContent)
    assert result.content[0].text == "saved: hi"
