"""``http --offline -A stytch``: never a browser, never the network, never the keyring; a cached
valid access token is attached when there is one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from httpie_stytch_connected.auth import OAuth2PKCEAuth, StytchAuth
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.storage.store import cache_dir
from httpie_stytch_connected.testing import StytchEmulator
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.httpie_harness import http

API = "http://127.0.0.1:9/api"  # the discard port: nothing may be sent anywhere


def signed_in_token(auth: OAuth2PKCEAuth, resource: ResourceServer) -> str:
    assert requests.get(resource.url, auth=auth, timeout=30).status_code == 200
    token = auth.manager.cached_access_token()
    assert token
    forget_memory()  # what a new HTTPie process would find: only the files
    return token


def test_offline_without_a_cached_token_sends_nothing_and_opens_nothing(
    stytch_env: StytchEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = http("--offline", "-A", "stytch", "GET", API, config_dir=tmp_path / "httpie")
    assert result.status == 0, result.stderr
    assert result.stdout.startswith("GET /api HTTP/1.1")
    assert "Authorization" not in result.stdout
    assert capsys.readouterr().err == ""
    assert not any(stytch_env.counters.values())


def test_offline_attaches_the_cached_token_with_the_provider_down(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    tmp_path: Path,
) -> None:
    token = signed_in_token(StytchAuth(), stytch_resource_server)
    stytch_env.stop()
    result = http("--offline", "-A", "stytch", "GET", API, config_dir=tmp_path / "httpie")
    assert result.status == 0, result.stderr
    assert f"Authorization: Bearer {token}" in result.stdout


def test_offline_with_an_issuer_needs_no_discovery(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STYTCH_PROJECT_DOMAIN")
    monkeypatch.delenv("STYTCH_AUTHORIZE_URL")
    monkeypatch.setenv("STYTCH_ISSUER", stytch_env.issuer)
    token = signed_in_token(OAuth2PKCEAuth(), stytch_resource_server)
    stytch_env.stop()
    shutil.rmtree(cache_dir() / "discovery")
    result = http("--offline", "-A", "stytch", "GET", API, config_dir=tmp_path / "httpie")
    assert f"Authorization: Bearer {token}" in result.stdout


def test_offline_never_imports_keyring(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer, tmp_path: Path
) -> None:
    token = signed_in_token(StytchAuth(), stytch_resource_server)
    (tmp_path / "config.json").write_text('{"disable_update_warnings": true}')
    code = (
        "import sys\n"
        "from httpie.core import main\n"
        f"main(['http', '--offline', '--ignore-stdin', '-A', 'stytch', 'GET', {API!r}])\n"
        "print('keyring' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "HTTPIE_CONFIG_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"Authorization: Bearer {token}" in done.stdout
    assert done.stderr.strip() == "False"
