"""The ``httpx2`` auth classes: one object serves ``httpx2.Client`` and ``httpx2.AsyncClient``.

``pip install 'httpie-stytch-connected[httpx2]'``. Nothing else in the package imports this
module, so ``requests`` and HTTPie users never load httpx2, and httpx2 users never load httpx.

The classes take exactly the arguments of the ``requests`` classes of the same names. Their
flow (the token, the 401 and redirect rules, the redirect guard, the loop never blocked, the
refresh that survives a cancelled task) is :class:`~.httpx_flow.HttpxFamilyAuth`, written once
for httpx (:mod:`.httpx`) and httpx2; its docstring says what it does and where it stops.

An MCP client from the ``mcp`` package (2.x is built on httpx2) signs in with nothing configured
but the server's URL: ``streamable_http_client(url, http_client=httpx2.AsyncClient(
auth=OAuth2PKCEAuth()))``; the server's 401 starts zero configuration.
"""

from __future__ import annotations

from .errors import library_missing

try:  # before the flow, which needs anyio: the library brings it
    import httpx2
except ModuleNotFoundError as exc:
    if exc.name != "httpx2":
        raise
    raise library_missing(__name__, "httpx2") from None

from .httpx_flow import HttpxFamilyAuth, ProviderErrorBase
from .managed import StytchTokens
from .settings.options import lists_settings

__all__ = ["OAuth2PKCEAuth", "ProviderError", "StytchAuth"]


class ProviderError(ProviderErrorBase, httpx2.RequestError):
    """The provider could not be reached or refused us: a
    :class:`~.errors.TokenEndpointError` that is also a ``httpx2.RequestError`` (and so a
    ``httpx2.HTTPError``), with ``request`` the request being authenticated."""


@lists_settings
class OAuth2PKCEAuth(HttpxFamilyAuth, httpx2.Auth):
    """Bearer tokens from an authorization-code + PKCE login against any OAuth 2.0 provider,
    for ``httpx2.Client`` and ``httpx2.AsyncClient``. ``OAuth2PKCEAuth()`` with no arguments is
    what an MCP client passes: the server's first 401 starts zero configuration.

    The arguments are those of :class:`httpie_stytch_connected.auth.OAuth2PKCEAuth`. Raises,
    from the request, the same :class:`~.errors.AuthenticationError` subclasses with the same
    messages.
    """

    _library = httpx2
    _provider_error = ProviderError


@lists_settings
class StytchAuth(StytchTokens, OAuth2PKCEAuth):
    """Stytch Connected Apps for httpx2: ``StytchAuth(project_domain=, client_id=,
    authorize_url=)``, each falling back to its ``STYTCH_*`` environment variable; the same
    arguments as :class:`httpie_stytch_connected.auth.StytchAuth`."""
