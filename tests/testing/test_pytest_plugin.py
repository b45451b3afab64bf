"""The pytest plugin loads in every pytest run of any project that has this package installed,
so importing it must not pull in the emulator's heavy dependencies (PyJWT, cryptography); its
fixtures and the scripted opener work as documented."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys

import pytest
import requests

from httpie_stytch_connected import StytchAuth
from httpie_stytch_connected.errors import LoginError
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.pytest_plugin import ScriptedOpener, scripted_opener
from httpie_stytch_connected.testing.resource_server import ResourceServer

PROBE = (
    "import sys\n"
    "import httpie_stytch_connected.testing.pytest_plugin\n"
    "loaded = {name.split('.')[0] for name in sys.modules}\n"
    "print(' '.join(sorted(loaded & {'jwt', 'cryptography'})))\n"
)


def test_importing_the_pytest_plugin_loads_neither_jwt_nor_cryptography() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_the_fixtures_still_bring_up_the_emulator(stytch_env: object) -> None:
    from httpie_stytch_connected.testing import StytchEmulator

    assert isinstance(stytch_env, StytchEmulator)


def test_the_scripted_opener_signs_in_counts_and_can_refuse(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    stytch_opener: ScriptedOpener,
) -> None:
    auth = StytchAuth(opener=stytch_opener, notify=lambda _: None)
    for _ in range(2):
        assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).status_code == 200
    assert stytch_opener.opened == 1
    assert "opened=1" in repr(stytch_opener) and "http" not in repr(stytch_opener)
    refusing = scripted_opener("deny")
    with pytest.raises(LoginError, match="access_denied"):
        StytchAuth(opener=refusing, notify=lambda _: None).manager.login()
    assert refusing.opened == 1


def test_an_auth_object_holding_the_scripted_opener_pickles(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    stytch_opener: ScriptedOpener,
) -> None:
    """An auth object pickles with its parts (the requests guide), but one given the
    ``stytch_opener`` fixture failed with "cannot pickle '_thread.lock' object": a test of a
    tool that hands its auth object to a process pool could not use the fixture."""
    auth = StytchAuth(opener=stytch_opener, notify=print)
    clone = pickle.loads(pickle.dumps(auth))  # noqa: S301 - our own object
    assert requests.get(stytch_resource_server.url, auth=clone, timeout=30).status_code == 200
    assert stytch_opener.opened == 0  # the copy's opener signed in, and counts its own


def test_every_fixture_the_plugin_registers_is_documented_in_the_reference() -> None:
    """Each fixture is described in the plugin's docstring (which the reference shows) and
    listed among the reference's members: stytch_opener, stytch_m2m_client,
    stytch_confidential_client and client_credentials_server were missing from one or both."""
    from pathlib import Path

    from _pytest.fixtures import FixtureFunctionDefinition

    from httpie_stytch_connected.testing import pytest_plugin

    fixtures = [
        n for n, v in vars(pytest_plugin).items() if isinstance(v, FixtureFunctionDefinition)
    ]
    reference = Path(__file__).resolve().parents[2] / "docs" / "reference" / "testing.md"
    members = set(re.findall(r"^\s+- (\w+)$", reference.read_text(encoding="utf-8"), re.M))
    assert [n for n in fixtures if f"- ``{n}``:" not in (pytest_plugin.__doc__ or "")] == []
    assert [n for n in fixtures if n not in members] == []
