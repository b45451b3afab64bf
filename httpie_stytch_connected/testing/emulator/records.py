"""What the emulator remembers: pending sign-ins, grants, codes, refresh and access tokens."""

from __future__ import annotations

from dataclasses import dataclass, field


class CounterSnapshot(dict[str, int]):
    """A copy of the counters; also callable, so ``emulator.counters()`` reads the same."""

    def __call__(self) -> dict[str, int]:
        return dict(self)


@dataclass
class Client:
    """A Connected App: the first-party public client the emulator starts with, one made by
    Dynamic Client Registration (third-party, public or confidential), or one made by
    ``StytchEmulator.create_connected_app`` (any of Stytch's four client types). The secret never
    shows in the repr."""

    client_id: str
    redirect_uris: tuple[str, ...]
    client_type: str = "first_party_public"
    client_name: str = ""
    auth_method: str = "none"
    secret: str | None = field(default=None, repr=False)
    fingerprint: str | None = None
    #: Made by Dynamic Client Registration (False: by ``create_connected_app``).
    registered: bool = True

    @property
    def third_party(self) -> bool:
        return self.client_type.startswith("third_party")

    @property
    def confidential(self) -> bool:
        """A client with a secret: ``first_party`` or ``third_party`` (not ``*_public``)."""
        return self.secret is not None


@dataclass
class M2MClient:
    """A Stytch M2M client: a machine identity with scopes and a secret (never in the repr)."""

    client_id: str
    secret: str = field(repr=False)
    scopes: tuple[str, ...]
    client_name: str = ""
    status: str = "active"


@dataclass(frozen=True)
class ClientCredentials:
    """What creating a client hands back once, as Stytch shows a secret only at creation.

    ``client_secret`` is None for a public client; it never shows in the repr."""

    client_id: str
    client_secret: str | None = field(repr=False)
    scopes: tuple[str, ...] = ()
    token_endpoint_auth_method: str = "none"


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
