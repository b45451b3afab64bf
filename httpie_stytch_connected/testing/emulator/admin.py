"""Test knobs: counters, injected token-endpoint faults, revoking everything, playing another
client that rotates a refresh token, checking an access token as a resource server would, and
creating clients as a project admin does in Stytch's dashboard:

- ``create_m2m_client(scopes, client_name=)`` -> :class:`ClientCredentials` (``client_id``
  ``m2m-client-test-…``, ``client_secret`` shown once, ``scopes``); ``deactivate_m2m_client``,
  ``m2m_clients()`` (no secrets).
- ``create_connected_app(client_type, redirect_uris=, token_endpoint_auth_method=)`` ->
  :class:`ClientCredentials`; ``first_party`` and ``third_party`` are confidential (a secret),
  ``first_party_public`` and ``third_party_public`` are public (``client_secret`` None).

Which grants a client still holds at the server: ``live_grants(client_id=)`` and
``grant_of(refresh_token)`` (so a test sees what a revocation ended).

Secrets never show in a repr, a listing or a log line."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Sequence
from typing import Any

import jwt

from .core import COUNTER_NAMES, SECRET_METHODS, EmulatorCore
from .records import Client, ClientCredentials, CounterSnapshot, M2MClient
from .redirect_urls import check_registrable
from .token_endpoint import TOKEN_FAULT_KINDS

_CLIENT_TYPES = ("first_party", "first_party_public", "third_party", "third_party_public")


class AdminKnobs(EmulatorCore):
    @property
    def counters(self) -> CounterSnapshot:
        """A snapshot of request counters (see ``COUNTER_NAMES``)."""
        with self._lock:
            return CounterSnapshot(self._counters)

    def reset_counters(self) -> None:
        with self._lock:
            self._counters = dict.fromkeys(COUNTER_NAMES, 0)

    def revoke_all(self) -> None:
        """Revoke every refresh and access token issued so far (the provider logs all out)."""
        with self._lock:
            for record in self._refresh.values():
                record.revoked = True
            for access in self._access.values():
                access.revoked = True

    def inject_token_fault(self, kind: str, count: int = 1) -> None:
        """Make the next ``count`` token-endpoint requests fail in the way named by ``kind``."""
        if kind not in TOKEN_FAULT_KINDS:
            raise ValueError(
                f"unknown fault kind {kind!r}; expected one of {sorted(TOKEN_FAULT_KINDS)}"
            )
        if count < 0:
            raise ValueError("count must be >= 0")
        with self._lock:
            self._faults.extend([kind] * count)

    def clear_token_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def forget_client(self, client_id: str) -> None:
        """Delete a registered, created or M2M client, as a project admin would: it becomes
        ``invalid_client``."""
        with self._lock:
            if (
                self._clients.pop(client_id, None) is None
                and self._m2m_clients.pop(client_id, None) is None
            ):
                raise ValueError("no such registered client")

    def registered_clients(self) -> list[dict[str, Any]]:
        """The clients made by registration: id, type, name, redirect URLs (no secrets)."""
        with self._lock:
            return [
                {
                    "client_id": c.client_id,
                    "client_type": c.client_type,
                    "client_name": c.client_name,
                    "redirect_uris": list(c.redirect_uris),
                }
                for c in self._clients.values()
                if c.registered
            ]

    def create_m2m_client(
        self, scopes: Sequence[str] = (), *, client_name: str = ""
    ) -> ClientCredentials:
        """Create an active M2M client with ``scopes``; its secret is returned only here."""
        for scope in scopes:
            if not scope or any(ch.isspace() for ch in scope):
                raise ValueError("a scope is a non-empty string without spaces")
        client = M2MClient(
            client_id=f"m2m-client-test-{uuid.uuid4()}",
            secret=f"secret-test-{secrets.token_urlsafe(32)}",
            scopes=tuple(dict.fromkeys(scopes)),
            client_name=client_name,
        )
        with self._lock:
            self._m2m_clients[client.client_id] = client
        return ClientCredentials(
            client.client_id, client.secret, client.scopes, "client_secret_basic"
        )

    def deactivate_m2m_client(self, client_id: str) -> None:
        """Set an M2M client inactive: its token requests get ``invalid_client``."""
        with self._lock:
            client = self._m2m_clients.get(client_id)
            if client is None:
                raise ValueError("no such M2M client")
            client.status = "inactive"

    def m2m_clients(self) -> list[dict[str, Any]]:
        """The M2M clients: id, name, scopes, status (no secrets)."""
        with self._lock:
            return [
                {
                    "client_id": c.client_id,
                    "client_name": c.client_name,
                    "scopes": list(c.scopes),
                    "status": c.status,
                }
                for c in self._m2m_clients.values()
            ]

    def create_connected_app(
        self,
        client_type: str = "first_party",
        *,
        redirect_uris: Sequence[str] | None = None,
        client_name: str = "",
        token_endpoint_auth_method: str = "client_secret_basic",
    ) -> ClientCredentials:
        """Create a Connected App client of one of Stytch's four types. ``first_party`` and
        ``third_party`` are confidential: the secret is returned only here and must be sent at
        the token, refresh and revocation endpoints (either way unless
        ``strict_client_auth_method`` is on, then by ``token_endpoint_auth_method``).
        ``redirect_uris`` defaults to the emulator's own."""
        if client_type not in _CLIENT_TYPES:
            raise ValueError(f"client_type must be one of {_CLIENT_TYPES}")
        public = client_type.endswith("_public")
        if not public and token_endpoint_auth_method not in SECRET_METHODS:
            raise ValueError(f"token_endpoint_auth_method must be one of {SECRET_METHODS}")
        uris = tuple(self.redirect_uris if redirect_uris is None else redirect_uris)
        for uri in uris:
            check_registrable(uri)
        client = Client(
            client_id=f"connected-app-test-{uuid.uuid4()}",
            redirect_uris=uris,
            client_type=client_type,
            client_name=client_name,
            auth_method="none" if public else token_endpoint_auth_method,
            secret=None if public else f"secret-test-{secrets.token_urlsafe(32)}",
            registered=False,
        )
        with self._lock:
            self._clients[client.client_id] = client
        return ClientCredentials(client.client_id, client.secret, (), client.auth_method)

    def rotate_refresh_token(self, old: str) -> str:
        """Use ``old`` as another client would: it becomes used and a new token is returned."""
        with self._lock:
            record = self._refresh.get(old)
            if record is None or record.revoked or record.used:
                raise ValueError("refresh token is not currently valid")
            record.used = True
            return self._new_refresh_token(record.grant, time.time())

    def live_grants(self, client_id: str | None = None) -> list[str]:
        """The grants (one per sign-in) that can still be refreshed: one of their refresh
        tokens is neither used, revoked nor expired. Sorted grant IDs, of ``client_id``'s
        grants only when given; never a token."""
        now = time.time()
        with self._lock:
            return sorted(
                {
                    r.grant.grant_id
                    for r in self._refresh.values()
                    if not (r.used or r.revoked or now >= r.expires_at)
                    and client_id in (None, r.grant.client_id)
                }
            )

    def grant_of(self, refresh_token: str) -> str | None:
        """The grant ID a refresh token was issued under (None: not issued here)."""
        with self._lock:
            record = self._refresh.get(refresh_token)
            return record.grant.grant_id if record else None

    def issued_refresh_tokens(self) -> list[str]:
        """Every refresh token issued so far, oldest first (including used and revoked)."""
        with self._lock:
            return list(self._refresh_order)

    def verify_access_token(
        self, token: str, *, required_scope: str | None = None, check_revocation: bool = True
    ) -> dict[str, Any]:
        """Verify an access token like a resource server would and return its claims.

        Checks signature, issuer (either form), audience (project_id) and expiry, as the
        Stytch SDKs' local introspection does; also checks revocation unless told not to
        (a real local check cannot see revocations). Raises ``jwt.InvalidTokenError``
        subclasses or ``ValueError``.
        """
        claims = self._keys.decode(
            token,
            audience=self.project_id,
            require=("aud", "iss", "exp", "iat", "nbf", "sub"),
        )
        if claims.get("iss") not in self._issuers():
            raise jwt.InvalidIssuerError("Invalid issuer")
        if check_revocation:
            with self._lock:
                record = self._access.get(str(claims.get("jti", "")))
                if record is None or record.revoked:
                    raise ValueError("access token has been revoked or was not issued here")
        if required_scope is not None:
            granted = str(claims.get("scope", "")).split()
            if required_scope not in granted:
                raise ValueError(f"access token lacks required scope {required_scope!r}")
        return claims
