"""The store against a real gnome-keyring: a Secret Service daemon started for each test on a
private D-Bus session bus (``dbus-run-session``), with a private HOME and XDG directories, and
torn down after it. The developer's own keychain and session bus are never touched.

Store round trips, split values, a SIGKILL at each write, a refresh shared across processes, a
whole login and logout through ``http`` and ``stytch-connected``, and a locked collection whose
unlock prompt nobody answers.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import keyring
import pytest

from httpie_stytch_connected.storage.store import KEYRING_SERVICE, AccessTokenCache, KeyringStore
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.keyring_backend import SecretServiceWithFaults
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests import crash
from tests.lifecycle import HTTP, http_processes, login_then_expire, slow_token_endpoint

pytestmark = pytest.mark.timeout(300)

BACKEND = "httpie_stytch_connected.testing.keyring_backend.SecretServiceWithFaults"
SECRETS = "org.freedesktop.secrets"
TOOLS = ("dbus-run-session", "dbus-daemon", "gnome-keyring-daemon")
START_TIMEOUT = 60.0
#: A prompter that owns gnome-keyring's prompter name, accepts every prompt and never answers:
#: an unlock dialog on a screen nobody is looking at.
_SILENT_PROMPTER = """
import sys
from jeepney import MessageType, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

bus = open_dbus_connection(bus="SESSION")
for name in ("org.gnome.keyring.SystemPrompter", "org.gnome.keyring.PrivatePrompter"):
    bus.send_and_get_reply(message_bus.RequestName(name), timeout=30)
print("ready", flush=True)
while True:
    message = bus.receive()
    if message.header.message_type == MessageType.method_call:
        bus.send(new_method_return(message))
