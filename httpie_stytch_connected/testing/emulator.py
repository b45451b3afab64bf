"""A loopback emulator of Stytch Connected Apps, for tests that need a real OAuth server.

It plays both halves of a Stytch deployment: the customer's web app page that mounts
``<IdentityProvider/>`` (``/oauth/authorize``, with a login form and a consent page) and the
Stytch project domain (token, discovery, JWKS, revocation, introspection and userinfo
endpoints). Behaviour follows the documented Stytch rules: PKCE S256 only, loopback redirect
URLs registered without a port match any port, ``localhost`` is refused, refresh tokens
rotate on every use, and errors carry both the Stytch and the RFC 6749 error fields.

The emulator never logs tokens, codes or verifiers.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import re
import secrets
import socket
import struct
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["TOKEN_FAULT_KINDS", "CounterSnapshot", "StytchEmulator"]

#: Fault kinds accepted by :meth:`StytchEmulator.inject_token_fault`.
TOKEN_FAULT_KINDS = frozenset(
    {"500", "503", "html", "not_json", "no_access_token", "slow", "reset"}
)

STANDARD_SCOPES = ("openid", "profile", "email", "phone", "offline_access")
DEFAULT_SCOPE = "openid email profile"
#: The fixture user's password (a test fixture, not a secret).
FIXTURE_PHRASE = "correct horse"

_MAX_BODY = 64 * 1024
_PENDING_TTL = 600.0
_ID_TOKEN_TTL = 3600
_VERIFIER_RE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_CHALLENGE_RE = re.compile(r"[A-Za-z0-9\-_]{43}")
_SCOPE_TOKEN_RE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_COUNTER_NAMES = (
    "authorize_page",
    "login",
    "login_failed",
    "consent",
    "codes_issued",
    "token_requests",
    "token_authorization_code",
    "token_refresh",
    "token_refresh_ok",
    "token_errors",
    "token_faults",
    "revoke",
    "introspect",
    "userinfo",
)


def _b64url_sha256(value: str) -> str:
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _request_id() -> str:
    return f"request-id-test-{uuid.uuid4()}"


def _strip_query(path: str) -> str:
    """Drop query and fragment so that nothing secret reaches a log line."""
    return path.split("?", 1)[0].split("#", 1)[0]


def _is_localhost(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host == "localhost" or host.endswith(".localhost")


def _is_loopback_ip(host: str) -> bool:
    return host == "::1" or host.startswith("127.")


class CounterSnapshot(dict[str, int]):
    """A copy of the counters; also callable, so ``emulator.counters()`` reads the same."""

    def __call__(self) -> dict[str, int]:
        return dict(self)


class _OAuthError(Exception):
    """A token-endpoint error; rendered with both Stytch and RFC 6749 fields."""

    def __init__(
        self, status: int, error_type: str, error: str, message: str, *, www_auth: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.error = error
        self.message = message
        self.www_auth = www_auth


class _PageError(Exception):
    """An authorize-page error that must be shown to the person, not redirected."""

    def __init__(self, error_type: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False


@dataclass
class _Pending:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str
    force_consent: bool
    created: float
    authenticated: bool = False


@dataclass
class _Grant:
    """One user authorization; refresh tokens and access tokens descend from it."""

    grant_id: str
    client_id: str
    sub: str
    scopes: tuple[str, ...]
    auth_time: int


@dataclass
class _Code:
    grant: _Grant
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    expires_at: float
    used: bool = False


@dataclass
class _Refresh:
    grant: _Grant
    issued_at: float
    expires_at: float
    used: bool = False
    revoked: bool = False


@dataclass
class _Access:
    grant_id: str
    revoked: bool = False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, emulator: StytchEmulator) -> None:
        self.emulator = emulator
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback; print only the type so nothing secret can leak.
        exc = sys.exc_info()[1]
        if self.emulator.log_requests:
            print(f"stytch-emulator: handler error {type(exc).__name__}", file=sys.stderr)


class _Handler(BaseHTTPRequestHandler):
    server_version = "StytchEmulator/0.1"
    sys_version = ""
    timeout = 30

    @property
    def emulator(self) -> StytchEmulator:
        return cast(_Server, self.server).emulator

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines carry codes and states in the query string: log method and path only.
        if self.emulator.log_requests:
            command = getattr(self, "command", None) or "-"
            path = _strip_query(getattr(self, "path", None) or "-")
            print(f"stytch-emulator: {command} {path}", file=sys.stderr)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding"):
            self._write(_Response(411, b"length required", "text/plain"))
            return None
        raw = self.headers.get("Content-Length", "0") or "0"
        try:
            length = int(raw)
        except ValueError:
            length = -1
        if length < 0 or length > _MAX_BODY:
            self.close_connection = True
            self._write(_Response(413, b"request body too large", "text/plain"))
            return None
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        body = b""
        if method == "POST":
            read = self._read_body()
            if read is None:
                return
            body = read
        try:
            response = self.emulator._route(
                method, split.path, split.query, dict(self.headers.items()), body
            )
        except Exception:
            response = _Response(
                500,
                json.dumps({"status_code": 500, "error_type": "internal_server_error"}).encode(),
            )
        self._write(response)

    def _write(self, response: _Response) -> None:
        if response.reset:
            self.close_connection = True
            linger = struct.pack("HH" if sys.platform == "win32" else "ii", 1, 0)
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Pragma", "no-cache")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)


def _json(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> _Response:
    return _Response(status, json.dumps(payload).encode(), "application/json", headers or {})


_PAGE_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}"
    "label,input,button{display:block;margin:.4rem 0}input{width:100%}"
    ".error{color:#a00}"
)


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_PAGE_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


class StytchEmulator:
    """Stytch Connected Apps on 127.0.0.1, for one first-party public client.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. All state lives in
    memory and is guarded by one lock, so tests may call the control methods while requests
    are being served.
    """

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
    ) -> None:
        for uri in redirect_uris:
            self._check_registrable(uri)
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
        #: Seconds a "slow" token fault waits before answering.
        self.slow_seconds = 5.0

        self._lock = threading.RLock()
        self._stopped = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

        self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._kid = f"jwk-test-{uuid.uuid4()}"
        jwk: dict[str, Any] = dict(
            jwt.algorithms.RSAAlgorithm.to_jwk(self._private_key.public_key(), as_dict=True)
        )
        jwk.update({"kid": self._kid, "alg": "RS256", "use": "sig"})
        self._public_jwk = jwk

        self._pending: dict[str, _Pending] = {}
        self._codes: dict[str, _Code] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._refresh_order: list[str] = []
        self._access: dict[str, _Access] = {}
        self._faults: list[str] = []
        self._counters: dict[str, int] = dict.fromkeys(_COUNTER_NAMES, 0)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> StytchEmulator:
        """Bind an OS-assigned port on 127.0.0.1 and serve from a daemon thread."""
        with self._lock:
            if self._server is not None or self._stopped.is_set():
                raise RuntimeError("StytchEmulator can only be started once")
            self._server = _Server(self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="stytch-emulator",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down and join its thread; safe to call more than once."""
        with self._lock:
            server, thread = self._server, self._thread
            already = self._stopped.is_set()
            self._stopped.set()
        if already or server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> StytchEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ URLs

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT``; also the project domain and issuer."""
        if self._server is None:
            raise RuntimeError("StytchEmulator is not started")
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

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
        return self.url + "/v1/oauth2/token"

    @property
    def legacy_token_endpoint(self) -> str:
        return self.url + f"/v1/public/{self.project_id}/oauth2/token"

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
        return dict(self._public_jwk)

    @property
    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk]}

    # ------------------------------------------------------------------ test controls

    @property
    def counters(self) -> CounterSnapshot:
        """A snapshot of request counters (see ``_COUNTER_NAMES``)."""
        with self._lock:
            return CounterSnapshot(self._counters)

    def reset_counters(self) -> None:
        with self._lock:
            self._counters = dict.fromkeys(_COUNTER_NAMES, 0)

    def revoke_all(self) -> None:
        """Revoke every refresh and access token issued so far (the provider logs all out)."""
        with self._lock:
            for record in self._refresh.values():
                record.revoked = True
            for access in self._access.values():
                access.revoked = True

    def inject_token_fault(self, kind: str, count: int = 1) -> None:
        """Make the next ``count`` token-endpoint requests fail in the way named by ``kind``."""
        if kind not in TOKEN_FAULT_KINDS:
            raise ValueError(
                f"unknown fault kind {kind!r}; expected one of {sorted(TOKEN_FAULT_KINDS)}"
            )
        if count < 0:
            raise ValueError("count must be >= 0")
        with self._lock:
            self._faults.extend([kind] * count)

    def clear_token_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def rotate_refresh_token(self, old: str) -> str:
        """Use ``old`` as another client would: it becomes used and a new token is returned."""
        with self._lock:
            record = self._refresh.get(old)
            if record is None or record.revoked or record.used:
                raise ValueError("refresh token is not currently valid")
            record.used = True
            return self._new_refresh_token(record.grant, time.time())

    def issued_refresh_tokens(self) -> list[str]:
        """Every refresh token issued so far, oldest first (including used and revoked)."""
        with self._lock:
            return list(self._refresh_order)

    def verify_access_token(
        self, token: str, *, required_scope: str | None = None, check_revocation: bool = True
    ) -> dict[str, Any]:
        """Verify an access token like a resource server would and return its claims.

        Checks signature, issuer (either form), audience (project_id) and expiry, as the
        Stytch SDKs' local introspection does; also checks revocation unless told not to
        (a real local check cannot see revocations). Raises ``jwt.InvalidTokenError``
        subclasses or ``ValueError``.
        """
        claims = jwt.decode(
            token,
            self._private_key.public_key(),
            algorithms=["RS256"],
            audience=self.project_id,
            options={"require": ["aud", "iss", "exp", "iat", "nbf", "sub"]},
        )
        if claims.get("iss") not in self._issuers():
            raise jwt.InvalidIssuerError("Invalid issuer")
        if check_revocation:
            with self._lock:
                record = self._access.get(str(claims.get("jti", "")))
                if record is None or record.revoked:
                    raise ValueError("access token has been revoked or was not issued here")
        if required_scope is not None:
            granted = str(claims.get("scope", "")).split()
            if required_scope not in granted:
                raise ValueError(f"access token lacks required scope {required_scope!r}")
        return dict(claims)

    # ------------------------------------------------------------------ internals

    def _issuers(self) -> tuple[str, str]:
        return (self.issuer, self.legacy_issuer)

    @staticmethod
    def _check_registrable(uri: str) -> None:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        if parts.scheme not in ("http", "https") or not host:
            raise ValueError("redirect URL must be an absolute http(s) URL")
        if _is_localhost(host):
            raise ValueError("connected_app_redirect_url_cannot_use_localhost")
        if parts.scheme == "http" and not _is_loopback_ip(host):
            raise ValueError("connected_app_redirect_url_http_scheme_must_use_loopback")

    def _redirect_registered(self, candidate: str) -> bool:
        """Exact match, except that a registered URL without a port matches any port."""
        try:
            cand = urlsplit(candidate)
            cand_port = cand.port
        except ValueError:
            return False
        if cand.fragment or cand.username or cand.password:
            return False
        for registered in self.redirect_uris:
            if candidate == registered:
                return True
            reg = urlsplit(registered)
            if reg.port is not None:
                continue
            if cand_port is not None and not 0 < cand_port < 65536:
                continue
            if (
                cand.scheme.lower() == reg.scheme.lower()
                and (cand.hostname or "") == (reg.hostname or "").lower()
                and cand.path == reg.path
                and cand.query == reg.query
            ):
                return True
        return False

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + n

    def _route(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> _Response:
        legacy_prefix = f"/v1/public/{self.project_id}"
        legacy = path.startswith(legacy_prefix + "/")
        rest = path[len(legacy_prefix) :] if legacy else path
        api_path = "/v1" + rest if legacy else path
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
            return _json(200, self._discovery(self.legacy_issuer if legacy else self.issuer))
        if (
            path in ("/.well-known/jwks.json", f"/v1/sessions/jwks/{self.project_id}")
            and method == "GET"
        ):
            return _json(200, self.jwks)
        if api_path == "/v1/oauth2/token" and method == "POST":
            return self._token(headers, body, self.legacy_issuer if legacy else self.issuer)
        if api_path == "/v1/oauth2/revoke" and method == "POST":
            return self._revoke(headers, body)
        if api_path == "/v1/oauth2/introspect" and method == "POST":
            return self._introspect(headers, body)
        if api_path == "/v1/oauth2/userinfo" and method in ("GET", "POST"):
            return self._userinfo(headers)
        known = {
            "/oauth/authorize",
            "/oauth/authorize/login",
            "/oauth/authorize/consent",
            "/v1/oauth2/token",
            "/v1/oauth2/revoke",
            "/v1/oauth2/introspect",
        }
        if api_path in known:
            return _json(405, {"status_code": 405, "error_type": "method_not_allowed"})
        return _json(404, {"status_code": 404, "error_type": "not_found"})

    def _discovery(self, issuer: str) -> dict[str, Any]:
        return {
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
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "subject_types_supported": ["public"],
        }

    # ---------------------------------------------------------- authorize pages

    @staticmethod
    def _html(status: int, title: str, body: str) -> _Response:
        return _Response(
            status,
            _page(title, body).encode("utf-8"),
            "text/html; charset=utf-8",
            {
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
                "X-Frame-Options": "DENY",
                "Referrer-Policy": "no-referrer",
            },
        )

    def _error_page(self, err: _PageError) -> _Response:
        return self._html(
            err.status,
            "Authorization error",
            "<h1>Authorization error</h1>"
            f'<p class="error" id="error" data-error-type="{html.escape(err.error_type)}">'
            f"{html.escape(err.message)}</p>",
        )

    @staticmethod
    def _redirect(redirect_uri: str, params: dict[str, str]) -> _Response:
        sep = "&" if "?" in redirect_uri else "?"
        location = redirect_uri + sep + urlencode(params)
        return _Response(
            302,
            b"",
            "text/plain",
            {"Location": location, "Referrer-Policy": "no-referrer"},
        )

    def _error_redirect(
        self, redirect_uri: str, state: str | None, error: str, description: str
    ) -> _Response:
        params = {"error": error, "error_description": description}
        if state is not None:
            params["state"] = state
        return self._redirect(redirect_uri, params)

    def _login_form(self, pending_id: str, email: str = "", error: str | None = None) -> _Response:
        error_html = (
            f'<p class="error" id="error" role="alert">{html.escape(error)}</p>' if error else ""
        )
        return self._html(
            200,
            "Sign in",
            "<h1>Sign in</h1>"
            f"<p>Sign in to continue to the application {html.escape(self.client_id)}.</p>"
            f"{error_html}"
            '<form method="post" action="/oauth/authorize/login" id="login-form">'
            f'<input type="hidden" name="pending_id" id="pending_id" '
            f'value="{html.escape(pending_id)}">'
            '<label for="email">Email</label>'
            f'<input type="email" name="email" id="email" autocomplete="username" '
            f'value="{html.escape(email)}">'
            '<label for="password">Password</label>'
            '<input type="password" name="password" id="password" '
            'autocomplete="current-password">'
            '<button type="submit" id="login">Sign in</button>'
            "</form>",
        )

    def _consent_page(self, pending_id: str, pending: _Pending) -> _Response:
        items = "".join(
            f'<li data-scope="{html.escape(s)}">{html.escape(s)}</li>' for s in pending.scopes
        )
        return self._html(
            200,
            "Allow access?",
            "<h1>Allow access?</h1>"
            f"<p>The application {html.escape(pending.client_id)} is asking to:</p>"
            f'<ul id="scopes">{items}</ul>'
            '<form method="post" action="/oauth/authorize/consent" id="consent-form">'
            f'<input type="hidden" name="pending_id" id="pending_id" '
            f'value="{html.escape(pending_id)}">'
            '<button type="submit" name="decision" value="approve" id="approve">Allow</button>'
            '<button type="submit" name="decision" value="deny" id="deny">Deny</button>'
            "</form>",
        )

    @staticmethod
    def _single(params: dict[str, list[str]], name: str) -> str | None:
        values = params.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise _PageError("invalid_request", f"Parameter {name} was given more than once.")
        return values[0]

    def _authorize_page(self, query: str) -> _Response:
        self._count("authorize_page")
        params = parse_qs(query, keep_blank_values=True)
        try:
            client_id = self._single(params, "client_id")
            redirect_uri = self._single(params, "redirect_uri")
            if not client_id:
                raise _PageError("invalid_request", "Required parameter is missing: client_id.")
            if not redirect_uri:
                raise _PageError("invalid_request", "Required parameter is missing: redirect_uri.")
            if client_id != self.client_id:
                raise _PageError("invalid_client_id", "Unknown client_id.", 401)
            host = urlsplit(redirect_uri).hostname or ""
            if _is_localhost(host):
                raise _PageError(
                    "connected_app_redirect_url_cannot_use_localhost",
                    "Redirect URLs cannot use localhost; use 127.0.0.1.",
                )
            if not self._redirect_registered(redirect_uri):
                raise _PageError(
                    "connected_app_supplied_redirect_url_not_found_in_client",
                    "The redirect URL supplied in the request is not registered to the client.",
                    401,
                )
            state = self._single(params, "state")
            nonce = self._single(params, "nonce")
            response_type = self._single(params, "response_type")
            scope = self._single(params, "scope")
            challenge = self._single(params, "code_challenge")
            method = self._single(params, "code_challenge_method")
            prompt = self._single(params, "prompt")
        except _PageError as err:
            return self._error_page(err)

        def fail(error: str, description: str) -> _Response:
            return self._error_redirect(redirect_uri, state, error, description)

        if response_type not in (None, "", "code"):
            return fail("unsupported_response_type", "Only response_type=code is supported.")
        if not challenge:
            return fail("invalid_request", "pkce_required_for_idp_authorization_flow")
        if method not in (None, "", "S256"):
            return fail("invalid_request", "Only code_challenge_method=S256 is supported.")
        if not _CHALLENGE_RE.fullmatch(challenge):
            return fail("invalid_request", "invalid_pkce_code_challenge")
        scopes = tuple(dict.fromkeys((scope or DEFAULT_SCOPE).split()))
        unknown = [s for s in scopes if s not in self.scopes_supported]
        if unknown or not all(_SCOPE_TOKEN_RE.fullmatch(s) for s in scopes):
            return fail("invalid_scope", "A requested scope is not supported.")
        prompts = (prompt or "").split()
        if "none" in prompts:
            return fail("login_required", "The user must sign in.")
        pending = _Pending(
            client_id=client_id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            state=state,
            nonce=nonce,
            code_challenge=challenge,
            force_consent="consent" in prompts,
            created=time.time(),
        )
        pending_id = secrets.token_urlsafe(24)
        with self._lock:
            self._prune_pending()
            self._pending[pending_id] = pending
        return self._login_form(pending_id)

    def _prune_pending(self) -> None:
        cutoff = time.time() - _PENDING_TTL
        for key in [k for k, p in self._pending.items() if p.created < cutoff]:
            del self._pending[key]

    @staticmethod
    def _form(headers: dict[str, str], body: bytes) -> dict[str, str]:
        """Decode a form or JSON body; repeated or non-string fields are refused."""
        ctype = ""
        for name, value in headers.items():
            if name.lower() == "content-type":
                ctype = value.split(";", 1)[0].strip().lower()
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("body is not UTF-8") from None
        if ctype == "application/json":
            try:
                data = json.loads(text) if text.strip() else {}
            except ValueError:
                raise ValueError("body is not valid JSON") from None
            if not isinstance(data, dict):
                raise ValueError("JSON body must be an object")
            out: dict[str, str] = {}
            for key, value in data.items():
                if value is None:
                    continue
                if not isinstance(value, str):
                    raise ValueError(f"field {key} must be a string")
                out[key] = value
            return out
        if ctype not in ("", "application/x-www-form-urlencoded"):
            raise ValueError("unsupported content type")
        parsed = parse_qs(text, keep_blank_values=True)
        out = {}
        for key, values in parsed.items():
            if len(values) > 1:
                raise ValueError(f"field {key} was given more than once")
            out[key] = values[0]
        return out

    def _take_pending(self, form: dict[str, str]) -> tuple[str, _Pending] | None:
        pending_id = form.get("pending_id", "")
        with self._lock:
            self._prune_pending()
            pending = self._pending.get(pending_id)
        if pending is None:
            return None
        return pending_id, pending

    def _expired_page(self) -> _Response:
        return self._error_page(
            _PageError(
                "invalid_request",
                "This sign-in request has expired or was already used. Start again.",
            )
        )

    def _login(self, headers: dict[str, str], body: bytes) -> _Response:
        try:
            form = self._form(headers, body)
        except ValueError:
            return self._expired_page()
        found = self._take_pending(form)
        if found is None:
            return self._expired_page()
        pending_id, pending = found
        email = form.get("email", "")
        ok = secrets.compare_digest(
            email.strip().lower().encode(), self.email.lower().encode()
        ) and secrets.compare_digest(form.get("password", "").encode(), self.password.encode())
        if not ok:
            self._count("login_failed")
            return self._login_form(pending_id, email, "Incorrect email or password.")
        self._count("login")
        with self._lock:
            pending.authenticated = True
        needs_consent = pending.force_consent or (
            "offline_access" in pending.scopes and self.consent_required_for_offline_access
        )
        if needs_consent:
            return self._consent_page(pending_id, pending)
        with self._lock:
            if self._pending.pop(pending_id, None) is None:
                return self._expired_page()
        return self._issue_code(pending)

    def _consent(self, headers: dict[str, str], body: bytes) -> _Response:
        try:
            form = self._form(headers, body)
        except ValueError:
            return self._expired_page()
        found = self._take_pending(form)
        if found is None or not found[1].authenticated:
            return self._expired_page()
        pending_id, pending = found
        decision = form.get("decision")
        if decision not in ("approve", "deny"):
            return self._consent_page(pending_id, pending)
        self._count("consent")
        with self._lock:
            if self._pending.pop(pending_id, None) is None:
                return self._expired_page()
        if decision == "deny":
            return self._error_redirect(
                pending.redirect_uri,
                pending.state,
                "access_denied",
                "The user denied the authorization request.",
            )
        return self._issue_code(pending)

    def _issue_code(self, pending: _Pending) -> _Response:
        now = time.time()
        grant = _Grant(
            grant_id=str(uuid.uuid4()),
            client_id=pending.client_id,
            sub=self.user_id,
            scopes=pending.scopes,
            auth_time=int(now),
        )
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Code(
                grant=grant,
                redirect_uri=pending.redirect_uri,
                code_challenge=pending.code_challenge,
                nonce=pending.nonce,
                expires_at=now + self.code_ttl,
            )
            self._counters["codes_issued"] += 1
        params = {"code": code}
        if pending.state is not None:
            params["state"] = pending.state
        return self._redirect(pending.redirect_uri, params)

    # ---------------------------------------------------------- token endpoint

    def _token(self, headers: dict[str, str], body: bytes, issuer: str) -> _Response:
        with self._lock:
            self._counters["token_requests"] += 1
            fault = self._faults.pop(0) if self._faults else None
        if fault is not None and fault != "slow":
            self._count("token_faults")
            return self._fault_response(fault)
        if fault == "slow":
            self._count("token_faults")
            self._stopped.wait(self.slow_seconds)
        try:
            return self._token_inner(headers, body, issuer)
        except _OAuthError as err:
            self._count("token_errors")
            return self._oauth_error(err)

    @staticmethod
    def _fault_response(kind: str) -> _Response:
        if kind == "500":
            return _json(
                500,
                {
                    "status_code": 500,
                    "request_id": _request_id(),
                    "error_type": "internal_server_error",
                    "error_message": "Oops, something seems to have gone wrong.",
                    "error_url": "https://stytch.com/docs/api/errors/500",
                },
            )
        if kind == "503":
            return _Response(
                503,
                b"Service Unavailable",
                "text/plain; charset=utf-8",
                {"Retry-After": "0"},
            )
        if kind == "html":
            return _Response(
                200,
                _page("Sign in to the network", "<h1>Sign in to the network</h1>").encode(),
                "text/html; charset=utf-8",
            )
        if kind == "not_json":
            return _Response(200, b'{"access_token": "tr', "application/json")
        if kind == "no_access_token":
            return _json(
                200,
                {
                    "expires_in": 3600,
                    "token_type": "bearer",
                    "scope": "",
                    "request_id": _request_id(),
                    "status_code": 200,
                },
            )
        return _Response(0, reset=True)

    @staticmethod
    def _oauth_error(err: _OAuthError) -> _Response:
        payload = {
            "status_code": err.status,
            "request_id": _request_id(),
            "error_type": err.error_type,
            "error_message": err.message,
            "error_url": f"https://stytch.com/docs/api/errors/{err.status}",
            "error": err.error,
            "error_description": err.message,
        }
        headers = {"WWW-Authenticate": 'Bearer error="invalid_client"'} if err.www_auth else {}
        return _json(err.status, payload, headers)

    def _client_from(self, headers: dict[str, str], form: dict[str, str]) -> str:
        client_id = form.get("client_id")
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        if auth.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
            except ValueError:
                raise _OAuthError(
                    401, "oauth_token_exchange_invalid_client", "invalid_client", "Bad Basic auth."
                ) from None
            basic_id, _, basic_secret = decoded.partition(":")
            if basic_secret:
                raise _OAuthError(
                    401,
                    "public_connected_apps_do_not_have_secrets",
                    "invalid_client",
                    "Public Connected Apps do not have client secrets.",
                )
            client_id = client_id or basic_id
        if form.get("client_secret"):
            raise _OAuthError(
                401,
                "public_connected_apps_do_not_have_secrets",
                "invalid_client",
                "Public Connected Apps do not have client secrets.",
            )
        if not client_id:
            raise _OAuthError(
                400,
                "oauth_token_exchange_invalid_request",
                "invalid_request",
                "Required parameter is missing: client_id.",
            )
        if client_id != self.client_id:
            raise _OAuthError(
                401, "invalid_client_id", "invalid_client", "Unknown client_id.", www_auth=True
            )
        return client_id

    @staticmethod
    def _require(form: dict[str, str], name: str) -> str:
        value = form.get(name)
        if not value:
            raise _OAuthError(
                400,
                "oauth_token_exchange_invalid_request",
                "invalid_request",
                f"Required parameter is missing: {name}.",
            )
        return value

    def _token_inner(self, headers: dict[str, str], body: bytes, issuer: str) -> _Response:
        try:
            form = self._form(headers, body)
        except ValueError as exc:
            raise _OAuthError(
                400, "oauth_token_exchange_invalid_request", "invalid_request", str(exc)
            ) from None
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            self._count("token_authorization_code")
        elif grant_type == "refresh_token":
            self._count("token_refresh")
        if not grant_type:
            raise _OAuthError(
                400,
                "oauth_token_exchange_invalid_request",
                "invalid_request",
                "Required parameter is missing: grant_type.",
            )
        if grant_type not in ("authorization_code", "refresh_token"):
            raise _OAuthError(
                400,
                "oauth_token_exchange_invalid_request",
                "unsupported_grant_type",
                "grant_type must be authorization_code or refresh_token.",
            )
        client_id = self._client_from(headers, form)
        if grant_type == "authorization_code":
            return self._exchange_code(form, client_id, issuer)
        response = self._exchange_refresh(form, client_id, issuer)
        self._count("token_refresh_ok")
        return response

    def _exchange_code(self, form: dict[str, str], client_id: str, issuer: str) -> _Response:
        code = self._require(form, "code")
        redirect_uri = self._require(form, "redirect_uri")
        verifier = self._require(form, "code_verifier")
        now = time.time()
        with self._lock:
            record = self._codes.get(code)
            if record is None or record.used or record.grant.client_id != client_id:
                raise _OAuthError(
                    400,
                    "idp_auth_code_not_found",
                    "invalid_grant",
                    "The authorization code was not found or was already used.",
                )
            # Burn the code on any attempt, successful or not (RFC 6749 §4.1.2).
            record.used = True
            if now >= record.expires_at:
                raise _OAuthError(
                    400, "idp_auth_code_expired", "invalid_grant", "The authorization code expired."
                )
        if not self._redirect_registered(redirect_uri):
            raise _OAuthError(
                401,
                "connected_app_supplied_redirect_url_not_found_in_client",
                "invalid_grant",
                "The redirect URL supplied in the request is not registered to the client.",
            )
        if redirect_uri != record.redirect_uri:
            raise _OAuthError(
                400,
                "oauth_token_exchange_invalid_request",
                "invalid_grant",
                "redirect_uri does not match the one used in the authorization request.",
            )
        if not _VERIFIER_RE.fullmatch(verifier):
            raise _OAuthError(
                400,
                "invalid_pkce_code_verifier",
                "invalid_grant",
                "code_verifier must be 43-128 characters from [A-Za-z0-9-._~].",
            )
        if not secrets.compare_digest(_b64url_sha256(verifier), record.code_challenge):
            raise _OAuthError(
                400,
                "pkce_mismatch",
                "invalid_grant",
                "code_verifier does not match the code_challenge.",
            )
        return _json(200, self._token_payload(record.grant, issuer, record.nonce))

    def _exchange_refresh(self, form: dict[str, str], client_id: str, issuer: str) -> _Response:
        token = self._require(form, "refresh_token")
        now = time.time()
        with self._lock:
            record = self._refresh.get(token)
            if record is None or record.revoked or record.grant.client_id != client_id:
                raise _OAuthError(
                    400,
                    "idp_refresh_token_not_found",
                    "invalid_grant",
                    "The refresh token was not found.",
                )
            if record.used:
                raise _OAuthError(
                    400,
                    "idp_refresh_token_already_used",
                    "invalid_grant",
                    "The refresh token was already used; refresh tokens rotate on every use.",
                )
            if now >= record.expires_at:
                raise _OAuthError(
                    400,
                    "idp_refresh_token_expired",
                    "invalid_grant",
                    "The refresh token has expired.",
                )
            grant = record.grant
            requested = form.get("scope")
            if requested:
                asked = tuple(dict.fromkeys(requested.split()))
                if not set(asked) <= set(grant.scopes):
                    raise _OAuthError(
                        400,
                        "oauth_token_exchange_invalid_scope",
                        "invalid_scope",
                        "The requested scope exceeds the scope originally granted.",
                    )
                # Down-scope only this access token; the grant keeps its scopes.
                grant = _Grant(grant.grant_id, grant.client_id, grant.sub, asked, grant.auth_time)
            record.used = True
            payload = self._token_payload(grant, issuer, None, refresh_grant=record.grant)
        return _json(200, payload)

    def _new_refresh_token(self, grant: _Grant, now: float) -> str:
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._refresh[token] = _Refresh(grant, now, now + self.refresh_token_ttl)
            self._refresh_order.append(token)
        return token

    def _token_payload(
        self,
        grant: _Grant,
        issuer: str,
        nonce: str | None,
        *,
        refresh_grant: _Grant | None = None,
    ) -> dict[str, Any]:
        now = time.time()
        iat = int(now)
        jti = str(uuid.uuid4())
        scope = " ".join(grant.scopes)
        access_claims = {
            "iss": issuer,
            "sub": grant.sub,
            "aud": [self.project_id],
            "client_id": grant.client_id,
            "scope": scope,
            "exp": iat + self.access_token_ttl,
            "iat": iat,
            "nbf": iat,
            "jti": jti,
        }
        access_token = jwt.encode(
            access_claims, self._private_key, algorithm="RS256", headers={"kid": self._kid}
        )
        with self._lock:
            self._access[jti] = _Access(grant.grant_id)
        payload: dict[str, Any] = {
            "access_token": access_token,
            "expires_in": self.access_token_ttl,
            "scope": scope,
            "token_type": "bearer",
        }
        full = refresh_grant or grant
        if "offline_access" in full.scopes:
            payload["refresh_token"] = self._new_refresh_token(full, now)
        if "openid" in grant.scopes:
            id_claims: dict[str, Any] = {
                "iss": issuer,
                "sub": grant.sub,
                "aud": grant.client_id,
                "exp": iat + _ID_TOKEN_TTL,
                "iat": iat,
                "nbf": iat,
                "auth_time": grant.auth_time,
            }
            if nonce is not None:
                id_claims["nonce"] = nonce
            id_claims.update(self._user_claims(grant.scopes))
            payload["id_token"] = jwt.encode(
                id_claims, self._private_key, algorithm="RS256", headers={"kid": self._kid}
            )
        payload["request_id"] = _request_id()
        payload["status_code"] = 200
        return payload

    def _user_claims(self, scopes: Sequence[str]) -> dict[str, Any]:
        claims: dict[str, Any] = {}
        if "email" in scopes:
            claims["email"] = self.email
            claims["email_verified"] = True
        if "profile" in scopes:
            claims["name"] = self.name
        return claims

    # ---------------------------------------------------------- revoke / introspect / userinfo

    def _access_record(self, token: str, *, verify_exp: bool) -> tuple[dict[str, Any], _Access]:
        """Decode one of our access tokens; raises ValueError if it is not ours."""
        try:
            claims = jwt.decode(
                token,
                self._private_key.public_key(),
                algorithms=["RS256"],
                audience=self.project_id,
                options={"verify_exp": verify_exp},
            )
        except jwt.PyJWTError:
            raise ValueError("not an access token issued here") from None
        with self._lock:
            record = self._access.get(str(claims.get("jti", "")))
        if record is None:
            raise ValueError("not an access token issued here")
        return claims, record

    def _revoke(self, headers: dict[str, str], body: bytes) -> _Response:
        self._count("revoke")
        try:
            form = self._form(headers, body)
        except ValueError as exc:
            return self._oauth_error(
                _OAuthError(
                    400, "oauth_token_exchange_invalid_request", "invalid_request", str(exc)
                )
            )
        client_id = form.get("client_id")
        if client_id is not None and client_id != self.client_id:
            return self._oauth_error(
                _OAuthError(401, "invalid_client_id", "invalid_client", "Unknown client_id.")
            )
        token = form.get("token")
        if not token:
            return self._oauth_error(
                _OAuthError(
                    400,
                    "oauth_token_exchange_invalid_request",
                    "invalid_request",
                    "Required parameter is missing: token.",
                )
            )
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
        return _json(200, {"request_id": _request_id(), "status_code": 200})

    def _revoke_grant(self, grant_id: str) -> None:
        """Revoking a refresh token revokes its grant: every token issued under it."""
        with self._lock:
            for record in self._refresh.values():
                if record.grant.grant_id == grant_id:
                    record.revoked = True
            for access in self._access.values():
                if access.grant_id == grant_id:
                    access.revoked = True

    def _introspect(self, headers: dict[str, str], body: bytes) -> _Response:
        self._count("introspect")
        try:
            form = self._form(headers, body)
        except ValueError as exc:
            return self._oauth_error(
                _OAuthError(
                    400, "oauth_token_exchange_invalid_request", "invalid_request", str(exc)
                )
            )
        token = form.get("token", "")
        inactive = {"active": False, "request_id": _request_id(), "status_code": 200}
        if not token:
            return _json(200, inactive)
        now = time.time()
        with self._lock:
            refresh = self._refresh.get(token)
            if refresh is not None:
                if refresh.revoked or refresh.used or now >= refresh.expires_at:
                    return _json(200, inactive)
                return _json(
                    200,
                    {
                        "active": True,
                        "sub": refresh.grant.sub,
                        "scope": " ".join(refresh.grant.scopes),
                        "client_id": refresh.grant.client_id,
                        "iat": int(refresh.issued_at),
                        "exp": int(refresh.expires_at),
                        "token_type": "refresh_token",
                        "request_id": _request_id(),
                        "status_code": 200,
                    },
                )
        try:
            claims, access = self._access_record(token, verify_exp=True)
        except ValueError:
            return _json(200, inactive)
        if access.revoked:
            return _json(200, inactive)
        result: dict[str, Any] = {"active": True}
        for key in ("sub", "scope", "aud", "exp", "iat", "iss", "nbf", "client_id"):
            result[key] = claims.get(key)
        result.update(
            {"token_type": "access_token", "request_id": _request_id(), "status_code": 200}
        )
        return _json(200, result)

    def _userinfo(self, headers: dict[str, str]) -> _Response:
        self._count("userinfo")
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, token = auth.strip().partition(" ")
        unauthorized = _json(
            401,
            {
                "status_code": 401,
                "request_id": _request_id(),
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
        payload.update({"request_id": _request_id(), "status_code": 200})
        return _json(200, payload)


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


if __name__ == "__main__":
    raise SystemExit(_main())
