"""Stytch's Dynamic Client Registration endpoint, ``POST /v1/oauth2/register`` (RFC 7591).

Stytch rules enforced here: registration is opt-in per project (the ``dcr_enabled`` knob); the
body is JSON with no authorization; ``redirect_uris`` is required and each URL follows the
redirect rules (see ``redirect_urls``); ``token_endpoint_auth_method`` is ``none`` (the default:
a third-party public client), ``client_secret_post`` or ``client_secret_basic`` (a third-party
confidential client with a secret); every client gets ``grant_types
["authorization_code", "refresh_token"]`` and ``response_types ["code"]``, PKCE required.
Identical public registrations are de-duplicated (the same ``client_id`` comes back); every
confidential registration makes a new client and counts against a cap
(``too_many_connected_apps``). Errors carry Stytch's fields and RFC 7591's ``error``.

Switch ``registration_auth_method`` (``"client_secret_basic"`` or ``"client_secret_post"``):
every registration is answered with a confidential client using that method, whatever the
request asked (a server that offers only secret-based methods). Switch
``registration_omits_auth_method``: the answer leaves ``token_endpoint_auth_method`` out.
Switch ``client_configuration``: RFC 7592 (read and delete a registration at
``registration_client_uri`` with its ``registration_access_token``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from typing import Any

from .core import EmulatorCore
from .errors import OAuthError, oauth_error_response
from .records import Client
from .redirect_urls import registrable_error
from .wire import Response, decode_json_object, header, json_response, request_id

_AUTH_METHODS = ("none", "client_secret_post", "client_secret_basic")


def _metadata_error(message: str) -> OAuthError:
    return OAuthError(400, "invalid_client_metadata", "invalid_client_metadata", message)


def _strings(body: dict[str, Any], name: str) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _metadata_error(f"{name} must be a list of strings.")
    return list(value)


class Registration(EmulatorCore):
    @property
    def registration_endpoint(self) -> str:
        return self.url + "/v1/oauth2/register"

    def _register(self, headers: dict[str, str], body: bytes) -> Response:
        self._count("register")
        try:
            return json_response(200, self._register_inner(headers, body))
        except OAuthError as err:
            self._count("register_errors")
            return oauth_error_response(err)

    def _register_inner(self, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        if not self.dcr_enabled:
            raise OAuthError(
                403,
                "dynamic_client_registration_not_enabled",
                "access_denied",
                "Dynamic Client Registration is not enabled for this project.",
            )
        ctype = header(headers, "content-type").split(";", 1)[0].strip().lower()
        if ctype != "application/json":
            raise _metadata_error("The registration request must be application/json.")
        try:
            request = decode_json_object(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise _metadata_error("The registration request is not a JSON object.") from None
        redirect_uris = _strings(request, "redirect_uris")
        if not redirect_uris:
            raise OAuthError(
                400, "invalid_redirect_uri", "invalid_redirect_uri", "redirect_uris is required."
            )
        for uri in redirect_uris:
            problem = registrable_error(uri)
            if problem is not None:
                raise OAuthError(
                    400, problem, "invalid_redirect_uri", f"Invalid redirect URL: {uri}"
                )
        method = request.get("token_endpoint_auth_method", "none")
        if method not in _AUTH_METHODS:
            raise _metadata_error(f"token_endpoint_auth_method must be one of {_AUTH_METHODS}.")
        if self.registration_auth_method is not None:
            method = self.registration_auth_method
        for field, allowed in (
            ("grant_types", {"authorization_code", "refresh_token"}),
            ("response_types", {"code"}),
        ):
            asked = _strings(request, field)
            if asked is not None and not set(asked) <= allowed:
                raise _metadata_error(f"{field} may only contain {sorted(allowed)}.")
        given = request.get("client_name")
        client_name = given if isinstance(given, str) and given else "Dynamically registered client"
        public = method == "none"
        fingerprint = hashlib.sha256(
            json.dumps([client_name, sorted(redirect_uris)]).encode()
        ).hexdigest()
        with self._lock:
            if public:
                existing = next(
                    (c for c in self._clients.values() if c.fingerprint == fingerprint), None
                )
                if existing is not None:
                    return self._registration_body(existing)
            elif sum(1 for c in self._clients.values() if c.secret) >= self.max_connected_apps:
                raise OAuthError(
                    400,
                    "too_many_connected_apps",
                    "invalid_client_metadata",
                    "This project has reached its limit of Connected Apps.",
                )
            client = Client(
                client_id=f"connected-app-test-{uuid.uuid4()}",
                redirect_uris=tuple(redirect_uris),
                client_type="third_party_public" if public else "third_party",
                client_name=client_name,
                auth_method=method,
                secret=None if public else secrets.token_urlsafe(32),
                fingerprint=fingerprint if public else None,
            )
            self._clients[client.client_id] = client
            self._counters["clients_registered"] += 1
        return self._registration_body(client)

    def _registration_body(self, client: Client) -> dict[str, Any]:
        body: dict[str, Any] = {
            "client_id": client.client_id,
            "client_name": client.client_name,
            "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": list(client.redirect_uris),
            "response_types": ["code"],
            "token_endpoint_auth_method": client.auth_method,
            "request_id": request_id(),
            "status_code": 200,
        }
        if client.secret:
            body["client_secret"] = client.secret
        body.update(self.registration_answer_extra)
        if self.registration_omits_auth_method:
            del body["token_endpoint_auth_method"]
        if self.client_configuration:
            with self._lock:
                token = self._configuration_tokens.setdefault(
                    client.client_id, secrets.token_urlsafe(32)
                )
            body["registration_client_uri"] = f"{self.registration_endpoint}/{client.client_id}"
            body["registration_access_token"] = token
        return body

    def _client_configuration(
        self, method: str, client_id: str, headers: dict[str, str]
    ) -> Response:
        """RFC 7592 §2.1 (GET) and §2.3 (DELETE) with the registration access token; 401
        ``invalid_token`` for a client that is gone or a wrong token (§2.1)."""
        self._count("registration_read" if method == "GET" else "registration_delete")
        scheme, _, token = header(headers, "authorization").partition(" ")
        with self._lock:
            expected = self._configuration_tokens.get(client_id)
            client = self._clients.get(client_id)
            known = (
                client is not None
                and expected is not None
                and scheme.lower() == "bearer"
                and secrets.compare_digest(token.strip().encode(), expected.encode())
            )
            if known and method == "DELETE":
                self._clients.pop(client_id, None)
                self._configuration_tokens.pop(client_id, None)
        if not known or client is None:
            return json_response(
                401,
                {"error": "invalid_token", "status_code": 401, "request_id": request_id()},
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if method == "DELETE":
            return Response(204, b"", "application/json")
        return json_response(200, self._registration_body(client))
