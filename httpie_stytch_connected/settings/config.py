"""Settings: explicit arguments > environment > profile > defaults, each value with its source.

Resolution is pure and cheap (no I/O beyond reading the environment and the profile file),
because HTTPie builds the auth object on every run; problems surface later, from the request, as
one readable line. Endpoints come from settings alone (:func:`endpoints_for`) or, for an issuer
or a Stytch project without ``authorize_url``, from discovery (:func:`resolve_endpoints`); the
token store key never needs the network (:func:`storage_key`), so ``--offline`` and logout work
without it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError, TokenEndpointError, TokenEndpointGone
from ..oauth.urls import check_endpoint, host_of
from .options import (
    _BY_NAME,
    KNOWN_ENV,
    OPTIONS,
    SettingValues,
    check_arguments,
    closest,
    host_matches,
)
from .stytch import legacy_base, normalise_domain, stytch_endpoints, stytch_iss_alias

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from ..oauth.endpoints import ProviderEndpoints
    from ..oauth.provider_calls import HTTP


@dataclass(frozen=True)
class Settings(SettingValues):
    """Resolved settings: each one as a typed attribute, its value in ``values`` and where it
    came from in ``sources``; ``unknown_env`` maps each ``STYTCH_*`` variable that is not ours
    to the known name it is closest to (None if none is close)."""

    values: Mapping[str, Any]
    sources: Mapping[str, str] = field(default_factory=dict)
    profile: str | None = None
    unknown_env: Mapping[str, str | None] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that are not attributes. ``__dict__`` is read directly: while
        # pickle or copy rebuilds the object, ``values`` does not exist yet and asking for it
        # here would recurse.
        values = self.__dict__.get("values")
        if values is None or name not in values:
            raise AttributeError(name)
        return values[name]

    def sends_token_to(self, url: str) -> bool:
        """The ``hosts`` setting: with none given, every host the caller sends to.

        A host left out gets the request bare, and its answer (often a 401) is all the person
        sees; the debug log says why, naming the origin only (a query may carry a secret)."""
        hosts: tuple[str, ...] = self.values.get("hosts") or ()
        if not hosts or host_matches(url, hosts):
            return True
        log.debug(
            "no token for %s://%s: its host is not in the hosts setting (%s)",
            url.partition(":")[0],
            host_of(url),
            ", ".join(hosts),
        )
        return False

    def require(self, name: str) -> Any:
        value = self.values.get(name)
        if value is None:
            option = _BY_NAME[name]
            about = "; ".join(filter(None, (option.doc, self.misspelt_env())))
            raise ConfigurationError(
                f"{name} is not set ({about}); set {option.env}, pass {name}=..., or add {name} "
                "to a profile (`stytch-connected config` shows where the file is)."
            )
        return value

    def misspelt_env(self) -> str:
        """For an error message: 'STYTCH_X is set: did you mean STYTCH_Y?', or ''."""
        return "; ".join(
            f"{name} is set: did you mean {near}?"
            for name, near in self.unknown_env.items()
            if near
        )

    def ignored(self) -> dict[str, str]:
        """Settings that have a value but no effect, each with the reason."""
        given = {name for name, value in self.values.items() if value not in (None, ())}
        reasons: dict[str, str] = {}

        def unused(names: Iterable[str], why: str) -> None:
            reasons.update((name, why) for name in names if name in given)

        if self.issuer:
            unused(("project_domain", "project_id", "environment"), "issuer is set (discovery)")
        elif self.token_endpoint:
            unused(
                ("project_domain", "project_id", "environment"),
                "token_endpoint is set, so the endpoints are the explicit ones",
            )
        elif self.project_domain:
            unused(("project_id", "environment"), "project_domain wins over the legacy form")
        elif not self.project_id:
            unused(("environment",), "only the legacy project_id uses it")
        if self.authorization_endpoint:
            unused(("authorize_url",), "authorization_endpoint is set and wins")
        if self.client_secret:  # credentials.client_secret: the value before the file
            unused(("client_secret_file",), "client_secret is set and wins")
        if self.access_token:  # credentials.supplied_token: the value before the file
            unused(("access_token_file",), "access_token is set and wins")
        if self.token_store == "file" and self.sources.get("keyring_timeout") != "default":
            unused(("keyring_timeout",), "token_store is file")
        if not is_zero_config(self):
            unused(
                ("client_metadata_url", "trusted_issuers"),
                "a provider is configured (zero configuration only)",
            )
        elif self.client_id:
            unused(("client_metadata_url",), "client_id is set and wins")
        return reasons


def resolve(
    explicit: Mapping[str, Any],
    environ: Mapping[str, str],
    profile: Mapping[str, Any] | None = None,
    profile_source: str = "profile",
) -> Settings:
    """Merge the layers; an unparsable value names the setting and where it came from."""
    check_arguments(explicit, "resolve")
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for option in OPTIONS:
        layers = (
            (explicit.get(option.name), "argument"),
            (environ.get(option.env) or None, f"environment variable {option.env}"),
            ((profile or {}).get(option.name), profile_source),
        )
        for raw, source in layers:
            if raw is None:
                continue
            try:
                values[option.name] = option.parse(raw)
            except (TypeError, ValueError) as exc:
                raise ConfigurationError(
                    f"{option.name} from {source} is invalid: expected {exc}."
                ) from None
            sources[option.name] = source
            break
        else:
            values[option.name] = option.default
            sources[option.name] = "default"
    strays = sorted(n for n in environ if n.startswith("STYTCH_") and n not in KNOWN_ENV)
    return Settings(values, sources, unknown_env={n: _closest_env(n) for n in strays})


def _closest_env(name: str) -> str | None:
    """Compared without the shared ``STYTCH_`` prefix, which would make every name look close."""
    near = closest(name[7:], [known[7:] for known in KNOWN_ENV])
    return f"STYTCH_{near}" if near else None


def load_settings(
    explicit: Mapping[str, Any], environ: Mapping[str, str], profile: str | None = None
) -> Settings:
    """Resolve with the profile named by argument, else ``STYTCH_PROFILE``, else the default."""
    from .profiles import load_profile

    wanted = profile or environ.get("STYTCH_PROFILE") or None
    name, values, source = load_profile(wanted, environ)
    return replace(resolve(explicit, environ, values, source), profile=name)


def endpoints_for(settings: Settings) -> ProviderEndpoints:
    """Explicit endpoints, else the Stytch preset; both without network I/O."""
    from ..oauth.endpoints import ProviderEndpoints  # not on the warm path: no provider call

    authorize = settings.authorization_endpoint or settings.authorize_url
    if settings.token_endpoint:
        if not authorize:
            raise ConfigurationError(
                "authorization_endpoint is not set; pass authorization_endpoint=... or set "
                "STYTCH_AUTHORIZATION_ENDPOINT."
            )
        return ProviderEndpoints(
            authorization_endpoint=authorize,
            token_endpoint=settings.token_endpoint,
            revocation_endpoint=settings.revocation_endpoint,
            issuer=settings.issuer,
            token_endpoint_origin=_origin(settings, "token_endpoint"),
        ).checked()
    if _is_stytch(settings):
        return _stytch(settings, authorize or settings.require("authorize_url"))
    raise _no_provider(settings)


def resolve_endpoints(settings: Settings, session: HTTP = None) -> ProviderEndpoints:
    """:func:`endpoints_for`, with discovery where the settings rely on it (cached on disk).

    An ``issuer`` is discovered and explicit endpoint settings override what it lists; a Stytch
    project without ``authorize_url`` takes its authorization endpoint from the project's own
    discovery document. The discovery module loads only then: not on the warm path.
    """
    if settings.issuer:
        from ..storage.metadata_cache import discover

        _check_issuer_setting(settings.issuer)
        found = discover(settings.issuer, session=session)
        return replace(
            found,
            authorization_endpoint=settings.authorization_endpoint
            or settings.authorize_url
            or found.authorization_endpoint,
            token_endpoint=settings.token_endpoint or found.token_endpoint,
            revocation_endpoint=settings.revocation_endpoint or found.revocation_endpoint,
            issuer=settings.issuer,
            # The person named this issuer: Stytch's layout there means Stytch's iss forms.
            iss_alias=stytch_iss_alias(
                settings.issuer, found.token_endpoint, bound_by="the issuer setting"
            ),
            token_endpoint_origin=_origin(
                settings, "token_endpoint" if settings.token_endpoint else "issuer"
            ),
        ).checked()
    if settings.token_endpoint or not _is_stytch(settings):
        return endpoints_for(settings)
    authorize = settings.authorization_endpoint or settings.authorize_url
    if not authorize:
        from ..storage.metadata_cache import discover

        issuer, url = _stytch_discovery(settings)
        try:
            authorize = discover(issuer, url=url, session=session).authorization_endpoint
        except TokenEndpointError as exc:
            raise _project_discovery_failed(settings, exc) from None
    return _stytch(settings, authorize)


def relocate_token_endpoint(
    settings: Settings,
    session: HTTP,
    notify: Callable[[str], None],
    gone: TokenEndpointGone,
) -> str:
    """Where the configured provider's token endpoint is now, once it answered as if it were
    not there (the token client's ``relocate``, issue 18 §2): with an ``issuer`` (and no
    ``token_endpoint`` setting), the one its metadata names, read again bypassing the cache
    (which then holds it for later runs), said in one line; else a
    :class:`TokenEndpointGone` in one sentence, naming the setting to fix where the endpoint
    comes from one (``token_endpoint``, the Stytch project). Nothing stored is touched: the
    grant was not used up there."""
    from ..oauth.untrusted import shown

    if settings.token_endpoint or not settings.issuer:
        name = "token_endpoint" if settings.token_endpoint else _stytch_setting(settings)
        fix = (
            "set it to where the provider's token endpoint is now"
            if name == "token_endpoint"
            else "check that it names your project (or set token_endpoint to where its token "
            "endpoint is now)"
        )
        raise TokenEndpointGone(
            f"The token endpoint {shown(gone.url)} answered HTTP {gone.status}, as if it were "
            f"not there, and it comes from {_origin(settings, name)}: {fix}; your tokens are "
            "kept.",
            url=gone.url,
            status=gone.status,
        )
    from ..oauth.discovery import endpoints_from
    from ..oauth.token_client import moved_notice, still_gone
    from ..storage.metadata_cache import metadata

    issuer = settings.issuer
    try:
        document = metadata(issuer, session=session, fresh=True)
        found = endpoints_from(document, issuer, machine=True).token_endpoint
    except (ConfigurationError, TokenEndpointError):
        raise still_gone(gone, issuer) from None
    if found == gone.url:
        raise still_gone(gone, issuer)
    notify(moved_notice(issuer, gone.url, found))
    return found


def _stytch_setting(settings: Settings) -> str:
    return "project_domain" if settings.project_domain else "project_id"


def _project_discovery_failed(settings: Settings, exc: TokenEndpointError) -> TokenEndpointError:
    """The discovery error of a Stytch project, naming the setting that chose the URL: there
    is no issuer setting to blame, and ``authorize_url`` skips discovery altogether."""
    name = _stytch_setting(settings)
    message = (
        str(exc)
        .replace("the issuer URL", _origin(settings, name))
        .replace("the configured issuer", f"the {name} setting")
        .replace("set authorization_endpoint and token_endpoint instead", "set authorize_url")
    )
    origin = _origin(settings, name)
    if origin not in message:  # the network or outage messages name no setting of their own
        message = f"{message.rstrip('.')}; that address comes from {origin}."
    return TokenEndpointError(
        f"{message} (The sign-in page is looked up there because authorize_url is not set.)",
        error=exc.error,
        error_type=exc.error_type,
        status=exc.status,
        retryable=exc.retryable,
        refused=exc.refused,
    )


def is_zero_config(settings: Settings) -> bool:
    """No provider setting at all: each API's 401 says where to sign in (:mod:`.zero_config`)."""
    return not any(
        settings.values.get(name)
        for name in (
            "issuer",
            "project_domain",
            "project_id",
            "token_endpoint",
            "authorization_endpoint",
        )
    )


