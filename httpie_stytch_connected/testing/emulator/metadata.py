"""Stytch's authorization-server metadata (OpenID Discovery and RFC 8414 documents).

Served at ``/.well-known/openid-configuration`` and ``/.well-known/oauth-authorization-server``
on the project domain, and under ``/v1/public/{project_id}`` with the legacy issuer.

``code_challenge_methods_supported`` follows the ``code_challenge_methods`` switch (default
``["S256"]``; ``None`` leaves it out). ``token_endpoint_auth_methods_supported`` follows the
``token_endpoint_auth_methods`` switch (default :data:`AUTH_METHODS`, or
``[registration_auth_method]`` when that switch is set).
``client_id_metadata_document_supported`` follows the ``client_id_metadata_documents`` switch
(on by default, as at Stytch).
"""

from __future__ import annotations

from typing import Any

from .core import EmulatorCore

#: What Stytch's discovery document lists (``client_secret_basic``, ``client_secret_post``),
#: and ``none``, which it leaves out although it accepts public clients with PKCE: a client
#: that only the metadata kept from sending its secret would fail here and not at Stytch.
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")


class Metadata(EmulatorCore):
    def _discovery(self, issuer: str) -> dict[str, Any]:
        self._count("metadata")
        document: dict[str, Any] = {
            "issuer": issuer,
            "authorization_endpoint": self.authorize_url,
            "token_endpoint": self.token_endpoint,
            "jwks_uri": self.jwks_uri,
            "userinfo_endpoint": self.userinfo_endpoint,
            "revocation_endpoint": self.revocation_endpoint,
            "introspection_endpoint": self.introspection_endpoint,
            "scopes_supported": list(self.scopes_supported),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": self._auth_methods_supported(),
            "id_token_signing_alg_values_supported": ["RS256"],
            "subject_types_supported": ["public"],
        }
        if self.code_challenge_methods is not None:
            document["code_challenge_methods_supported"] = list(self.code_challenge_methods)
        if self.dcr_enabled:
            document["registration_endpoint"] = self.url + "/v1/oauth2/register"
        if self.client_id_metadata_documents:
            document["client_id_metadata_document_supported"] = True
        return document

    def _auth_methods_supported(self) -> list[str]:
        if self.token_endpoint_auth_methods is not None:
            return list(self.token_endpoint_auth_methods)
        if self.registration_auth_method is not None:
            return [self.registration_auth_method]
        return list(AUTH_METHODS)
