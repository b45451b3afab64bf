"""Every ``STYTCH_*`` variable the package reads or documents is known to ``config`` (not called
a stray), and one that is not a setting (a misspelling) is said once on stderr, through the
notify channel, whenever the settings are loaded for a request or a command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import httpie_stytch_connected
from httpie_stytch_connected import auth as requests_auth
from httpie_stytch_connected import httpx as httpx_auth
from httpie_stytch_connected import httpx2 as httpx2_auth
from httpie_stytch_connected.settings.options import KNOWN_ENV, OPTIONS, OTHER_ENV, STYTCH_SDK_ENV
from httpie_stytch_connected.testing import StytchEmulator
from httpie_stytch_connected.testing.resource_server import ResourceServer

_READ = re.compile(r"""(?:environ(?:\.get)?|getenv)\s*[\[(]\s*["'](STYTCH_[A-Z0-9_]+)["']""")
_NAMED = re.compile(r"\bSTYTCH_[A-Z0-9_]*[A-Z0-9]\b")
ROOT = Path(httpie_stytch_connected.__file__).parents[1]
#: Misspellings the documentation shows on purpose, as what `config` names.
SHOWN_MISSPELT = {"STYTCH_PROJECT_DOMIAN", "STYTCH_CLIENT_SECRE"}
#: Package constants named STYTCH_… that are no variables.
CONSTANTS = {"STYTCH_M2M_PREFIX", "STYTCH_DOMAINS", "STYTCH_ORGANIZATION", "STYTCH_SDK_ENV"}
BASE = {
    "STYTCH_CONFIG": "/nonexistent.toml",
    "STYTCH_PROJECT_DOMAIN": "https://p.example",
    "STYTCH_CLIENT_ID": "connected-app-test-1",
    "STYTCH_AUTHORIZE_URL": "https://app.example/authorize",
}


def test_every_stytch_variable_read_by_the_package_is_known() -> None:
    root = Path(httpie_stytch_connected.__file__).parent
    read = {m for f in root.rglob("*.py") for m in _READ.findall(f.read_text(encoding="utf-8"))}
    assert read, "the pattern found no reads at all"
    assert sorted(read - KNOWN_ENV) == []


def test_every_stytch_variable_the_documentation_names_is_known() -> None:
    """A variable the README, the guides or the examples tell people to set is never called
    "not a setting" when they do."""
    texts = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "examples").rglob("*")]
    named = {n for p in texts if p.is_file() for n in _NAMED.findall(p.read_text("utf-8"))}
    assert "STYTCH_CLIENT_SECRET" in named, "the pattern found nothing"
    assert sorted(named - KNOWN_ENV - SHOWN_MISSPELT - CONSTANTS - STYTCH_SDK_ENV) == []


@pytest.mark.parametrize(
    "module", [requests_auth, httpx_auth, httpx2_auth], ids=lambda m: m.__name__
)
def test_a_stray_variable_is_said_once_per_process_through_notify(module: ModuleType) -> None:
    stray = f"STYTCH_CLIENT_SECRE{'_X' * len(module.__name__)}"  # one of its own per adapter
    said: list[str] = []
    for _ in range(2):  # two auth objects, as a script that builds one per call does
        module.StytchAuth(environ={**BASE, stray: "x"}, notify=said.append)
    assert said == [
        f"{stray} is not a setting of httpie-stytch-connected and is ignored; "
        "`stytch-connected config` lists the settings."
    ]


def test_the_closest_setting_is_named_and_the_value_never() -> None:
    said: list[str] = []
    requests_auth.OAuth2PKCEAuth(
        environ={**BASE, "STYTCH_PROJECT_DOMIAN": "https://secret-looking.example"},
        notify=said.append,
    )
    assert said == [
        "STYTCH_PROJECT_DOMIAN is not a setting of httpie-stytch-connected and is ignored; "
        "did you mean STYTCH_PROJECT_DOMAIN?"
    ]


def test_no_word_for_settings_the_packages_own_variables_or_stytchs_sdks() -> None:
    said: list[str] = []
    environ = {
        **{option.env: "" for option in OPTIONS},  # set but empty: not taken as values
        **{name: "" for name in OTHER_ENV},  # the profile, the directories: their defaults
        **{name: "x" for name in STYTCH_SDK_ENV},
        **BASE,
    }
    requests_auth.StytchAuth(environ=environ, notify=said.append)
    httpx_auth.StytchAuth(environ=environ, notify=said.append)
    assert said == []


def test_the_command_and_httpie_say_it_on_stderr_once_and_keep_stdout_for_the_answer(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    env = {**os.environ, "STYTCH_LEEWAYY": "5"}
    line = (
        "STYTCH_LEEWAYY is not a setting of httpie-stytch-connected and is ignored; did you "
        "mean STYTCH_LEEWAY?"
    )
    for argv in (
        [sys.executable, "-m", "httpie_stytch_connected", "token"],
        [
            sys.executable,
            "-m",
            "httpie",
            "--ignore-stdin",
            "-A",
            "stytch",
            "GET",
            stytch_resource_server.url,
        ],
    ):
        result = subprocess.run(
            argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr.splitlines().count(line) == 1, result.stderr
        assert "STYTCH_LEEWAYY" not in result.stdout
    config = subprocess.run(
        [sys.executable, "-m", "httpie_stytch_connected", "config"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert config.stderr == ""  # `config` lists it with the settings, on stdout, instead
    assert "Unknown environment variable STYTCH_LEEWAYY" in config.stdout
