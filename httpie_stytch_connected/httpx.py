"""The ``httpx`` auth classes: one object serves ``httpx.Client`` and ``httpx.AsyncClient``.

``pip install 'httpie-stytch-connected[httpx]'``. Nothing else in the package imports this
module, so ``requests`` and HTTPie users never load httpx, and httpx users never load httpx2.

The classes take exactly the arguments of the ``requests`` classes of the same names. Their
flow (the token, the 401 and redirect rules, the redirect guard, the loop never blocked, the
refresh that survives a cancelled task) is :class:`~.httpx_flow.HttpxFamilyAuth`, written once
for httpx and httpx2 (:mod:`.httpx2`); its docstring says what it does and where it stops.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator

import httpx

from .httpx_flow import HttpxFamilyAuth, ProviderErrorBase
from .managed import StytchTokens

__all__ = ["OAuth2PKCEAuth", "ProviderError", "StytchAuth"]


# requests' ``request`` attribute and the library's ``request`` property meet here: the
# property (a data descriptor) wins over requests' instance attribute, as a httpx user expects.
class ProviderError(ProviderErrorBase, httpx.RequestError):  # type: ignore[misc]
    """The provider could not be reached or refused us: a
    :class:`~.errors.TokenEndpointError` that is also a ``httpx.RequestError`` (and so a
    ``httpx.HTTPError``), with ``request`` the request being authenticated."""


class OAuth2PKCEAuth(HttpxFamilyAuth, httpx.Auth):
    """Bearer tokens from an authorization-code + PKCE login against any OAuth 2.0 provider.

    The arguments are those of :class:`httpie_stytch_connected.auth.OAuth2PKCEAuth`. Raises,
    from the request, the same :class:`~.errors.AuthenticationError` subclasses with the same
    messages.
    """

    _library = httpx
    _provider_error = ProviderError

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        return self._sync_flow(request)

    def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        return self._async_flow(request)


class StytchAuth(StytchTokens, OAuth2PKCEAuth):
    """Stytch Connected Apps for httpx: ``StytchAuth(project_domain=, client_id=,
    authorize_url=)``, each falling back to its ``STYTCH_*`` environment variable; the same
    arguments as :class:`httpie_stytch_connected.auth.StytchAuth`."""
