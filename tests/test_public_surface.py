"""What users import and run stays where it was, whatever moves inside the package."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import httpie_stytch_connected


def test_the_package_exports_the_three_names() -> None:
    from httpie_stytch_connected import AuthenticationError, OAuth2PKCEAuth, StytchAuth

    assert issubclass(AuthenticationError, Exception)
    assert StytchAuth.__module__ == "httpie_stytch_connected.auth"
    assert issubclass(StytchAuth, OAuth2PKCEAuth)
    assert set(httpie_stytch_connected.__all__) >= {
        "AuthenticationError",
        "OAuth2PKCEAuth",
        "StytchAuth",
    }


def test_the_httpx_classes_and_the_testing_tools_are_where_they_were() -> None:
    from httpie_stytch_connected.httpx import OAuth2PKCEAuth, StytchAuth
    from httpie_stytch_connected.testing import ScriptedUserAgent, StytchEmulator

    assert issubclass(StytchAuth, OAuth2PKCEAuth)
    assert callable(StytchEmulator) and callable(ScriptedUserAgent)


def test_the_httpx2_classes_are_in_their_own_module() -> None:
    import httpx2

    import httpie_stytch_connected.httpx
    import httpie_stytch_connected.httpx2
    from httpie_stytch_connected.httpx2 import OAuth2PKCEAuth, StytchAuth

    assert StytchAuth.__module__ == OAuth2PKCEAuth.__module__ == "httpie_stytch_connected.httpx2"
    assert issubclass(StytchAuth, OAuth2PKCEAuth) and issubclass(OAuth2PKCEAuth, httpx2.Auth)
    assert set(httpie_stytch_connected.httpx2.__all__) == {
        "OAuth2PKCEAuth",
        "ProviderError",
        "StytchAuth",
    }
    assert set(httpie_stytch_connected.httpx.__all__) == set(httpie_stytch_connected.httpx2.__all__)


@pytest.mark.parametrize(
    ("group", "name", "target"),
    [
        ("httpie.plugins.auth.v1", "stytch", "httpie_stytch_connected.httpie_plugin"),
        ("httpie.plugins.auth.v1", "oauth2", "httpie_stytch_connected.httpie_plugin"),
        ("pytest11", "stytch_connected", "httpie_stytch_connected.testing.pytest_plugin"),
        ("console_scripts", "stytch-connected", "httpie_stytch_connected.cli"),
    ],
)
def test_every_entry_point_loads(group: str, name: str, target: str) -> None:
    [point] = [p for p in entry_points(group=group) if p.name == name]
    assert point.module == target
    assert point.load() is not None


def test_the_command_runs() -> None:
    script = Path(sys.executable).with_name("stytch-connected")
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert httpie_stytch_connected.__version__ in result.stdout
