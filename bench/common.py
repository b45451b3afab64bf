"""Shared pieces: result lines, statistics, the table, isolated state and loopback servers."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
USER_AGENT = "httpie_stytch_connected.testing.user_agent"
KEYRING_BACKEND = "httpie_stytch_connected.testing.keyring_backend.DirectoryKeyring"


# ---------------------------------------------------------------------------- results


@dataclass
class Line:
    """One table row: samples of ours, optionally paired with baseline samples."""

    row: str
    name: str
    unit: str
    samples: list[float]
    baseline: str = ""
    baseline_samples: list[float] = field(default_factory=list)
    target: str = ""
    #: checks the line: gets (median, ratio) and returns pass (True) / miss (False)
    check: Callable[[float, float | None], bool] | None = field(default=None, repr=False)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def ratio(self) -> float | None:
        """Median of the per-pair ratios when interleaved pairs exist, else ratio of medians."""
        if not self.baseline_samples or not self.samples:
            return None
        if len(self.samples) == len(self.baseline_samples):
            pairs = [a / b for a, b in zip(self.samples, self.baseline_samples, strict=True) if b]
            if pairs:
                return statistics.median(pairs)
        return self.median / statistics.median(self.baseline_samples)

    @property
    def floor_ratio(self) -> float | None:
        """Ratio of the 10th percentiles: noise only adds time, so the floor is the signal."""
        if len(self.samples) < 5 or len(self.baseline_samples) < 5:
            return None
        return _p10(self.samples) / _p10(self.baseline_samples)

    @property
    def verdict(self) -> str:
        if self.check is None:
            return "info"
        return "pass" if self.check(self.median, self.ratio) else "MISS"

    def as_json(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "name": self.name,
            "unit": self.unit,
            "n": len(self.samples),
            "median": self.median,
            "min": min(self.samples) if self.samples else None,
            "max": max(self.samples) if self.samples else None,
            "samples": self.samples,
            "baseline": self.baseline or None,
            "baseline_median": (
                statistics.median(self.baseline_samples) if self.baseline_samples else None
            ),
            "baseline_samples": self.baseline_samples or None,
            "ratio": self.ratio,
            "p10_ratio": self.floor_ratio,
            "target": self.target or None,
            "verdict": self.verdict,
            "note": self.note or None,
        }


def _p10(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[0]


def ratio_at_most(limit: float) -> Callable[[float, float | None], bool]:
    return lambda _median, ratio: ratio is not None and ratio <= limit


def median_at_most(limit: float) -> Callable[[float, float | None], bool]:
    return lambda median, _ratio: median <= limit


def _fmt(value: float | None, unit: str) -> str:
    if value is None or value != value:
        return "-"
    if unit in ("count", "bool"):
        return f"{value:g}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(lines: Sequence[Line]) -> str:
    """A Markdown table (it reads well in a terminal too)."""
    head = ["row", "measurement", "n", "median", "min", "max", "baseline (median)", "ratio"]
    head += ["p10 ratio"]
    head += ["target", "result"]
    rows = [head, ["---"] * len(head)]
    for line in lines:
        base = ""
        if line.baseline:
            base = line.baseline
            if line.baseline_samples:
                base += f" ({_fmt(statistics.median(line.baseline_samples), line.unit)})"
        ratio = line.ratio
        rows.append(
            [
                line.row,
                f"{line.name} [{line.unit}]",
                str(len(line.samples)),
                _fmt(line.median, line.unit),
                _fmt(min(line.samples) if line.samples else None, line.unit),
                _fmt(max(line.samples) if line.samples else None, line.unit),
                base,
                "-" if ratio is None else f"{ratio:.3f}",
                "-" if line.floor_ratio is None else f"{line.floor_ratio:.3f}",
                line.target or "-",
                line.verdict,
            ]
        )
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)


def interleave(
    sides: Sequence[Callable[[], float]], rounds: int, *, rotate: bool = True
) -> list[list[float]]:
    """Run each side once per round, A/B/A/B, rotating who goes first; samples per side."""
    out: list[list[float]] = [[] for _ in sides]
    order = list(range(len(sides)))
    for r in range(rounds):
        turn = order[r % len(order) :] + order[: r % len(order)] if rotate else order
        for i in turn:
            out[i].append(sides[i]())
    return out


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- isolated state


class BenchState:
    """Temporary STYTCH_*/HTTPie/keyring state, applied to this process and handed to children."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="stytch-bench-"))
        for sub in ("cache", "data", "keyring", "httpie"):
            (self.root / sub).mkdir()
        (self.root / "httpie" / "config.json").write_text(
            json.dumps({"disable_update_warnings": True}), encoding="utf-8"
        )
        self.env: dict[str, str] = {
            k: v for k, v in os.environ.items() if not k.startswith(("STYTCH_", "HTTPIE_"))
        }
        self.env.update(
            {
                "STYTCH_CACHE_DIR": str(self.root / "cache"),
                "STYTCH_DATA_DIR": str(self.root / "data"),
                "STYTCH_CONFIG": str(self.root / "config.toml"),
                "STYTCH_TEST_KEYRING_DIR": str(self.root / "keyring"),
                "PYTHON_KEYRING_BACKEND": KEYRING_BACKEND,
                "HTTPIE_CONFIG_DIR": str(self.root / "httpie"),
                "BROWSER": f"{shlex.quote(sys.executable)} -m {USER_AGENT} %s",
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
            }
        )

    def provider(self, project_domain: str, client_id: str, authorize_url: str) -> None:
        self.env.update(
            {
                "STYTCH_PROJECT_DOMAIN": project_domain,
                "STYTCH_CLIENT_ID": client_id,
                "STYTCH_AUTHORIZE_URL": authorize_url,
            }
        )

    def apply(self) -> None:
        """Make this process use the same state (the product reads ``os.environ``)."""
        for name in [n for n in os.environ if n.startswith(("STYTCH_", "HTTPIE_"))]:
            del os.environ[name]
        os.environ.update(self.env)
        import webbrowser

        webbrowser._tryorder = None  # type: ignore[attr-defined]
        webbrowser._browsers.clear()  # type: ignore[attr-defined]

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


# ---------------------------------------------------------------------------- the API server


class StaticServer:
    """``bench/static_server.py`` in its own process (no GIL shared with the client)."""

    def __init__(self, issuer: str | None = None) -> None:
        """``issuer``: announce that authorization server (zero configuration)."""
        self._proc = subprocess.Popen(
            [sys.executable, str(BENCH_DIR / "static_server.py"), *([issuer] if issuer else [])],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        assert self._proc.stdout is not None
        port = int(self._proc.stdout.readline())
        self.url = f"http://127.0.0.1:{port}/api/resources"

    def close(self) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=10)


def child_times(argv: Sequence[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Run one child to completion: (wall ms, user+sys CPU ms, exit code)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(argv),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - start) * 1000
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.stderr is not None
    err = proc.stderr.read()
    proc.stderr.close()
    if proc.returncode != 0:
        log(f"child {argv[1:]} exited {proc.returncode}: {err.decode(errors='replace')[-500:]}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000, proc.returncode


def timed_child(argv: Sequence[str], env: dict[str, str], cpu: list[float]) -> Callable[[], float]:
    """One side of an interleaved process comparison: wall ms per run, CPU ms into ``cpu``."""

    def once() -> float:
        wall, used, status = child_times(argv, env)
        if status != 0:
            raise RuntimeError(f"{list(argv)} exited {status}")
        cpu.append(used)
        return wall

    return once


def chunks(items: Sequence[float], size: int) -> Iterator[Sequence[float]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
