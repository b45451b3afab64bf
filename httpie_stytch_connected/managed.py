"""The composition root: settings in, a token manager out, the same way for every adapter.

:class:`ManagedTokens` is what the ``requests``, ``httpx`` and HTTPie adapters and the command
derive from or build: it resolves the settings once, and builds on first use either one
:class:`~.lifecycle.manager.TokenManager` for the configured provider or, with no provider
configured, a :class:`~.zero_config.chain.ZeroConfig` that builds one per API. Nothing here
knows an HTTP library's request or response types; the adapters above it do.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from .errors import ConfigurationError
from .lifecycle.manager import Policy, TokenManager
from .messages import Notify, Opener, notify_stderr, say_ignored_arguments, say_unknown_env
from .oauth.bearer import refuse_cleartext
from .settings.config import (
    Settings,
    is_zero_config,
    load_settings,
    relocate_token_endpoint,
    resolve_endpoints,
    storage_key,
)
from .settings.credentials import has_supplied_token
from .settings.options import STYTCH_SDK_ENV, SettingArgs, StytchSettingArgs, check_arguments

if TYPE_CHECKING:
    import requests
    from typing_extensions import Unpack

    from .oauth.client_auth import ClientAuth
    from .oauth.endpoints import ProviderEndpoints
    from .oauth.provider_calls import HTTP
    from .storage.store import SecureStore
    from .zero_config.binding import Binding
    from .zero_config.chain import ZeroConfig

#: Said once when the API refused our token and the body could not be sent again.
NOT_RESENT = (
    "The API refused the access token, so it was renewed; this request's body was streamed and "
    "cannot be sent twice, so it was not resent: send it again, with the renewed token."
)


class ManagedTokens:
    """Resolved settings, and the token manager built from them on first use.

    An auth object is an ordinary value: it pickles and copies as its settings and the parts the
    caller passed in, never as its manager (thread locks, cached endpoints). A copy, here or in
    another process, builds its own manager from the same settings and so finds the same tokens
    through the same store key, secure store, access-token cache and cross-process lock: one
    sign-in and one refresh however many workers share it. Adapters for other HTTP libraries
    derive from this class and get all of that.

    Settings are keyword arguments typed by :class:`.SettingArgs`; a misspelt one is a type
    error for mypy and a ``TypeError`` naming the closest setting at run time.
    """

    def __init__(
        self,
        *,
        store: SecureStore | None = None,
        session: requests.Session | None = None,
        opener: Opener | None = None,
        notify: Notify | None = None,
        environ: Mapping[str, str] | None = None,
        profile: str | None = None,
        **settings: Unpack[SettingArgs],
    ) -> None:
        check_arguments(settings, type(self).__name__, _PARTS)
        self._assemble(
            load_settings(
                {k: v for k, v in settings.items() if v is not None},
                os.environ if environ is None else environ,
                profile,
            ),
            store=store,
            session=session,
            opener=opener,
            notify=notify,
        )
        unused = self.settings.ignored()
        passed = {n: why for n, why in unused.items() if self.settings.sources[n] == "argument"}
        say_ignored_arguments(type(self).__name__, passed, notify or notify_stderr)

    @classmethod
    def from_settings(cls, settings: Settings, **parts: Any) -> ManagedTokens:
        """From settings already resolved (the command resolves them once for every command);
        ``parts`` as for the constructor (``store``, ``session``, ``opener``, ``notify``)."""
        tokens = cls.__new__(cls)
        tokens._assemble(settings, **parts)
        return tokens

    def _assemble(
        self,
        settings: Settings,
        *,
        store: SecureStore | None = None,
        session: HTTP = None,
        opener: Opener | None = None,
        notify: Notify | None = None,
    ) -> None:
        self.settings = settings
        self._store = store
        self._session = session
        self._opener = opener
        self._notify = notify
        self._manager: TokenManager | None = None
        self._zero = self._zero_config()
        if self._zero is None and not has_supplied_token(self.settings):
            self.settings.require("client_id")  # its error names a misspelt variable itself
        strays = {k: v for k, v in settings.unknown_env.items() if k not in STYTCH_SDK_ENV}
        if strays:  # a misspelt STYTCH_* variable: said now, not only by `config`
            say_unknown_env(strays, notify or notify_stderr)

    def _zero_config(self) -> ZeroConfig | None:
        # The module loads only with no provider configured: not on configured warm runs.
        if has_supplied_token(self.settings):
            return None  # a supplied token is used as is, whatever the API
        return self.discovery() if is_zero_config(self.settings) else None

    def discovery(self) -> ZeroConfig:
        """A zero-configuration chain with these settings and parts, also when a provider is
        configured (``stytch-connected discover`` walks it for any API)."""
        from .zero_config.chain import ZeroConfig

        store = self._store or secure_store(self.settings)  # one for every API's manager
        return ZeroConfig(
            self.settings,
            build=functools.partial(self._build, store=store),
            store=store,
            session=self._session,
            notify=self._notify,
        )

    def _build(
        self, binding: Binding | None = None, *, store: SecureStore | None = None
    ) -> TokenManager:
        """A manager for the configured provider, or for ``binding``'s API (zero configuration)."""
        return build_manager(
            self.settings,
            store=store or self._store,
            session=self._session,
            opener=self._opener,
            notify=self._notify,
            binding=binding,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(client_id={self.settings.client_id!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_manager": None, "_zero": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._zero = self._zero_config()

    @property
    def manager(self) -> TokenManager:
        """The configured provider's token manager, for code that wants the token, a sign-in or
        a sign-out itself: ``access_token()`` (reused, refreshed or signed in for),
        ``login()`` (a new sign-in now), ``logout()`` (revoked and deleted), ``stored()``.
        Blocking calls: from async code, run them on a worker thread. With no provider
        configured it raises :class:`ConfigurationError`: use :meth:`manager_for`."""
        if self._zero is not None:
            raise ConfigurationError(
                "No provider is configured, so the token depends on the API called; use "
                "manager_for(url), or `stytch-connected token --resource URL`."
            )
        if self._manager is None:
            self._manager = self._build()
        return self._manager

    def manager_for(self, url: str) -> TokenManager:
        """The manager whose tokens ``url`` gets: the configured provider's, or (zero
        configuration) the one for the API at ``url``, found from the cache or, failing that,
        by walking the chain from an unauthenticated request (network; may register a client).
        Raises :class:`ConfigurationError` when the API says nothing of where to sign in."""
        if self._zero is None:
            return self.manager
        return self._zero.manager(self._zero.find(url))

    def cached_access_token(self, url: str) -> str | None:
        """A still-valid token for ``url`` from memory or the cache file, with no network and
        no keyring (HTTPie's ``--offline``); None when there is none."""
        if self._zero is None:
            return self.manager.cached_access_token()
        binding = self._zero.bindings.lookup(url)
        return self._zero.manager(binding).cached_access_token() if binding else None

    @property
    def zero_config(self) -> ZeroConfig | None:
        """The per-API discovery when no provider is configured, else None."""
        return self._zero

    def sends_token_to(self, url: str) -> bool:
        """Whether a request to ``url`` gets our token: False for a host outside the ``hosts``
        setting (no token, no sign-in). Raises :class:`ConfigurationError` for plain http off
        loopback (RFC 6750 §5.3) unless ``allow_insecure_http``. Every adapter asks this first.
        """
        if not self.settings.sends_token_to(url):
            return False
        if not self.settings.allow_insecure_http:
            refuse_cleartext(url)
        return True


class StytchTokens(ManagedTokens):
    """Stytch Connected Apps: ``(project_domain=, client_id=, authorize_url=)``.

    Each argument falls back to its ``STYTCH_*`` environment variable; the legacy form takes
    ``project_id=`` (and ``environment='test'|'live'``) instead of ``project_domain``. Every
    adapter's ``StytchAuth`` takes its arguments from here.
    """

    def __init__(
        self,
        project_domain: str | None = None,
        client_id: str | None = None,
        authorize_url: str | None = None,
        scopes: str | Sequence[str] | None = None,
        **kwargs: Unpack[StytchArgs],
    ) -> None:
        super().__init__(
            project_domain=project_domain,
            client_id=client_id,
            authorize_url=authorize_url,
            scopes=scopes,
            **kwargs,
        )


class _Parts(TypedDict, total=False):
    store: SecureStore | None
    session: requests.Session | None
    opener: Opener | None
    notify: Notify | None
    environ: Mapping[str, str] | None
    profile: str | None


class StytchArgs(_Parts, StytchSettingArgs, total=False):
    """``StytchAuth``'s keyword arguments after its four positional ones."""


_PARTS = tuple(_Parts.__annotations__)


def secure_store(settings: Settings) -> SecureStore:
    """The store the settings choose: the system keyring, or the opt-in 0600 file store."""
    from .storage.store import FileStore, KeyringStore

    if settings.token_store == "file":
        return FileStore()
    return KeyringStore(timeout=settings.keyring_timeout)


def _registered_client_auth(
    binding: Binding,
    redirect_path: str,
    store: SecureStore | None,
    settings: Settings,
    endpoints: ProviderEndpoints,
) -> ClientAuth:
    """The secret of a client we registered, from the secure store it was kept in (read only
    when the client first talks to the token endpoint, not on a warm run)."""
    from .oauth.client_auth import choose
    from .zero_config.client_identity import RegistrationStore, registration_redirect

    record = RegistrationStore(store or secure_store(settings)).load_record(
        binding.issuer, registration_redirect(redirect_path, binding.issuer)
    )
    if record is None or record.client_id != binding.client_id or not record.client_secret:
        from .errors import TokenEndpointError
        from .oauth.urls import shown_url

        # As if the server had refused the client: the chain registers once more.
        raise TokenEndpointError(
            f"The secret of the client registered at {shown_url(binding.issuer)} is no longer "
            "kept.",
            error="invalid_client",
        )
    return choose(
        record.client_id,
        secret=record.client_secret,
        preferred=record.token_endpoint_auth_method,
    )


def build_manager(
    settings: Settings,
    *,
    store: SecureStore | None = None,
    session: HTTP = None,
    opener: Opener | None = None,
    notify: Notify | None = None,
    binding: Binding | None = None,
) -> TokenManager:
    """The manager for the configured provider, or for one API found by zero configuration
    (``binding``: its own key, client, endpoints, scopes and RFC 8707 resource)."""
    from .lifecycle.manager import CLIENT_CREDENTIALS, Grant
    from .settings import credentials
    from .storage.access_cache import AccessTokenCache
    from .storage.paths import token_key

    supplied = credentials.supplied_token(settings) if binding is None else None
    if supplied is not None:
        return TokenManager(
            key="supplied-access-token",
            client_id=settings.client_id or "",
            provider=functools.partial(resolve_endpoints, settings, session),
            scopes=settings.scopes,
            store=store or secure_store(settings),
            access_cache=None,
            policy=Policy(),
            notify=notify or notify_stderr,
            supplied=supplied,
        )
    provider: Callable[[], ProviderEndpoints]
    grant: Grant | None = None
    client_auth: Callable[[ProviderEndpoints], ClientAuth] | None = None
    calls: HTTP = session
    redirect_path = settings.redirect_path
    # A configured provider's token endpoint that is not there any more: found again in its
    # issuer's fresh metadata, or an error naming the setting (zero configuration's chain
    # follows the API's own binding instead: ZeroConfig.access_token).
    relocate = (
        functools.partial(relocate_token_endpoint, settings, session, notify or notify_stderr)
        if binding is None
        else None
    )
    if binding is not None:
        from .zero_config.reach import DeferredCalls, endpoints_of
        from .zero_config.redirect_paths import sign_in_path

        key, client_id, scopes = binding.key, binding.client_id, binding.scopes
        provider = functools.partial(endpoints_of, binding, settings)
        calls = DeferredCalls(binding.resource, settings, session)  # the API named them
        redirect_path = sign_in_path(redirect_path, binding.issuer, binding.client_source)
        if binding.client_source == "configured" and credentials.has_machine_credential(settings):
            # A pre-registered confidential client: its secret or key is configured with it.
            client_auth = functools.partial(credentials.client_auth_for, settings, client_id)
        elif binding.token_endpoint_auth_method != "none":  # a registered confidential client
            client_auth = functools.partial(
                _registered_client_auth, binding, settings.redirect_path, store, settings
            )
    else:
        credentials.check_machine_client(settings)
        key, client_id = storage_key(settings), settings.require("client_id")
        scopes = settings.scopes
        provider = functools.partial(resolve_endpoints, settings, session)
        if credentials.grant_type(settings) == credentials.CLIENT_CREDENTIALS:
            grant, scopes = CLIENT_CREDENTIALS, credentials.machine_scopes(settings)
            # A machine's token is never a person's: the same settings with the other grant
            # (STYTCH_GRANT_TYPE) must not find it in the access-token cache.
            key = token_key(f"{key}\ngrant_type={grant.name}", client_id, scopes)
            provider = functools.partial(credentials.machine_endpoints, settings, session)
        if credentials.has_machine_credential(settings):
            client_auth = functools.partial(credentials.client_auth_for, settings, client_id)
    return TokenManager(
        key=key,
        client_id=client_id,
        provider=provider,
        session=calls,
        scopes=scopes,
        resource=binding.resource if binding is not None else None,
        store=store or secure_store(settings),
        access_cache=AccessTokenCache() if settings.access_token_cache else None,
        policy=Policy(
            leeway=settings.leeway,
            login_timeout=settings.login_timeout,
            redirect_path=redirect_path,
            no_browser=settings.no_browser,
            callback_port=settings.callback_port,
            callback_host=settings.callback_host,
        ),
        opener=opener,
        notify=notify or notify_stderr,
        grant=grant,
        client_auth=client_auth,
        relocate=relocate,
    )
