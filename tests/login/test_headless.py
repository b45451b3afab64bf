"""Signing in where no browser can open: the paste prompt on a real pseudo-terminal, the loopback
still winning when it can, and an immediate, readable failure when there is no terminal at all."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter

from httpie_stytch_connected.login.headless import NO_TERMINAL, no_browser_reason, no_terminal
from httpie_stytch_connected.testing import ScriptedUserAgent, StytchEmulator
from httpie_stytch_connected.testing.resource_server import ResourceServer

TIMEOUT = 60.0
URL = re.compile(rb"http://127\.0\.0\.1:\d+/oauth/authorize\?[^\s]+")
#: Runs the command with the pseudo-terminal on stderr as its controlling terminal.
WITH_TTY = (
    "import fcntl, signal, sys, termios\n"
    # SIGHUP as in a terminal session, even when the tests run under nohup (which ignores it).
    "signal.signal(signal.SIGHUP, signal.SIG_DFL)\n"
    "fcntl.ioctl(2, termios.TIOCSCTTY, 0)\n"
    "from httpie_stytch_connected.cli import main\n"
    "raise SystemExit(main(sys.argv[1:]))\n"
)


def headless_env(**extra: str) -> dict[str, str]:
    drop = ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY", "SSH_CONNECTION", "SSH_TTY")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra)
    return env


def login_without_terminal(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """No controlling terminal (a new session), stdin from /dev/null: CI, cron, a pipe."""
    return subprocess.run(
        [sys.executable, "-m", "httpie_stytch_connected", "login", *args],
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        start_new_session=True,
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, NO_TERMINAL),
        ({"DISPLAY": ":0", "SSH_CONNECTION": "10.0.0.1 5000 10.0.0.2 22"}, NO_TERMINAL),
        # A browser command that fails says so, with its exit status.
        ({"BROWSER": "false"}, no_terminal("the browser command 'false' exited with status 1")),
        (
            {"BROWSER": "/nonexistent/browser"},
            no_terminal(
                "the browser command '/nonexistent/browser' could not be started (No such file "
                "or directory)"
            ),
        ),
    ],
    ids=["no-display", "ssh", "browser-fails", "browser-missing"],
)
def test_no_browser_and_no_terminal_fails_at_once(
    stytch_env: StytchEmulator, extra: dict[str, str], message: str
) -> None:
    result = login_without_terminal(headless_env(**extra))
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == f"stytch-connected: error: {message}"
    assert stytch_env.counters["login"] == 0


def test_no_browser_setting_wins_over_a_working_browser(stytch_env: StytchEmulator) -> None:
    result = login_without_terminal(dict(os.environ), "--no-browser")
    assert result.returncode == 1
    assert NO_TERMINAL in result.stderr
    assert stytch_env.counters["authorize_page"] == 0


class _OtherMachine(BaseAdapter):
    """127.0.0.1 on the machine with the browser: the redirect goes nowhere, as in real life."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        response = requests.Response()
        response.status_code = 502
        response._content = b"This site can't be reached"
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


def sign_in_elsewhere(url: str) -> str:
    """Sign in and approve like a person on another machine; return the address bar's URL."""
    redirect = urlsplit(parse_qs(urlsplit(url).query)["redirect_uri"][0])
    with ScriptedUserAgent() as agent:
        agent.session.mount(f"http://{redirect.netloc}/", _OtherMachine())
        result = agent.open(url)
    assert result.reached_callback and result.callback_url, result
    return result.callback_url


@dataclass
class Terminal:
    process: subprocess.Popen[bytes]
    master: int
    seen: bytes = b""

    def expect(self, pattern: bytes | re.Pattern[bytes]) -> re.Match[bytes]:
        deadline = time.monotonic() + TIMEOUT
        while (match := re.search(pattern, self.seen)) is None:
            assert time.monotonic() < deadline, self.seen
            ready, _, _ = select.select([self.master], [], [], 1.0)
            if ready:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:  # the child has gone and closed the terminal
                    assert re.search(pattern, self.seen), self.seen
        return match

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")


@contextmanager
def cli_on_a_terminal(*args: str, env: Mapping[str, str]) -> Iterator[Terminal]:
    master, slave = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", WITH_TTY, *args],
        env=dict(env),
        stdin=subprocess.DEVNULL,  # where HTTPie's request body would be
        stdout=subprocess.PIPE,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    try:
        yield Terminal(process, master)
    finally:
        process.kill()
        process.wait(timeout=TIMEOUT)
        assert process.stdout is not None
        process.stdout.close()
        os.close(master)


