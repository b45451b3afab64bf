"""Protected resource metadata (RFC 9728): from an API's 401 to the authorization server.

The 401's ``WWW-Authenticate: Bearer`` challenge (RFC 6750 §3) may name the metadata document
(``resource_metadata``, RFC 9728 §5.1) and the scope it wants; without it the well-known URLs
are tried, path-inserted first, then the root form (§3.1). The document's ``resource`` must be
the URL called or a path prefix of it on the same origin (§3.3, read as the MCP clients do: an
API names its base URL), or nothing proceeds: an API must not send us to somebody else's
authorization server for another resource.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigurationError
from .provider_calls import HTTP, RESOURCE_METADATA, call
from .untrusted import json_object
from .urls import check_endpoint, host_of

if TYPE_CHECKING:
    pass

    from .provider_calls import HTTP

log = logging.getLogger(__name__)

WELL_KNOWN = "/.well-known/oauth-protected-resource"
#: Longest challenge header read; a hostile API cannot make us parse megabytes.
_MAX_HEADER = 8192
_TOKEN = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"
_PARAM = re.compile(rf'\s*({_TOKEN})\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)\s*,?')
_SCHEME = re.compile(rf"\s*({_TOKEN})(?=[\s,]|$)\s*,?")


def bearer_challenge(header: str | None) -> dict[str, str] | None:
    """The parameters of the ``Bearer`` challenge in a ``WWW-Authenticate`` value (RFC 9110
    §11.6.1; names lower-cased, first occurrence wins), or None when there is no such challenge.

    The ``error`` value is not insisted on: Stytch's example servers send non-standard ones.
    """
    text = (header or "")[:_MAX_HEADER]
    scheme: str | None = None
    params: dict[str, str] | None = None
    pos = 0
    while pos < len(text):
        match = _PARAM.match(text, pos)
        if match:
            if scheme == "bearer" and params is not None:
                value = match.group(2)
                if value.startswith('"'):
                    value = re.sub(r"\\(.)", r"\1", value[1:-1])
                params.setdefault(match.group(1).lower(), value)
            pos = match.end()
            continue
        match = _SCHEME.match(text, pos)
        if match:
            scheme = match.group(1).lower()
            if scheme == "bearer" and params is None:
                params = {}
            pos = match.end()
            continue
        pos += 1  # junk (a token68 tail, a stray quote): skip it
    return params


def well_known_urls(url: str) -> list[str]:
    """RFC 9728 §3.1: ``/.well-known/oauth-protected-resource`` inserted before the path of the
    URL called, then at the root."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    urls = [urlunsplit((parts.scheme, parts.netloc, WELL_KNOWN + path, "", ""))]
    if path:
        urls.append(urlunsplit((parts.scheme, parts.netloc, WELL_KNOWN, "", "")))
    return urls


def resource_matches(resource: str, url: str) -> bool:
    """True when ``resource`` is ``url`` or a path prefix of it (at a ``/``) on the same origin,
    both normalised as a server may read them; anything ambiguous does not match
    (:func:`.resource_uri.within`)."""
    from .resource_uri import within

    return within(resource, url)


@dataclass(frozen=True)
class ProtectedResource:
    """What the API says about itself: RFC 9728 §2."""

    resource: str
    authorization_servers: tuple[str, ...]
    scopes_supported: tuple[str, ...] = ()
    metadata_url: str = ""

    @property
    def authorization_server(self) -> str:
        return self.authorization_servers[0]


def discover_resource(
    url: str, challenge: Mapping[str, str] | None, session: HTTP
) -> ProtectedResource:
    """The metadata of the API at ``url``: from the challenge's ``resource_metadata``, else the
    well-known URLs. Raises :class:`ConfigurationError` when the API names none or a document
    is for another resource, :class:`TokenEndpointError` when it cannot be fetched."""
    check_endpoint(url, "the API URL")
    named = (challenge or {}).get("resource_metadata")
    candidates = [named] if named else well_known_urls(url)
    for candidate in candidates:
        check_endpoint(candidate, "resource_metadata")
        document = _fetch(candidate, session)
        if document is None:
            continue
        found = _parse(document, candidate)
        if not resource_matches(found.resource, url):
            raise ConfigurationError(
                f"The API at {host_of(url)} announced metadata for another resource "
                f"({found.resource!r}); refusing to sign in for it. Check the URL, or configure "
                "the provider (STYTCH_ISSUER or STYTCH_PROJECT_DOMAIN) explicitly."
            )
        return found
    raise ConfigurationError(
        f"The API at {host_of(url)} does not say where to sign in (no protected resource "
        "metadata, RFC 9728); configure the provider with STYTCH_ISSUER or "
        "STYTCH_PROJECT_DOMAIN and STYTCH_CLIENT_ID."
    )


def _fetch(url: str, session: HTTP) -> dict[str, Any] | None:
    # Provider calls load only for a call: a warm zero-configuration run matches URLs alone.

    response = call(session, "GET", url, "read the API's metadata", kind=RESOURCE_METADATA)
    log.debug("resource metadata %s%s: HTTP %d", host_of(url), urlsplit(url).path, response.status)
    return json_object(response.body) if response.status == 200 else None


def _parse(document: Mapping[str, Any], url: str) -> ProtectedResource:
    resource = document.get("resource")
    servers = document.get("authorization_servers")
    if not isinstance(resource, str) or not resource:
        raise ConfigurationError(
            f"The resource metadata at {host_of(url)} has no 'resource'; the API's metadata is "
            "broken, tell its owner."
        )
    if (
        not isinstance(servers, list)
        or not servers
        or not all(isinstance(s, str) and s for s in servers)
    ):
        raise ConfigurationError(
            f"The resource metadata at {host_of(url)} names no authorization server; configure "
            "the provider with STYTCH_ISSUER or STYTCH_PROJECT_DOMAIN."
        )
    scopes = document.get("scopes_supported")
    scope_list = [s for s in scopes if isinstance(s, str) and s] if isinstance(scopes, list) else []
    for server in servers:
        check_endpoint(server, "authorization_servers")
    check_endpoint(resource, "resource")
    return ProtectedResource(resource, tuple(servers), tuple(scope_list), url)
