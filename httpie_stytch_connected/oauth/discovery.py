"""Finding a provider's endpoints from its issuer: RFC 8414 and OpenID Connect Discovery.

The document must name the very issuer we asked about, as the exact same string (RFC 8414 §3.3,
OpenID Discovery §4.3), or another server could hand us its endpoints; a mismatch is found here,
before any browser opens, and the ID token is later checked against that same string. Keeping
documents between runs is :mod:`..storage.metadata_cache`'s.

One exception, for an API without protected resource metadata only (MCP authorization
2025-03-26, whose "authorization base URL" is the API's origin): the document at that origin may
name an issuer elsewhere on the same origin, such as ``{origin}/oauth``
(:func:`named_on_origin`), which is then the issuer for everything after. The origin that
serves the document is the party that, in that fallback, already chooses where the person signs
in, and it controls every URL on itself, so such an issuer gives it nothing it lacked; an issuer
on any other origin stays refused, since a document would then speak for another party's server.

PKCE (RFC 7636): we only ever send S256 (:mod:`.pkce`). A document whose
``code_challenge_methods_supported`` (RFC 8414 §2) exists and lacks ``S256`` is refused before
any browser opens or any client is registered (:func:`check_pkce_s256`). A document without the
field is used, with S256 as always. The MCP authorization specification asks clients to refuse
then; RFC 8414 §2 only says such a server advertises no PKCE support, and OAuth 2.1 (§4.1.1)
has every authorization server support PKCE. We follow the latter because refusing would strand
people at servers that simply omit the field (older servers; MCP 2025-03-26-style servers that
publish no metadata at all, which zero configuration supports with the default endpoints), and
because sending a challenge to a server that ignores it weakens nothing: the ``state`` check
still binds the response to this sign-in, and S256 keeps the verifier off the front channel.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigurationError, TokenEndpointError
from .endpoints import ProviderEndpoints
from .provider_calls import DISCOVERY, HTTP, call
from .resource_uri import normal_form, origin_of
from .untrusted import json_object, shown_text
from .urls import check_endpoint, host_of, shown_url

log = logging.getLogger(__name__)

OPENID = "/.well-known/openid-configuration"
OAUTH = "/.well-known/oauth-authorization-server"


def metadata_urls(issuer: str) -> list[str]:
    """Where an issuer's metadata may be, in the order RFC 8414 §3.1 and the MCP authorization
    specification give: RFC 8414's path insertion, then OpenID Discovery's path insertion, then
    its path appending (the form OpenID Discovery §4 itself defines). Without a path the three
    are two."""
    parts = urlsplit(issuer.rstrip("/"))

    def at(path: str) -> str:
        return urlunsplit((parts.scheme, parts.netloc, path, "", ""))

    urls = [at(OAUTH + parts.path), at(OPENID + parts.path), at(parts.path + OPENID)]
    return list(dict.fromkeys(urls))


#: MCP authorization 2025-03-26 §2.3.3: where a server without metadata has its endpoints.
DEFAULT_PATHS = {
    "authorization_endpoint": "/authorize",
    "token_endpoint": "/token",
    "registration_endpoint": "/register",
}


def default_metadata(origin: str) -> dict[str, Any]:
    """The metadata a server at ``origin`` that publishes none is taken to have: MCP
    authorization 2025-03-26 §2.3.3's default endpoints at the origin (used only for an API
    without protected resource metadata, which is its own server: ``origin`` is the API's).
    No ``code_challenge_methods_supported``: S256 is sent, as for any document without it (see
    the module docstring)."""
    base = origin.rstrip("/")
    return {"issuer": base, **{name: base + path for name, path in DEFAULT_PATHS.items()}}


def fetch_metadata(
    issuer: str, urls: list[str], session: HTTP, *, on_origin: bool = False
) -> dict[str, Any]:
    """The first metadata document at ``urls`` that names ``issuer`` exactly (``on_origin``:
    see :func:`check_issuer_named`). Raises :class:`TokenEndpointError` (``retryable`` for an
    outage) when none answers, and :class:`ConfigurationError` when one names another issuer."""
    outage: tuple[str, int] | None = None  # the first document URL that answered 5xx
    for url in urls:
        response = call(session, "GET", url, f"discover the endpoints of {issuer}", kind=DISCOVERY)
        log.debug("discovery %s%s: HTTP %d", host_of(url), urlsplit(url).path, response.status)
        if response.status >= 500 and outage is None:
            outage = (url, response.status)
        if response.status != 200:
            continue
        document = json_object(response.body)
        # "issuer" is required (RFC 8414 §2): without it, not metadata, as a catch-all page is
        if document is not None and "issuer" in document:
            check_issuer_named(document, issuer, url, on_origin=on_origin)
            return document
    if outage is not None:
        raise TokenEndpointError(
            f"Could not discover the endpoints of {issuer}: {host_of(outage[0])} answered HTTP "
            f"{outage[1]}, a provider outage; try again later.",
            status=outage[1],
            retryable=True,
        )
    raise TokenEndpointError(
        f"Could not discover the endpoints of {issuer}: {host_of(urls[0])} serves no OpenID or "
        "OAuth metadata there; check the issuer URL, or set authorization_endpoint and "
        "token_endpoint instead.",
        status=404,
    )


def check_issuer_named(
    document: Mapping[str, Any], issuer: str, url: str, *, on_origin: bool = False
) -> None:
    """Exact string equality (RFC 8414 §3.3, OpenID Discovery §4.3): no case folding, no
    trailing-slash forgiveness, since ID tokens are then checked against this very string.
    ``on_origin`` (an API's own origin without resource metadata, MCP 2025-03-26): ``issuer``
    is that origin, and any issuer :func:`named_on_origin` will do."""
    found = document.get("issuer")
    if found != issuer and not (on_origin and named_on_origin(found, issuer)):
        shown = shown_text(found, limit=200) if isinstance(found, str) else None
        raise ConfigurationError(
            f"The discovery document at {host_of(url)} names issuer "
            f"{shown!r} but the configured issuer is '{shown_url(issuer)}'; issuers must match "
            "exactly (a trailing slash counts): if you trust that provider, set issuer to exactly "
            "the value it publishes."
        )


def named_on_origin(found: object, origin: str) -> bool:
    """Whether ``found`` is an issuer identifier on ``origin`` itself (see the module
    docstring): an http(s) URL as RFC 8414 §2 has issuers (no query, no fragment), without
    userinfo, usable as an endpoint (https, or http on loopback), whose path nothing could
    read otherwise (:func:`.resource_uri.normal_form`), on that same scheme, host and port."""
    if not isinstance(found, str) or "?" in found or "#" in found:
        return False
    parts = urlsplit(found)
    if parts.username is not None or parts.password is not None or normal_form(found) is None:
        return False
    try:
        check_endpoint(found, "issuer")
    except ConfigurationError:
        return False
    return origin_of(found) == origin_of(origin)


def check_pkce_s256(document: Mapping[str, Any], issuer: str) -> None:
    """Raise :class:`ConfigurationError` (one sentence naming the server) when the document's
    ``code_challenge_methods_supported`` (RFC 8414 §2) is present and does not list ``S256``
    (RFC 7636 §4.2), the only method we send; absent, nothing is said (see the module
    docstring for why)."""
    methods = document.get("code_challenge_methods_supported")
    if methods is None:
        return
    if isinstance(methods, list) and "S256" in methods:
        return
    listed = (
        ", ".join(shown_text(m, limit=40) or "?" for m in methods[:8] if isinstance(m, str))
        if isinstance(methods, list)
        else ""
    )
    raise ConfigurationError(
        f"The authorization server {shown_text(issuer, limit=200)} does not offer PKCE with "
        f"S256 (its metadata lists only {listed or 'no usable method'}), so signing in there "
        "could not protect the authorization code; refusing before any browser opens."
    )


def endpoints_from(
    document: Mapping[str, Any], issuer: str, *, machine: bool = False
) -> ProviderEndpoints:
    """The checked endpoints a metadata document lists; ConfigurationError when it lacks the
    authorization (unless ``machine``: then the token endpoint stands in, unused) or token
    endpoint, or one is not https (loopback excepted), or (unless ``machine``: no browser, no
    PKCE) when it offers PKCE without S256 (:func:`check_pkce_s256`)."""
    if not machine:
        check_pkce_s256(document, issuer)

    def field(name: str) -> str | None:
        value = document.get(name)
        return value if isinstance(value, str) and value else None

    authorize, token = field("authorization_endpoint"), field("token_endpoint")
    if machine and not authorize:
        authorize = token
    methods = document.get("token_endpoint_auth_methods_supported")
    if not authorize or not token:
        raise ConfigurationError(
            f"The discovery document of {issuer} lists no authorization or token endpoint; set "
            "authorization_endpoint and token_endpoint explicitly."
        )
    return ProviderEndpoints(
        authorization_endpoint=authorize,
        token_endpoint=token,
        revocation_endpoint=field("revocation_endpoint"),
        issuer=issuer,
        jwks_uri=field("jwks_uri"),
        userinfo_endpoint=field("userinfo_endpoint"),
        iss_parameter_supported=document.get("authorization_response_iss_parameter_supported")
        is True,
        token_endpoint_auth_methods=tuple(m for m in methods if isinstance(m, str))
        if isinstance(methods, list)
        else (),
    ).checked()
