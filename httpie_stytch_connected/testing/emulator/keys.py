"""The emulator's signing key: one RS256 key pair, its JWKS, and token signing and checking.

Stytch signs access and ID tokens with RS256 and publishes the keys at
``/.well-known/jwks.json`` (and ``/v1/sessions/jwks/{project_id}``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


class SigningKey:
    """An RSA-2048 key with a ``jwk-test-…`` kid."""

    def __init__(self) -> None:
        self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
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
        """Verify signature, audience and (unless told not to) expiry; raises PyJWT errors."""
        claims = jwt.decode(
            token,
            self._private_key.public_key(),
            algorithms=["RS256"],
            audience=audience,
            options={"verify_exp": verify_exp, "require": list(require)},
        )
        return dict(claims)
