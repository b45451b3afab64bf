"""URL rules every provider call obeys: https only (loopback excepted), printable, and how a
URL is named in messages (its host, never its path or query, which may carry secrets)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from ..errors import ConfigurationError

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_of(url: str) -> str:
    """The ``host[:port]`` of ``url`` for messages and logs (never its path or query)."""
    return urlsplit(url).netloc or url


def check_endpoint(url: str, setting: str) -> str:
    """Require https, except on loopback hosts where local development and tests use http.

    A URL with spaces or control characters is refused unseen: URLs from a server's metadata
    are shown on the terminal, where such characters could rewrite what the person reads."""
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ConfigurationError(
            f"{setting} is not a URL: it contains spaces or control characters."
        )
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(f"{setting} must be an absolute https:// URL (got {url!r}).")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigurationError(
            f"{setting} must use https:// (plain http is only allowed for 127.0.0.1, ::1 and "
            f"localhost); got {url!r}."
        )
    return url


def check_issuer(issuer: str | None) -> None:
    """An issuer URL is fetched (discovery) and so must be https:// like any endpoint; the
    scheme-less legacy Stytch issuer ``stytch.com/{project_id}`` is only a name and passes."""
    if issuer is not None and "://" in issuer:
        check_endpoint(issuer, "issuer")


#: The URLs a provider is reached at, by their RFC 8414 / OpenID Discovery names.
ENDPOINT_NAMES = (
    "authorization_endpoint",
    "token_endpoint",
    "revocation_endpoint",
    "jwks_uri",
    "userinfo_endpoint",
)


def check_provider_urls(source: object) -> None:
    """:func:`check_endpoint` for each of :data:`ENDPOINT_NAMES` that ``source`` has set, and
    :func:`check_issuer` for its ``issuer``. Raises :class:`ConfigurationError`."""
    for name in ENDPOINT_NAMES:
        value = getattr(source, name, None)
        if value is not None:
            check_endpoint(value, name)
    check_issuer(getattr(source, "issuer", None))
