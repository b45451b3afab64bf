"""A loopback emulator of Stytch Connected Apps, for tests that need a real OAuth server.

It plays both halves of a Stytch deployment: the customer's web app page that mounts
``<IdentityProvider/>`` (``/oauth/authorize``, with a login form and a consent page) and the
Stytch project domain (token, discovery, JWKS, revocation, introspection and userinfo
endpoints) and Stytch's M2M token endpoint. Behaviour follows the documented Stytch rules:
PKCE S256 only, loopback redirect URLs registered without a port match any port,
``localhost`` is refused, public clients' refresh tokens rotate on every use (confidential
clients' do not), and errors carry both the Stytch and the RFC 6749 error fields.

Machines and confidential clients (see ``admin``, ``client_auth`` and ``token_endpoint``)::

    creds = emulator.create_m2m_client(["read:data"])     # client_id, client_secret, scopes
    requests.post(emulator.token_endpoint, auth=(creds.client_id, creds.client_secret),
                  data={"grant_type": "client_credentials"})   # or JSON with both in the body
    app = emulator.create_connected_app("first_party")    # a confidential Connected App

``legacy_token_endpoint`` and ``m2m_token_endpoint`` take M2M requests too. Switches (plain
attributes, set them at any time): ``registration_auth_method`` (registration answers with a
confidential client), ``token_endpoint_auth_methods`` (what the metadata advertises),
``strict_client_auth_method``, ``confidential_refresh_returns_token``,
``m2m_access_token_ttl``, ``client_id_metadata_documents`` (on: a ``client_id`` that is the
https URL of a client ID metadata document is fetched and used, as at Stytch), ``token_path``
(moves the token endpoint: the old path answers 404), ``token_gone`` (every token request
answers 404);
``client_auth_seen`` records how each client authenticated.

Each Stytch surface lives in the module named for it: ``authorize`` (sign-in and consent
pages), ``token_endpoint``, ``token_management`` (revoke, introspect, userinfo), ``metadata``,
``registration`` (Dynamic Client Registration), ``client_documents`` (CIMD), ``client_auth``
(client secrets), ``keys``, ``redirect_urls``, ``errors``,
``admin`` (test knobs) and ``example_api`` (a resource server announcing itself per RFC 9728).
This module only routes.

The emulator never logs tokens, codes or verifiers.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from .admin import AdminKnobs
from .authorize import AuthorizePages
from .core import FIXTURE_PHRASE, TOKEN_PATH
from .example_api import example_api
from .metadata import Metadata
from .records import ClientCredentials, CounterSnapshot
from .registration import Registration
from .token_endpoint import TOKEN_FAULT_KINDS, TokenEndpoint
from .token_management import TokenManagement
from .wire import Response, json_response

__all__ = [
    "FIXTURE_PHRASE",
    "TOKEN_FAULT_KINDS",
    "ClientCredentials",
    "CounterSnapshot",
    "StytchEmulator",
    "example_api",
]

_KNOWN_PATHS = frozenset(
    {
        "/oauth/authorize",
        "/oauth/authorize/login",
        "/oauth/authorize/consent",
        "/v1/oauth2/token",
        "/v1/oauth2/revoke",
        "/v1/oauth2/introspect",
        "/v1/oauth2/register",
        "/v1/m2m/token",
    }
)


class StytchEmulator(
    AuthorizePages, TokenEndpoint, TokenManagement, Registration, Metadata, AdminKnobs
):
    """Stytch Connected Apps on 127.0.0.1: one first-party public client, any number made by
    Dynamic Client Registration or ``create_connected_app``, and M2M clients made by
    ``create_m2m_client``.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. All state lives in
    memory and is guarded by one lock, so tests may call the control methods while requests
    are being served.
    """

    def _route(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Response:
        legacy_prefix = f"/v1/public/{self.project_id}"
        legacy = path.startswith(legacy_prefix + "/")
        rest = path[len(legacy_prefix) :] if legacy else path
        api_path = "/v1" + rest if legacy else path
        issuer = self.legacy_issuer if legacy else self.issuer
        if path == "/oauth/authorize" and method == "GET":
            return self._authorize_page(query)
        if path == "/oauth/authorize/login" and method == "POST":
            return self._login(headers, body)
        if path == "/oauth/authorize/consent" and method == "POST":
            return self._consent(headers, body)
        if (
            rest
            in (
                "/.well-known/openid-configuration",
                "/.well-known/oauth-authorization-server",
            )
            and method == "GET"
        ):
            return json_response(200, self._discovery(issuer))
        if (
            path in ("/.well-known/jwks.json", f"/v1/sessions/jwks/{self.project_id}")
            and method == "GET"
        ):
            return json_response(200, self.jwks)
        if self.token_gone and path == self.token_path and method == "POST":
            self._count("token_gone")
            with self._lock:  # a "slow" fault slows the 404 too, so that others queue behind it
                slow = self._faults[:1] == ["slow"] and bool(self._faults.pop(0))
            if slow:
                self._stopped.wait(self.slow_seconds)
            return json_response(404, {"status_code": 404, "error_type": "not_found"})
        if path == self.token_path != TOKEN_PATH and method == "POST":
            return self._token(headers, body, issuer)
        if api_path == TOKEN_PATH and method == "POST":
            if self.token_path != TOKEN_PATH and not legacy:  # moved: nothing here any more
                self._count("token_gone")
                return json_response(404, {"status_code": 404, "error_type": "not_found"})
            return self._token(headers, body, issuer)
        if path == "/v1/m2m/token" and method == "POST":
            return self._token(headers, body, self.legacy_issuer, m2m_only=True)
        if api_path == "/v1/oauth2/revoke" and method == "POST":
            return self._revoke(headers, body)
        if api_path == "/v1/oauth2/introspect" and method == "POST":
            return self._introspect(headers, body)
        if api_path == "/v1/oauth2/userinfo" and method in ("GET", "POST"):
            return self._userinfo(headers)
        if path == "/v1/oauth2/register" and method == "POST":
            return self._register(headers, body)
        configured = path.removeprefix("/v1/oauth2/register/")
        if configured != path and self.client_configuration and method in ("GET", "DELETE"):
            return self._client_configuration(method, configured, headers)
        if api_path in _KNOWN_PATHS:
            return json_response(405, {"status_code": 405, "error_type": "method_not_allowed"})
        return json_response(404, {"status_code": 404, "error_type": "not_found"})


def _main() -> int:
    """Run an emulator in the foreground; handy for trying a client by hand."""
    import argparse

    parser = argparse.ArgumentParser(description="Run a Stytch Connected Apps emulator.")
    parser.add_argument("--redirect-uri", action="append", default=None)
    args = parser.parse_args()
    kwargs: dict[str, Any] = {"log_requests": True}
    if args.redirect_uri:
        kwargs["redirect_uris"] = tuple(args.redirect_uri)
    with StytchEmulator(**kwargs) as emulator:
        print(f"issuer={emulator.issuer}", flush=True)
        print(f"authorize_url={emulator.authorize_url}", flush=True)
        print(f"client_id={emulator.client_id}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0
