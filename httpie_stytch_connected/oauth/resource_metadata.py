"""Protected resource metadata (RFC 9728): from an API's 401 to the authorization server.

The 401's ``WWW-Authenticate: Bearer`` challenge (RFC 6750 §3) may name the metadata document
(``resource_metadata``, RFC 9728 §5.1) and the scope it wants; without it the well-known URLs
are tried, path-inserted first, then the root form (§3.1). The document's ``resource`` must be
the URL called or a path prefix of it on the same origin (§3.3, read as the MCP clients do: an
API names its base URL), or nothing proceeds: an API must not send us to somebody else's
authorization server for another resource.

An older server (MCP authorization 2025-03-26, §2.3) publishes no such document: the
challenge names none and every well-known URL answers 4xx. Then the API's origin is taken as
both the resource and its own authorization server (:func:`origin_fallback`), as the MCP SDKs
do: the API names no other server, so it sends the tool nowhere it could not send it anyway. A
5xx is an outage, not an old server, and a ``resource_metadata`` the API named but does not
serve is its error: neither falls back.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigurationError, TokenEndpointError
from .provider_calls import HTTP, RESOURCE_METADATA, call
from .resource_uri import origin_of, within
from .untrusted import json_object
from .urls import check_endpoint, host_of, shown_url

if TYPE_CHECKING:
    from .provider_calls import HTTP

log = logging.getLogger(__name__)

WELL_KNOWN = "/.well-known/oauth-protected-resource"


def well_known_urls(url: str) -> list[str]:
    """RFC 9728 §3.1: ``/.well-known/oauth-protected-resource`` inserted before the path of the
    URL called, then at the root."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    urls = [urlunsplit((parts.scheme, parts.netloc, WELL_KNOWN + path, "", ""))]
    if path:
        urls.append(urlunsplit((parts.scheme, parts.netloc, WELL_KNOWN, "", "")))
    return urls


@dataclass(frozen=True)
class ProtectedResource:
    """What the API says about itself: RFC 9728 §2."""

    resource: str
    authorization_servers: tuple[str, ...]
    scopes_supported: tuple[str, ...] = ()
    metadata_url: str = ""
    #: No metadata (MCP 2025-03-26): the resource and its server are the API's origin.
    fallback: bool = False

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
    unpublished = not named  # every well-known URL answered 4xx: an older server
    outage = 0  # a 5xx: the server failed, it did not say it has no metadata
    for candidate in candidates:
        check_endpoint(candidate, "resource_metadata")
        status, document = _fetch(candidate, session)
        if document is None:
            unpublished = unpublished and 400 <= status < 500
            outage = outage or (status if status >= 500 else 0)
            continue
        found = _parse(document, candidate)
        if not within(found.resource, url):
            raise ConfigurationError(
                f"The API at {host_of(url)} announced metadata for another resource "
                f"({shown_url(found.resource)}); refusing to sign in for it. Check the URL, or "
                "configure the provider (STYTCH_ISSUER or STYTCH_PROJECT_DOMAIN) explicitly."
            )
        return found
    if unpublished:
        return origin_fallback(url)
    if outage:
        raise TokenEndpointError(
            f"Could not read the API's metadata: {host_of(url)} answered HTTP {outage}; "
            "try again later.",
            status=outage,
            retryable=True,
        )
    raise ConfigurationError(
        f"The API at {host_of(url)} does not say where to sign in (no protected resource "
        "metadata, RFC 9728); configure the provider with STYTCH_ISSUER or "
        "STYTCH_PROJECT_DOMAIN and STYTCH_CLIENT_ID."
    )


def origin_fallback(url: str) -> ProtectedResource:
    """The API at ``url`` without protected resource metadata, as MCP authorization 2025-03-26
    §2.3.2 has it: the authorization base URL is the API's URL with its path discarded, so the
    resource is the origin and the origin is its own authorization server (whose metadata, or
    the default endpoints, :func:`.discovery.default_metadata`, come next)."""
    origin = origin_of(url)
    check_endpoint(origin, "the API URL")
    return ProtectedResource(origin, (origin,), fallback=True)


def _fetch(url: str, session: HTTP) -> tuple[int, dict[str, Any] | None]:
    """The status and the JSON object at ``url`` (None unless a 200 with one)."""
    response = call(session, "GET", url, "read the API's metadata", kind=RESOURCE_METADATA)
    log.debug("resource metadata %s%s: HTTP %d", host_of(url), urlsplit(url).path, response.status)
    return response.status, json_object(response.body) if response.status == 200 else None


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
