"""How the flow talks to the person: short lines on stderr, and the browser opener's shape.

Kept apart from :mod:`.login` so the warm path can name these types without importing the
loopback server, ``webbrowser`` and the rest of the login machinery.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Mapping

Notify = Callable[[str], None]
#: Opens the sign-in page at the URL; returns False when it could not (anything else: opened).
Opener = Callable[[str], "bool | None"]


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


def say_ignored_arguments(callable_name: str, ignored: Mapping[str, str], notify: Notify) -> None:
    """One line on ``notify`` for each keyword argument the caller passed that has no effect
    (``ignored``: its name and the reason, from :meth:`.Settings.ignored`): two arguments of
    one call that contradict each other, such as ``project_domain=`` and ``project_id=``, would
    otherwise leave one silently unused. Names only, never values."""
    for name, why in ignored.items():
        notify(f"{callable_name}({name}=...) has no effect: {why}; leave it out.")


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


#: Beyond this, a duration is only "more than a hundred years" (and a time of day means nothing).
LONGEST = 100 * 365 * 86400.0


def clock(when: float) -> str | None:
    """'14:05' today, '2026-12-03 14:05' on any other day (a time of day alone would name an
    unsaid day: "expired 3 days ago (at 09:12)"), or None for a moment too far off for a time
    of day to mean anything (or for the platform's date functions to take). Local time."""
    try:
        if abs(when - time.time()) < LONGEST:
            moment = time.localtime(when)
            if moment[:3] == time.localtime()[:3]:
                return time.strftime("%H:%M", moment)
            return time.strftime("%Y-%m-%d %H:%M", moment)
    except (OverflowError, OSError, ValueError):
        pass
    return None


def human_duration(seconds: float) -> str:
    """'45 seconds', '12 minutes', '3 hours 5 minutes', '2 days 4 hours'; total: NaN, infinite
    or absurd durations give a phrase, not an exception or a 300-digit number."""
    if not math.isfinite(seconds):
        return "an unknown time"
    if abs(seconds) >= LONGEST:
        return "more than a hundred years"
    total = int(abs(seconds))
    units = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
    parts = []
    for name, size in units:
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count} {name}{'s' if count != 1 else ''}")
    return " ".join(parts[:2]) or "0 seconds"


def expired_ago(exp: float) -> str:
    """'expired 12 minutes ago (at 14:05)', for an expiry time ``exp`` (seconds since the
    epoch) in the past; the time of day makes a wrong local clock visible."""
    at = clock(exp)
    return f"expired {human_duration(time.time() - exp)} ago" + (f" (at {at})" if at else "")
