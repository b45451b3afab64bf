"""An example API protected by the emulator, as Stytch's MCP guide builds one.

It serves its protected resource metadata (RFC 9728) naming the emulator as authorization
server, answers 401 with ``WWW-Authenticate: Bearer resource_metadata="…", scope="read:data"``
and 403 ``insufficient_scope`` (RFC 6750 §3.1), and has a route, ``/api/admin``, that needs
``write:data``: a scope the first sign-in does not ask for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..resource_server import ResourceServer
    from .core import EmulatorCore


def example_api(emulator: EmulatorCore, **overrides: Any) -> ResourceServer:
    """A (not yet started) :class:`ResourceServer` for ``emulator``; ``overrides`` are its
    keyword arguments (``resource=`` for a mismatching document, ``authorization_servers=``)."""
    from ..resource_server import ResourceServer

    options: dict[str, Any] = {
        "jwks_uri": emulator.jwks_uri,
        "issuer": emulator.issuer,
        "audience": emulator.project_id,
        "required_scope": "read:data",
        "routes": {"/api/admin": "write:data"},
        "authorization_servers": [emulator.issuer],
        "scopes_supported": ["read:data", "write:data"],
    }
    options.update(overrides)
    return ResourceServer(**options)
