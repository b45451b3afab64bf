"""An MCP client from the ``mcp`` package, with ``httpx2.AsyncClient(auth=OAuth2PKCEAuth())``,
against a real MCP resource server (``httpie_stytch_connected.testing.mcp_server``) and the
Stytch emulator, with nothing configured but the server's URL: one sign-in (registration and
the scripted user agent), the tools listed and one called; then new processes
(examples/mcp_client.py) reuse the stored token without a browser, four of them on an expired
token make one refresh, and a tool that needs a wider scope costs one more sign-in.

Each test also runs the same client without our auth, which the server refuses: what passes
here passes because of the auth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp", reason="the MCP tests need the [mcp] extra (Python 3.10+)")

import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from httpie_stytch_connected.httpx2 import OAuth2PKCEAuth
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.testing import StytchEmulator
from httpie_stytch_connected.testing.mcp_server import McpResourceServer
from httpie_stytch_connected.zero_config.binding import BindingCache
from tests.lifecycle import expire_stored, slow_token_endpoint

pytestmark = pytest.mark.timeout(120)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mcp_client.py"


@pytest.fixture
def server(
    stytch_zero_env: StytchEmulator, stytch_mcp_server: McpResourceServer
) -> McpResourceServer:
    """The pytest plugin's MCP server, with nothing configured but zero configuration."""
    return stytch_mcp_server


async def _list_and_call(
    url: str, auth: httpx2.Auth | None, statuses: list[int]
) -> tuple[list[str], str]:
    async def record(response: httpx2.Response) -> None:
        statuses.append(response.status_code)

    hooks = {"response": [record]}
    async with (
        httpx2.AsyncClient(auth=auth, timeout=30, event_hooks=hooks) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tools = [t.name for t in (await session.list_tools()).tools]
        result = await session.call_tool("whoami", {})
        assert not result.is_error, result
        return tools, str(getattr(result.content[0], "text", ""))


def list_and_call(
    url: str, auth: httpx2.Auth | None, statuses: list[int] | None = None
) -> tuple[list[str], str]:
    """Initialize, list the tools and call ``whoami``; ``statuses`` gets every HTTP status the
    client received."""

    async def run() -> tuple[list[str], str]:
        with anyio.fail_after(60):
            return await _list_and_call(url, auth, [] if statuses is None else statuses)

    return anyio.run(run)


def run_example(*args: str, browser: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if browser is not None:
        env["BROWSER"] = browser
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def start_examples(count: int, *args: str) -> list[subprocess.Popen[str]]:
    """``count`` example processes started together, each failing on any browser."""
    env = dict(os.environ, BROWSER="false %s")
    return [
        subprocess.Popen(
            [sys.executable, str(EXAMPLE), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(count)
    ]


def test_without_our_auth_the_server_refuses_the_client(server: McpResourceServer) -> None:
    statuses: list[int] = []
    with pytest.raises(BaseException):  # noqa: B017 - the SDK's exception group
        list_and_call(server.url, None, statuses)
    assert statuses == [401]


def test_an_mcp_client_signs_in_once_from_the_server_url_alone_then_new_processes_reuse(
    stytch_zero_env: StytchEmulator, server: McpResourceServer
) -> None:
    emulator = stytch_zero_env
    statuses: list[int] = []
    tools, text = list_and_call(server.url, OAuth2PKCEAuth(), statuses)
    assert statuses[0] == 401 and 401 not in statuses[1:]  # the first request went bare
    assert {"whoami", "write_note"} <= set(tools)
    assert text.startswith("subject=") and text != "subject=None"
    assert emulator.counters["register"] == 1 and emulator.counters["login"] == 1

    forget_memory()
    done = run_example(server.url, "whoami", browser="false %s")  # a browser would fail
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    assert "whoami" in answer["tools"] and answer["text"] == [text]
    assert emulator.counters["register"] == 1 and emulator.counters["login"] == 1
    assert emulator.counters["token_requests"] == 1  # not even a refresh


def test_the_example_signs_in_from_nothing_and_says_why_it_cannot(
    stytch_zero_env: StytchEmulator, server: McpResourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example run as a person runs it, the first time; and a declined sign-in is one line
    of error, not a traceback from the SDK's task groups."""
    emulator = stytch_zero_env
    done = run_example(server.url, "whoami")  # BROWSER: the scripted user agent
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["text"][0].startswith("subject=")
    assert emulator.counters["login"] == 1

    monkeypatch.setenv("STYTCH_UA_DECISION", "deny")
    with McpResourceServer(  # another server (origin): no token for it yet, a new sign-in
        issuer=emulator.issuer, jwks_uri=emulator.jwks_uri, audience=emulator.project_id
    ) as other:
        refused = run_example(other.url)
    last = refused.stderr.strip().splitlines()[-1]
    assert refused.returncode == 1 and last.startswith("error: The sign-in was refused"), last
    assert "Traceback" not in refused.stderr


def test_a_tool_that_needs_a_wider_scope_costs_one_more_sign_in(
    stytch_zero_env: StytchEmulator, server: McpResourceServer
) -> None:
    """``write_note`` needs ``write:data`` too: the server answers 403 ``insufficient_scope``
    naming it, one more sign-in asks for it, and the call is resent and succeeds."""
    emulator = stytch_zero_env
    list_and_call(server.url, OAuth2PKCEAuth())
    assert emulator.counters["login"] == 1
    done = run_example(server.url, "write_note", '{"text": "hello"}')
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["text"] == ["saved: hello"]
    assert emulator.counters["login"] == 2


def test_four_client_processes_on_an_expired_token_make_one_refresh(
    stytch_zero_env: StytchEmulator, server: McpResourceServer
) -> None:
    """What MCP clients' users lose sessions to: several processes find the access token
    expired at once and each would spend the rotating refresh token. With ours, one refreshes,
    the others use its result, all four succeed, and the grant stays alive."""
    emulator = stytch_zero_env
    list_and_call(server.url, OAuth2PKCEAuth())
    binding = BindingCache().lookup(server.url)
    assert binding is not None
    expire_stored(binding.key)
    emulator.reset_counters()
    # The first refresh stays in flight longer than the processes take to start and arrive.
    slow_token_endpoint(emulator, 4, seconds=3.0)
    processes = start_examples(4, server.url, "whoami")
    outcomes = []
    try:
        for process in processes:
            _, err = process.communicate(timeout=90)
            outcomes.append((process.returncode, err[-500:]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    assert [code for code, _ in outcomes] == [0] * 4, outcomes
    assert emulator.counters["token_refresh_ok"] == 1
    assert emulator.counters["token_requests"] == 1
    assert emulator.counters["login"] == 0
    forget_memory()
    assert run_example(server.url, "whoami", browser="false %s").returncode == 0  # still alive


def test_the_example_has_help() -> None:
    done = run_example("--help")
    assert done.returncode == 0 and "usage: mcp_client.py" in done.stdout
