"""Where an API may send the tool: the person's own machine and network are theirs to name.

In zero configuration the API chooses every URL that follows (its resource metadata, the
authorization server, and that server's endpoints), so an API on the internet could otherwise
aim the tool at ``http://127.0.0.1:…/admin`` or a router on the private network and have it
send a GET or a JSON POST there (server-side request forgery through the person's machine).
The allowance for loopback (and plain http there, :func:`..oauth.urls.check_endpoint`) holds
only when the API itself is the person's own: on loopback, or a host listed in
``local_hosts``. For any other API, every provider call reaches global addresses only, checked
where the connection is made (:class:`..oauth.provider_calls.RequestsHTTP`), except for the
hosts ``local_hosts`` lists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..oauth.urls import is_loopback
from ..settings.options import host_matches

if TYPE_CHECKING:
    import requests

    from ..oauth.provider_calls import RequestsHTTP
    from ..settings.config import Settings


def is_own(url: str, local_hosts: tuple[str, ...]) -> bool:
    """Whether ``url`` is on a host the person counts as theirs: one ``local_hosts`` lists or,
    with none listed, a loopback one."""
    if local_hosts:
        return host_matches(url, local_hosts)
    return is_loopback(urlsplit(url).hostname or "")


def provider_http_for(
    api: str, settings: Settings, session: requests.Session | None
) -> RequestsHTTP:
    """The provider calls for the URLs the API at ``api`` names: unconfined when that API is
    the person's own (:func:`is_own`); else to global addresses only, but for hosts that
    ``local_hosts`` lists."""
    from ..oauth.provider_calls import RequestsHTTP

    local: tuple[str, ...] = settings.values.get("local_hosts") or ()
    if is_own(api, local):
        return RequestsHTTP(session)
    return RequestsHTTP(session, own=lambda url: bool(local) and host_matches(url, local))
