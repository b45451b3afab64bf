"""Call an API from asyncio with ``httpx.AsyncClient`` and a Stytch Connected Apps access token.

Configuration comes from the environment: ``STYTCH_PROJECT_DOMAIN``, ``STYTCH_CLIENT_ID`` and
``STYTCH_AUTHORIZE_URL``. The first run opens the browser once, however many requests are in
flight; later runs reuse or refresh the stored tokens without a browser. Needs
``pip install 'httpie-stytch-connected[httpx]'``.

    python examples/httpx_async_script.py https://api.example.com/resources [COUNT]
"""

from __future__ import annotations

import asyncio
import json
import sys

import httpx

from httpie_stytch_connected import AuthenticationError
from httpie_stytch_connected.httpx import StytchAuth


async def fetch(url: str, count: int) -> list[httpx.Response]:
    auth = StytchAuth()  # every setting from its STYTCH_* environment variable
    async with httpx.AsyncClient(auth=auth, timeout=30) as client:
        return await asyncio.gather(*(client.get(url) for _ in range(count)))


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2) or (len(argv) == 2 and not argv[1].isdigit()):
        print("usage: httpx_async_script.py API_URL [COUNT]", file=sys.stderr)
        return 2
    try:
        responses = asyncio.run(fetch(argv[0], int(argv[1]) if len(argv) == 2 else 1))
    except AuthenticationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except httpx.HTTPError as exc:
        print(f"error: the request failed ({type(exc).__name__})", file=sys.stderr)
        return 1
    failed = [r.status_code for r in responses if not r.is_success]
    if failed:
        print(f"error: the API answered {failed[0]}", file=sys.stderr)
        return 1
    print(json.dumps(responses[0].json(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
