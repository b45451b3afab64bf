"""The customer's authorize page that mounts ``<IdentityProvider/>``: sign-in, consent, codes.

Stytch rules enforced here: PKCE S256 is required, ``localhost`` redirect URLs are refused, the
redirect URL must be registered to the client (see ``redirect_urls``), requested scopes must be
supported, ``prompt=none`` cannot sign anyone in, and asking for ``offline_access`` shows a
consent page (a knob turns that off). Errors about the client or the redirect URL are shown on
the page; every other error is redirected back to the client.
"""

from __future__ import annotations

import html
import re
import secrets
import time
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit

from .core import EmulatorCore
from .records import Code, Grant, Pending
from .redirect_urls import is_localhost, redirect_registered
from .wire import Response, decode_form, page

DEFAULT_SCOPE = "openid email profile"

_PENDING_TTL = 600.0
_CHALLENGE_RE = re.compile(r"[A-Za-z0-9\-_]{43}")
_SCOPE_TOKEN_RE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


class PageError(Exception):
    """An authorize-page error that must be shown to the person, not redirected."""

    def __init__(self, error_type: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status


def _html(status: int, title: str, body: str) -> Response:
    return Response(
        status,
        page(title, body).encode("utf-8"),
        "text/html; charset=utf-8",
        {
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
        },
    )


def _error_page(err: PageError) -> Response:
    return _html(
        err.status,
        "Authorization error",
        "<h1>Authorization error</h1>"
        f'<p class="error" id="error" data-error-type="{html.escape(err.error_type)}">'
        f"{html.escape(err.message)}</p>",
    )


def _expired_page() -> Response:
    return _error_page(
        PageError(
            "invalid_request",
            "This sign-in request has expired or was already used. Start again.",
        )
    )


def _redirect(redirect_uri: str, params: dict[str, str]) -> Response:
    sep = "&" if "?" in redirect_uri else "?"
    location = redirect_uri + sep + urlencode(params)
    return Response(
        302,
        b"",
        "text/plain",
        {"Location": location, "Referrer-Policy": "no-referrer"},
    )


def _error_redirect(
    redirect_uri: str, state: str | None, error: str, description: str, iss: str | None
) -> Response:
    params = {"error": error, "error_description": description}
    if state is not None:
        params["state"] = state
    if iss is not None:
        params["iss"] = iss
    return _redirect(redirect_uri, params)


def _single(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise PageError("invalid_request", f"Parameter {name} was given more than once.")
    return values[0]


class AuthorizePages(EmulatorCore):
    def _login_form(self, pending_id: str, email: str = "", error: str | None = None) -> Response:
        error_html = (
            f'<p class="error" id="error" role="alert">{html.escape(error)}</p>' if error else ""
        )
        return _html(
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

    @staticmethod
    def _consent_page(pending_id: str, pending: Pending) -> Response:
        items = "".join(
            f'<li data-scope="{html.escape(s)}">{html.escape(s)}</li>' for s in pending.scopes
        )
        return _html(
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

    def _authorize_page(self, query: str) -> Response:
        self._count("authorize_page")
        params = parse_qs(query, keep_blank_values=True)
        try:
            client_id = _single(params, "client_id")
            redirect_uri = _single(params, "redirect_uri")
            if not client_id:
                raise PageError("invalid_request", "Required parameter is missing: client_id.")
            if not redirect_uri:
                raise PageError("invalid_request", "Required parameter is missing: redirect_uri.")
            self.authorization_requests.append((client_id, redirect_uri))
            client = self._client(client_id)
            if client is None:
                raise PageError("invalid_client_id", "Unknown client_id.", 401)
            host = urlsplit(redirect_uri).hostname or ""
            if is_localhost(host):
                raise PageError(
                    "connected_app_redirect_url_cannot_use_localhost",
                    "Redirect URLs cannot use localhost; use 127.0.0.1.",
                )
            if not redirect_registered(redirect_uri, client.redirect_uris):
                raise PageError(
                    "connected_app_supplied_redirect_url_not_found_in_client",
                    "The redirect URL supplied in the request is not registered to the client.",
                    401,
                )
            state = _single(params, "state")
            nonce = _single(params, "nonce")
            response_type = _single(params, "response_type")
            scope = _single(params, "scope")
            challenge = _single(params, "code_challenge")
            method = _single(params, "code_challenge_method")
            prompt = _single(params, "prompt")
            resource = _single(params, "resource")
        except PageError as err:
            return _error_page(err)

        def fail(error: str, description: str) -> Response:
            return _error_redirect(redirect_uri, state, error, description, self._iss())

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
        pending = Pending(
            client_id=client_id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            state=state,
            nonce=nonce,
            code_challenge=challenge,
            force_consent="consent" in prompts or client.third_party,
            created=time.time(),
            resource=resource,
        )
        self._record_resource("authorize", resource)
        pending_id = secrets.token_urlsafe(24)
        with self._lock:
            self._prune_pending()
            self._pending[pending_id] = pending
        return self._login_form(pending_id)

    def _prune_pending(self) -> None:
        cutoff = time.time() - _PENDING_TTL
        for key in [k for k, p in self._pending.items() if p.created < cutoff]:
            del self._pending[key]

    def _take_pending(self, form: dict[str, str]) -> tuple[str, Pending] | None:
        pending_id = form.get("pending_id", "")
        with self._lock:
            self._prune_pending()
            pending = self._pending.get(pending_id)
        if pending is None:
            return None
        return pending_id, pending

    def _login(self, headers: dict[str, str], body: bytes) -> Response:
        try:
            form = decode_form(headers, body)
        except ValueError:
            return _expired_page()
        found = self._take_pending(form)
        if found is None:
            return _expired_page()
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
                return _expired_page()
        return self._issue_code(pending)

    def _consent(self, headers: dict[str, str], body: bytes) -> Response:
        try:
            form = decode_form(headers, body)
        except ValueError:
            return _expired_page()
        found = self._take_pending(form)
        if found is None or not found[1].authenticated:
            return _expired_page()
        pending_id, pending = found
        decision = form.get("decision")
        if decision not in ("approve", "deny"):
            return self._consent_page(pending_id, pending)
        self._count("consent")
        with self._lock:
            if self._pending.pop(pending_id, None) is None:
                return _expired_page()
        if decision == "deny":
            return _error_redirect(
                pending.redirect_uri,
                pending.state,
                "access_denied",
                "The user denied the authorization request.",
                self._iss(),
            )
        return self._issue_code(pending)

    def _issue_code(self, pending: Pending) -> Response:
        now = time.time()
        grant = Grant(
            grant_id=str(uuid.uuid4()),
            client_id=pending.client_id,
            sub=self.user_id,
            scopes=pending.scopes,
            auth_time=int(now),
        )
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = Code(
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
        iss = self._iss()
        if iss is not None:
            params["iss"] = iss
        return _redirect(pending.redirect_uri, params)

    def _iss(self) -> str | None:
        """RFC 9207 ``iss``: on Stytch's default domain the project-ID form, which differs
        from the tokens' issuer; on a custom domain the issuer URL itself."""
        if self.iss_form == "default_domain":
            return self.legacy_issuer
        return self.issuer if self.iss_form == "custom_domain" else None
