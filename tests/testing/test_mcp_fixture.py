"""The pytest plugin's ``stytch_mcp_server``, used the way a user tests their own MCP client (the
README's test, with the step-up too); and without ``mcp`` the plugin still imports and a test
asking for the fixture is skipped, not broken."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from httpie_stytch_connected.testing import StytchEmulator

if TYPE_CHECKING:
    from httpie_stytch_connected.testing.mcp_server import McpResourceServer

ROOT = Path(__file__).resolve().parents[2]
WITHOUT_MCP = "import sys\nsys.modules['mcp'] = None\nsys.modules['httpx2'] = None\n"


def test_a_user_tests_their_mcp_client_against_the_emulator(
    stytch_zero_env: StytchEmulator, stytch_mcp_server: McpResourceServer
) -> None:
    import httpx2
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    from httpie_stytch_connected.httpx2 import OAuth2PKCEAuth

    async def whoami_then_write() -> tuple[Any, Any]:
        async with (
            httpx2.AsyncClient(auth=OAuth2PKCEAuth(), timeout=30) as http,
            streamable_http_client(stytch_mcp_server.url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            who = await session.call_tool("whoami", {})
            note = await session.call_tool("write_note", {"text": "hello"})
            return who, note

    who, note = anyio.run(whoami_then_write)
    assert not who.is_error and who.content[0].text.startswith("subject=user-test-")
    assert not note.is_error and note.content[0].text == "saved: hello"
    assert stytch_zero_env.counters["login"] == 2  # the sign-in, then the step-up for write_note


def test_the_plugin_imports_without_mcp_and_httpx2() -> None:
    code = WITHOUT_MCP + (
        "import httpie_stytch_connected.testing.pytest_plugin as plugin\n"
        "print(callable(plugin.stytch_mcp_server))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr


def test_without_mcp_a_test_asking_for_the_server_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(WITHOUT_MCP, encoding="utf-8")
    (tmp_path / "test_users_client.py").write_text(
        "def test_my_mcp_client(stytch_mcp_server):\n    raise AssertionError('ran')\n",
        encoding="utf-8",
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))  # this checkout's plugin, whatever is installed
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert "stytch_mcp_server needs the mcp package" in done.stdout
