"""A client identity at an authorization server found by discovery.

In order: a configured ``client_id``; else a configured client ID metadata document URL (CIMD)
when the server advertises ``client_id_metadata_document_supported``; else Dynamic Client
Registration (RFC 7591) as a public native client (RFC 8252) whose redirect URI is
``http://127.0.0.1/callback`` without a port, so any port matches. Only public: Stytch
de-duplicates identical public registrations but makes a new confidential client every time, and
caps them. A registration is kept per authorization server (and redirect URI) in the secure
store chosen for tokens and reused by every later run and process; a server that answers
``invalid_client`` gets one new registration.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError, TokenEndpointError
from ..storage.store import (
    KeyringStore,
    cache_dir,
    data_dir,
    ensure_private_dir,
    read_text,
    write_private,
)
from .endpoints import check_endpoint, host_of

if TYPE_CHECKING:
    from pathlib import Path

    import requests

    from ..storage.store import SecureStore

log = logging.getLogger(__name__)

#: RFC 6749 Appendix A.1: client-id = *VSCHAR (printable ASCII).
_CLIENT_ID = re.compile(r"[\x20-\x7e]+")
CLIENT_NAME = "HTTPie and requests (httpie-stytch-connected)"


@dataclass(frozen=True)
class ClientIdentity:
    """``source``: "configured", "metadata document", "registered" or "to be registered"."""

    client_id: str
    source: str

    @property
    def registered(self) -> bool:
        return self.source == "registered"


def redirect_uri(redirect_path: str) -> str:
    """The loopback redirect URI registered without a port (RFC 8252 §7.3)."""
    return f"http://127.0.0.1{redirect_path}"


def registration_request(redirect_path: str) -> dict[str, Any]:
    """The RFC 7591 §2 client metadata of a public native client."""
    return {
        "client_name": CLIENT_NAME,
        "redirect_uris": [redirect_uri(redirect_path)],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "application_type": "native",
    }


def register(endpoint: str, redirect_path: str, session: requests.Session) -> str:
    """POST the registration (RFC 7591 §3.1) and return the new ``client_id``.

    Raises :class:`TokenEndpointError` with the server's reason (RFC 7591 §3.2.2 or Stytch's
    error shape) when it refuses, or when it cannot be reached.
    """
    from .resource_metadata import request
    from .token_client import provider_error
    from .untrusted import json_object

    check_endpoint(endpoint, "registration_endpoint")
    body = registration_request(redirect_path)
    response = request(session, "POST", endpoint, "register this client", json=body)
    if response.status_code not in (200, 201):
        error = provider_error(response, "register this client", {})
        raise TokenEndpointError(
            f"{error} The server may not allow client registration: set STYTCH_CLIENT_ID to a "
            "client registered for this CLI.",
            error=error.error,
            error_type=error.error_type,
            status=error.status,
        )
    client_id = (json_object(response) or {}).get("client_id")
    if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
        # RFC 6749 Appendix A.1 (VSCHAR): it is shown on the terminal, so nothing else passes.
        raise TokenEndpointError(
            f"Could not register this client: {host_of(endpoint)} answered without a usable "
            "client_id; tell the server's owner, or set STYTCH_CLIENT_ID."
        )
    log.debug("registered a public client at %s", host_of(endpoint))
    return client_id


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
        client_id = record.get("client_id")
        return client_id if isinstance(client_id, str) and client_id else None

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
                f"The authorization server {issuer} offers no client registration; set "
                "STYTCH_CLIENT_ID to a client registered for this CLI (redirect URL "
                f"{redirect})."
            )
        if not register_now:
            return ClientIdentity(f"(registers at {endpoint})", "to be registered")
        if stored:
            registrations.delete(issuer, redirect)
        client_id = register(endpoint, redirect_path, session)
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
