"""Row 8: httpx2, measured as row 7 measures httpx (:mod:`bench.row_httpx`): a warm
``Client`` GET and 64 concurrent ``AsyncClient`` GETs against a static header, and the event
loop's largest stall during a refresh. httpx2 is the MCP SDK's HTTP client."""

from __future__ import annotations

import httpx2

from bench.common import Line
from bench.context import Context
from bench.row_httpx import run_for


def run(ctx: Context) -> list[Line]:
    return run_for(ctx, httpx2, "8")
