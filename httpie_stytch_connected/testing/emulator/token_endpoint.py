"""Stytch's token endpoint, ``POST /v1/oauth2/token`` (and its legacy ``/v1/public/...`` twin;
``/v1/m2m/token``, shown in Stytch's B2B M2M overview, takes only ``client_credentials``).

Stytch rules enforced here: public clients have no secret, confidential Connected Apps and M2M
clients must send theirs (see ``client_auth``); authorization codes are single use and burnt by
any attempt (RFC 6749 §4.1.2); the redirect URL repeats the authorization request's, port
included; PKCE S256 is checked; public clients' refresh tokens rotate on every use and a used
one is refused, confidential clients' do not rotate (each use extends their life by
``refresh_token_ttl``); a refresh may narrow the scope but never widen it; access tokens are
RS256 JWTs with ``aud = [project_id]``. Test faults (see ``admin``) are served from here.

M2M (``grant_type=client_credentials``, JSON or form body, the secret in the body or as HTTP
Basic): ``scope`` omitted means every scope of the client, a scope the client lacks is
``oauth_token_exchange_invalid_scope``/``invalid_scope`` (400); the answer is ``access_token``,
``token_type: "bearer"``, ``expires_in`` (``m2m_access_token_ttl``) and no refresh token; the
token's claims are ``iss`` (the issuer of the domain used: ``stytch.com/{project_id}`` on the
legacy path), ``sub`` (the M2M client ID), ``aud: [project_id]``, ``scope``, ``iat``, ``nbf``,
``exp`` and ``jti``. Connected App clients get ``unauthorized_client`` for that grant, and M2M
clients for the others.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
import uuid
from typing import Any

from .client_auth import ClientAuth
from .errors import OAuthError, invalid_grant, invalid_request, oauth_error_response
from .records import Access, Client, Grant, M2MClient
from .redirect_urls import redirect_registered
from .wire import Response, decode_form, json_response, page, request_id

#: Fault kinds accepted by ``StytchEmulator.inject_token_fault``.
TOKEN_FAULT_KINDS = frozenset(
    {"500", "503", "html", "not_json", "no_access_token", "slow", "reset"}
)

_ID_TOKEN_TTL = 3600
#: The grants the token endpoint knows; the last is the only one at ``/v1/m2m/token``.
_GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
_VERIFIER_RE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def _b64url_sha256(value: str) -> str:
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _fault_response(kind: str) -> Response:
    if kind == "500":
        return json_response(
            500,
            {
                "status_code": 500,
                "request_id": request_id(),
                "error_type": "internal_server_error",
                "error_message": "Oops, something seems to have gone wrong.",
                "error_url": "https://stytch.com/docs/api/errors/500",
            },
        )
    if kind == "503":
        return Response(
            503,
            b"Service Unavailable",
            "text/plain; charset=utf-8",
            {"Retry-After": "0"},
        )
    if kind == "html":
        return Response(
            200,
            page("Sign in to the network", "<h1>Sign in to the network</h1>").encode(),
            "text/html; charset=utf-8",
        )
    if kind == "not_json":
        return Response(200, b'{"access_token": "tr', "application/json")
    if kind == "no_access_token":
        return json_response(
            200,
            {
                "expires_in": 3600,
                "token_type": "bearer",
                "scope": "",
                "request_id": request_id(),
                "status_code": 200,
            },
        )
    return Response(0, reset=True)


def _require(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise invalid_request(f"Required parameter is missing: {name}.")
    return value


def _unauthorized_grant(message: str) -> OAuthError:
    return OAuthError(400, "oauth_token_exchange_invalid_request", "unauthorized_client", message)


class TokenEndpoint(ClientAuth):
    def _token(
        self, headers: dict[str, str], body: bytes, issuer: str, *, m2m_only: bool = False
    ) -> Response:
        with self._lock:
            self._counters["token_requests"] += 1
            fault = self._faults.pop(0) if self._faults else None
        if fault is not None and fault != "slow":
            self._count("token_faults")
            return _fault_response(fault)
        if fault == "slow":
            self._count("token_faults")
            self._stopped.wait(self.slow_seconds)
        try:
            return self._token_inner(headers, body, issuer, m2m_only)
        except OAuthError as err:
            self._count("token_errors")
            return oauth_error_response(err)

    def _token_inner(
        self, headers: dict[str, str], body: bytes, issuer: str, m2m_only: bool
    ) -> Response:
        try:
            form = decode_form(headers, body)
        except ValueError as exc:
            raise invalid_request(str(exc)) from None
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            self._count("token_authorization_code")
        elif grant_type == "refresh_token":
            self._count("token_refresh")
        elif grant_type == "client_credentials":
            self._count("token_client_credentials")
        if not grant_type:
            raise invalid_request("Required parameter is missing: grant_type.")
        allowed = _GRANT_TYPES[-1:] if m2m_only else _GRANT_TYPES
        if grant_type not in allowed:
            raise OAuthError(
                400,
                "oauth_token_exchange_invalid_request",
                "unsupported_grant_type",
                f"grant_type must be one of {', '.join(allowed)}.",
            )
        client = self._authenticate_client(headers, form, "token")
        if isinstance(client, M2MClient):
            if grant_type != "client_credentials":
                raise _unauthorized_grant("M2M clients use only the client_credentials grant.")
            return json_response(200, self._client_credentials(form, client, issuer))
        if grant_type == "client_credentials":
            raise _unauthorized_grant(
                "Connected App clients use only the authorization_code and refresh_token grants."
            )
        client_id = client.client_id
        self._record_resource(grant_type, form.get("resource"))
        if grant_type == "authorization_code":
            return self._exchange_code(form, client_id, issuer)
        response = self._exchange_refresh(form, client, issuer)
        self._count("token_refresh_ok")
        return response

    def _client_credentials(
        self, form: dict[str, str], client: M2MClient, issuer: str
    ) -> dict[str, Any]:
        """RFC 6749 §4.4 as Stytch's M2M product does it: no ``scope`` means every scope of
        the client; a scope the client was not given is refused; no refresh token."""
        requested = form.get("scope")
        if requested:
            scopes = tuple(dict.fromkeys(requested.split()))
            missing = [s for s in scopes if s not in client.scopes]
            if missing:
                raise OAuthError(
                    400,
                    "oauth_token_exchange_invalid_scope",
                    "invalid_scope",
                    "The requested scope was not granted to this M2M client: "
                    + " ".join(missing)
                    + ".",
                )
        else:
            scopes = client.scopes
        access_token = self._access_token(
            Access(f"m2m:{client.client_id}"),
            {"iss": issuer, "sub": client.client_id, "aud": [self.project_id]},
            " ".join(scopes),
            self.m2m_access_token_ttl,
        )
        return {
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": self.m2m_access_token_ttl,
            "request_id": request_id(),
            "status_code": 200,
        }

    def _exchange_code(self, form: dict[str, str], client_id: str, issuer: str) -> Response:
        code = _require(form, "code")
        redirect_uri = _require(form, "redirect_uri")
        verifier = _require(form, "code_verifier")
        now = time.time()
        with self._lock:
            record = self._codes.get(code)
            if record is None or record.used or record.grant.client_id != client_id:
                raise invalid_grant(
                    "idp_auth_code_not_found",
                    "The authorization code was not found or was already used.",
                )
            # Burn the code on any attempt, successful or not (RFC 6749 §4.1.2).
            record.used = True
            if now >= record.expires_at:
                raise invalid_grant("idp_auth_code_expired", "The authorization code expired.")
        client = self._client(client_id)
        if client is None or not redirect_registered(redirect_uri, client.redirect_uris):
            raise invalid_grant(
                "connected_app_supplied_redirect_url_not_found_in_client",
                "The redirect URL supplied in the request is not registered to the client.",
                401,
            )
        if redirect_uri != record.redirect_uri:
            raise invalid_grant(
                "oauth_token_exchange_invalid_request",
                "redirect_uri does not match the one used in the authorization request.",
            )
        if not _VERIFIER_RE.fullmatch(verifier):
            raise invalid_grant(
                "invalid_pkce_code_verifier",
                "code_verifier must be 43-128 characters from [A-Za-z0-9-._~].",
            )
        if not secrets.compare_digest(_b64url_sha256(verifier), record.code_challenge):
            raise invalid_grant("pkce_mismatch", "code_verifier does not match the code_challenge.")
        return json_response(200, self._token_payload(record.grant, issuer, record.nonce))

    def _exchange_refresh(self, form: dict[str, str], client: Client, issuer: str) -> Response:
        client_id = client.client_id
        token = _require(form, "refresh_token")
        now = time.time()
        with self._lock:
            record = self._refresh.get(token)
            if record is None or record.revoked or record.grant.client_id != client_id:
                raise invalid_grant(
                    "idp_refresh_token_not_found", "The refresh token was not found."
                )
            if record.used:
                raise invalid_grant(
                    "idp_refresh_token_already_used",
                    "The refresh token was already used; refresh tokens rotate on every use.",
                )
            if now >= record.expires_at:
                raise invalid_grant("idp_refresh_token_expired", "The refresh token has expired.")
            grant = record.grant
            requested = form.get("scope")
            if requested:
                asked = tuple(dict.fromkeys(requested.split()))
                if not set(asked) <= set(grant.scopes):
                    raise OAuthError(
                        400,
                        "oauth_token_exchange_invalid_scope",
                        "invalid_scope",
                        "The requested scope exceeds the scope originally granted.",
                    )
                # Down-scope only this access token; the grant keeps its scopes.
                grant = Grant(grant.grant_id, grant.client_id, grant.sub, asked, grant.auth_time)
            if not client.confidential:
                record.used = True
                payload = self._token_payload(grant, issuer, None, refresh_grant=record.grant)
                return json_response(200, payload)
            # Confidential clients: no rotation; each use extends the token's life.
            record.expires_at = now + self.refresh_token_ttl
            payload = self._token_payload(grant, issuer, None, issue_refresh=False)
            if self.confidential_refresh_returns_token and "offline_access" in record.grant.scopes:
                payload["refresh_token"] = token
        return json_response(200, payload)

    def _access_token(self, access: Access, claims: dict[str, Any], scope: str, ttl: int) -> str:
        """A signed access token with ``claims``, its scope, lifetime and a fresh ``jti``,
        recorded as ``access`` so that revocation and introspection find it."""
        iat = int(time.time())
        jti = str(uuid.uuid4())
        token = self._keys.sign(
            {**claims, "scope": scope, "exp": iat + ttl, "iat": iat, "nbf": iat, "jti": jti}
        )
        with self._lock:
            self._access[jti] = access
        return token

    def _token_payload(
        self,
        grant: Grant,
        issuer: str,
        nonce: str | None,
        *,
        refresh_grant: Grant | None = None,
        issue_refresh: bool = True,
    ) -> dict[str, Any]:
        now = time.time()
        iat = int(now)
        scope = " ".join(grant.scopes)
        refreshed = refresh_grant is not None or not issue_refresh
        audience = (self.refreshed_token_audience if refreshed else None) or self.project_id
        access_token = self._access_token(
            Access(grant.grant_id),
            {"iss": issuer, "sub": grant.sub, "aud": [audience], "client_id": grant.client_id},
            scope,
            self.access_token_ttl,
        )
        payload: dict[str, Any] = {
            "access_token": access_token,
            "expires_in": self.access_token_ttl,
            "scope": scope,
            "token_type": "bearer",
        }
        full = refresh_grant or grant
        if issue_refresh and "offline_access" in full.scopes:
            payload["refresh_token"] = self._new_refresh_token(full, now)
        if "openid" in grant.scopes:
            id_claims: dict[str, Any] = {
                "iss": issuer,
                "sub": grant.sub,
                "aud": grant.client_id,
                "exp": iat + _ID_TOKEN_TTL,
                "iat": iat,
                "nbf": iat,
                "auth_time": grant.auth_time,
            }
            if nonce is not None:
                id_claims["nonce"] = nonce
            id_claims.update(self._user_claims(grant.scopes))
            payload["id_token"] = self._keys.sign(id_claims)
        payload["request_id"] = request_id()
        payload["status_code"] = 200
        return payload
