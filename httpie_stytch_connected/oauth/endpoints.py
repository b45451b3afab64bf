"""A provider's endpoints (RFC 6749 §3, RFC 7009, OpenID Connect Discovery), provider-neutral.

Stytch is one preset on top of this (:mod:`.stytch`); any standards-compliant OAuth 2.0 /
OpenID provider fits the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import TokenEndpointError
from .urls import check_endpoint, check_issuer

if TYPE_CHECKING:
    from .provider_calls import HTTP, TransportFailure


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
    #: RFC 8414 ``token_endpoint_auth_methods_supported``; empty: not known.
    token_endpoint_auth_methods: tuple[str, ...] = ()
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


def check_reachable(endpoints: ProviderEndpoints, session: HTTP) -> None:
    """Before the browser opens: the token endpoint answers at all (any HTTP status will do).

    Otherwise the person would sign in only to learn the code cannot be exchanged. Raises
    :class:`TokenEndpointError` naming the URL and the setting that decides it.
    """
    from .provider_calls import REACHABILITY, call  # a call: not on a warm run's path

    url = endpoints.token_endpoint

    def unreachable(failure: TransportFailure) -> TokenEndpointError:
        origin = endpoints.token_endpoint_origin or "the provider settings"
        return TokenEndpointError(
            f"Cannot reach the token endpoint {url} ({failure.cause}), so a sign-in could "
            f"not finish; that URL comes from {origin}: check it, and your network connection.",
            retryable=True,
        )

    call(session, "GET", url, "reach the token endpoint", kind=REACHABILITY, failed=unreachable)
