"""Whether a URL lies inside a protected resource, judged as the wire and the server read it.

A resource (RFC 9728 §2, RFC 8707) is an origin and a path; a URL is inside it when it has the
same origin and its path is the resource's path or goes below it at a ``/``. Both are compared
after the normalisation RFC 3986 allows a client and a server to make (§6.2.2, §6.2.3):

- scheme and host compared without case, a port equal to the scheme's default dropped;
- percent-encoded unreserved characters decoded (``%2e`` is ``.``, ``%61`` is ``a``), other
  escapes compared without the case of their hex digits;
- dot segments removed (§5.2.4), so ``/a/%2e%2e/b/`` is ``/b/``.

Paths are compared with case (``/A/`` is not ``/a/``). Whatever a server might read
differently from us counts as outside, so the token is withheld when in doubt: an encoded slash
or backslash (``%2f``, ``%5c``), a literal backslash, an escape that decodes again into a dot
segment or a separator (``%252e``), a dot segment hidden behind path parameters (``..;x``), a
malformed escape, a control character, an encoded or malformed host, or an unknown port.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Patterns, compiled on first use (``re`` keeps them): importing this module is on every warm
# zero-configuration run, where a compile costs more than the lookup it serves.
_ESCAPE = r"%([0-9A-Fa-f]{2})"
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HOST = r"[a-z0-9._\-]+|[0-9a-f:.]*:[0-9a-f:.]*"
#: How many more rounds of percent-decoding a suspicious server might apply.
_ROUNDS = 3


def within(resource: str, url: str) -> bool:
    """True when ``url`` is ``resource`` or below it (at a ``/``), after the normalisation
    above; False for anything ambiguous, and for a resource with a query or fragment."""
    if "?" in resource or "#" in resource:
        return False
    res, called = normal_form(resource), normal_form(url)
    if res is None or called is None or res[0] != called[0]:
        return False
    base = res[1][:-1] if res[1] and res[1][-1] == "" else res[1]  # "/a/" is "/a"
    path = called[1]
    return path[: len(base)] == base


def normal_form(url: str) -> tuple[str, list[str]] | None:
    """``(origin, path segments)`` of an absolute http(s) ``url``, normalised; None when it is
    not one or anything in it is ambiguous."""
    if any(ord(c) < 0x21 or ord(c) == 0x7F or c == "\\" for c in url):
        return None
    origin = _normal_origin(url)
    segments = None if origin is None else _path_segments(urlsplit(url).path or "/")
    return None if origin is None or segments is None else (origin, segments)


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` normalised as above (RFC 3986 §6.2.2.1, §6.2.3):
    ``HTTPS://API.example.com:443/x`` and ``https://api.example.com`` give the same string.
    A URL without a usable http(s) origin gives its scheme and authority lower-cased as
    written (it lies inside no resource anyway). The one place origins are compared."""
    origin = _normal_origin(url)
    if origin is not None:
        return origin
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _normal_origin(url: str) -> str | None:
    """The origin of an absolute http(s) URL with a plain host and a valid port, else None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not re.fullmatch(_HOST, host):
        return None
    if port is None or port == _DEFAULT_PORTS[scheme]:
        netloc = f"[{host}]" if ":" in host else host
    else:
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"{scheme}://{netloc}"


def _path_segments(path: str) -> list[str] | None:
    if "%" in path and re.sub(_ESCAPE, "", path).count("%"):
        return None  # a "%" that starts no escape: servers disagree on what it means
    decoded = re.sub(_ESCAPE, _unreserved_or_upper, path)
    output: list[str] = []
    for segment in decoded.split("/")[1:]:  # §5.2.4 on whole segments
        if segment == ".":
            continue
        if segment == "..":
            if output:
                output.pop()
            continue
        if _ambiguous(segment):
            return None
        output.append(segment)
    last = decoded.rsplit("/", 1)[-1]
    if last in (".", "..") and (not output or output[-1] != ""):
        output.append("")  # "/a/b/.." is "/a/"
    return output


def _unreserved_or_upper(match: re.Match[str]) -> str:
    byte = int(match.group(1), 16)
    return chr(byte) if byte in _UNRESERVED else "%" + match.group(1).upper()


def _ambiguous(segment: str) -> bool:
    """A segment some server could read as a separator or a dot segment after we did not."""
    value = segment
    for _ in range(_ROUNDS):
        bare = value.split(";", 1)[0]
        if "/" in value or "\\" in value or bare in (".", "..") or "\x00" in value:
            return True
        decoded = unquote(value, errors="surrogateescape") if "%" in value else value
        if decoded == value:
            return False
        value = decoded
    return "%" in value
