"""Dynamic Client Registration (RFC 7591) of a public native client (RFC 8252).

The redirect URI is ``http://127.0.0.1/callback`` without a port, so any port matches. Only
public: Stytch de-duplicates identical public registrations but makes a new confidential client
every time, and caps them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError, TokenEndpointError
from .provider_calls import HTTP, REGISTRATION, call
from .urls import check_endpoint, host_of

log = logging.getLogger(__name__)

#: RFC 6749 Appendix A.1: client-id = *VSCHAR (printable ASCII).
_CLIENT_ID = re.compile(r"[\x20-\x7e]+")
CLIENT_NAME = "HTTPie and requests (httpie-stytch-connected)"


def redirect_uri(redirect_path: str) -> str:
    """The loopback redirect URI registered without a port (RFC 8252 §7.3)."""
    return f"http://127.0.0.1{redirect_path}"


class UnusableRegistration(ConfigurationError):
    """The server registered a client this tool cannot sign a person in with (RFC 7591
    §3.2.1 lets it change what was asked); ``reason`` says why, in words of ours. Nothing was
    stored; the caller says what to do (:mod:`..zero_config.client_identity` knows the
    issuer and the redirect a pinned client must have)."""

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(
            f"The authorization server at {host_of(endpoint)} registered a client this tool "
            f"cannot use: {reason}; nothing was stored."
        )
        self.endpoint = endpoint
        self.reason = reason


@dataclass(frozen=True)
class Registered:
    """What a registration answered: the client ID and, for a confidential client, its secret
    (never in the repr) and the method to send it with."""

    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    token_endpoint_auth_method: str = "none"
    #: RFC 7592 §3: where the server lets us read or delete this registration, and the token
    #: for it (never in the repr); None when the server does not offer it.
    configuration_uri: str | None = None
    configuration_token: str | None = field(default=None, repr=False)


def registration_request(redirect_path: str, auth_method: str = "none") -> dict[str, Any]:
    """The RFC 7591 §2 client metadata of a native client: public (``none``), unless the
    server offers only a secret-based method (``auth_method``)."""
    return {
        "client_name": CLIENT_NAME,
        "redirect_uris": [redirect_uri(redirect_path)],
        "token_endpoint_auth_method": auth_method,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "application_type": "native",
    }


def register(endpoint: str, redirect_path: str, session: HTTP) -> str:
    """A public client's registration: its ``client_id`` (see :func:`register_client`)."""
    return register_client(endpoint, redirect_path, session).client_id


def register_client(
    endpoint: str, redirect_path: str, session: HTTP, auth_method: str = "none"
) -> Registered:
    """POST the registration (RFC 7591 §3.1) and return what the server made.

    Raises :class:`TokenEndpointError` with the server's reason (RFC 7591 §3.2.2 or Stytch's
    error shape) when it refuses, or when it cannot be reached.
    """
    from .token_client import provider_error
    from .untrusted import json_object

    check_endpoint(endpoint, "registration_endpoint")
    body = registration_request(redirect_path, auth_method)
    response = call(session, "POST", endpoint, "register this client", kind=REGISTRATION, json=body)
    if response.status not in (200, 201):
        error = provider_error(response, "register this client", {})
        raise TokenEndpointError(
            f"{error} The server may not allow client registration: set STYTCH_ISSUER and "
            "STYTCH_CLIENT_ID to a client registered for this CLI there (a client ID is only "
            "sent to the server it was configured with).",
            error=error.error,
            error_type=error.error_type,
            status=error.status,
        )
    answer = json_object(response.body) or {}
    client_id = answer.get("client_id")
    if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
        # RFC 6749 Appendix A.1 (VSCHAR): it is shown on the terminal, so nothing else passes.
        raise TokenEndpointError(
            f"Could not register this client: {host_of(endpoint)} answered without a usable "
            "client_id; tell the server's owner, or set STYTCH_ISSUER and STYTCH_CLIENT_ID to a "
            "client registered there."
        )
    secret, method = answer.get("client_secret"), answer.get("token_endpoint_auth_method")
    unusable = _unusable(answer)
    if unusable is not None:  # said before any browser opens; registering again would repeat it
        raise UnusableRegistration(endpoint, unusable)
    if method is None and isinstance(secret, str) and secret:
        method = "client_secret_basic"  # RFC 7591 §2: the default when the answer names none
    if (
        isinstance(secret, str)
        and secret
        and method in ("client_secret_basic", "client_secret_post")
    ):
        log.debug("registered a confidential client (%s) at %s", method, host_of(endpoint))
        return Registered(client_id, secret, str(method), *_configuration(answer))
    log.debug("registered a public client at %s", host_of(endpoint))
    return Registered(client_id, None, "none", *_configuration(answer))


