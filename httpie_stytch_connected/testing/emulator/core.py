"""The emulator's configuration, shared state, lifecycle and URLs.

Each Stytch surface (authorize pages, token endpoint, metadata, ...) is a mixin over this core,
in the module named for it; they share the state below under one lock.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence
from typing import Any

from ..loopback import LoopbackService
from .keys import SigningKey
from .records import Access, Client, Code, Grant, M2MClient, Pending, Refresh
from .redirect_urls import check_registrable
from .wire import Response, Server

STANDARD_SCOPES = ("openid", "profile", "email", "phone", "offline_access")
#: The fixture user's password (a test fixture, not a secret).
FIXTURE_PHRASE = "correct horse"

COUNTER_NAMES = (
    "authorize_page",
    "login",
    "login_failed",
    "consent",
    "codes_issued",
    "token_requests",
    "token_authorization_code",
    "token_refresh",
    "token_refresh_ok",
    "token_gone",
    "token_client_credentials",
    "token_errors",
    "token_faults",
    "revoke",
    "introspect",
    "userinfo",
    "metadata",
    "register",
    "register_errors",
    "clients_registered",
    "registration_read",
    "registration_delete",
    "client_document_fetch",
)
#: Where Stytch's token endpoint is (the ``token_path`` switch moves it).
TOKEN_PATH = "/v1/oauth2/token"
#: Forms of the ``iss`` authorization-response parameter (RFC 9207) the emulator can send.
ISS_FORMS = ("default_domain", "custom_domain", "none")
#: How a client may authenticate at the token and revocation endpoints (RFC 6749 §2.3.1).
SECRET_METHODS = ("client_secret_basic", "client_secret_post")


class EmulatorCore(LoopbackService):
    """State and lifecycle shared by every emulated Stytch surface."""

    thread_name = "stytch-emulator"

    def __init__(
        self,
        *,
        project_id: str = "project-test-00000000-0000-0000-0000-000000000000",
        client_id: str = "connected-app-test-00000000-0000-0000-0000-000000000000",
        access_token_ttl: int = 3600,
        code_ttl: int = 300,
        refresh_token_ttl: int = 90 * 86400,
        consent_required_for_offline_access: bool = True,
        user_id: str = "user-test-00000000-0000-0000-0000-000000000000",
        email: str = "ada@example.com",
        password: str = FIXTURE_PHRASE,
        name: str = "Ada Lovelace",
        redirect_uris: Sequence[str] = ("http://127.0.0.1/callback",),
        custom_scopes: Sequence[str] = ("read:data", "write:data"),
        log_requests: bool = False,
        dcr_enabled: bool = True,
        max_connected_apps: int = 10,
        iss_form: str = "default_domain",
    ) -> None:
        """``dcr_enabled``: Dynamic Client Registration is on (opt-in per project at Stytch);
        ``max_connected_apps``: the cap on confidential registrations; ``iss_form``: the
        authorization response's ``iss`` (see :data:`ISS_FORMS`): Stytch's default domain sends
        ``stytch.com/{project_id}``, a custom domain sends the issuer URL."""
        if iss_form not in ISS_FORMS:
            raise ValueError(f"iss_form must be one of {ISS_FORMS}")
        for uri in redirect_uris:
            check_registrable(uri)
        self.project_id = project_id
        self.client_id = client_id
        self.access_token_ttl = access_token_ttl
        self.code_ttl = code_ttl
        self.refresh_token_ttl = refresh_token_ttl
        self.consent_required_for_offline_access = consent_required_for_offline_access
        self.user_id = user_id
        self.email = email
        self.password = password
        self.name = name
        self.redirect_uris = tuple(redirect_uris)
        self.scopes_supported = tuple(STANDARD_SCOPES) + tuple(custom_scopes)
        self.log_requests = log_requests
        self.dcr_enabled = dcr_enabled
        self.max_connected_apps = max_connected_apps
        self.iss_form = iss_form
        #: ``(request, resource)`` for every authorization, code and refresh request (RFC 8707),
        #: request being "authorize", "authorization_code" or "refresh_token".
        self.resources_seen: list[tuple[str, str | None]] = []
        #: ``(client_id, redirect_uri)`` of every authorization request that named both.
        self.authorization_requests: list[tuple[str, str]] = []
        #: Seconds a "slow" token fault waits before answering.
        self.slow_seconds = 5.0
        #: Lifetime of M2M access tokens (Stytch: one hour).
        self.m2m_access_token_ttl = 3600
        #: Switch: ``None`` honours the ``token_endpoint_auth_method`` a registration asks for;
        #: ``"client_secret_basic"`` or ``"client_secret_post"`` answers every registration with
        #: a confidential client (a ``client_secret``) using that method.
        self.registration_auth_method: str | None = None
        #: Switch: ``token_endpoint_auth_methods_supported`` in the metadata; ``None`` means
        #: ``[registration_auth_method]`` when that is set, else :data:`.metadata.AUTH_METHODS`
        #: (Stytch's documented two, and ``none`` for the public clients it accepts).
        self.token_endpoint_auth_methods: Sequence[str] | None = None
        #: Switch: ``code_challenge_methods_supported`` in the metadata (RFC 8414 §2); ``None``
        #: leaves the field out. The authorize page keeps requiring S256 either way.
        self.code_challenge_methods: Sequence[str] | None = ("S256",)
        #: Switch: RFC 7592 client configuration: registration answers carry
        #: ``registration_client_uri`` and ``registration_access_token``, and that URI answers
        #: GET (the client) and DELETE (204, the client is gone); 401 once it is gone.
        self.client_configuration = False
        #: Switch: fields merged into every registration answer (a server that changes what
        #: was asked, RFC 7591 §3.2.1), e.g. ``{"grant_types": ["client_credentials"]}``.
        self.registration_answer_extra: dict[str, Any] = {}
        #: Switch: registration answers leave ``token_endpoint_auth_method`` out (RFC 7591 §2:
        #: a client with a secret then uses ``client_secret_basic``).
        self.registration_omits_auth_method = False
        #: Switch: the error the token endpoint answers for a client it does not know (a
        #: pruned registration): ``"invalid_client"`` (401, Stytch) or ``"invalid_grant"``
        #: (400, as some servers answer a refresh by a deleted client).
        self.unknown_client_error = "invalid_client"
        #: Switch: the revocation endpoint answers 503 (a provider outage) and revokes nothing.
        self.revocation_unavailable = False
        #: Switch: a confidential client must authenticate with the method it was created or
        #: registered with (Stytch itself accepts either, so this is off by default).
        self.strict_client_auth_method = False
        #: Switch: client ID metadata documents (CIMD, :mod:`.client_documents`): advertised in
        #: the metadata, and a ``client_id`` that is a document's URL is fetched and used.
        self.client_id_metadata_documents = True
        #: Switch: a refresh by a confidential client (no rotation) answers with the same
        #: ``refresh_token``; ``False`` leaves the field out of the answer.
        self.confidential_refresh_returns_token = True
        #: Switch: the token endpoint's path; another one moves it (the metadata names the new
        #: one and ``/v1/oauth2/token`` answers 404), as a server that moved its endpoint does.
        self.token_path = TOKEN_PATH
        #: Switch: every token request answers 404, though the metadata still names the
        #: endpoint (a server whose token endpoint is gone).
        self.token_gone = False
        #: Set: access tokens from a refresh carry this ``aud`` instead of the project ID, as a
        #: server that issues another audience on scope-less refreshes does (APIs refuse them).
        self.refreshed_token_audience: str | None = None
        #: ``(endpoint, client_id, method)`` for every client authentication seen, endpoint
        #: being "token" or "revoke", method "none", "client_secret_basic" or
        #: "client_secret_post". Never the secret.
        self.client_auth_seen: list[tuple[str, str, str]] = []

        self._lock = threading.RLock()
        self._stopped = threading.Event()
        self._keys = SigningKey()

        self._pending: dict[str, Pending] = {}
        self._codes: dict[str, Code] = {}
        self._refresh: dict[str, Refresh] = {}
        self._refresh_order: list[str] = []
        self._access: dict[str, Access] = {}
        self._faults: list[str] = []
        self._counters: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)
        self._clients: dict[str, Client] = {}
        self._m2m_clients: dict[str, M2MClient] = {}
        #: RFC 7592 registration access tokens by client ID.
        self._configuration_tokens: dict[str, str] = {}

    # ------------------------------------------------------------------ lifecycle

    def _route(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Response:
        raise NotImplementedError

    def _bind(self) -> Server:
        return Server(self)

    def stop(self) -> None:
        """Shut the server down and join its thread; safe to call more than once."""
        self._stopped.set()  # wakes a "slow" token fault first
        super().stop()

    # ------------------------------------------------------------------ URLs

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT``; also the project domain and issuer."""
        return self.origin

    @property
    def project_domain(self) -> str:
        return self.url

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def legacy_issuer(self) -> str:
        """The scheme-less issuer real Stytch uses on ``/v1/public/{project_id}/...``."""
        return f"stytch.com/{self.project_id}"

    @property
    def authorize_url(self) -> str:
        return self.url + "/oauth/authorize"

    @property
    def token_endpoint(self) -> str:
        return self.url + self.token_path

    @property
    def legacy_token_endpoint(self) -> str:
        return self.url + f"/v1/public/{self.project_id}/oauth2/token"

    @property
    def m2m_token_endpoint(self) -> str:
        """``/v1/m2m/token`` (Stytch's B2B M2M overview); M2M clients may equally use
        :attr:`token_endpoint` or :attr:`legacy_token_endpoint` (Stytch's M2M reference)."""
        return self.url + "/v1/m2m/token"

    @property
    def jwks_uri(self) -> str:
        return self.url + "/.well-known/jwks.json"

    @property
    def revocation_endpoint(self) -> str:
        return self.url + "/v1/oauth2/revoke"

    @property
    def introspection_endpoint(self) -> str:
        return self.url + "/v1/oauth2/introspect"

    @property
    def userinfo_endpoint(self) -> str:
        return self.url + "/v1/oauth2/userinfo"

    @property
    def public_jwk(self) -> dict[str, Any]:
        return self._keys.public_jwk

    @property
    def jwks(self) -> dict[str, Any]:
        return self._keys.jwks

    # ------------------------------------------------------------------ shared helpers

    def _issuers(self) -> tuple[str, str]:
        return (self.issuer, self.legacy_issuer)

    def _client(self, client_id: str | None) -> Client | None:
        """The client called ``client_id``; the first-party one follows ``redirect_uris``."""
        if client_id == self.client_id:
            return Client(self.client_id, self.redirect_uris)
        with self._lock:
            known = self._clients.get(client_id or "")
        if known is None and client_id and self.client_id_metadata_documents:
            return self._document_client(client_id)
        return known

    def _document_client(self, url: str) -> Client | None:
        """The client a metadata document at ``url`` describes (fetched now), or None."""
        from .client_documents import document_client, fetch_document, is_document_url

        if not is_document_url(url):
            return None
        self._count("client_document_fetch")
        document = fetch_document(url)
        return document_client(url, document) if document is not None else None

    def _record_resource(self, request: str, resource: str | None) -> None:
        """RFC 8707: Stytch's documents never mention ``resource``; it is accepted, ignored
        (tokens keep ``aud = [project_id]``) and remembered for the tests."""
        with self._lock:
            self.resources_seen.append((request, resource))

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + n

    def _user_claims(self, scopes: Sequence[str]) -> dict[str, Any]:
        claims: dict[str, Any] = {}
        if "email" in scopes:
            claims["email"] = self.email
            claims["email_verified"] = True
        if "profile" in scopes:
            claims["name"] = self.name
        return claims

    def _new_refresh_token(self, grant: Grant, now: float) -> str:
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._refresh[token] = Refresh(grant, now, now + self.refresh_token_ttl)
            self._refresh_order.append(token)
        return token

    def _revoke_grant(self, grant_id: str) -> None:
        """Revoking a refresh token revokes its grant: every token issued under it."""
        with self._lock:
            for record in self._refresh.values():
                if record.grant.grant_id == grant_id:
                    record.revoked = True
            for access in self._access.values():
                if access.grant_id == grant_id:
                    access.revoked = True
