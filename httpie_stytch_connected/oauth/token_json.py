"""A token set's stored JSON form and its expiry rule, read without building a token set.

:class:`.tokens.TokenSet` writes and reads this form and asks :func:`expires_within`; a warm
run that only needs the access token and whether it is still good beyond the leeway reads it
here, without importing :mod:`.tokens`, whose dataclass costs such a run more than the read.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

#: The version of the stored form (``"v"``).
FORMAT = 1


def stored_fields(text: str) -> tuple[dict[str, Any], str, float | None, float]:
    """(the object, its ``access_token``, ``expires_at``, ``received_at``) from text that
    :meth:`.TokenSet.to_json` wrote; anything else raises ValueError."""
    try:
        data = json.loads(text)
    except RecursionError:  # deeply nested junk: still just "not a token set"
        raise ValueError("not a token set") from None
    if not isinstance(data, dict) or data.get("v") != FORMAT:
        raise ValueError("not a token set of this version")
    access = data.get("access_token")
    if not isinstance(access, str):
        raise ValueError("token set without access_token")
    expires_at = data.get("expires_at")
    received_at = data.get("received_at", 0.0)
    if expires_at is not None and not _finite(expires_at):
        raise ValueError("bad expires_at")
    if not _finite(received_at):
        raise ValueError("bad received_at")
    return data, access, None if expires_at is None else float(expires_at), float(received_at)


def expires_within(
    expires_at: float | None, received_at: float, leeway: float, *, now: float | None = None
) -> bool:
    """True if a token expiring at ``expires_at`` (epoch seconds; None: unknown) and received
    at ``received_at`` is expired or will be within ``leeway`` seconds.

    The leeway never exceeds half the token's lifetime: a provider issuing tokens shorter than
    the leeway must not cost a refresh (or a login) on every request. A token without
    ``expires_in`` is taken as valid until the API says 401.
    """
    if expires_at is None:
        return False
    lifetime = expires_at - received_at
    margin = min(leeway, lifetime / 2) if lifetime > 0 else leeway
    return (time.time() if now is None else now) + margin >= expires_at


def usable_access_token(text: str | None, leeway: float) -> str | None:
    """The access token in the stored ``text`` if there is one and it is good beyond
    ``leeway`` seconds (:func:`expires_within`); None for no text, junk, or any other token."""
    if text is None:
        return None
    try:
        _, access, expires_at, received_at = stored_fields(text)
    except (ValueError, TypeError, OverflowError):
        return None
    if not access or expires_within(expires_at, received_at, leeway):
        return None
    return access


def _finite(value: object) -> bool:
    """A JSON number that is a usable float (not NaN, not infinite, not too large)."""
    try:
        return isinstance(value, (int, float)) and math.isfinite(value)
    except OverflowError:
        return False
