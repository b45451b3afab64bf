"""Stytch's revocation (RFC 7009), introspection (RFC 7662) and userinfo endpoints.

Revoking a refresh token revokes its whole grant; revoking an unknown token still answers 200.
Introspection answers ``{"active": false}`` for anything not currently valid.
"""

from __future__ import annotations

import time
from typing import Any

import jwt

from .core import EmulatorCore
from .errors import OAuthError, invalid_request, oauth_error_response
from .records import Access
from .wire import Response, decode_form, header, json_response, request_id


class TokenManagement(EmulatorCore):
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
        try:
            form = decode_form(headers, body)
        except ValueError as exc:
            return oauth_error_response(invalid_request(str(exc)))
        client_id = form.get("client_id")
        if client_id is not None and self._client(client_id) is None:
            return oauth_error_response(
                OAuthError(401, "invalid_client_id", "invalid_client", "Unknown client_id.")
            )
        token = form.get("token")
        if not token:
            return oauth_error_response(invalid_request("Required parameter is missing: token."))
        with self._lock:
            refresh = self._refresh.get(token)
            if refresh is not None:
                self._revoke_grant(refresh.grant.grant_id)
        if refresh is None:
            try:
                _, access = self._access_record(token, verify_exp=False)
            except ValueError:
                access = None
            if access is not None:
                with self._lock:
                    access.revoked = True
        return json_response(200, {"request_id": request_id(), "status_code": 200})

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
