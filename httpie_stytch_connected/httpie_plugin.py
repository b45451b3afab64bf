"""The HTTPie adapter: ``http --auth-type=stytch`` (``-A stytch``), configured by environment.

HTTPie imports this module on every run, even ``http --version``, so it imports nothing beyond
what HTTPie has already loaded; the flow, keyring and the rest load inside ``__call__``.
``get_auth()`` runs during argument parsing, where an exception is a raw traceback, so it only
builds an object; every failure surfaces from ``__call__`` as one ``http: error:`` line. With
``--offline`` it never opens a browser nor touches the network or the keyring. HTTPie's
``--proxy`` and ``--timeout`` apply to the calls to the provider as to the API; ``--verify`` and
``--cert`` apply to the API only (the provider is checked against the system's CAs or
``REQUESTS_CA_BUNDLE``, whatever the API needs).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import requests
from httpie.plugins import AuthPlugin
from requests.auth import AuthBase

if TYPE_CHECKING:
    from .auth import OAuth2PKCEAuth
    from .warm import Warm

#: Said on stderr when HTTPie shows the request and the API refused its token.
RESENT = (
    "The API refused the access token in the request shown above; the request was sent again "
    "with a renewed token."
)


def _httpie_args() -> Any:
    """HTTPie has no API for its options; its global parser holds the parsed arguments."""
    try:
        from httpie.cli.definition import parser

        return getattr(parser, "args", None)
    except Exception:
        return None


class ProviderSession(requests.Session):
    """The session for calls to the provider (token exchange, refresh, revocation, discovery,
    JWKS, userinfo) under HTTPie: its ``--proxy`` mapping, and its ``--timeout`` (seconds) as
    each call's connect and read timeout, in place of the package's own (5, 30)."""

    __attrs__ = [*requests.Session.__attrs__, "timeout"]

    def __init__(self, proxies: dict[str, str], timeout: float | None) -> None:
        super().__init__()
        self.proxies.update(proxies)
        self.timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        return super().request(*args, **kwargs)


def provider_session(args: Any) -> ProviderSession | None:
    """HTTPie's ``--proxy`` and ``--timeout`` for the provider calls; None when neither is given."""
    proxies = {p.key: p.value for p in getattr(args, "proxy", None) or ()}
    timeout = getattr(args, "timeout", None) or None
    return ProviderSession(proxies, timeout) if proxies or timeout else None


def _report_resend(response: requests.Response, **kwargs: Any) -> requests.Response:
    """Our 401 hook ran first and put the refused answer in the history of the resend."""
    if response.history and response.history[-1].status_code == 401:
        from .messages import notify_stderr

        notify_stderr(RESENT)
    return response


class HTTPieStytchAuth(AuthBase):
    def __init__(self, profile: str | None = None) -> None:
        self.profile = profile or None
        self._auth: OAuth2PKCEAuth | None = None
        #: The settings' fingerprint taken before they were resolved (:mod:`.warm`).
        self._stamp: str | None = None

    def __repr__(self) -> str:  # ``http --debug`` prints it: never a token
        return f"HTTPieStytchAuth(profile={self.profile!r})"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        args = _httpie_args()
        if getattr(args, "debug", False):  # http --debug: the sign-in's steps, never secrets
            from .messages import debug_logging

            debug_logging("http")
        elif self._auth is None and (r.body is None or isinstance(r.body, (bytes, str))):
            # The warm path: the cached token before any settings load (a body in memory,
            # so the hook's resend, built only if needed, replays it as the full path would).
            warm = self._warm(r.url or "")
            if warm is not None:
                from .oauth.bearer import authorization

                r.headers["Authorization"] = authorization(warm.token)
                if not getattr(args, "offline", False):
                    r.register_hook("response", _WarmHook(self, warm))  # type: ignore[no-untyped-call]
                    _report_resends(r, args)
                return r
        auth = self._full()
        if not auth.settings.sends_token_to(r.url or ""):
            return r
        if getattr(args, "offline", False):
            from .oauth.bearer import authorization

            # No network, keyring or login: the manager resolves its provider lazily.
            token = auth.cached_access_token(r.url or "")
            if token:
                r.headers["Authorization"] = authorization(token)
            return r
        r = auth(r)
        if self._stamp is not None:  # the warm path missed: what it needs, for the next run
            from .warm import remember

            key = None if auth.zero_config is not None else auth.manager.key
            remember(self._stamp, self.profile, os.environ, auth.settings, key)
        _report_resends(r, args)
        return r

    def _warm(self, url: str) -> Warm | None:
        from .warm import cached_token, fingerprint

        self._stamp = fingerprint(self.profile, os.environ)
        return cached_token(url, self._stamp) if self._stamp is not None else None

    def _full(self) -> OAuth2PKCEAuth:
        """The requests adapter, built from the settings on first need."""
        if self._auth is None:
            from .auth import StytchAuth

            self._auth = StytchAuth(profile=self.profile, session=provider_session(_httpie_args()))
        return self._auth


