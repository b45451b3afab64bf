"""Row 2: HTTPie start-up with and without the plugin, our import cost, no keyring."""

from __future__ import annotations

import statistics
import subprocess
from pathlib import Path

from bench.common import (
    Line,
    child_times,
    interleave,
    log,
    median_at_most,
    ratio_at_most,
    timed_child,
)
from bench.context import Context

OURS = "httpie_stytch_connected"


def parse_importtime(stderr: str) -> list[tuple[int, int, int, str]]:
    """``-X importtime`` lines as (depth, self µs, cumulative µs, module)."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:") :].split("|", 2)
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # the header line
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        rows.append((depth, int(parts[0]), int(parts[1]), name.strip()))
    return rows


def our_import_us(python: Path, env: dict[str, str]) -> tuple[int, list[str]]:
    """Cumulative µs of importing our HTTPie module after HTTPie itself, and what it pulled in."""
    done = subprocess.run(
        [
            str(python),
            "-X",
            "importtime",
            "-c",
            f"import httpie.core; import {OURS}.httpie_plugin",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    rows = parse_importtime(done.stderr)
    start = max(i for i, r in enumerate(rows) if r[3] == "httpie.core" and r[0] == 0)
    ours = rows[start + 1 :]
    total = sum(r[2] for r in ours if r[0] == 0)
    return total, [r[3] for r in ours]


def run(ctx: Context) -> list[Line]:
    base, plug = ctx.baseline_python, ctx.plugin_python
    env = ctx.env
    argv_base = [ctx.http(base), "--version"]
    argv_plug = [ctx.http(plug), "--version"]
    cpu: dict[str, list[float]] = {"base": [], "plug": []}

    for argv in (argv_base, argv_plug):
        child_times(argv, env)  # warm the page cache and .pyc files
    rounds = ctx.n(30, 6)
    log(f"row 2: {rounds} interleaved pairs of `http --version`")
    base_wall, plug_wall = interleave(
        [timed_child(argv_base, env, cpu["base"]), timed_child(argv_plug, env, cpu["plug"])], rounds
    )

    imports = [our_import_us(plug, env) for _ in range(ctx.n(15, 4))]
    pulled = sorted({m for _, mods in imports for m in mods if not m.startswith(OURS)})
    load_base, load_plug = interleave(
        [lambda: float(ctx.probe(base, "plugins")["ms"]),
         lambda: float(ctx.probe(plug, "plugins")["ms"])],
        ctx.n(15, 4),
    )  # fmt: skip
    modules = ctx.probe(plug, "modules")
    keyring_loaded = "keyring" in modules["heavy"]
    return [
        Line(
            "2",
            "`http --version`, plugin installed: wall",
            "ms",
            plug_wall,
            "same, HTTPie alone",
            base_wall,
            "ratio ≤ 1.02",
            ratio_at_most(1.02),
            note=f"CPU (user+sys) median {statistics.median(cpu['plug']):.0f} ms vs "
            f"{statistics.median(cpu['base']):.0f} ms without the plugin",
        ),
        Line(
            "2",
            "`http --version`, plugin installed: CPU user+sys",
            "ms",
            cpu["plug"],
            "same, HTTPie alone",
            cpu["base"],
            "info",
        ),
        Line(
            "2",
            "HTTPie plugin discovery + load, in-process (entry-point scan + our import)",
            "ms",
            load_plug,
            "same, HTTPie alone",
            load_base,
            "info",
            note="the plugin venv has our dependencies too, so more dist-info to scan",
        ),
        Line(
            "2",
            "import of our HTTPie module after httpie.core (-X importtime)",
            "ms",
            [us / 1000 for us, _ in imports],
            "",
            [],
            "≤ 2 ms",
            median_at_most(2.0),
            note="modules it imports beyond ours: " + (", ".join(pulled) or "none"),
        ),
        Line(
            "2",
            "keyring in sys.modules after `http --version` (1 = yes)",
            "bool",
            [float(keyring_loaded)],
            "",
            [],
            "0",
            median_at_most(0.0),
            note="heavy modules loaded: "
            + (", ".join(modules["heavy"]) or "none")
            + "; ours: "
            + ", ".join(modules["ours"]),
        ),
    ]
