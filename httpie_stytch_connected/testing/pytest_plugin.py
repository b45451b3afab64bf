"""Pytest fixtures (registered through the ``pytest11`` entry point): test tools built on this
package against a local Stytch, with no Stytch account and without touching the real keychain.

- ``stytch_emulator``: a running :class:`StytchEmulator` on 127.0.0.1.
- ``stytch_keyring``: an isolated keyring backend, token cache, lock dir and config (env +
  keyring API); once it ends, keyring is exactly as it was before (even if no backend had been
  chosen yet).
- ``stytch_browser``: ``BROWSER`` set to the scripted user agent, which signs in and approves.
- ``stytch_opener``: a :class:`ScriptedOpener` to pass as ``opener=``: the scripted user agent
  signs in and approves in this process, and ``opened`` counts the pages it was asked to open
  (``== 0`` proves no browser was needed). :func:`scripted_opener` builds one outside a
  fixture, ``scripted_opener("deny")`` one that refuses on the consent page.
- ``stytch_zero_env``: the emulator, the test keyring and browser, sealed from the shell (every
  other ``STYTCH_*`` variable removed, HTTPie's config directory an empty one, no proxy for
  the loopback servers) and no provider or client setting: zero configuration (pair it with
  ``testing.emulator.example_api``). The emulator is a trusted authorization server
  (``STYTCH_TRUSTED_ISSUERS``), so a test run, which has no terminal, signs in to any API that
  names it without being asked; delete that variable to test the question or its refusal.
- ``stytch_env``: ``stytch_zero_env`` with ``STYTCH_*`` pointing at the emulator (and no
  trusted server: nothing is discovered). (With ``BROWSER`` set, the display and SSH checks do
  not apply.)
- ``stytch_resource_server``: an API that verifies the emulator's access tokens.
- ``stytch_mcp_server``: a real MCP server (the ``mcp`` package) protected by the emulator, as
  an MCP client meets one: ``401`` naming its protected resource metadata, tokens checked
  against the emulator's JWKS, the tools ``whoami`` and ``write_note`` (the latter needs the
  ``write:data`` scope: ``403 insufficient_scope`` until the client steps up). Its ``url`` is
  the MCP endpoint; pair it with ``stytch_zero_env`` to sign in from that URL alone. Skips the
  test when ``mcp`` is not installed (Python 3.10+, ``pip install mcp``).
- ``stytch_m2m_client``: an M2M client of the emulator (``client_id``, ``client_secret``,
  scopes ``read:data write:data``), for the client-credentials path a CI job takes.
- ``stytch_confidential_client``: a confidential Connected App client of the emulator (a
  person signs in; its ``client_secret`` authenticates the client at the token endpoint).
- ``client_credentials_server``: a running provider-neutral
  :class:`~.client_credentials_server.ClientCredentialsServer` (``client_secret_basic``,
  ``client_secret_post``, ``private_key_jwt``; ``add_secret_client``, ``add_key_client``).
"""

from __future__ import annotations

import os
import shlex
import sys
import threading
import webbrowser
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # loaded by the fixtures that use them: every pytest run loads this module
    from .emulator import StytchEmulator
    from .mcp_server import McpResourceServer
    from .resource_server import ResourceServer

KEYRING_BACKEND = "httpie_stytch_connected.testing.keyring_backend.DirectoryKeyring"
#: What ``stytch_keyring`` points at its temporary directory; ``stytch_env`` keeps these.
ISOLATED = {
    "STYTCH_TEST_KEYRING_DIR": "keyring",
    "STYTCH_CACHE_DIR": "cache",
    "STYTCH_LOCK_DIR": "locks",
    "STYTCH_DATA_DIR": "data",
}
#: Never through a proxy: the emulator, the callback and the resource server are on loopback.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def user_agent_command() -> str:
    """A ``BROWSER`` value that runs the scripted user agent with this interpreter."""
    return f"{shlex.quote(sys.executable)} -m httpie_stytch_connected.testing.user_agent %s"


def reset_webbrowser() -> None:
    """:mod:`webbrowser` reads ``BROWSER`` once per process; make it read it again."""
    webbrowser._tryorder = None  # type: ignore[attr-defined]
    webbrowser._browsers.clear()  # type: ignore[attr-defined]


class ScriptedOpener:
    """An ``opener`` for :class:`~httpie_stytch_connected.StytchAuth` and the other auth classes:
    the scripted user agent drives the sign-in it is given, in this process, and answers the
    consent page with ``decision`` (``"approve"``, ``"deny"`` or ``"ignore"``).

    ``opened`` counts the sign-ins it was asked for, from any thread. It pickles, as an auth
    object's parts must (a process pool, ``copy.copy``): a copy counts its own sign-ins.
    """

    def __init__(self, decision: str = "approve") -> None:
        self.decision = decision
        self.opened = 0
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, object]:
        return {"decision": self.decision, "opened": self.opened}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __call__(self, url: str) -> bool:
        from .user_agent import ScriptedUserAgent

        with self._lock:
            self.opened += 1
        with ScriptedUserAgent(decision=self.decision) as agent:
            return agent.open(url).ok

    def __repr__(self) -> str:  # never the URL: it carries the state and the PKCE challenge
        return f"ScriptedOpener(decision={self.decision!r}, opened={self.opened})"


def scripted_opener(decision: str = "approve") -> ScriptedOpener:
    """A new :class:`ScriptedOpener`: what the ``stytch_opener`` fixture gives, for helpers and
    tests that need more than one (one approving, one denying) or none of pytest."""
    return ScriptedOpener(decision)


@pytest.fixture
def stytch_emulator() -> Iterator[StytchEmulator]:
    from .emulator import StytchEmulator

    with StytchEmulator() as emulator:
        yield emulator


