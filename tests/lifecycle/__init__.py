"""Tests of ``lifecycle/manager.py`` (reuse, refresh, login, logout, store faults), and the
helpers other suites share to put the stored tokens in a given state."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import requests

from httpie_stytch_connected.auth import StytchAuth
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.oauth.token_client import TokenClient
from httpie_stytch_connected.oauth.tokens import TokenSet
from httpie_stytch_connected.storage.store import AccessTokenCache, KeyringStore
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.pytest_plugin import scripted_opener
from httpie_stytch_connected.testing.resource_server import ResourceServer

#: Refresh retries short enough for a test, still more than one.
FAST_BACKOFF = (0.01, 0.02)


def expire_stored(key: str) -> TokenSet:
    """Rewrite the stored set as expired, remove the access-token cache and forget it here: what
    the next process finds once the access token has run out. Returns the expired set."""
    stored = KeyringStore().load(key)
    assert stored is not None and stored.refresh_token
    expired = replace(stored, expires_at=time.time() - 10)
    KeyringStore().save(key, expired)
    AccessTokenCache().delete(key)
    forget_memory()
    return expired


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``predicate`` until true, bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached in time")


class Harness:
    """One emulator, one resource server, and auth objects as separate runs would build them."""

    def __init__(self, emulator: StytchEmulator, api: ResourceServer) -> None:
        self.emulator = emulator
        self.api = api
        self.notes: list[str] = []
        self.errors: list[BaseException] = []

    def auth(
        self,
        *,
        opener: Callable[[str], bool] | None = None,
        timeout: tuple[float, float] = (2.0, 5.0),
    ) -> StytchAuth:
        auth = StytchAuth(opener=opener or scripted_opener(), notify=self.notes.append)
        manager = auth.manager
        manager.client = TokenClient(
            manager.client.token_endpoint,
            manager.client.client_id,
            revocation_endpoint=manager.client.revocation_endpoint,
            refresh_backoff=FAST_BACKOFF,
            timeout=timeout,
        )
        return auth

    def get(self, auth: StytchAuth | None = None) -> requests.Response:
        return requests.get(self.api.url, auth=auth or self.auth(), timeout=30)

    def login(self) -> tuple[str, TokenSet]:
        auth = self.auth()
        assert self.get(auth).status_code == 200
        stored = KeyringStore().load(auth.manager.key)
        assert stored is not None and stored.refresh_token
        return auth.manager.key, stored

    def expire(self, key: str) -> TokenSet:
        """As if the access token had expired: stored set in the past, no cache, no memory."""
        return expire_stored(key)

    def stored(self, key: str) -> TokenSet | None:
        return KeyringStore().load(key)

    def count(self, name: str) -> int:
        return self.emulator.counters[name]
