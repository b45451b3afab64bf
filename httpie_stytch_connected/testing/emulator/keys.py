"""The emulator's signing key: one RS256 key pair, its JWKS, and token signing and checking.

Stytch signs access and ID tokens with RS256 and publishes the keys at
``/.well-known/jwks.json`` (and ``/v1/sessions/jwks/{project_id}``).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


@functools.lru_cache(maxsize=1)
def _private_key() -> rsa.RSAPrivateKey:
    """One RSA-2048 key per process: making one costs 10-150 ms of CPU, and a test suite starts
    an emulator per test (about a minute of CPU over ours). Each :class:`SigningKey` still has
    its own kid, so a token one emulator signed names a key no other emulator publishes."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class SigningKey:
    """An RSA-2048 key (the process's, :func:`_private_key`) with a ``jwk-test-…`` kid of its
    own."""

    def __init__(self) -> None:
        self._private_key = _private_key()
        self.kid = f"jwk-test-{uuid.uuid4()}"
        jwk: dict[str, Any] = dict(
            jwt.algorithms.RSAAlgorithm.to_jwk(self._private_key.public_key(), as_dict=True)
        )
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        self._public_jwk = jwk

    @property
    def public_jwk(self) -> dict[str, Any]:
        return dict(self._public_jwk)

    @property
    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk]}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._private_key, algorithm="RS256", headers={"kid": self.kid})

    def decode(
        self, token: str, *, audience: str, verify_exp: bool = True, require: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Verify signature, audience and (unless told not to) expiry; raises PyJWT errors. A
        token under another kid is refused first: the key itself is shared within a process."""
        if jwt.get_unverified_header(token).get("kid") != self.kid:
            raise jwt.InvalidSignatureError("signed with another key")
        claims = jwt.decode(
            token,
            self._private_key.public_key(),
            algorithms=["RS256"],
            audience=audience,
            options={"verify_exp": verify_exp, "require": list(require)},
        )
        return dict(claims)
