"""A provider's endpoints (RFC 6749 §3, RFC 7009, OpenID Connect Discovery), provider-neutral.

Stytch is one preset on top of this (:mod:`.stytch`); any standards-compliant OAuth 2.0 /
OpenID provider fits the same shape.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..errors import ConfigurationError, TokenEndpointError

if TYPE_CHECKING:
    import requests

#: (connect, read) seconds for :func:`check_reachable`: an answer of any kind is enough.
PROBE_TIMEOUT = (5.0, 10.0)

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


@dataclass(frozen=True)
class ProviderEndpoints:
    authorization_endpoint: str
    token_endpoint: str
    revocation_endpoint: str | None = None
    issuer: str | None = None
    jwks_uri: str | None = None
    userinfo_endpoint: str | None = None
    #: RFC 9207: the server always sends ``iss`` in authorization responses.
    iss_parameter_supported: bool = False
    #: A regular expression for another ``iss`` form the preset accepts (Stytch's default domain).
    iss_alias: str | None = None
    #: Which setting decides the token endpoint, for messages ("project_domain, from …").
    token_endpoint_origin: str | None = field(default=None, compare=False)

    def checked(self) -> ProviderEndpoints:
        for name in (
            "authorization_endpoint",
            "token_endpoint",
            "revocation_endpoint",
            "jwks_uri",
            "userinfo_endpoint",
        ):
            value = getattr(self, name)
            if value is not None:
                check_endpoint(value, name)
        check_issuer(self.issuer)
        return self


def check_issuer(issuer: str | None) -> None:
    """An issuer URL is fetched (discovery) and so must be https:// like any endpoint; the
    scheme-less legacy Stytch issuer ``stytch.com/{project_id}`` is only a name and passes."""
    if issuer is not None and "://" in issuer:
        check_endpoint(issuer, "issuer")


def check_reachable(endpoints: ProviderEndpoints, session: requests.Session) -> None:
    """Before the browser opens: the token endpoint answers at all (any HTTP status will do).

    Otherwise the person would sign in only to learn the code cannot be exchanged. Raises
    :class:`TokenEndpointError` naming the URL and the setting that decides it.
    """
    import requests

    from .token_client import NO_AUTH

    url = endpoints.token_endpoint
    try:
        session.get(
            url,
            headers={"Accept": "application/json"},
            timeout=PROBE_TIMEOUT,
            allow_redirects=False,
            auth=NO_AUTH,
        ).close()
    except requests.RequestException as exc:
        origin = endpoints.token_endpoint_origin or "the provider settings"
        raise TokenEndpointError(
            f"Cannot reach the token endpoint {url} ({type(exc).__name__}), so a sign-in could "
            f"not finish; that URL comes from {origin}: check it, and your network connection.",
            retryable=True,
        ) from None
