"""Which modules a warm ``http -A stytch`` run imports that ``http -A bearer`` does not (rows 3
and 6): both command lines run under ``-X importtime`` in the same venv, and the names only the
stytch run imports are listed, ours and everyone else's apart, each with its median self time.
"""

from __future__ import annotations

import statistics
import subprocess
from collections import defaultdict
from collections.abc import Sequence

from bench.common import Line
from bench.row_startup import parse_importtime

OURS = "httpie_stytch_connected"


def _modules(argv: Sequence[str], env: dict[str, str]) -> dict[str, int]:
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
        raise RuntimeError(f"{list(argv)} exited {done.returncode}: {done.stderr[-1000:]}")
    return {name: self_us for _, self_us, _, name in parse_importtime(done.stderr)}


def only_stytch(
    python: str, ours: Sequence[str], bearer: Sequence[str], env: dict[str, str], reps: int
) -> dict[str, list[int]]:
    """Self µs samples of each module that ``ours`` imports and ``bearer`` does not (both are
    ``http`` command lines: the executable, then its arguments), over ``reps`` pairs."""
    extra: dict[str, list[int]] = defaultdict(list)
    for _ in range(reps):
        a = _modules([python, *ours], env)
        b = _modules([python, *bearer], env)
        for name, self_us in a.items():
            if name not in b:
                extra[name].append(self_us)
    return dict(extra)


def lines(row: str, extra: dict[str, list[int]], reps: int) -> list[Line]:
    """The sum of the extra modules' self time per run, and how many there are, with every
    name in the notes (median self ms each, largest first)."""

    def listed(names: list[str]) -> str:
        ranked = sorted(names, key=lambda n: -statistics.median(extra[n]))
        return ", ".join(f"{n} {statistics.median(extra[n]) / 1000:.2f}" for n in ranked) or "none"

    ours = [n for n in extra if n == OURS or n.startswith(OURS + ".")]
    others = [n for n in extra if n not in ours]
    total = [sum(v[i] for v in extra.values() if i < len(v)) / 1000 for i in range(reps)]
    counts = [float(sum(1 for v in extra.values() if i < len(v))) for i in range(reps)]
    return [
        Line(
            row,
            "breakdown: modules imported only by -A stytch (sum of self)",
            "ms",
            total,
            "",
            [],
            "info",
            note=f"ours ({len(ours)}): {listed(ours)}",
        ),
        Line(
            row,
            "breakdown: modules imported only by -A stytch",
            "count",
            counts,
            "",
            [],
            "info",
            note=f"not ours ({len(others)}): {listed(others)}",
        ),
    ]
