"""Tests of the ``stytch-connected`` command, and the helpers that run it as a child process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CONSOLE_SCRIPT = Path(sys.executable).with_name("stytch-connected")
ENTRY_POINTS = {
    "module": [sys.executable, "-m", "httpie_stytch_connected"],
    "console": [str(CONSOLE_SCRIPT)],
}
TIMEOUT = 60


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
