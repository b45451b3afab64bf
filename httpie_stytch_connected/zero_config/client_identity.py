"""A client identity at an authorization server found by discovery.

In order: a configured ``client_id``; else a configured client ID metadata document URL (CIMD)
when the server advertises ``client_id_metadata_document_supported``; else Dynamic Client
Registration (:mod:`..oauth.registration`). A registration is kept per authorization server
(and redirect URI) in the secure store chosen for tokens and reused by every later run and
process; a server that answers ``invalid_client`` gets one new registration.
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
from ..oauth.registration import redirect_uri, register
from ..oauth.untrusted import IDENTIFIER_LIMIT, bounded_identifier, shown
from ..oauth.urls import check_endpoint
from ..storage.store import (
    KeyringStore,
    cache_dir,
    data_dir,
    ensure_private_dir,
    read_text,
    write_private,
)

if TYPE_CHECKING:
    from pathlib import Path

    import requests

    from ..storage.store import SecureStore


@dataclass(frozen=True)
class ClientIdentity:
    """``source``: "configured", "metadata document", "registered" or "to be registered"."""

    client_id: str
    source: str

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
        account = self.account(issuer, redirect)
        text = self._keyring.load_text(account) if self._keyring else self._read(account)
        try:
            record = json.loads(text or "null")
        except ValueError:
            return None
        if not isinstance(record, dict) or record.get("issuer") != issuer:
            return None
        return bounded_identifier(record.get("client_id"))  # an older release kept any length

    def save(self, issuer: str, redirect: str, client_id: str) -> None:
        account = self.account(issuer, redirect)
        text = json.dumps(
            {"v": 1, "issuer": issuer, "client_id": client_id, "registered_at": time.time()}
        )
        if self._keyring:
            self._keyring.save_text(account, text)
        else:
            write_private(self._directory / f"{account}.json", text)

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
    """The keyring store's bounded, part-splitting calls, for a text value."""

    def __init__(self, store: KeyringStore) -> None:
        super().__init__(service=store.service, timeout=store.timeout)

    def load_text(self, account: str) -> str | None:
        return self._call(self._get, account)

    def save_text(self, account: str, text: str) -> None:
        self._call(self._save, account, text)

    def delete_text(self, account: str) -> None:
        self._call(self._delete, account)


def client_identity(
    metadata: Mapping[str, Any],
    *,
    issuer: str,
    configured_client_id: str | None,
    metadata_document: str | None,
    registrations: RegistrationStore,
    redirect_path: str,
    session: requests.Session,
    register_now: bool = True,
    stale: str | None = None,
) -> ClientIdentity:
    """Who we are at ``issuer``; ``stale`` is a registered client ID the server refused.

    With ``register_now`` False nothing is registered: the answer says what would be.
    """
    if configured_client_id:
        return ClientIdentity(configured_client_id, "configured")
    if metadata_document and metadata.get("client_id_metadata_document_supported") is True:
        check_endpoint(metadata_document, "client_metadata_document")
        return ClientIdentity(metadata_document, "metadata document")
    redirect = redirect_uri(redirect_path)
    endpoint = metadata.get("registration_endpoint")
    with _registration_lock(issuer, redirect):
        stored = registrations.load(issuer, redirect)
        if stored and stored != stale:
            return ClientIdentity(stored, "registered")
        if not isinstance(endpoint, str) or not endpoint:
            raise ConfigurationError(
                f"The authorization server {shown(issuer)} offers no client registration; set "
                "STYTCH_CLIENT_ID to a client registered for this CLI (redirect URL "
                f"{redirect})."
            )
        if not register_now:
            return ClientIdentity(f"(registers at {endpoint})", "to be registered")
        if stored:
            registrations.delete(issuer, redirect)
        client_id = register(endpoint, redirect_path, session)
        if bounded_identifier(client_id) is None:  # neither kept nor shown nor sent
            raise ConfigurationError(
                f"The authorization server {shown(issuer)} registered this client under a "
                f"client_id of {len(client_id)} characters (at most {IDENTIFIER_LIMIT} are "
                "accepted); nothing was stored. Tell the server's owner, or set STYTCH_CLIENT_ID."
            )
        registrations.save(issuer, redirect, client_id)
        return ClientIdentity(client_id, "registered")


@contextlib.contextmanager
def _registration_lock(issuer: str, redirect: str) -> Iterator[None]:
    """One registration however many processes discover the same server at once."""
    import filelock

    path: Path = cache_dir() / "locks" / f"{RegistrationStore.account(issuer, redirect)}.lock"
    ensure_private_dir(path.parent, "STYTCH_CACHE_DIR")
    with filelock.FileLock(str(path), mode=0o600, timeout=120):
        yield
