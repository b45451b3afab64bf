"""What the emulator remembers: pending sign-ins, grants, codes, refresh and access tokens."""

from __future__ import annotations

from dataclasses import dataclass


class CounterSnapshot(dict[str, int]):
    """A copy of the counters; also callable, so ``emulator.counters()`` reads the same."""

    def __call__(self) -> dict[str, int]:
        return dict(self)


@dataclass
class Client:
    """A Connected App: the first-party public client the emulator starts with, or one made by
    Dynamic Client Registration (third-party, public or confidential)."""

    client_id: str
    redirect_uris: tuple[str, ...]
    client_type: str = "first_party_public"
    client_name: str = ""
    auth_method: str = "none"
    secret: str | None = None
    fingerprint: str | None = None

    @property
    def third_party(self) -> bool:
        return self.client_type.startswith("third_party")


@dataclass
class Pending:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str
    force_consent: bool
    created: float
    resource: str | None = None
    authenticated: bool = False


@dataclass
class Grant:
    """One user authorization; refresh tokens and access tokens descend from it."""

    grant_id: str
    client_id: str
    sub: str
    scopes: tuple[str, ...]
    auth_time: int


@dataclass
class Code:
    grant: Grant
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    expires_at: float
    used: bool = False


@dataclass
class Refresh:
    grant: Grant
    issued_at: float
    expires_at: float
    used: bool = False
    revoked: bool = False


@dataclass
class Access:
    grant_id: str
    revoked: bool = False
