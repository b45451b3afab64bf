"""Client authentication at the token and revocation endpoints.

Stytch documents that these endpoints take ``client_id`` and ``client_secret`` "within the
request body as well as within a HTTP-Basic Auth header" (``client_secret_post`` and
``client_secret_basic``). Public Connected Apps have no secret and are refused one
(``public_connected_apps_do_not_have_secrets``); confidential Connected Apps and M2M clients
must send theirs. Sending the secret both ways at once is refused (RFC 6749 §2.3: one method
per request). The method each request used is recorded in ``client_auth_seen``; the secret is
never recorded, logged or put in an error.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from urllib.parse import unquote_plus

from .core import SECRET_METHODS, EmulatorCore
from .errors import OAuthError, invalid_grant, invalid_request
from .records import Client, M2MClient
from .wire import header


def invalid_client(message: str) -> OAuthError:
    return OAuthError(
        401, "oauth_token_exchange_invalid_client", "invalid_client", message, www_auth=True
    )


def _no_secrets() -> OAuthError:
    return OAuthError(
        401,
        "public_connected_apps_do_not_have_secrets",
        "invalid_client",
        "Public Connected Apps do not have client secrets.",
    )


def _basic(headers: dict[str, str]) -> tuple[str, str] | None:
    """``(client_id, secret)`` from ``Authorization: Basic``, form-decoded (RFC 6749 §2.3.1)."""
    auth = header(headers, "authorization")
    if not auth.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, binascii.Error):
        raise invalid_client("Bad Basic auth.") from None
    if ":" not in decoded:
        raise invalid_client("Bad Basic auth.")
    basic_id, _, basic_secret = decoded.partition(":")
    return unquote_plus(basic_id), unquote_plus(basic_secret)


class ClientAuth(EmulatorCore):
    def _m2m_client(self, client_id: str) -> M2MClient | None:
        with self._lock:
            return self._m2m_clients.get(client_id)

    def _authenticate_client(
        self, headers: dict[str, str], form: dict[str, str], endpoint: str
    ) -> Client | M2MClient:
        """The client this request authenticates as; raises :class:`OAuthError`."""
        client_id = form.get("client_id")
        secret = form.get("client_secret")
        method = "client_secret_post" if secret else "none"
        basic = _basic(headers)
        if basic is not None:
            if secret:
                raise invalid_request("Use one client authentication method, not two.")
            basic_id, secret = basic
            if client_id and client_id != basic_id:
                raise invalid_client("client_id differs from the Basic auth user name.")
            client_id = basic_id
            method = "client_secret_basic"
        if not client_id:
            raise invalid_request("Required parameter is missing: client_id.")
        client: Client | M2MClient | None = self._m2m_client(client_id) or self._client(client_id)
        if client is None and self.unknown_client_error == "invalid_grant":
            raise invalid_grant("invalid_client_id", "Unknown client_id.")
        if client is None:
            raise OAuthError(
                401, "invalid_client_id", "invalid_client", "Unknown client_id.", www_auth=True
            )
        with self._lock:
            self.client_auth_seen.append((endpoint, client_id, method))
        expected = client.secret
        if expected is None:
            if secret:
                raise _no_secrets()
            return client
        if not secrets.compare_digest((secret or "").encode(), expected.encode()):
            raise invalid_client("The client secret is missing or wrong.")
        if isinstance(client, M2MClient):
            if client.status != "active":
                raise invalid_client("The M2M client is not active.")
            return client
        if (
            self.strict_client_auth_method
            and client.auth_method in SECRET_METHODS
            and method != client.auth_method
        ):
            raise invalid_client(f"This client must authenticate with {client.auth_method}.")
        return client
