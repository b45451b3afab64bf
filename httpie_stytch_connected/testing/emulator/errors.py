"""Stytch's API error shape: ``{status_code, request_id, error_type, error_message, error_url}``
together with the RFC 6749 ``{error, error_description}`` pair."""

from __future__ import annotations

from .wire import Response, json_response, request_id


class OAuthError(Exception):
    """An API error; rendered with both Stytch and RFC 6749 fields."""

    def __init__(
        self, status: int, error_type: str, error: str, message: str, *, www_auth: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.error = error
        self.message = message
        self.www_auth = www_auth


def invalid_request(message: str) -> OAuthError:
    return OAuthError(400, "oauth_token_exchange_invalid_request", "invalid_request", message)


def invalid_grant(error_type: str, message: str, status: int = 400) -> OAuthError:
    """A refused code, refresh token or redirect URI (RFC 6749 §5.2 ``invalid_grant``), with
    Stytch's own ``error_type``."""
    return OAuthError(status, error_type, "invalid_grant", message)


def oauth_error_response(err: OAuthError) -> Response:
    payload = {
        "status_code": err.status,
        "request_id": request_id(),
        "error_type": err.error_type,
        "error_message": err.message,
        "error_url": f"https://stytch.com/docs/api/errors/{err.status}",
        "error": err.error,
        "error_description": err.message,
    }
    headers = {"WWW-Authenticate": 'Bearer error="invalid_client"'} if err.www_auth else {}
    return json_response(err.status, payload, headers)
