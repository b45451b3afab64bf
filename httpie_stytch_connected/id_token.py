"""ID token verification (OpenID Connect Core §3.1.3.7) before any claim is shown or trusted.

Signature against the provider's JWKS, ``iss``, ``aud`` = our client ID, ``exp``, and at login the
``nonce`` we sent. Only asymmetric algorithms are accepted: a public client has no shared secret,
so an ``HS256`` token could have been minted by anyone who knows the client ID.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import LoginError
from .provider import host_of

if TYPE_CHECKING:
    from .provider import ProviderEndpoints

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
#: Seconds of clock difference tolerated on ``exp``, ``iat`` and ``nbf``.
LEEWAY = 60.0
_JWKS_TIMEOUT = 10.0


@dataclass(frozen=True)
class IdTokenCheck:
    """What an ID token must match: the provider's keys and issuer, and our client ID."""

    jwks_uri: str
    issuer: str
    client_id: str

    @classmethod
    def for_provider(cls, endpoints: ProviderEndpoints, client_id: str) -> IdTokenCheck | None:
        """None when the provider publishes no keys or issuer: its ID tokens are never trusted."""
        if not endpoints.jwks_uri or not endpoints.issuer:
            return None
        return cls(endpoints.jwks_uri, endpoints.issuer, client_id)

    def verify(self, id_token: str, nonce: str | None) -> dict[str, Any]:
        """The verified claims; ``nonce=None`` skips the nonce (checked once, at login)."""
        import jwt

        try:
            # A fresh client per check: a login verifies once, and a process-wide key cache
            # would outlive a provider that rotated its keys (PyJWKClient refetches only after
            # a cooldown).
            jwks = jwt.PyJWKClient(self.jwks_uri, cache_keys=False, timeout=_JWKS_TIMEOUT)
            key = jwks.get_signing_key_from_jwt(id_token)
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=list(ALGORITHMS),
                audience=self.client_id,
                issuer=self.issuer,
                leeway=LEEWAY,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            )
        except jwt.PyJWKClientConnectionError:
            raise LoginError(
                f"Could not check the ID token: the signing keys at {host_of(self.jwks_uri)} "
                "could not be fetched; check your network connection and try again."
            ) from None
        except jwt.PyJWKClientError:
            raise _rejected("it is not signed with any of the provider's keys") from None
        except jwt.InvalidTokenError as exc:
            raise _rejected(_reason(exc)) from None
        if nonce is not None and not hmac.compare_digest(
            str(claims.get("nonce", "")).encode(), nonce.encode()
        ):
            raise _rejected("it does not answer this sign-in (nonce mismatch)")
        return claims


def _reason(exc: Exception) -> str:
    import jwt

    reasons: tuple[tuple[type[Exception], str], ...] = (
        (jwt.ExpiredSignatureError, "it has expired"),
        (jwt.InvalidAudienceError, "it was issued to another client"),
        (jwt.InvalidIssuerError, "it was issued by another provider"),
        (jwt.InvalidSignatureError, "its signature does not match the provider's keys"),
        (jwt.InvalidAlgorithmError, "it is signed with an algorithm that is not accepted"),
        (jwt.ImmatureSignatureError, "it is not valid yet (check this machine's clock)"),
        (jwt.MissingRequiredClaimError, "it lacks a required claim"),
    )
    return next((text for kind, text in reasons if isinstance(exc, kind)), "it is malformed")


def _rejected(reason: str) -> LoginError:
    return LoginError(
        f"The provider's ID token failed verification: {reason}; nothing was stored. Check the "
        "issuer and client_id settings, then sign in again."
    )
