"""``python -m httpie_stytch_connected.testing.emulator``: run an emulator in the foreground.

It prints what a person needs to try the examples against it by hand (README, "Try the
examples by hand"): the project ID that ``examples/resource_server.py --audience`` checks, the
scope the example API requires, the test user, and one ``export`` line that points the
``STYTCH_*`` settings at the emulator. Everything goes to stdout at once and flushed; the
request log (method and path only) goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import threading
from collections.abc import Sequence
from typing import Any

from ...settings.stytch import DEFAULT_SCOPES
from . import StytchEmulator, example_api

#: Not a ``STYTCH_*`` setting (it would be one more provider setting): only for the example API.
PROJECT_ID_VARIABLE = "EMULATOR_PROJECT_ID"


def describe(emulator: StytchEmulator) -> list[str]:
    """The lines printed at start: values to copy, and the ``export`` line to paste."""
    scope = example_api(emulator).required_scope or ""
    scopes = " ".join(dict.fromkeys([*DEFAULT_SCOPES, *scope.split()]))
    exports = {
        "STYTCH_PROJECT_DOMAIN": emulator.project_domain,
        "STYTCH_CLIENT_ID": emulator.client_id,
        "STYTCH_AUTHORIZE_URL": emulator.authorize_url,
        "STYTCH_SCOPES": scopes,
        PROJECT_ID_VARIABLE: emulator.project_id,
    }
    return [
        f"Stytch emulator at {emulator.url} (Ctrl-C stops it).",
        f"  project ID: {emulator.project_id}  (examples/resource_server.py --audience)",
        f"  scope the example API requires: {scope}  (examples/resource_server.py --scope)",
        f"  client ID: {emulator.client_id}",
        f'  test user: {emulator.email}, password "{emulator.password}"',
        f"  JWKS: {emulator.jwks_uri}",
        "Paste this line in each terminal that runs an example or the example API:",
        "export " + " ".join(f"{name}={shlex.quote(value)}" for name, value in exports.items()),
    ]


def describe_m2m_client(emulator: StytchEmulator) -> list[str]:
    """A new M2M client of this emulator, and the ``export`` line for a CI-like run with it.
    Its secret is printed: it is this emulator's own, made now and gone when it stops (as
    Stytch's dashboard shows a new client's secret once)."""
    creds = emulator.create_m2m_client(("read:data", "write:data"), client_name="by hand")
    exports = {
        "STYTCH_CLIENT_ID": creds.client_id,
        "STYTCH_CLIENT_SECRET": str(creds.client_secret),
        "STYTCH_SCOPES": " ".join(creds.scopes),  # not a person's openid, email, …
    }
    return [
        "For a machine (CI, no browser), paste this after the line above:",
        "export " + " ".join(f"{name}={shlex.quote(value)}" for name, value in exports.items()),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run an emulator until Ctrl-C; handy for trying a client by hand."""
    parser = argparse.ArgumentParser(
        prog="python -m httpie_stytch_connected.testing.emulator",
        description="Run a Stytch Connected Apps emulator on 127.0.0.1 until Ctrl-C.",
    )
    parser.add_argument(
        "--redirect-uri",
        action="append",
        default=None,
        help="a redirect URL to register on the client (default: http://127.0.0.1/callback)",
    )
    parser.add_argument(
        "--m2m-client",
        action="store_true",
        help="also create an M2M client (read:data write:data) and print the line that runs a "
        "CI-like, browserless job against it",
    )
    args = parser.parse_args(argv)
    kwargs: dict[str, Any] = {"log_requests": True}
    if args.redirect_uri:
        kwargs["redirect_uris"] = tuple(args.redirect_uri)
    with StytchEmulator(**kwargs) as emulator:
        lines = describe(emulator)
        if args.m2m_client:
            lines += describe_m2m_client(emulator)
        print("\n".join(lines), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