#: How a registered client may authenticate at the token endpoint, as this tool can.
_USABLE_METHODS = (None, "none", "client_secret_basic", "client_secret_post")


def _unusable(answer: dict[str, Any]) -> str | None:
    """Why the registered client in ``answer`` (RFC 7591 §3.2.1: the server may change what was
    asked) cannot sign a person in with this tool, or None. Absent fields are fine. Printable
    ASCII of ours (a method name the server sent is shown only when it is a short VSCHAR)."""
    method, secret = answer.get("token_endpoint_auth_method"), answer.get("client_secret")
    if method not in _USABLE_METHODS:
        shown = method if isinstance(method, str) and _CLIENT_ID.fullmatch(method) else "?"
        return f"it must authenticate with {shown[:40]}, which this tool does not do"
    if method in ("client_secret_basic", "client_secret_post") and not (
        isinstance(secret, str) and secret
    ):
        return f"it must authenticate with {method} but the answer holds no client_secret"
    for name, needed in (("grant_types", "authorization_code"), ("response_types", "code")):
        listed = answer.get(name)
        if isinstance(listed, list) and needed not in listed:
            return f"its {name} leave out {needed}"
    return None


def _configuration(answer: dict[str, Any]) -> tuple[str | None, str | None]:
    """RFC 7592 §3's ``registration_client_uri`` and ``registration_access_token`` when both
    are usable (the URI passes :func:`.urls.check_endpoint`), else ``(None, None)``."""
    uri, token = answer.get("registration_client_uri"), answer.get("registration_access_token")
    if not isinstance(uri, str) or not isinstance(token, str) or not _TOKEN.fullmatch(token):
        return None, None
    try:
        check_endpoint(uri, "registration_client_uri")
    except ConfigurationError:
        return None, None
    return uri, token


#: RFC 6750 §2.1 b64token: the registration access token is sent as a Bearer credential.
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def registration_known(registered: Registered, session: HTTP) -> bool | None:
    """RFC 7592 §2.1: whether the server still knows ``registered``: False when its
    configuration endpoint answers 401, 403 or 404 (§2.1: a client that no longer exists gets
    401), True for 200, None when it cannot tell (not offered, an outage, unreachable)."""
    if not registered.configuration_uri or not registered.configuration_token:
        return None
    try:
        answer = call(
            session,
            "GET",
            registered.configuration_uri,
            "read this client's registration",
            kind=REGISTRATION,
            bearer=registered.configuration_token,
        )
    except TokenEndpointError:
        return None
    log.debug("registration read at %s: HTTP %d", host_of(answer.url), answer.status)
    return True if answer.status == 200 else False if answer.status in (401, 403, 404) else None


def unregister(registered: Registered, session: HTTP) -> bool:
    """RFC 7592 §2.3: delete ``registered`` at the server; True when it answered 204 (or says
    it is already gone: 401, 404), False when not offered or it could not be done."""
    if not registered.configuration_uri or not registered.configuration_token:
        return False
    try:
        answer = call(
            session,
            "DELETE",
            registered.configuration_uri,
            "delete this client's registration",
            kind=REGISTRATION,
            bearer=registered.configuration_token,
        )
    except TokenEndpointError:
        return False
    return answer.status in (200, 204, 401, 404)
