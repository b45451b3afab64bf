"""One request through any adapter in a child process that has a real terminal, or none.

The consent question is asked on the controlling terminal (``/dev/tty``), so its tests need a
process whose terminal they own: the child starts in a session of its own (so it has no
terminal at all, whatever the test run has), and, when asked, takes a new pseudo-terminal as its
controlling terminal. Its stdin, stdout and stderr stay pipes, as under ``http … < body >
out``: what the terminal shows is only what was written to ``/dev/tty``. The test reads that
screen, types an answer, and gets the child's exit status, stdout and stderr.

``python -m tests.zero_config.terminal [--tty PATH] ADAPTER METHOD URL`` is the child: one
request through ``tests.adapters.send`` (HTTPie runs as a grandchild and inherits the terminal),
its body read from stdin; it prints the status on stdout, or the exception on stderr.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: What the question ends with: the sign that it is waiting for an answer.
PROMPT = "[y/N] "


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str
    #: Everything written to the terminal, as the person saw it.
    screen: str


class _Screen:
    """The terminal's output, read on a thread as it comes, and who is waiting for it."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.text = ""
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: every end of the terminal is closed
                chunk = b""
            with self.changed:
                self.text += chunk.decode("utf-8", "replace")
                self.changed.notify_all()
            if not chunk:
                return

    def wait_for(self, text: str, process: subprocess.Popen[bytes], deadline: float) -> bool:
        """True once ``text`` is on the screen; False if the child ended or time ran out."""
        threading.Thread(target=self._watch, args=(process, deadline), daemon=True).start()
        with self.changed:
            while text not in self.text:
                left = deadline - time.monotonic()
                if left <= 0 or process.poll() is not None:
                    return False
                self.changed.wait(left)  # woken by output, or by the child's end
            return True

    def _watch(self, process: subprocess.Popen[bytes], deadline: float) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(deadline - time.monotonic(), 0.0))
        with self.changed:
            self.changed.notify_all()


def run_request(
    adapter: str,
    url: str,
    env: dict[str, str],
    *,
    method: str = "GET",
    body: bytes = b"",
    terminal: bool = True,
    answer: str | None = None,
    timeout: float = 120.0,
) -> Run:
    """One request in a child; with ``terminal``, ``answer`` (a line) is typed once the
    question is on the screen (``None``: nothing is typed, whatever is asked)."""
    master = slave = -1
    argv = [sys.executable, "-m", "tests.zero_config.terminal"]
    if terminal:
        master, slave = os.openpty()
        argv += ["--tty", os.ttyname(slave)]
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [*argv, adapter, method, url],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
            cwd=ROOT,
            env=env,
            start_new_session=True,  # no terminal but the one given
        )
        screen = _Screen(master) if terminal else None
        try:
            assert process.stdin is not None
            process.stdin.write(body)
            process.stdin.close()
            typing = screen is not None and answer is not None
            if typing and screen and screen.wait_for(PROMPT, process, deadline):
                os.write(master, f"{answer}\n".encode())
            code = process.wait(timeout=max(deadline - time.monotonic(), 1.0))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
            if terminal:
                os.close(slave)  # now the reader sees the end of the terminal
        text = ""
        if screen is not None:
            screen.thread.join(timeout=30)
            text = screen.text
            os.close(master)
        out.seek(0)
        err.seek(0)
        return Run(code, out.read().decode(), err.read().decode(), text)


def _child(argv: list[str]) -> int:
    if argv[0] == "--tty":
        import fcntl
        import termios

        fd = os.open(argv[1], os.O_RDWR)  # kept open: the session's controlling terminal
        fcntl.ioctl(fd, termios.TIOCSCTTY, 0)
        argv = argv[2:]
    adapter, method, url = argv
    from tests.adapters import oauth2_auth, send

    body = sys.stdin.buffer.read() or None
    try:
        answer = send(adapter, oauth2_auth(adapter), method, url, body)
    except Exception as exc:  # the refusal, as the caller sees it
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    print(getattr(answer, "stderr", ""), end="", file=sys.stderr)
    print(answer.status_code)
    return 0


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1:]))
