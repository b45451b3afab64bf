"""RFC 7636 Proof Key for Code Exchange, S256 only, plus the other one-time values of a login.

Every value comes from :mod:`secrets` (a CSPRNG); the plain method is deliberately absent.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def s256_challenge(verifier: str) -> str:
    """``BASE64URL(SHA256(ASCII(code_verifier)))`` (RFC 7636 §4.2)."""
    if not 43 <= len(verifier) <= 128 or not set(verifier) <= _UNRESERVED:
        raise ValueError("a PKCE code verifier is 43-128 unreserved characters (RFC 7636 §4.1)")
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def new_verifier(nbytes: int = 64) -> str:
    """64 random bytes give an 86-character verifier: well inside 43-128."""
    return b64url(secrets.token_bytes(nbytes))


def random_token() -> str:
    """An unguessable value for ``state`` and ``nonce`` (256 bits)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class PKCE:
    verifier: str = field(default_factory=new_verifier, repr=False)

    @property
    def challenge(self) -> str:
        return s256_challenge(self.verifier)

    method = "S256"
