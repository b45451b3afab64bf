"""A token the API keeps refusing leads somewhere: a cure that did not work (a refresh whose
token is refused too) is not tried again, and a sign-in whose token is refused at once ends in
an error that names the cause; never an endless refresh, in configured mode too."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest

from httpie_stytch_connected.errors import LoginError
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.storage.store import AccessTokenCache, KeyringStore
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.resource_server import ResourceServer
from httpie_stytch_connected.testing.user_agent import ScriptedUserAgent
from tests.adapters import send, stytch_auth

IN_PROCESS = ["requests", "Client", "AsyncClient"]


class _Browser:
    def __init__(self) -> None:
        self.opened = 0
        self._lock = threading.Lock()

    def __call__(self, url: str) -> bool:
        with self._lock:
            self.opened += 1
        with ScriptedUserAgent() as agent:
            return agent.open(url).ok


def _auth(adapter: str, browser: _Browser, notes: list[str]) -> Any:
    return stytch_auth(adapter, opener=browser, notify=notes.append)


def _refuse_stored_token(key: str) -> None:
    """The stored set's access token becomes one the API refuses (not expired)."""
    stored = KeyringStore().load(key)
    assert stored is not None
    KeyringStore().save(key, replace(stored, access_token="refused-token"))
    AccessTokenCache().delete(key)
    forget_memory()


@pytest.mark.parametrize("adapter", IN_PROCESS)
def test_a_token_refused_right_after_its_refresh_leads_to_one_sign_in(
    adapter: str, stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    url = stytch_resource_server.url
    browser, notes = _Browser(), list[str]()
    auth = _auth(adapter, browser, notes)
    assert send(adapter, auth, "GET", url).status_code == 200
    assert browser.opened == 1
    stytch_env.refreshed_token_audience = "another-audience"  # refreshed tokens are refused
    _refuse_stored_token(auth.manager.key)
    stytch_env.reset_counters()

    # The refused token is refreshed once; the API refuses the refreshed one too.
    assert send(adapter, auth, "GET", url).status_code == 401
    assert stytch_env.counters["token_refresh"] == 1
    forget_memory()  # the next run

    # That cure failed: not a second refresh, but a sign-in, and the person is told why.
    assert send(adapter, auth, "GET", url).status_code == 200
    assert stytch_env.counters["token_refresh"] == 1
    assert browser.opened == 2
    assert any("right after it was refreshed" in note for note in notes)


@pytest.mark.parametrize("adapter", IN_PROCESS)
def test_a_sign_in_whose_token_the_api_refuses_ends_in_an_error_not_a_loop(
    adapter: str, stytch_env: StytchEmulator, stytch_emulator: StytchEmulator
) -> None:
    with ResourceServer(
        jwks_uri=stytch_emulator.jwks_uri,
        issuer=stytch_emulator.issuer,
        audience="an-audience-no-token-has",
    ) as api:
        browser, notes = _Browser(), list[str]()
        auth = _auth(adapter, browser, notes)
        outcomes: list[int | str] = []
        for _ in range(4):  # four runs of the same command
            try:
                outcomes.append(send(adapter, auth, "GET", api.url).status_code)
            except LoginError as exc:
                outcomes.append(str(exc))
            forget_memory()
    assert outcomes[:2] == [401, 401]
    assert all(isinstance(o, str) and "from the sign-in just made" in o for o in outcomes[2:])
    assert browser.opened == 2  # the first sign-in, and one more after the failed refresh
    assert stytch_env.counters["token_refresh"] == 1
