"""Row 7: httpx (and row 8, the same measurements for httpx2: :mod:`bench.row_httpx2`). A warm
``Client`` GET and 64 concurrent ``AsyncClient`` GETs against a static header, and the event
loop's largest stall while a refresh waits on a slowed token endpoint. Each function takes the
library (``httpx`` or ``httpx2``) and the row's number: one row's code for both."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from importlib import import_module
from types import ModuleType
from typing import Any

import httpx

from bench.common import Line, interleave, log, median_at_most, ratio_at_most
from bench.context import Context

CONCURRENT = 64
#: How long the token endpoint takes to answer in the stall rounds.
SLOW_TOKEN_SECONDS = 1.5
#: How often the ticker task asks to run again; a stall is any lateness beyond it.
TICK = 0.001


def _ours(lib: ModuleType) -> Any:
    """Our module for ``lib``: ``httpie_stytch_connected.httpx`` or ``.httpx2``."""
    return import_module(f"httpie_stytch_connected.{lib.__name__}")


def _auth(lib: ModuleType) -> Any:
    return _ours(lib).StytchAuth(notify=lambda _message: None)


def _warm_client(
    ctx: Context, token: str, failures: list[int], lib: ModuleType, row: str
) -> list[Line]:
    clients = {
        "static": lib.Client(trust_env=False, headers={"Authorization": f"Bearer {token}"}),
        "ours": lib.Client(trust_env=False, auth=_auth(lib)),
    }
    block = ctx.n(10, 10)

    def side(client: Any) -> Callable[[], float]:
        def once() -> float:
            start = time.perf_counter()
            for _ in range(block):
                status = client.get(ctx.url).status_code
                if status != 200:
                    failures.append(status)
            return (time.perf_counter() - start) / block * 1e6

        return once

    sides = [side(c) for c in clients.values()]
    for s in sides:
        s()  # warm-up: connection, memory cache
    rounds = ctx.n(200, 20)
    log(f"row {row}: {rounds} rounds x {block} Client GETs per side, interleaved")
    static, ours = interleave(sides, rounds)
    for client in clients.values():
        client.close()
    return [
        Line(
            row,
            f"GET, {lib.__name__}.Client + StytchAuth (warm)",
            "µs",
            ours,
            "static header",
            static,
            "ratio ≤ 1.02",
            ratio_at_most(1.02),
        )
    ]


def _concurrent(
    ctx: Context, token: str, failures: list[int], lib: ModuleType, row: str
) -> list[Line]:
    async def main() -> tuple[list[float], list[float]]:
        static = lib.AsyncClient(trust_env=False, headers={"Authorization": f"Bearer {token}"})
        ours = lib.AsyncClient(trust_env=False, auth=_auth(lib))

        def side(client: Any) -> Callable[[], Awaitable[float]]:
            async def once() -> float:
                start = time.perf_counter()
                responses = await asyncio.gather(*(client.get(ctx.url) for _ in range(CONCURRENT)))
                elapsed = (time.perf_counter() - start) * 1000
                failures.extend(r.status_code for r in responses if r.status_code != 200)
                return elapsed

            return once

        sides = [side(static), side(ours)]
        for s in sides:
            await s()  # warm-up: 64 connections each, memory cache
        samples: list[list[float]] = [[], []]
        for r in range(ctx.n(60, 8)):
            for i in (0, 1) if r % 2 == 0 else (1, 0):
                samples[i].append(await sides[i]())
        await static.aclose()
        await ours.aclose()
        return samples[0], samples[1]

    log(f"row {row}: AsyncClient, {CONCURRENT} concurrent GETs per round, interleaved")
    static, ours = asyncio.run(main())
    return [
        Line(
            row,
            f"{CONCURRENT} concurrent GETs, {lib.__name__}.AsyncClient + StytchAuth (warm)",
            "ms",
            ours,
            "static header",
            static,
            "info",
        )
    ]


async def _largest_stall(work: Callable[[], Awaitable[object]]) -> float:
    """Ms by which a task that asks to run every ``TICK`` s ran late, at worst, during ``work``."""
    done = asyncio.Event()
    worst = 0.0

    async def ticker() -> None:
        nonlocal worst
        while not done.is_set():
            start = time.perf_counter()
            await asyncio.sleep(TICK)
            worst = max(worst, time.perf_counter() - start - TICK)

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # the ticker is running before the work starts
    try:
        await work()
    finally:
        done.set()
        await ticking
    return worst * 1000


def _stall(ctx: Context, failures: list[int], lib: ModuleType, row: str) -> list[Line]:
    """Refresh rounds interleaved with idle rounds of the same length: on a shared machine the
    scheduler alone delays a ticking task by tens of ms now and then, and the idle rounds show
    how much of the stall is that. The token endpoint is the static server's slowed one, in its
    own process, so no provider work shares this process's GIL."""
    from httpie_stytch_connected.lifecycle.manager import forget_memory
    from httpie_stytch_connected.oauth.tokens import TokenSet

    origin = ctx.url.split("/api/", 1)[0]

    def expired_auth() -> Any:
        auth = _ours(lib).OAuth2PKCEAuth(
            client_id="bench-slow-token-endpoint",
            authorization_endpoint=origin + "/authorize",
            token_endpoint=f"{origin}/token/{SLOW_TOKEN_SECONDS}",
            notify=lambda _message: None,
        )
        manager = auth.manager  # built before the clock starts, as in a warmed-up app
        past = time.time() - 3600
        expired = TokenSet("expired", expires_at=past, refresh_token="r", received_at=past - 60)
        manager.store.save(manager.key, expired)
        if manager.access_cache is not None:
            manager.access_cache.delete(manager.key)
        forget_memory()
        return auth

    def refresh() -> float:
        auth = expired_auth()

        async def main() -> float:
            # Built before the clock starts, as in a running app: an AsyncClient loads its TLS
            # context (the CA bundle) on the loop when it is made.
            async with lib.AsyncClient(trust_env=False, auth=auth) as client:

                async def get() -> None:
                    response = await client.get(ctx.url)
                    if response.status_code != 200:
                        failures.append(response.status_code)

                return await _largest_stall(get)

        return asyncio.run(main())

    def on_the_loop() -> float:  # what a blocking adapter does: the refresh on the loop
        manager = expired_auth().manager

        async def refresh_here() -> None:
            manager.access_token()

        return asyncio.run(_largest_stall(refresh_here))

    def idle() -> float:
        return asyncio.run(_largest_stall(lambda: asyncio.sleep(SLOW_TOKEN_SECONDS)))

    rounds = ctx.n(7, 2)
    log(f"row {row}: event-loop stall, {rounds} refreshes, {SLOW_TOKEN_SECONDS} s endpoint")
    ours, quiet = interleave([refresh, idle], rounds)
    naive = [on_the_loop()]
    return [
        Line(
            row,
            f"largest event-loop stall during a refresh ({SLOW_TOKEN_SECONDS} s token endpoint)",
            "ms",
            ours,
            f"idle loop, {SLOW_TOKEN_SECONDS} s",
            quiet,
            "< 50 ms",
            median_at_most(50.0),
            note="each sample is the worst lateness of a 1 ms ticker task in one round",
        ),
        Line(
            row,
            "the same refresh called on the loop (a blocking adapter), for contrast",
            "ms",
            naive,
            target="info",
        ),
    ]


def run_for(ctx: Context, lib: ModuleType, row: str) -> list[Line]:
    """The row for ``lib`` (``httpx`` or ``httpx2``), numbered ``row``."""
    token = ctx.ensure_token()
    failures: list[int] = []
    lines = _warm_client(ctx, token, failures, lib, row)
    lines += _concurrent(ctx, token, failures, lib, row)
    lines += _stall(ctx, failures, lib, row)
    if failures:
        raise RuntimeError(f"row {row}: non-200 answers: {sorted(set(failures))}")
    return lines


def run(ctx: Context) -> list[Line]:
    return run_for(ctx, httpx, "7")
