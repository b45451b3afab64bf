"""Awaiting a sign-in from async code, as the MCP guide shows it (the code is read from the
guide): under asyncio and trio, through httpx2 and httpx, the sign-in happens before the first
request, which then carries the token with no other sign-in."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import pytest

from httpie_stytch_connected.testing import StytchEmulator
from httpie_stytch_connected.testing.emulator import example_api

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "mcp.md"
SECTION = "## Sign in before the first request"


def guide_sign_in() -> Any:
    """The ``sign_in`` coroutine function of the guide's first code block in :data:`SECTION`."""
    text = GUIDE.read_text(encoding="utf-8")
    assert SECTION in text, f"the MCP guide has no {SECTION!r} section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    code = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, str(GUIDE), "exec"), namespace)  # noqa: S102 - our own guide's code
    return namespace["sign_in"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("library", ["httpx2", "httpx"])
def test_the_guide_s_sign_in_is_awaited_before_the_first_request(
    stytch_zero_env: StytchEmulator, library: str, backend: str
) -> None:
    if backend == "trio":
        pytest.importorskip("trio")
    http = pytest.importorskip(library)
    adapter = pytest.importorskip(f"httpie_stytch_connected.{library}")
    emulator = stytch_zero_env
    sign_in = guide_sign_in()

    async def main(url: str) -> int:
        auth = adapter.OAuth2PKCEAuth()
        await sign_in(auth, url)
        assert emulator.counters["login"] == 1
        async with http.AsyncClient(auth=auth, timeout=30) as client:
            response = await client.get(url)
        return int(response.status_code)

    with example_api(emulator) as api:
        assert anyio.run(main, api.url, backend=backend) == 200
        assert api.counters["401"] == 1  # the discovery's bare request, never the client's
    assert emulator.counters["login"] == 1