def storage_key(settings: Settings) -> str:
    """The token store key, computed without the network.

    It covers every setting that decides where the refresh token is sent: the provider (issuer,
    Stytch project, or token endpoint), each explicit endpoint that overrides what that provider
    would use (token endpoint for refreshes, revocation endpoint for logout), the client and the
    scopes. Two profiles that differ in any of them never share a refresh token. Settings at
    their defaults add nothing, so keys of existing configurations do not change.
    """
    from ..storage.paths import token_key

    if settings.issuer:
        _check_issuer_setting(settings.issuer)
        anchor: str = settings.issuer
    elif settings.token_endpoint:
        anchor = settings.token_endpoint
    elif _is_stytch(settings):
        anchor = _stytch_discovery(settings)[0]
    else:
        raise _no_provider(settings)
    routes = [anchor]
    for name in ("token_endpoint", "revocation_endpoint"):
        value = settings.values[name]
        if value and value.rstrip("/") != anchor.rstrip("/"):
            routes.append(f"{name}={value.rstrip('/')}")
    if _is_stytch(settings) and not settings.project_domain:
        # A legacy environment other than the project ID's own picks another API host.
        project_id = settings.require("project_id")
        base = legacy_base(project_id, settings.environment)
        if base != legacy_base(project_id, None):
            routes.append(base)
    return token_key("\n".join(routes), settings.require("client_id"), settings.scopes)


