"""The token lifecycle: reuse, refresh, or log in — once, however many threads and processes ask.

Lookup order, cheapest first: this process's memory, the 0600 access-token cache (no keyring, no
lock: a warm ``http`` run stops there), then under a per-key thread lock and a cross-process file
lock held across read-refresh-write (:mod:`.locks`, tied to the store): the secure store again
(another process may just have refreshed), a refresh, and last a browser login. The rotated
refresh token is stored before the new access token is handed out; a failure never deletes what
is stored.

A refresh token is never spent, nor a browser opened, before the store has shown it can be
written (:meth:`SecureStore.probe`). If the write after a refresh or login still fails, the new
set is kept in memory (and the access cache) and used, the person is told once, and the write
is retried under the locks on later calls: a store fault never forces a new login.

No live grant is left behind (RFC 7009): a sign-in over a stored set supersedes that set's
grant, and parts of a killed save may hold another (:meth:`KeyringStore.abandoned`); their
refresh tokens are written with the new set, in the same atomic write, then revoked, and the
ones the provider cannot take now stay with the set until a later refresh, sign-in or
``logout`` (which revokes every one of them). A rotated refresh token is never among them: it
is the same grant, and revoking it would end the new token too.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from ..errors import (
    AuthenticationError,
    ConfigurationError,
    LoginError,
    TokenEndpointError,
    TokenEndpointGone,
    TokenStoreError,
)
from ..messages import Notify, Opener, expired_ago, notify_stderr
from ..oauth.tokens import SUPERSEDED_LIMIT, Account, TokenSet
from ..oauth.untrusted import unverified_claims, unverified_exp
from ..storage.access_cache import AccessTokenCache
from ..waits import stops_held, wait_in_slices

if TYPE_CHECKING:
    from ..oauth.client_auth import ClientAuth
    from ..oauth.endpoints import ProviderEndpoints
    from ..oauth.provider_calls import HTTP
    from ..oauth.token_client import Relocate, TokenClient
    from ..oauth.tokens import SuppliedToken
    from ..storage.locks import Activity
    from ..storage.store import SecureStore

log = logging.getLogger(__name__)

_MEMORY: dict[str, TokenSet] = {}
_REGISTRY_LOCK = threading.Lock()
#: Seconds one store call may take when the store names no timeout of its own (file store).
_STORE_CALL = 20.0

Mark = Callable[["Activity"], None]
#: Seconds after a sign-in made for a refused token during which its own refusal is an error
#: (the API does not take this provider's tokens), not a reason to sign in once more.
CURE_WINDOW = 600.0
#: Raised to a caller that gave up while waiting: nothing was started for it.
ABANDONED = "The request that needed a token was cancelled; nothing was started for it."

#: For the length of a blocking call made on behalf of a caller that may stop waiting (an event
#: loop's task, awaiting a worker thread): whether it still waits. See :func:`on_behalf_of`.
_WANTED: contextvars.ContextVar[Callable[[], bool] | None] = contextvars.ContextVar(
    "wanted", default=None
)


#: What a first sign-in started within :func:`announcing` is for, said once one can start.
_ANNOUNCE: contextvars.ContextVar[str | None] = contextvars.ContextVar("announce", default=None)


@contextlib.contextmanager
def announcing(notice: str) -> Iterator[None]:
    """Within this block, a browser sign-in that can start says ``notice`` first (zero
    configuration: which server, for which API); one that cannot (no browser, no terminal)
    fails with its one error line and says nothing of signing in."""
    reset = _ANNOUNCE.set(notice)
    try:
        yield
    finally:
        _ANNOUNCE.reset(reset)


#: Said after a sign-in that brought no refresh token while the configured scopes left out
#: ``offline_access``: each expiry will open the browser again, which the person can change.
NO_REFRESH_TOKEN = (
    "No refresh token came back, so a new sign-in will be needed when this access token "
    "expires; most providers send one only for the offline_access scope, which the scopes "
    "setting leaves out: add it to stay signed in."
)


class Abandoned(LoginError):
    """The caller gave up (:func:`on_behalf_of`) before anything was started for it."""


def _still_wanted() -> None:
    """Raise :data:`ABANDONED` if the caller :func:`on_behalf_of` names has given up."""
    wanted = _WANTED.get()
    if wanted is not None and not wanted():
        raise Abandoned(ABANDONED)


@contextlib.contextmanager
def on_behalf_of(wanted: Callable[[], bool]) -> Iterator[None]:
    """Inside, every :meth:`TokenManager.access_token` call that is given no ``wanted`` of its
    own (zero configuration's included, however deep) asks this one: a task's worker thread
    runs its call inside, so that a sign-in or refresh the cancelled task no longer waits for
    is not started (a zero-configuration step-up's included), and the thread stops queueing
    for one, behind this process's attempt or another process's lock; what was started is
    finished. A caller that gave up gets :class:`Abandoned`."""
    previous = _WANTED.set(wanted)
    try:
        yield
    finally:
        _WANTED.reset(previous)


class _Turns:
    """One key's in-process lock, and how the last attempt made under it ended.

    Requests that queue behind an attempt (a refresh or a sign-in) take its outcome: on success
    its token is in memory; on failure they get the same error instead of each trying again,
    so eight requests waiting on a sign-in the person declined open the browser once.
    """

    # This module's small records are plain classes and named tuples, not dataclasses: every
    # warm run imports it, and a dataclass costs about 0.3 ms to build (bench row 3).
    __slots__ = ("failure", "finished", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.finished = 0  # attempts ended so far
        self.failure: AuthenticationError | None = None  # how the last one ended; None: success


_TURNS: dict[str, _Turns] = {}


def _turns(key: str) -> _Turns:
    with _REGISTRY_LOCK:
        return _TURNS.setdefault(key, _Turns())


def _thread_lock(key: str) -> threading.Lock:
    return _turns(key).lock


class _Unsaved(NamedTuple):
    """A token set in use that the store refused, and what the store held when it was obtained."""

    tokens: TokenSet
    replaces: TokenSet | None


#: Per key: the set the store refused, written again on later calls until the store takes it.
_UNSAVED: dict[str, _Unsaved] = {}


def _marked(tokens: TokenSet, after_rejection: bool) -> TokenSet:
    return replace(tokens, after_rejection="sign-in") if after_rejection else tokens


def forget_memory() -> None:
    """Drop this process's in-memory tokens (tests, logout)."""
    _MEMORY.clear()
    _UNSAVED.clear()


class Policy(NamedTuple):
    leeway: float = 60.0
    login_timeout: float = 300.0
    redirect_path: str = "/callback"
    no_browser: bool = False
    callback_port: int | None = None  # None: any free port
    callback_host: str = "127.0.0.1"


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
        session: HTTP = None,
        opener: Opener | None = None,
        notify: Notify = notify_stderr,
        resource: str | None = None,
        grant: Grant | None = None,
        client_auth: Callable[[ProviderEndpoints], ClientAuth] | None = None,
        supplied: SuppliedToken | None = None,
        relocate: Relocate | None = None,
    ) -> None:
        """``grant`` obtains a new token set (default: a person's browser sign-in);
        ``client_auth`` builds the client's authentication for the resolved endpoints
        (default: a public client); ``supplied`` is a token to use as is; ``relocate`` finds
        a token endpoint that answers as if it were not there again (the token client's:
        without it, :class:`TokenEndpointGone` reaches the caller)."""
        self.grant: Grant = grant or BROWSER_SIGN_IN
        self._client_auth = client_auth
        self._relocate = relocate
        self.supplied = supplied
        self.key = key
        self.resource = resource  # RFC 8707: on every authorization, code and refresh request
        self.client_id = client_id
        self._provider = provider
        self._session = session
        self.scopes = scopes
        self.store = store
        self.access_cache = access_cache
        self.policy = policy
        self.opener = opener  # None: the system browser, imported only when a login happens
        self.notify = notify
        #: Called before a browser opens (after the provider was found reachable); raises to
        #: stop the sign-in (zero configuration asks RFC 7592 whether its client still exists).
        self.before_sign_in: Callable[[], None] | None = None
        #: The scope sets :meth:`after_forbidden` has named already (each is said once).
        self._scopes_named: set[tuple[str, ...]] = set()

    @functools.cached_property
    def endpoints(self) -> ProviderEndpoints:
        """Resolved on first need (it may mean discovery): a cached token never waits on it."""
        return self._provider()

    @functools.cached_property
    def client(self) -> TokenClient:
        from ..oauth.token_client import TokenClient

        endpoints = self.endpoints
        return TokenClient(
            endpoints.token_endpoint,
            self.client_id,
            revocation_endpoint=endpoints.revocation_endpoint,
            session=self._session,
            resource=self.resource,
            client_auth=self._client_auth(endpoints) if self._client_auth else None,
            issuer=endpoints.issuer,
            relocate=self._relocate,
        )

    def __repr__(self) -> str:
        return f"TokenManager(key={self.key!r}, store={type(self.store).__name__})"

    def access_token(
        self, *, rejected: str | None = None, wanted: Callable[[], bool] | None = None
    ) -> str:
        """A usable access token; ``rejected`` is one the API just answered 401 to.

        One attempt (refresh or sign-in) at a time per key in this process; a request that
        waited for an attempt that failed gets its error, not an attempt of its own.
        ``wanted`` (by default, the one :func:`on_behalf_of` set) is asked while waiting for
        another attempt and once the wait is over: False (the caller gave up, e.g. a
        cancelled task) leaves the queue, starts nothing and raises :class:`LoginError`.
        Raises what the attempt raises (:class:`LoginError`, :class:`TokenEndpointError`,
        :class:`TokenStoreError`, :class:`ConfigurationError`).
        """
        if self.supplied is not None:
            return self._supplied_token(rejected)
        tokens = _MEMORY.get(self.key)
        if self._usable(tokens, rejected):
            assert tokens is not None
            if self.key in _UNSAVED:
                self._store_unsaved_if_idle()
            return tokens.access_token
        wanted = wanted or _WANTED.get()
        turns = _turns(self.key)
        seen = turns.finished

        def acquired(seconds: float) -> bool:
            if turns.lock.acquire(timeout=seconds):
                return True
            if wanted is not None and not wanted():  # gone while queued: hold no thread
                raise Abandoned(ABANDONED)
            return False

        if not wait_in_slices(acquired, self.policy.login_timeout + 60):
            raise LoginError("Timed out waiting for another thread's sign-in; try again.")
        try:
            if turns.finished != seen and turns.failure is not None:
                raise copy.copy(turns.failure)  # the attempt we waited for answers us too
            if (
                wanted is not None
                and not wanted()
                and not self._usable(_MEMORY.get(self.key), rejected)
            ):
                raise Abandoned(ABANDONED)
            try:
                with (
                    on_behalf_of(wanted) if wanted else contextlib.nullcontext(),
                    self._noting_gone(),
                ):
                    tokens = self._obtain(rejected)
            except Abandoned:
                raise  # nothing was attempted: whoever queued behind makes their own
            except AuthenticationError as exc:
                turns.failure = exc
                turns.finished += 1
                raise
            turns.failure = None
            turns.finished += 1
            return tokens.access_token
        finally:
            turns.lock.release()

    def access_token_in_memory(self) -> str | None:
        """This process's token if still usable: no I/O, no lock, never blocks (an event loop's
        warm path; anything else goes through :meth:`access_token` on a worker thread)."""
        if self.supplied is not None:
            return str(self.supplied.token)
        tokens = _MEMORY.get(self.key)
        return tokens.access_token if tokens is not None and self._usable(tokens, None) else None

    def cached_access_token(self) -> str | None:
        """A still-valid token from memory or the cache file, with no network and no keyring."""
        if self.supplied is not None:
            return str(self.supplied.token)
        tokens = _MEMORY.get(self.key)
        if not self._usable(tokens, None):
            tokens = self._from_cache(None)
        return tokens.access_token if tokens else None

    def after_forbidden(
        self, url: str, sent: str | None, token: str, challenge: str | None
    ) -> None:
        """A ``403`` to a request that carried ``token`` (its Authorization header ``sent``)
        with the ``WWW-Authenticate`` value ``challenge``: when it is ``insufficient_scope``
        for scopes this manager does not ask for (:func:`.bearer.scopes_refused`), say once
        which, and where to add them. A configured provider is asked for the configured scopes
        alone (zero configuration steps up instead), and an MCP client shows the 403 only as
        "Server returned an error response". The 403 itself goes back to the caller."""
        from ..oauth.bearer import scopes_refused
        from ..oauth.untrusted import shown
        from ..oauth.urls import host_of

        asked = () if self.supplied is not None else self.scopes
        missing = tuple(scopes_refused(403, sent, token, challenge, asked))
        if not missing or missing in self._scopes_named:
            return
        self._scopes_named.add(missing)
        named = shown(" ".join(missing))
        scope = "scope" if len(missing) == 1 else "scopes"
        if self.supplied is not None:
            fix = (
                f"the supplied token ({self.supplied.source}) is used as given: supply one "
                f"with {scope} {named}"
            )
        else:
            fix = (
                f"only the configured scopes are asked for: add {named} to scopes "
                "(STYTCH_SCOPES, or the profile's scopes) and run again"
            )
        self.notify(
            f"{shown(host_of(url))} refused the token for lacking the {scope} {named} "
            f"(403 insufficient_scope); {fix}."
        )

    @property
    def unsaved(self) -> bool:
        """True while this process holds a token set the store refused (kept in memory only)."""
        return self.key in _UNSAVED

    def login(self) -> TokenSet:
        """A new browser login now, whatever is stored.

        Raises :class:`TokenStoreError` before the browser opens when the store cannot be
        written (missing, locked or read-only keyring, full or read-only disk).
        """
        from ..storage.locks import REFRESHING, SIGNING_IN

        if self.supplied is not None:
            raise LoginError(SUPPLIED_NO_LOGIN)
        _still_wanted()  # a step-up for a task that was cancelled: no browser for nobody
        if not self.grant.stores:  # a machine: a new set from the token endpoint, not stored
            with _thread_lock(self.key), self._process_lock(REFRESHING) as mark:
                return self.grant.obtain(self, Attempt(None, mark))
        with _thread_lock(self.key), self._process_lock(SIGNING_IN) as mark, self._noting_gone():
            stored = self.store.load(self.key)
            self.store.probe(self.key)
            return self.grant.obtain(self, Attempt(stored, mark))

    def stored(self) -> TokenSet | None:
        return self.store.load(self.key)

    def forget(self) -> None:
        from ..storage.locks import SIGNING_OUT

        with _thread_lock(self.key), self._process_lock(SIGNING_OUT):
            self._forget_locked()

    def logout(self) -> bool | None:
        """Revoke at the provider (RFC 7009), then delete what is stored, even offline.

        Both happen under the locks, so no sibling can rotate the refresh token in between and
        leave a live one behind. None: nothing was stored; False: deleted here only.
        """
        from ..storage.locks import SIGNING_OUT

        if self.supplied is not None:
            return None  # never stored: nothing to revoke or delete
        if not self.grant.stores:
            with _thread_lock(self.key):
                _MEMORY.pop(self.key, None)
                (self.access_cache or AccessTokenCache()).delete(self.key)
            return None
        with _thread_lock(self.key), self._process_lock(SIGNING_OUT) as mark:
            unsaved = _UNSAVED.get(self.key)  # its refresh token is the live one
            tokens = unsaved.tokens if unsaved else self.store.load(self.key)
            revoked = None if tokens is None else self._revoke(tokens)
            # Every grant this key ever replaced or lost in a killed save, not only this one.
            others = self._superseded(tokens, None, new_grant=False, keep=False)
            left = self._revoke_each(others, mark, SIGNING_OUT)
            self._forget_locked()
            if left:
                log.debug("%d superseded grant(s) not revoked", len(left))
            return None if revoked is None else revoked and not left

    # -- internals -------------------------------------------------------------------------
    def _supplied_token(self, rejected: str | None) -> str:
        assert self.supplied is not None
        token = str(self.supplied.token)
        if rejected is not None and rejected == token:
            raise LoginError(_supplied_refused(self.supplied.source, token))
        return token

    def current(self) -> tuple[TokenSet | None, str]:
        """(the token set in use, where it came from), for ``status``; no network."""
        if self.supplied is not None:
            supplied = TokenSet(access_token=str(self.supplied.token))
            return supplied, f"supplied ({self.supplied.source})"
        in_memory = _MEMORY.get(self.key)
        if not self.grant.stores:
            tokens = in_memory or (
                self.access_cache.load(self.key) if self.access_cache is not None else None
            )
            return tokens, "client credentials (a machine credential; cached, never stored)"
        return in_memory or self.store.load(self.key), f"signed in ({self.store.description})"

    def _forget_locked(self) -> None:
        from ..storage.metadata_cache import forget_gone

        _MEMORY.pop(self.key, None)
        _UNSAVED.pop(self.key, None)
        try:  # the secure store goes first: it holds the refresh token
            self.store.delete(self.key)
        finally:
            # Whatever this run's setting, an earlier run may have left a cache file behind.
            (self.access_cache or AccessTokenCache()).delete(self.key)
            forget_gone(self.key)  # a dead token endpoint is asked about again at once

    @contextlib.contextmanager
    def _noting_gone(self) -> Iterator[None]:
        """Remember a token endpoint that answered as if it were not there (and its
        ``relocate`` found no other), so that the next sign-in for this key asks it again
        before a browser opens (:meth:`_check_not_gone`), however many runs it takes."""
        try:
            yield
        except TokenEndpointGone as gone:
            from ..storage.metadata_cache import remember_gone

            remember_gone(self.key, gone.url, gone.status or 0)
            raise

    def _check_not_gone(self) -> None:
        """Before a browser opens: when this key's token endpoint was found gone less than
        :data:`..storage.metadata_cache.GONE_TTL` seconds ago, ask it again
        (:meth:`..oauth.token_client.TokenClient.probe`, which uses nothing up): still gone
        raises :class:`TokenEndpointGone` (the same error as the first time, and no sign-in
        whose code could not be exchanged); answering again, or found elsewhere, forgets it."""
        from ..storage.metadata_cache import forget_gone, gone_endpoint

        if gone_endpoint(self.key) != self.client.token_endpoint:
            return
        self.client.probe()
        forget_gone(self.key)

    def _revoke(self, tokens: TokenSet) -> bool:
        """Revoke the refresh token (which ends the grant) or, lacking one, the access token."""
        token, hint = (
            (tokens.refresh_token, "refresh_token")
            if tokens.refresh_token
            else (tokens.access_token, "access_token")
        )
        return bool(token) and self._revoke_one(token, hint) is not False

    def _revoke_one(self, token: str, hint: str) -> bool | None:
        """RFC 7009 §2.1 for one token: True revoked (§2.2: an unknown or already invalid
        token is answered 200 too); None refused for good (a 4xx: asking again will not
        help); False not now (no revocation endpoint, unreachable, undiscoverable, 5xx)."""
        try:
            if not self.client.revocation_endpoint:
                return False
            self.client.revoke(token, hint)
        except TokenEndpointError as exc:
            log.debug("revocation failed: %s", exc.error or type(exc).__name__)
            return None if not exc.retryable and exc.status and 400 <= exc.status < 500 else False
        except ConfigurationError as exc:
            log.debug("revocation failed: %s", type(exc).__name__)
            return False
        return True

    def _revoke_each(self, tokens: tuple[str, ...], mark: Mark, doing: str) -> tuple[str, ...]:
        """Revoke each refresh token of ``tokens`` (grants we no longer use); the ones the
        provider could not take now, to be kept and tried again."""
        left = []
        for token in tokens:
            mark(self._activity(doing))  # each call restarts the waiters' bound
            if self._revoke_one(token, "refresh_token") is False:
                left.append(token)
        return tuple(left)

    def _superseded(
        self,
        tokens: TokenSet | None,
        stored: TokenSet | None,
        *,
        new_grant: bool,
        keep: bool,
        spent: TokenSet | None = None,
    ) -> tuple[str, ...]:
        """The refresh tokens of grants that ``tokens`` leaves behind: those ``stored`` and
        ``tokens`` already carried, ``stored``'s own when ``tokens`` come from a new grant (a
        sign-in, not a refresh: a rotated token belongs to the same grant, and revoking it
        would end the new one too), and those in sets a killed or refused save abandoned.
        Never ``tokens``' own, nor on a refresh the refreshed grant's: ``stored``'s, and
        ``spent``'s (the set refreshed: one the store refused and this process keeps, or one a
        killed save left, either of which may also sit in parts found as abandoned). Empty
        when ``keep`` (what is stored with ``tokens``) and there is no revocation endpoint:
        nothing could ever take them."""
        if keep and not self.client.revocation_endpoint:
            return ()
        found = [*(stored.superseded if stored else ()), *(tokens.superseded if tokens else ())]
        unsaved = _UNSAVED.get(self.key)
        if new_grant:
            found += [t.refresh_token or "" for t in (stored, unsaved and unsaved.tokens) if t]
        abandoned = getattr(self.store, "abandoned", None)  # optional (see SecureStore)
        found += [t.refresh_token or "" for t in (abandoned(self.key) if abandoned else ())]
        own = {tokens.refresh_token if tokens else None, None, ""}
        if not new_grant:  # the grant being refreshed, as stored and as spent: still ours
            own.update(t.refresh_token for t in (stored, spent) if t)
        kept = [t for t in dict.fromkeys(found) if t not in own]
        return tuple(kept[-SUPERSEDED_LIMIT:])

    def _settle(self, tokens: TokenSet, mark: Mark, doing: str) -> TokenSet:
        """Revoke the grants ``tokens`` (just stored) superseded, then store it without the
        ones revoked. Skipped while the store refuses ``tokens``: until they are kept, the
        replaced grant may be all that survives this process."""
        if not tokens.superseded or self.key in _UNSAVED:
            return tokens
        left = self._revoke_each(tokens.superseded, mark, doing)
        if left == tokens.superseded:
            return tokens
        settled = replace(tokens, superseded=left)
        try:
            self.store.save(self.key, settled)
        except TokenStoreError as exc:  # kept as they were: revoked again later, harmlessly
            log.debug("superseded list not updated (%s)", type(exc).__name__)
            return tokens
        _MEMORY[self.key] = settled
        return settled

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
        from ..storage.locks import REFRESHING  # past the warm path: memory, then the cache

        with self._process_lock(REFRESHING) as mark:
            # Whoever held the lock before us may just have refreshed or signed in: its result
            # is in the cache file, so the waiters need not even load the keyring.
            cached = self._from_cache(rejected)
            if cached is not None:
                return cached
            if not self.grant.stores:  # a machine: the secure store holds nothing of it
                return self.grant.obtain(self, Attempt(None, mark))
            stored = self.store.load(self.key)
            current = self._current(stored)
            if self._usable(current, rejected):  # another process refreshed while we waited
                assert current is not None
                self._publish(current)
                return current
            cure = self._failed_cure(current, rejected)
            # Both ways on end in a write: know the store takes one before spending anything.
            self.store.probe(self.key)
            why = None
            if current is not None and current.refresh_token and cure is None:
                refreshed = self._refresh(current, rejected, stored, mark)
                if refreshed is not None:
                    return refreshed
                why = SESSION_EXPIRED
            elif cure == "refresh":
                why = REFUSED_AFTER_REFRESH
            return self.grant.obtain(
                self, Attempt(stored, mark, after_rejection=rejected is not None, why=why)
            )

    def _failed_cure(self, current: TokenSet | None, rejected: str | None) -> str | None:
        """How the refused set ``current`` had itself been obtained for an earlier refusal:
        "refresh" (then sign in instead), or None (renew as usual). A set from a sign-in made
        for a refusal that is refused within :data:`CURE_WINDOW` seconds ends in an error:
        the API does not take this provider's tokens, and asking again would loop."""
        if current is None or rejected is None or current.access_token != rejected:
            return None
        if current.after_rejection == "sign-in":
            if time.time() - current.received_at < CURE_WINDOW:
                raise LoginError(
                    "The API refused the access token from the sign-in just made, so signing in "
                    "again would not help; check that the API accepts tokens from "
                    f"{self.endpoints.issuer or self.endpoints.token_endpoint} for client "
                    f"{self.client_id} (its audience and scopes)."
                )
            return None
        return current.after_rejection

    def _current(self, stored: TokenSet | None) -> TokenSet | None:
        """The set to use: ``stored``, unless this process holds one the store refused.

        That one is written again now; if the store still refuses, it is used from memory. A
        store that meanwhile holds a different set (another process signed in) wins.
        """
        unsaved = _UNSAVED.get(self.key)
        if unsaved is None:
            return stored
        if stored != unsaved.replaces:
            _UNSAVED.pop(self.key, None)
            return stored
        try:
            self.store.save(self.key, unsaved.tokens)
        except TokenStoreError as exc:
            log.debug("the store still refuses the token set (%s)", type(exc).__name__)
        else:
            _UNSAVED.pop(self.key, None)
        return unsaved.tokens

    def _store_unsaved_if_idle(self) -> None:
        """Retry the refused write, on a thread of its own, if no other thread or process holds
        the locks right now; the token in memory is good, so a busy, failing or stalled store
        never delays the caller (a keyring prompt nobody answers would otherwise cost every
        call its timeout). One retry at a time: it holds this key's thread lock until done."""
        lock = _thread_lock(self.key)
        if not lock.acquire(blocking=False):
            return
        try:
            retry = threading.Thread(
                target=self._store_unsaved, args=(lock,), name="stytch-store-retry", daemon=True
            )
            retry.start()
        except BaseException:
            lock.release()
            raise

    def _store_unsaved(self, lock: threading.Lock) -> None:
        """:meth:`_store_unsaved_if_idle`'s retry, which releases ``lock`` (held for it)."""
        from ..storage.locks import REFRESHING, LockBusy

        try:
            with self._process_lock(REFRESHING, wait=False):
                self._current(self.store.load(self.key))
        except (LockBusy, AuthenticationError) as exc:  # never a traceback from this thread
            log.debug("kept token set not stored yet (%s)", type(exc).__name__)
        finally:
            lock.release()

    def _from_cache(self, rejected: str | None) -> TokenSet | None:
        tokens = self.access_cache.load(self.key) if self.access_cache is not None else None
        if tokens is None or not self._usable(tokens, rejected):
            return None
        _MEMORY[self.key] = tokens
        return tokens

    def _refresh(
        self, current: TokenSet | None, rejected: str | None, stored: TokenSet | None, mark: Mark
    ) -> TokenSet | None:
        """Refresh ``current``; when the grant is refused, re-read the store before giving up.

        Another process (or one that ignores our lock) may have rotated the refresh token and
        stored the new set: use that one; failing that, the set a run killed in its save left of
        the same person (:meth:`_left_by_a_killed_save`), stored before it is used. Nothing
        stored is ever deleted here; a set newer than the one that failed stays. ``stored`` is
        what the store holds. ``None`` means a browser login is needed.
        """
        from ..storage.locks import REFRESHING

        first = current
        tried: set[str] = set()
        rescued = False  # current is a set a killed save left, not in the store yet
        for _ in range(3):
            if current is None or not current.refresh_token or current.refresh_token in tried:
                break
            if current is not first and self._usable(current, rejected):
                if rescued:  # stored before it is used, as a refreshed set is
                    return self._settle(
                        self._save(current, stored, spent=current), mark, REFRESHING
                    )
                self._publish(current)
                return current
            tried.add(current.refresh_token)
            mark(self._activity(REFRESHING))  # the waiters' bound restarts with each attempt
            # Once sent, the provider may rotate: a stop waits until the answer is stored.
            with stops_held(functools.partial(self.notify, FINISHING_REFRESH)):
                try:
                    refreshed = self.client.refresh(current)
                except TokenEndpointError as exc:
                    if not exc.grant_refused:
                        raise  # an outage: keep the credentials, say what happened
                    why = exc.error_type or exc.error
                    log.debug("refresh refused (%s); re-reading the store", why)
                    current = stored = self.store.load(self.key)
                    rescued = current is None or current.refresh_token in tried
                    if rescued:
                        current = self._left_by_a_killed_save(first, tried)
                    continue
                if rejected is not None:
                    refreshed = replace(refreshed, after_rejection="refresh")
                saved = self._save(refreshed, stored, spent=current)
            return self._settle(saved, mark, REFRESHING)
        return None

    def _left_by_a_killed_save(self, first: TokenSet | None, tried: set[str]) -> TokenSet | None:
        """A set of the same person as ``first`` that a save killed before its last step left
        where no read finds it (:meth:`SecureStore.abandoned`), with a refresh token not tried
        yet: the rotated set of a run killed right after its refresh, still good to refresh
        rather than sign in again. None if there is none (or whose it is cannot be told)."""
        was = first.account if first is not None else None
        abandoned: Callable[[str], list[TokenSet]] | None = getattr(self.store, "abandoned", None)
        if was is None or abandoned is None:
            return None
        for tokens in reversed(abandoned(self.key)):
            if (
                tokens.refresh_token
                and tokens.refresh_token not in tried
                and tokens.account is not None
                and tokens.account.same_person(was)
            ):
                return tokens
        return None

    def _login_and_save(
        self, stored: TokenSet | None, mark: Mark, *, after_rejection: bool = False
    ) -> TokenSet:
        from ..login.browser import open_browser
        from ..login.flow import browser_login
        from ..oauth.endpoints import check_reachable
        from ..oauth.id_token import IdTokenCheck
        from ..oauth.identity import identify
        from ..oauth.issuer_identification import iss_problem
        from ..storage.locks import SIGNING_IN

        mark(self._activity(SIGNING_IN))
        check_reachable(self.endpoints, self.client.http)  # before anyone signs in
        self._check_not_gone()
        if self.before_sign_in is not None:
            self.before_sign_in()
        kept: list[TokenSet] = []
        found: list[tuple[Account | None, str]] = []

        def keep(tokens: TokenSet, claims: dict[str, Any] | None) -> None:
            # Who signed in is kept with the grant: the next sign-in compares against it even
            # when this set can no longer tell (no ID token, an expired access token).
            found.append(identify(self.endpoints, self.client_id, self.client.http, tokens, claims))
            tokens = replace(_marked(tokens, after_rejection), account=found[-1][0])
            kept.append(self._save(tokens, stored, new_grant=True))

        result = browser_login(
            authorization_endpoint=self.endpoints.authorization_endpoint,
            client=self.client,
            scopes=self.scopes,
            redirect_path=self.policy.redirect_path,
            callback_port=self.policy.callback_port,
            callback_host=self.policy.callback_host,
            timeout=self.policy.login_timeout,
            opener=self.opener or open_browser,
            notify=self.notify,
            no_browser=self.policy.no_browser,
            id_token_check=IdTokenCheck.for_provider(
                self.endpoints, self.client_id, session=self.client.http
            ),
            keep=keep,  # stored before the browser's page says "Signed in"
            resource=self.resource,
            check_iss=functools.partial(iss_problem, self.endpoints),
        )
        self._announce(*found[-1], before=stored)
        configured = self.resource is None  # zero configuration's scopes are the API's, not set
        if (
            configured
            and result.tokens.refresh_token is None
            and "offline_access" not in self.scopes
        ):
            self.notify(NO_REFRESH_TOKEN)
        # The grant this sign-in replaced, now that the new one is stored (RFC 7009).
        return (
            self._settle(kept[-1], mark, SIGNING_IN)
            if kept
            else _marked(result.tokens, after_rejection)
        )

    def _announce(self, account: Account | None, source: str, before: TokenSet | None) -> None:
        """Say who signed in, so a sign-in someone else finished does not pass unnoticed; and
        loudly when the token set it replaced (``before``) belonged to someone else."""
        if account is None:
            self.notify(f"Signed in (who is not known: {source}).")
            return
        was = self._account_of(before) if before is not None else None
        if was is None or was.same_person(account):
            self.notify(f"Signed in as {account.shown}.")
        else:
            self.notify(
                f"Signed in as {account.shown}; this profile was {was.shown}. The tokens of "
                f"{was.shown} were replaced: if you did not mean to switch accounts, run "
                "`stytch-connected logout` and sign in again."
            )

    def _account_of(self, tokens: TokenSet) -> Account | None:
        """Whose ``tokens`` were: as kept at their sign-in, else as their ID token says (it
        was checked when it arrived and comes from our own store, so its expiry no longer
        matters), else as the UserInfo endpoint says while their access token lasts."""
        from ..oauth.identity import account_from, identify

        if tokens.account is not None:
            return tokens.account
        old = unverified_claims(tokens.id_token)
        if old.get("sub"):
            return account_from(old)
        return identify(self.endpoints, self.client_id, self.client.http, tokens)[0]

    def _save(
        self,
        tokens: TokenSet,
        stored: TokenSet | None,
        *,
        new_grant: bool = False,
        spent: TokenSet | None = None,
    ) -> TokenSet:
        """Secure store first: the rotated refresh token is safe before anything uses the rest.

        The probe passed, so a refusal here is a store that failed since: the provider has
        already rotated, so ``tokens`` are kept (memory, access cache) rather than lost, and
        written again on later calls. ``stored`` is what the store holds now; ``new_grant``:
        ``tokens`` come from a sign-in, so ``stored``'s grant is superseded; ``spent``: the set
        whose refresh gave ``tokens`` (its grant is ``tokens``' own). Returns the set as
        written: with the refresh tokens of the grants it supersedes, in the same atomic write
        (:meth:`_superseded`), to be revoked by :meth:`_settle`.
        """
        tokens = replace(
            tokens,
            superseded=self._superseded(
                tokens, stored, new_grant=new_grant, keep=True, spent=spent
            ),
        )
        try:
            self.store.save(self.key, tokens)
        except TokenStoreError as exc:
            previous = _UNSAVED.get(self.key)
            if previous is None:
                self.notify(
                    f"The new tokens could not be stored: {exc} They are kept in memory and "
                    "stored as soon as the store takes them; if this process ends first, the "
                    "next one may have to sign in again."
                )
            _UNSAVED[self.key] = _Unsaved(tokens, previous.replaces if previous else stored)
        else:
            _UNSAVED.pop(self.key, None)
        self._publish(tokens)
        return tokens

    def _publish(self, tokens: TokenSet) -> None:
        if self.access_cache is not None:
            self.access_cache.save(self.key, tokens)
        _MEMORY[self.key] = tokens

    @contextlib.contextmanager
    def _process_lock(self, doing: str, *, wait: bool = True) -> Iterator[Mark]:
        """The store's lock for this key (see :mod:`.locks`), recording ``doing``.

        Raises :class:`LoginError` when the holder overruns its own timeouts,
        :class:`TokenStoreError` when the lock cannot be used, ``LockBusy`` if held and not
        ``wait``.
        """
        from ..storage.locks import LockAbandoned, StoreLock

        lock = StoreLock(self.store.lock_file(self.key))
        fallback = self.policy.login_timeout + 60  # a holder that keeps no activity record
        wanted = _WANTED.get()
        try:
            with lock.hold(
                self._activity(doing), fallback=fallback, wait=wait, wanted=wanted
            ) as mark:
                yield mark
        except LockAbandoned:
            raise Abandoned(ABANDONED) from None

    def _activity(self, doing: str) -> Activity:
        """``doing`` with the most it may take by this manager's own timeouts, in seconds.

        Counted generously: every store call at the store's timeout, every provider call at its
        deadline in :data:`.provider_calls.LIMITS` (the client's own, when it has other
        timeouts), discovery's two documents if the endpoints are not resolved yet.
        """
        from ..oauth.provider_calls import (
            DISCOVERY,
            JWKS,
            REACHABILITY,
            REVOCATION,
            TOKEN,
            USERINFO,
            limits_for,
        )
        from ..oauth.token_client import REFRESH_BACKOFF
        from ..storage.locks import REFRESHING, SIGNING_IN, Activity

        client: TokenClient | None = self.__dict__.get("client")  # built only when needed
        token = client.limits.deadline if client else limits_for(TOKEN).deadline
        revoke = client.revocation_limits.deadline if client else limits_for(REVOCATION).deadline
        backoff = client.refresh_backoff if client else REFRESH_BACKOFF
        discovery = 0.0 if "endpoints" in self.__dict__ else 2 * limits_for(DISCOVERY).deadline
        store = float(getattr(self.store, "timeout", _STORE_CALL))
        if doing == SIGNING_IN:  # reachability, the browser, the exchange, JWKS, userinfo, save
            seconds = (
                self.policy.login_timeout
                + limits_for(REACHABILITY).deadline
                + token
                + limits_for(JWKS).deadline
                + limits_for(USERINFO).deadline
                + revoke
                + 3 * store
            )
        elif doing == REFRESHING:  # load, probe, the refresh with its retries, save
            seconds = (len(backoff) + 1) * token + sum(backoff) + revoke + 5 * store
        else:  # load, revoke, delete
            seconds = revoke + 4 * store
        return Activity(doing, seconds + discovery)


# -- how a new token set is obtained, and tokens supplied as they are --------------------------
#: Said when a supplied token (``access_token``) is all there is and a sign-in is asked for.
SUPPLIED_NO_LOGIN = (
    "An access token is supplied (access_token / STYTCH_ACCESS_TOKEN), so nothing signs in; "
    "unset it to sign in."
)


#: Said when Ctrl-C (or SIGTERM, SIGHUP) arrives while a refresh is in flight
#: (:func:`..waits.stops_held`).
FINISHING_REFRESH = (
    "Finishing the token refresh so that its new refresh token is kept; press Ctrl-C again "
    "to stop at once (the next run may then have to sign in again)."
)
#: Why a stored sign-in no longer serves (:attr:`Attempt.why`): the refresh was refused.
SESSION_EXPIRED = "Your session has expired"
#: ... or the token a refresh just gave was refused by the API too.
REFUSED_AFTER_REFRESH = "The API refused the access token right after it was refreshed"


class Attempt(NamedTuple):
    """What the manager hands a :class:`Grant` when it asks for a new set: one value, so the
    protocol and each grant declare ``obtain`` in one line rather than repeat four parameters
    (a grant that needs none of them, like :class:`ClientCredentials`, ignores it whole)."""

    #: The set the secure store holds (None for a grant that does not store, or none stored).
    stored: TokenSet | None
    #: The process lock's progress mark: how long the holder may still take, for the waiters.
    mark: Mark
    #: The API just refused the set in use (a browser sign-in says so).
    after_rejection: bool = False
    #: Why a person must sign in again (:data:`SESSION_EXPIRED`, :data:`REFUSED_AFTER_REFRESH`;
    #: None: a first sign-in): said when the sign-in starts, or in the error when none can.
    why: str | None = None


class Grant(Protocol):
    """One way to obtain a new token set when nothing stored or cached will do, run by
    :meth:`TokenManager._obtain` under the manager's thread and process locks."""

    name: str
    #: Whether its sets go to the secure store (they carry a refresh token); False: memory
    #: and the access-token cache only, and the secure store is never touched.
    stores: bool

    def obtain(self, manager: TokenManager, attempt: Attempt) -> TokenSet:
        """A new set, asked for as ``attempt`` says."""


class BrowserSignIn:
    """RFC 6749 §4.1 with PKCE: a person signs in (public or confidential client)."""

    name = "authorization_code"
    stores = True

    def obtain(self, manager: TokenManager, attempt: Attempt) -> TokenSet:
        if manager.opener is None:  # the system browser: can it, or a terminal, be used here?
            reason = sign_in_impossible(manager.policy.no_browser)
            if reason is not None:
                from ..login.headless import no_terminal
                from ..oauth.endpoints import check_reachable

                # A provider that cannot be reached is the first thing to fix: say that.
                check_reachable(manager.endpoints, manager.client.http)
                log.debug("no sign-in possible here: %s", reason)
                raise LoginError(no_terminal(resource=manager.resource, why=attempt.why))
        notice = f"{attempt.why}; signing in again." if attempt.why else _ANNOUNCE.get()
        if notice is not None:
            manager.notify(notice)
        return manager._login_and_save(
            attempt.stored, attempt.mark, after_rejection=attempt.after_rejection
        )


class ClientCredentials:
    """RFC 6749 §4.4: the client gets a token for itself with its own credentials; there is no
    refresh token, so a new set is simply asked for again when this one nears its expiry."""

    name = "client_credentials"
    stores = False

    def obtain(self, manager: TokenManager, attempt: Attempt) -> TokenSet:
        from ..storage.locks import REFRESHING

        attempt.mark(manager._activity(REFRESHING))
        refusal: ConfigurationError | None = None
        try:
            tokens = manager.client.client_credentials(manager.scopes)
        except TokenEndpointGone as exc:  # not there, after a fresh look where there is one:
            refusal = ConfigurationError(str(exc))  # a setting or the provider to fix, as above
        except TokenEndpointError as exc:
            if not (exc.refused or exc.error == "invalid_client"):
                raise  # an outage (5xx, 408, 429, the network): retrying may help
            log.debug("client credentials refused: %s", exc)
            refusal = machine_refused(exc, manager.client.client_auth)
        if refusal is not None:  # raised here, not in the except block: no context hangs off it
            raise refusal
        log.debug(
            "client credentials: a token for %s",
            f"{tokens.expires_at - tokens.received_at:.0f} s"
            if tokens.expires_at
            else "an unstated time",
        )
        manager._publish(tokens)
        return tokens


BROWSER_SIGN_IN = BrowserSignIn()
CLIENT_CREDENTIALS = ClientCredentials()


def machine_refused(
    error: TokenEndpointError, client_auth: ClientAuth | None
) -> ConfigurationError:
    """A machine client's token request the provider answered with a definitive no, as the
    configuration problem it is: retrying cannot fix a wrong client ID, secret or key (nor a
    scope the client may not have), so it must not look like an outage (a request error that
    a script's retry loop would retry forever). ``invalid_client`` (or a 401) is the
    credential itself; any other refusal keeps the provider's words (scrubbed of secrets) and
    ends, as every line a person reads here does, with the settings to check: the provider's
    words say what it refused, never which of our settings asked for it."""
    if error.error == "invalid_client" or error.status == 401:
        if client_auth is not None and client_auth.method == "private_key_jwt":
            return ConfigurationError(
                "The provider refused the machine client's ID or private key (invalid_client); "
                "check client_id (STYTCH_CLIENT_ID), the key file STYTCH_PRIVATE_KEY_FILE names, "
                "and that the provider has its public key."
            )
        return ConfigurationError(
            "The provider refused the machine client's ID or secret (invalid_client); check "
            "client_id and client_secret (STYTCH_CLIENT_ID, and STYTCH_CLIENT_SECRET or the file "
            "STYTCH_CLIENT_SECRET_FILE names)."
        )
    said = str(error).rstrip(". ")
    if error.error == "invalid_scope":
        return ConfigurationError(
            f"{said}; check scopes (STYTCH_SCOPES): ask only for scopes this client has, or "
            "leave it unset to get all of them."
        )
    if error.error == "unauthorized_client":
        return ConfigurationError(
            f"{said}; check client_id (STYTCH_CLIENT_ID) and grant_type (STYTCH_GRANT_TYPE): "
            "a client a person signs in with takes grant_type authorization_code."
        )
    return ConfigurationError(
        f"{said}; check the machine client's settings (`stytch-connected config` shows them)."
    )


def sign_in_impossible(no_browser: bool, environ: Mapping[str, str] | None = None) -> str | None:
    """Why no person can sign in here (no browser and no terminal), or None if one may."""
    from ..login.headless import Terminal, no_browser_reason

    env = os.environ if environ is None else environ
    if no_browser:
        reason: str | None = "no_browser is set"
    else:
        reason = no_browser_reason(env)
        ci = env.get("CI", "").strip().lower() not in ("", "0", "false", "no")
        if reason is None and ci and not env.get("BROWSER"):
            reason = "CI is set and BROWSER is not"
    if reason is None:
        return None
    terminal = Terminal.open()
    if terminal is not None:
        terminal.close()
        return None
    return reason


def _supplied_refused(source: str, token: str) -> str:
    """The one line for a supplied token the API refused; it says when the token expired where
    its own ``exp`` says it has (read unverified: advice, not a check)."""
    exp = unverified_exp(token)
    expired = f": it {expired_ago(exp)}" if exp is not None and exp <= time.time() else ""
    return (
        f"The API refused the supplied access token (from {source}){expired}; it is used as "
        "given, never refreshed: supply a valid token, or unset it to sign in."
    )
