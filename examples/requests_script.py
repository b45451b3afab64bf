"""Call an API with a Stytch Connected Apps access token from a plain ``requests`` script.

Configuration comes from the environment: ``STYTCH_PROJECT_DOMAIN``, ``STYTCH_CLIENT_ID`` and
``STYTCH_AUTHORIZE_URL``. The first run opens the browser to sign in; later runs reuse or refresh
the stored tokens without a browser.

    python examples/requests_script.py https://api.example.com/resources
"""

from __future__ import annotations

import json
import sys

import requests

from httpie_stytch_connected import AuthenticationError, StytchAuth


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: requests_script.py API_URL", file=sys.stderr)
        return 2
    try:
        auth = StytchAuth()  # every setting from its STYTCH_* environment variable
        response = requests.get(argv[0], auth=auth, timeout=30)
    except AuthenticationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except requests.RequestException as exc:
        print(f"error: the request failed ({type(exc).__name__})", file=sys.stderr)
        return 1
    if not response.ok:
        print(f"error: the API answered {response.status_code}", file=sys.stderr)
        return 1
    print(json.dumps(response.json(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
