"""A small CLI in the spirit of Stytch's Go sample (``login`` / ``get-resources`` / ``logout``).

Unlike the sample it checks ``state``, listens on 127.0.0.1 only, refreshes and rotates tokens,
keeps them in the system keyring, never prints them, and revokes the refresh token on logout
(RFC 7009). Configuration: ``STYTCH_PROJECT_DOMAIN``, ``STYTCH_CLIENT_ID``,
``STYTCH_AUTHORIZE_URL`` (and the other ``STYTCH_*`` settings); the API with ``--api-url`` or
``API_URL``.

    python examples/cli_app.py login
    python examples/cli_app.py --api-url http://localhost:3001/api/resources get-resources
    python examples/cli_app.py logout
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import requests

from httpie_stytch_connected import AuthenticationError, StytchAuth

DEFAULT_API_URL = "http://localhost:3001/api/resources"  # the Go sample's API


def login(auth: StytchAuth, args: argparse.Namespace) -> int:
    """Sign in now, even if tokens are stored (e.g. to switch user)."""
    auth.manager.login()
    print(f"Logged in; the tokens are in the {auth.manager.store.description}.", file=sys.stderr)
    return 0


def get_resources(auth: StytchAuth, args: argparse.Namespace) -> int:
    """Call the API; signs in first only when no usable or refreshable token is stored."""
    response = requests.get(args.api_url, auth=auth, timeout=30)
    if not response.ok:
        print(f"error: the API answered {response.status_code}", file=sys.stderr)
        return 1
    print(json.dumps(response.json(), indent=2))
    return 0


def logout(auth: StytchAuth, args: argparse.Namespace) -> int:
    """Revoke at the provider first (other copies of the token die too), then forget locally."""
    manager = auth.manager
    stored = manager.stored()
    if stored is None:
        print("Not logged in.", file=sys.stderr)
        return 0
    try:
        if stored.refresh_token:
            manager.client.revoke(stored.refresh_token)
            print("Revoked the refresh token at the provider.", file=sys.stderr)
    finally:
        manager.forget()  # even if revocation failed: a local logout must still happen
        print("Removed the stored tokens.", file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="cli_app", description="Log in to a Stytch Connected App and call its API."
    )
    parser.add_argument(
        "--api-url",
        default=os.environ.get("API_URL", DEFAULT_API_URL),
        help=f"the API to call (default: $API_URL or {DEFAULT_API_URL})",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("login", help="sign in in the browser").set_defaults(run=login)
    commands.add_parser("get-resources", help="call the API").set_defaults(run=get_resources)
    commands.add_parser("logout", help="revoke and forget the tokens").set_defaults(run=logout)
    args = parser.parse_args(argv)
    try:
        status: int = args.run(StytchAuth(), args)
    except AuthenticationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except requests.RequestException as exc:
        print(f"error: the request failed ({type(exc).__name__})", file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
