"""Row 1: the in-process warm request, and one auth call alone."""

from __future__ import annotations

import time
import timeit
from collections.abc import Callable
from typing import Any

import requests
from requests.auth import AuthBase

from bench.common import Line, interleave, log, median_at_most, ratio_at_most
from bench.context import Context


class _StaticAuth(AuthBase):
    """The cheapest possible auth: set a fixed header."""

    def __init__(self, token: str) -> None:
        self.value = f"Bearer {token}"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = self.value
        return r


def _peer(ctx: Context, token: str) -> Any:
    """requests-auth's PKCE auth with our token already in its (memory) token cache."""
    from requests_auth import OAuth2, OAuth2AuthorizationCodePKCE

    e = ctx.emulator
    auth = OAuth2AuthorizationCodePKCE(
        e.authorize_url, e.token_endpoint, client_id=e.client_id, scope="openid"
    )
    OAuth2.token_cache._add_token(auth.state, token, time.time() + 3000, "unused-refresh")
    return auth


def _session(auth: Any = None, token: str | None = None) -> requests.Session:
    session = requests.Session()
    # No .netrc / proxy lookups from the environment on either side: only the auth differs.
    session.trust_env = False
    if token is not None:
        session.headers["Authorization"] = f"Bearer {token}"
    session.auth = auth
    return session


def run(ctx: Context) -> list[Line]:
    token = ctx.ensure_token()
    url = ctx.url
    ours = ctx.auth()
    peer = _peer(ctx, token)
    sessions = {
        "static header": _session(token=token),
        "StytchAuth": _session(ours),
        "requests-auth PKCE": _session(peer),
    }
    block = ctx.n(10, 10)
    rounds = ctx.n(200, 20)
    failures: list[int] = []

    def side(session: requests.Session) -> Callable[[], float]:
        def once() -> float:
            start = time.perf_counter()
            for _ in range(block):
                status = session.get(url).status_code
                if status != 200:
                    failures.append(status)
            return (time.perf_counter() - start) / block * 1e6

        return once

    sides = [side(s) for s in sessions.values()]
    for s in sides:
        s()  # warm-up: connection, memory cache
    log(f"row 1: {rounds} rounds x {block} GETs per side, interleaved")
    static, stytch, peer_samples = interleave(sides, rounds)
    if failures:
        raise RuntimeError(f"row 1: non-200 answers: {sorted(set(failures))}")
    lines = [
        Line(
            "1",
            "GET, requests.Session + StytchAuth (warm)",
            "µs",
            stytch,
            "static header",
            static,
            "ratio ≤ 1.02",
            ratio_at_most(1.02),
        ),
        Line(
            "1",
            "GET, requests.Session + requests-auth PKCE (cached), peer",
            "µs",
            peer_samples,
            "static header",
            static,
            "peer: info",
        ),
    ]

    # One auth call alone, timeit with many iterations; a fresh request per repeat so the
    # response hooks StytchAuth registers do not pile up across repeats.
    number = ctx.n(20000, 3000)
    repeat = ctx.n(15, 5)

    def per_call(auth: Callable[[requests.PreparedRequest], Any]) -> Callable[[], float]:
        timer = timeit.Timer(
            "auth(r)",
            setup="r = make()",
            globals={"auth": auth, "make": requests.Request("GET", url).prepare},
        )
        return lambda: timer.timeit(number) / number * 1e6

    static_c, ours_c, peer_c = interleave(
        [per_call(_StaticAuth(token)), per_call(ours), per_call(peer)], repeat
    )
    lines += [
        Line(
            "1",
            "auth(prepared) alone, StytchAuth",
            "µs",
            ours_c,
            "static-header auth",
            static_c,
            "≤ 20 µs",
            median_at_most(20.0),
        ),
        Line(
            "1",
            "auth(prepared) alone, requests-auth PKCE, peer",
            "µs",
            peer_c,
            "static-header auth",
            static_c,
            "peer: info",
        ),
    ]
    for session in sessions.values():
        session.close()
    return lines
