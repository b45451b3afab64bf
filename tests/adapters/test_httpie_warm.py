"""HTTPie's warm path (:mod:`httpie_stytch_connected.warm`): a later run reads the cached token
before any settings load, and is served it only while what the settings come from is unchanged,
the token is valid beyond the leeway and the settings would send it there.

Each test signs in with a first run (which resolves the settings and records what the warm
path needs), then changes one thing and runs again. The zero-configuration redirect rule on a
warm run is tested through every adapter in ``test_redirects.py`` (its HTTPie runs are warm).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from httpie_stytch_connected.httpie_plugin import RESENT
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.storage.access_cache import AccessTokenCache
from httpie_stytch_connected.storage.store import KeyringStore
from httpie_stytch_connected.testing import StytchEmulator
from httpie_stytch_connected.testing.resource_server import ResourceServer
from httpie_stytch_connected.warm import SECRET_ENV
from tests.adapters import provider_profile
from tests.httpie_harness import Result, http
from tests.loopback import LoopbackServer, QuietHandler

#: All a warm run loads of ours: the adapter, the warm path and the token cache.
WARM_MODULES = {
    "httpie_stytch_connected",
    "httpie_stytch_connected.httpie_plugin",
    "httpie_stytch_connected.warm",
    "httpie_stytch_connected.errors",
    "httpie_stytch_connected.oauth",
    "httpie_stytch_connected.oauth.bearer",
    "httpie_stytch_connected.oauth.token_json",
    "httpie_stytch_connected.oauth.urls",
    "httpie_stytch_connected.storage",
    "httpie_stytch_connected.storage.access_cache",
    "httpie_stytch_connected.storage.paths",
    "httpie_stytch_connected.storage.private_files",
}


class Recorder(QuietHandler):
    """Records the Authorization header of every request; 200 to any."""

    seen: list[str | None]

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Authorization"))
        self.reply(200, b'{"public": true}')


@pytest.fixture
def other_host() -> Iterator[tuple[str, list[str | None]]]:
    """Another API on loopback: its URL, and the Authorization headers it received."""
    seen: list[str | None] = []
    handler = type("Seen", (Recorder,), {"seen": seen})
    with LoopbackServer(handler) as server:
        yield server.url + "/", seen


def _http(url: str, tmp_path: Path) -> Result:
    forget_memory()  # every run starts as a new process would: from the files
    return http("--check-status", "-A", "stytch", "GET", url, config_dir=tmp_path / "h")


def _runs(url: str, tmp_path: Path, count: int) -> None:
    for _ in range(count):
        result = _http(url, tmp_path)
        assert result.status == 0, result.stderr


def test_a_warm_run_loads_the_adapter_the_warm_path_and_the_token_cache_only(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer, tmp_path: Path
) -> None:
    script = (
        "import sys\n"
        "from httpie.core import main\n"
        "status = main(['http', '--ignore-stdin', '--check-status', '-A', 'stytch', 'GET',"
        " sys.argv[1]])\n"
        "ours = sorted(m for m in sys.modules if m.startswith('httpie_stytch_connected'))\n"
        "print(int(status), *ours, file=open(sys.argv[2], 'w'))\n"
    )
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "config.json").write_text('{"disable_update_warnings": true}')
    env = {**os.environ, "HTTPIE_CONFIG_DIR": str(tmp_path / "h")}
    loaded = []
    for run in range(2):
        out = tmp_path / f"run{run}"
        done = subprocess.run(
            [sys.executable, "-c", script, stytch_resource_server.url, str(out)],
            env=env,
            capture_output=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        loaded.append(out.read_text().split())
    first, warm = loaded
    assert first[0] == "0" and "httpie_stytch_connected.lifecycle.manager" in first
    assert warm[0] == "0" and set(warm[1:]) == WARM_MODULES
    assert stytch_env.counters["login"] == 1


def test_a_changed_settings_file_is_not_served_the_previous_token(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = Path(os.environ["STYTCH_CONFIG"])
    profile = provider_profile(stytch_env, "default", monkeypatch)
    _runs(stytch_resource_server.url, tmp_path, 2)
    assert stytch_env.counters["login"] == 1
    # Another scope set is another token set: the profile's token must not be served for it.
    config.write_text(profile + 'scopes = "openid email profile"\n')
    _runs(stytch_resource_server.url, tmp_path, 2)
    assert stytch_env.counters["login"] == 2


def test_a_changed_environment_variable_is_not_served_the_previous_token(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _runs(stytch_resource_server.url, tmp_path, 2)
    monkeypatch.setenv("STYTCH_SCOPES", "openid email profile")
    _runs(stytch_resource_server.url, tmp_path, 2)
    assert stytch_env.counters["login"] == 2


def test_a_host_outside_the_hosts_setting_gets_no_token_on_a_later_run(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    other_host: tuple[str, list[str | None]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STYTCH_HOSTS", urlsplit(stytch_resource_server.url).netloc)
    _runs(stytch_resource_server.url, tmp_path, 2)
    url, seen = other_host
    assert _http(url, tmp_path).status == 0
    assert seen == [None]


def _cached_key() -> str:
    [path] = AccessTokenCache().directory.glob("*.json")
    return path.stem


def test_a_cached_token_within_the_leeway_is_not_sent(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer, tmp_path: Path
) -> None:
    """A cached token 20 s from expiry (the leeway is 60 s) is passed over: the stored set
    (or a refresh) gives the request its token, and the API never sees the expiring one."""
    _runs(stytch_resource_server.url, tmp_path, 2)
    key = _cached_key()
    cached = AccessTokenCache().load(key)
    assert cached is not None
    now = time.time()
    expiring = replace(
        cached, access_token="expiring-token", expires_at=now + 20, received_at=now - 3580
    )
    AccessTokenCache().save(key, expiring)
    refusals = stytch_resource_server.counters["401"]
    _runs(stytch_resource_server.url, tmp_path, 1)
    assert stytch_resource_server.counters["401"] == refusals
    kept = AccessTokenCache().load(key)
    assert kept is not None and kept.access_token == cached.access_token


def test_a_cached_token_the_api_refuses_is_renewed_and_the_request_resent(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _runs(stytch_resource_server.url, tmp_path, 2)
    key = _cached_key()
    stored = KeyringStore().load(key)
    assert stored is not None
    bogus = replace(stored, access_token="refused-by-the-api")
    KeyringStore().save(key, bogus)
    AccessTokenCache().save(key, bogus)
    refusals = stytch_resource_server.counters["401"]
    forget_memory()
    result = http(
        "-v", "-A", "stytch", "GET", stytch_resource_server.url, config_dir=tmp_path / "h"
    )
    assert result.status == 0, result.stderr
    assert stytch_resource_server.counters["401"] == refusals + 1
    assert RESENT in capsys.readouterr().err
    assert stytch_env.counters["token_refresh"] == 1
    fresh = AccessTokenCache().load(key)
    assert fresh is not None and fresh.access_token != bogus.access_token


def test_secret_variables_are_in_the_fingerprint_by_name() -> None:
    from httpie_stytch_connected.settings.options import OPTIONS

    assert set(SECRET_ENV) == {o.env for o in OPTIONS if o.secret}


def test_the_warm_path_never_shows_the_token() -> None:
    from httpie_stytch_connected.httpie_plugin import HTTPieStytchAuth, _WarmHook
    from httpie_stytch_connected.warm import Warm

    warm = Warm("secret-token-value", None)
    shown = repr(warm) + repr(_WarmHook(HTTPieStytchAuth(), warm))
    assert "secret-token-value" not in shown


def test_the_newest_memos_are_kept_and_no_more(stytch_env: StytchEmulator) -> None:
    """Each change to what the settings come from leaves a memo: the oldest go beyond KEPT,
    never the one just written."""
    from httpie_stytch_connected.settings.config import load_settings
    from httpie_stytch_connected.warm import KEPT, fingerprint, recall, remember

    memos = Path(os.environ["STYTCH_CACHE_DIR"]) / "warm"
    stamps = []
    for run in range(KEPT + 5):
        environ = {**os.environ, "STYTCH_LEEWAY": str(30 + run)}
        stamp = fingerprint(None, environ)
        assert stamp is not None
        remember(stamp, None, environ, load_settings({}, environ), f"key-{run}")
        stamps.append(stamp)
        # One write a second, as a person changes settings: the order is the clock's, no tie.
        [written] = memos.glob(f"{stamp[:40]}.json")
        os.utime(written, (1_000_000 + run, 1_000_000 + run))
    assert len(list(memos.glob("*.json"))) == KEPT
    newest = recall(stamps[-1])
    assert newest is not None and newest.key == f"key-{KEPT + 4}" and newest.leeway == KEPT + 34
    assert [recall(s) for s in stamps[:5]] == [None] * 5
    assert all(recall(s) is not None for s in stamps[5:])
