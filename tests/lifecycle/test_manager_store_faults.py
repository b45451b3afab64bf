"""The manager and a failing store: it never costs a refresh token or a sign-in (issue 10 §1).

Faults are real: the test keyring's fault knobs (a locked keyring refusing writes, one whose
writes stall past the timeout), and, for the file store, a full tmpfs and a read-only bind
mount made in a private mount namespace (``unshare``), with real ``http`` and
``stytch-connected`` child processes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests

from httpie_stytch_connected.auth import StytchAuth
from httpie_stytch_connected.errors import TokenStoreError
from httpie_stytch_connected.lifecycle.manager import on_behalf_of
from httpie_stytch_connected.storage.store import (
    AccessTokenCache,
    FileStore,
    KeyringStore,
)
from httpie_stytch_connected.testing import keyring_backend
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.pytest_plugin import scripted_opener
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.lifecycle import (
    CLI,
    expire_stored,
    http_argv,
    login_then_expire,
    needs_mount_namespace,
    run_child,
    wait_for,
)

#: Keyring faults a write can meet: refused (locked), or no answer within the timeout.
KEYRING_FAULTS = ["fail", "hang-writes"]


def _assert_nothing_spent(emulator: StytchEmulator, done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "Signed in as" not in done.stderr
    assert emulator.counters["token_refresh"] == 0  # the refresh token was not spent
    assert emulator.counters["authorize_page"] == 0  # and no browser was opened


def _assert_next_run_needs_no_login(
    emulator: StytchEmulator, done: subprocess.CompletedProcess[str]
) -> None:
    assert done.returncode == 0, done.stderr
    assert emulator.counters["token_refresh_ok"] == 1
    assert emulator.counters["authorize_page"] == 0


# -- the store fails before the refresh: nothing is spent ------------------------------------


@pytest.mark.parametrize("fault", KEYRING_FAULTS)
def test_a_keyring_that_cannot_write_spends_no_refresh_token(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    tmp_path: Path,
    fault: str,
) -> None:
    login_then_expire(stytch_resource_server, KeyringStore())
    stytch_env.reset_counters()
    url = stytch_resource_server.url
    done = run_child(
        http_argv(url), tmp_path, STYTCH_TEST_KEYRING_FAULT=fault, STYTCH_KEYRING_TIMEOUT="1"
    )
    _assert_nothing_spent(stytch_env, done)
    assert "keyring" in done.stderr
    _assert_next_run_needs_no_login(stytch_env, run_child(http_argv(url), tmp_path))


#: Two ``http`` runs in one private mount namespace: the first on a broken data dir, the second
#: after the fault is removed. $1: the fault, $2: the data dir, $3: where outputs go.
_NAMESPACE_SCRIPT = r"""
set -eu
fault=$1 data=$2 out=$3; shift 3
if [ "$fault" = full ]; then
    mount -t tmpfs -o size=128k tmpfs "$data"
    cp -rp "$out/saved/." "$data/"
    head -c 1048576 /dev/zero > "$data/filler" 2>/dev/null || true
else
    mount --bind "$data" "$data"
    mount -o remount,bind,ro "$data"
