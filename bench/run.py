"""``python -m bench [--quick] [--only ROW] [--out PATH]``: run the rows, print, write JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from importlib import import_module
from pathlib import Path

from bench.common import BENCH_DIR, Line, log, table
from bench.context import Context

ROWS: dict[str, tuple[str, str]] = {
    "requests": ("1", "bench.row_requests"),
    "startup": ("2", "bench.row_startup"),
    "warm-http": ("3", "bench.row_warm_http"),
    "login": ("4", "bench.row_login"),
    "storm": ("5", "bench.row_storm"),
    "zero-config": ("6", "bench.row_zero_config"),
    "httpx": ("7", "bench.row_httpx"),
    "httpx2": ("8", "bench.row_httpx2"),
}


def _pick(only: Sequence[str]) -> list[str]:
    if not only:
        return list(ROWS)
    picked = []
    for want in only:
        names = [n for n, (num, _) in ROWS.items() if want in (n, num)]
        if not names:
            raise SystemExit(f"unknown row {want!r}; choose from {', '.join(ROWS)} or 1-8")
        picked += [n for n in names if n not in picked]
    return picked


def _load() -> str:
    """The 1-minute load average: the machine is shared, and a ratio reads differently when
    other work competes for the CPUs."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:  # not available on this platform
        return "?"


def machine() -> str:
    return f"{platform.machine()}, Python {platform.python_version()}, {platform.platform()}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke check)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="ROW",
        help=f"run only this row ({', '.join(ROWS)} or its number); repeatable",
    )
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results.json")
    args = parser.parse_args(argv)
    names = _pick(args.only)
    lines: list[Line] = []
    errors: dict[str, str] = {}
    started = time.time()
    busy: dict[str, str] = {}
    with Context(quick=args.quick) as ctx:
        for name in names:
            log(f"row {ROWS[name][0]} ({name}) ...")
            runner: Callable[[Context], list[Line]] = import_module(ROWS[name][1]).run
            before = _load()
            try:
                lines += runner(ctx)
            except Exception as exc:  # one broken row must not hide the others
                errors[name] = f"{type(exc).__name__}: {exc}"
                log(f"row {name} failed: {errors[name]}")
            busy[ROWS[name][0]] = f"{before} before, {_load()} after"
    print(f"\n{machine()}; {'quick' if args.quick else 'full'} run\n")
    print(table(lines))
    for line in lines:
        if line.note:
            print(f"  - row {line.row}, {line.name}: {line.note}")
    print(f"\nHow busy the machine was ({os.cpu_count()} CPUs; load average over 1 minute):")
    for row, load in busy.items():
        print(f"  - row {row}: {load}")
    result = {
        "machine": machine(),
        "quick": args.quick,
        "rows": names,
        "started": started,
        "seconds": time.time() - started,
        "lines": [line.as_json() for line in lines],
        "load_average": busy,
        "errors": errors,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    log(f"wrote {args.out}")
    if errors:
        print(f"\nrows that failed: {errors}", file=sys.stderr)
        return 1
    return 0
