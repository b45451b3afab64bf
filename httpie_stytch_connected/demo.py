"""``stytch-connected demo``: the whole job on this machine, with nothing to configure.

It starts the Stytch emulator and an API that verifies its tokens on 127.0.0.1, signs in once
through the browser (or, with ``--auto-approve``, the scripted user agent), calls the API, and
calls it again to show that the second request needs no login. Token state lives in a temporary
directory and a throwaway keyring, so trying the demo never writes the person's real keychain.
Progress goes to stderr and the API's answer to stdout; no token is ever printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from .messages import notify_stderr as say

_ISOLATED = (
    "STYTCH_CACHE_DIR",
    "STYTCH_DATA_DIR",
    "STYTCH_LOCK_DIR",
    "STYTCH_TEST_KEYRING_DIR",
    "STYTCH_CONFIG",
)
_INTERRUPTED = 130


def demo_command(argv0: str | None = None, path: str | None = None) -> str:
    """The demo command as this person can type it again, whatever way they started it.

    ``.venv/bin/stytch-connected`` stays that path (the bare name is on ``PATH`` only with the
    venv activated); a bare ``stytch-connected`` only when ``PATH`` finds this very script; and
    ``python -m …`` names the interpreter that is running, which has the package installed.
    """
    argv0 = sys.argv[0] if argv0 is None else argv0
    if os.path.basename(argv0) in ("stytch-connected", "stytch-connected.exe"):
        found = shutil.which("stytch-connected", path=path)
        with contextlib.suppress(OSError):
            if found and os.path.samefile(found, argv0):
                return "stytch-connected demo"
        return f"{shlex.quote(argv0)} demo"
    python = shlex.quote(sys.executable)
    if os.path.basename(argv0) == "demo.py":
        return f"{python} -m httpie_stytch_connected.demo"
    return f"{python} -m httpie_stytch_connected demo"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stytch-connected demo",
        description=(
            "Sign in once and call an API with the token, against a Stytch emulator and an "
            "example API started on 127.0.0.1. Nothing talks to Stytch, and your keychain is "
            "not touched."
        ),
    )
    parser.add_argument(
        "--auto-approve",
        action="store_true",
        help="sign in with a scripted user agent over HTTP instead of opening a browser",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how long to wait for the sign-in (default: 300)",
    )
    return parser


def main(argv: Sequence[str]) -> int:
    """Run the demo; 0 on success, 1 on a failed step, 130 when interrupted."""
    args = _parser().parse_args(list(argv))
    if not args.timeout > 0:
        say("demo: --timeout must be a positive number of seconds.")
        return 2
    try:
        return _run(auto_approve=args.auto_approve, timeout=args.timeout, command=demo_command())
    except KeyboardInterrupt:
        # The context managers in _run have already stopped the servers and removed the
        # temporary directory by the time the interrupt reaches here.
        say("Interrupted: stopped the demo servers and removed the temporary token store.")
        return _INTERRUPTED


@contextlib.contextmanager
def _isolated_token_state() -> Iterator[Path]:
    """Point every store at a temporary directory and select the test keyring, then undo it.

    ``main`` may run inside a longer-lived process (the ``stytch-connected`` CLI), so the
    environment variables and the keyring backend are restored on the way out.
    """
    import keyring

    from .testing.keyring_backend import DirectoryKeyring

    saved_env = {name: os.environ.get(name) for name in _ISOLATED}
    saved_keyring = keyring.get_keyring()
    with tempfile.TemporaryDirectory(prefix="stytch-demo-") as tmp:
        root = Path(tmp)
        for name, sub in (
            ("STYTCH_CACHE_DIR", "cache"),
            ("STYTCH_DATA_DIR", "data"),
            ("STYTCH_LOCK_DIR", "locks"),
            ("STYTCH_TEST_KEYRING_DIR", "keyring"),
        ):
            (root / sub).mkdir(mode=0o700)
            os.environ[name] = str(root / sub)
        os.environ["STYTCH_CONFIG"] = str(root / "config.toml")  # absent: no profile applies
        keyring.set_keyring(DirectoryKeyring())  # type: ignore[no-untyped-call, unused-ignore]
        try:
            yield root
        finally:
            keyring.set_keyring(saved_keyring)
            for name, value in saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def _run(*, auto_approve: bool, timeout: float, command: str) -> int:
    import requests

    from .auth import StytchAuth
    from .errors import AuthenticationError, LoginError
    from .login.browser import open_browser
    from .login.headless import ANY_MACHINE, PASTE_HELP, no_browser_reason
    from .testing.emulator import StytchEmulator
    from .testing.resource_server import ResourceServer
    from .testing.user_agent import ScriptedUserAgent

    say("stytch-connected demo: everything runs on 127.0.0.1; nothing talks to Stytch.")
    with contextlib.ExitStack() as stack:
        state = stack.enter_context(_isolated_token_state())
        emulator = stack.enter_context(StytchEmulator())
        api = stack.enter_context(
            ResourceServer(
                jwks_uri=emulator.jwks_uri,
                issuer=emulator.issuer,
                audience=emulator.project_id,
            )
        )
        session = stack.enter_context(requests.Session())
        session.trust_env = False  # loopback only: no proxy from the environment
        say(f"Started a Stytch emulator at {emulator.url}")
        say(f"Started an example API at {api.url} (it verifies tokens with the JWKS)")
        say(
            f"Tokens go to a temporary directory ({state}) and a throwaway keyring; "
            "your real keychain is not touched, and both are removed at the end."
        )

        def scripted(url: str) -> bool:
            with ScriptedUserAgent(email=emulator.email, password=emulator.password) as agent:
                result = agent.open(url)
            if not result.ok:
                say(f"The scripted user agent could not finish the sign-in ({result.error}).")
            return result.ok

        no_browser: list[bool] = []  # set when the person's browser could not be opened
        prompted: list[bool] = []  # set when the paste prompt was offered on a terminal
        # Known before anything is tried (no display, an SSH session): then the demo neither
        # says it opens a browser nor tries to.
        cannot_open = None if auto_approve else no_browser_reason()

        def browser(url: str) -> bool:
            """The person's browser; on failure the library may offer its paste fallback."""
            if cannot_open is None and open_browser(url):
                say(f"Waiting up to {timeout:g} s for you to sign in (Ctrl-C to stop).")
                return True
            no_browser.append(True)
            if cannot_open is None:  # otherwise said before the URL, once
                say(
                    "No browser could be opened here: open the URL above in a browser on this "
                    "machine (or press Ctrl-C and use --auto-approve, as said above)."
                )
            return False

        def notify(message: str) -> None:
            if message == PASTE_HELP:
                prompted.append(True)
            if message.startswith("Opening your browser"):
                if auto_approve:
                    message = "The scripted user agent opens this sign-in URL:"
                elif cannot_open is not None:
                    message = "The sign-in URL:"
            # The emulator's sign-in page is on this machine's 127.0.0.1: no other machine
            # can open it, whatever the library says of sign-in pages in general.
            say(message.replace(ANY_MACHINE, "in a browser on this machine"))

        auth = StytchAuth(
            project_domain=emulator.project_domain,
            client_id=emulator.client_id,
            authorize_url=emulator.authorize_url,
            login_timeout=timeout,
            session=session,
            opener=scripted if auto_approve else browser,
            notify=notify,
            environ={"STYTCH_CONFIG": os.environ["STYTCH_CONFIG"]},  # ignore the person's STYTCH_*
        )

        say(f"Step 1: GET {api.url} with no token yet, so this request signs in first.")
        if auto_approve:
            say(
                f"--auto-approve: a scripted user agent signs in as {emulator.email} over HTTP "
                "and approves the consent page; no browser is opened."
            )
        else:
            say(
                f'Sign in as {emulator.email} with password "{emulator.password}" '
                "(the emulator's test user), then approve the consent page."
            )
            say(
                (
                    "If no browser opens"
                    if cannot_open is None
                    else f"No browser can be opened here ({cannot_open})"
                )
                + ": open the sign-in URL below in a browser on this machine, or press Ctrl-C "
                f"and run `{command} --auto-approve` to let a scripted user agent sign in instead."
            )
        started = time.monotonic()
        try:
            first = session.get(api.url, auth=auth, timeout=30)
            say(f"Step 1: the API answered {first.status_code}.")
            if first.status_code != 200:
                return 1
            print(json.dumps(first.json(), indent=2), flush=True)

            before = emulator.counters
            say(f"Step 2: GET {api.url} again.")
            second = session.get(api.url, auth=auth, timeout=30)
            after = emulator.counters
        except LoginError as exc:
            if auto_approve:
                say(f"demo: {exc}")
            elif time.monotonic() - started >= timeout:  # waited: a terminal was there
                say(
                    f"demo: no sign-in arrived within {timeout:g} s. Run `{command}` again and "
                    f"finish signing in within the time (`{command} --timeout 600` waits 10 "
                    f"minutes), or run `{command} --auto-approve` to let a scripted user agent "
                    "sign in."
                )
            elif prompted:  # a terminal was there, and its input ended before a paste
                say(
                    "demo: the terminal's input ended before a sign-in URL was pasted. Run "
                    f"`{command}` again and paste it, or run `{command} --auto-approve` to let a "
                    "scripted user agent sign in."
                )
            elif no_browser:
                say(
                    "demo: no browser could be opened and there is no terminal to paste the "
                    f"sign-in into. Run `{command} --auto-approve` to let a scripted user agent "
                    "sign in instead."
                )
            else:
                say(f"demo: {exc}")
                say(f"To run the demo without a browser: {command} --auto-approve")
            return 1
        except AuthenticationError as exc:
            say(f"demo: {exc}")
            return 1
        except requests.RequestException as exc:
            say(f"demo: the request failed ({type(exc).__name__}).")
            return 1
        say(f"Step 2: the API answered {second.status_code}.")
        if second.status_code != 200:
            return 1
        logins, token_requests = after["login"], after["token_requests"]
        if (logins, token_requests) != (before["login"], before["token_requests"]):
            say("Step 2 unexpectedly signed in or called the token endpoint again.")
            return 1
        say(
            "Step 2 needed no login: it reused the access token from step 1 "
            f"(the emulator saw {logins} sign-in and {token_requests} token request in all, "
            "none of them during step 2)."
        )
        auth.manager.forget()
    say("Done: stopped the emulator and the API, and removed the temporary token store.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
