"""Test knobs: counters, injected token-endpoint faults, revoking everything, playing another
client that rotates a refresh token, and checking an access token as a resource server would."""

from __future__ import annotations

import time
from typing import Any

import jwt

from .core import COUNTER_NAMES, EmulatorCore
from .records import CounterSnapshot
from .token_endpoint import TOKEN_FAULT_KINDS


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
        """Delete a registered client, as a project admin would: it becomes ``invalid_client``."""
        with self._lock:
            if self._clients.pop(client_id, None) is None:
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
            ]

    def rotate_refresh_token(self, old: str) -> str:
        """Use ``old`` as another client would: it becomes used and a new token is returned."""
        with self._lock:
            record = self._refresh.get(old)
            if record is None or record.revoked or record.used:
                raise ValueError("refresh token is not currently valid")
            record.used = True
            return self._new_refresh_token(record.grant, time.time())

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
