"""One browser login, then Bearer tokens: OAuth 2.0 + PKCE for Stytch Connected Apps.

Importing this package stays cheap: HTTPie imports every installed plugin on every run, so the
heavy parts (keyring, the loopback server, JWT verification) load only when a request needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["AuthenticationError", "OAuth2PKCEAuth", "StytchAuth"]
__version__ = "0.1.0"

if TYPE_CHECKING:
    from .auth import OAuth2PKCEAuth, StytchAuth
    from .errors import AuthenticationError


def __getattr__(name: str) -> Any:
    if name in ("OAuth2PKCEAuth", "StytchAuth"):
        from . import auth

        return getattr(auth, name)
    if name == "AuthenticationError":
        from .errors import AuthenticationError

        return AuthenticationError
    raise AttributeError(name)