@pytest.fixture
def stytch_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    import keyring.core

    from ..lifecycle.manager import forget_memory
    from .keyring_backend import DirectoryKeyring

    # Read without asking keyring to choose: a backend it has not chosen yet must stay unchosen,
    # or it would be chosen now, from the environment this fixture is about to change.
    previous = keyring.core._keyring_backend
    root = tmp_path / "stytch-state"
    for name, sub in ISOLATED.items():
        (root / sub).mkdir(parents=True)
        monkeypatch.setenv(name, str(root / sub))
    monkeypatch.setenv("STYTCH_CONFIG", str(root / "config.toml"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", KEYRING_BACKEND)
    monkeypatch.delenv("STYTCH_PROFILE", raising=False)
    keyring.set_keyring(DirectoryKeyring())
    forget_memory()
    yield root
    forget_memory()
    keyring.core._keyring_backend = previous


@pytest.fixture
def stytch_browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    command = user_agent_command()
    monkeypatch.setenv("BROWSER", command)
    reset_webbrowser()
    yield command
    reset_webbrowser()


@pytest.fixture
def stytch_opener() -> ScriptedOpener:
    """A fresh approving :class:`ScriptedOpener` (pass it as ``opener=``)."""
    return scripted_opener()


@pytest.fixture
def stytch_zero_env(
    stytch_emulator: StytchEmulator,
    stytch_keyring: Path,
    stytch_browser: str,
    monkeypatch: pytest.MonkeyPatch,
) -> StytchEmulator:
    """The emulator, the test keyring and browser, sealed, and no provider or client setting:
    requests find their way from the API's 401 (zero configuration), signing in at the
    emulator without a question (it is a trusted server)."""
    _seal(monkeypatch, stytch_keyring)
    monkeypatch.setenv("STYTCH_TRUSTED_ISSUERS", stytch_emulator.issuer)
    return stytch_emulator


@pytest.fixture
def stytch_env(stytch_zero_env: StytchEmulator, monkeypatch: pytest.MonkeyPatch) -> StytchEmulator:
    stytch_emulator = stytch_zero_env
    monkeypatch.delenv("STYTCH_TRUSTED_ISSUERS")
    monkeypatch.setenv("STYTCH_PROJECT_DOMAIN", stytch_emulator.project_domain)
    monkeypatch.setenv("STYTCH_CLIENT_ID", stytch_emulator.client_id)
    monkeypatch.setenv("STYTCH_AUTHORIZE_URL", stytch_emulator.authorize_url)
    return stytch_emulator


def _seal(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """Leave nothing from the shell that could change the flow the fixtures set up."""
    kept = {*ISOLATED, "STYTCH_CONFIG"}
    for name in [n for n in os.environ if n.startswith("STYTCH_") and n not in kept]:
        monkeypatch.delenv(name)
    # HTTPie's own config (default_options such as --offline or another --auth-type).
    (root / "httpie").mkdir(exist_ok=True)
    monkeypatch.setenv("HTTPIE_CONFIG_DIR", str(root / "httpie"))
    for name in ("no_proxy", "NO_PROXY"):
        current = [h for h in os.environ.get(name, "").split(",") if h.strip()]
        monkeypatch.setenv(name, ",".join([*current, *LOOPBACK_HOSTS]))


@pytest.fixture
def stytch_resource_server(stytch_emulator: StytchEmulator) -> Iterator[ResourceServer]:
    from .resource_server import ResourceServer

    with ResourceServer(
        jwks_uri=stytch_emulator.jwks_uri,
        issuer=stytch_emulator.issuer,
        audience=stytch_emulator.project_id,
    ) as server:
        yield server


@pytest.fixture
def stytch_mcp_server(stytch_emulator: StytchEmulator) -> Iterator[McpResourceServer]:
    """A running :class:`~.mcp_server.McpResourceServer` whose tokens come from the emulator."""
    pytest.importorskip("mcp", reason="stytch_mcp_server needs the mcp package (Python 3.10+)")
    from .mcp_server import McpResourceServer

    with McpResourceServer(
        issuer=stytch_emulator.issuer,
        jwks_uri=stytch_emulator.jwks_uri,
        audience=stytch_emulator.project_id,
    ) as server:
        yield server


# ---------------------------------------------------------------------- machine credentials
# - ``stytch_m2m_client``: an M2M client of ``stytch_emulator`` with the scopes ``read:data``
#   and ``write:data`` (a ``ClientCredentials``: ``client_id``, ``client_secret``, ``scopes``).
# - ``stytch_confidential_client``: a confidential (``first_party``) Connected App client of
#   ``stytch_emulator``, with the emulator's redirect URLs.
# - ``client_credentials_server``: a running provider-neutral
#   :class:`~httpie_stytch_connected.testing.client_credentials_server.ClientCredentialsServer`
#   with every method enabled; add clients with ``add_secret_client`` / ``add_key_client``.

if TYPE_CHECKING:
    from .client_credentials_server import ClientCredentialsServer
    from .emulator import ClientCredentials


@pytest.fixture
def stytch_m2m_client(stytch_emulator: StytchEmulator) -> ClientCredentials:
    return stytch_emulator.create_m2m_client(("read:data", "write:data"), client_name="tests")


@pytest.fixture
def stytch_confidential_client(stytch_emulator: StytchEmulator) -> ClientCredentials:
    return stytch_emulator.create_connected_app("first_party", client_name="tests")


@pytest.fixture
def client_credentials_server() -> Iterator[ClientCredentialsServer]:
    from .client_credentials_server import ClientCredentialsServer

    with ClientCredentialsServer() as server:
        yield server
