"""One long MCP session (the ``mcp`` package's client, our httpx2 auth) through what happens to
long sessions: the token expiring mid-session, many tool calls on an expired token at once, a
tool call cancelled while the refresh it started is in flight, the MCP server restarting."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

pytest.importorskip("mcp", reason="the MCP tests need the [mcp] extra (Python 3.10+)")

import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from httpie_stytch_connected.httpx2 import OAuth2PKCEAuth
from httpie_stytch_connected.testing import StytchEmulator
from httpie_stytch_connected.testing.mcp_server import McpResourceServer
from httpie_stytch_connected.zero_config.binding import BindingCache
from tests.lifecycle import expire_stored, slow_token_endpoint

pytestmark = pytest.mark.timeout(120)


@asynccontextmanager
async def session_on(url: str, auth: httpx2.Auth) -> AsyncIterator[ClientSession]:
    async with (
        httpx2.AsyncClient(auth=auth, timeout=30) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def whoami(session: ClientSession) -> str:
    result = await session.call_tool("whoami", {})
    assert not result.is_error, result
    return str(getattr(result.content[0], "text", ""))


def expire(server: McpResourceServer) -> None:
    binding = BindingCache().lookup(server.url)
    assert binding is not None
    expire_stored(binding.key)


@asynccontextmanager
async def expired_session(
    server: McpResourceServer, emulator: StytchEmulator
) -> AsyncIterator[tuple[ClientSession, str]]:
    """A session that signed in and made one call (its answer comes too), then found its token
    expired, with the emulator's counters from then on; within a bounded minute."""
    with anyio.fail_after(60):
        async with session_on(server.url, OAuth2PKCEAuth()) as session:
            first = await whoami(session)
            expire(server)
            emulator.reset_counters()
            yield session, first


def test_the_token_expires_mid_session_and_the_session_goes_on_after_one_refresh(
    stytch_zero_env: StytchEmulator, stytch_mcp_server: McpResourceServer
) -> None:
    emulator = stytch_zero_env

    async def run() -> None:
        async with expired_session(stytch_mcp_server, emulator) as (session, first):
            assert await whoami(session) == first
            assert await whoami(session) == first
        assert emulator.counters["token_refresh_ok"] == 1
        assert emulator.counters["login"] == 0

    anyio.run(run)


def test_sixteen_tool_calls_on_an_expired_token_make_one_refresh(
    stytch_zero_env: StytchEmulator, stytch_mcp_server: McpResourceServer
) -> None:
    emulator = stytch_zero_env

    async def run() -> None:
        async with expired_session(stytch_mcp_server, emulator) as (session, first):
            slow_token_endpoint(emulator, 1, seconds=1.0)
            answers: list[str] = []

            async def one() -> None:
                answers.append(await whoami(session))

            async with anyio.create_task_group() as tg:
                for _ in range(16):
                    tg.start_soon(one)
            assert answers == [first] * 16
        assert emulator.counters["token_refresh_ok"] == 1
        assert emulator.counters["token_requests"] == 1

    anyio.run(run)


def test_a_tool_call_cancelled_during_its_refresh_leaves_the_session_working(
    stytch_zero_env: StytchEmulator, stytch_mcp_server: McpResourceServer
) -> None:
    emulator = stytch_zero_env

    async def run() -> None:
        async with expired_session(stytch_mcp_server, emulator) as (session, first):
            slow_token_endpoint(emulator, 1, seconds=2.0)
            with anyio.CancelScope() as scope:

                async def cancel_when_refresh_starts() -> None:
                    while emulator.counters["token_requests"] == 0:  # bounded: expired_session
                        await anyio.sleep(0.01)
                    scope.cancel()

                async with anyio.create_task_group() as tg:
                    tg.start_soon(cancel_when_refresh_starts)
                    await whoami(session)
            assert scope.cancelled_caught
            assert await whoami(session) == first
        assert emulator.counters["token_refresh_ok"] == 1
        assert emulator.counters["token_requests"] == 1

    anyio.run(run)


def test_after_the_server_restarts_a_new_session_needs_no_sign_in(
    stytch_zero_env: StytchEmulator, stytch_mcp_server: McpResourceServer
) -> None:
    emulator = stytch_zero_env
    auth = OAuth2PKCEAuth()
    url = stytch_mcp_server.url
    port = int(stytch_mcp_server.origin.rsplit(":", 1)[1])

    async def once() -> str:
        with anyio.fail_after(60):
            async with session_on(url, auth) as session:
                return await whoami(session)

    first = anyio.run(once)
    stytch_mcp_server.stop()
    with McpResourceServer(
        issuer=emulator.issuer, jwks_uri=emulator.jwks_uri, audience=emulator.project_id, port=port
    ):
        emulator.reset_counters()
        assert anyio.run(once) == first
    assert emulator.counters["login"] == 0 and emulator.counters["token_requests"] == 0
