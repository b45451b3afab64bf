"""Fault injection against the emulator: token endpoint outages, bad answers, expiry, leaks.

How the manager answers a refused refresh is in ``tests/lifecycle/test_manager_refresh.py``.

Every scenario runs the real flow over loopback HTTP (emulator, test keyring, resource server);
faults come from the emulator (``inject_token_fault``, ``rotate_refresh_token``, ``revoke_all``).
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from httpie_stytch_connected.auth import StytchAuth
from httpie_stytch_connected.errors import TokenEndpointError
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.oauth.pkce import s256_challenge
from httpie_stytch_connected.oauth.token_client import TokenClient
from httpie_stytch_connected.storage.store import AccessTokenCache, KeyringStore
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.pytest_plugin import scripted_opener
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.lifecycle import FAST_BACKOFF, Harness

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
        ("html", "neither JSON nor a form"),
        ("not_json", "neither JSON nor a form"),
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


# -- expiry (when the manager refreshes: tests/lifecycle/test_manager_refresh.py) ------------


def test_expiry_is_fixed_from_expires_in_at_receipt(h: Harness) -> None:
    before = time.time()
    _, fresh = h.login()
    after = time.time()
    ttl = h.emulator.access_token_ttl
    assert fresh.expires_at is not None
    assert before + ttl <= fresh.expires_at <= after + ttl
    assert before <= fresh.received_at <= after


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

    def auth(opener: Callable[[str], bool] | None = None) -> StytchAuth:
        a = StytchAuth(opener=opener or scripted_opener())  # the default notify: stderr
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
    get(auth(opener=scripted_opener("deny")))  # refused refresh, denied login
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