def _report_resends(r: requests.PreparedRequest, args: Any) -> None:
    if "H" in (getattr(args, "output_options", None) or ""):  # -v, --print=H…
        r.register_hook("response", _report_resend)  # type: ignore[no-untyped-call]


class _WarmHook:
    """The response hook of a request sent with a token from the warm path (:mod:`.warm`).

    An answer that is none of our business goes back untouched, with nothing more loaded: in
    configured mode anything but a 401 or 403 to our token (:func:`.bearer.rejected`, and
    :meth:`.TokenManager.after_forbidden`); with zero
    configuration anything but a redirect (the token must not leave its resource), a 401 or a
    403 (a step-up). For any other, the full auth is built and the hook it would have
    registered takes over, for this answer and every later hop of the request.
    """

    def __init__(self, adapter: HTTPieStytchAuth, warm: Warm) -> None:
        self.adapter = adapter
        self.warm = warm
        self._hook: Callable[..., requests.Response] | None = None

    def __repr__(self) -> str:  # never the token
        return f"_WarmHook(adapter={self.adapter!r})"

    def __call__(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if self._hook is None:
            if not self._ours(response):
                return response
            self._hook = self.adapter._full().response_hook(
                self.warm.token, self.warm.binding, response.request
            )
        return self._hook(response, **kwargs)

    def _ours(self, response: requests.Response) -> bool:
        if self.warm.binding is not None:
            return response.is_redirect or response.status_code in (401, 403)
        from .oauth.bearer import carried, rejected

        sent = response.request.headers.get("Authorization")
        if response.status_code == 403:  # perhaps for a scope outside the configured ones
            return carried(sent, self.warm.token)
        return rejected(response.status_code, sent, self.warm.token)


class StytchAuthPlugin(AuthPlugin):  # type: ignore[misc]
    name = "Stytch Connected Apps"
    auth_type = "stytch"
    description = (
        "OAuth 2.0 + PKCE browser sign-in for Stytch Connected Apps (or any OpenID provider); "
        "configure with STYTCH_* environment variables or a profile picked with -a PROFILE."
    )
    auth_require = False
    auth_parse = False
    prompt_password = False

    def get_auth(self, username: Any = None, password: Any = None) -> HTTPieStytchAuth:
        return HTTPieStytchAuth(self.raw_auth)


class OAuth2AuthPlugin(StytchAuthPlugin):
    """``-A oauth2``: the same plugin under a provider-neutral name."""

    name = "OAuth 2.0 / OpenID Connect"
    auth_type = "oauth2"
    description = (
        "OAuth 2.0 + PKCE browser sign-in with any OAuth 2.0 / OpenID Connect provider: set "
        "STYTCH_ISSUER and STYTCH_CLIENT_ID, or nothing at all for an API whose 401 says where "
        "to sign in; -a PROFILE picks a profile."
    )