"""


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The child's next stdout line, waiting at most ``timeout`` seconds."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if not line.strip():
        proc.kill()
        raise AssertionError(f"{proc.args!r} did not start within {timeout:g} s")
    return line.strip()


def _stop(proc: subprocess.Popen[str]) -> None:
    with_stdin = proc.stdin
    if with_stdin is not None:
        with_stdin.close()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


def _wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait at most ``timeout`` seconds for ``pid`` (not our child: the daemon forked itself
    away) to exit; True once it has."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([handle], [], [], timeout)[0])
    finally:
        os.close(handle)


@dataclass
class SecretServiceSession:
    """A running gnome-keyring on a private bus; ``entries`` reads our items straight from it."""

    address: str
    daemon_pid: int

    def entries(self) -> dict[str, str]:
        import secretstorage

        connection = secretstorage.dbus_init()
        try:
            collection = secretstorage.get_default_collection(connection)
            return {
                item.get_attributes()["username"]: item.get_secret().decode()
                for item in collection.search_items({"service": KEYRING_SERVICE})
            }
        finally:
            connection.close()

    def lock(self) -> None:
        import secretstorage

        connection = secretstorage.dbus_init()
        try:
            collection = secretstorage.get_default_collection(connection)
            collection.lock()
            assert collection.is_locked()
        finally:
            connection.close()


def _serving_pid(address: str, timeout: float) -> int:
    """The process id of the Secret Service on ``address``, once it owns its name (the daemon
    takes it just after ``--unlock`` returns), waiting at most ``timeout`` seconds."""
    from jeepney import MatchRule
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection

    bus = open_dbus_connection(bus=address)
    try:
        owner_changed = MatchRule(
            type="signal",
            sender="org.freedesktop.DBus",
            interface="org.freedesktop.DBus",
            member="NameOwnerChanged",
        )
        owner_changed.add_arg_condition(0, SECRETS)
        bus.send_and_get_reply(message_bus.AddMatch(owner_changed), timeout=timeout)
        with bus.filter(owner_changed) as changes:
            if not bus.send_and_get_reply(message_bus.NameHasOwner(SECRETS), timeout=timeout).body[
                0
            ]:
                bus.recv_until_filtered(changes, timeout=timeout)
        reply = bus.send_and_get_reply(
            message_bus.GetConnectionUnixProcessID(SECRETS), timeout=timeout
        )
    finally:
        bus.close()
    (pid,) = reply.body
    return int(pid)


@pytest.fixture
def gnome_keyring(
    stytch_keyring: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SecretServiceSession]:
    """gnome-keyring on a private session bus, unlocked, as this test's (and its children's)
    keyring; stopped with the bus afterwards."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        message = f"{', '.join(missing)} not installed (bash .ci/secret-service-setup.sh)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    root = tmp_path_factory.mktemp("gk")  # short: sockets live under it
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root / "home")}
    for name, sub in (
        ("XDG_DATA_HOME", "data"),
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_CACHE_HOME", "cache"),
        ("XDG_RUNTIME_DIR", "run"),
    ):
        env[name] = str(root / sub)
    for path in [root / "home", *(Path(env[n]) for n in env if n.startswith("XDG_"))]:
        path.mkdir(mode=0o700)
    # The daemon forks itself away once it is unlocked and serving; it exits with the bus.
    script = (
        'printf %s "$1" | gnome-keyring-daemon --unlock --components=secrets >/dev/null || exit 1\n'
        'echo "$DBUS_SESSION_BUS_ADDRESS"\n'
        "exec cat >/dev/null\n"
    )
    with (root / "session.log").open("w") as log:
        session = subprocess.Popen(
            ["dbus-run-session", "--", "sh", "-c", script, "sh", "test-password"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
    try:
        address = _read_line(session, START_TIMEOUT)
        service = SecretServiceSession(address, _serving_pid(address, START_TIMEOUT))
    except BaseException:
        _stop(session)
        raise
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", BACKEND)
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):  # no prompt may reach a real screen
        monkeypatch.delenv(name, raising=False)
    keyring.set_keyring(SecretServiceWithFaults())  # type: ignore[no-untyped-call]
    try:
        yield service
    finally:
        _stop(session)  # the bus goes, and the daemon with it
        if not _wait_for_exit(service.daemon_pid, 30):
            os.kill(service.daemon_pid, signal.SIGKILL)


@pytest.fixture
def limited(gnome_keyring: SecretServiceSession, monkeypatch: pytest.MonkeyPatch) -> crash.Entries:
    """The real Secret Service refusing values over 1,200 characters, as Windows does."""
    monkeypatch.setenv("STYTCH_TEST_KEYRING_FAULT", "limit:1200")
    return gnome_keyring.entries


# -- the store -----------------------------------------------------------------------------------


def test_save_load_delete(gnome_keyring: SecretServiceSession) -> None:
    store = KeyringStore()
    tokens = crash.sample(1, size=20_000)  # gnome-keyring takes it whole
    store.save("k", tokens)
    assert store.load("k") == tokens
    assert list(gnome_keyring.entries()) == ["k"]
    assert store.load("other") is None
    store.delete("k")
    assert store.load("k") is None
    assert gnome_keyring.entries() == {}
    store.delete("k")  # deleting nothing is fine


def test_split_values_round_trip_and_leave_nothing_behind(
    limited: crash.Entries, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = KeyringStore()
    for n in range(3):  # both slots, and back
        tokens = crash.sample(n, size=3000 - 500 * n)
        store.save("k", tokens)
        assert store.load("k") == tokens
        assert all(len(value) <= 1200 for value in limited().values())
        crash.assert_only_tracked(limited, "k")
    monkeypatch.delenv("STYTCH_TEST_KEYRING_FAULT")  # whole values again: the parts go
    store.save("k", crash.sample(9))
    assert list(limited()) == ["k"]
    store.delete("k")
    assert limited() == {}


def test_a_split_save_killed_at_any_write_leaves_nothing_untracked(
    limited: crash.Entries,
) -> None:
    crash.kill_a_split_save_at_every_write(limited, "k")


def test_killed_split_saves_then_logout_leave_nothing(limited: crash.Entries) -> None:
    crash.kill_split_saves_in_a_row_then_delete(limited, "k")


# -- whole flows -------------------------------------------------------------------------------


def test_processes_with_an_expired_token_make_one_refresh(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    gnome_keyring: SecretServiceSession,
    tmp_path: Path,
) -> None:
    login_then_expire(stytch_resource_server)
    stytch_env.reset_counters()
    slow_token_endpoint(stytch_env, 4)
    results = http_processes(stytch_resource_server.url, tmp_path, n=4)
    assert [code for code, _, _ in results] == [0] * 4, [err for _, _, err in results]
    assert stytch_env.counters["token_requests"] == 1
    assert stytch_env.counters["codes_issued"] == 0


def test_login_reuse_status_and_logout(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    gnome_keyring: SecretServiceSession,
    tmp_path: Path,
) -> None:
    env = dict(os.environ, HTTPIE_CONFIG_DIR=str(tmp_path / "httpie"))

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=90
        )

    get = [HTTP, "--ignore-stdin", "--check-status", "--auth-type=stytch", "GET"]
    first = run(*get, stytch_resource_server.url)
    assert first.returncode == 0, first.stderr
    assert stytch_env.counters["codes_issued"] == 1
    (key,) = gnome_keyring.entries()
    AccessTokenCache().delete(key)  # the next run reads the token set from gnome-keyring
    second = run(*get, stytch_resource_server.url)
    assert second.returncode == 0, second.stderr
    assert stytch_env.counters["codes_issued"] == 1
    status = run(sys.executable, "-m", "httpie_stytch_connected", "status")
    assert status.returncode == 0 and "system keyring" in status.stdout, status.stderr
    logout = run(sys.executable, "-m", "httpie_stytch_connected", "logout")
    assert logout.returncode == 0, logout.stderr
    assert gnome_keyring.entries() == {}
    assert stytch_env.issued_refresh_tokens()  # the provider saw the login it revoked


def test_a_locked_keyring_nobody_unlocks_ends_in_the_timeout_message(
    stytch_env: StytchEmulator, gnome_keyring: SecretServiceSession
) -> None:
    prompter = subprocess.Popen(
        [sys.executable, "-c", _SILENT_PROMPTER],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert _read_line(prompter, START_TIMEOUT) == "ready"
        gnome_keyring.lock()
        started = time.monotonic()
        token = subprocess.run(
            [sys.executable, "-m", "httpie_stytch_connected", "token"],
            env=dict(os.environ, STYTCH_KEYRING_TIMEOUT="2"),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=90,
        )
        elapsed = time.monotonic() - started
    finally:
        prompter.kill()
        prompter.wait(timeout=30)
    assert token.returncode == 1
    assert "did not answer within 2 s" in token.stderr, token.stderr
    assert "STYTCH_KEYRING_TIMEOUT" in token.stderr and "Traceback" not in token.stderr
    assert elapsed < 60  # bounded by the keyring timeout, not by the unanswered prompt
    assert stytch_env.counters["authorize_page"] == 0
