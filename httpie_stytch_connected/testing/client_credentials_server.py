"""A provider-neutral OAuth 2.0 client-credentials server on 127.0.0.1, for tests of providers
other than Stytch (RFC 6749 §4.4, RFC 8414 metadata, RFC 7523 client assertions).

It serves, on the loopback server the Stytch emulator uses:

- ``GET /.well-known/oauth-authorization-server``: ``issuer``, ``token_endpoint``,
  ``jwks_uri``, ``grant_types_supported: ["client_credentials"]``,
  ``token_endpoint_auth_methods_supported`` (the ``advertised_auth_methods`` switch, by
  default the enabled ``auth_methods``), ``token_endpoint_auth_signing_alg_values_supported``
  (with ``private_key_jwt``) and ``scopes_supported``.
- ``GET /jwks.json``: the RS256 key that signs the access tokens.
- ``POST /token`` (form-encoded): ``grant_type=client_credentials`` and optional ``scope``
  (none: every scope of the client; one the client lacks: ``invalid_scope``), the client
  authenticated by exactly one of ``client_secret_basic`` (RFC 6749 §2.3.1, form-decoded),
  ``client_secret_post`` or ``private_key_jwt`` (RFC 7523: ``client_assertion_type`` the
  jwt-bearer URN, ``client_assertion`` a JWT signed with the client's registered key, with
  ``iss`` = ``sub`` = client ID, ``aud`` the issuer alone as a single string
  (draft-ietf-oauth-rfc7523bis; ``legacy_assertion_audiences``: RFC 7523's older leniency, the
  token endpoint or the issuer, a string or in a list), ``exp`` in the future, and a ``jti``
  never seen before). A method not in ``auth_methods``, or other than
  the one a client was registered with, is ``invalid_client`` (401). The answer is an RS256
  JWT access token (``iss``, ``sub`` and ``client_id`` the client, ``aud`` the ``audience``
  setting, default the issuer; ``scope``, ``iat``, ``nbf``, ``exp``, ``jti``),
  ``token_type: "Bearer"``, ``expires_in`` and ``scope``; never a refresh token.

Clients are made by ``add_secret_client(scopes)`` (returns a :class:`ClientCredentials` with
the secret, shown once) and ``add_key_client(public_key, scopes)`` (a public key object, PEM
or JWK; the secret is None). ``auth_seen`` lists ``(client_id, method)`` for every client
authentication tried; ``verify_access_token`` checks a token as a resource server would.
Errors are RFC 6749 §5.2 ``{"error", "error_description"}``. Secrets, assertions and tokens
are never logged or put in a repr.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union
from urllib.parse import unquote_plus

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .emulator.keys import SigningKey
from .emulator.records import ClientCredentials
from .emulator.wire import Response, Server, decode_form, header, json_response
from .loopback import LoopbackService

__all__ = [
    "ALL_AUTH_METHODS",
    "JWT_BEARER",
    "ClientCredentials",
    "ClientCredentialsServer",
]

ALL_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
#: ``client_assertion_type`` for a JWT client assertion (RFC 7523 §2.2).
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_EC_ALGS = ("ES256", "ES384", "ES512")

PublicKeyInput = Union[
    rsa.RSAPublicKey, rsa.RSAPrivateKey, ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey,
    bytes, str, Mapping[str, Any],
]  # fmt: skip


class _OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str, *, basic: bool = False) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.basic = basic


@dataclass
class _Client:
    client_id: str
    scopes: tuple[str, ...]
    auth_method: str | None
    secret: str | None = field(default=None, repr=False)
    key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | None = field(default=None, repr=False)


def _public_key(value: PublicKeyInput) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    if isinstance(value, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        return value.public_key()
    if isinstance(value, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        return value
    if isinstance(value, Mapping):
        key = jwt.PyJWK(dict(value)).key
    else:
        data = value.encode() if isinstance(value, str) else value
        key = serialization.load_pem_public_key(data)
    if not isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        raise ValueError("only RSA and EC public keys are supported")
    return key


class ClientCredentialsServer(LoopbackService):
    """See the module docstring. Use as a context manager, or call :meth:`start`/:meth:`stop`.

    ``auth_methods`` (enabled) and ``advertised_auth_methods`` (in the metadata; None: the
    enabled ones) are plain attributes a test may change at any time, as are
    ``access_token_ttl``, ``audience``, ``max_assertion_lifetime`` (seconds an assertion's
    ``exp`` may lie ahead; None: no limit) and ``legacy_assertion_audiences``."""

    thread_name = "client-credentials-server"

    def __init__(
        self,
        *,
        auth_methods: Sequence[str] = ALL_AUTH_METHODS,
        advertised_auth_methods: Sequence[str] | None = None,
        access_token_ttl: int = 3600,
        audience: str | None = None,
        scopes_supported: Sequence[str] = (),
        max_assertion_lifetime: int | None = None,
        legacy_assertion_audiences: bool = False,
        log_requests: bool = False,
    ) -> None:
        for method in auth_methods:
            if method not in ALL_AUTH_METHODS:
                raise ValueError(f"auth methods must be among {ALL_AUTH_METHODS}")
        self.auth_methods: Sequence[str] = tuple(auth_methods)
        self.advertised_auth_methods = advertised_auth_methods
        self.access_token_ttl = access_token_ttl
        self.scopes_supported = tuple(scopes_supported)
        self.max_assertion_lifetime = max_assertion_lifetime
        self.legacy_assertion_audiences = legacy_assertion_audiences
        self.log_requests = log_requests
        self._audience = audience
        #: ``(client_id, method)`` for every client authentication tried; never a secret.
        self.auth_seen: list[tuple[str, str]] = []
        self.counters: Counter[str] = Counter()
        self._keys = SigningKey()
        self._clients: dict[str, _Client] = {}
        self._jtis: dict[tuple[str, str], float] = {}
        self._issued: set[str] = set()
        self._lock = threading.RLock()

    def _bind(self) -> Server:
        return Server(self)

    def __repr__(self) -> str:
        where = self.url if self.started else "not started"
        return f"ClientCredentialsServer({where}, auth_methods={list(self.auth_methods)})"

    # ------------------------------------------------------------------ URLs

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: also the issuer."""
        return self.origin

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def metadata_url(self) -> str:
        return self.url + "/.well-known/oauth-authorization-server"

    @property
    def token_endpoint(self) -> str:
        return self.url + "/token"

    @property
    def jwks_uri(self) -> str:
        return self.url + "/jwks.json"

    @property
    def audience(self) -> str:
        """The ``aud`` of the access tokens (default: the issuer)."""
        return self._audience or self.issuer

    @audience.setter
    def audience(self, value: str | None) -> None:
        self._audience = value

    @property
    def jwks(self) -> dict[str, Any]:
        return self._keys.jwks

    # ------------------------------------------------------------------ clients

    def add_secret_client(
        self,
        scopes: Sequence[str] = (),
        *,
        client_id: str | None = None,
        auth_method: str | None = None,
    ) -> ClientCredentials:
        """A client with a secret; ``auth_method`` ``client_secret_basic`` or
        ``client_secret_post`` holds it to that method (None: either)."""
        if auth_method not in (None, "client_secret_basic", "client_secret_post"):
            raise ValueError("auth_method must be client_secret_basic or client_secret_post")
        client = _Client(
            client_id or f"cc-client-{uuid.uuid4()}",
            tuple(scopes),
            auth_method,
            secret=secrets.token_urlsafe(32),
        )
        with self._lock:
            self._clients[client.client_id] = client
        return ClientCredentials(
            client.client_id, client.secret, client.scopes, auth_method or "client_secret_basic"
        )

    def add_key_client(
        self,
        public_key: PublicKeyInput,
        scopes: Sequence[str] = (),
        *,
        client_id: str | None = None,
    ) -> ClientCredentials:
        """A ``private_key_jwt`` client whose assertions ``public_key`` verifies (an RSA or EC
        key object, PEM text or a JWK; a private key object is reduced to its public half)."""
        client = _Client(
            client_id or f"cc-client-{uuid.uuid4()}",
            tuple(scopes),
            "private_key_jwt",
            key=_public_key(public_key),
        )
        with self._lock:
            self._clients[client.client_id] = client
        return ClientCredentials(client.client_id, None, client.scopes, "private_key_jwt")

    def verify_access_token(self, token: str) -> dict[str, Any]:
        """Check signature, issuer, audience and expiry, and that it was issued here."""
        claims = self._keys.decode(
            token, audience=self.audience, require=("iss", "sub", "aud", "exp", "jti")
        )
        if claims["iss"] != self.issuer:
            raise jwt.InvalidIssuerError("Invalid issuer")
        with self._lock:
            if claims["jti"] not in self._issued:
                raise ValueError("not an access token issued here")
        return claims

    # ------------------------------------------------------------------ HTTP

    def _route(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Response:
        if path == "/.well-known/oauth-authorization-server" and method == "GET":
            self._count("metadata")
            return json_response(200, self._metadata())
        if path == "/jwks.json" and method == "GET":
            self._count("jwks")
            return json_response(200, self.jwks)
        if path == "/token" and method == "POST":
            self._count("token")
            try:
                payload = self._token(headers, body)
            except _OAuthError as err:
                self._count("token_errors")
                extra = {"WWW-Authenticate": 'Basic realm="token"'} if err.basic else {}
                return json_response(
                    err.status, {"error": err.error, "error_description": err.description}, extra
                )
            self._count("token_ok")
            return json_response(200, payload)
        if path in ("/.well-known/oauth-authorization-server", "/jwks.json", "/token"):
            return json_response(405, {"error": "invalid_request"})
        return json_response(404, {"error": "not_found"})

    def _count(self, name: str) -> None:
        with self._lock:
            self.counters[name] += 1

    def _metadata(self) -> dict[str, Any]:
        advertised = self.advertised_auth_methods
        methods = list(self.auth_methods if advertised is None else advertised)
        document: dict[str, Any] = {
            "issuer": self.issuer,
            "token_endpoint": self.token_endpoint,
            "jwks_uri": self.jwks_uri,
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": methods,
        }
        if "private_key_jwt" in methods:
            document["token_endpoint_auth_signing_alg_values_supported"] = ["RS256", "ES256"]
        if self.scopes_supported:
            document["scopes_supported"] = list(self.scopes_supported)
        return document

    def _token(self, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        ctype = header(headers, "content-type").split(";", 1)[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise _OAuthError(400, "invalid_request", "The body must be form-encoded.")
        try:
            form = decode_form(headers, body)
        except ValueError as exc:
            raise _OAuthError(400, "invalid_request", str(exc)) from None
        grant_type = form.get("grant_type")
        if not grant_type:
            raise _OAuthError(400, "invalid_request", "grant_type is required.")
        if grant_type != "client_credentials":
            raise _OAuthError(400, "unsupported_grant_type", "Only client_credentials.")
        client = self._authenticate(headers, form)
        requested = form.get("scope")
        scopes = tuple(dict.fromkeys(requested.split())) if requested else client.scopes
        missing = [s for s in scopes if s not in client.scopes]
        if missing:
            raise _OAuthError(400, "invalid_scope", f"Not granted: {' '.join(missing)}.")
        iat = int(time.time())
        jti = str(uuid.uuid4())
        scope = " ".join(scopes)
        claims = {
            "iss": self.issuer,
            "sub": client.client_id,
            "client_id": client.client_id,
            "aud": self.audience,
            "scope": scope,
            "iat": iat,
            "nbf": iat,
            "exp": iat + self.access_token_ttl,
            "jti": jti,
        }
        token = self._keys.sign(claims)
        with self._lock:
            self._issued.add(jti)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.access_token_ttl,
            "scope": scope,
        }

    def _authenticate(self, headers: dict[str, str], form: dict[str, str]) -> _Client:
        used: list[str] = []
        auth = header(headers, "authorization")
        if auth.lower().startswith("basic "):
            used.append("client_secret_basic")
        if "client_secret" in form:
            used.append("client_secret_post")
        if "client_assertion" in form or "client_assertion_type" in form:
            used.append("private_key_jwt")
        if not used:
            raise _OAuthError(401, "invalid_client", "No client authentication.")
        if len(used) > 1:
            raise _OAuthError(400, "invalid_request", "Use one client authentication method.")
        method = used[0]
        basic = method == "client_secret_basic"
        if method == "client_secret_basic":
            client_id, secret = _basic(auth)
            if form.get("client_id") not in (None, client_id):
                raise _OAuthError(401, "invalid_client", "client_id differs.", basic=True)
        elif method == "client_secret_post":
            client_id, secret = form.get("client_id", ""), form["client_secret"]
        else:
            client_id, secret = self._assertion_subject(form), ""
        with self._lock:
            self.auth_seen.append((client_id, method))
            client = self._clients.get(client_id)
        if method not in self.auth_methods:
            raise _OAuthError(401, "invalid_client", f"{method} is not enabled.", basic=basic)
        if client is None:
            raise _OAuthError(401, "invalid_client", "Unknown client.", basic=basic)
        if client.auth_method is not None and client.auth_method != method:
            raise _OAuthError(
                401, "invalid_client", f"This client must use {client.auth_method}.", basic=basic
            )
        if method == "private_key_jwt":
            if client.key is None:
                raise _OAuthError(401, "invalid_client", "This client has no registered key.")
            self._check_assertion(client.client_id, client.key, form["client_assertion"])
        elif client.secret is None or not secrets.compare_digest(
            secret.encode(), client.secret.encode()
        ):
            raise _OAuthError(401, "invalid_client", "Wrong client secret.", basic=basic)
        return client

    def _assertion_subject(self, form: dict[str, str]) -> str:
        if form.get("client_assertion_type") != JWT_BEARER:
            raise _OAuthError(
                400, "invalid_request", f"client_assertion_type must be {JWT_BEARER}."
            )
        assertion = form.get("client_assertion", "")
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _OAuthError(401, "invalid_client", "The client assertion is not a JWT.") from None
        subject = unverified.get("sub")
        if not isinstance(subject, str) or not subject:
            raise _OAuthError(401, "invalid_client", "The client assertion has no sub.")
        if form.get("client_id") not in (None, subject):
            raise _OAuthError(401, "invalid_client", "client_id differs from the assertion.")
        return subject

    def _check_assertion(
        self, client_id: str, key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey, assertion: str
    ) -> None:
        algorithms = list(_RSA_ALGS if isinstance(key, rsa.RSAPublicKey) else _EC_ALGS)
        try:
            claims = jwt.decode(
                assertion,
                key,
                algorithms=algorithms,
                audience=[self.token_endpoint, self.issuer],
                options={"require": ["iss", "sub", "aud", "exp", "jti"]},
            )
        except jwt.PyJWTError as exc:
            raise _OAuthError(
                401, "invalid_client", f"Client assertion refused: {type(exc).__name__}."
            ) from None
        if not self.legacy_assertion_audiences and claims["aud"] != self.issuer:
            raise _OAuthError(
                401, "invalid_client", "The client assertion's aud must be the issuer alone."
            )
        if claims["iss"] != client_id or claims["sub"] != client_id:
            raise _OAuthError(401, "invalid_client", "iss and sub must be the client_id.")
        now = time.time()
        if self.max_assertion_lifetime is not None and claims["exp"] > (
            now + self.max_assertion_lifetime
        ):
            raise _OAuthError(401, "invalid_client", "The client assertion lives too long.")
        seen = (client_id, str(claims["jti"]))
        with self._lock:
            for old in [k for k, exp in self._jtis.items() if exp < now]:
                del self._jtis[old]
            if seen in self._jtis:
                raise _OAuthError(401, "invalid_client", "The client assertion was replayed.")
            self._jtis[seen] = float(claims["exp"])


def _basic(auth: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, binascii.Error):
        raise _OAuthError(401, "invalid_client", "Bad Basic auth.", basic=True) from None
    if ":" not in decoded:
        raise _OAuthError(401, "invalid_client", "Bad Basic auth.", basic=True)
    client_id, _, secret = decoded.partition(":")
    return unquote_plus(client_id), unquote_plus(secret)
