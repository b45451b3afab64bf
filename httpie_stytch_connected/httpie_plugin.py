"""The HTTPie adapter: ``http --auth-type=stytch`` (``-A stytch``), configured by environment.

HTTPie imports this module on every run, even ``http --version``, so it imports nothing beyond
what HTTPie has already loaded; the flow, keyring and the rest load inside ``__call__``.
``get_auth()`` runs during argument parsing, where an exception is a raw traceback, so it only
builds an object; every failure surfaces from ``__call__`` as one ``http: error:`` line. With
``--offline`` it never opens a browser nor touches the network or the keyring.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from httpie.plugins import AuthPlugin
from requests.auth import AuthBase

if TYPE_CHECKING:
    import requests

    from .auth import OAuth2PKCEAuth


def _httpie_offline() -> bool:
    """HTTPie has no API for this; its global parser holds the parsed arguments."""
    try:
        from httpie.cli.definition import parser

        return bool(getattr(getattr(parser, "args", None), "offline", False))
    except Exception:
        return False


class HTTPieStytchAuth(AuthBase):
    def __init__(self, profile: str | None = None) -> None:
        self.profile = profile or None
        self._auth: OAuth2PKCEAuth | None = None

    def __repr__(self) -> str:  # ``http --debug`` prints it: never a token
        return f"HTTPieStytchAuth(profile={self.profile!r})"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if self._auth is None:
            from .auth import StytchAuth

            self._auth = StytchAuth(profile=self.profile)
        if not self._auth.settings.sends_token_to(r.url or ""):
            return r
        if _httpie_offline():
            from .bearer import authorization

            # No network, keyring or login: the manager resolves its provider lazily.
            token = self._auth.cached_access_token(r.url or "")
            if token:
                r.headers["Authorization"] = authorization(token)
            return r
        return self._auth(r)


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

    auth_type = "oauth2"
