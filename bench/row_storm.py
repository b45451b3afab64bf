"""Row 5: refresh storms — 64 threads sharing one StytchAuth, and 8 ``http`` processes at once,
all starting from an expired access token. Exactly one refresh may reach the token endpoint.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable

import requests

from bench.common import Line, interleave, log, median_at_most
from bench.context import Context

THREADS = 64
PROCESSES = 8


def _threads(ctx: Context, count: int, refreshes: list[float], failures: list[str]) -> float:
    """Wall ms for ``count`` threads (one shared StytchAuth) to each finish one GET."""
    from httpie_stytch_connected.lifecycle.manager import forget_memory

    ctx.expire_token()
    forget_memory()
    auth = ctx.auth()
    auth.manager  # noqa: B018 - built before the clock starts, as in a warmed-up app
    barrier = threading.Barrier(count + 1)

    def worker() -> None:
        barrier.wait()
        try:
            with requests.Session() as session:
                session.trust_env = False
                status = session.get(ctx.url, auth=auth, timeout=60).status_code
            if status != 200:
                failures.append(f"HTTP {status}")
        except Exception as exc:
            failures.append(type(exc).__name__)

    pool = [threading.Thread(target=worker) for _ in range(count)]
    for thread in pool:
        thread.start()
    before = ctx.emulator.counters["token_refresh"]
    barrier.wait()
    start = time.perf_counter()
    for thread in pool:
        thread.join()
    elapsed = (time.perf_counter() - start) * 1000
    refreshes.append(ctx.emulator.counters["token_refresh"] - before)
    return elapsed


def _processes(ctx: Context, count: int, refreshes: list[float], failures: list[str]) -> float:
    """Wall ms for ``count`` ``http -A stytch`` processes started together to all finish."""
    ctx.expire_token()
    argv = [
        ctx.http(ctx.plugin_python),
        "--ignore-stdin",
        "--check-status",
        "--print=b",
        "--auth-type=stytch",
        "GET",
        ctx.url,
    ]
    before = ctx.emulator.counters["token_refresh"]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            argv,
            env=ctx.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(count)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            failures.append(f"exit {proc.returncode}: {err.decode(errors='replace')[-300:]}")
    elapsed = (time.perf_counter() - start) * 1000
    refreshes.append(ctx.emulator.counters["token_refresh"] - before)
    return elapsed


def _side(
    fn: Callable[[Context, int, list[float], list[str]], float],
    ctx: Context,
    count: int,
    refreshes: list[float],
    failures: list[str],
) -> Callable[[], float]:
    return lambda: fn(ctx, count, refreshes, failures)


def run(ctx: Context) -> list[Line]:
    ctx.plugin_python  # noqa: B018 - build the venv before any clock runs
    one_r: list[float] = []
    many_r: list[float] = []
    failures: list[str] = []
    rounds = ctx.n(7, 2)
    log(f"row 5: {rounds} rounds of 1 vs {THREADS} threads on an expired token")
    single, storm = interleave(
        [
            _side(_threads, ctx, 1, one_r, failures),
            _side(_threads, ctx, THREADS, many_r, failures),
        ],
        rounds,
    )
    p_one: list[float] = []
    p_many: list[float] = []
    p_rounds = ctx.n(5, 1)
    log(f"row 5: {p_rounds} rounds of 1 vs {PROCESSES} `http` processes on an expired token")
    p_single, p_storm = interleave(
        [
            _side(_processes, ctx, 1, p_one, failures),
            _side(_processes, ctx, PROCESSES, p_many, failures),
        ],
        p_rounds,
    )
    ok = not failures
    note = "all requests answered 200" if ok else f"failures: {sorted(set(failures))[:5]}"
    ctx.ensure_token()
    return [
        Line(
            "5",
            f"{THREADS} threads, one StytchAuth, expired token: refreshes per storm",
            "count",
            many_r,
            "",
            [],
            "= 1 (and all 200)",
            lambda m, _r: ok and max(many_r) == 1 and min(many_r) == 1,
            note=note,
        ),
        Line(
            "5",
            f"{THREADS} threads: wall time of the storm",
            "ms",
            storm,
            "1 thread, 1 refresh",
            single,
            "info",
        ),
        Line(
            "5",
            f"{PROCESSES} `http -A stytch` processes at once: refreshes per storm",
            "count",
            p_many,
            "",
            [],
            "= 1 (and all 200)",
            lambda m, _r: ok and max(p_many) == 1 and min(p_many) == 1,
            note=note,
        ),
        Line(
            "5",
            f"{PROCESSES} processes: wall time until all exit",
            "ms",
            p_storm,
            "1 process, 1 refresh",
            p_single,
            "info",
        ),
        Line(
            "5",
            "single-refresh baselines: refreshes each (1 thread, 1 process)",
            "count",
            one_r + p_one,
            "",
            [],
            "= 1",
            median_at_most(1.0),
        ),
    ]
