"""What users import and run stays where it was, whatever moves inside the package."""

from __future__ import annotations

import importlib
import pydoc
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import httpie_stytch_connected
from httpie_stytch_connected.settings.options import OPTIONS


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


def test_dir_and_help_list_the_public_names_and_dir_loads_none_of_them() -> None:
    code = (
        "import sys, httpie_stytch_connected as package\n"
        "print(' '.join(dir(package)))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('requests', 'keyring')\n"
        "    or m.startswith('httpie_stytch_connected.')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    listed, loaded = done.stdout.splitlines()
    assert set(httpie_stytch_connected.__all__) <= set(listed.split())
    assert loaded == "[]"  # HTTPie imports the package on every run: dir() stays as cheap
    shown = pydoc.plain(pydoc.render_doc(httpie_stytch_connected))
    for name in ("class AuthenticationError", "class OAuth2PKCEAuth", "class StytchAuth"):
        assert name in shown


@pytest.mark.parametrize("module", ["auth", "httpx", "httpx2"])
@pytest.mark.parametrize("name", ["OAuth2PKCEAuth", "StytchAuth"])
def test_help_of_an_auth_class_lists_every_setting(module: str, name: str) -> None:
    face = importlib.import_module(f"httpie_stytch_connected.{module}")
    shown = pydoc.plain(pydoc.render_doc(getattr(face, name)))
    for option in OPTIONS:
        assert f"{option.name} ({option.env}" in shown, option.name
    assert "login_timeout (STYTCH_LOGIN_TIMEOUT, default 300.0): seconds" in shown
    assert "opener=" in shown


def test_the_httpx_classes_and_the_testing_tools_are_where_they_were() -> None:
    from httpie_stytch_connected.httpx import OAuth2PKCEAuth, StytchAuth
    from httpie_stytch_connected.testing import ScriptedUserAgent, StytchEmulator

    assert issubclass(StytchAuth, OAuth2PKCEAuth)
    assert callable(StytchEmulator) and callable(ScriptedUserAgent)


def test_dir_and_help_of_the_testing_module_list_its_tools() -> None:
    """As for the package itself: its tools load on first use, yet ``dir()`` (and so
    ``help()`` and completion) listed none of them, and a misspelt one raised a bare
    ``AttributeError('StytchEmulater')``."""
    from httpie_stytch_connected import testing

    assert set(testing.__all__) <= set(dir(testing))
    with pytest.raises(AttributeError, match="has no attribute 'StytchEmulater'"):
        testing.StytchEmulater  # noqa: B018 - the lookup is the test


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


@pytest.mark.parametrize(
    ("module", "library"),
    [("httpx", "httpx"), ("httpx2", "httpx2"), ("testing.mcp_server", "mcp")],
)
def test_importing_a_module_without_its_library_says_what_to_install(
    module: str, library: str
) -> None:
    """The plain install is the requests API alone: importing our httpx or httpx2 classes, or
    the MCP test server, without that library names the module missing and the one command
    that adds it, instead of a bare "No module named 'anyio'" from inside the package."""
    code = (
        "import sys\n"
        f"sys.modules[{library!r}] = None  # as if not installed\n"
        f"import httpie_stytch_connected.{module}\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        f"ModuleNotFoundError: httpie_stytch_connected.{module} needs {library}, which is not "
        f"installed: pip install {library} (or install this package with its [{library}] extra)."
    ), done.stderr


@pytest.mark.parametrize("module", ["auth", "httpx", "httpx2"])
def test_the_api_reference_documents_every_name_an_adapter_exports(module: str) -> None:
    """Each adapter module's ``__all__`` is in the API reference, under the module or as the
    package's own name: the requests classes' ``ProviderError`` was missing while the httpx
    ones' was there."""
    reference = Path(__file__).resolve().parents[1] / "docs" / "reference"
    text = "".join(page.read_text(encoding="utf-8") for page in sorted(reference.glob("*.md")))
    exported = importlib.import_module(f"httpie_stytch_connected.{module}").__all__
    missing = [
        name
        for name in exported
        if f"::: httpie_stytch_connected.{module}.{name}\n" not in text
        and not (
            name in httpie_stytch_connected.__all__
            and f"::: httpie_stytch_connected.{name}\n" in text
        )
    ]
    assert missing == []
