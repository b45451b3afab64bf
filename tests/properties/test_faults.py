"""Fault injection against the emulator: token endpoint outages, refused refreshes, expiry, leaks.

Every scenario runs the real flow over loopback HTTP (emulator, test keyring, resource server);
faults come from the emulator (``inject_token_fault``, ``rotate_refresh_token``, ``revoke_all``).
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from httpie_stytch_connected.auth import StytchAuth
from httpie_stytch_connected.errors import LoginError, TokenEndpointError
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.oauth.pkce import s256_challenge
from httpie_stytch_connected.oauth.token_client import TokenClient
from httpie_stytch_connected.oauth.tokens import TokenSet
from httpie_stytch_connected.storage.store import AccessTokenCache, KeyringStore
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.resource_server import ResourceServer
from httpie_stytch_connected.testing.user_agent import ScriptedUserAgent

FAST_BACKOFF = (0.01, 0.02)


def _agent(url: str) -> bool:
    with ScriptedUserAgent() as agent:
        return agent.open(url).ok


def _denier(url: str) -> bool:
    with ScriptedUserAgent(decision="deny") as agent:
        return agent.open(url).ok


class Harness:
    """One emulator, one resource server, and auth objects as separate runs would build them."""

    def __init__(self, emulator: StytchEmulator, api: ResourceServer) -> None:
        self.emulator = emulator
        self.api = api
        self.notes: list[str] = []
        self.errors: list[BaseException] = []

    def auth(
        self, *, opener: Callable[[str], bool] = _agent, timeout: tuple[float, float] = (2.0, 5.0)
    ) -> StytchAuth:
        auth = StytchAuth(opener=opener, notify=self.notes.append)
        manager = auth.manager
        manager.client = TokenClient(
            manager.client.token_endpoint,
            manager.client.client_id,
            refresh_backoff=FAST_BACKOFF,
            timeout=timeout,
        )
        return auth

    def get(self, auth: StytchAuth | None = None) -> requests.Response:
        return requests.get(self.api.url, auth=auth or self.auth(), timeout=30)

    def login(self) -> tuple[str, TokenSet]:
        auth = self.auth()
        assert self.get(auth).status_code == 200
        stored = KeyringStore().load(auth.manager.key)
        assert stored is not None and stored.refresh_token
        return auth.manager.key, stored

    def expire(self, key: str, tokens: TokenSet | None = None) -> TokenSet:
        """As if the access token had expired: stored set in the past, no cache, no memory."""
        current = tokens or KeyringStore().load(key)
        assert current is not None
        expired = replace(current, expires_at=time.time() - 10)
        KeyringStore().save(key, expired)
        AccessTokenCache().delete(key)
        forget_memory()
        return expired

    def stored(self, key: str) -> TokenSet | None:
        return KeyringStore().load(key)

    def count(self, name: str) -> int:
        return self.emulator.counters[name]


@pytest.fixture
def h(stytch_env: StytchEmulator, stytch_resource_server: ResourceServer) -> Harness:
    return Harness(stytch_env, stytch_resource_server)


def _wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached in time")


# -- refresh: retries on outages, one clear error, nothing half-written ----------------------


@pytest.mark.parametrize("faults", [["500"], ["503"], ["reset"], ["500", "reset"]])
def test_refresh_retries_outages_with_backoff(h: Harness, faults: list[str]) -> None:
    key, _ = h.login()
    expired = h.expire(key)
    for kind in faults:
        h.emulator.inject_token_fault(kind)
    before = h.count("token_requests")
    assert h.get().status_code == 200
    assert h.count("token_requests") - before == len(faults) + 1
    assert h.count("token_refresh_ok") == 1 and h.count("codes_issued") == 1
    stored = h.stored(key)
    assert stored is not None and stored.refresh_token != expired.refresh_token


@pytest.mark.parametrize("kind", ["500", "503", "reset"])
def test_a_lasting_outage_is_one_clear_error_and_keeps_the_credentials(
    h: Harness, kind: str
) -> None:
    key, _ = h.login()
    expired = h.expire(key)
    h.emulator.inject_token_fault(kind, count=1 + len(FAST_BACKOFF))
    before = h.count("token_requests")
    with pytest.raises(TokenEndpointError) as caught:
        h.get()
    assert h.count("token_requests") - before == 1 + len(FAST_BACKOFF)  # bounded
    assert "try again" in str(caught.value) and "\n" not in str(caught.value)
    assert h.stored(key) == expired  # nothing half-written, nothing deleted
    assert AccessTokenCache().load(key) is None
    assert h.count("codes_issued") == 1  # an outage is not a reason to log in again
    assert h.get().status_code == 200  # and the kept refresh token still works
    assert h.count("token_refresh_ok") == 1


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("html", "not JSON"),
        ("not_json", "not JSON"),
        ("no_access_token", "no access_token"),
    ],
)
def test_a_bad_200_on_refresh_is_one_clear_error_without_retry(
    h: Harness, kind: str, words: str
) -> None:
    key, _ = h.login()
    expired = h.expire(key)
    h.emulator.inject_token_fault(kind)
    before = h.count("token_requests")
    with pytest.raises(TokenEndpointError, match=words):
        h.get()
    assert h.count("token_requests") - before == 1
    assert h.stored(key) == expired and AccessTokenCache().load(key) is None
    assert h.count("codes_issued") == 1


def test_a_refresh_timeout_is_not_retried_blindly(h: Harness) -> None:
    key, _ = h.login()
    expired = h.expire(key)
    h.emulator.slow_seconds = 3.0
    h.emulator.inject_token_fault("slow")
    before = h.count("token_requests")
    started = time.monotonic()
    with pytest.raises(TokenEndpointError, match="did not answer in time"):
        h.get(h.auth(timeout=(2.0, 0.3)))
    assert time.monotonic() - started < 2.5
    assert h.count("token_requests") - before == 1
    assert h.stored(key) == expired


def test_a_refused_connection_is_retried_then_one_clear_error(h: Harness) -> None:
    key, _ = h.login()
    expired = h.expire(key)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/oauth2/token"
    auth = h.auth()
    auth.manager.client = TokenClient(dead, h.emulator.client_id, refresh_backoff=FAST_BACKOFF)
    with pytest.raises(TokenEndpointError, match="cannot reach") as caught:
        h.get(auth)
    assert "127.0.0.1" in str(caught.value)
    assert h.stored(key) == expired


@pytest.mark.parametrize("kind", ["500", "html", "not_json", "no_access_token", "reset"])
def test_a_failed_code_exchange_stores_nothing(h: Harness, kind: str) -> None:
    h.emulator.inject_token_fault(kind)
    auth = h.auth()
    with pytest.raises(TokenEndpointError):
        h.get(auth)
    assert h.count("codes_issued") == 1
    assert h.stored(auth.manager.key) is None
    assert AccessTokenCache().load(auth.manager.key) is None
    assert h.get().status_code == 200  # the next run logs in afresh


# -- refused refresh: re-read the store first, then log in ------------------------------------


def test_a_set_rotated_and_stored_by_another_process_is_used(h: Harness) -> None:
    key, _ = h.login()
    expired = h.expire(key)
    assert expired.refresh_token
    # Our refresh is slow; meanwhile "another process" rotates the refresh token and stores it.
    h.emulator.slow_seconds = 2.0
    h.emulator.inject_token_fault("slow")
    rotated: list[str] = []

    def other_process() -> None:
        _wait_for(lambda: h.count("token_faults") == 1)
        assert expired.refresh_token
        new = h.emulator.rotate_refresh_token(expired.refresh_token)
        KeyringStore().save(key, replace(expired, refresh_token=new))
        rotated.append(new)

    thread = threading.Thread(target=other_process)
    thread.start()
    assert h.get().status_code == 200
    thread.join(timeout=10)
    assert rotated
    assert h.count("codes_issued") == 1  # no login
    assert h.count("token_errors") == 1  # our refresh with the old token was refused
    assert h.count("token_refresh_ok") == 1  # the retry used the other process's token
    stored = h.stored(key)
    assert stored is not None and stored.refresh_token not in (expired.refresh_token, rotated[0])
    assert stored.refresh_token == h.emulator.issued_refresh_tokens()[-1]


def test_a_newer_stored_set_with_a_valid_access_token_is_used_as_is(h: Harness) -> None:
    key, fresh = h.login()
    expired = h.expire(key)
    assert expired.refresh_token
    h.emulator.slow_seconds = 2.0
    h.emulator.inject_token_fault("slow")

    def other_process() -> None:
        _wait_for(lambda: h.count("token_faults") == 1)
        assert expired.refresh_token
        new = h.emulator.rotate_refresh_token(expired.refresh_token)
        KeyringStore().save(key, replace(fresh, refresh_token=new))

    thread = threading.Thread(target=other_process)
    thread.start()
    assert h.get().status_code == 200
    thread.join(timeout=10)
    assert h.count("codes_issued") == 1 and h.count("token_refresh_ok") == 0
    stored = h.stored(key)
    assert stored is not None and stored.refresh_token == h.emulator.issued_refresh_tokens()[-1]


def test_a_refresh_token_rotated_elsewhere_but_not_stored_leads_to_a_login(h: Harness) -> None:
    key, _ = h.login()
    expired = h.expire(key)
    assert expired.refresh_token
    h.emulator.rotate_refresh_token(expired.refresh_token)  # someone used it; we never saw it
    assert h.get().status_code == 200
    assert h.count("token_errors") == 1 and h.count("codes_issued") == 2
    assert any("signing in again" in note for note in h.notes)
    stored = h.stored(key)
    assert stored is not None and stored.refresh_token == h.emulator.issued_refresh_tokens()[-1]


def test_a_revoked_grant_leads_to_a_login(h: Harness) -> None:
    key, _ = h.login()
    h.expire(key)
    h.emulator.revoke_all()
    assert h.get().status_code == 200
    assert h.count("codes_issued") == 2


def test_a_refused_refresh_and_a_failed_login_delete_nothing(h: Harness) -> None:
    key, _ = h.login()
    expired = h.expire(key)
    h.emulator.revoke_all()
    with pytest.raises(LoginError):
        h.get(h.auth(opener=_denier))
    assert h.stored(key) == expired


# -- expiry ------------------------------------------------------------------------------------


def test_proactive_refresh_within_the_leeway(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    key, fresh = h.login()

    def soon() -> None:  # the hour-long access token has 30 s left
        now = time.time()
        KeyringStore().save(key, replace(fresh, expires_at=now + 30, received_at=now - 3570))
        AccessTokenCache().delete(key)
        forget_memory()

    soon()
    monkeypatch.setenv("STYTCH_LEEWAY", "10")
    assert h.get().status_code == 200
    assert h.count("token_refresh") == 0  # 30 s left is outside a 10 s leeway
    soon()
    monkeypatch.delenv("STYTCH_LEEWAY")  # the default leeway is 60 s
    assert h.get().status_code == 200
    assert h.count("token_refresh_ok") == 1


def test_expiry_is_fixed_from_expires_in_at_receipt(h: Harness) -> None:
    before = time.time()
    _, fresh = h.login()
    after = time.time()
    ttl = h.emulator.access_token_ttl
    assert fresh.expires_at is not None
    assert before + ttl <= fresh.expires_at <= after + ttl
    assert before <= fresh.received_at <= after


def test_a_token_shorter_lived_than_the_leeway_is_used_for_half_its_life(
    stytch_keyring: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # leeway (default 60 s) > ttl (30 s): the leeway shrinks to half the lifetime (15 s), so
    # the token serves requests instead of costing a refresh on every one of them.
    with (
        StytchEmulator(access_token_ttl=30) as emulator,
        ResourceServer(
            jwks_uri=emulator.jwks_uri, issuer=emulator.issuer, audience=emulator.project_id
        ) as api,
    ):
        monkeypatch.setenv("STYTCH_PROJECT_DOMAIN", emulator.project_domain)
        monkeypatch.setenv("STYTCH_CLIENT_ID", emulator.client_id)
        monkeypatch.setenv("STYTCH_AUTHORIZE_URL", emulator.authorize_url)
        harness = Harness(emulator, api)
        for _ in range(3):
            assert harness.get().status_code == 200
        forget_memory()
        assert harness.get().status_code == 200  # a new run: from the cache file
        assert emulator.counters["codes_issued"] == 1
        assert emulator.counters["token_refresh"] == 0
        key = harness.auth().manager.key
        stored = harness.stored(key)
        assert stored is not None
        now = time.time()  # the same 30 s token, now 10 s from expiry: inside the 15 s margin
        KeyringStore().save(key, replace(stored, received_at=now - 20, expires_at=now + 10))
        AccessTokenCache().delete(key)
        forget_memory()
        assert harness.get().status_code == 200
        assert emulator.counters["token_refresh_ok"] == 1


# -- nothing leaks ----------------------------------------------------------------------------


def test_no_secret_reaches_logs_stderr_or_exceptions(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    emulator = stytch_env
    shown: list[str] = []

    def auth(opener: Callable[[str], bool] = _agent) -> StytchAuth:
        a = StytchAuth(opener=opener)  # the default notify: stderr
        a.manager.client = TokenClient(
            a.manager.client.token_endpoint, emulator.client_id, refresh_backoff=FAST_BACKOFF
        )
        shown.append(repr(a) + repr(a.manager) + repr(a.manager.client))
        return a

    def get(a: StytchAuth) -> None:
        try:
            response = requests.get(stytch_resource_server.url, auth=a, timeout=30)
            shown.append(repr(response.request.headers.get("X")))
        except Exception as exc:
            shown.extend([str(exc), repr(exc), repr(exc.__cause__), repr(exc.__context__)])

    get(auth())  # login
    key = auth().manager.key
    stored = KeyringStore().load(key)
    shown.append(repr(stored))
    h = Harness(emulator, stytch_resource_server)
    h.expire(key)
    emulator.inject_token_fault("500", count=3)
    get(auth())  # outage
    emulator.inject_token_fault("no_access_token")
    get(auth())  # bad 200
    get(auth())  # refresh
    h.expire(key)
    emulator.revoke_all()
    get(auth(opener=_denier))  # refused refresh, denied login
    get(auth())  # refused refresh, login
    emulator.inject_token_fault("html")
    forget_memory()
    AccessTokenCache().delete(key)
    KeyringStore().delete(key)
    get(auth())  # failed exchange

    ours = [r for r in caplog.records if r.name.startswith("httpie_stytch_connected")]
    out, err = capfd.readouterr()
    text = "\n".join([out, err, *shown, *(r.getMessage() for r in ours)])
    assert "Signed in as " in err  # stderr was captured
    secrets = set(emulator.issued_refresh_tokens())
    secrets |= set(emulator._access) | set(emulator._codes)
    assert len(secrets) > 6
    for secret in secrets:
        assert secret not in text
    # Verifiers: no 43-128 character run in the output hashes to a challenge the emulator saw.
    challenges = {record.code_challenge for record in emulator._codes.values()}
    for run in re.findall(r"[A-Za-z0-9._~-]{43,128}", text):
        for start in range(len(run) - 42):
            for end in range(start + 43, min(len(run), start + 128) + 1):
                assert s256_challenge(run[start:end]) not in challenges


def test_token_repr_and_cache_file_hide_secrets(h: Harness, stytch_keyring: Path) -> None:
    key, fresh = h.login()
    assert fresh.refresh_token and fresh.access_token
    assert fresh.access_token not in repr(fresh) and fresh.refresh_token not in repr(fresh)
    cache = (stytch_keyring / "cache" / "access" / f"{key}.json").read_text()
    assert fresh.refresh_token not in cache
    assert fresh.id_token is None or fresh.id_token not in cache
