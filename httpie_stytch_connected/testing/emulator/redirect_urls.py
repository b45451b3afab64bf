"""Stytch's redirect URL rules for Connected Apps clients.

``localhost`` is refused (use ``127.0.0.1``); plain http is for loopback IPs only; a registered
URL without a port matches the same URL on any port; otherwise the match is exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit


def is_localhost(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host == "localhost" or host.endswith(".localhost")


def is_loopback_ip(host: str) -> bool:
    return host == "::1" or host.startswith("127.")


def registrable_error(uri: str) -> str | None:
    """The Stytch ``error_type`` that refuses ``uri`` as a redirect URL, or None if it is fine."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
    except ValueError:
        return "invalid_redirect_url"
    if parts.scheme not in ("http", "https") or not host:
        return "invalid_redirect_url"
    if is_localhost(host):
        return "connected_app_redirect_url_cannot_use_localhost"
    if parts.scheme == "http" and not is_loopback_ip(host):
        return "connected_app_redirect_url_http_scheme_must_use_loopback"
    return None


def check_registrable(uri: str) -> None:
    """Raise ValueError (message: the Stytch error type) when ``uri`` cannot be registered."""
    error = registrable_error(uri)
    if error == "invalid_redirect_url":
        raise ValueError("redirect URL must be an absolute http(s) URL")
    if error is not None:
        raise ValueError(error)


def redirect_registered(candidate: str, registered_uris: Iterable[str]) -> bool:
    """Exact match, except that a registered URL without a port matches any port."""
    try:
        cand = urlsplit(candidate)
        cand_port = cand.port
    except ValueError:
        return False
    if cand.fragment or cand.username or cand.password:
        return False
    for registered in registered_uris:
        if candidate == registered:
            return True
        reg = urlsplit(registered)
        if reg.port is not None:
            continue
        if cand_port is not None and not 0 < cand_port < 65536:
            continue
        if (
            cand.scheme.lower() == reg.scheme.lower()
            and (cand.hostname or "") == (reg.hostname or "").lower()
            and cand.path == reg.path
            and cand.query == reg.query
        ):
            return True
    return False
