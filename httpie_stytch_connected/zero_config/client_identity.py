"""A client identity at an authorization server found by discovery.

In order: a configured ``client_id``, only at the server the person configured it for; else a
configured client ID metadata document URL (CIMD) when the server advertises
``client_id_metadata_document_supported``; else Dynamic Client Registration
(:mod:`..oauth.registration`). A registration is kept per authorization server (and redirect
URI) in the secure store chosen for tokens and reused by every later run and process; a
server that answers ``invalid_client`` gets one new registration.

A client we register (or name by its metadata document) signs in at a redirect path of its
own per authorization server (:mod:`.redirect_paths`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..oauth.registration import (
    Registered,
    UnusableRegistration,
    redirect_uri,
    register_client,
)
from ..oauth.untrusted import IDENTIFIER_LIMIT, bounded_identifier
from ..oauth.urls import check_endpoint, shown_url
from ..storage.metadata_cache import UNUSABLE_TTL, remember_unusable, unusable
from ..storage.store import (
    KeyringStore,
    cache_dir,
    data_dir,
    ensure_private_dir,
    read_text,
    write_private,
)
from .redirect_paths import server_redirect_path

if TYPE_CHECKING:
    from pathlib import Path

    from ..oauth.provider_calls import HTTP
    from ..storage.store import SecureStore


@dataclass(frozen=True)
class ClientIdentity:
    """``source``: "configured", "metadata document", "registered" or "to be registered";
    ``auth_method``: how the client authenticates (a registered confidential client's secret
    stays in the :class:`RegistrationStore`)."""

    client_id: str
    source: str
    auth_method: str = "none"

    @property
    def registered(self) -> bool:
        return self.source == "registered"


class RegistrationStore:
    """Registrations per (authorization server, redirect URI), beside the tokens: the keyring
    for a keyring store, 0600 files otherwise."""

    def __init__(self, store: SecureStore) -> None:
        self._keyring = _KeyringText(store) if isinstance(store, KeyringStore) else None
        self._directory = data_dir() / "registrations"
        self.description = store.description

    @staticmethod
    def account(issuer: str, redirect: str) -> str:
        digest = hashlib.sha256(f"{issuer}\n{redirect}".encode()).hexdigest()[:32]
        return f"registration-{digest}"

    def load(self, issuer: str, redirect: str) -> str | None:
        record = self.load_record(issuer, redirect)
        return record.client_id if record else None

    def load_record(self, issuer: str, redirect: str) -> Registered | None:
        """The registration kept for ``issuer``, with its secret and method if it has them."""
        record = self._record(issuer, redirect)
        if record is None or record.get("issuer") != issuer:
            return None
        client_id = bounded_identifier(record.get("client_id"))  # older releases kept any length
        if client_id is None:
            return None
        secret, method = record.get("client_secret"), record.get("token_endpoint_auth_method")
        uri, token = record.get("configuration_uri"), record.get("configuration_token")
        configuration = (
            (uri, token) if isinstance(uri, str) and isinstance(token, str) else (None, None)
        )
        if isinstance(secret, str) and secret and isinstance(method, str):
            return Registered(client_id, secret, method, *configuration)
        return Registered(client_id, None, "none", *configuration)

    def save(
        self,
        issuer: str,
        redirect: str,
        client_id: str | Registered,
        *,
        replaces: str | None = None,
    ) -> None:
        """Keep a registration (its secret too: this store is the secure one); ``replaces``:
        the client ID of the refused registration this one replaces."""
        account = self.account(issuer, redirect)
        got = client_id if isinstance(client_id, Registered) else Registered(client_id)
        record: dict[str, Any] = {
            "v": 1,
            "issuer": issuer,
            "client_id": got.client_id,
            "registered_at": time.time(),
        }
        if replaces:
            record["replaces"] = replaces
        if got.configuration_uri and got.configuration_token:  # RFC 7592
            record.update(
                configuration_uri=got.configuration_uri,
                configuration_token=got.configuration_token,
            )
        if got.client_secret:
            record.update(
                client_secret=got.client_secret,
                token_endpoint_auth_method=got.token_endpoint_auth_method,
            )
        text = json.dumps(record)
        if self._keyring:
            self._keyring.save_text(account, text)
        else:
            write_private(self._directory / f"{account}.json", text)

    def provenance(self, issuer: str, redirect: str) -> tuple[str, float, bool] | None:
        """``(client_id, registered_at, replaced another)`` of the kept registration (seconds
        since the epoch), or None."""
        record = self._record(issuer, redirect)
        if record is None or not isinstance(record.get("client_id"), str):
            return None
        when = record.get("registered_at")
        at = float(when) if isinstance(when, (int, float)) else 0.0
        return record["client_id"], at, bool(record.get("replaces"))

    def _record(self, issuer: str, redirect: str) -> dict[str, Any] | None:
        """The kept record as stored (a JSON object), or None: missing, or not one."""
        account = self.account(issuer, redirect)
        text = self._keyring.load_text(account) if self._keyring else self._read(account)
        try:
            record = json.loads(text or "null")
        except (ValueError, RecursionError):
            return None
        return record if isinstance(record, dict) else None

    def delete(self, issuer: str, redirect: str) -> None:
        account = self.account(issuer, redirect)
        if self._keyring:
            self._keyring.delete_text(account)
        else:
            with contextlib.suppress(FileNotFoundError):
                (self._directory / f"{account}.json").unlink()

    def _read(self, account: str) -> str | None:
        return read_text(self._directory / f"{account}.json")


class _KeyringText(KeyringStore):
    """The keyring store's bounded, part-splitting calls, for a text value: read as written,
    whole or in parts (a long record, with a secret and an RFC 7592 token, is split where the
    backend limits or shortens values, and always on Windows)."""

    def __init__(self, store: KeyringStore) -> None:
        super().__init__(service=store.service, timeout=store.timeout)

    def load_text(self, account: str) -> str | None:
        return self._load_value(account)

    def save_text(self, account: str, text: str) -> None:
        self._call(self._save, account, text)

    def delete_text(self, account: str) -> None:
        self._call(self._delete, account)


def registration_redirect(redirect_path: str, issuer: str) -> str:
    """The redirect URI a client we register at ``issuer`` is registered with, and the key its
    registration is kept under: every look-up of that registration goes through here."""
    return redirect_uri(server_redirect_path(redirect_path, issuer))


def client_identity(
    metadata: Mapping[str, Any],
    *,
    issuer: str,
    configured_client_id: str | None,
    configured_issuer: str | None = None,
    metadata_document: str | None,
    registrations: RegistrationStore,
    redirect_path: str,
    session: HTTP,
    register_now: bool = True,
    stale: str | None = None,
    resource: str | None = None,
    scopes: tuple[str, ...] = (),
    held_elsewhere: frozenset[str] = frozenset(),
) -> ClientIdentity:
    """Who we are at ``issuer``; ``stale`` is a registered client ID the server refused;
    ``resource`` the API that led there and ``scopes`` what it asks for (both named in what
    the person is told to do instead of a registration).

    A registration endpoint that registered a client this tool cannot use is remembered
    (:func:`..storage.metadata_cache.remember_unusable`): for :data:`UNUSABLE_TTL` seconds, or
    until ``logout --resource`` forgets it, it is sent no other registration, and the same
    error is raised before anything is sent.

    ``configured_client_id`` is the person's pinned client: it belongs to the server they
    configured (``configured_issuer``) and is used only there, never at a server an API
    named, which could send the browser to the real server's page with it and wait for the
    code (issue 17 §1). With ``register_now`` False nothing is registered: the answer says
    what would be.

    ``held_elsewhere``: the client IDs this tool holds at other servers. A registration that
    answers with one of them is such a server handing out the person's own client there, to
    have the browser signed in with it and its code sent to the sign-in listening for this
    one; the per-server redirect path stops that only while the two paths differ, and they are
    a 48-bit hash apart. It is an unusable registration: nothing is signed in with it.
    """
    if configured_client_id and configured_issuer == issuer:
        return ClientIdentity(configured_client_id, "configured")
    if metadata_document and metadata.get("client_id_metadata_document_supported") is True:
        check_endpoint(metadata_document, "client_metadata_document")
        return ClientIdentity(metadata_document, "metadata document")
    own_path = server_redirect_path(redirect_path, issuer)
    redirect = registration_redirect(redirect_path, issuer)
    endpoint = metadata.get("registration_endpoint")
    with _registration_lock(issuer, redirect):
        record = registrations.load_record(issuer, redirect)
        stored = record.client_id if record else None
        if record and stored != stale:
            return ClientIdentity(stored or "", "registered", record.token_endpoint_auth_method)
        if not isinstance(endpoint, str) or not endpoint:
            raise ConfigurationError(
                f"The authorization server {shown_url(issuer)} offers no client registration; "
                f"{pin_advice(issuer, redirect_path, scopes)}."
            )
        remembered = unusable(endpoint)
        if remembered is not None:  # registering again would add one more unusable client
            raise unusable_error(
                issuer, remembered, redirect_path, resource, scopes, remembered=True
            )
        if not register_now:
            return ClientIdentity(f"(registers at {endpoint})", "to be registered")
        if stored:
            registrations.delete(issuer, redirect)
        try:
            registered = register_client(
                endpoint, own_path, session, registration_auth_method(metadata)
            )
        except UnusableRegistration as exc:
            remember_unusable(endpoint, exc.reason, resource)
            raise unusable_error(issuer, exc.reason, redirect_path, resource, scopes) from None
        if bounded_identifier(registered.client_id) is None:  # neither kept nor shown nor sent
            raise ConfigurationError(
                f"The authorization server {shown_url(issuer)} registered this client under a "
                f"client_id of {len(registered.client_id)} characters (at most "
                f"{IDENTIFIER_LIMIT} are accepted); nothing was stored: tell the server's "
                f"owner, or {pin_advice(issuer, redirect_path, scopes)}."
            )
        if registered.client_id in held_elsewhere:
            reason = "it names the client this tool holds at another server"
            remember_unusable(endpoint, reason, resource)
            raise unusable_error(issuer, reason, redirect_path, resource, scopes)
        registrations.save(issuer, redirect, registered, replaces=stale)
        return ClientIdentity(
            registered.client_id, "registered", registered.token_endpoint_auth_method
        )


def pin_advice(issuer: str, redirect_path: str, scopes: tuple[str, ...] = ()) -> str:
    """What works instead of a registration at ``issuer``: a client ID the person pins, which
    is sent only to the server configured with it (so the issuer must be set too), and signs
    in at the configured redirect path (not a registered client's per-server one); with the
    ``scopes`` the API asks for, since a configured provider asks for the configured ones."""
    import shlex

    asked = f" and STYTCH_SCOPES={shlex.quote(' '.join(scopes))}" if scopes else ""
    return (
        f"to sign in there, set STYTCH_ISSUER={shown_url(issuer)}{asked} and STYTCH_CLIENT_ID to "
        "a client registered there for this CLI with the redirect URL "
        f"{redirect_uri(redirect_path)} (a client ID is sent only to the server configured "
        "with it)"
    )


def unusable_error(
    issuer: str,
    reason: str,
    redirect_path: str,
    resource: str | None,
    scopes: tuple[str, ...] = (),
    *,
    remembered: bool = False,
) -> ConfigurationError:
    """The one line said when ``issuer``'s registration endpoint registered a client this tool
    cannot use: now, and on every later run while that is remembered."""
    hours = f"{UNUSABLE_TTL / 3600:g}"
    forget = f"`stytch-connected logout --resource {shown_url(resource) if resource else 'URL'}`"
    when = "earlier registered" if remembered else "registered"
    return ConfigurationError(
        f"The authorization server {shown_url(issuer)} {when} a client this tool cannot use "
        f"({reason}), so nothing is registered there again for {hours} hours (or until "
        f"{forget}); {pin_advice(issuer, redirect_path, scopes)}."
    )


#: Seconds during which a registration made to replace a refused one is not replaced in turn
#: when refused too: the server refuses what it registers, and registering again would loop.
REPLACEMENT_WINDOW = 600.0


def registration_refused(exc: Exception) -> str | None:
    """What ``exc``, raised while getting a token with a registered client, says about that
    registration: "refused" (the token endpoint's ``invalid_client`` or ``unauthorized_client``,
    RFC 6749 §5.2, or the same codes in the browser's error response, §4.1.2.1), "unanswered"
    (no sign-in response within the login timeout: an authorization page shows its refusal of
    an unknown client to the person, never to us), or None (nothing about the client)."""
    from ..errors import LoginError, TokenEndpointError

    if isinstance(exc, TokenEndpointError) and exc.error in _CLIENT_REFUSED:
        return "refused"
    if isinstance(exc, LoginError) and exc.error in _CLIENT_REFUSED:
        return "refused"
    if isinstance(exc, LoginError) and exc.unanswered:
        return "unanswered"
    return None


_CLIENT_REFUSED = ("invalid_client", "unauthorized_client")


def replaceable(
    registrations: RegistrationStore,
    issuer: str,
    redirect: str,
    client_id: str,
    *,
    now: float | None = None,
) -> bool:
    """Whether the refused registration ``client_id`` may be replaced: not when it was itself
    made, less than :data:`REPLACEMENT_WINDOW` seconds ago, to replace a refused one."""
    kept = registrations.provenance(issuer, redirect)
    if kept is None or kept[0] != client_id or not kept[2]:
        return True
    return (time.time() if now is None else now) - kept[1] >= REPLACEMENT_WINDOW


def forget_registration(
    registrations: RegistrationStore,
    issuer: str,
    redirect: str,
    client_id: str,
    *,
    session: HTTP = None,
) -> bool:
    """Delete the kept registration at ``issuer`` if it is still ``client_id`` (another process
    may have replaced it meanwhile: that one stays); with a ``session``, delete it at the server
    too where it offers RFC 7592 (§2.3). True when the server deleted it."""
    from ..oauth.registration import unregister

    with _registration_lock(issuer, redirect):
        record = registrations.load_record(issuer, redirect)
        if record is None or record.client_id != client_id:
            return False
        deleted = session is not None and unregister(record, session)
        registrations.delete(issuer, redirect)
        return deleted


def registration_gone(
    registrations: RegistrationStore,
    issuer: str,
    redirect: str,
    client_id: str,
    session: HTTP,
) -> bool:
    """True when the server says, through RFC 7592 §2.1, that the kept registration
    ``client_id`` no longer exists; False when it knows it, cannot tell, or offers no RFC 7592."""
    from ..oauth.registration import registration_known

    record = registrations.load_record(issuer, redirect)
    if record is None or record.client_id != client_id:
        return False
    return registration_known(record, session) is False


def registration_auth_method(metadata: Mapping[str, Any]) -> str:
    """``none`` (a public client) unless the server offers only secret-based methods: then the
    one it offers (``client_secret_basic`` first)."""
    offered = metadata.get("token_endpoint_auth_methods_supported")
    if not isinstance(offered, list) or not offered or "none" in offered:
        return "none"
    for method in ("client_secret_basic", "client_secret_post"):
        if method in offered:
            return method
    return "none"


@contextlib.contextmanager
def _registration_lock(issuer: str, redirect: str) -> Iterator[None]:
    """One registration however many processes discover the same server at once."""
    import filelock

    path: Path = cache_dir() / "locks" / f"{RegistrationStore.account(issuer, redirect)}.lock"
    ensure_private_dir(path.parent, "STYTCH_CACHE_DIR")
    with filelock.FileLock(str(path), mode=0o600, timeout=120):
        yield
