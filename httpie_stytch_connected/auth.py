"""The ``requests`` auth classes: attach ``Authorization: Bearer``, retry once after a 401.

``OAuth2PKCEAuth`` is provider-neutral; ``StytchAuth`` is the same with Stytch's argument names.
Construction only resolves settings; the first request does the I/O. The 401 retry follows
``requests.auth.HTTPDigestAuth.handle_401``: a response hook that resends once, and only when our
own Authorization header was on that very request (hooks travel with redirects to other hosts,
where requests strips the header) and the body can be replayed.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

import requests
from requests.auth import AuthBase
from requests.cookies import extract_cookies_to_jar

from .errors import ConfigurationError
from .lifecycle.manager import Policy, TokenManager
from .messages import Notify, Opener, notify_stderr
from .oauth.bearer import authorization, refuse_cleartext, rejected
from .replay import Rewind, rewinder
from .settings.config import (
    SettingArgs,
    Settings,
    StytchSettingArgs,
    check_arguments,
    is_zero_config,
    load_settings,
    resolve_endpoints,
    storage_key,
)
from .storage.store import SecureStore

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .oauth.endpoints import ProviderEndpoints
    from .zero_config.chain import Binding, ZeroConfig

#: Said once when the API refused our token and the body could not be sent again.
NOT_RESENT = (
    "The API refused the access token, so it was renewed; this request's body was streamed and "
    "cannot be sent twice, so it was not resent: simply run the command again."
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
        self.settings: Settings = load_settings(
            {k: v for k, v in settings.items() if v is not None},
            os.environ if environ is None else environ,
            profile,
        )
        self._store = store
        self._session = session
        self._opener = opener
        self._notify = notify
        self._manager: TokenManager | None = None
        self._zero = self._zero_config()
        if self._zero is None:
            self.settings.require("client_id")

    def _zero_config(self) -> ZeroConfig | None:
        if not is_zero_config(self.settings):  # the module loads only then: not on warm runs
            return None
        from .zero_config.chain import ZeroConfig

        return ZeroConfig(
            self.settings,
            store=self._store,
            session=self._session,
            opener=self._opener,
            notify=self._notify,
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
        if self._zero is not None:
            raise ConfigurationError(
                "No provider is configured, so the token depends on the API called; use "
                "zero_config.manager_for(url), or `stytch-connected token --resource URL`."
            )
        if self._manager is None:
            self._manager = build_manager(
                self.settings,
                store=self._store,
                session=self._session,
                opener=self._opener,
                notify=self._notify,
            )
        return self._manager

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


class OAuth2PKCEAuth(ManagedTokens, AuthBase):
    """Bearer tokens from an authorization-code + PKCE login against any OAuth 2.0 provider."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if not self.sends_token_to(r.url or ""):
            return r  # not an API this token belongs to: no token, no sign-in
        if self._zero is not None:
            return self._zero.prepare(r)
        token = self.manager.access_token()
        r.headers["Authorization"] = authorization(token)
        r.register_hook(  # type: ignore[no-untyped-call]
            "response", functools.partial(self._retry_401, token, rewinder(r))
        )
        return r

    def _retry_401(
        self, sent: str, rewind: Rewind, response: requests.Response, **kwargs: Any
    ) -> requests.Response:
        request = response.request
        if not rejected(response.status_code, request.headers.get("Authorization"), sent):
            return response
        token = self.manager.access_token(rejected=sent)  # the next request gets a good one
        second = resend(response, rewind, token, **kwargs)
        if second is response:
            self.manager.notify(NOT_RESENT)
        return second


def resend(
    response: requests.Response, rewind: Rewind, token: str, **kwargs: Any
) -> requests.Response:
    """Send ``response``'s request once more with ``token`` (``kwargs``: the adapter's send
    arguments a response hook receives); a body that cannot be rewound (see :mod:`.replay`) is
    not resent, and ``response`` itself comes back."""
    request = response.request
    if not rewind(request):
        return response
    response.content  # noqa: B018 - drain so the connection can be reused
    response.close()
    retry = request.copy()
    jar = retry._cookies  # type: ignore[attr-defined]
    extract_cookies_to_jar(jar, request, response.raw)  # type: ignore[no-untyped-call]
    retry.prepare_cookies(jar)
    retry.headers["Authorization"] = authorization(token)
    second: requests.Response = response.connection.send(retry, **kwargs)
    second.history.append(response)
    second.request = retry
    return second


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


class StytchAuth(StytchTokens, OAuth2PKCEAuth):
    """Stytch Connected Apps for requests: ``StytchAuth(project_domain=, client_id=,
    authorize_url=)``, each falling back to its ``STYTCH_*`` environment variable."""


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


def build_manager(
    settings: Settings,
    *,
    store: SecureStore | None = None,
    session: requests.Session | None = None,
    opener: Opener | None = None,
    notify: Notify | None = None,
    binding: Binding | None = None,
) -> TokenManager:
    """The manager for the configured provider, or for one API found by zero configuration
    (``binding``: its own key, client, endpoints, scopes and RFC 8707 resource)."""
    from .storage.store import AccessTokenCache

    provider: Callable[[], ProviderEndpoints]
    if binding is not None:
        key, client_id, scopes = binding.key, binding.client_id, binding.scopes
        provider = binding.endpoints
    else:
        key, client_id = storage_key(settings), settings.require("client_id")
        scopes = settings.scopes
        provider = functools.partial(resolve_endpoints, settings, session)
    return TokenManager(
        key=key,
        client_id=client_id,
        provider=provider,
        session=session,
        scopes=scopes,
        resource=binding.resource if binding is not None else None,
        store=store or secure_store(settings),
        access_cache=AccessTokenCache() if settings.access_token_cache else None,
        policy=Policy(
            leeway=settings.leeway,
            login_timeout=settings.login_timeout,
            redirect_path=settings.redirect_path,
            no_browser=settings.no_browser,
        ),
        opener=opener,
        notify=notify or notify_stderr,
    )