fi
"$@" > "$out/1.out" 2> "$out/1.err" || echo $? > "$out/1.rc"
if [ "$fault" = full ]; then rm "$data/filler"; else mount -o remount,bind,rw "$data"; fi
"$@" > "$out/2.out" 2> "$out/2.err" || echo $? > "$out/2.rc"
"""


def _outcome(out: Path, run: int) -> subprocess.CompletedProcess[str]:
    rc = out / f"{run}.rc"
    return subprocess.CompletedProcess(
        [],
        int(rc.read_text()) if rc.exists() else 0,
        (out / f"{run}.out").read_text(),
        (out / f"{run}.err").read_text(),
    )


@needs_mount_namespace
@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_a_file_store_on_a_full_or_read_only_disk_spends_no_refresh_token(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    stytch_keyring: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
) -> None:
    monkeypatch.setenv("STYTCH_TOKEN_STORE", "file")
    key, refresh_token = login_then_expire(stytch_resource_server, FileStore())
    data = stytch_keyring / "data"
    out = tmp_path / "out"
    shutil.copytree(data, out / "saved")  # a tmpfs mounted on the data dir starts from this
    stytch_env.reset_counters()
    script = ["sh", "-c", _NAMESPACE_SCRIPT, "sh", fault, str(data), str(out)]
    namespace = run_child(
        ["unshare", "-rm", *script, *http_argv(stytch_resource_server.url)], tmp_path
    )
    assert namespace.returncode == 0, namespace.stderr
    first, second = _outcome(out, 1), _outcome(out, 2)
    assert first.returncode != 0 and "Traceback" not in first.stderr
    # A read-only disk already refuses the lock beside the token file; a full one the probe.
    assert ("No space left" if fault == "full" else "Read-only file system") in first.stderr
    assert "set STYTCH_DATA_DIR" in first.stderr or "disk is not full" in first.stderr
    assert stytch_env.counters["token_refresh"] == 1  # only the second run's
    _assert_next_run_needs_no_login(stytch_env, second)
    assert "Could not" not in second.stderr
    if fault == "read-only":  # the tmpfs is gone; the bind mount wrote through to the real dir
        stored = FileStore().load(key)
        assert stored is not None and stored.refresh_token != refresh_token
        assert stored.refresh_token in stytch_env.issued_refresh_tokens()


def test_login_with_an_unwritable_store_fails_before_the_browser_opens(
    stytch_env: StytchEmulator, tmp_path: Path
) -> None:
    done = run_child([CLI, "login"], tmp_path, STYTCH_TEST_KEYRING_FAULT="fail")
    _assert_nothing_spent(stytch_env, done)
    assert done.stderr.startswith("stytch-connected: error: The system keyring is locked")
    assert run_child([CLI, "login"], tmp_path).returncode == 0  # the fault removed, it works
    assert stytch_env.counters["authorize_page"] == 1


def test_a_locked_keyring_in_a_long_running_process_never_opens_the_browser(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    login_then_expire(stytch_resource_server, KeyringStore())
    stytch_env.reset_counters()
    browser = scripted_opener()
    auth = StytchAuth(opener=browser, notify=lambda _: None)
    monkeypatch.setenv("STYTCH_TEST_KEYRING_FAULT", "fail")
    with pytest.raises(TokenStoreError, match="unlock it"):
        requests.get(stytch_resource_server.url, auth=auth, timeout=30)
    monkeypatch.delenv("STYTCH_TEST_KEYRING_FAULT")
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).status_code == 200
    assert browser.opened == 0
    assert stytch_env.counters["token_refresh_ok"] == 1


# -- the store fails after the refresh: the new set is kept -----------------------------------


def _failing_after_the_refresh(token_endpoint: str, fault: str) -> requests.Session:
    """A session that turns the keyring fault on as the refresh response arrives: the probe
    before the refresh passed, the save after it meets the fault."""
    session = requests.Session()

    def turn_on(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        body = response.request.body or ""
        if response.request.url == token_endpoint and "refresh_token" in str(body):
            os.environ["STYTCH_TEST_KEYRING_FAULT"] = fault

    session.hooks["response"].append(turn_on)
    return session


@pytest.mark.parametrize("fault", KEYRING_FAULTS)
def test_a_refreshed_set_the_store_refuses_is_kept_and_stored_later(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    release_hangs: None,
    fault: str,
) -> None:
    key, spent = login_then_expire(stytch_resource_server, KeyringStore())
    monkeypatch.setenv("STYTCH_TEST_KEYRING_FAULT", "")  # restored after the test
    monkeypatch.setenv("STYTCH_KEYRING_TIMEOUT", "0.5")
    stytch_env.reset_counters()
    notes: list[str] = []
    browser = scripted_opener()
    session = _failing_after_the_refresh(stytch_env.token_endpoint, fault)
    auth = StytchAuth(opener=browser, notify=notes.append, session=session)
    url = stytch_resource_server.url

    assert requests.get(url, auth=auth, timeout=30).status_code == 200
    assert stytch_env.counters["token_refresh_ok"] == 1
    assert auth.manager.unsaved
    stored = KeyringStore().load(key)
    assert stored is not None and stored.refresh_token == spent  # the store refused the new one
    # Later calls use the kept set, retry the write, and say nothing more.
    assert requests.get(url, auth=auth, timeout=30).status_code == 200
    refused = [n for n in notes if "could not be stored" in n]
    assert len(refused) == 1 and "kept in memory" in refused[0]

    monkeypatch.setenv("STYTCH_TEST_KEYRING_FAULT", "")  # the fault is removed
    keyring_backend.release_hangs()
    with on_behalf_of(lambda: False):  # a task cancelled meanwhile: the warm path still answers
        _stored_by_warm_calls(auth)  # and still stores the kept set (nothing is started)
    assert requests.get(url, auth=auth, timeout=30).status_code == 200
    stored = KeyringStore().load(key)
    assert stored is not None and stored.refresh_token != spent
    assert stored.refresh_token in stytch_env.issued_refresh_tokens()
    # The next run, with no access cache, gets 200 from the stored set: no login, no refresh.
    AccessTokenCache().delete(key)
    assert run_child(http_argv(url), tmp_path).returncode == 0
    assert stytch_env.counters["token_refresh"] == 1 and stytch_env.counters["authorize_page"] == 0
    assert browser.opened == 0


def _stored_by_warm_calls(auth: StytchAuth) -> None:
    """Warm calls until the kept set is settled (their retry of the write runs on a thread of
    its own, one at a time): stored, or given up for a set another process stored."""
    wait_for(lambda: bool(auth.manager.access_token()) and not auth.manager.unsaved)


def test_a_stalled_keyring_never_delays_the_calls_that_use_the_kept_set(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
    release_hangs: None,
) -> None:
    """A keyring that stops answering writes after the refresh (a prompt nobody answers):
    each call retries the write, and waited the keyring's whole timeout for it."""
    key, spent = login_then_expire(stytch_resource_server, KeyringStore())
    monkeypatch.setenv("STYTCH_TEST_KEYRING_FAULT", "")  # restored after the test
    monkeypatch.setenv("STYTCH_KEYRING_TIMEOUT", "8")
    session = _failing_after_the_refresh(stytch_env.token_endpoint, "hang-writes")
    auth = StytchAuth(opener=scripted_opener(), notify=lambda _: None, session=session)
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).status_code == 200
    assert auth.manager.unsaved  # the save waited 8 s and gave up: kept in memory

    started = time.monotonic()
    for _ in range(3):
        assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).status_code == 200
    assert time.monotonic() - started < 4  # not 8 s each: the retry waits on its own thread
    assert auth.manager.unsaved

    monkeypatch.setenv("STYTCH_TEST_KEYRING_FAULT", "")  # the prompt is answered
    keyring_backend.release_hangs()
    _stored_by_warm_calls(auth)
    stored = KeyringStore().load(key)
    assert stored is not None and stored.refresh_token != spent


