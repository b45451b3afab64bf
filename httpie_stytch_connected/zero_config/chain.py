"""Zero configuration: point it at an API and nothing else.

With no provider setting, the first request goes out without a token. A 401 with a ``Bearer``
challenge starts the chain (see :mod:`.resource_metadata`, :mod:`.registration`): the API's
protected resource metadata names the authorization server, whose metadata (RFC 8414 / OpenID
Discovery, exact issuer) gives the endpoints and the registration endpoint; then a client
identity, the scopes, and a login for that resource (RFC 8707 ``resource`` on every
authorization, token and refresh request). What the chain found is a :class:`Binding`, cached
per origin in a 0600 file so the warm path reads it and the access-token cache and nothing
else. Tokens are keyed per (authorization server, resource, client): a token obtained for one
resource is never sent to another.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from ..errors import ConfigurationError, TokenEndpointError, TokenStoreError
from ..oauth.bearer import authorization
from ..oauth.endpoints import ProviderEndpoints
from ..oauth.resource_metadata import bearer_challenge, resource_matches
from ..oauth.urls import check_endpoint
from ..settings.stytch import stytch_iss_alias
from ..storage.store import cache_dir, read_text, token_key, write_private

if TYPE_CHECKING:
    from pathlib import Path

    import requests

    from ..lifecycle.manager import TokenManager
    from ..messages import Notify, Opener
    from ..oauth.resource_metadata import ProtectedResource
    from ..replay import Rewind
    from ..settings.config import Settings
    from ..storage.store import SecureStore

log = logging.getLogger(__name__)

#: Scopes added to what the API asks for when the authorization server lists them.
_EXTRA_SCOPES = ("openid", "offline_access")
_FORMAT = 1
#: RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


@dataclass(frozen=True)
class Binding:
    """What discovery found for one protected resource: enough to refresh or sign in again
    without walking the chain, and the key its tokens are stored under."""

    resource: str
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    client_id: str
    client_source: str
    scopes: tuple[str, ...]
    revocation_endpoint: str | None = None
    jwks_uri: str | None = None
    userinfo_endpoint: str | None = None
    registration_endpoint: str | None = None
    iss_parameter_supported: bool = False

    @property
    def key(self) -> str:
        """Per authorization server, resource and client; not per scope, so a step-up replaces
        the token set the API's other requests use."""
        return token_key(f"{self.issuer}\n{self.resource}", self.client_id, ())

    def endpoints(self) -> ProviderEndpoints:
        return ProviderEndpoints(
            authorization_endpoint=self.authorization_endpoint,
            token_endpoint=self.token_endpoint,
            revocation_endpoint=self.revocation_endpoint,
            issuer=self.issuer,
            jwks_uri=self.jwks_uri,
            userinfo_endpoint=self.userinfo_endpoint,
            iss_parameter_supported=self.iss_parameter_supported,
            iss_alias=stytch_iss_alias(self.issuer, self.token_endpoint),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["scopes"] = list(self.scopes)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Binding:
        """ValueError or TypeError when ``data`` is not one (a corrupt cache is rediscovered)."""
        values = dict(data)
        values["scopes"] = tuple(values["scopes"])
        binding = cls(**values)
        for name in ("resource", "issuer", "authorization_endpoint", "token_endpoint"):
            if not isinstance(getattr(binding, name), str):
                raise ValueError(name)
        binding.endpoints().checked()
        return binding


def scope_tokens(text: str) -> list[str]:
    """The RFC 6749 §3.3 scope-tokens in ``text``; anything else is dropped: it comes from the
    API and is shown on the terminal, where a control character could rewrite the screen."""
    return [token for token in text.split() if _SCOPE_TOKEN.fullmatch(token)]


def initial_scopes(
    asked: str | None, resource: ProtectedResource, server_scopes: object
) -> tuple[str, ...]:
    """The 401's ``scope``, else the resource's ``scopes_supported``; plus ``openid`` and
    ``offline_access`` when the server lists them. Never more up front: step-up adds the rest."""
    wanted = scope_tokens(asked) if asked else scope_tokens(" ".join(resource.scopes_supported))
    listed = server_scopes if isinstance(server_scopes, list) else []
    wanted += [s for s in _EXTRA_SCOPES if s in listed]
    return tuple(dict.fromkeys(wanted))


class BindingCache:
    """Bindings per origin in one 0600 file each: the warm path reads one small file."""

    def __init__(self) -> None:
        self._memory: dict[str, dict[str, Binding]] = {}

    @staticmethod
    def origin(url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme.lower()}://{parts.netloc.lower()}"

    def _path(self, origin: str) -> Path:
        digest = hashlib.sha256(origin.encode()).hexdigest()[:32]
        return cache_dir() / "resources" / f"{digest}.json"

    def _load(self, origin: str) -> dict[str, Binding]:
        known = self._memory.get(origin)
        if known is None:
            known = self._memory[origin] = _read_bindings(self._path(origin))
        return known

    def lookup(self, url: str) -> Binding | None:
        """The binding whose resource is the longest match for ``url``."""
        matching = [
            b for b in self._load(self.origin(url)).values() if resource_matches(b.resource, url)
        ]
        return max(matching, key=lambda b: len(b.resource), default=None)

    def save(self, binding: Binding) -> None:
        origin = self.origin(binding.resource)
        self._memory.pop(origin, None)  # re-read: another process may have added one
        bindings = dict(self._load(origin))
        bindings[binding.resource] = binding
        self._memory[origin] = bindings
        text = json.dumps({"v": _FORMAT, "bindings": [b.to_dict() for b in bindings.values()]})
        try:
            write_private(self._path(origin), text)
        except (OSError, TokenStoreError) as exc:  # only slower next time: discovery again
            log.debug("resource cache not written (%s)", type(exc).__name__)

    def known(self) -> list[Binding]:
        """Every binding on disk (for ``status``)."""
        directory = cache_dir() / "resources"
        paths = sorted(directory.glob("*.json")) if directory.is_dir() else []
        return [binding for path in paths for binding in _read_bindings(path).values()]


def _read_bindings(path: Path) -> dict[str, Binding]:
    """The bindings in one cache file by resource; a corrupt entry or file is skipped (the
    chain is walked again)."""
    try:
        data = json.loads(read_text(path) or "null")
    except ValueError:
        data = None
    found: dict[str, Binding] = {}
    if isinstance(data, dict) and data.get("v") == _FORMAT:
        for item in data.get("bindings") or []:
            try:
                binding = Binding.from_dict(item)
            except (ValueError, TypeError, KeyError, ConfigurationError):
                continue
            found[binding.resource] = binding
    return found


class ZeroConfig:
    """Discovery, client identity and one token manager per protected resource."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: SecureStore | None = None,
        session: requests.Session | None = None,
        opener: Opener | None = None,
        notify: Notify | None = None,
    ) -> None:
        self.settings = settings
        self._store = store
        self._session = session
        self._opener = opener
        self._notify = notify
        self.bindings = BindingCache()
        self._managers: dict[str, TokenManager] = {}

    @functools.cached_property
    def session(self) -> requests.Session:
        import requests

        return self._session or requests.Session()

    @functools.cached_property
    def store(self) -> SecureStore:
        from ..auth import secure_store

        return self._store or secure_store(self.settings)

    # -- the chain ---------------------------------------------------------------------------
    def probe(self, url: str) -> dict[str, str] | None:
        """The ``Bearer`` challenge of an unauthenticated GET to ``url`` (None: no 401 with one)."""
        from ..oauth.resource_metadata import request

        check_endpoint(url, "the API URL")
        response = request(self.session, "GET", url, "call the API", read=False)
        response.close()
        if response.status_code != 401:
            return None
        return bearer_challenge(response.headers.get("WWW-Authenticate"))

    def discover(
        self, url: str, challenge: Mapping[str, str] | None, *, register_now: bool = True
    ) -> Binding:
        """Walk the chain for ``url`` and cache what it found (unless only looking)."""
        from ..oauth.discovery import metadata
        from ..oauth.resource_metadata import discover_resource
        from .client_identity import RegistrationStore, client_identity

        resource = discover_resource(url, challenge, self.session)
        issuer = resource.authorization_server
        document = metadata(issuer, session=self.session)
        if document.get("issuer") != issuer:  # exactly: not even a trailing slash differs
            raise ConfigurationError(
                f"The authorization server metadata of {issuer} names issuer "
                f"{document.get('issuer')!r}; refusing to use it."
            )
        identity = client_identity(
            document,
            issuer=issuer,
            configured_client_id=self.settings.client_id,
            metadata_document=self.settings.values.get("client_metadata_url"),
            registrations=RegistrationStore(self.store),
            redirect_path=self.settings.redirect_path,
            session=self.session,
            register_now=register_now,
        )
        configured = self.settings.sources.get("scopes", "default") != "default"
        binding = _binding(
            resource,
            document,
            client_id=identity.client_id,
            client_source=identity.source,
            scopes=self.settings.scopes
            if configured
            else initial_scopes(
                (challenge or {}).get("scope"), resource, document.get("scopes_supported")
            ),
        )
        if register_now:
            self.bindings.save(binding)
        return binding

    def binding_for(self, url: str) -> Binding | None:
        """The cached binding for ``url``: no network, no keyring."""
        return self.bindings.lookup(url)

    def find(self, url: str) -> Binding:
        """The cached binding for ``url``, else the chain walked from an unauthenticated GET."""
        return self.bindings.lookup(url) or self.discover(url, self.probe(url))

    # -- what every adapter asks: no HTTP library's types; each call may block (discovery, a
    # sign-in), so an event loop makes it on a worker thread ---------------------------------
    def token_for(self, url: str) -> tuple[Binding, str] | None:
        """A known API's binding and a token for it; None: an unknown API, send it bare."""
        binding = self.binding_for(url)
        return None if binding is None else (binding, self.access_token(binding))

    def after_bare(
        self, origin: str, url: str, status: int, carried_token: bool, challenge: str | None
    ) -> str | None:
        """The token to resend a bare request with, now that ``url`` answered ``status`` with
        the ``WWW-Authenticate`` value ``challenge``; None: hand the answer back.

        Only a 401 from the ``origin`` asked (hooks and auth flows also see redirects to other
        hosts) with a Bearer challenge starts the chain: any other 401 is the API's answer.
        """
        if status != 401 or carried_token or BindingCache.origin(url) != origin:
            return None
        parsed = bearer_challenge(challenge)
        if parsed is None:  # not an OAuth-protected API: its 401 is the answer
            return None
        binding = self.discover(url, parsed)
        self.notify(f"Signing in to {binding.issuer} for {binding.resource} …")
        return self.access_token(binding)

    def after_bearer(
        self, binding: Binding, token: str, status: int, sent: str | None, challenge: str | None
    ) -> str | None:
        """The token to resend with after the API answered ``status`` to a request that carried
        ``sent`` (its Authorization header): renewed after a 401 to ``token``, broader after
        one step-up sign-in for a 403 ``insufficient_scope``; None: hand the answer back."""
        if sent != authorization(token):
            return None  # a redirect elsewhere: not our token, not our business
        if status == 401:
            return self.access_token(binding, rejected=token)
        parsed = bearer_challenge(challenge)
        if status != 403 or not parsed:
            return None
        asked = " ".join(scope_tokens(parsed.get("scope", "")))
        if parsed.get("error") != "insufficient_scope" or not asked:
            return None
        wider = self.step_up(binding, asked)
        return None if wider is None else self.access_token(wider)

    # -- requests ----------------------------------------------------------------------------
    def prepare(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        """A known API gets its own token; an unknown one goes out bare, and its 401 starts
        the chain."""
        from ..replay import rewinder

        rewind = rewinder(r)
        url = r.url or ""
        found = self.token_for(url)
        if found is None:
            after = functools.partial(self._after_bare, BindingCache.origin(url), rewind)
        else:
            binding, token = found
            r.headers["Authorization"] = authorization(token)
            after = functools.partial(self._after_bearer, binding, token, rewind)
        r.register_hook("response", after)  # type: ignore[no-untyped-call]
        return r

    def _after_bare(
        self, origin: str, rewind: Rewind, response: requests.Response, **kwargs: Any
    ) -> requests.Response:
        request = response.request
        token = self.after_bare(
            origin,
            request.url or "",
            response.status_code,
            "Authorization" in request.headers,
            response.headers.get("WWW-Authenticate"),
        )
        return _resend(response, rewind, token, **kwargs)

    def _after_bearer(
        self,
        binding: Binding,
        token: str,
        rewind: Rewind,
        response: requests.Response,
        **kwargs: Any,
    ) -> requests.Response:
        if (
            response.is_redirect
            and response.request.headers.get("Authorization") == authorization(token)
            and not resource_matches(binding.resource, _target(response))
        ):
            # requests (and HTTPie's --follow) keep the header on a same-host redirect, but the
            # token is for this resource only: the next hop copies this request, so drop it.
            del response.request.headers["Authorization"]
            return response
        renewed = self.after_bearer(
            binding,
            token,
            response.status_code,
            response.request.headers.get("Authorization"),
            response.headers.get("WWW-Authenticate"),
        )
        return _resend(response, rewind, renewed, **kwargs)

    @functools.cached_property
    def notify(self) -> Notify:
        from ..messages import notify_stderr

        return self._notify or notify_stderr

    # -- tokens ------------------------------------------------------------------------------
    def manager(self, binding: Binding) -> TokenManager:
        manager = self._managers.get(binding.key)
        if manager is None or manager.scopes != binding.scopes:
            from ..auth import build_manager

            manager = build_manager(
                self.settings,
                store=self.store,
                session=self._session,
                opener=self._opener,
                notify=self._notify,
                binding=binding,
            )
            self._managers[binding.key] = manager
        return manager

    def access_token(self, binding: Binding, *, rejected: str | None = None) -> str:
        """A token for ``binding``'s resource; a registered client the server no longer knows
        (``invalid_client``) is registered once more and the sign-in repeated."""
        try:
            return self.manager(binding).access_token(rejected=rejected)
        except TokenEndpointError as exc:
            if exc.error != "invalid_client" or binding.client_source != "registered":
                raise
        log.debug("the registered client was refused; registering again")
        return self.manager(self._reregister(binding)).access_token()

    def _reregister(self, binding: Binding) -> Binding:
        from ..oauth.discovery import metadata
        from .client_identity import RegistrationStore, client_identity

        document = metadata(binding.issuer, session=self.session)
        identity = client_identity(
            document,
            issuer=binding.issuer,
            configured_client_id=None,
            metadata_document=None,
            registrations=RegistrationStore(self.store),
            redirect_path=self.settings.redirect_path,
            session=self.session,
            stale=binding.client_id,
        )
        fresh = replace(binding, client_id=identity.client_id)
        self.bindings.save(fresh)
        return fresh

    def step_up(self, binding: Binding, asked: str) -> Binding | None:
        """RFC 6750 §3.1 ``insufficient_scope``: one new sign-in for the union of what was
        granted and what the API asks; later requests use the broader token. None when the
        token already has every scope asked (the API's problem: no sign-in loop)."""
        stored = self.manager(binding).stored()
        granted = stored.scope.split() if stored and stored.scope else list(binding.scopes)
        if set(asked.split()) <= set(granted):
            return None
        union = tuple(dict.fromkeys([*binding.scopes, *granted, *asked.split()]))
        wider = replace(binding, scopes=union)
        self.bindings.save(wider)
        self.manager(wider).login()
        return wider


def _target(response: requests.Response) -> str:
    """Where a redirect goes, as an absolute URL."""
    return urljoin(response.request.url or "", response.headers.get("location", ""))


def _binding(
    resource: ProtectedResource,
    document: Mapping[str, Any],
    *,
    client_id: str,
    client_source: str,
    scopes: tuple[str, ...],
) -> Binding:
    from ..oauth.discovery import endpoints_from

    endpoints = endpoints_from(document, resource.authorization_server)
    registration = document.get("registration_endpoint")
    return Binding(
        resource=resource.resource,
        issuer=resource.authorization_server,
        authorization_endpoint=endpoints.authorization_endpoint,
        token_endpoint=endpoints.token_endpoint,
        client_id=client_id,
        client_source=client_source,
        scopes=scopes,
        revocation_endpoint=endpoints.revocation_endpoint,
        jwks_uri=endpoints.jwks_uri,
        userinfo_endpoint=endpoints.userinfo_endpoint,
        registration_endpoint=registration if isinstance(registration, str) else None,
        iss_parameter_supported=document.get("authorization_response_iss_parameter_supported")
        is True,
    )


def _resend(
    response: requests.Response, rewind: Rewind, token: str | None, **kwargs: Any
) -> requests.Response:
    from ..auth import resend

    return response if token is None else resend(response, rewind, token, **kwargs)
