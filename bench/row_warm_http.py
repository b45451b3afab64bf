"""Row 3: a warm ``http -A stytch`` process vs ``http -A bearer``, and where the extra time goes."""

from __future__ import annotations

from collections import defaultdict

from bench import imports
from bench.common import Line, child_times, interleave, log, ratio_at_most, timed_child
from bench.context import Context


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
    extra = imports.only_stytch(str(plug), ours, bearer, env, reps)
    lines += imports.lines("3", extra, reps)

    # Breakdown 2: the __call__ path timed piece by piece in a fresh process.
    pieces: dict[str, list[float]] = defaultdict(list)
    heavy: set[str] = set()
    hits = 0
    for _ in range(reps):
        probe = ctx.probe(plug, "pieces", ctx.url)
        for name, ms in probe["ms"].items():
            pieces[name].append(ms)
        heavy.update(probe["heavy"])
        hits += bool(probe.get("warm_hit"))
    for name, samples in pieces.items():
        note = f"it found the token in {hits} of {reps} runs" if name.startswith("warm") else ""
        lines.append(Line("3", f"breakdown: {name}", "ms", samples, "", [], "info", note=note))
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
