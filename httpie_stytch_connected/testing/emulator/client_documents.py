"""Client ID metadata documents (CIMD, draft-ietf-oauth-client-id-metadata-document).

A ``client_id`` that is an https URL (or, for tests on this machine, an http URL on a loopback
IP) names a JSON document the client's publisher hosts. The emulator, like Stytch since
2025-10-17, advertises ``client_id_metadata_document_supported`` and, when it meets such a
``client_id``, fetches the document and takes the client from it: always a third-party public
client (Stytch's rule), its redirect URLs those the document lists (a loopback URL without a
port matches any port, as for every client). The document is fetched on every use (no cache),
so a test sees the document it serves.

A document is refused (the client is unknown) when it cannot be fetched or is not a JSON object
of at most :data:`MAX_DOCUMENT` bytes, when its ``client_id`` is not exactly the URL it was
fetched from, when it lists no redirect URL or one Stytch would not register, or when it asks
for a secret (``client_secret*`` methods or a ``client_secret``): the draft's §4.1 rules.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from .records import Client
from .redirect_urls import is_loopback_ip, registrable_error

#: The draft recommends servers cap a document at 5 KB.
MAX_DOCUMENT = 5 * 1024
#: Seconds the fetch may take.
FETCH_TIMEOUT = 5.0


def is_document_url(client_id: str) -> bool:
    """Whether ``client_id`` names a metadata document: https with a path, or http on a loopback
    IP (the emulator's allowance for documents a test serves); no fragment, no credentials."""
    try:
        parts = urlsplit(client_id)
        host = parts.hostname or ""
    except ValueError:
        return False
    if parts.fragment or parts.username or parts.password or parts.path in ("", "/"):
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback_ip(host))


def fetch_document(url: str) -> dict[str, Any] | None:
    """The JSON object at ``url`` (no redirects followed, no proxy), or None."""
    if not is_document_url(url):  # http(s) only: never file: or another scheme
        return None
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with opener.open(request, timeout=FETCH_TIMEOUT) as response:
            body = response.read(MAX_DOCUMENT + 1)
    except (OSError, ValueError, urllib.error.URLError):
        return None
    if len(body) > MAX_DOCUMENT:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def document_client(url: str, document: dict[str, Any]) -> Client | None:
    """The client ``document`` (fetched from ``url``) describes, or None when it is refused."""
    if document.get("client_id") != url:
        return None
    uris = document.get("redirect_uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
        return None
    if any(registrable_error(u) is not None for u in uris):
        return None
    method = document.get("token_endpoint_auth_method", "none")
    if method != "none" or "client_secret" in document:
        return None
    name = document.get("client_name")
    return Client(
        url,
        tuple(uris),
        client_type="third_party_public",
        client_name=name if isinstance(name, str) else "",
        registered=False,
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None
