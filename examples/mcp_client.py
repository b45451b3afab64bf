"""Connect to an OAuth-protected MCP server with the ``mcp`` package and our httpx2 auth.

Nothing is configured but the server's URL: its ``401`` names the authorization server (RFC
9728), the client registers itself there if it must, and the browser opens once; later runs,
in any process, reuse or refresh the stored tokens silently, and several processes share one
refresh. Lists the server's tools and calls one (with no arguments unless ``ARGS_JSON`` is
given). Needs ``pip install 'httpie-stytch-connected[httpx2]' mcp``.

    python examples/mcp_client.py https://mcp.example.com/mcp [TOOL [ARGS_JSON]]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from httpie_stytch_connected import AuthenticationError
from httpie_stytch_connected.httpx2 import OAuth2PKCEAuth


async def use_server(url: str, tool: str | None, arguments: dict[str, Any]) -> dict[str, Any]:
    """The tool names, and the text ``tool`` answered (when one is named)."""
    async with (
        httpx2.AsyncClient(auth=OAuth2PKCEAuth(), timeout=30) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tools = [t.name for t in (await session.list_tools()).tools]
        answer: dict[str, Any] = {"tools": tools}
        if tool is not None:
            result = await session.call_tool(tool, arguments)
            answer["error"] = result.is_error
            answer["text"] = [getattr(part, "text", None) for part in result.content]
        return answer


def _errors(error: BaseException) -> list[BaseException]:
    """The exceptions inside the task groups the SDK raises (an ``ExceptionGroup``)."""
    inner: tuple[BaseException, ...] | None = getattr(error, "exceptions", None)
    if inner is None:
        return [error]
    return [leaf for each in inner for leaf in _errors(each)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="mcp_client.py",
        description="List an OAuth-protected MCP server's tools and call one; nothing to "
        "configure but the URL.",
    )
    parser.add_argument("url", help="the MCP endpoint, e.g. https://mcp.example.com/mcp")
    parser.add_argument("tool", nargs="?", help="a tool to call")
    parser.add_argument("arguments", nargs="?", default="{}", help="its arguments, as JSON")
    args = parser.parse_args(argv)
    try:
        answer = asyncio.run(use_server(args.url, args.tool, json.loads(args.arguments)))
    except Exception as exc:  # the SDK wraps failures in exception groups
        for leaf in _errors(exc):
            if isinstance(leaf, AuthenticationError):
                print(f"error: {leaf}", file=sys.stderr)
            else:
                print(f"error: {type(leaf).__name__}: {leaf}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2))
    return 1 if answer.get("error") else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
