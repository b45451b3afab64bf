"""Where an API may send the tool: the person's own machine and network are theirs to name.

In zero configuration the API chooses every URL that follows (its resource metadata, the
authorization server, and that server's endpoints), so an API on the internet could otherwise
aim the tool at ``http://127.0.0.1:…/admin`` or a router on the private network and have it
send a GET or a JSON POST there (server-side request forgery through the person's machine).
The allowance for loopback (and plain http there, :func:`..oauth.urls.check_endpoint`) holds
only when the API itself is the person's own: on loopback, or a host listed in
``local_hosts``. For any other API, every provider call reaches global addresses only, checked
where the connection is made (:class:`..oauth.provider_calls.RequestsHTTP`,
:class:`..oauth.httpx_calls.HttpxHTTP`), except for the
hosts ``local_hosts`` lists.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..oauth.urls import is_loopback
from ..settings.options import host_matches

if TYPE_CHECKING:
    from ..oauth.endpoints import ProviderEndpoints
    from ..oauth.provider_calls import (
        HTTP,
        ConfinableHTTP,
        ProviderAnswer,
        ProviderHTTP,
        ProviderRequest,
    )
    from ..settings.config import Settings
    from .binding import Binding


def is_own(url: str, local_hosts: tuple[str, ...]) -> bool:
    """Whether ``url`` is on a host the person counts as theirs: one ``local_hosts`` lists or,
    with none listed, a loopback one."""
    if local_hosts:
        return host_matches(url, local_hosts)
    return is_loopback(urlsplit(url).hostname or "")


def provider_http_for(api: str, settings: Settings, session: HTTP) -> ConfinableHTTP:
    """The provider calls for the URLs the API at ``api`` names, through ``session``'s
    library: unconfined when that API is the person's own (:func:`is_own`); else to global
    addresses only, but for hosts that ``local_hosts`` lists. Raises ``TypeError`` for calls
    that cannot be confined (:class:`..oauth.provider_calls.ConfinableHTTP`)."""
    from ..oauth.provider_calls import ConfinableHTTP, provider_http

    http = provider_http(session)
    if not isinstance(http, ConfinableHTTP):
        raise TypeError(f"{http!r} cannot reach global addresses only")
    local = _local_hosts(settings)
    if is_own(api, local):
        return http
    return http.confine(lambda url: bool(local) and host_matches(url, local))


class DeferredCalls:
    """:func:`provider_http_for`'s calls, chosen on the first one: a warm run builds its
    manager with them but calls no provider, so it never loads the provider-call machinery.
    (A token request answered as if the endpoint were not there is the token client's to
    find: :class:`..errors.TokenEndpointGone`.)"""

    def __init__(self, api: str, settings: Settings, session: HTTP) -> None:
        self._choose = functools.partial(provider_http_for, api, settings, session)

    @functools.cached_property
    def _http(self) -> ProviderHTTP:
        return self._choose()

    def send(self, request: ProviderRequest) -> ProviderAnswer:
        """:meth:`..oauth.provider_calls.ProviderHTTP.send`."""
        return self._http.send(request)

    def __repr__(self) -> str:
        return "DeferredCalls()"


def endpoints_of(binding: Binding, settings: Settings) -> ProviderEndpoints:
    """``binding``'s endpoints, with Stytch's default-domain ``iss`` form accepted where the
    person's own API named a server with Stytch's layout (issue 17 §1): what an API on their
    machine names is theirs, as for :func:`provider_http_for`. For any other API only a
    Stytch-owned token endpoint earns it (:func:`..settings.stytch.stytch_iss_alias`)."""
    from dataclasses import replace

    from ..settings.stytch import stytch_iss_alias

    endpoints = binding.endpoints()
    if endpoints.iss_alias is None and is_own(binding.resource, _local_hosts(settings)):
        alias = stytch_iss_alias(binding.issuer, binding.token_endpoint, bound_by="your API")
        endpoints = replace(endpoints, iss_alias=alias)
    return endpoints


def _local_hosts(settings: Settings) -> tuple[str, ...]:
    return tuple(settings.values.get("local_hosts") or ())


def configured_issuer(settings: Settings) -> str | None:
    """The authorization server the person configured, by its issuer (``issuer``, or the
    Stytch ``project_domain`` as an URL); None in zero configuration. A pinned ``client_id``
    belongs to it alone."""
    from ..settings.stytch import normalise_domain

    if settings.values.get("issuer"):
        return str(settings.values["issuer"])
    domain = settings.values.get("project_domain")
    return normalise_domain(domain) if domain else None