def _is_stytch(settings: Settings) -> bool:
    return bool(settings.project_domain or settings.project_id)


def _stytch(settings: Settings, authorize: str) -> ProviderEndpoints:
    check_endpoint(authorize, "authorize_url")
    endpoints = stytch_endpoints(
        authorize_url=authorize,
        project_domain=settings.project_domain,
        project_id=settings.project_id,
        environment=settings.environment,
    )
    if settings.revocation_endpoint:  # an explicit endpoint overrides the preset's, as it says
        endpoints = replace(endpoints, revocation_endpoint=settings.revocation_endpoint).checked()
    return replace(endpoints, token_endpoint_origin=_origin(settings, _stytch_setting(settings)))


def _check_issuer_setting(issuer: str) -> None:
    """The issuer setting is a URL discovery fetches: without a scheme (``login.example.com``)
    it is a setting to correct, not a provider that failed. :func:`.check_issuer` lets a
    scheme-less issuer pass, as only Stytch's legacy metadata names one, never a setting."""
    check_endpoint(issuer, "issuer")


def _origin(settings: Settings, name: str) -> str:
    """'project_domain (environment variable STYTCH_PROJECT_DOMAIN)', for messages."""
    return f"the {name} setting ({settings.sources.get(name, 'default')})"


def _stytch_discovery(settings: Settings) -> tuple[str, str | None]:
    """(issuer, discovery URL): the project domain is its own issuer; legacy is scheme-less."""
    if settings.project_domain:
        return normalise_domain(settings.project_domain), None
    project_id: str = settings.require("project_id")
    base = legacy_base(project_id, settings.environment)
    return f"stytch.com/{project_id}", f"{base}/.well-known/openid-configuration"


def _no_provider(settings: Settings) -> ConfigurationError:
    note = settings.misspelt_env()
    return ConfigurationError(
        "No provider is configured" + (f" ({note})" if note else "") + "; set "
        "STYTCH_PROJECT_DOMAIN and STYTCH_CLIENT_ID (or STYTCH_ISSUER for any OpenID provider), "
        "pass them as arguments, or put them in a profile."
    )
