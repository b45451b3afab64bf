"""Dynamic Client Registration (RFC 7591) of a public native client (RFC 8252).

The redirect URI is ``http://127.0.0.1/callback`` without a port, so any port matches. Only
public: Stytch de-duplicates identical public registrations but makes a new confidential client
every time, and caps them.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from ..errors import TokenEndpointError
from .provider_calls import HTTP, REGISTRATION, call
from .urls import check_endpoint, host_of

log = logging.getLogger(__name__)

#: RFC 6749 Appendix A.1: client-id = *VSCHAR (printable ASCII).
_CLIENT_ID = re.compile(r"[\x20-\x7e]+")
CLIENT_NAME = "HTTPie and requests (httpie-stytch-connected)"


def redirect_uri(redirect_path: str) -> str:
    """The loopback redirect URI registered without a port (RFC 8252 §7.3)."""
    return f"http://127.0.0.1{redirect_path}"


def registration_request(redirect_path: str) -> dict[str, Any]:
    """The RFC 7591 §2 client metadata of a public native client."""
    return {
        "client_name": CLIENT_NAME,
        "redirect_uris": [redirect_uri(redirect_path)],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "application_type": "native",
    }


def register(endpoint: str, redirect_path: str, session: HTTP) -> str:
    """POST the registration (RFC 7591 §3.1) and return the new ``client_id``.

    Raises :class:`TokenEndpointError` with the server's reason (RFC 7591 §3.2.2 or Stytch's
    error shape) when it refuses, or when it cannot be reached.
    """
    from .token_client import provider_error
    from .untrusted import json_object

    check_endpoint(endpoint, "registration_endpoint")
    body = registration_request(redirect_path)
    response = call(session, "POST", endpoint, "register this client", kind=REGISTRATION, json=body)
    if response.status not in (200, 201):
        error = provider_error(response, "register this client", {})
        raise TokenEndpointError(
            f"{error} The server may not allow client registration: set STYTCH_CLIENT_ID to a "
            "client registered for this CLI.",
            error=error.error,
            error_type=error.error_type,
            status=error.status,
        )
    client_id = (json_object(response.body) or {}).get("client_id")
    if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
        # RFC 6749 Appendix A.1 (VSCHAR): it is shown on the terminal, so nothing else passes.
        raise TokenEndpointError(
            f"Could not register this client: {host_of(endpoint)} answered without a usable "
            "client_id; tell the server's owner, or set STYTCH_CLIENT_ID."
        )
    log.debug("registered a public client at %s", host_of(endpoint))
    return client_id
