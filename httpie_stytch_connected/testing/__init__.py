"""Test helpers: a Stytch Connected Apps emulator and a scripted browser for it.

Nothing here is imported by the main package; only tests and users who ask for it pay for
it. The names below load on first use so that importing a sibling module (for example the
pytest plugin) does not start generating RSA keys or importing ``requests``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["ClientCredentialsServer", "ScriptedUserAgent", "StytchEmulator", "UserAgentResult"]

if TYPE_CHECKING:
    from .client_credentials_server import ClientCredentialsServer
    from .emulator import StytchEmulator
    from .user_agent import ScriptedUserAgent, UserAgentResult


def __getattr__(name: str) -> Any:
    if name == "StytchEmulator":
        from .emulator import StytchEmulator

        return StytchEmulator
    if name == "ClientCredentialsServer":
        from .client_credentials_server import ClientCredentialsServer

        return ClientCredentialsServer
    if name in ("ScriptedUserAgent", "UserAgentResult"):
        from . import user_agent

        return getattr(user_agent, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's own names and the test tools loaded on first use (PEP 562)."""
    return sorted({*globals(), *__all__})
