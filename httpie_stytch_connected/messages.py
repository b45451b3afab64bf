"""How the flow talks to the person: short lines on stderr, and the browser opener's shape.

Kept apart from :mod:`.login` so the warm path can name these types without importing the
loopback server, ``webbrowser`` and the rest of the login machinery.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping

Notify = Callable[[str], None]
Opener = Callable[[str], bool]


def notify_stderr(message: str) -> None:
    """Short lines on stderr: stdout carries HTTPie's response body."""
    print(message, file=sys.stderr, flush=True)


#: The stray ``STYTCH_*`` variables already named in this process: each is said once, however
#: many auth objects (or commands) load the settings.
_STRAYS_SAID: set[str] = set()


def say_unknown_env(unknown: Mapping[str, str | None], notify: Notify) -> None:
    """One line on ``notify`` for each ``STYTCH_*`` variable that is not a setting (the name,
    that it is ignored, the setting it is closest to if any), once per process: a misspelt
    ``STYTCH_CLIENT_SECRE`` would otherwise be silently ignored. Names only, never values."""
    for name, near in unknown.items():
        if name in _STRAYS_SAID:
            continue
        _STRAYS_SAID.add(name)
        hint = f"did you mean {near}?" if near else "`stytch-connected config` lists the settings."
        notify(f"{name} is not a setting of httpie-stytch-connected and is ignored; {hint}")


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
