"""Zero configuration: point it at an API and nothing else.

With no provider setting, the first request goes out without a token. A 401 with a ``Bearer``
challenge starts the chain (see :mod:`.resource_metadata`, :mod:`.registration`): the API's
protected resource metadata names the authorization server, whose metadata (RFC 8414 / OpenID
Discovery, exact issuer) gives the endpoints and the registration endpoint; then a client
identity, the scopes, and a login for that resource (RFC 8707 ``resource`` on every
authorization, token and refresh request). What the chain found is a :class:`Binding`, cached
per origin in a 0600 file so the warm path reads it and the access-token cache and nothing
else. Tokens are keyed per (authorization server, resource, client): a token obtained for one
resource is never sent to another. An older API without protected resource metadata (MCP
2025-03-26) has its authorization server at its origin: the one the metadata there names (on
that same origin), else the origin itself with the default endpoints (:func:`server_metadata`),
with the same consent, confinement and checks.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import (
    AuthenticationError,
    ConfigurationError,
    LoginError,
    TokenEndpointError,
    TokenEndpointGone,
    TokenStoreError,
)
from ..oauth.bearer import MAX_SCOPES, answers_for, bearer_challenge, scope_tokens
from ..oauth.untrusted import shown
from ..oauth.urls import check_endpoint, shown_url
from .binding import (
    FALLBACKS,
    Binding,
    BindingCache,
    binding_from,
    fallback_of,
    initial_scopes,
)

if TYPE_CHECKING:
    from ..lifecycle.manager import TokenManager
    from ..messages import Notify
    from ..oauth.provider_calls import HTTP, ProviderHTTP
    from ..oauth.resource_metadata import ProtectedResource
    from ..settings.config import Settings
    from ..storage.store import SecureStore

log = logging.getLogger(__name__)
_T = TypeVar("_T")


def unchallenged(origin: str, status: int) -> str:
    """Why zero configuration found nowhere to sign in for the API at ``origin``."""
    return (
        f"No provider is configured and {origin} answered {status} without a Bearer challenge, "
        "so zero configuration found nowhere to sign in; to send a token there, set "
        "STYTCH_PROJECT_DOMAIN and STYTCH_CLIENT_ID (or STYTCH_ISSUER); `stytch-connected "
        "config` shows the settings."
    )


#: Said when zero configuration signs in at a server without the client ID the person set.
PINNED_CLIENT_UNUSED = (
    "STYTCH_CLIENT_ID is not sent to {issuer}: a client ID you set goes only to the server "
    "configured with it (STYTCH_ISSUER; for an MCP server's pre-registered client see "
    "docs/guides/mcp.md)."
)


@dataclass
class Call:
    """One request the caller made, across its redirect hops and its resend: an adapter makes
    one per request and hands it to every :meth:`ZeroConfig.after_bearer` of that request, so
    that it opens at most one step-up sign-in however many hops ask for more."""

    stepped_up: bool = False
    #: The API's resource metadata was read again for this request (:meth:`ZeroConfig.moved`).
    rediscovered: bool = False


def server_metadata(
    issuer: str, http: HTTP, *, fallback: bool, fresh: bool = False
) -> tuple[dict[str, Any], bool]:
    """``issuer``'s metadata (RFC 8414 / OpenID Discovery); with ``fallback`` (an API without
    protected resource metadata, whose server is on its origin), the metadata at ``issuer``'s
    origin, which may name any issuer on that origin (checked by the caller), or the default
    endpoints when it publishes none (MCP authorization 2025-03-26 §2.3.3); True when those are
    used."""
    from ..oauth.resource_uri import origin_of
    from ..storage.metadata_cache import metadata, metadata_or_defaults

    if fallback:
        return metadata_or_defaults(origin_of(issuer), session=http, fresh=fresh)
    return metadata(issuer, session=http, fresh=fresh), False


def check_named(document: Mapping[str, Any], issuer: str) -> None:
    """ConfigurationError unless ``document`` names ``issuer`` exactly: not even a trailing
    slash may differ (RFC 8414 §3.3)."""
    if document.get("issuer") != issuer:
        raise ConfigurationError(
            f"The authorization server metadata of {shown_url(issuer)} names issuer "
            f"{shown(document.get('issuer'))}; refusing to use it."
        )


class ZeroConfig:
    """Discovery, client identity and one token manager per protected resource."""

    def __init__(
        self,
        settings: Settings,
        *,
        build: Callable[[Binding], TokenManager],
        store: SecureStore,
        session: HTTP = None,
        notify: Notify | None = None,
    ) -> None:
        """``build`` makes the token manager for one API (the composition root's, so that
        every adapter's managers are made alike); ``store`` keeps tokens and registrations."""
        self.settings = settings
        self._build = build
        self.store = store
        self._session = session
        self._notify = notify
        self.bindings = BindingCache()
        self._managers: dict[str, TokenManager] = {}
        self._agreed: set[tuple[str, str]] = set()

    @functools.cached_property
    def session(self) -> ProviderHTTP:
        """The provider calls of every API, through the library of the ``session`` given (a
        ``requests.Session``, made on first use, when None)."""
        from ..oauth.provider_calls import provider_http

        return provider_http(self._session)

    # -- the chain ---------------------------------------------------------------------------
    def probe(self, url: str) -> dict[str, str]:
        """The ``Bearer`` challenge of an unauthenticated GET to ``url``. Raises
        :class:`ConfigurationError` for any other answer: as for a request through an adapter
        (:meth:`after_bare`), only a 401 with a Bearer challenge starts the chain, so an API
        that asks for no token is never taken for an older server (MCP 2025-03-26) whose
        ``/register`` would be sent a registration."""
        from ..oauth.provider_calls import CHALLENGE, call

        check_endpoint(url, "the API URL")
        answer = call(self.session, "GET", url, "call the API", kind=CHALLENGE)
        found = bearer_challenge(answer.headers.get("www-authenticate"))
        if answer.status != 401 or found is None:
            raise ConfigurationError(unchallenged(BindingCache.origin(url), answer.status))
        return found

    def discover(
        self,
        url: str,
        challenge: Mapping[str, str] | None,
        *,
        register_now: bool = True,
        found: ProtectedResource | None = None,
    ) -> Binding:
        """Walk the chain for ``url`` and cache what it found (unless only looking);
        ``found``: the API's resource metadata, read just now."""
        from ..oauth.discovery import check_pkce_s256
        from ..oauth.resource_metadata import discover_resource
        from .client_identity import RegistrationStore, client_identity
        from .reach import configured_issuer, provider_http_for

        http = provider_http_for(url, self.settings, self.session)  # the API chooses these URLs
        resource = found or discover_resource(url, challenge, http)
        document, defaults = server_metadata(
            resource.authorization_server, http, fallback=resource.fallback
        )
        if resource.fallback:  # the origin's document names its server, on that origin
            resource = replace(resource, authorization_servers=(str(document.get("issuer")),))
        issuer = resource.authorization_server
        check_named(document, issuer)
        check_pkce_s256(document, issuer)  # before a client is registered for nothing
        configured = self.settings.sources.get("scopes", "default") != "default"
        scopes = (
            self.settings.scopes
            if configured
            else initial_scopes(
                (challenge or {}).get("scope"), resource, document.get("scopes_supported")
            )
        )
        identify = functools.partial(
            client_identity,
            document,
            issuer=issuer,
            configured_client_id=self.settings.client_id,
            configured_issuer=configured_issuer(self.settings),
            metadata_document=self.settings.values.get("client_metadata_url"),
            registrations=RegistrationStore(self.store),
            redirect_path=self.settings.redirect_path,
            session=http,
            resource=resource.resource,
            scopes=scopes,
            held_elsewhere=self._held_elsewhere(issuer),
        )
        identity = identify(register_now=False)  # what is known there: nothing sent yet
        if register_now and self.settings.client_id and identity.source != "configured":
            self.notify(PINNED_CLIENT_UNUSED.format(issuer=shown_url(issuer)))
        if register_now:
            why = FALLBACKS.get(fallback_of(resource, defaults=defaults), "")
            self.agree(resource.resource, issuer, identity.source, why)
            if identity.source == "to be registered":
                identity = identify(register_now=True)
        binding = binding_from(
            resource,
            document,
            client_id=identity.client_id,
            client_source=identity.source,
            token_endpoint_auth_method=identity.auth_method,
            defaults=defaults,
            scopes=scopes,
        )
        if register_now:
            self.bindings.save(binding)
        return binding

    def _held_elsewhere(self, issuer: str) -> frozenset[str]:
        """The client IDs this tool holds at servers other than ``issuer``: those of its
        bindings there, and the pinned one (which belongs to the configured server)."""
        held = {b.client_id for b in BindingCache().known() if b.issuer != issuer}
        return frozenset(held | ({self.settings.client_id} if self.settings.client_id else set()))

    _consent_lock = threading.Lock()  # one question at a time, per class (see below)

    def agree(self, resource: str, issuer: str, client: str, fallback: str = "") -> None:
        """Before anything is registered or signed in for a new (API, server) pair: the
        person's yes (asked on the terminal, saying what this tool holds at that server) or a
        setting's (:mod:`.consent`), told ``fallback`` (why the server is on the API's origin,
        when it is); else the refusal. Saved bindings are pairs agreed before, in any process:
        never asked again."""
        from .consent import Pair, confirm

        with self._consent_lock:  # threads finding one new API ask once
            known = BindingCache().known()  # from disk: another process may have agreed
            if any(b.resource == resource and b.issuer == issuer for b in known):
                return
            if (resource, issuer) in self._agreed:
                return
            others = tuple(b.resource for b in known if b.issuer == issuer)
            confirm(self.settings, Pair(resource, issuer, others, client, fallback))
            self._agreed.add((resource, issuer))

    def forget_unusable(self, url: str) -> str | None:
        """Forget that a registration endpoint the API at ``url`` led to registered a client
        this tool cannot use (``logout --resource``), so the next run registers there again;
        what to say, or None when nothing was remembered."""
        from ..storage.metadata_cache import forget_unusable

        endpoints = forget_unusable(url)
        if not endpoints:
            return None
        return (
            f"Forgot that {', '.join(shown_url(e) for e in endpoints[:3])} registered a client "
            "this tool cannot use; the next run registers there again."
        )

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
        self.say_if_unchallenged(origin, url, status, carried_token, challenge)
        if status != 401 or carried_token or BindingCache.origin(url) != origin:
            return None
        parsed = bearer_challenge(challenge)
        if parsed is None:  # not an OAuth-protected API: its 401 is the answer
            return None
        return self._first_token(self.discover(url, parsed))

    def _first_token(self, binding: Binding) -> str:
        """A token for a binding just discovered: the sign-in, if one starts, says first where
        and for which API (:func:`..lifecycle.manager.announcing`); then whether the token is
        bound to that API (:meth:`say_if_unbound`)."""
        from ..lifecycle.manager import announcing

        with announcing(
            f"Signing in to {shown_url(binding.issuer)} for {shown_url(binding.resource)} …"
        ):
            token = self.access_token(binding)
        self.say_if_unbound(binding, token)
        return token

    def after_bearer(
        self,
        binding: Binding,
        token: str,
        url: str,
        status: int,
        sent: str | None,
        challenge: str | None,
        *,
        call: Call,
        resent: bool = False,
    ) -> str | None:
        """The token to resend with after ``url`` answered ``status`` to a request that carried
        ``sent`` (its Authorization header): renewed after a 401 to ``token``, broader after
        one step-up sign-in for a 403 ``insufficient_scope``; None: hand the answer back.

        Only an answer from inside ``binding``'s resource to a request that carried ``token``
        counts (:func:`.bearer.answers_for`): a redirect hop elsewhere renews nothing. At most
        one step-up per ``call``, and none for a scope the server declined before.

        ``resent``: the answer to the resend with the token this method returned for a 401;
        only a move of the API to another server (:meth:`moved`) is acted on then, so a 401
        the renewed token did not cure leads to the new server within the same request."""
        if not answers_for(binding.resource, token, url, sent):
            return None  # a hop outside the resource, or without our token: not our business
        if status == 401:
            moved = self.moved(binding, token, url, challenge, call=call)
            if moved is not None or resent:
                return moved
            return self.access_token(binding, rejected=token)
        if resent:
            return None
        parsed = bearer_challenge(challenge)
        if status != 403 or not parsed:
            return None
        asked = " ".join(scope_tokens(parsed.get("scope", "")))
        if parsed.get("error") != "insufficient_scope" or not asked or call.stepped_up:
            return None
        call.stepped_up = True  # even if the sign-in fails: one attempt per request
        wider = self.step_up(binding, asked)
        if wider is None:
            return None
        token = self.access_token(wider)
        self.say_if_unbound(wider, token)  # a new sign-in: said unless said before
        return token

    def moved(
        self, binding: Binding, token: str, url: str, challenge: str | None, *, call: Call
    ) -> str | None:
        """RFC 9728 §5.2: the API may have changed its authorization server. When the token it
        refused with a 401 was itself just obtained to cure a refusal (a refresh or a sign-in
        after a 401), the API's resource metadata is read again, at most once per ``call``;
        if it now names another server, that is said in one line and the new (API, server)
        pair is followed like a new API (the person's or a setting's agreement first,
        :meth:`agree`), its token returned and the old server's grant revoked. None: nothing
        changed (or the metadata could not be read), so the usual renewal follows."""
        if call.rediscovered or not self._fresh_cure(binding, token):
            return None
        call.rediscovered = True  # even if what follows fails: one look per request
        from ..oauth.resource_metadata import discover_resource
        from .reach import provider_http_for

        parsed = bearer_challenge(challenge)
        http = provider_http_for(url, self.settings, self.session)
        try:
            found = discover_resource(url, parsed, http)
        except (ConfigurationError, TokenEndpointError) as exc:
            log.debug("resource metadata not read again (%s)", type(exc).__name__)
            return None
        if found.fallback or found.authorization_server == binding.issuer:
            return None
        self.notify(
            f"{shown_url(binding.resource)} refused the token from {shown_url(binding.issuer)} "
            f"and now names another authorization server, {shown_url(found.authorization_server)}; "
            "following it."
        )
        renewed = self._first_token(self.discover(url, parsed, found=found))
        self._abandon(binding)
        return renewed

    def _abandon(self, binding: Binding) -> None:
        """Sign out of ``binding``, which a new one replaced: its grant is revoked where the
        server offers it (RFC 7009) and its tokens deleted here; best effort."""
        try:
            self.manager(binding).logout()
        except AuthenticationError as exc:
            log.debug("the replaced grant was not signed out of (%s)", type(exc).__name__)
        self._managers.pop(binding.key, None)

    def _fresh_cure(self, binding: Binding, token: str) -> bool:
        """Whether ``token`` was obtained to cure an earlier refusal (a refresh or sign-in
        after a 401): its own refusal is one a new token from that server did not cure."""
        try:
            stored = self.manager(binding).stored()
        except TokenStoreError:
            return False
        return (
            stored is not None
            and stored.access_token == token
            and stored.after_rejection is not None
        )

    _unchallenged_lock = threading.Lock()  # per class: an instance lock would not pickle
    _said_unchallenged = False

    def say_if_unchallenged(
        self, origin: str, url: str, status: int, carried_token: bool, challenge: str | None
    ) -> None:
        """Say once per instance, on the notify channel, that a request went without a token
        because nothing is configured and the API asked for none: otherwise a request meant
        to be authenticated succeeds or fails with no word about why it carried no token."""
        if carried_token or BindingCache.origin(url) != origin:
            return  # ours, or a redirect elsewhere: not a bare answer from the API asked
        if status == 401 and bearer_challenge(challenge) is not None:
            return  # the chain starts
        with self._unchallenged_lock:
            if self._said_unchallenged:
                return
            self._said_unchallenged = True
        self.notify(unchallenged(origin, status) + " The request was sent without a token.")

    def say_if_unbound(self, binding: Binding, token: str) -> None:
        """Once per binding (remembered in its cache file): the token the server issued for
        the API is not bound to it (RFC 8707 ignored), so other APIs of that server may take
        it too. Says the audience, never the token."""
        from .consent import unbound_audience

        current = self.bindings.lookup(binding.resource) or binding
        if current.unbound_said:
            return
        audience = unbound_audience(token, binding.resource)
        if audience is None:
            return
        self.bindings.save(current._replace(unbound_said=True))
        self.notify(
            f"{shown_url(binding.issuer)} issued a token for {shown_url(binding.resource)} whose "
            f"audience ({audience}) does not name that API: the server ignored the API it was "
            "asked for, so any API that accepts this server's tokens may accept this one too."
        )

    @functools.cached_property
    def notify(self) -> Notify:
        from ..messages import notify_stderr

        return self._notify or notify_stderr

    # -- tokens ------------------------------------------------------------------------------
    def manager(self, binding: Binding) -> TokenManager:
        manager = self._managers.get(binding.key)
        if manager is None or manager.scopes != binding.scopes:
            manager = self._build(binding)
            if binding.client_source == "registered":
                manager.before_sign_in = functools.partial(self._check_registered, binding)
            self._managers[binding.key] = manager
        return manager

    def _check_registered(self, binding: Binding) -> None:
        """Before a browser opens with a registered client: where the server offers RFC 7592,
        ask whether it still knows the client; a LoginError (``invalid_client``) when it does
        not, which :meth:`access_token` answers with one new registration."""
        from .client_identity import RegistrationStore, registration_gone, registration_redirect
        from .reach import provider_http_for

        redirect = registration_redirect(self.settings.redirect_path, binding.issuer)
        registrations = RegistrationStore(self.store)
        if registration_gone(
            registrations,
            binding.issuer,
            redirect,
            binding.client_id,
            provider_http_for(binding.resource, self.settings, self.session),
        ):
            raise LoginError(
                f"{shown_url(binding.issuer)} no longer knows the client registered for this tool "
                f"({binding.client_id}), as its registration endpoint says (RFC 7592).",
                error="invalid_client",
            )

    def access_token(self, binding: Binding, *, rejected: str | None = None) -> str:
        """A token for ``binding``'s resource. A registered client the server refuses
        (:func:`.client_identity.registration_refused`) is registered once more, said on the
        notify channel, and the sign-in repeated once (unless that client was itself a fresh
        replacement: then an error, never a loop of registrations); a sign-in that got no
        answer with a registered client forgets that registration and the binding, so the next
        run registers anew (issue 18 §1). A token endpoint that is not there any more is
        looked up again once (:meth:`_token_endpoint_moved`)."""
        return self._following_endpoint(
            binding,
            lambda b: self._with_registration(
                b,
                lambda c: self.manager(c).access_token(rejected=rejected),
                lambda c: self.manager(c).access_token(),
            ),
        )

    def _following_endpoint(self, binding: Binding, attempt: Callable[[Binding], _T]) -> _T:
        """``attempt(binding)``; when the remembered token endpoint turns out not to be there,
        once more with the one the server's metadata names now (or its error)."""
        try:
            return attempt(binding)
        except TokenEndpointGone as gone:
            moved = self._token_endpoint_moved(binding, gone)
        return attempt(moved)

    def _token_endpoint_moved(self, binding: Binding, gone: TokenEndpointGone) -> Binding:
        """The cached token endpoint is not there any more (:class:`..errors.TokenEndpointGone`):
        ``binding`` with the endpoints the server's metadata names now, read afresh (once,
        bypassing the cache), saved and said in one line; else one error naming the dead
        endpoint (no sign-in: its code could not be exchanged there either)."""
        from ..oauth.discovery import endpoints_from
        from ..oauth.token_client import moved_notice, still_gone
        from .reach import provider_http_for

        current = self.bindings.lookup(binding.resource) or binding
        if current.token_endpoint != binding.token_endpoint:  # another process followed it
            self._managers.pop(binding.key, None)
            return current
        http = provider_http_for(binding.resource, self.settings, self.session)
        dead = still_gone(gone, binding.issuer)
        try:
            document, _ = server_metadata(
                binding.issuer, http, fallback=bool(binding.fallback), fresh=True
            )
            check_named(document, binding.issuer)
            endpoints = endpoints_from(document, binding.issuer)
        except (ConfigurationError, TokenEndpointError) as exc:
            log.debug("metadata not read again (%s)", type(exc).__name__)
            raise dead from None
        if endpoints.token_endpoint == binding.token_endpoint:
            raise dead
        registration = document.get("registration_endpoint")
        moved = binding._replace(
            authorization_endpoint=endpoints.authorization_endpoint,
            token_endpoint=endpoints.token_endpoint,
            revocation_endpoint=endpoints.revocation_endpoint,
            jwks_uri=endpoints.jwks_uri,
            userinfo_endpoint=endpoints.userinfo_endpoint,
            registration_endpoint=registration if isinstance(registration, str) else None,
            iss_parameter_supported=endpoints.iss_parameter_supported,
        )
        self.bindings.save(moved)
        self._managers.pop(binding.key, None)  # it holds the dead endpoint
        self.notify(moved_notice(binding.issuer, binding.token_endpoint, moved.token_endpoint))
        return moved

    def sign_in(self, binding: Binding) -> Binding:
        """A new sign-in now for ``binding``'s API (``stytch-connected login --resource``), with
        :meth:`access_token`'s handling of a refused registration; the binding signed in with
        (another one when the registration was replaced)."""

        def login(b: Binding) -> Binding:
            self.manager(b).login()
            return b

        return self._following_endpoint(binding, lambda b: self._with_registration(b, login, login))

    def _with_registration(
        self, binding: Binding, attempt: Callable[[Binding], _T], again: Callable[[Binding], _T]
    ) -> _T:
        """``attempt(binding)``; when it fails because the server refuses the registered
        client, ``again`` with one new registration (see :meth:`access_token`)."""
        try:
            return attempt(binding)
        except (TokenEndpointError, LoginError) as exc:
            if binding.client_source != "registered":
                raise
            from .client_identity import registration_refused

            verdict = registration_refused(exc)
            if verdict is None:
                raise
            if verdict == "unanswered":
                raise self._forget_registration(binding, exc) from None
            self._check_replaceable(binding, exc)
        self.notify(
            f"{shown_url(binding.issuer)} refused the client registered for this tool "
            f"({binding.client_id}): it may have been deleted there; registering a new one "
            "and signing in again."
        )
        return again(self._reregister(binding))

    def _check_replaceable(self, binding: Binding, exc: Exception) -> None:
        """ConfigurationError when ``binding``'s refused client was itself registered moments
        ago to replace a refused one: the server refuses what it registers."""
        from .client_identity import (
            RegistrationStore,
            pin_advice,
            registration_redirect,
            replaceable,
        )

        redirect = registration_redirect(self.settings.redirect_path, binding.issuer)
        registrations = RegistrationStore(self.store)
        if replaceable(registrations, binding.issuer, redirect, binding.client_id):
            return
        raise ConfigurationError(
            f"{shown_url(binding.issuer)} refused the client it registered for this tool moments "
            f"ago to replace a refused one ({exc}); registering again would not help: "
            f"{pin_advice(binding.issuer, self.settings.redirect_path, binding.scopes)}."
        ) from None

    def _forget_registration(self, binding: Binding, exc: Exception) -> LoginError:
        """Forget ``binding``'s registration and the binding itself; the error to raise."""
        from .client_identity import RegistrationStore, forget_registration, registration_redirect

        redirect = registration_redirect(self.settings.redirect_path, binding.issuer)
        forget_registration(
            RegistrationStore(self.store), binding.issuer, redirect, binding.client_id
        )
        self.bindings.forget(binding.resource)
        self._managers.pop(binding.key, None)
        return LoginError(
            f"{exc} If the sign-in page showed an error about the application, the client "
            f"registered for this tool at {shown_url(binding.issuer)} ({binding.client_id}) is no "
            "longer known there (servers delete registrations): it was forgotten, and the next run "
            "registers a new one."
        )

    def _reregister(self, binding: Binding) -> Binding:
        from .client_identity import RegistrationStore, client_identity
        from .reach import provider_http_for

        http = provider_http_for(binding.resource, self.settings, self.session)
        document, _ = server_metadata(binding.issuer, http, fallback=bool(binding.fallback))
        check_named(document, binding.issuer)  # an origin's document may have changed issuer
        identity = client_identity(
            document,
            issuer=binding.issuer,
            configured_client_id=None,
            metadata_document=None,
            registrations=RegistrationStore(self.store),
            redirect_path=self.settings.redirect_path,
            session=http,
            stale=binding.client_id,
            resource=binding.resource,
            scopes=binding.scopes,
            held_elsewhere=self._held_elsewhere(binding.issuer),
        )
        fresh = binding._replace(
            client_id=identity.client_id,
            token_endpoint_auth_method=identity.auth_method,
        )
        self.bindings.save(fresh)
        return fresh

    def step_up(self, binding: Binding, asked: str) -> Binding | None:
        """RFC 6750 §3.1 ``insufficient_scope``: one new sign-in for the union of what was
        granted and what the API asks; later requests use the broader token. None when the
        token already has every scope asked, or the server declined a step-up for this API
        before (the API's problem, or the server's: no sign-in loop, whatever new scope name a
        hostile API asks for each time).

        A scope the sign-in still did not grant is remembered with the binding (its 0600 cache
        file: across processes) and said once; no later request signs in again for it."""
        current = self.bindings.lookup(binding.resource) or binding
        declined = set(current.declined) | set(binding.declined)
        stored = self.manager(binding).stored()
        granted = stored.scope.split() if stored and stored.scope else list(binding.scopes)
        wanted = scope_tokens(asked)
        if set(wanted) <= set(granted) | declined:
            return None
        if declined:  # the server declined a step-up here before: a new name is no new reason
            return None
        if len(dict.fromkeys([*binding.scopes, *wanted])) > MAX_SCOPES:
            # Each 401 names at most MAX_SCOPES; this bounds them all together, so an API that
            # asks new ones on every request cannot have the person sign in on every request.
            extra = {scope for scope in wanted if scope not in granted}
            self.bindings.save(current._replace(declined=tuple(sorted(extra))))
            self.notify(
                f"{shown_url(binding.resource)} asks for more than {MAX_SCOPES} scopes in all; "
                "not signing in again for more (`stytch-connected logout --resource "
                f"{shown_url(binding.resource)}` starts over)."
            )
            return None
        union = tuple(dict.fromkeys([*binding.scopes, *granted, *wanted]))
        wider = binding._replace(scopes=union, declined=tuple(sorted(declined)))
        self.bindings.save(wider)
        manager = self.manager(wider)
        manager.login()
        after = manager.stored()
        if after is None or not after.scope:
            return wider  # the server did not say what it granted (RFC 6749 §5.1): as asked
        now = set(after.scope.split())
        refused = [scope for scope in wanted if scope not in now and scope not in granted]
        if not refused:
            return wider
        kept = wider._replace(
            scopes=tuple(s for s in union if s not in refused),
            declined=tuple(sorted(declined | set(refused))),
        )
        self.bindings.save(kept)
        self.notify(
            f"{shown_url(binding.issuer)} declined the scope {' '.join(refused)} for "
            f"{shown_url(binding.resource)}; "
            "not signing in again for it, nor for any other scope this API asks for."
        )
        return kept
