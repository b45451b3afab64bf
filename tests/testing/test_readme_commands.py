"""The README's "Try the examples by hand", run as a person copies it: three terminals.

The commands are read from the README itself, so the test breaks when the README drifts from
what works. Each runs through ``bash`` as typed, after the ``export`` line the emulator
printed (what the README says to paste), with two deliberate substitutions: ``.venv/bin/`` is
the virtual environment running this test, and the example API's port ``3001`` is a free port
(other test runs on this machine may hold 3001). The person's browser is the scripted user
agent and their keyring a temporary one; everything else is real processes over 127.0.0.1.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

from httpie_stytch_connected.testing.pytest_plugin import ISOLATED, user_agent_command

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SECTION = "## Try the examples by hand"
README_PORT = "3001"
TIMEOUT = 60.0


def readme_blocks() -> list[list[str]]:
    """The ``$ `` commands of each console block in the section, in order."""
    text = README.read_text(encoding="utf-8")
    assert SECTION in text, f"README has no {SECTION!r} section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```console\n(.*?)```", section, flags=re.S)
    return [[line[2:] for line in block.splitlines() if line.startswith("$ ")] for block in blocks]


def as_here(command: str, port: int) -> str:
    bin_dir = Path(sys.executable).parent
    return command.replace(".venv/bin/", f"{bin_dir}/").replace(README_PORT, str(port))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def sealed_env(root: Path) -> dict[str, str]:
    """The test keyring and browser, and no STYTCH_* setting from the shell running the tests."""
    kept = {*ISOLATED, "STYTCH_CONFIG"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("STYTCH_") or k in kept}
    (root / "httpie").mkdir(exist_ok=True)
    loopback = ",".join(filter(None, [env.get("NO_PROXY", ""), "127.0.0.1,localhost,::1"]))
    env.update(
        BROWSER=user_agent_command(),
        HTTPIE_CONFIG_DIR=str(root / "httpie"),
        NO_PROXY=loopback,
        no_proxy=loopback,
    )
    return env


class Lines:
    """A child's stdout read on a thread, so the test waits for a line with a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.queue.put(line)

    def wait_for(self, prefix: str) -> str:
        seen: list[str] = []
        while True:
            try:
                line = self.queue.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"no line starting {prefix!r} in {seen}") from None
            seen.append(line)
            if line.startswith(prefix):
                return line.strip()


@contextmanager
def terminal(script: str, env: dict[str, str], log: Path) -> Iterator[Lines]:
    """A long-running command in its own terminal (process group), stopped like Ctrl-C."""
    with log.open("w") as stderr:
        process = subprocess.Popen(
            ["bash", "-c", script],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )
        try:
            assert process.stdout is not None
            yield Lines(process.stdout)
        finally:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()


def test_readme_lists_three_terminals_of_commands() -> None:
    emulator, api, examples = readme_blocks()
    assert emulator == [".venv/bin/python -m httpie_stytch_connected.testing.emulator"]
    assert len(api) == 1 and "--audience" in api[0] and README_PORT in api[0]
    assert [c.split()[:2] for c in examples] == [
        [".venv/bin/python", "examples/requests_script.py"],
        [".venv/bin/python", "examples/httpx_async_script.py"],
        [".venv/bin/http", "-A"],
    ]


@pytest.mark.timeout(180)
def test_the_readme_commands_answer_200_with_one_sign_in(
    stytch_keyring: Path, tmp_path: Path
) -> None:
    (emulator_command,), (api_command,), examples = readme_blocks()
    port = free_port()
    env = sealed_env(stytch_keyring)
    emulator_log = tmp_path / "emulator.log"
    with terminal(as_here(emulator_command, port), env, emulator_log) as emulator:
        printed = [emulator.wait_for("  project ID: "), emulator.wait_for("  scope the example")]
        export = emulator.wait_for("export ")
        assert "--audience" in printed[0] and printed[1].endswith("--scope)")
        project_id = printed[0].split()[2]
        scope = printed[1].split(": ", 1)[1].split()[0]
        assert f"EMULATOR_PROJECT_ID={project_id}" in export
        assert f"--scope {scope}" in api_command  # the README asks for what the API requires

        api_script = f"{export}\n{as_here(api_command, port)}"
        with terminal(api_script, env, tmp_path / "api.log") as api:
            assert api.wait_for("http://127.0.0.1:") == f"http://127.0.0.1:{port}/api/resources"
            for command in examples:
                result = subprocess.run(
                    ["bash", "-c", f"{export}\n{as_here(command, port)}"],
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=TIMEOUT,
                    check=False,
                )
                assert result.returncode == 0, (command, result.stderr)
                assert '"resources"' in result.stdout, (command, result.stdout, result.stderr)
                assert "eyJ" not in result.stdout + result.stderr  # no token printed
        requests_log = (tmp_path / "api.log").read_text()
    assert requests_log.count(" 200 ") == len(examples), requests_log
    sign_ins = emulator_log.read_text().count("stytch-emulator: GET /oauth/authorize")
    assert sign_ins == 1  # one browser sign-in, reused by the other two examples