def test_paste_the_redirect_on_the_terminal(stytch_env: StytchEmulator) -> None:
    with cli_on_a_terminal("login", env=headless_env()) as term:
        url = term.expect(URL).group(0).decode()
        term.expect(rb"no graphical display")
        term.expect(rb"Paste the URL here")
        pasted = sign_in_elsewhere(url)
        code = parse_qs(urlsplit(pasted).query)["code"][0].encode()
        term.type("http://127.0.0.1:1/callback?code=forged-code&state=forged")
        term.expect(rb"belongs to another sign-in.*Paste the whole URL again: ")
        term.type("https://example.com/somewhere-else")
        term.expect(
            rb"not the address this sign-in ends on \(http://127\.0\.0\.1:\d+/callback\?code="
        )
        # Said on the terminal itself: the browser page's "go back to the terminal" is not.
        assert b"Go back to the terminal" not in term.seen, term.seen
        term.type(pasted)
        term.expect(rb"Pasted URL received\.\r?\n")
        term.expect(rb"Signed in as ")
        # Echo was off while the prompt read: neither paste (nor its code) reached the screen.
        assert code not in term.seen and b"forged-code" not in term.seen
        assert term.seen.index(b"Pasted URL received") < term.seen.index(b"Signed in as ")
        assert term.process.wait(timeout=TIMEOUT) == 0
        assert termios.tcgetattr(term.master)[3] & termios.ECHO  # echo is back on
        assert term.process.stdout is not None
        assert term.process.stdout.read() == b""
    status = subprocess.run(
        [sys.executable, "-m", "httpie_stytch_connected", "status"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert status.returncode == 0, status.stderr
    assert "ada@example.com" in status.stdout


def test_the_terminal_s_input_ending_at_the_prompt_ends_the_sign_in_at_once(
    stytch_env: StytchEmulator,
) -> None:
    """Ctrl-D at the prompt, or a job run under ``script`` with its stdin closed: no URL can
    be pasted any more, so the sign-in fails now, in one line, instead of waiting out
    ``login_timeout`` (300 s) in silence."""
    env = headless_env(STYTCH_LOGIN_TIMEOUT=str(TIMEOUT * 2))  # the test's bound is shorter
    with cli_on_a_terminal("token", env=env) as term:
        term.expect(rb"Paste the URL here")
        os.write(term.master, b"\x04")  # VEOF on an empty line: the input has ended
        assert term.process.wait(timeout=TIMEOUT) == 1
        term.expect(rb"stytch-connected: error: [^\n]*\n")
        error = term.seen[term.seen.index(b"stytch-connected: error: ") :].decode().strip()
        assert "input ended" in error and "sign in elsewhere first" in error, error
        assert termios.tcgetattr(term.master)[3] & termios.ECHO  # echo is back on
    assert stytch_env.counters["token_requests"] == 0


def test_no_browser_flag_prompts_even_with_a_browser(stytch_env: StytchEmulator) -> None:
    with cli_on_a_terminal("--no-browser", "token", env=dict(os.environ)) as term:
        url = term.expect(URL).group(0).decode()
        term.expect(rb"You asked not to open a browser")
        term.type(sign_in_elsewhere(url))
        assert term.process.wait(timeout=TIMEOUT) == 0
        assert term.process.stdout is not None
        token = term.process.stdout.read().decode().strip()
    stytch_env.verify_access_token(token)
    assert stytch_env.counters["authorize_page"] == 1


def test_the_loopback_still_wins_while_the_prompt_waits(stytch_env: StytchEmulator) -> None:
    with cli_on_a_terminal("login", env=headless_env()) as term:
        url = term.expect(URL).group(0).decode()
        term.expect(rb"Paste the URL here")
        with ScriptedUserAgent() as agent:
            assert agent.open(url).reached_callback
        assert term.process.wait(timeout=TIMEOUT) == 0
    assert stytch_env.counters["token_authorization_code"] == 1


def test_a_denied_paste_is_reported(stytch_env: StytchEmulator) -> None:
    with cli_on_a_terminal("login", env=headless_env()) as term:
        url = term.expect(URL).group(0).decode()
        redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
        state = parse_qs(urlsplit(url).query)["state"][0]
        term.type(f"{redirect}?error=access_denied&state={state}")
        term.expect(rb"refused in the browser: access_denied")
        assert term.process.wait(timeout=TIMEOUT) == 1


@pytest.mark.parametrize(
    ("env", "blocked"),
    [
        ({}, sys.platform.startswith("linux")),
        ({"DISPLAY": ":0"}, False),
        ({"WAYLAND_DISPLAY": "wayland-0"}, False),
        ({"DISPLAY": ":0", "SSH_TTY": "/dev/pts/3"}, True),
        ({"SSH_CONNECTION": "a b c d", "BROWSER": "lynx"}, False),
    ],
)
def test_no_browser_reason(env: dict[str, str], blocked: bool) -> None:
    assert (no_browser_reason(env) is not None) == blocked


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_during_the_paste_prompt_gives_the_terminal_its_echo_back(
    stytch_env: StytchEmulator, signum: int
) -> None:
    with cli_on_a_terminal("login", env=headless_env()) as term:
        term.expect(rb"Paste the URL here")
        assert not termios.tcgetattr(term.master)[3] & termios.ECHO  # hidden while it waits
        term.process.send_signal(signum)
        assert term.process.wait(timeout=TIMEOUT) == -signum  # the signal still ends it
        assert termios.tcgetattr(term.master)[3] & termios.ECHO


#: An opener that shows the URL its own way (a window, a chat message) and returns None, where
#: a person signs in once the library has taken its answer (the launching thread has ended).
_SILENT_OPENER = (
    "import sys, threading, requests\n"
    "from httpie_stytch_connected import StytchAuth\n"
    "from httpie_stytch_connected.testing import ScriptedUserAgent\n"
    "def opener(url):\n"
    "    launcher = threading.current_thread()\n"
    "    def person():\n"
    "        launcher.join()\n"
    "        with ScriptedUserAgent() as agent:\n"
    "            agent.open(url)\n"
    "    threading.Thread(target=person).start()\n"
    "auth = StytchAuth(opener=opener)\n"
    "print(requests.get(sys.argv[1], auth=auth, timeout=60).status_code)\n"
)


def test_an_opener_that_returns_none_is_not_a_browser_that_failed(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    """``opener=`` is documented as returning False when it could not open the page; one that
    returns nothing was taken as failed, so with no terminal the sign-in was given up before
    the person could finish it."""
    result = subprocess.run(
        [sys.executable, "-c", _SILENT_OPENER, stytch_resource_server.url],
        env=headless_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        start_new_session=True,
    )
    assert (result.returncode, result.stdout) == (0, "200\n"), result.stderr
