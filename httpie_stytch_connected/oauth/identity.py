"""Who signed in: from verified ID token claims (OpenID Connect Core §3.1.3.7), else the
UserInfo endpoint (§5.3); never from a claim nobody checked.

Shown after every sign-in, so a sign-in finished by someone else (a local user can read the
authorization URL from the process list) is noticed, and by ``stytch-connected status``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import LoginError, TokenEndpointError

if TYPE_CHECKING:
    from .endpoints import ProviderEndpoints
    from .provider_calls import HTTP
    from .tokens import Account, TokenSet

log = logging.getLogger(__name__)

#: The reason given while the access token is expired: the next refresh tells.
EXPIRED = "the access token has expired"


def signed_in_as(
    endpoints: ProviderEndpoints,
    client_id: str,
    http: HTTP,
    tokens: TokenSet,
    claims: Mapping[str, Any] | None = None,
) -> tuple[str | None, str]:
    """(who, how we know it) as text: :func:`identify`'s account, shown."""
    account, source = identify(endpoints, client_id, http, tokens, claims)
    return (account.shown if account else None), source


def identify(
    endpoints: ProviderEndpoints,
    client_id: str,
    http: HTTP,
    tokens: TokenSet,
    claims: Mapping[str, Any] | None = None,
) -> tuple[Account | None, str]:
    """(who, how we know it): ``who`` is None when the provider does not tell.

    ``endpoints`` and ``client_id`` say whose ID tokens and userinfo to trust; ``http`` makes
    the calls (JWKS, userinfo: :mod:`.provider_calls`).

    ``claims`` are ID token claims already verified (at sign-in); without them the stored ID
    token is verified now, and failing that the UserInfo endpoint is asked with the access
    token. Network failures give None with the reason, never an exception.
    """
    if claims is None and tokens.id_token:
        claims = _verified(endpoints, client_id, http, tokens.id_token)
    secrets = [t for t in (tokens.access_token, tokens.refresh_token) if t]
    if claims is not None:
        return account_from(claims, secrets), "verified ID token"
    userinfo = endpoints.userinfo_endpoint
    if not userinfo:
        return None, "the provider has no userinfo endpoint"
    if not tokens.access_token or tokens.expires_within(0):
        return None, EXPIRED
    from .provider_calls import USERINFO, call
    from .untrusted import json_object

    found = None
    try:
        # Like every provider call: our header only, no redirect, bounded in time and size.
        response = call(
            http,
            "GET",
            userinfo,
            "ask who signed in",
            kind=USERINFO,
            bearer=tokens.access_token,
        )
        found = json_object(response.body) if response.status == 200 else None
    except TokenEndpointError as exc:
        log.debug("userinfo failed: %s", exc)
    if found is None:
        return None, "the userinfo endpoint did not answer"
    return account_from(found, secrets), "userinfo endpoint"


def account_from(claims: Mapping[str, Any], secrets: Sequence[str] = ()) -> Account:
    """The :class:`.tokens.Account` that ``claims`` describe; a claim that repeats part of
    ``secrets`` is withheld (:func:`describe`)."""
    from .tokens import Account
    from .untrusted import WITHHELD, shown_text

    subject = shown_text(claims.get("sub"), secrets, limit=200)
    return Account(None if subject == WITHHELD else subject, describe(claims, secrets))


def _verified(
    endpoints: ProviderEndpoints, client_id: str, http: HTTP, id_token: str
) -> dict[str, Any] | None:
    from .id_token import IdTokenCheck

    check = IdTokenCheck.for_provider(endpoints, client_id, session=http)
    if check is None:
        return None
    try:
        return check.verify(id_token, None)
    except LoginError as exc:
        log.debug("ID token not used: %s", type(exc).__name__)
        return None


def describe(claims: Mapping[str, Any], secrets: Sequence[str] = ()) -> str:
    """'Ada Lovelace <ada@example.com> (sub)', or what of it the claims hold: printable only,
    and a claim that repeats part of ``secrets`` (our tokens) is withheld."""
    from ..oauth.untrusted import shown_text

    def text(name: str) -> str:
        return shown_text(claims.get(name), secrets, limit=200) or ""

    name, email, sub = text("name"), text("email"), text("sub")
    who = " ".join(part for part in (name, f"<{email}>" if email else "") if part)
    return f"{who} ({sub})" if who and sub else who or sub or "unknown"
