"""Row 6: zero configuration. A warm ``http -A stytch`` to an API found by discovery against
``http -A bearer``, and the cold first run (401, metadata, registration, login) against the
round trips it needs."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

from bench import imports
from bench.common import (
    Line,
    StaticServer,
    child_times,
    interleave,
    log,
    ratio_at_most,
    timed_child,
)
from bench.context import Context

#: The settings that name a provider: none of them is set for zero configuration.
PROVIDER_SETTINGS = ("STYTCH_PROJECT_DOMAIN", "STYTCH_CLIENT_ID", "STYTCH_AUTHORIZE_URL")
#: What a first run starts without: no cache, no data, an empty keyring.
_FRESH = (
    ("STYTCH_CACHE_DIR", "cache"),
    ("STYTCH_DATA_DIR", "data"),
    ("STYTCH_TEST_KEYRING_DIR", "keyring"),
)


def _cold_run(url: str, issuer: str) -> tuple[float, float, int]:
    """One first run in fresh state: (total ms, ms spent in round trips and the scripted
    browser, round trips). Our share is the difference. ``issuer`` (the emulator) is trusted,
    so no consent question waits on a terminal."""
    import requests

    from httpie_stytch_connected.auth import OAuth2PKCEAuth
    from httpie_stytch_connected.lifecycle.manager import forget_memory
    from httpie_stytch_connected.testing import ScriptedUserAgent

    waited: list[float] = []
    round_trips: list[float] = []
    browsers: list[threading.Thread] = []

    def opener(authorize: str) -> bool:
        def sign_in() -> None:
            start = time.perf_counter()
            with ScriptedUserAgent() as agent:
                agent.open(authorize)
            waited.append((time.perf_counter() - start) * 1000)

        browsers.append(threading.Thread(target=sign_in, daemon=True))
        browsers[-1].start()
        return True

    session = requests.Session()
    session.trust_env = False
    session.hooks["response"].append(
        lambda r, **_: round_trips.append(r.elapsed.total_seconds() * 1000)
    )
    with tempfile.TemporaryDirectory(prefix="stytch-bench-cold-") as root:
        saved = {name: os.environ.get(name) for name, _ in _FRESH}
        for name, sub in _FRESH:
            os.environ[name] = str(Path(root) / sub)
            (Path(root) / sub).mkdir()
        try:
            forget_memory()
            auth = OAuth2PKCEAuth(
                session=session, opener=opener, notify=lambda _m: None, trusted_issuers=issuer
            )
            start = time.perf_counter()
            response = session.get(url, auth=auth, timeout=60)
            total = (time.perf_counter() - start) * 1000
            for browser in browsers:  # its time is counted once it has returned
                browser.join(timeout=30)
        finally:
            for name, value in saved.items():
                if value is not None:
                    os.environ[name] = value
    if response.status_code != 200:
        raise RuntimeError(f"cold zero-configuration run ended in {response.status_code}")
    return total, sum(round_trips) + sum(waited), len(round_trips)


def run(ctx: Context) -> list[Line]:
    ctx.ensure_token()  # the configured side's (before the provider settings are put aside)
    api = StaticServer(issuer=ctx.emulator.issuer)
    saved = {name: os.environ.pop(name, None) for name in PROVIDER_SETTINGS}
    try:
        env = {k: v for k, v in ctx.env.items() if k not in PROVIDER_SETTINGS}
        rounds = ctx.n(10, 3)
        log(f"row 6: {rounds} cold zero-configuration runs")
        cold = [_cold_run(api.url, ctx.emulator.issuer) for _ in range(rounds)]
        token = _warm_token(ctx, api.url)
        http = ctx.http(ctx.plugin_python)
        common = ["--ignore-stdin", "--check-status", "--print=b"]
        ours = [http, *common, "-A", "stytch", "GET", api.url]
        bearer = [http, *common, "-A", "bearer", "-a", token, "GET", api.url]
        # The configured side: the same API, with the provider settings and their own token.
        configured = [http, *common, "-A", "stytch", "GET", api.url]
        child_times(configured, ctx.env)  # its first run records the warm path's memo
        cpu: dict[str, list[float]] = {"ours": [], "bearer": [], "configured": []}
        before = ctx.emulator.counters
        pairs = ctx.n(30, 6)
        log(f"row 6: {pairs} interleaved rounds of warm zero-configuration, configured and bearer")
        ours_wall, bearer_wall, configured_wall = interleave(
            [
                timed_child(ours, env, cpu["ours"]),
                timed_child(bearer, env, cpu["bearer"]),
                timed_child(configured, ctx.env, cpu["configured"]),
            ],
            pairs,
        )
        after = ctx.emulator.counters
        reps = ctx.n(7, 3)
        extra = imports.only_stytch(str(ctx.plugin_python), ours, bearer, env, reps)
    finally:
        api.close()
        for name, value in saved.items():
            if value is not None:
                os.environ[name] = value
    calls = sum(after[n] - before[n] for n in ("token_requests", "metadata", "register"))
    warm = Line(
        "6",
        "zero config, warm `http -A stytch GET`: wall",
        "ms",
        ours_wall,
        "`http -A bearer -a TOKEN GET`",
        bearer_wall,
        "ratio ≤ 1.05",
        ratio_at_most(1.05),
        note=f"provider calls (token, metadata, registration) during the warm runs: {calls} "
        "(must be 0)",
    )
    if calls:
        warm.check = lambda _m, _r: False
    return [
        warm,
        Line(
            "6",
            "zero config against configured, warm `http -A stytch GET`: wall",
            "ms",
            ours_wall,
            "configured `http -A stytch GET`, same API",
            configured_wall,
            "ratio ≤ 1.02",
            ratio_at_most(1.02),
            note="the same rounds as the line above, so the two ratios to `-A bearer` and this "
            "one are three views of one run",
        ),
        Line(
            "6",
            "zero config, warm `http -A stytch GET`: CPU user+sys",
            "ms",
            cpu["ours"],
            "`http -A bearer` CPU",
            cpu["bearer"],
            "info",
        ),
        Line(
            "6",
            "zero config against configured: CPU user+sys",
            "ms",
            cpu["ours"],
            "configured CPU",
            cpu["configured"],
            "info",
        ),
        *imports.lines("6", extra, reps),
        Line(
            "6",
            "zero config, cold first run (401, metadata, registration, login): wall",
            "ms",
            [total for total, _, _ in cold],
            "its round trips + the scripted sign-in",
            [needed for _, needed, _ in cold],
            "info",
            note=f"round trips per cold run: {cold[0][2]} (API 401, resource metadata, server "
            "metadata, registration, code exchange, the resent request); the ratio is our share",
        ),
    ]


def _warm_token(ctx: Context, url: str) -> str:
    """Sign in once in the shared state, so the warm runs find the binding and the token."""
    import requests

    from httpie_stytch_connected.auth import OAuth2PKCEAuth
    from httpie_stytch_connected.lifecycle.manager import forget_memory

    forget_memory()
    auth = OAuth2PKCEAuth(notify=lambda _m: None, trusted_issuers=ctx.emulator.issuer)
    session = requests.Session()
    session.trust_env = False
    if session.get(url, auth=auth, timeout=60).status_code != 200:
        raise RuntimeError("zero-configuration sign-in for the warm runs failed")
    assert auth.zero_config is not None
    binding = auth.zero_config.binding_for(url)
    assert binding is not None
    token = auth.zero_config.manager(binding).cached_access_token()
    assert token is not None
    return token
