"""ID token verification (OpenID Connect Core §3.1.3.7) before any claim is shown or trusted.

Signature against the provider's JWKS, ``iss`` (the exact string the provider's metadata names),
``aud`` = our client ID, ``exp``/``iat``/``nbf`` within :data:`LEEWAY` of this machine's clock
(a clock outside that is named as the cause), and at login the ``nonce`` we sent. Only asymmetric
algorithms are accepted: a public client has no shared secret, so an ``HS256`` token could have
been minted by anyone who knows the client ID.
"""

from __future__ import annotations

import base64
import hmac
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import LoginError
from .provider_calls import HTTP, JWKS, TransportFailure, call
from .untrusted import json_object, parse_json
from .urls import host_of

if TYPE_CHECKING:
    from jwt import PyJWK

    from .endpoints import ProviderEndpoints

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
#: Seconds of clock difference tolerated on ``exp``, ``iat`` and ``nbf``: five minutes, as
#: Microsoft.IdentityModel and MSAL allow for access tokens (google-auth 3 m 45 s, MSAL 2 min for
#: ID tokens). The nonce, not freshness, is what ties an ID token to this sign-in, so a provider
#: a few minutes off does not cost the person a sign-in they already completed.
LEEWAY = 300.0


@dataclass(frozen=True)
class IdTokenCheck:
    """What an ID token must match: the provider's keys and issuer, and our client ID.

    The keys are fetched through :func:`.provider_calls.call` with ``session`` when given (its
    proxies, CA bundle and adapters), else a new ``requests`` session.
    """

    jwks_uri: str
    issuer: str
    client_id: str
    session: HTTP = field(default=None, repr=False, compare=False)

    @classmethod
    def for_provider(
        cls,
        endpoints: ProviderEndpoints,
        client_id: str,
        *,
        session: HTTP = None,
    ) -> IdTokenCheck | None:
        """None when the provider publishes no keys or issuer: its ID tokens are never trusted."""
        if not endpoints.jwks_uri or not endpoints.issuer:
            return None
        return cls(endpoints.jwks_uri, endpoints.issuer, client_id, session=session)

    def verify(self, id_token: str, nonce: str | None) -> dict[str, Any]:
        """The verified claims; ``nonce=None`` skips the nonce (checked once, at login)."""
        import jwt

        try:
            _within_bounds(id_token)
            header = jwt.get_unverified_header(id_token)
            # Fetched for every check: a login verifies once, and a process-wide key cache
            # would outlive a provider that rotated its keys.
            key = _pick(self._keys(), header)
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=list(ALGORITHMS),
                audience=self.client_id,
                issuer=self.issuer,
                leeway=LEEWAY,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            )
        except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError) as exc:
            raise _off_clock(exc, id_token) from None
        except jwt.InvalidTokenError as exc:
            raise _rejected(_reason(exc)) from None
        except (ValueError, TypeError, jwt.InvalidKeyError):
            # Not base64url JSON, nested deeper than any real token, or a signature the key
            # cannot check: whatever the provider sent, one sentence, never a library error.
            raise _rejected("it is malformed") from None
        if nonce is not None and not hmac.compare_digest(
            str(claims.get("nonce", "")).encode(), nonce.encode()
        ):
            raise _rejected("it does not answer this sign-in (nonce mismatch)")
        return claims

    def _keys(self) -> list[_Key]:
        """The provider's signing keys (``use`` absent or ``sig``) that this library can use."""

        def unfetched(failure: TransportFailure) -> LoginError:
            return _unfetched(self.jwks_uri, failure.cause)

        response = call(
            self.session, "GET", self.jwks_uri, "fetch the keys", kind=JWKS, failed=unfetched
        )
        if response.status != 200:
            raise _unfetched(self.jwks_uri, f"HTTP {response.status}")
        document = json_object(response.body)
        if document is None:
            raise _unfetched(self.jwks_uri, "not a JSON object")
        listed = document.get("keys")
        if not isinstance(listed, list):
            raise _unfetched(self.jwks_uri, "no key set")
        keys = [key for key in map(_usable_key, listed) if key is not None]
        if not keys:
            raise _unfetched(self.jwks_uri, "no usable signing key")
        return keys


