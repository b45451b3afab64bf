"""Row 4: login latency from the browser's GET /callback until the token is stored.

Timestamps come from wrappers in this process only: the callback handler's ``do_GET`` (the
browser's request has arrived), the token client's session ``post`` (the code exchange round
trip), ``CallbackServer.close`` (the listener shutting down) and the store's ``save`` (stored).
Our own overhead is the total minus the exchange round trip seen inside that same login.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import requests

from bench.common import Line, log, median_at_most
from bench.context import Context


class _TimedSession(requests.Session):
    def __init__(self, marks: dict[str, float]) -> None:
        super().__init__()
        self.marks = marks

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        self.marks["post_start"] = time.perf_counter()
        try:
            return super().post(*args, **kwargs)
        finally:
            self.marks["post_end"] = time.perf_counter()


class _TimedStore:
    def __init__(self, inner: Any, marks: dict[str, float]) -> None:
        self.inner = inner
        self.marks = marks
        self.description = inner.description

    def load(self, key: str) -> Any:
        return self.inner.load(key)

    def save(self, key: str, tokens: Any) -> None:
        self.marks["save_start"] = time.perf_counter()
        self.inner.save(key, tokens)
        self.marks["saved"] = time.perf_counter()

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def probe(self, key: str) -> None:
        self.inner.probe(key)


def _direct_refresh(ctx: Context, refresh_token: str) -> tuple[float, str]:
    """One refresh POST to the emulator on a fresh session (a new connection, like a login)."""
    e = ctx.emulator
    with requests.Session() as session:
        session.trust_env = False
        start = time.perf_counter()
        response = session.post(
            e.token_endpoint,
            data={
                "grant_type": "refresh_token",
                "client_id": e.client_id,
                "refresh_token": refresh_token,
            },
            headers={"Accept": "application/json"},
            timeout=30,
        )
        elapsed = (time.perf_counter() - start) * 1000
    response.raise_for_status()
    return elapsed, str(response.json()["refresh_token"])


def run(ctx: Context) -> list[Line]:
    from httpie_stytch_connected.lifecycle.manager import forget_memory
    from httpie_stytch_connected.login import callback_server
    from httpie_stytch_connected.storage.store import KeyringStore

    ctx.ensure_token()  # keyring and the rest imported, as they are before a real login
    marks: dict[str, float] = {}
    handler_get = callback_server._Handler.do_GET
    server_close = callback_server.CallbackServer.close

    def timed_get(self: Any) -> None:
        marks.setdefault("callback", time.perf_counter())
        handler_get(self)
        marks.setdefault("answered", time.perf_counter())

    def timed_close(self: Any, **kwargs: Any) -> None:
        marks["close_start"] = time.perf_counter()
        server_close(self, **kwargs)
        marks["close_end"] = time.perf_counter()

    total: list[float] = []
    exchange: list[float] = []
    closing: list[float] = []
    saving: list[float] = []
    direct: list[float] = []
    setattr(callback_server._Handler, "do_GET", timed_get)  # noqa: B010
    setattr(callback_server.CallbackServer, "close", timed_close)  # noqa: B010
    try:
        rounds = ctx.n(10, 3)
        log(f"row 4: {rounds} browser logins, each followed by a direct refresh POST")
        for _ in range(rounds):
            ctx.auth().manager.forget()
            forget_memory()
            marks.clear()
            auth = ctx.auth(store=_TimedStore(KeyringStore(), marks), session=_TimedSession(marks))
            auth.manager.access_token()
            total.append((marks["saved"] - marks["callback"]) * 1000)
            exchange.append((marks["post_end"] - marks["post_start"]) * 1000)
            closing.append((marks["close_end"] - marks["close_start"]) * 1000)
            saving.append((marks["saved"] - marks["save_start"]) * 1000)
            stored = auth.manager.stored()
            assert stored is not None and stored.refresh_token
            rtt, _ = _direct_refresh(ctx, stored.refresh_token)
            direct.append(rtt)
    finally:
        setattr(callback_server._Handler, "do_GET", handler_get)  # noqa: B010
        setattr(callback_server.CallbackServer, "close", server_close)  # noqa: B010
        ctx.auth().manager.forget()
        forget_memory()
        ctx.ensure_token()  # leave a valid stored token for the rows after this one
    overhead = [t - x for t, x in zip(total, exchange, strict=True)]
    vs_direct = [t - statistics.median(direct) for t in total]
    return [
        Line(
            "4",
            "login: browser GET /callback → token stored (total)",
            "ms",
            total,
            "direct token POST round trip",
            direct,
            "≤ 1 round trip + 5 ms",
            lambda median, _ratio: median <= statistics.median(direct) + 5.0,
        ),
        Line("4", "login: code exchange POST inside that login", "ms", exchange, "", [], "info"),
        Line(
            "4",
            "login: our own overhead (total - exchange POST)",
            "ms",
            overhead,
            "",
            [],
            "≤ 5 ms",
            median_at_most(5.0),
            note=f"total - median direct round trip: {statistics.median(vs_direct):.1f} ms",
        ),
        Line("4", "login overhead piece: CallbackServer.close()", "ms", closing, "", [], "info"),
        Line("4", "login overhead piece: store.save() (keyring)", "ms", saving, "", [], "info"),
    ]
