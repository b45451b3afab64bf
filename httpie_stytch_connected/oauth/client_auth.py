"""Client authentication at the token, refresh and revocation endpoints.

- ``none``: a public client sends only ``client_id`` (RFC 6749 §2.1, PKCE protects the code).
- ``client_secret_basic``: ``Authorization: Basic`` with the form-encoded client ID and secret
  (RFC 6749 §2.3.1); every server must take it, so it is the default where nothing is known.
- ``client_secret_post``: ``client_id`` and ``client_secret`` in the form body (§2.3.1).
- ``private_key_jwt``: a JWT signed with the client's private key as ``client_assertion``
  (RFC 7523 §2.2, §3; OpenID Connect Core §9): ``iss`` = ``sub`` = client ID, a short ``exp``
  and a fresh ``jti`` per request, and ``aud`` the authorization server's issuer identifier
  (RFC 8414 §2) as a single string, as draft-ietf-oauth-rfc7523bis (updating RFC 7523 §3) and
  OpenID Connect Core §9 since its 2025 errata require. A token endpoint URL is whatever a
  server's metadata says, checked against nothing, whereas the issuer must be the one its
  metadata was fetched for (RFC 8414 §3.3): a server naming another's token endpoint would
  collect, at its own revocation endpoint, assertions the other accepts. Only where no issuer
  is known (a configured ``token_endpoint`` alone) is the token endpoint the audience, as
  RFC 7523 §3 allows; :attr:`..token_client.TokenClient.assertion_audience` decides.

:func:`choose` picks the method from the server metadata's
``token_endpoint_auth_methods_supported`` where known. Each object adds its fields and headers to
a request (:meth:`ClientAuth.apply`) and names the values that must be scrubbed from provider
text (:meth:`ClientAuth.hidden`). A secret or key never appears in a repr, a log line or an
error.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote_plus

from ..errors import ConfigurationError

NONE = "none"
BASIC = "client_secret_basic"
POST = "client_secret_post"
PRIVATE_KEY_JWT = "private_key_jwt"
SECRET_METHODS = (BASIC, POST)
METHODS = (NONE, BASIC, POST, PRIVATE_KEY_JWT)
#: ``client_assertion_type`` of a JWT client assertion (RFC 7523 §2.2).
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Seconds a client assertion is valid: long enough for one request, no longer.
ASSERTION_LIFETIME = 60


class ClientAuth(Protocol):
    """How this client proves who it is at the provider's endpoints."""

    @property
    def client_id(self) -> str: ...

    @property
    def method(self) -> str: ...

    def apply(self, form: dict[str, str], headers: dict[str, str], audience: str) -> None:
        """Add this method's fields to ``form`` and headers to ``headers``; ``audience`` is
        the ``aud`` of a client assertion: the server's issuer identifier, or its token
        endpoint where no issuer is known (see the module docstring)."""

    def hidden(self) -> dict[str, str]:
        """The secret values sent, by name, to scrub from anything the provider answers."""


@dataclass(frozen=True)
class PublicClient:
    client_id: str
    method: str = NONE

    def apply(self, form: dict[str, str], headers: dict[str, str], audience: str) -> None:
        form["client_id"] = self.client_id

    def hidden(self) -> dict[str, str]:
        return {}


@dataclass(frozen=True)
class ClientSecret:
    """``client_secret_basic`` or ``client_secret_post``; the secret is never in the repr."""

    client_id: str
    secret: str = field(repr=False)
    method: str = BASIC

    def apply(self, form: dict[str, str], headers: dict[str, str], audience: str) -> None:
        if self.method == POST:
            form["client_id"] = self.client_id
            form["client_secret"] = self.secret
            return
        form.pop("client_id", None)  # one method per request (RFC 6749 §2.3)
        pair = f"{quote_plus(self.client_id)}:{quote_plus(self.secret)}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")

    def hidden(self) -> dict[str, str]:
        return {"client_secret": self.secret}


@dataclass(frozen=True)
class PrivateKeyJwt:
    """RFC 7523 client assertions signed with ``key`` (a PEM private key, RSA or EC)."""

    client_id: str
    key: str = field(repr=False)
    algorithm: str = "RS256"
    method: str = PRIVATE_KEY_JWT

    def apply(self, form: dict[str, str], headers: dict[str, str], audience: str) -> None:
        import jwt

        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
            "jti": str(uuid.uuid4()),
        }
        form["client_id"] = self.client_id
        form["client_assertion_type"] = JWT_BEARER
        form["client_assertion"] = jwt.encode(claims, self.key, algorithm=self.algorithm)

    def hidden(self) -> dict[str, str]:
        return {}  # an assertion is scrubbed as a sent form value already


def key_algorithm(pem: str, offered: Sequence[str] = ()) -> str:
    """The JWS algorithm for a PEM private key: RS256 for RSA, ES256/384/512 by the EC curve;
    ConfigurationError for anything else (never showing the key)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigurationError(
            "private_key_file does not hold an unencrypted PEM private key (RSA or EC)."
        ) from None
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: "ES256", 384: "ES384", 521: "ES512"}.get(key.curve.key_size, "ES256")
    raise ConfigurationError("private_key_file must hold an RSA or EC private key.")


def choose(
    client_id: str,
    *,
    secret: str | None = None,
    private_key: str | None = None,
    supported: Sequence[str] | None = None,
    preferred: str | None = None,
) -> ClientAuth:
    """The client authentication to use.

    ``supported`` is the server metadata's ``token_endpoint_auth_methods_supported`` (None or
    empty: not known; RFC 8414 §2 then means ``client_secret_basic``). ``preferred`` is the
    ``token_endpoint_auth_method`` setting or the method a registration answered with.
    """
    offered = list(supported or ())
    if private_key is not None:
        if offered and PRIVATE_KEY_JWT not in offered and preferred != PRIVATE_KEY_JWT:
            raise ConfigurationError(
                "private_key_file is set, but the authorization server does not offer "
                f"private_key_jwt (it offers {', '.join(offered)})."
            )
        return PrivateKeyJwt(client_id, private_key, key_algorithm(private_key))
    if secret is None:
        return PublicClient(client_id)
    if preferred in SECRET_METHODS:
        return ClientSecret(client_id, secret, preferred)
    if preferred is not None and preferred not in (NONE, PRIVATE_KEY_JWT):
        raise ConfigurationError(f"token_endpoint_auth_method must be one of {', '.join(METHODS)}.")
    for method in (BASIC, POST):
        if not offered or method in offered:
            return ClientSecret(client_id, secret, method)
    raise ConfigurationError(
        "A client_secret is set, but the authorization server offers neither "
        f"client_secret_basic nor client_secret_post (it offers {', '.join(offered)})."
    )
