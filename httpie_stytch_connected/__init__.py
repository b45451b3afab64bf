"""One browser login, then Bearer tokens: OAuth 2.0 + PKCE for Stytch Connected Apps.

``StytchAuth`` and ``OAuth2PKCEAuth`` are the ``requests`` auth classes (``help()`` of either
lists every setting); ``AuthenticationError`` is the base of every error they raise. The same
classes for httpx and httpx2 are in :mod:`httpie_stytch_connected.httpx` and
:mod:`httpie_stytch_connected.httpx2`; test tools in :mod:`httpie_stytch_connected.testing`.

Importing this package stays cheap: HTTPie imports every installed plugin on every run, so the
heavy parts (requests, keyring, the loopback server, JWT verification) load only when a name
below is first used or a request needs them; ``dir()`` and ``help()`` still list the names.
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
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's own names and the public ones loaded on first use (PEP 562)."""
    return sorted({*globals(), *__all__})
