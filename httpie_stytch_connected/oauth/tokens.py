"""The token set: what a token response gave us, with expiry fixed at the moment of receipt.

Expiry is ``received_at + expires_in`` on the local clock, never the JWT ``exp``: a skewed local
clock then shifts both ends equally and cannot make a fresh token look expired (or the reverse).
A lifetime of zero or less is "unknown" (used until the API answers 401), never "expired": a fresh
token always serves the request it was obtained for and the ones after it.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from .token_json import FORMAT, expires_within, stored_fields

# The patterns are compiled on first use (``re`` keeps them): only a token response needs
# them, and a warm run only reads a cached set.
#: RFC 6750 §2.1 ``b64token``: what a Bearer credential may be.
_B64TOKEN = r"[A-Za-z0-9\-._~+/]+=*"
#: What the other fields may hold (RFC 6749 Appendix A.4 and A.17; a JWS or JWE compact
#: serialisation, RFC 7515 §7.1): nothing that could act on a terminal or in a header.
_SHAPES = {
    "refresh_token": r"[\x20-\x7e]+",
    "scope": r"[\x20\x21\x23-\x5b\x5d-\x7e]+",
    "id_token": r"[A-Za-z0-9_\-.]+",
}


class TokenResponseError(ValueError):
    """A token response that cannot be used (no or malformed access token, wrong type, an
    ``expires_in`` that is not a number). The message names the field, never a value."""


class Account(NamedTuple):
    """Who a grant belongs to, as verified at sign-in (an ID token or the UserInfo endpoint,
    OpenID Connect Core §5.3): ``subject`` is the ``sub`` claim when there was one, ``shown``
    what :func:`.identity.describe` made of the claims. A named tuple, not a dataclass: this
    module loads on every warm run, and building a dataclass costs that run its methods."""

    subject: str | None
    shown: str

    def same_person(self, other: Account) -> bool:
        """Compared by ``sub`` where both have one (a renamed person stays the same)."""
        if self.subject and other.subject:
            return self.subject == other.subject
        return self.shown == other.shown

    @classmethod
    def from_dict(cls, value: object) -> Account | None:
        """What :meth:`TokenSet.to_json` wrote, or None for anything else: printable text
        of bounded length only, as it is shown in a terminal."""
        if not isinstance(value, dict):
            return None
        subject, shown = value.get("subject"), value.get("shown")
        if not isinstance(shown, str) or not _printable(shown):
            return None
        return cls(subject if _printable(subject) else None, shown)


def _printable(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 1024 and value.isprintable()


@dataclass(frozen=True)
class TokenSet:
    access_token: str = field(repr=False)
    expires_at: float | None = None
    refresh_token: str | None = field(default=None, repr=False)
    scope: str | None = None
    id_token: str | None = field(default=None, repr=False)
    received_at: float = 0.0
    #: How this set was obtained when the API had just refused the one before it: "refresh",
    #: "sign-in", or None (not after a refusal). A refused set obtained that way is not
    #: renewed the same way again: the cure did not work (see :class:`.TokenManager`).
    after_rejection: str | None = None
    #: Refresh tokens of grants this set replaced (a sign-in over a stored set, a set left in
    #: the parts of a killed save) that the provider has not revoked yet (RFC 7009): kept with
    #: the set, in the secure store only (never the access cache), until it does.
    superseded: tuple[str, ...] = field(default=(), repr=False)
    #: Who signed in for this grant, as known at sign-in (:class:`.identity.Account`): kept
    #: across refreshes, so a later sign-in by someone else is noticed even when this set can
    #: no longer say who it belongs to (no ID token, an expired access token for userinfo).
    account: Account | None = None

    @classmethod
    def from_response(
        cls, body: Mapping[str, Any], *, now: float | None = None, previous: TokenSet | None = None
    ) -> TokenSet:
        """Build from a token endpoint response (RFC 6749 §5.1).

        On refresh, a response without ``refresh_token`` keeps the previous one (RFC 6749 §6
        allows the server to omit it), and one without ``scope`` keeps the previous scope.
        Everything is checked here, once: a set that exists is usable. An ``expires_in`` of
        zero or less (or not finite) counts as unknown, see :func:`_lifetime`.

        Raises TokenResponseError naming the field that is missing or malformed.
        """
        received = time.time() if now is None else now
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise TokenResponseError("the token response has no access_token")
        if not is_b64token(access):
            # It would go into an Authorization header (RFC 6750 §2.1); anything else there is
            # a broken header or an injected one. Its value is never shown.
            raise TokenResponseError(
                "the token response's access_token is not an RFC 6750 b64token (it has "
                "characters an Authorization header cannot carry); nothing was stored"
            )
        token_type = body.get("token_type", "Bearer")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise TokenResponseError("the token response is not a Bearer token")
        seconds = _lifetime(body.get("expires_in"))
        expires_at = None if seconds is None else received + seconds
        before = previous or cls(access_token="")
        return cls(
            access_token=access,
            expires_at=expires_at,
            refresh_token=_received(body, "refresh_token") or before.refresh_token,
            scope=_received(body, "scope") or before.scope,
            id_token=_received(body, "id_token") or before.id_token,
            received_at=received,
            account=before.account,  # a refresh continues the same grant, the same person
        )

    def expires_within(self, leeway: float, *, now: float | None = None) -> bool:
        """True if the access token is expired or will be within the leeway (the rule is
        :func:`.token_json.expires_within`'s: at most half the lifetime, unknown is valid)."""
        return expires_within(self.expires_at, self.received_at, leeway, now=now)

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset((self.scope or "").split())

    def to_json(self) -> str:
        data = asdict(self)
        for name in ("superseded", "account"):  # left out when empty: older readers agree
            if not data[name]:
                del data[name]
        if self.account is not None:  # asdict keeps a named tuple a tuple: a JSON array
            data["account"] = self.account._asdict()
        return json.dumps({"v": FORMAT, **data}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> TokenSet:
        """Parse what :meth:`to_json` wrote; anything else raises ValueError."""
        data, access, expires_at, received_at = stored_fields(text)
        return cls(
            access_token=access,
            expires_at=expires_at,
            refresh_token=_opt_str(data.get("refresh_token")),
            scope=_opt_str(data.get("scope")),
            id_token=_opt_str(data.get("id_token")),
            received_at=received_at,
            after_rejection=_opt_str(data.get("after_rejection")),
            superseded=_superseded(data.get("superseded")),
            account=Account.from_dict(data.get("account")),
        )


def _lifetime(expires_in: object) -> float | None:
    """Seconds from ``expires_in`` (RFC 6749 §5.1), or None for "unknown".

    Zero, negative, infinite or unrepresentably large lifetimes are treated as unknown, not as
    "already expired": a provider saying 0 would otherwise cost a new sign-in on every request.
    An unknown lifetime means the token is used until the API answers 401, which renews it.
    Finite lifetimes longer than a year (``1e300``, ``1e308``, a huge integer) are clamped to a
    year at receipt, so nothing downstream meets an absurd expiry.
    A value that is not a number at all is a broken response and refused.
    """
    if expires_in is None:
        return None
    # Longer than any real access token lives (hours; a year at most): taken as a year, so
    # an absurd finite value ("1e300") can never reach date arithmetic or formatting.
    longest = 365 * 86400.0
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float, str)):
        raise TokenResponseError("the token response's expires_in is not a number")
    try:
        seconds = float(expires_in)
    except OverflowError:  # an integer beyond any float: absurdly far, so unknown
        return None
    except ValueError:
        raise TokenResponseError("the token response's expires_in is not a number") from None
    if not math.isfinite(seconds) or seconds <= 0:
        return None
    return min(seconds, longest)


