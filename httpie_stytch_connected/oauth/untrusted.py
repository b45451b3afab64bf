"""What a provider sends, made safe to use and to show: bounded JSON, scrubbed text.

Every document a provider answers with (token responses and errors, discovery metadata, key sets,
userinfo) goes through :func:`json_object`: junk, or JSON nested deeper than any real document, is
"not a JSON object", never a ``RecursionError``. Every piece of provider text a person may see goes
through :func:`shown_text`: one printable line, trimmed, and withheld as a whole when it repeats a
fragment of a secret we sent — as sent, in another case, percent-, HTML-, hex- or base64-encoded.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import unicodedata
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

#: Deepest nesting accepted in a provider's JSON; real documents stay below 5.
MAX_DEPTH = 32
#: Letters and digits in a row, taken from a secret, that count as echoing it. Shorter runs
#: would match ordinary words; 8 base64url characters already carry about 40 bits.
MIN_ECHO = 8
#: Characters of provider text shown at most.
TEXT_LIMIT = 300
#: Characters an identifier a provider hands us (a registered ``client_id``) may have: real
#: ones are a UUID or two; more is a server trying to fill a terminal, a keyring or a header.
IDENTIFIER_LIMIT = 255
#: Characters of an identifier or URL echoed on the terminal before it is cut short.
SHOWN_LIMIT = 120
#: What a person sees in place of provider text that repeats part of a secret.
WITHHELD = "[provider text withheld: it repeats part of a secret we sent]"

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def parse_json(data: str | bytes) -> Any:
    """Parse a provider's JSON; ValueError when it is not JSON or nested deeper than MAX_DEPTH."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if not _within_depth(value):
        raise ValueError("JSON nested too deeply")
    return value


def json_object(body: bytes) -> dict[str, Any] | None:
    """An answer's body as a JSON object, or None for anything else (junk, a list, too deep)."""
    try:
        value = parse_json(body)
    except ValueError:  # also UnicodeDecodeError
        return None
    return value if isinstance(value, dict) else None


#: Most fields a form-encoded answer may carry; a token response has a handful.
_MAX_FORM_FIELDS = 32


def form_object(body: bytes) -> dict[str, Any] | None:
    """An ``application/x-www-form-urlencoded`` answer (GitHub's classic token endpoint answers
    so) as a mapping, or None for anything else: not UTF-8, a repeated field, too many fields."""
    from urllib.parse import parse_qsl

    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=True,
            max_num_fields=_MAX_FORM_FIELDS,
        )
    except ValueError:  # also UnicodeDecodeError
        return None
    found = dict(pairs)
    return found if pairs and len(found) == len(pairs) else None


def _within_depth(value: Any) -> bool:
    """Iteratively, so checking a deep value cannot itself exhaust the stack."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if not isinstance(item, (dict, list)):
            continue
        if depth > MAX_DEPTH:
            return False
        children = item.values() if isinstance(item, dict) else item
        pending.extend((child, depth + 1) for child in children)
    return True


def shown_text(value: object, secrets: Iterable[str] = (), limit: int = TEXT_LIMIT) -> str | None:
    """Provider text fit for a terminal or a log: one line of printable characters, at most
    ``limit`` long, or :data:`WITHHELD` when it echoes any of ``secrets``; None when empty."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = "".join(c for c in " ".join(value.split()) if c.isprintable())[:limit]
    return WITHHELD if echoes(text, secrets) else text


def bounded_identifier(value: object, limit: int = IDENTIFIER_LIMIT) -> str | None:
    """``value`` if it is an identifier we can keep and show: a non-empty string of printable
    ASCII (RFC 6749 Appendix A.1 VSCHAR) no longer than ``limit``; else None."""
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        return None
    return value if all("\x20" <= c <= "\x7e" for c in value) else None


def shown(value: object, limit: int = SHOWN_LIMIT) -> str:
    """Any value a provider chose (a client ID, an issuer, a scope list), as echoed on a
    terminal: one line of printable characters; longer than ``limit``, its start and how many
    characters were left out. Never empty, never an exception."""
    text = "".join(c for c in " ".join(str(value).split()) if c.isprintable())
    if len(text) <= limit:
        return text or "(empty)"
    return f"{text[: max(limit - 30, 10)]}… ({len(text)} characters)"


def echoes(text: str, secrets: Iterable[str]) -> bool:
    """True when ``text`` holds MIN_ECHO letters and digits in a row from any secret or any of
    its encodings, compared without case and ignoring everything else (separators, padding)."""
    wanted: set[str] = set()
    for secret in secrets:
        for form in _encodings(secret):
            wanted.update(_windows(_skeleton(form)))
    if not wanted:
        return False
    views = {text, unquote(text), html.unescape(text)}
    return any(not wanted.isdisjoint(_windows(_skeleton(view))) for view in views)


def _encodings(secret: str) -> list[str]:
    """The secret as sent, hex-encoded, and base64-encoded from each of the three byte offsets
    (so base64 of any fragment of it is a substring of one of them; url-safe and standard
    alphabets differ only in characters the comparison ignores)."""
    raw = secret.encode()
    return [secret, raw.hex()] + [base64.b64encode(raw[i:]).decode() for i in range(3)]


def _skeleton(text: str) -> str:
    """Letters and digits only, case-folded, compatibility characters (full-width, …) mapped."""
    return _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", text).casefold())


def _windows(skeleton: str) -> set[str]:
    """Every MIN_ECHO-long run; a secret shorter than that is not looked for (it would match
    ordinary words, and no provider issues one)."""
    return {skeleton[i : i + MIN_ECHO] for i in range(len(skeleton) - MIN_ECHO + 1)}


def unverified_claims(token: str | None) -> dict[str, Any]:
    """A JWT's claims read without checking its signature, for showing and advice only (whose a
    token we stored says it was, when a supplied token expires); ``{}`` for an opaque token or
    anything that is not a JWT with a JSON object as payload."""
    if not token:
        return {}
    import jwt  # only the command and a few messages read claims

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims if isinstance(claims, dict) else {}


def unverified_exp(token: str | None) -> float | None:
    """The ``exp`` claim (seconds since the epoch) of :func:`unverified_claims`; None when
    absent or not a finite number."""
    exp = unverified_claims(token).get("exp")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)) or not math.isfinite(exp):
        return None
    return float(exp)
