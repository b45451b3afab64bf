"""The HTTPie adapter in-process (``httpie.core.main``) and its import-time contract."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from httpie_stytch_connected.httpie_plugin import HTTPieStytchAuth, StytchAuthPlugin
from httpie_stytch_connected.testing import StytchEmulator
from httpie_stytch_connected.testing.emulator import example_api
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.adapters import provider_profile
from tests.httpie_harness import http


def test_auth_type_stytch_gets_200_and_stdout_holds_only_the_body(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = http(
        "--auth-type=stytch", "GET", stytch_resource_server.url, config_dir=tmp_path / "httpie"
    )
    assert result.status == 0, result.stderr
    assert json.loads(result.stdout)["resources"]
    terminal = capsys.readouterr()
    assert "Opening your browser" in terminal.err  # the person's terminal, not HTTPie's output
    assert terminal.out == ""
    again = http("-A", "stytch", "GET", stytch_resource_server.url, config_dir=tmp_path / "httpie")
    assert json.loads(again.stdout)["resources"]
    assert again.stderr == "" and capsys.readouterr().err == ""
    assert stytch_env.counters["login"] == 1


def test_browser_output_never_reaches_stdout(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from httpie_stytch_connected.testing.pytest_plugin import reset_webbrowser

    chatty = tmp_path / "chatty-browser"
    chatty.write_text(
        "#!/bin/sh\necho BROWSER-NOISE\necho BROWSER-NOISE >&2\n"
        f'exec {sys.executable} -m httpie_stytch_connected.testing.user_agent "$1"\n'
    )
    chatty.chmod(0o755)
    monkeypatch.setenv("BROWSER", f"{chatty} %s")
    reset_webbrowser()
    result = http("-A", "stytch", "GET", stytch_resource_server.url, config_dir=tmp_path / "h")
    assert result.status == 0, result.stderr
    assert "BROWSER-NOISE" not in result.stdout
    assert json.loads(result.stdout)["resources"]


def test_errors_are_one_line_on_stderr_without_traceback(
    stytch_env: StytchEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STYTCH_UA_DECISION", "deny")
    result = http("-A", "stytch", "GET", stytch_env.url + "/api", config_dir=tmp_path / "h")
    assert result.status == 1
    assert result.stdout == ""
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("http: error:")]
    assert len(error_lines) == 1, result.stderr
    assert error_lines[0].startswith(
        "http: error: LoginError: The sign-in was refused in the browser: access_denied"
    )
    assert error_lines[0].endswith("Try again to sign in once more.")
    assert "Traceback" not in result.stderr


def test_missing_configuration_is_a_clean_error(
    stytch_keyring: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STYTCH_PROJECT_DOMAIN", "https://login.example.com")
    monkeypatch.delenv("STYTCH_CLIENT_ID", raising=False)
    result = http("-A", "stytch", "GET", "http://127.0.0.1:9/", config_dir=tmp_path / "h")
    assert result.status == 1
    assert result.stderr.strip() == (
        "http: error: ConfigurationError: client_id is not set (the Connected App's client ID); "
        "set STYTCH_CLIENT_ID, pass client_id=..., or add client_id to a profile "
        "(`stytch-connected config` shows where the file is)."
    )


def test_an_api_that_names_no_server_with_nothing_configured_is_a_clean_error(
    stytch_zero_env: StytchEmulator, stytch_resource_server: ResourceServer, tmp_path: Path
) -> None:
    result = http("-A", "stytch", "GET", stytch_resource_server.url, config_dir=tmp_path / "h")
    assert result.status == 1
    # It publishes no resource metadata: its origin is taken as its own server (MCP 2025-03-26,
    # issue 18 §3), a new pair nobody agreed to here; the refusal says why that server.
    origin = stytch_resource_server.origin
    assert result.stderr.strip().startswith(
        f"http: error: ConfigurationError: Not signing in at {origin} for {origin} (the API "
        "publishes no resource metadata (RFC 9728)"
    ), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("auth_type", ["stytch", "oauth2"])
def test_nothing_configured_http_gets_200_after_one_sign_in(
    stytch_zero_env: StytchEmulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    auth_type: str,
) -> None:
    installed = {e.name for e in entry_points(group="httpie.plugins.auth.v1")}
    if auth_type not in installed:  # a checkout installed before the alias was added
        pytest.skip(f"-A {auth_type} is not installed; run pip install -e . again")
    with example_api(stytch_zero_env) as api:
        result = http("-A", auth_type, "GET", api.url, config_dir=tmp_path / "h")
        assert result.status == 0, result.stderr
        assert json.loads(result.stdout)["resources"]
        assert (
            f"Signing in to {stytch_zero_env.issuer} for {api.resource}" in capsys.readouterr().err
        )
        again = http("-A", auth_type, "GET", api.url, config_dir=tmp_path / "h")
        offline = http("-A", auth_type, "--offline", "GET", api.url, config_dir=tmp_path / "h")
    assert json.loads(again.stdout)["resources"] and again.stderr == ""
    assert "Authorization: Bearer " in offline.stdout
    assert stytch_zero_env.counters["login"] == 1 and api.counters["401"] == 1


def test_get_auth_never_raises_and_repr_is_safe() -> None:
    plugin = StytchAuthPlugin()
    plugin.raw_auth = None
    auth = plugin.get_auth()
    assert isinstance(auth, HTTPieStytchAuth)
    assert repr(auth) == "HTTPieStytchAuth(profile=None)"
    assert (plugin.auth_type, plugin.auth_parse, plugin.auth_require) == ("stytch", False, False)


def test_the_plugin_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, httpie.plugins, requests\n"
        "before = set(sys.modules)\n"
        "import httpie_stytch_connected.httpie_plugin\n"
        "new = sorted(set(sys.modules) - before)\n"
        "print('\\n'.join(new))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = done.stdout.split()
    assert not [
        m
        for m in loaded
        if m.split(".")[0] in {"keyring", "jwt", "filelock", "cryptography", "platformdirs"}
    ]
    assert [m for m in loaded if m.startswith("httpie_stytch_connected")] == [
        "httpie_stytch_connected",
        "httpie_stytch_connected.httpie_plugin",
    ]


def test_http_version_loads_the_plugin_without_keyring(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"disable_update_warnings": true}')
    code = (
        "import sys, runpy\n"
        "sys.argv = ['http', '--version']\n"
        "try:\n"
        "    runpy.run_module('httpie', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('plugin', 'httpie_stytch_connected.httpie_plugin' in sys.modules, file=sys.stderr)\n"
        "print('keyring', 'keyring' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"HTTPIE_CONFIG_DIR": str(tmp_path), "PATH": ""},
    )
    assert "plugin True" in done.stderr
    assert "keyring False" in done.stderr


def test_dash_a_picks_a_profile(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider_profile(stytch_env, "work", monkeypatch)
    result = http(
        "-A", "stytch", "-a", "work", "GET", stytch_resource_server.url, config_dir=tmp_path / "h"
    )
    assert result.status == 0, result.stderr
    assert json.loads(result.stdout)["resources"]
    missing = http(
        "-A", "stytch", "-a", "home", "GET", stytch_resource_server.url, config_dir=tmp_path / "h"
    )
    assert missing.status == 1
    assert missing.stderr.strip().startswith(
        "http: error: ConfigurationError: Profile 'home' is not in"
    )
    assert "work" in missing.stderr


def test_the_oauth2_alias_is_declared_and_is_the_same_plugin() -> None:
    import tomli  # the test extra has it on every Python (mypy checks for 3.10)

    from httpie_stytch_connected.httpie_plugin import OAuth2AuthPlugin

    pyproject = tomli.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    plugins = pyproject["project"]["entry-points"]["httpie.plugins.auth.v1"]
    assert plugins["oauth2"] == "httpie_stytch_connected.httpie_plugin:OAuth2AuthPlugin"
    assert OAuth2AuthPlugin.auth_type == "oauth2"
    assert isinstance(OAuth2AuthPlugin().get_auth(), HTTPieStytchAuth)


def test_hosts_binds_the_token_to_its_api(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``default_options: ["-A", "stytch"]`` reaches every host; ``hosts`` keeps the token on
    its own API: any other host gets no token and no sign-in."""
    from urllib.parse import urlsplit

    from tests.loopback import LoopbackServer, QuietHandler

    seen: list[str | None] = []

    class Public(QuietHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.reply(200, b'{"public": true}')

    config_dir = tmp_path / "httpie"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(
        '{"default_options": ["--auth-type=stytch"], "disable_update_warnings": true}'
    )
    monkeypatch.setenv(
        "STYTCH_HOSTS", f"example.org, {urlsplit(stytch_resource_server.url).netloc}"
    )
    with LoopbackServer(Public) as public:
        result = http("GET", public.url + "/", config_dir=config_dir, keep_config=True)
        assert result.status == 0, result.stderr
        assert seen == [None]
        assert stytch_env.counters["authorize_page"] == 0  # a cold run, and still no sign-in
        api = http("GET", stytch_resource_server.url, config_dir=config_dir, keep_config=True)
        assert api.status == 0, api.stderr
        assert json.loads(api.stdout)["resources"]
        assert stytch_env.counters["codes_issued"] == 1