def _received(body: Mapping[str, Any], name: str) -> str | None:
    """An optional field of a token response: absent or empty is None; anything else must be
    a string of the field's shape (:data:`_SHAPES`), or the response is refused."""
    value = body.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.fullmatch(_SHAPES[name], value):
        raise TokenResponseError(f"the token response's {name} is malformed")
    return value


#: Most superseded refresh tokens one set keeps (the oldest are dropped beyond it).
SUPERSEDED_LIMIT = 16


def _superseded(value: object) -> tuple[str, ...]:
    """The stored ``superseded`` list: refresh-token-shaped strings only, at most
    :data:`SUPERSEDED_LIMIT`; anything else in it is dropped."""
    if not isinstance(value, list):
        return ()
    shape = re.compile(_SHAPES["refresh_token"])
    kept = [v for v in value if isinstance(v, str) and shape.fullmatch(v)]
    return tuple(kept[-SUPERSEDED_LIMIT:])


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def is_b64token(value: str) -> bool:
    """Whether ``value`` may be sent as a Bearer credential (RFC 6750 §2.1 ``b64token``):
    anything else is a broken ``Authorization`` header or an injected one."""
    return re.fullmatch(_B64TOKEN, value) is not None


class SuppliedToken(NamedTuple):
    """A token handed to us (the ``access_token`` or ``access_token_file`` setting): used as
    it is, never stored or refreshed. ``source`` says where it came from, for messages.
    (A named tuple: every warm run imports this module, and a dataclass costs ~0.3 ms.)"""

    token: str
    source: str

    def __repr__(self) -> str:
        return f"SuppliedToken(source={self.source!r})"
