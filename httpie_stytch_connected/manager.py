"""The token lifecycle: reuse, refresh, or log in — once, however many threads and processes ask.

Lookup order, cheapest first: this process's memory, the 0600 access-token cache (no keyring, no
lock: a warm ``http`` run stops there), then under a per-key thread lock and a cross-process file
lock held across read-refresh-write: the secure store again (another process may just have
refreshed), a refresh, and last a browser login. The rotated refresh token is stored before the
new access token is handed out; a failure never deletes what is stored.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ConfigurationError, LoginError, TokenEndpointError
from .messages import Notify, Opener, notify_stderr
from .store import AccessTokenCache, SecureStore, cache_dir, ensure_private_dir
from .tokens import TokenSet
from .waits import wait_in_slices

if TYPE_CHECKING:
    import requests

    from .provider import ProviderEndpoints
    from .token_client import TokenClient

log = logging.getLogger(__name__)

_MEMORY: dict[str, TokenSet] = {}
_THREAD_LOCKS: dict[str, threading.Lock] = {}
_REGISTRY_LOCK = threading.Lock()


def _thread_lock(key: str) -> threading.Lock:
    with _REGISTRY_LOCK:
        return _THREAD_LOCKS.setdefault(key, threading.Lock())


def forget_memory() -> None:
    """Drop this process's in-memory tokens (tests, logout)."""
    _MEMORY.clear()


@dataclass
class Policy:
    leeway: float = 60.0
    login_timeout: float = 300.0
    redirect_path: str = "/callback"
    no_browser: bool = False


