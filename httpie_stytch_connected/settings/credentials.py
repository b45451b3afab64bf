"""Machine credentials and supplied tokens, from the resolved settings.

Which grant a configuration means (``grant_type``, when not set):

- no ``client_secret``, ``client_secret_file`` or ``private_key_file``: ``authorization_code``,
  a person signs in (a public client with PKCE);
- a Stytch project (``project_domain`` / ``project_id``): ``client_credentials`` when the client
  ID is an M2M client's (``m2m-client-…``), otherwise ``authorization_code`` (a confidential
  Connected App client: a person signs in and the secret authenticates the client);
- any other provider: ``client_credentials``, unless ``authorize_url`` or
  ``authorization_endpoint`` is set (then a person signs in).

Secrets are read from the setting itself, or from a file named by a setting that must be a
regular file of ours that no other user can read or write (as ``ssh`` wants of a key). Nothing
here stores a secret, logs one or puts one in an error.
"""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigurationError
from ..oauth.tokens import SuppliedToken, is_b64token
from .options import Secret

if TYPE_CHECKING:
    from ..oauth.client_auth import ClientAuth
    from ..oauth.endpoints import ProviderEndpoints
    from ..oauth.provider_calls import HTTP
    from .config import Settings

CLIENT_CREDENTIALS = "client_credentials"
AUTHORIZATION_CODE = "authorization_code"
#: Stytch's M2M client IDs (``m2m-client-test-…``, ``m2m-client-live-…``).
STYTCH_M2M_PREFIX = "m2m-client-"


def read_secret_file(path_text: str, setting: str) -> Secret:
    """The stripped text of a file only we can read and write; ConfigurationError otherwise
    (naming the file and the setting, never the content)."""
    from ..errors import TokenStoreError
    from ..storage.private_files import read_private

    path = Path(os.path.expanduser(path_text))
    try:
        text = read_private(path, path.parent, setting, what="file")
    except TokenStoreError as exc:
        raise ConfigurationError(f"{setting}: {exc}") from None
    if text is None:
        raise ConfigurationError(f"{setting} names {path}, which does not exist or is not text.")
    if hasattr(os, "getuid"):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            raise ConfigurationError(
                f"{setting} names {path}, which other users can read (mode {mode:04o}); "
                f"run `chmod 600 {path}`."
            )
    value = text.strip()
    if not value:
        raise ConfigurationError(f"{setting} names {path}, which is empty.")
    return Secret(value)


def client_secret(settings: Settings) -> Secret | None:
    value: Secret | None = settings.values.get("client_secret")
    if value is not None:
        return value
    path = settings.values.get("client_secret_file")
    return read_secret_file(path, "client_secret_file") if path else None


def private_key(settings: Settings) -> Secret | None:
    path = settings.values.get("private_key_file")
    return read_secret_file(path, "private_key_file") if path else None


def has_machine_credential(settings: Settings) -> bool:
    """A secret or key is configured (no file is read)."""
    return any(
        settings.values.get(name)
        for name in ("client_secret", "client_secret_file", "private_key_file")
    )


def check_machine_client(settings: Settings) -> None:
    """A Stytch M2M client ID (``m2m-client-…``) with no secret or key is a credential that did
    not arrive (an empty ``STYTCH_CLIENT_SECRET`` in a CI job that was not given the secret),
    not a person's client: say so rather than start a sign-in it cannot finish."""
    client_id: str = settings.values.get("client_id") or ""
    if client_id.startswith(STYTCH_M2M_PREFIX) and not has_machine_credential(settings):
        raise ConfigurationError(
            f"client_id {client_id} is a Stytch M2M client but no client secret is set "
            "(STYTCH_CLIENT_SECRET is empty or unset); give it the secret (in CI, check that "
            "the job receives it)."
        )


