"""How the flow talks to the person: short lines on stderr, and the browser opener's shape.

Kept apart from :mod:`.login` so the warm path can name these types without importing the
loopback server, ``webbrowser`` and the rest of the login machinery.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

Notify = Callable[[str], None]
Opener = Callable[[str], bool]


def notify_stderr(message: str) -> None:
    """Short lines on stderr: stdout carries HTTPie's response body."""
    print(message, file=sys.stderr, flush=True)


def debug_logging(prefix: str) -> None:
    """Debug lines on stderr from this package's loggers only, which log hosts, steps, error
    codes and counts, never secrets; other libraries' debug output (full URLs, headers) stays
    off. Idempotent."""
    package = logging.getLogger(__package__)
    if not any(getattr(h, "_stytch_debug", False) for h in package.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{prefix}: %(name)s: %(message)s"))
        handler._stytch_debug = True  # type: ignore[attr-defined]
        package.addHandler(handler)
    package.setLevel(logging.DEBUG)
