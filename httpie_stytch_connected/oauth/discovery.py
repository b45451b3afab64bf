"""Finding a provider's endpoints from its issuer: OpenID Connect Discovery, then RFC 8414.

The document must name the very issuer we asked about, as the exact same string (RFC 8414 §3.3,
OpenID Discovery §4.3), or another server could hand us its endpoints; a mismatch is found here,
before any browser opens, and the ID token is later checked against that same string. Documents
are cached for a day in 0600 files so warm runs do not fetch them, and a stale copy is used when
the provider cannot be reached or answers 5xx: logging out or using a cached token must not
depend on the discovery endpoint being up.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigurationError, TokenEndpointError, TokenStoreError
from ..settings.stytch import stytch_iss_alias
from ..storage.store import cache_dir, read_text, write_private
from .endpoints import ProviderEndpoints
from .resource_metadata import read_bounded
from .token_client import NO_AUTH
from .untrusted import json_object, parse_json, shown_text
from .urls import check_issuer, host_of

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

#: Seconds a cached discovery document is used without asking the provider again.
DEFAULT_TTL = 24 * 3600.0
#: (connect, read) timeouts for fetching a document.
TIMEOUT = (5.0, 30.0)
OPENID = "/.well-known/openid-configuration"
OAUTH = "/.well-known/oauth-authorization-server"


def metadata_urls(issuer: str) -> list[str]:
    """OpenID Discovery appends to the issuer; RFC 8414 §3.1 inserts before the issuer's path."""
    parts = urlsplit(issuer.rstrip("/"))
    return [
        urlunsplit((parts.scheme, parts.netloc, parts.path + OPENID, "", "")),
        urlunsplit((parts.scheme, parts.netloc, OAUTH + parts.path, "", "")),
    ]


def discover(
    issuer: str,
    *,
    url: str | None = None,
    session: requests.Session | None = None,
    ttl: float = DEFAULT_TTL,
    machine: bool = False,
) -> ProviderEndpoints:
    """The issuer's endpoints; ``url`` names the document when the issuer is not a URL;
    ``machine``: a client-credentials client, which needs no authorization endpoint."""
    document = metadata(issuer, url=url, session=session, ttl=ttl)
    return endpoints_from(document, issuer, machine=machine)


def metadata(
    issuer: str,
    *,
    url: str | None = None,
    session: requests.Session | None = None,
    ttl: float = DEFAULT_TTL,
) -> dict[str, Any]:
    """The issuer's whole metadata document (cached like :func:`discover`'s endpoints)."""
    check_issuer(issuer)
    urls = [url] if url else metadata_urls(issuer)
    path = cache_dir() / "discovery" / f"{_digest(issuer, urls)}.json"
    cached = _load(path, issuer)
    if cached is not None and 0 <= time.time() - cached[0] < ttl:
        return cached[1]
    try:
        document = _fetch(issuer, urls, session)
    except TokenEndpointError as exc:
        if cached is None or not exc.retryable:
            raise
        log.debug("discovery at %s unavailable; using the cached document", host_of(urls[0]))
        return cached[1]
    endpoints_from(document, issuer, machine=True)  # one without usable ones is not cached
    try:
        write_private(path, json.dumps({"fetched_at": time.time(), "document": document}))
    except (OSError, TokenStoreError) as exc:  # only slower next time
        log.debug("discovery cache not written (%s)", type(exc).__name__)
    return document


def _fetch(issuer: str, urls: list[str], session: requests.Session | None) -> dict[str, Any]:
    import requests

    http = session or requests.Session()
    outage: tuple[str, int] | None = None  # the first document URL that answered 5xx
    for url in urls:
        try:
            response = http.get(
                url,
                headers={"Accept": "application/json"},
                timeout=TIMEOUT,
                auth=NO_AUTH,
                stream=True,
            )
            read_bounded(response, f"discover the endpoints of {issuer}")
        except TokenEndpointError:  # too big: itself a RequestException, said as it is
            raise
        except requests.RequestException as exc:
            raise TokenEndpointError(
                f"Could not discover the endpoints of {issuer}: cannot reach {host_of(url)} "
                f"({type(exc).__name__}); check your network connection and the issuer URL.",
                retryable=True,
            ) from None
        log.debug("discovery %s%s: HTTP %d", host_of(url), urlsplit(url).path, response.status_code)
        if response.status_code >= 500 and outage is None:
            outage = (url, response.status_code)
        if response.status_code != 200:
            continue
        document = json_object(response)
        if document is not None:
            _check_issuer(document, issuer, url)
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


def _check_issuer(document: Mapping[str, Any], issuer: str, url: str) -> None:
    """Exact string equality (RFC 8414 §3.3, OpenID Discovery §4.3): no case folding, no
    trailing-slash forgiveness, since ID tokens are then checked against this very string."""
    found = document.get("issuer")
    if found != issuer:
        shown = shown_text(found, limit=200) if isinstance(found, str) else None
        raise ConfigurationError(
            f"The discovery document at {host_of(url)} names issuer "
            f"{shown!r} but the configured issuer is {issuer!r}; issuers must match exactly "
            "(a trailing slash counts): if you trust that provider, set issuer to exactly the "
            "value it publishes."
        )


def endpoints_from(
    document: Mapping[str, Any], issuer: str, *, machine: bool = False
) -> ProviderEndpoints:
    """The checked endpoints a metadata document lists; ConfigurationError when it lacks the
    authorization (unless ``machine``: then the token endpoint stands in, unused) or token
    endpoint, or one is not https (loopback excepted)."""

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
        iss_alias=stytch_iss_alias(issuer, token),
        token_endpoint_auth_methods=tuple(m for m in methods if isinstance(m, str))
        if isinstance(methods, list)
        else (),
    ).checked()


def _load(path: Path, issuer: str) -> tuple[float, dict[str, Any]] | None:
    """The cached document, checked again as if just fetched (it must name ``issuer`` and list
    valid endpoints), else None. The file itself must be ours alone (:func:`.store.read_text`:
    a :class:`TokenStoreError` otherwise)."""
    try:
        data = parse_json(read_text(path) or "null")
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    fetched, document = data.get("fetched_at"), data.get("document")
    if not isinstance(fetched, (int, float)) or not isinstance(document, dict):
        return None
    try:
        _check_issuer(document, issuer, str(path))
        endpoints_from(document, issuer, machine=True)
    except ConfigurationError:
        log.debug("the cached discovery document fails its checks; fetching it again")
        return None
    return float(fetched), document


def _digest(issuer: str, urls: list[str]) -> str:
    return hashlib.sha256("\n".join([issuer, *urls]).encode()).hexdigest()[:32]
