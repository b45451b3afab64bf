"""Stytch's revocation (RFC 7009), introspection (RFC 7662) and userinfo endpoints.

Revoking a refresh token revokes its whole grant; revoking an unknown token still answers 200.
A client that sends a ``client_id`` (body or HTTP Basic) is authenticated as at the token
endpoint; a confidential client's tokens can be revoked only by that client with its secret
(``invalid_client``, 401, otherwise; another client's: ``unauthorized_client``, 400). Public
clients may omit ``client_id``, as before.
Introspection answers ``{"active": false}`` for anything not currently valid. The
``revocation_unavailable`` switch makes the revocation endpoint answer 503 and revoke nothing.
"""

from __future__ import annotations

import time
from typing import Any

import jwt

from .client_auth import ClientAuth, invalid_client
from .errors import OAuthError, invalid_request, oauth_error_response
from .records import Access
from .wire import Response, decode_form, header, json_response, request_id


class TokenManagement(ClientAuth):
    def _access_record(self, token: str, *, verify_exp: bool) -> tuple[dict[str, Any], Access]:
        """Decode one of our access tokens; raises ValueError if it is not ours."""
        try:
            claims = self._keys.decode(token, audience=self.project_id, verify_exp=verify_exp)
        except jwt.PyJWTError:
            raise ValueError("not an access token issued here") from None
        with self._lock:
            record = self._access.get(str(claims.get("jti", "")))
        if record is None:
            raise ValueError("not an access token issued here")
        return claims, record

    def _revoke(self, headers: dict[str, str], body: bytes) -> Response:
        self._count("revoke")
        if self.revocation_unavailable:
            return json_response(
                503, {"status_code": 503, "request_id": request_id(), "error": "unavailable"}
            )
        try:
            form = decode_form(headers, body)
        except ValueError as exc:
            return oauth_error_response(invalid_request(str(exc)))
        try:
            self._revoke_inner(headers, form)
        except OAuthError as err:
            return oauth_error_response(err)
        return json_response(200, {"request_id": request_id(), "status_code": 200})

    def _revoke_inner(self, headers: dict[str, str], form: dict[str, str]) -> None:
        caller: str | None = None
        if form.get("client_id") or form.get("client_secret") or header(headers, "authorization"):
            caller = self._authenticate_client(headers, form, "revoke").client_id
        token = form.get("token")
        if not token:
            raise invalid_request("Required parameter is missing: token.")
        with self._lock:
            refresh = self._refresh.get(token)
        if refresh is not None:
            self._check_revoker(caller, refresh.grant.client_id)
            with self._lock:
                self._revoke_grant(refresh.grant.grant_id)
            return
        try:
            claims, access = self._access_record(token, verify_exp=False)
        except ValueError:
            return
        owner = claims.get("client_id")
        if isinstance(owner, str):
            self._check_revoker(caller, owner)
        with self._lock:
            access.revoked = True

    def _check_revoker(self, caller: str | None, owner: str) -> None:
        """A confidential client's token is revoked only by that client, authenticated."""
        client = self._client(owner)
        if client is None or not client.confidential:
            return
        if caller is None:
            raise invalid_client("This token belongs to a confidential client: authenticate.")
        if caller != owner:
            raise OAuthError(
                400,
                "oauth_token_exchange_invalid_client",
                "unauthorized_client",
                "The token was not issued to this client.",
            )

    def _introspect(self, headers: dict[str, str], body: bytes) -> Response:
        self._count("introspect")
        try:
            form = decode_form(headers, body)
        except ValueError as exc:
            return oauth_error_response(invalid_request(str(exc)))
        token = form.get("token", "")
        inactive = {"active": False, "request_id": request_id(), "status_code": 200}
        if not token:
            return json_response(200, inactive)
        now = time.time()
        with self._lock:
            refresh = self._refresh.get(token)
            if refresh is not None:
                if refresh.revoked or refresh.used or now >= refresh.expires_at:
                    return json_response(200, inactive)
                return json_response(
                    200,
                    {
                        "active": True,
                        "sub": refresh.grant.sub,
                        "scope": " ".join(refresh.grant.scopes),
                        "client_id": refresh.grant.client_id,
                        "iat": int(refresh.issued_at),
                        "exp": int(refresh.expires_at),
                        "token_type": "refresh_token",
                        "request_id": request_id(),
                        "status_code": 200,
                    },
                )
        try:
            claims, access = self._access_record(token, verify_exp=True)
        except ValueError:
            return json_response(200, inactive)
        if access.revoked:
            return json_response(200, inactive)
        result: dict[str, Any] = {"active": True}
        for key in ("sub", "scope", "aud", "exp", "iat", "iss", "nbf", "client_id"):
            result[key] = claims.get(key)
        result.update(
            {"token_type": "access_token", "request_id": request_id(), "status_code": 200}
        )
        return json_response(200, result)

    def _userinfo(self, headers: dict[str, str]) -> Response:
        self._count("userinfo")
        scheme, _, token = header(headers, "authorization").strip().partition(" ")
        unauthorized = json_response(
            401,
            {
                "status_code": 401,
                "request_id": request_id(),
                "error_type": "unauthorized_credentials",
                "error_message": "The access token is missing, invalid, expired or revoked.",
                "error": "invalid_token",
            },
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
        if scheme.lower() != "bearer" or not token.strip():
            return unauthorized
        try:
            claims, access = self._access_record(token.strip(), verify_exp=True)
        except ValueError:
            return unauthorized
        if access.revoked:
            return unauthorized
        scopes = str(claims.get("scope", "")).split()
        payload: dict[str, Any] = {"sub": claims["sub"]}
        payload.update(self._user_claims(scopes))
        payload.update({"request_id": request_id(), "status_code": 200})
        return json_response(200, payload)