def _kept_after_a_refused_save(
    emulator: StytchEmulator, api: ResourceServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[StytchAuth, str, requests.Session]:
    """Signed in, expired, refreshed, and the rotated set refused by a locked keyring: it is
    in use from memory only. Returns the auth, the key and the token client's session."""
    key, spent = login_then_expire(api, KeyringStore())
    monkeypatch.setenv("STYTCH_TEST_KEYRING_FAULT", "")  # restored after the test
    session = _failing_after_the_refresh(emulator.token_endpoint, "fail")
    auth = StytchAuth(opener=scripted_opener(), notify=lambda _: None, session=session)
    assert requests.get(api.url, auth=auth, timeout=30).status_code == 200
    assert auth.manager.unsaved
    stored = KeyringStore().load(key)
    assert stored is not None and stored.refresh_token == spent
    return auth, key, session


def test_logout_revokes_the_kept_refresh_token_not_the_spent_stored_one(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    auth, key, session = _kept_after_a_refused_save(stytch_env, stytch_resource_server, monkeypatch)
    revoked: list[str] = []

    def note_revocation(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.request.url == stytch_env.revocation_endpoint:
            form = parse_qs(str(response.request.body or ""))
            revoked.extend(form.get("token", []))

    session.hooks["response"].append(note_revocation)
    assert auth.manager.logout() is True
    live = stytch_env.issued_refresh_tokens()[-1]
    assert revoked == [live]  # the one in memory, the only one still valid
    assert KeyringStore().load(key) is None and AccessTokenCache().load(key) is None
    assert not auth.manager.unsaved


def test_a_set_another_process_stored_meanwhile_is_not_overwritten_by_the_kept_one(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    auth, key, _ = _kept_after_a_refused_save(stytch_env, stytch_resource_server, monkeypatch)
    monkeypatch.setenv("STYTCH_TEST_KEYRING_FAULT", "")  # the keyring is unlocked again
    spent = KeyringStore().load(key)
    assert spent is not None
    sibling = replace(spent, refresh_token="refresh-token-a-sibling-stored")
    KeyringStore().save(key, sibling)  # another process signed in meanwhile
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).status_code == 200
    _stored_by_warm_calls(auth)  # the kept set is given up, not written
    assert KeyringStore().load(key) == sibling


def test_a_rotated_token_left_in_parts_by_a_refused_save_is_never_revoked(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A keyring that splits large values and refuses the entry that points at the parts (a
    keychain item with its own access rule): each refused save leaves the rotated set in the
    parts, where the next save finds it as "abandoned". It is the grant in use, not a
    superseded one: revoking it would end the grant, and the person would sign in again."""
    monkeypatch.setenv("STYTCH_TEST_KEYRING_FAULT", "limit:1200")  # every set goes in parts
    key, _ = login_then_expire(stytch_resource_server, KeyringStore())
    browser = scripted_opener()
    session = requests.Session()

    def refuse_the_pointer(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.request.url == stytch_env.token_endpoint:
            os.environ["STYTCH_TEST_KEYRING_REFUSE"] = key

    session.hooks["response"].append(refuse_the_pointer)
    monkeypatch.setenv("STYTCH_TEST_KEYRING_REFUSE", "")  # restored after the test
    auth = StytchAuth(opener=browser, notify=lambda _: None, session=session)
    url = stytch_resource_server.url
    assert requests.get(url, auth=auth, timeout=30).status_code == 200  # refreshed, not stored
    assert auth.manager.unsaved and KeyringStore().abandoned(key)  # the parts hold it
    kept = auth.manager.access_token()
    auth.manager.access_token(rejected=kept)  # the API refused it: refreshed again, not stored
    assert auth.manager.unsaved

    monkeypatch.setenv("STYTCH_TEST_KEYRING_REFUSE", "")  # the keyring takes the entry again
    session.hooks["response"].clear()
    _stored_by_warm_calls(auth)
    for _ in range(2):  # two more runs that each refresh: the grant is still alive
        expire_stored(key)
        assert requests.get(url, auth=StytchAuth(opener=browser), timeout=30).status_code == 200
    assert browser.opened == 0
    assert stytch_env.counters["token_refresh_ok"] == 4