def _within_bounds(id_token: str) -> None:
    """PyJWT parses the header and claims with plain ``json.loads``, whose nesting limit is the
    interpreter's recursion limit: parse them with a fixed bound first (ValueError if beyond)."""
    for part in id_token.split(".")[:2]:
        parse_json(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


#: The key type each accepted algorithm needs (RFC 7518 §3.1).
_KEY_TYPE = {alg: "EC" if alg.startswith("ES") else "RSA" for alg in ALGORITHMS}
#: Smallest RSA modulus accepted, in bits (RFC 7518 §3.3: 2048 or larger).
MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class _Key:
    """A provider's signing key, and the one algorithm it names for itself (None: any that
    fits its type)."""

    jwk: PyJWK
    alg: str | None


def _usable_key(entry: object) -> _Key | None:
    """One JWKS entry as a key we can verify with, or None: not a signing key (``use`` other
    than ``sig``), a key type or algorithm we do not accept, an RSA key under
    :data:`MIN_RSA_BITS`, or one the library cannot load. Whatever the provider sent, the
    answer is a key or None, never an exception."""
    import jwt

    if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
        return None
    if entry.get("kty") not in ("RSA", "EC") or entry.get("alg", "RS256") not in ALGORITHMS:
        return None
    try:
        key = jwt.PyJWK.from_dict(entry)
        size = getattr(key.key, "key_size", None)
    except (jwt.PyJWKError, jwt.InvalidKeyError, TypeError, ValueError, KeyError):
        return None
    if entry["kty"] == "RSA" and not (isinstance(size, int) and size >= MIN_RSA_BITS):
        return None
    alg = entry.get("alg")
    return _Key(key, alg if isinstance(alg, str) else None)


def _pick(keys: list[_Key], header: dict[str, Any]) -> PyJWK:
    """The key named by the token's ``kid``; without one, the provider's only key. The token's
    ``alg`` must be one we accept and fit that key's type (an RSA key cannot check ES256), and
    a key that names its own ``alg`` checks only that one: anything else cannot be the
    provider's signature."""
    alg = header.get("alg")
    kid = header.get("kid")
    if alg not in ALGORITHMS:
        raise _rejected("it is signed with an algorithm that is not accepted")
    chosen = (
        (keys[0] if len(keys) == 1 else None)
        if kid is None
        else next((key for key in keys if key.jwk.key_id == kid), None)
    )
    if chosen is None:
        raise _rejected("it is not signed with any of the provider's keys")
    if chosen.jwk.key_type != _KEY_TYPE[alg] or chosen.alg not in (None, alg):
        raise _rejected(f"its algorithm {alg} does not fit the provider's key")
    return chosen.jwk


def _unfetched(jwks_uri: str, why: str) -> LoginError:
    return LoginError(
        f"Could not check the ID token: the signing keys at {host_of(jwks_uri)} could not be "
        f"fetched ({why}); check your network connection and try again."
    )


def _reason(exc: Exception) -> str:
    import jwt

    reasons: tuple[tuple[type[Exception], str], ...] = (
        (jwt.InvalidAudienceError, "it was issued to another client"),
        (jwt.InvalidIssuerError, "it was issued by another provider"),
        (jwt.InvalidSignatureError, "its signature does not match the provider's keys"),
        (jwt.InvalidAlgorithmError, "it is signed with an algorithm that is not accepted"),
        (jwt.MissingRequiredClaimError, "it lacks a required claim"),
    )
    return next((text for kind, text in reasons if isinstance(exc, kind)), "it is malformed")


def _off_clock(exc: Exception, id_token: str) -> LoginError:
    """The clock is the cause: say by how much, on which side, and which clock to check.

    Only reached after the signature was verified, so the claims read here are the provider's.
    """
    import jwt

    claims = jwt.decode(id_token, options={"verify_signature": False})
    now = time.time()
    if isinstance(exc, jwt.ExpiredSignatureError):
        seconds = now - float(claims["exp"])
        moment = f"it expired {seconds:.0f} s before this machine's time"
    else:  # iat or nbf, whichever lies further ahead
        seconds = max(float(claims.get(n, now)) for n in ("iat", "nbf")) - now
        moment = f"it was issued {seconds:.0f} s ahead of this machine's time"
    return LoginError(
        f"The provider's ID token failed verification: {moment}, more than the {LEEWAY:.0f} s "
        "of clock difference allowed; nothing was stored. Check this machine's "
        "clock (date, time and time zone; turn on network time) and sign in again; if it is "
        "right, the provider's clock is off."
    )


def _rejected(reason: str) -> LoginError:
    return LoginError(
        f"The provider's ID token failed verification: {reason}; nothing was stored. Check the "
        "issuer and client_id settings, then sign in again."
    )
