"""URL rules every provider call obeys: https only (loopback excepted), printable, and how a
URL is named in messages (its host, never its path or query, which may carry secrets); and which
addresses an endpoint an API named may lead to (:func:`is_global_address`)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from ..errors import ConfigurationError

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
#: The longest host name DNS carries (RFC 1035 §2.3.4, without the trailing dot).
HOST_LIMIT = 253


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_of(url: str) -> str:
    """The ``host[:port]`` of ``url`` for messages and logs (never its user information, path
    or query); a value without a scheme, such as the legacy Stytch issuer
    ``stytch.com/project-…``, is a name and is shown up to any query or fragment."""
    netloc = urlsplit(url).netloc or url.split("?", 1)[0].split("#", 1)[0]
    return netloc.rpartition("@")[2]


def named(url: str) -> str:
    """``url`` as a message shows it: its scheme and host, with ``/…`` for whatever follows
    (a path or query may carry a secret, such as an API key)."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return "a value without scheme://host"
    rest = parts.path.strip("/") or parts.query or parts.fragment
    return f"{parts.scheme}://{host_of(url)}{'/…' if rest else ''}"


def shown_url(url: str) -> str:
    """A URL a server or an API chose, as a question or a message shows it (the consent
    question, a refusal): its ``scheme://host[:port]`` whole, since a cut host hides where it
    ends (``login.example.com.aaaa…`` may end in ``.attacker.example``), then the rest cut
    short as :func:`.untrusted.shown` cuts any value. A URL :func:`check_endpoint` passed has
    a host of at most :data:`HOST_LIMIT` characters, so this stays one short line."""
    from .untrusted import SHOWN_LIMIT, shown

    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if not parts.scheme or not parts.netloc or not url.startswith(origin):
        return shown(url)
    rest = url[len(origin) :]
    head = shown(origin, HOST_LIMIT + 40)
    return head + (shown(rest, max(40, SHOWN_LIMIT - len(head))) if rest else "")


def equivalent(a: str, b: str) -> bool:
    """Whether two http(s) URLs name the same resource by RFC 3986 §6.2.2 and §6.2.3 normalization:
    scheme and host in any case, the scheme's default port written or not, an empty path as
    ``/``. Nothing looser (a path is compared exactly, ``/t`` is not ``/t/``), so that a URL a
    person wrote (``trusted_issuers``) matches what a server says about itself."""
    normal = _normal(a)
    return normal is not None and normal == _normal(b)


def _normal(url: str) -> tuple[str, str | None, int | None, str, str] | None:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: nothing is equivalent to it
        return None
    scheme = parts.scheme.lower()
    default = {"http": 80, "https": 443}.get(scheme)
    return (scheme, parts.hostname, port or default, parts.path or "/", parts.query)


def check_endpoint(url: str, setting: str) -> str:
    """Require https, except on loopback hosts where local development and tests use http.

    A URL with spaces or control characters is refused unseen: URLs from a server's metadata
    are shown on the terminal, where such characters could rewrite what the person reads. So
    is one with user information, whose ``name@`` would pass for the host it is not; and one
    that is not ASCII (RFC 3986), whose letters from another script (``login.example.com`` with a
    Cyrillic ``o``, U+043E) would pass for the host or tenant they are not: every library sends
    its ``xn--`` and ``%`` form, which is how it must be written. A host longer than DNS allows
    (253 characters) or a port that is not one is refused too: it could never be reached, and
    a question or message that showed it whole could not stay short."""
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ConfigurationError(
            f"{setting} is not a URL: it contains spaces or control characters."
        )
    if not url.isascii():
        raise ConfigurationError(
            f"{setting} is not a URL as sent on the wire: it holds characters outside ASCII, "
            "which could pass for others; write its host in its xn-- form and percent-encode "
            "the rest (where an API or its server named it, tell its owner)."
        )
    parts = urlsplit(url)
    if not _plausible_authority(parts.netloc, parts.hostname):
        raise ConfigurationError(
            f"{setting} is not a URL any server can have: it needs a host of at most "
            f"{HOST_LIMIT} characters and a port from 1 to 65535, written as such; correct it "
            "where it is written (where an API or its server named it, tell its owner)."
        )
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(
            f"{setting} must be an absolute URL, https://host/… (or http:// on 127.0.0.1, ::1 "
            f"or localhost); got {named(url)}."
        )
    if "@" in parts.netloc:  # `https://trusted.example@evil.example` reads as the first host
        raise ConfigurationError(
            f"{setting} must not carry user information before its host (user@host); got "
            f"{named(url)}."
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigurationError(
            f"{setting} must use https:// (plain http is only allowed for 127.0.0.1, ::1 and "
            f"localhost); got {named(url)}."
        )
    return url


def _plausible_authority(netloc: str, hostname: str | None) -> bool:
    """A host DNS can carry and a port TCP has, in at most 5 digits (``:0001`` is port 1 too,
    but ``:`` and 5,000 zeros would be named in every message about it)."""
    after_host = netloc.rpartition("@")[2].rpartition("]")[2]  # past an IPv6 literal
    port = after_host.rpartition(":")[2] if ":" in after_host else ""
    if len(hostname or "") > HOST_LIMIT or len(port) > 5:
        return False
    return not port or (port.isdigit() and 0 < int(port) <= 65535)


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


def is_global_address(address: str) -> bool:
    """True only for a globally reachable unicast address (the RFC 6890 special-purpose
    registries, as :mod:`ipaddress` knows them): never loopback, link-local, private, shared
    (RFC 6598), unspecified, multicast or reserved. An IPv6 address that carries an IPv4 one
    is judged by the IPv4 address, since that is where the packets end up: IPv4-mapped
    ``::ffff:a.b.c.d`` (RFC 4291 §2.5.5.2) and the NAT64 prefix ``64:ff9b::/96`` (RFC 6052,
    what DNS64 answers for an IPv4-only name); a 6to4 address (RFC 3056) by both. The
    deprecated IPv4-compatible form is reserved, so never global. Anything that does not
    parse as an address is not global."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 scope is no address
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        carried = ip.ipv4_mapped or (
            ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None
        )
        if carried is not None:
            return is_global_address(str(carried))
        if ip.sixtofour is not None and not is_global_address(str(ip.sixtofour)):
            return False
    special = (
        ip.is_loopback,
        ip.is_link_local,
        ip.is_private,
        ip.is_unspecified,
        ip.is_multicast,
        ip.is_reserved,
    )
    return ip.is_global and not any(special)


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class NotGlobal(Exception):
    """A name an API chose leads to an address on this machine or a private network
    (``address``). Not an ``OSError``: no HTTP library may take it for a network failure and
    retry or wrap it."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(host, address)
        self.host = host
        self.address = address


def global_addresses(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, resolved once, each global (or :class:`NotGlobal`
    for the first that is not: a name answering both a public and a local address is refused,
    not filtered). A connection is then made to these very addresses, never to the name, so a
    second DNS answer (rebinding) cannot slip in between the check and the connect. Raises
    ``socket.gaierror`` when the name does not resolve."""
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        if not is_global_address(address):
            raise NotGlobal(host, address)
    return addresses
