"""Authorization server metadata kept between runs (see :mod:`..oauth.discovery`).

Documents are cached for a day in 0600 files so warm runs do not fetch them, and a stale copy is
used when the provider cannot be reached or answers 5xx: logging out or using a cached token
must not depend on the discovery endpoint being up. A cached document is checked again as if
just fetched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError, TokenEndpointError, TokenStoreError
from ..oauth.discovery import (
    check_issuer_named,
    default_metadata,
    endpoints_from,
    fetch_metadata,
    metadata_urls,
)
from ..oauth.endpoints import ProviderEndpoints
from ..oauth.provider_calls import HTTP
from ..oauth.untrusted import parse_json
from ..oauth.urls import check_issuer, host_of
from .store import cache_dir, read_text, write_private

log = logging.getLogger(__name__)

#: Seconds a cached discovery document is used without asking the provider again.
DEFAULT_TTL = 24 * 3600.0


def discover(
    issuer: str,
    *,
    url: str | None = None,
    session: HTTP = None,
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
    session: HTTP = None,
    ttl: float = DEFAULT_TTL,
    on_origin: bool = False,
    fresh: bool = False,
) -> dict[str, Any]:
    """The issuer's whole metadata document (cached like :func:`discover`'s endpoints);
    ``on_origin``: ``issuer`` is an API's origin and the document may name another issuer on
    it (:func:`..oauth.discovery.named_on_origin`, only for :func:`metadata_or_defaults`);
    ``fresh``: fetched now, never the cached copy (not even in an outage), and cached."""
    check_issuer(issuer)
    urls = [url] if url else metadata_urls(issuer)
    path = cache_dir() / "discovery" / f"{_digest(issuer, urls)}.json"
    cached = None if fresh else _load(path, issuer, on_origin)
    if cached is not None and 0 <= time.time() - cached[0] < ttl:
        return cached[1]
    try:
        document = fetch_metadata(issuer, urls, session, on_origin=on_origin)
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


def metadata_or_defaults(
    origin: str, *, session: HTTP = None, fresh: bool = False
) -> tuple[dict[str, Any], bool]:
    """The metadata at ``origin``, whose issuer may be any on that origin (such as
    ``{origin}/oauth``: :func:`..oauth.discovery.named_on_origin`), else (when no metadata URL
    serves any: a 404, not an outage) the default endpoints at the origin
    (:func:`..oauth.discovery.default_metadata`, issuer the origin), which are not cached; True
    when the defaults are used (``fresh``: as for :func:`metadata`). Only for an API's own
    origin without protected resource metadata (MCP authorization 2025-03-26 §2.3.2, §2.3.3)."""
    try:
        return metadata(origin, session=session, on_origin=True, fresh=fresh), False
    except TokenEndpointError as exc:
        if exc.retryable or exc.status != 404:
            raise
    return default_metadata(origin), True


def _load(path: Path, issuer: str, on_origin: bool) -> tuple[float, dict[str, Any]] | None:
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
        check_issuer_named(document, issuer, str(path), on_origin=on_origin)
        endpoints_from(document, issuer, machine=True)
    except ConfigurationError:
        log.debug("the cached discovery document fails its checks; fetching it again")
        return None
    return float(fetched), document


def _digest(issuer: str, urls: list[str]) -> str:
    return hashlib.sha256("\n".join([issuer, *urls]).encode()).hexdigest()[:32]


#: Seconds a registration endpoint that registered a client this tool cannot use is not sent
#: another registration (issue 18 §1): servers cap registrations, and each run would add one.
UNUSABLE_TTL = 24 * 3600.0
#: RFC 6749 VSCHAR, bounded: what is kept is said on the terminal again.
_REASON = re.compile(r"[\x20-\x7e]{1,200}")
#: APIs remembered per endpoint, so that ``logout --resource`` can find the record.
_RESOURCES = 16


def remember_unusable(endpoint: str, reason: str, resource: str | None) -> None:
    """Keep that ``endpoint`` registered a client this tool cannot use, and why (a sentence of
    ours, nothing secret), with ``resource``, the API that led there. Best effort: a cache that
    cannot be written only means registering again next time."""
    if not _REASON.fullmatch(reason):
        reason = "its answer could not be used"
    known = _read_unusable(_unusable_path(endpoint))
    resources = [r for r in (known or {}).get("resources", []) if r != resource]
    if resource:
        resources.append(resource)
    record = {
        "v": 1,
        "endpoint": endpoint,
        "reason": reason,
        "at": time.time(),
        "resources": resources[-_RESOURCES:],
    }
    _keep(_unusable_path(endpoint), record, "unusable registration")


def unusable(endpoint: str, *, now: float | None = None) -> str | None:
    """Why ``endpoint`` registered an unusable client, if it did less than
    :data:`UNUSABLE_TTL` seconds ago (:func:`remember_unusable`); else None."""
    record = _read_unusable(_unusable_path(endpoint))
    if record is None or record["endpoint"] != endpoint:
        return None
    return record["reason"] if _fresh(record["at"], UNUSABLE_TTL, now) else None


def forget_unusable(resource: str) -> list[str]:
    """Forget every unusable registration an API within ``resource`` (or containing it) led to
    (``logout --resource``); the registration endpoints forgotten."""
    from ..oauth.resource_uri import within

    directory = cache_dir() / "unusable-registrations"
    paths = sorted(directory.glob("*.json")) if directory.is_dir() else []
    forgotten = []
    for path in paths:
        record = _read_unusable(path)
        if record is None:
            continue
        apis = record["resources"]
        if any(within(api, resource) or within(resource, api) for api in apis):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            forgotten.append(record["endpoint"])
    return forgotten


def _unusable_path(endpoint: str) -> Path:
    return _record_path("unusable-registrations", endpoint)


def _read_unusable(path: Path) -> dict[str, Any] | None:
    """The record at ``path``, checked again (it is said on the terminal), else None."""
    data = _read_record(path)
    if data is None:
        return None
    endpoint, reason, at = data.get("endpoint"), data.get("reason"), data.get("at")
    resources = data.get("resources")
    if (
        not isinstance(endpoint, str)
        or not isinstance(reason, str)
        or not _REASON.fullmatch(reason)
    ):
        return None
    if not isinstance(at, (int, float)) or not isinstance(resources, list):
        return None
    kept = [r for r in resources if isinstance(r, str) and len(r) <= 2048][:_RESOURCES]
    return {"endpoint": endpoint, "reason": reason, "at": float(at), "resources": kept}


#: Seconds a token endpoint found gone is remembered for a token key (issue 18 §2): until then,
#: a sign-in for that key first asks the endpoint again (:meth:`..oauth.token_client.
#: TokenClient.probe`) instead of opening a browser whose code could not be exchanged.
GONE_TTL = 24 * 3600.0


def remember_gone(key: str, endpoint: str, status: int) -> None:
    """Keep that ``endpoint``, the token endpoint of the token key ``key``, answered ``status``
    as if it were not there. Best effort: a cache that cannot be written only means that the
    next sign-in opens the browser before it finds out again."""
    if len(endpoint) > 2048:
        return
    record = {"v": 1, "endpoint": endpoint, "status": status, "at": time.time()}
    _keep(_gone_path(key), record, "gone token endpoint")


def gone_endpoint(key: str, *, now: float | None = None) -> str | None:
    """The token endpoint :func:`remember_gone` kept for ``key`` less than :data:`GONE_TTL`
    seconds ago, else None."""
    data = _read_record(_gone_path(key))
    if data is None:
        return None
    endpoint, at = data.get("endpoint"), data.get("at")
    if not isinstance(endpoint, str) or not isinstance(at, (int, float)):
        return None
    return endpoint if _fresh(at, GONE_TTL, now) else None


def forget_gone(key: str) -> None:
    """Forget what :func:`remember_gone` kept for ``key`` (a token endpoint answered again,
    or ``logout``)."""
    with contextlib.suppress(OSError):  # best effort, as remembering is
        _gone_path(key).unlink()


def _gone_path(key: str) -> Path:
    return _record_path("gone-token-endpoints", key)


# -- records kept for a while (unusable registrations, gone token endpoints) -----------------
def _record_path(folder: str, name: str) -> Path:
    """The file in the cache's ``folder`` that holds the record about ``name``."""
    digest = hashlib.sha256(name.encode()).hexdigest()[:32]
    return cache_dir() / folder / f"{digest}.json"


def _keep(path: Path, record: dict[str, Any], what: str) -> None:
    """Write ``record`` to ``path``. Best effort: a record that cannot be kept only means the
    next run finds out again."""
    try:
        write_private(path, json.dumps(record))
    except (OSError, TokenStoreError) as exc:
        log.debug("%s not remembered (%s)", what, type(exc).__name__)


def _read_record(path: Path) -> dict[str, Any] | None:
    """The version-1 record at ``path`` as a JSON object, unchecked beyond that; else None."""
    try:
        data = parse_json(read_text(path) or "null")
    except (ValueError, TokenStoreError):
        return None
    return data if isinstance(data, dict) and data.get("v") == 1 else None


def _fresh(at: float, ttl: float, now: float | None) -> bool:
    """Whether a record made at ``at`` (seconds since the epoch) is younger than ``ttl``."""
    return 0 <= (time.time() if now is None else now) - at < ttl