def grant_type(settings: Settings) -> str:
    """The grant this configuration means (see the module docstring); no I/O."""
    explicit: str | None = settings.values.get("grant_type")
    if explicit:
        return explicit
    if not has_machine_credential(settings):
        return AUTHORIZATION_CODE
    if settings.values.get("project_domain") or settings.values.get("project_id"):
        client_id = settings.values.get("client_id") or ""
        return CLIENT_CREDENTIALS if client_id.startswith(STYTCH_M2M_PREFIX) else AUTHORIZATION_CODE
    person = settings.values.get("authorize_url") or settings.values.get("authorization_endpoint")
    return AUTHORIZATION_CODE if person else CLIENT_CREDENTIALS


def machine_scopes(settings: Settings) -> tuple[str, ...]:
    """The configured scopes; none configured: none sent (the client's own)."""
    return () if settings.sources.get("scopes", "default") == "default" else settings.scopes


def supplied_token(settings: Settings) -> SuppliedToken | None:
    """The token the settings supply, checked as a Bearer credential (never shown); None if
    none. Raises :class:`ConfigurationError` naming where a malformed one came from."""
    value: Secret | None = settings.values.get("access_token")
    supplied: SuppliedToken | None = None
    if value is not None:
        supplied = SuppliedToken(value, settings.sources.get("access_token", "argument"))
    elif path := settings.values.get("access_token_file"):
        source = settings.sources.get("access_token_file", "argument")
        token = read_secret_file(path, "access_token_file")
        supplied = SuppliedToken(token, f"the file {path} ({source})")
    if supplied is not None and not is_b64token(str(supplied.token)):
        raise ConfigurationError(
            f"The access token from {supplied.source} is not an RFC 6750 b64token (it has "
            "characters an Authorization header cannot carry, such as spaces or line breaks); "
            "supply the token alone."
        )
    return supplied


def has_supplied_token(settings: Settings) -> bool:
    return bool(settings.values.get("access_token") or settings.values.get("access_token_file"))


def client_auth_for(settings: Settings, client_id: str, endpoints: ProviderEndpoints) -> ClientAuth:
    """The client authentication the settings and the server's metadata call for."""
    from ..oauth.client_auth import choose

    return choose(
        client_id,
        secret=client_secret(settings),
        private_key=private_key(settings),
        supported=endpoints.token_endpoint_auth_methods or None,
        preferred=settings.values.get("token_endpoint_auth_method"),
    )


def machine_endpoints(settings: Settings, session: HTTP = None) -> ProviderEndpoints:
    """The endpoints a client-credentials client needs: the token endpoint (and revocation),
    with no authorization endpoint required. Its ``authorization_endpoint`` is the token
    endpoint, never used: no person signs in."""
    from ..oauth.endpoints import ProviderEndpoints
    from .config import _origin, endpoints_for

    if settings.issuer:
        from ..storage.metadata_cache import discover

        found = discover(settings.issuer, session=session, machine=True)
        return replace(
            found,
            token_endpoint=settings.token_endpoint or found.token_endpoint,
            revocation_endpoint=settings.revocation_endpoint or found.revocation_endpoint,
            token_endpoint_origin=_origin(
                settings, "token_endpoint" if settings.token_endpoint else "issuer"
            ),
        ).checked()
    if settings.token_endpoint:
        return ProviderEndpoints(
            authorization_endpoint=settings.token_endpoint,
            token_endpoint=settings.token_endpoint,
            revocation_endpoint=settings.revocation_endpoint,
            token_endpoint_origin=_origin(settings, "token_endpoint"),
        ).checked()
    if not (settings.project_domain or settings.project_id):
        return endpoints_for(settings)  # raises: no provider is configured
    # The Stytch preset wants an authorization URL; a machine has none, so it is a stand-in.
    values = {**settings.values, "authorize_url": "https://unused.invalid/"}
    endpoints = endpoints_for(replace(settings, values=values))
    return replace(endpoints, authorization_endpoint=endpoints.token_endpoint)
