"""Row 3: a warm ``http -A stytch`` process vs ``http -A bearer``, and where the extra time goes."""

from __future__ import annotations

import statistics
import subprocess
from collections import defaultdict

from bench.common import Line, child_times, interleave, log, ratio_at_most, timed_child
from bench.context import Context
from bench.row_startup import parse_importtime


def _modules(argv: list[str], env: dict[str, str]) -> dict[str, int]:
    """Self µs per module imported by one run of ``argv`` (a python command line)."""
    done = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr[-1000:]}")
    return {name: self_us for _, self_us, _, name in parse_importtime(done.stderr)}


def run(ctx: Context) -> list[Line]:
    token = ctx.ensure_token()
    plug = ctx.plugin_python
    http = ctx.http(plug)
    env = ctx.env
    common = ["--ignore-stdin", "--check-status", "--print=b"]
    ours = [http, *common, "--auth-type=stytch", "GET", ctx.url]
    bearer = [http, *common, "-A", "bearer", "-a", token, "GET", ctx.url]
    cpu: dict[str, list[float]] = {"ours": [], "bearer": []}

    before = ctx.emulator.counters
    for argv in (ours, bearer):
        child_times(argv, env)
    rounds = ctx.n(30, 6)
    log(f"row 3: {rounds} interleaved pairs of warm `http` processes")
    ours_wall, bearer_wall = interleave(
        [timed_child(ours, env, cpu["ours"]), timed_child(bearer, env, cpu["bearer"])], rounds
    )
    after = ctx.emulator.counters
    token_calls = after["token_requests"] - before["token_requests"]
    lines = [
        Line(
            "3",
            "warm `http -A stytch GET`: wall",
            "ms",
            ours_wall,
            "`http -A bearer -a TOKEN GET`",
            bearer_wall,
            "ratio ≤ 1.10 (stretch 1.05)",
            ratio_at_most(1.10),
            note=f"token endpoint calls during the warm runs: {token_calls} (must be 0)",
        ),
        Line(
            "3",
            "warm `http -A stytch GET`: CPU user+sys",
            "ms",
            cpu["ours"],
            "`http -A bearer` CPU",
            cpu["bearer"],
            "info",
        ),
    ]
    if token_calls:
        lines[0].check = lambda _m, _r: False

    # Breakdown 1: modules only the stytch run imports (self time, -X importtime).
    reps = ctx.n(7, 3)
    extra: dict[str, list[int]] = defaultdict(list)
    for _ in range(reps):
        a = _modules([str(plug), http, *ours[1:]], env)
        b = _modules([str(plug), http, *bearer[1:]], env)
        groups: dict[str, int] = defaultdict(int)
        for name, self_us in a.items():
            if name not in b:
                top = name.split(".")[0]
                key = name if top == "httpie_stytch_connected" else f"{top} (3rd-party/stdlib)"
                groups[key] += self_us
        for key, us in groups.items():
            extra[key].append(us)
    total = [sum(v[i] for v in extra.values() if i < len(v)) / 1000 for i in range(reps)]
    lines.append(
        Line(
            "3",
            "breakdown: modules imported only by -A stytch (sum of self)",
            "ms",
            total,
            "",
            [],
            "info",
            note="; ".join(
                f"{k} {statistics.median(v) / 1000:.2f}"
                for k, v in sorted(extra.items(), key=lambda kv: -statistics.median(kv[1]))
            ),
        )
    )

    # Breakdown 2: the __call__ path timed piece by piece in a fresh process.
    pieces: dict[str, list[float]] = defaultdict(list)
    heavy: set[str] = set()
    for _ in range(reps):
        probe = ctx.probe(plug, "pieces", ctx.url)
        for name, ms in probe["ms"].items():
            pieces[name].append(ms)
        heavy.update(probe["heavy"])
    for name, samples in pieces.items():
        lines.append(Line("3", f"breakdown: {name}", "ms", samples, "", [], "info"))
    calls = [ctx.probe(plug, "call", ctx.url)["ms"] for _ in range(reps)]
    lines.append(
        Line(
            "3",
            "breakdown: first HTTPieStytchAuth.__call__ total (cold process)",
            "ms",
            calls,
            "",
            [],
            "info",
            note="heavy modules loaded by the warm path: " + (", ".join(sorted(heavy)) or "none"),
        )
    )
    return lines
