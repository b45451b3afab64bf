"""``python -m httpie_stytch_connected.demo`` as a person runs it: a real subprocess, real HTTP.

The interrupt tests wait for the demo to say it is waiting for the sign-in (reading its stderr
with a deadline) and only then send SIGINT, so nothing depends on timing.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

from httpie_stytch_connected.testing.pytest_plugin import user_agent_command

DEMO = [sys.executable, "-m", "httpie_stytch_connected.demo"]
TIMEOUT = 60.0


class Lines:
    """A child's output read on a thread, so the test can wait for a line with a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def _next(self, deadline: float) -> str | None:
        try:
            line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"timed out; output so far: {''.join(self.seen)}") from None
        if line is not None:
            self.seen.append(line)
        return line

    def wait_for(self, text: str, timeout: float = TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while (line := self._next(deadline)) is not None:
            if text in line:
                return line
        raise AssertionError(f"{text!r} never appeared in: {''.join(self.seen)}")

    def rest(self, timeout: float = TIMEOUT) -> str:
        """Everything up to end of stream."""
        deadline = time.monotonic() + timeout
        while self._next(deadline) is not None:
            pass
        return "".join(self.seen)


@contextmanager
def demo_process(*args: str, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [*DEMO, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # no controlling terminal: no sign-in prompt on /dev/tty
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def temp_dir_named_in(stderr: str) -> Path:
    match = re.search(r"temporary directory \(([^)]+)\)", stderr)
    assert match, stderr
    return Path(match.group(1))


def test_demo_auto_approve_signs_in_once_and_reuses_the_token(stytch_keyring: Path) -> None:
    result = subprocess.run(
        [*DEMO, "--auto-approve"],
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)  # stdout is exactly the API's JSON answer
    assert answer["resources"]
    assert "scripted user agent" in result.stderr
    assert "correct horse" not in result.stderr  # no password to type when nobody types it
    assert "keychain is not touched" in result.stderr
    assert "Step 2 needed no login" in result.stderr
    assert "none of them during step 2" in result.stderr
    assert "Traceback" not in result.stderr
    assert "eyJ" not in result.stdout + result.stderr  # no token printed
    assert not temp_dir_named_in(result.stderr).exists()
    # The demo used its own throwaway store, not even the one this test's environment names.
    assert not any((stytch_keyring / "keyring").iterdir())


def test_demo_stops_cleanly_on_ctrl_c_while_waiting_for_the_sign_in(
    stytch_keyring: Path,
) -> None:
    env = dict(os.environ, BROWSER=user_agent_command(), STYTCH_UA_DECISION="ignore")
    with demo_process(env=env) as process:
        assert process.stderr is not None and process.stdout is not None
        stderr = Lines(process.stderr)
        assert "ada@example.com" in stderr.wait_for('password "correct horse"')
        stderr.wait_for("Waiting up to 300 s for you to sign in")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 130
        text = stderr.rest()
        assert process.stdout.read() == ""
    assert "Traceback" not in text
    assert "Interrupted" in text
    assert not temp_dir_named_in(text).exists()


def hint(stderr: str, suffix: str = " --auto-approve") -> str:
    """The last command the demo advised, exactly as printed between backticks."""
    commands: list[str] = re.findall(r"`([^`]+)`", stderr)
    assert commands, stderr
    assert commands[-1].endswith(suffix), stderr
    return commands[-1]


def run_as_printed(command: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """What the person does with a hint: type it as shown (no shell tricks, no activated venv)."""
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        shlex.split(command),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        **kwargs,
    )


def assert_signed_in_twice_with_one_login(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["resources"]
    assert "Step 2 needed no login" in result.stderr


def test_demo_without_a_browser_or_terminal_advises_a_command_that_works(
    stytch_keyring: Path,
) -> None:
    env = dict(os.environ, BROWSER="false %s")  # a browser command that fails
    with demo_process("--timeout", "120", env=env) as process:
        assert process.stderr is not None
        stderr = Lines(process.stderr)
        early = stderr.wait_for("If no browser opens")
        line = stderr.wait_for("No browser could be opened")
        assert "on this machine" in line
        # No terminal to paste into: the sign-in ends at once instead of waiting.
        assert process.wait(timeout=TIMEOUT) == 1
        text = stderr.rest()
    assert "Traceback" not in text
    assert not temp_dir_named_in(text).exists()
    # Said early, before the sign-in URL, and once; the end says what to run, not `login`.
    assert text.index(early) < text.index("/oauth/authorize?")
    assert text.count("If no browser opens") == 1
    assert "any machine" not in text  # the emulator's sign-in page is on this machine only
    assert "stytch-connected login" not in text
    assert "no terminal to paste" in text
    assert_signed_in_twice_with_one_login(run_as_printed(hint(text), env=dict(os.environ)))


def test_demo_started_by_path_advises_that_path(stytch_keyring: Path, tmp_path: Path) -> None:
    """The Quickstart runs `.venv/bin/stytch-connected demo` without activating the venv: a
    bare `stytch-connected` in the hint would be "command not found"."""
    script = Path(sys.executable).parent / "stytch-connected"
    assert script.exists()
    relative = os.path.relpath(script, tmp_path)
    path = os.pathsep.join(
        d for d in os.environ.get("PATH", "").split(os.pathsep) if d and Path(d) != script.parent
    )
    env = dict(os.environ, BROWSER="false %s", PATH=path or os.defpath)
    first = run_as_printed(f"{relative} demo --timeout 120", env=env, cwd=tmp_path)
    assert first.returncode == 1, first.stderr
    command = hint(first.stderr)
    assert command == f"{relative} demo --auto-approve"
    assert_signed_in_twice_with_one_login(run_as_printed(command, env=env, cwd=tmp_path))


def test_demo_timeout_names_its_own_flag(stytch_keyring: Path) -> None:
    env = dict(os.environ, BROWSER=user_agent_command(), STYTCH_UA_DECISION="ignore")
    with demo_process("--timeout", "1", env=env) as process:
        assert process.stderr is not None
        assert process.wait(timeout=TIMEOUT) == 1
        text = Lines(process.stderr).rest()
    assert "no sign-in arrived within 1 s" in text
    assert "--timeout 600" in text
    assert "in in " not in text
    assert "login timeout" not in text  # the library's setting, not the demo's flag
    assert "Traceback" not in text


@pytest.mark.skipif(shutil.which("script") is None, reason="needs script(1) for a terminal")
def test_demo_on_a_terminal_whose_input_ends_says_so_at_once_not_no_terminal(
    stytch_keyring: Path,
) -> None:
    """A terminal was there (the paste prompt was offered on it) but its input ended (script(1)
    with stdin closed): the demo ends at once, saying so, without waiting out its timeout."""
    env = dict(os.environ, BROWSER="false %s")
    demo = [sys.executable, "-m", "httpie_stytch_connected", "demo", "--timeout", "600"]
    command = shlex.join(["script", "-qec", shlex.join(demo), "/dev/null"])
    result = run_as_printed(command, env=env, start_new_session=True)
    text = result.stdout + result.stderr  # script(1) puts the terminal's output on stdout
    assert "Paste the URL here" in text
    assert "the terminal's input ended before a sign-in URL was pasted" in text, text
    assert "no terminal to paste" not in text and "no sign-in arrived" not in text


def test_demo_rejects_a_bad_timeout() -> None:
    result = subprocess.run(
        [*DEMO, "--timeout", "0"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 2
    assert "--timeout" in result.stderr


def test_demo_where_no_browser_can_open_says_so_first_and_never_claims_to_open_one(
    stytch_keyring: Path,
) -> None:
    """No display and no BROWSER: known before the URL is shown, so said there, once."""
    hidden = ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY", "SSH_CONNECTION", "SSH_TTY")
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    with demo_process("--timeout", "120", env=env) as process:
        assert process.stderr is not None
        assert process.wait(timeout=TIMEOUT) == 1
        text = Lines(process.stderr).rest()
    assert "Opening your browser" not in text
    early = "No browser can be opened here (there is no graphical display)"
    assert text.count(early) == 1
    assert text.index(early) < text.index("/oauth/authorize?")
    assert "No browser could be opened here" not in text  # not said a second time
    assert "no terminal to paste" in text
    assert "Traceback" not in text
