"""What a newcomer reads when something is missing: each message names the real cause and the
next step (issue 21, §3). Real processes: the command, ``http``, loopback servers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from httpie_stytch_connected.testing.pytest_plugin import ISOLATED
from tests.loopback import LoopbackServer, QuietHandler

BIN = Path(sys.executable).parent
TIMEOUT = 60


def bare_env(root: Path) -> dict[str, str]:
    """Nothing configured: no STYTCH_* setting (only the test keyring's isolation)."""
    kept = {*ISOLATED, "STYTCH_CONFIG"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("STYTCH_") or k in kept}
    (root / "httpie").mkdir(exist_ok=True)
    env["HTTPIE_CONFIG_DIR"] = str(root / "httpie")
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost,::1"
    return env


def run(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def command(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "httpie_stytch_connected", *args, env=env)


@pytest.fixture
def open_api() -> Iterator[str]:
    """An API on 127.0.0.1 that answers 200 to anyone: no 401, no challenge."""

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            self.reply(200, b'{"open": true}')

    with LoopbackServer(Handler) as server:
        yield f"{server.url}/api/open"


def test_http_help_does_not_describe_oauth2_as_stytch(stytch_keyring: Path) -> None:
    result = run(str(BIN / "http"), "--help", env=bare_env(stytch_keyring))
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    oauth2 = text.split('"oauth2":', 1)[1].split('"stytch":', 1)[0]
    assert "Stytch" not in oauth2
    assert "any OAuth 2.0 / OpenID Connect provider" in oauth2


def test_config_shows_unset_hosts_as_any_host(stytch_keyring: Path) -> None:
    result = command("config", env=bare_env(stytch_keyring))
    assert result.returncode == 0, result.stderr
    (hosts,) = [line for line in result.stdout.splitlines() if line.startswith("hosts ")]
    assert hosts.split("=", 1)[1].strip().startswith("(any host: ")


def test_status_with_nothing_configured_says_what_to_configure(stytch_keyring: Path) -> None:
    result = command("status", env=bare_env(stytch_keyring))
    assert result.returncode == 1
    assert "STYTCH_PROJECT_DOMAIN" in result.stderr and "STYTCH_ISSUER" in result.stderr
    assert "login --resource URL" in result.stderr


def test_an_unreachable_project_domain_is_blamed_not_the_issuer(stytch_keyring: Path) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(
        bare_env(stytch_keyring),
        STYTCH_PROJECT_DOMAIN=f"http://127.0.0.1:{port}",
        STYTCH_CLIENT_ID="connected-app-test-x",
        STYTCH_NO_BROWSER="1",
    )
    result = command("login", env=env)
    assert result.returncode == 1
    assert "issuer" not in result.stderr
    assert "project_domain setting (environment variable STYTCH_PROJECT_DOMAIN)" in result.stderr
    assert "authorize_url" in result.stderr


def test_http_with_nothing_configured_says_once_why_no_token_was_sent(
    stytch_keyring: Path, open_api: str
) -> None:
    result = run(str(BIN / "http"), "-A", "stytch", "GET", open_api, env=bare_env(stytch_keyring))
    assert result.returncode == 0, result.stderr
    assert '"open": true' in result.stdout
    assert result.stderr.count("No provider is configured") == 1
    assert "without a Bearer challenge" in result.stderr
    assert "without a token" in result.stderr