class TokenManager:
    def __init__(
        self,
        *,
        key: str,
        client_id: str,
        provider: Callable[[], ProviderEndpoints],
        scopes: tuple[str, ...],
        store: SecureStore,
        access_cache: AccessTokenCache | None,
        policy: Policy,
        session: requests.Session | None = None,
        opener: Opener | None = None,
        notify: Notify = notify_stderr,
    ) -> None:
        self.key = key
        self.client_id = client_id
        self._provider = provider
        self._session = session
        self.scopes = scopes
        self.store = store
        self.access_cache = access_cache
        self.policy = policy
        self.opener = opener  # None: the system browser, imported only when a login happens
        self.notify = notify

    @functools.cached_property
    def endpoints(self) -> ProviderEndpoints:
        """Resolved on first need (it may mean discovery): a cached token never waits on it."""
        return self._provider()

    @functools.cached_property
    def client(self) -> TokenClient:
        from .token_client import TokenClient

        endpoints = self.endpoints
        return TokenClient(
            endpoints.token_endpoint,
            self.client_id,
            revocation_endpoint=endpoints.revocation_endpoint,
            session=self._session,
        )

    def __repr__(self) -> str:
        return f"TokenManager(key={self.key!r}, store={self.store.description!r})"

    def access_token(self, *, rejected: str | None = None) -> str:
        """A usable access token; ``rejected`` is one the API just answered 401 to."""
        tokens = _MEMORY.get(self.key)
        if self._usable(tokens, rejected):
            assert tokens is not None
            return tokens.access_token
        lock = _thread_lock(self.key)
        if not wait_in_slices(lambda t: lock.acquire(timeout=t), self.policy.login_timeout + 60):
            raise LoginError("Timed out waiting for another thread's sign-in; try again.")
        try:
            return self._obtain(rejected).access_token
        finally:
            lock.release()

    def access_token_in_memory(self) -> str | None:
        """This process's token if still usable: no I/O, no lock, never blocks (an event loop's
        warm path; anything else goes through :meth:`access_token` on a worker thread)."""
        tokens = _MEMORY.get(self.key)
        return tokens.access_token if tokens is not None and self._usable(tokens, None) else None

    def cached_access_token(self) -> str | None:
        """A still-valid token from memory or the cache file, with no network and no keyring."""
        tokens = _MEMORY.get(self.key)
        if not self._usable(tokens, None):
            tokens = self._from_cache(None)
        return tokens.access_token if tokens else None

    def login(self) -> TokenSet:
        """A new browser login now, whatever is stored."""
        with _thread_lock(self.key), self._process_lock():
            self.store.load(self.key)  # fail on a missing keyring before the browser opens
            return self._login_and_save()

    def stored(self) -> TokenSet | None:
        return self.store.load(self.key)

    def forget(self) -> None:
        with _thread_lock(self.key), self._process_lock():
            self._forget_locked()

    def logout(self) -> bool | None:
        """Revoke at the provider (RFC 7009), then delete what is stored, even offline.

        Both happen under the locks, so no sibling can rotate the refresh token in between and
        leave a live one behind. None: nothing was stored; False: deleted here only.
        """
        with _thread_lock(self.key), self._process_lock():
            tokens = self.store.load(self.key)
            revoked = None if tokens is None else self._revoke(tokens)
            self._forget_locked()
            return revoked

    # -- internals -------------------------------------------------------------------------
    def _forget_locked(self) -> None:
        _MEMORY.pop(self.key, None)
        try:  # the secure store goes first: it holds the refresh token
            self.store.delete(self.key)
        finally:
            # Whatever this run's setting, an earlier run may have left a cache file behind.
            (self.access_cache or AccessTokenCache()).delete(self.key)

    def _revoke(self, tokens: TokenSet) -> bool:
        """Revoke the refresh token (which ends the grant) or, lacking one, the access token."""
        token, hint = (
            (tokens.refresh_token, "refresh_token")
            if tokens.refresh_token
            else (tokens.access_token, "access_token")
        )
        if not token:
            return False
        try:
            self.client.revoke(token, hint)
        except (TokenEndpointError, ConfigurationError) as exc:  # unreachable or undiscoverable
            log.debug("revocation failed: %s", type(exc).__name__)
            return False
        return True

    def _usable(self, tokens: TokenSet | None, rejected: str | None) -> bool:
        return bool(
            tokens
            and tokens.access_token
            and tokens.access_token != rejected
            and not tokens.expires_within(self.policy.leeway)
        )

    def _obtain(self, rejected: str | None) -> TokenSet:
        tokens = _MEMORY.get(self.key)
        if self._usable(tokens, rejected):
            assert tokens is not None
            return tokens
        cached = self._from_cache(rejected)
        if cached is not None:
            return cached
        with self._process_lock():
            # Whoever held the lock before us may just have refreshed or signed in: its result
            # is in the cache file, so the waiters need not even load the keyring.
            cached = self._from_cache(rejected)
            if cached is not None:
                return cached
            stored = self.store.load(self.key)
            if self._usable(stored, rejected):  # another process refreshed while we waited
                assert stored is not None
                self._publish(stored)
                return stored
            if stored is not None and stored.refresh_token:
                refreshed = self._refresh(stored, rejected)
                if refreshed is not None:
                    return refreshed
            return self._login_and_save()

    def _from_cache(self, rejected: str | None) -> TokenSet | None:
        tokens = self.access_cache.load(self.key) if self.access_cache is not None else None
        if tokens is None or not self._usable(tokens, rejected):
            return None
        _MEMORY[self.key] = tokens
        return tokens

    def _refresh(self, stored: TokenSet, rejected: str | None) -> TokenSet | None:
        """Refresh; when the grant is refused, re-read the store before giving up.

        Another process (or one that ignores our lock) may have rotated the refresh token and
        stored the new set: use that one. Nothing stored is ever deleted here; a set newer than
        the one that failed stays. ``None`` means a browser login is needed.
        """
        current: TokenSet | None = stored
        tried: set[str] = set()
        for _ in range(3):
            if current is None or not current.refresh_token or current.refresh_token in tried:
                break
            if current is not stored and self._usable(current, rejected):
                self._publish(current)
                return current
            tried.add(current.refresh_token)
            try:
                refreshed = self.client.refresh(current)
            except TokenEndpointError as exc:
                if not exc.grant_refused:
                    raise  # an outage: keep the credentials, say what happened
                log.debug("refresh refused (%s); re-reading the store", exc.error_type or exc.error)
                current = self.store.load(self.key)
                continue
            self._save(refreshed)
            return refreshed
        self.notify("Your session has expired; signing in again.")
        return None

    def _login_and_save(self) -> TokenSet:
        from .browser import open_browser
        from .id_token import IdTokenCheck
        from .login import browser_login

        result = browser_login(
            authorization_endpoint=self.endpoints.authorization_endpoint,
            client=self.client,
            scopes=self.scopes,
            redirect_path=self.policy.redirect_path,
            timeout=self.policy.login_timeout,
            opener=self.opener or open_browser,
            notify=self.notify,
            no_browser=self.policy.no_browser,
            id_token_check=IdTokenCheck.for_provider(
                self.endpoints, self.client_id, session=self.client.session
            ),
        )
        self._save(result.tokens)
        return result.tokens

    def _save(self, tokens: TokenSet) -> None:
        """Secure store first: the rotated refresh token is safe before anything uses the rest."""
        self.store.save(self.key, tokens)
        self._publish(tokens)

    def _publish(self, tokens: TokenSet) -> None:
        if self.access_cache is not None:
            self.access_cache.save(self.key, tokens)
        _MEMORY[self.key] = tokens

    @contextlib.contextmanager
    def _process_lock(self) -> Iterator[None]:
        import filelock

        path = cache_dir() / "locks" / f"{self.key}.lock"
        ensure_private_dir(path.parent, "STYTCH_CACHE_DIR")
        lock = filelock.FileLock(str(path), mode=0o600)
        try:
            lock.acquire(timeout=self.policy.login_timeout + 60)
        except filelock.Timeout:
            raise LoginError(
                "Another process has been signing in for too long; finish or cancel that "
                "sign-in and try again."
            ) from None
        try:
            yield
        finally:
            lock.release()
