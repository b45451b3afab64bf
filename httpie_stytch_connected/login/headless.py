"""Signing in where no browser can open: print the URL, take the redirect pasted on the terminal.

The person opens the URL on any machine; the browser there ends on a ``127.0.0.1`` page that
fails to load, and they paste that page's full URL here. The paste goes through
:meth:`.CallbackServer.submit_url` (same state check, same PKCE exchange) while the loopback
listener keeps waiting, and whichever answers first wins. The prompt uses ``/dev/tty``, never
stdin, which may carry HTTPie's request body, with echo off so the code is not left on the
screen; the reader polls with a bounded ``select`` on a daemon thread so it never holds up the
end of the sign-in. Echo comes back however the sign-in ends: normally, on Ctrl-C, and on SIGTERM
or SIGHUP (``timeout 5 http …``, a closed window), whose handlers restore the terminal before
the signal takes its usual course. With no browser and no terminal (CI, cron, a pipe) the
sign-in fails at once instead of waiting for a person who is not there.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

from ..oauth.urls import shown_url

TTY = "/dev/tty"
#: Seconds between checks, while waiting for a paste, whether the sign-in has ended.
POLL = 0.2
_MAX_LINE = 16 * 1024
_GRAPHICAL = ("DISPLAY", "WAYLAND_DISPLAY")
_NEED_DISPLAY = ("linux", "freebsd", "openbsd", "netbsd", "sunos")
#: Signals that end the process while the prompt may have echo off (Ctrl-C unwinds normally).
_ENDING_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)

#: The three ways out where no person can sign in (issue 19): said by every entry point.
WAYS_OUT = (
    "use a machine credential (STYTCH_CLIENT_ID with STYTCH_CLIENT_SECRET or "
    "STYTCH_PRIVATE_KEY_FILE), supply a token (STYTCH_ACCESS_TOKEN), or sign in elsewhere first "
    "(`stytch-connected login` in a terminal, or set BROWSER)"
)


def ways_out(resource: str | None = None) -> str:
    """:data:`WAYS_OUT`, or for an API found by zero configuration (``resource``) the same
    three as they apply there: its sign-in is ``login --resource``, and a machine credential
    needs the provider configured (zero configuration signs a person in)."""
    if resource is None:
        return WAYS_OUT
    return (
        "supply a token (STYTCH_ACCESS_TOKEN), sign in elsewhere first (`stytch-connected login "
        f"--resource {shown_url(resource)}` in a terminal, or set BROWSER), or configure the "
        "provider (STYTCH_ISSUER or STYTCH_PROJECT_DOMAIN) with a machine credential "
        "(STYTCH_CLIENT_ID with STYTCH_CLIENT_SECRET)"
    )


#: The variables a CI job fills from its secret store: set but empty, the secret did not arrive.
SECRET_VARIABLES = ("STYTCH_ACCESS_TOKEN", "STYTCH_CLIENT_SECRET")


def secrets_not_arrived(environ: Mapping[str, str] | None = None) -> str:
    """'' or ' (STYTCH_ACCESS_TOKEN is set but empty: …)': a job whose secret did not reach it
    (a pull request from a fork, a secret not granted to the job) sets the variable to ''; the
    way out it already took is then the one to check. Names only, never values."""
    environ = os.environ if environ is None else environ
    empty = [name for name in SECRET_VARIABLES if name in environ and not environ[name].strip()]
    if not empty:
        return ""
    verb = "is" if len(empty) == 1 else "are"
    return (
        f" ({' and '.join(empty)} {verb} set but empty: in CI, check that the job receives the "
        "secret)"
    )


def no_terminal(
    browser_failure: str | None = None,
    resource: str | None = None,
    environ: Mapping[str, str] | None = None,
    why: str | None = None,
) -> str:
    """The message for a sign-in that can go nowhere: the browser's own failure when it had
    one; ``resource`` as in :func:`ways_out`; a secret variable left empty
    (:func:`secrets_not_arrived`, read from ``environ``, default this process's) is named;
    ``why`` (a stored sign-in that no longer serves) opens it."""
    empty = secrets_not_arrived(environ)
    if browser_failure is None:
        opening = f"{why}, and no" if why else "No"
        return (
            f"{opening} browser can be opened here and there is no terminal to paste the sign-in "
            f"into; {ways_out(resource)}{empty}."
        )
    return (
        f"Could not sign in: {browser_failure}, and there is no terminal to paste the sign-in "
        f"into; fix BROWSER, or {ways_out(resource)}{empty}."
    )


NO_TERMINAL = no_terminal(environ={})


def input_ended(resource: str | None = None) -> str:
    """The message for a paste prompt whose input ended before a URL came (Ctrl-D, or a job
    under ``script`` whose stdin is closed): nothing more can be pasted there."""
    return (
        "The terminal's input ended (Ctrl-D, or a closed stdin) before the sign-in URL was "
        f"pasted; run again and paste it, or {ways_out(resource)}{secrets_not_arrived()}."
    )


#: Where the person may open a sign-in page that is not on this machine's loopback.
ANY_MACHINE = "in a browser on any machine"
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def where_to_open(url: str | None) -> str:
    """Where to open ``url``: any machine, unless the sign-in page itself is on loopback (a
    local provider or emulator), which only a browser on this machine can load."""
    host = urlsplit(url).hostname if url else None
    return "in a browser on this machine" if host in _LOOPBACK else ANY_MACHINE


PASTE_HELP = (
    "After you approve, the browser goes to a 127.0.0.1 address, which loads only on this "
    "machine; if you signed in on another, copy that page's full URL from its address bar and "
    "paste it here."
)


class Outcome(Protocol):
    """What :meth:`.CallbackServer.submit_url` answers."""

    @property
    def final(self) -> bool: ...
    @property
    def title(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def pasted(self) -> str | None: ...


class Server(Protocol):
    path: str

    def submit_url(self, url: str) -> Outcome: ...


def no_browser_reason(environ: Mapping[str, str] | None = None) -> str | None:
    """Why :mod:`webbrowser` cannot show a page to the person here, or None if it likely can."""
    env = os.environ if environ is None else environ
    if env.get("BROWSER"):
        return None
    if env.get("SSH_CONNECTION") or env.get("SSH_TTY"):
        return "this is an SSH session"
    if sys.platform.startswith(_NEED_DISPLAY) and not any(env.get(n) for n in _GRAPHICAL):
        return "there is no graphical display"
    return None


class Terminal:
    """The controlling terminal, opened read-write without becoming ours if we have none."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @classmethod
    def open(cls, path: str = TTY) -> Terminal | None:
        try:
            return cls(os.open(path, os.O_RDWR | os.O_NOCTTY))
        except OSError:
            return None

    def write(self, text: str) -> None:
        data = text.encode("utf-8", "replace")
        with contextlib.suppress(OSError):
            while data:
                data = data[os.write(self.fd, data) :]

    def read_line(self, stop: threading.Event) -> str | None:
        """One line, or None once ``stop`` is set or the terminal goes away."""
        buffer = b""
        while not stop.is_set():
            try:
                ready, _, _ = select.select([self.fd], [], [], POLL)
                chunk = os.read(self.fd, 4096) if ready else b""
            except OSError:
                return None
            if ready and not chunk:
                return None  # hung up
            buffer = (buffer + chunk)[-_MAX_LINE:]
            if b"\n" in buffer or b"\r" in buffer:
                return buffer.decode("utf-8", "replace").strip()
        return None

    def hide_input(self) -> list[Any] | None:
        """Stop echoing what is typed (the pasted URL carries the authorization code), still
        echoing the newline; returns what :meth:`restore` needs, or None if not a terminal."""
        try:
            import termios
        except ImportError:  # not POSIX
            return None
        try:
            if not os.isatty(self.fd):
                return None
            saved = termios.tcgetattr(self.fd)
            quiet = list(saved)
            quiet[3] = (quiet[3] & ~termios.ECHO) | termios.ECHONL
            termios.tcsetattr(self.fd, termios.TCSANOW, quiet)
        except (OSError, termios.error):
            return None
        return saved

    def restore(self, saved: list[Any] | None) -> None:
        if saved is None:
            return
        import termios

        with contextlib.suppress(OSError, termios.error):
            termios.tcsetattr(self.fd, termios.TCSANOW, saved)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class Fallback:
    """The paste prompt and the early exit of one sign-in; :meth:`close` ends both."""

    def __init__(self, server: Server, state: str, notify: Callable[[str], None]) -> None:
        self._server = server
        self._state = state
        self._notify = notify
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._hidden: list[tuple[Terminal, list[Any]]] = []  # terminals whose echo is off
        self._previous = _trap(_ENDING_SIGNALS, self._on_signal)
        self.cancelled = False
        self.reason: str | None = None
        #: The terminal's input ended before a URL was pasted (:func:`input_ended`).
        self.input_ended = False

    def paste(self, why: str, url: str | None = None) -> bool:
        """Show the URL (unless already shown) and prompt on the terminal; False if none."""
        terminal = Terminal.open()
        if terminal is None:
            return False
        if url is None:
            self._notify(f"{why} Open the URL above {ANY_MACHINE} and sign in.")
        else:
            self._notify(f"{why} Open this URL {where_to_open(url)} and sign in:")
            self._notify(f"  {url}")
        self._notify(PASTE_HELP)
        reader = threading.Thread(
            target=self._read, args=(terminal,), name="stytch-paste", daemon=True
        )
        with self._lock:
            if self._stop.is_set():
                terminal.close()
                return True
            self._threads.append(reader)
        reader.start()
        return True

    def cancel(self, reason: str | None = None) -> None:
        """End the wait now, unless the sign-in has already been answered; ``reason`` says why
        the browser did not open, for :func:`no_terminal`."""
        query = urlencode({"state": self._state, "error": "no_browser"})
        # Set first: the waiting thread reads them as soon as the submission ends the wait.
        self.reason, self.cancelled = reason, True
        if not self._server.submit_url(f"{self._server.path}?{query}").final:
            self.reason, self.cancelled = None, False

    def close(self) -> None:
        with self._lock:
            self._stop.set()
            threads = list(self._threads)
        for thread in threads:
            thread.join(POLL * 5)
        _untrap(self._previous)

    def _on_signal(self, signum: int, frame: Any) -> None:
        """Give the terminal its echo back, then let the signal do what it did before."""
        for terminal, saved in list(self._hidden):  # no lock: this runs between two bytecodes
            terminal.restore(saved)
        previous = self._previous.get(signum)
        _untrap(self._previous)
        if callable(previous):
            previous(signum, frame)
        else:
            os.kill(os.getpid(), signum)  # the default action, as if we had never been here

    def _read(self, terminal: Terminal) -> None:
        saved = terminal.hide_input()
        if saved is not None:
            self._hidden.append((terminal, saved))
        try:
            terminal.write("Paste the URL here (it is not shown as you paste): ")
            while (line := terminal.read_line(self._stop)) is not None:
                if not line:
                    continue
                outcome = self._server.submit_url(line)
                if outcome.final:
                    # Only received: the sign-in ends after the code exchange, reported by login.
                    terminal.write("Pasted URL received.\n")
                    return
                said = outcome.pasted or outcome.message
                terminal.write(f"{said} Paste the whole URL again: ")
            if not self._stop.is_set():  # no URL can come any more: end the wait now
                terminal.write("\n")
                self.input_ended = True
                self.cancel()
                self.input_ended = self.cancelled  # False: the sign-in was answered meanwhile
        finally:
            terminal.restore(saved)
            if saved is not None:
                self._hidden.remove((terminal, saved))
            terminal.close()


Handler = Callable[[int, Any], None]


def _trap(signums: tuple[int, ...], handler: Handler) -> dict[int, Any]:
    """Install ``handler`` for each signal that is not ignored; returns what it replaced.

    Only the main thread may install handlers; elsewhere nothing is installed (a library caller
    signing in on a worker thread keeps its own signal handling).
    """
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: dict[int, Any] = {}
    for signum in signums:
        current = signal.getsignal(signum)
        if current is signal.SIG_IGN or current is None:  # ignored (nohup), or not Python's
            continue
        previous[signum] = current
        signal.signal(signum, handler)
    return previous


def _untrap(previous: dict[int, Any]) -> None:
    """Put back what :func:`_trap` replaced (once: later calls find nothing to do)."""
    while previous:
        signum, handler = previous.popitem()
        with contextlib.suppress(ValueError):  # not the main thread any more: nothing we can do
            signal.signal(signum, handler)
