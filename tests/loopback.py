"""Small stand-in servers for tests: the package's one loopback server helper, by the names the
tests import (``LoopbackServer(handler)`` serves at once; ``close`` always shuts it down)."""

from __future__ import annotations

from httpie_stytch_connected.testing.loopback import LoopbackServer, QuietHandler

__all__ = ["LoopbackServer", "QuietHandler"]
