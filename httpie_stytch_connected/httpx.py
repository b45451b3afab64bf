"""The ``httpx`` auth classes: one object serves ``httpx.Client`` and ``httpx.AsyncClient``.

``pip install 'httpie-stytch-connected[httpx]'``. Nothing else in the package imports this
module, so ``requests`` and HTTPie users never load httpx, and httpx users never load httpx2.

The classes take exactly the arguments of the ``requests`` classes of the same names. Their
flow (the token, the 401 and redirect rules, the redirect guard, the loop never blocked, the
refresh that survives a cancelled task) is :class:`~.httpx_flow.HttpxFamilyAuth`, written once
for httpx and httpx2 (:mod:`.httpx2`); its docstring says what it does and where it stops.
"""

from __future__ import annotations

from .errors import library_missing

try:  # before the flow, which needs anyio: the library brings it
    import httpx
except ModuleNotFoundError as exc:
    if exc.name != "httpx":
        raise
    raise library_missing(__name__, "httpx") from None

from .httpx_flow import HttpxFamilyAuth, ProviderErrorBase
from .managed import StytchTokens
from .settings.options import lists_settings

__all__ = ["OAuth2PKCEAuth", "ProviderError", "StytchAuth"]


class ProviderError(ProviderErrorBase, httpx.RequestError):
    """The provider could not be reached or refused us: a
    :class:`~.errors.TokenEndpointError` that is also a ``httpx.RequestError`` (and so a
    ``httpx.HTTPError``), with ``request`` the request being authenticated."""


@lists_settings
class OAuth2PKCEAuth(HttpxFamilyAuth, httpx.Auth):
    """Bearer tokens from an authorization-code + PKCE login against any OAuth 2.0 provider;
    one object serves ``httpx.Client`` and ``httpx.AsyncClient`` alike.

    ``httpx.Client(auth=OAuth2PKCEAuth(client_id=..., issuer=...))`` (or
    ``authorization_endpoint=`` and ``token_endpoint=`` instead of ``issuer=``): the arguments of
    :class:`httpie_stytch_connected.auth.OAuth2PKCEAuth`, and, raised from the request, the same
    :class:`~.errors.AuthenticationError` subclasses with the same messages.
    """

    _library = httpx
    _provider_error = ProviderError


@lists_settings
class StytchAuth(StytchTokens, OAuth2PKCEAuth):
    """Stytch Connected Apps for httpx: ``StytchAuth(project_domain=, client_id=,
    authorize_url=)``, each falling back to its ``STYTCH_*`` environment variable; the same
    arguments as :class:`httpie_stytch_connected.auth.StytchAuth`."""
