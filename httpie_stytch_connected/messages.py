"""How the flow talks to the person: short lines on stderr, and the browser opener's shape.

Kept apart from :mod:`.login` so the warm path can name these types without importing the
loopback server, ``webbrowser`` and the rest of the login machinery.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

Notify = Callable[[str], None]
Opener = Callable[[str], bool]


def notify_stderr(message: str) -> None:
    """Short lines on stderr: stdout carries HTTPie's response body."""
    print(message, file=sys.stderr, flush=True)
