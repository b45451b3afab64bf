"""Tests of the ``stytch-connected`` command, and the helpers that run it as a child process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

CONSOLE_SCRIPT = Path(sys.executable).with_name("stytch-connected")
ENTRY_POINTS = {
    "module": [sys.executable, "-m", "httpie_stytch_connected"],
    "console": [str(CONSOLE_SCRIPT)],
}
TIMEOUT = 60
#: A user's script: one GET with ``StytchAuth()`` and nothing else, printing the status code.
REQUESTS_SCRIPT = (
    "import sys, requests\n"
    "from httpie_stytch_connected import StytchAuth\n"
    "r = requests.get(sys.argv[1], auth=StytchAuth(), timeout=30)\n"
    "print(r.status_code)\n"
)


def run_without_terminal(
    argv: list[str],
    env: dict[str, str],
    timeout: float = TIMEOUT,
    stdout: int | IO[Any] = subprocess.PIPE,
) -> subprocess.CompletedProcess[str]:
    """A child with no terminal at all, as a CI job or cron runs it: no stdin, stderr (and by
    default stdout) captured, a new session (so ``/dev/tty`` cannot be opened); bounded."""
    return subprocess.run(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
        start_new_session=True,
    )


def cli(
    *args: str, entry: str = "module", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The command with ``args`` via ``entry`` (``python -m`` or the console script), bounded."""
    return subprocess.run(
        [*ENTRY_POINTS[entry], *args],
        env=dict(os.environ) if env is None else env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The one ``stytch-connected: error:`` line of a run that exited 1 with nothing on stdout."""
    assert result.returncode == 1, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("stytch-connected: error: ")
    return lines[0]


def rows(text: str) -> dict[str, str]:
    """A ``Name: value`` table (``status``, ``discover``) as a dict."""
    return dict(
        (name.strip(), value.strip())
        for name, value in (line.split(":", 1) for line in text.splitlines())
    )
