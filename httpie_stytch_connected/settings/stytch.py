"""The Stytch Connected Apps preset: Stytch's URL layout on top of the provider-neutral core.

Preferred: everything on the project (or custom) domain. Legacy: ``{test|api}.stytch.com``
under ``/v1/public/{project_id}/``, whose issuer is the scheme-less ``stytch.com/{project_id}``.
Error bodies carry ``{status_code, error_type, error_message}`` and/or RFC 6749's
``{error, error_description}``; :mod:`.token_client` reads both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigurationError
from ..oauth.urls import check_endpoint

if TYPE_CHECKING:
    from ..oauth.endpoints import ProviderEndpoints

DEFAULT_SCOPES = ("openid", "email", "profile", "offline_access")


def normalise_domain(project_domain: str) -> str:
    """Accept the bare host the dashboard shows as well as a full URL."""
    domain = project_domain.strip().rstrip("/")
    if "://" not in domain:
        domain = f"https://{domain}"
    return check_endpoint(domain, "project_domain")


def stytch_iss_alias(issuer: str, token_endpoint: str) -> str | None:
    """The Stytch preset for a server found by discovery: Stytch's layout (the token endpoint
    at ``{issuer}/v1/oauth2/token``) means authorization responses may carry the default
    domain's ``iss`` form; None for any other server."""
    from ..oauth.issuer_identification import stytch_default_domain_iss

    stytch = token_endpoint == f"{issuer.rstrip('/')}/v1/oauth2/token"
    return stytch_default_domain_iss(None) if stytch else None


def legacy_base(project_id: str, environment: str | None) -> str:
    env = environment or ("live" if project_id.startswith("project-live-") else "test")
    if env not in ("test", "live"):
        raise ConfigurationError(f"environment must be 'test' or 'live' (got {env!r}).")
    host = "api.stytch.com" if env == "live" else "test.stytch.com"
    return f"https://{host}/v1/public/{project_id}"


def stytch_endpoints(
    *,
    authorize_url: str,
    project_domain: str | None = None,
    project_id: str | None = None,
    environment: str | None = None,
) -> ProviderEndpoints:
    # Only where endpoints are needed (a refresh or a sign-in): the warm path needs the key alone.
    from ..oauth.endpoints import ProviderEndpoints
    from ..oauth.issuer_identification import stytch_default_domain_iss

    if project_domain:
        base = normalise_domain(project_domain)
        return ProviderEndpoints(
            authorization_endpoint=authorize_url,
            token_endpoint=f"{base}/v1/oauth2/token",
            revocation_endpoint=f"{base}/v1/oauth2/revoke",
            issuer=base,
            jwks_uri=f"{base}/.well-known/jwks.json",
            userinfo_endpoint=f"{base}/v1/oauth2/userinfo",
            iss_alias=stytch_default_domain_iss(None),
        ).checked()
    if project_id:
        base = legacy_base(project_id, environment)
        root = base.split("/v1/", 1)[0]
        return ProviderEndpoints(
            authorization_endpoint=authorize_url,
            token_endpoint=f"{base}/oauth2/token",
            revocation_endpoint=f"{base}/oauth2/revoke",
            issuer=f"stytch.com/{project_id}",
            jwks_uri=f"{root}/v1/sessions/jwks/{project_id}",
            userinfo_endpoint=f"{base}/oauth2/userinfo",
        ).checked()
    raise ConfigurationError(
        "Stytch needs project_domain (or the legacy project_id); set STYTCH_PROJECT_DOMAIN "
        "to the project domain shown on the dashboard's Project overview page."
    )
