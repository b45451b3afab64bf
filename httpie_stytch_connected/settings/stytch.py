"""The Stytch Connected Apps preset: Stytch's URL layout on top of the provider-neutral core.

Preferred: everything on the project (or custom) domain. Legacy: ``{test|api}.stytch.com``
under ``/v1/public/{project_id}/``, whose issuer is the scheme-less ``stytch.com/{project_id}``.
Error bodies carry ``{status_code, error_type, error_message}`` and/or RFC 6749's
``{error, error_description}``; :mod:`.token_client` reads both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

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


#: Hosts where only Stytch runs a token endpoint: its API domains and its default project
#: domains (``{slug}.customers.stytch.com``, test projects' ``….customers.stytch.dev``).
STYTCH_DOMAINS = ("stytch.com", "customers.stytch.dev")


def stytch_owned(url: str) -> bool:
    """Whether ``url`` is an https URL on a host only Stytch can serve (:data:`STYTCH_DOMAINS`
    or below them), so that nobody else can run an endpoint there."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    return parts.scheme == "https" and any(
        host == domain or host.endswith("." + domain) for domain in STYTCH_DOMAINS
    )


def stytch_iss_alias(
    issuer: str, token_endpoint: str, *, bound_by: str | None = None
) -> str | None:
    """Stytch's default-domain ``iss`` form (``stytch.com/{project_id}``) for a server with
    Stytch's layout (its token endpoint at ``{issuer}/v1/oauth2/token``), or None.

    The alias lets a callback name another issuer than the one asked (RFC 9207 §2.4), so it is
    granted only where something an attacker cannot choose binds it to this server (RFC 9700
    §4.4): ``bound_by`` says what, when it is the person's (their configured issuer, or an API
    on their own machine, whose metadata is theirs); otherwise only a token endpoint on a
    Stytch-owned host (:func:`stytch_owned`), which no one but Stytch can run. Never the
    layout alone: a hostile authorization server copies that, sends the browser to Stytch's
    honest page and waits at its token endpoint for the code and the PKCE verifier."""
    from ..oauth.issuer_identification import stytch_default_domain_iss

    stytch = token_endpoint == f"{issuer.rstrip('/')}/v1/oauth2/token"
    if not stytch or not (bound_by or stytch_owned(token_endpoint)):
        return None
    return stytch_default_domain_iss(None)


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
