"""The manager refreshes: when the access token is about to expire, with the rotated refresh
token stored; a refused refresh re-reads the store before it signs in, and deletes nothing.

Real parts throughout: the emulator (``rotate_refresh_token``, ``revoke_all``, token faults),
the test keyring, the resource server, and the scripted opener for the sign-ins.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from httpie_stytch_connected.auth import StytchAuth
from httpie_stytch_connected.errors import LoginError
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.oauth.tokens import TokenSet
from httpie_stytch_connected.storage.store import AccessTokenCache, KeyringStore
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.pytest_plugin import scripted_opener
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.lifecycle import Harness, expire_stored, http_argv, slow_token_endpoint, wait_for
from tests.loopback import LoopbackServer, QuietHandler

# -- an expired token is refreshed, the rotated refresh token stored first ---------------------


def test_an_expired_token_is_refreshed_and_the_rotated_refresh_token_stored(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    auth = StytchAuth()
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).ok
    expired = expire_stored(auth.manager.key)
    response = requests.get(stytch_resource_server.url, auth=StytchAuth(), timeout=30)
    assert response.status_code == 200
    assert stytch_env.counters["token_refresh_ok"] == 1
    assert stytch_env.counters["login"] == 1
    stored = auth.manager.stored()
    assert stored is not None
    assert stored.refresh_token and stored.refresh_token != expired.refresh_token
    assert stored.access_token != expired.access_token
    assert not stored.expires_within(60)


def test_a_refused_refresh_leads_to_a_new_login(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    auth = StytchAuth()
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).ok
    expire_stored(auth.manager.key)
    stytch_env.revoke_all()
    assert requests.get(stytch_resource_server.url, auth=StytchAuth(), timeout=30).ok
    counters = stytch_env.counters
    assert counters["token_refresh"] == 1 and counters["token_refresh_ok"] == 0
    assert counters["login"] == 2


def _store_at_arrival(key: str, seen: list[tuple[str, TokenSet | None]]) -> type[QuietHandler]:
    """An API that notes, as each request arrives, its bearer token and what the store holds."""

    class Observer(QuietHandler):
        def do_GET(self) -> None:
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            seen.append((token, KeyringStore().load(key)))
            self.reply(200, b"{}")

    return Observer


def test_the_rotated_set_is_stored_before_its_access_token_is_sent(h: Harness) -> None:
    key, _ = h.login()
    expired = h.expire(key)
    seen: list[tuple[str, TokenSet | None]] = []
    with LoopbackServer(_store_at_arrival(key, seen)) as api:
        assert requests.get(api.url, auth=h.auth(), timeout=30).status_code == 200
    assert h.count("token_refresh_ok") == 1
    [(token, stored)] = seen
    assert stored is not None and stored.access_token == token  # already stored on arrival
    assert stored.refresh_token == h.emulator.issued_refresh_tokens()[-1]
    assert stored.refresh_token != expired.refresh_token


_ONE_REQUEST = """
import sys, requests
from httpie_stytch_connected import StytchAuth
requests.get(sys.argv[1], auth=StytchAuth(), timeout=30)
"""


def test_a_run_killed_while_storing_the_rotated_set_has_handed_nothing_out(h: Harness) -> None:
    """The secure store is written before the access cache and before the request: a run that
    dies on that write leaves no new access token anywhere (and the API saw none)."""
    key, _ = h.login()
    expired = h.expire(key)
    served = h.api.counters["200"]
    done = subprocess.run(
        [sys.executable, "-c", _ONE_REQUEST, h.api.url],
        # The keyring probe's write and delete, then the save of the rotated set: dies there.
        env=dict(os.environ, STYTCH_TEST_KEYRING_KILL_AT="3"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert h.count("token_refresh_ok") == 1  # the provider did rotate
    assert h.stored(key) == expired  # the save never landed
    assert AccessTokenCache().load(key) is None  # so no access token was handed out
    assert h.api.counters["200"] == served


def test_a_run_killed_before_the_last_step_of_a_split_save_costs_no_sign_in(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A keyring that takes a token set only in parts: a run killed after writing the rotated
    set's parts, before the entry that names them, leaves the live set where no read finds it
    and the spent one stored. The next run's refresh of the spent one is refused; it finds the
    set that run left, of the same person, and refreshes that instead of signing in again."""
    monkeypatch.setenv("STYTCH_TEST_KEYRING_FAULT", "limit:1200")
    key, signed_in = h.login()
    spent = h.expire(key).refresh_token
    parts = -(-len(signed_in.to_json()) // 1000)  # a rotated set is as long: as many parts
    assert parts >= 2
    done = subprocess.run(
        [sys.executable, "-c", _ONE_REQUEST, h.api.url],
        # The probe's write and delete, the whole set (refused: too large), its parts, then
        # the entry that names them: dies there.
        env=dict(os.environ, STYTCH_TEST_KEYRING_KILL_AT=str(3 + parts + 1)),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    live = h.emulator.issued_refresh_tokens()[-1]
    stored = h.stored(key)
    assert stored is not None and stored.refresh_token == spent
    assert [t.refresh_token for t in KeyringStore().abandoned(key)] == [live]

    opener = scripted_opener()
    for _ in range(2):  # the next run, and one more refresh after it: the grant is alive
        assert h.get(h.auth(opener=opener)).status_code == 200
        h.expire(key)
    assert opener.opened == 0
    # The killed run's refresh, and the one after: the set it left still had a good token.
    assert h.count("token_refresh_ok") == 2
    assert KeyringStore().abandoned(key) == []


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stop_during_a_refresh_keeps_the_rotated_refresh_token(
    h: Harness, tmp_path: Path, stop: signal.Signals
) -> None:
    """Ctrl-C (or SIGTERM: ``timeout``, a cancelled CI job; SIGHUP: a closed terminal) while
    the refresh is at the provider: the provider rotates whatever the client does, so a run
    that stopped there lost the new refresh token with the old one spent, and the next run
    signed in again. The first stop now waits for the answer to be stored."""
    key, _ = h.login()
    spent = h.expire(key).refresh_token
    slow_token_endpoint(h.emulator, 1, seconds=2)
    run = subprocess.Popen(
        http_argv(h.api.url),
        env=dict(os.environ, HTTPIE_CONFIG_DIR=str(tmp_path / "httpie")),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: h.count("token_requests") == 2)  # the sign-in's, and the refresh's
        run.send_signal(stop)
        _, err = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == (-stop if stop != signal.SIGINT else 130), err
    assert "Traceback" not in err
    wait_for(lambda: h.count("token_refresh") == 1)  # the provider has rotated
    stored = h.stored(key)
    assert stored is not None and stored.refresh_token != spent
    assert stored.refresh_token == h.emulator.issued_refresh_tokens()[-1]
    assert "Finishing the token refresh" in err
    opener = scripted_opener()
    assert h.get(h.auth(opener=opener)).status_code == 200
    assert opener.opened == 0


def test_a_second_ctrl_c_during_a_refresh_stops_at_once(h: Harness, tmp_path: Path) -> None:
    key, _ = h.login()
    h.expire(key)
    slow_token_endpoint(h.emulator, 1, seconds=30)
    err = tmp_path / "stderr"
    with err.open("w") as sink:
        run = subprocess.Popen(
            http_argv(h.api.url),
            env=dict(os.environ, HTTPIE_CONFIG_DIR=str(tmp_path / "httpie")),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    try:
        wait_for(lambda: h.count("token_requests") == 2)
        run.send_signal(signal.SIGINT)
        wait_for(lambda: "Finishing the token refresh" in err.read_text())
        run.send_signal(signal.SIGINT)
        assert run.wait(timeout=10) != 0  # not after the 30 s the provider takes
    finally:
        run.kill()
    assert "Traceback" not in err.read_text()


# -- a refused refresh: re-read the store first, then sign in; nothing deleted ---------------


def test_a_set_rotated_and_stored_by_another_process_is_used(h: Harness) -> None:
    key, _ = h.login()
    expired = h.expire(key)
    assert expired.refresh_token
    # Our refresh is slow; meanwhile "another process" rotates the refresh token and stores it.
    h.emulator.slow_seconds = 2.0
    h.emulator.inject_token_fault("slow")
    rotated: list[str] = []

    def other_process() -> None:
        wait_for(lambda: h.count("token_faults") == 1)
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
        wait_for(lambda: h.count("token_faults") == 1)
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
        h.get(h.auth(opener=scripted_opener("deny")))
    assert h.stored(key) == expired


# -- when: within the leeway, or half the life of a short-lived token -------------------------


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
