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
from collections.abc import Mapping
from typing import Any

import requests
from requests.auth import AuthBase
from requests.cookies import extract_cookies_to_jar

from .bearer import authorization, refuse_cleartext, rejected
from .config import Settings, load_settings, resolve_endpoints, storage_key
from .manager import Policy, TokenManager
from .messages import Notify, Opener, notify_stderr
from .store import SecureStore


class OAuth2PKCEAuth(AuthBase):
    """Bearer tokens from an authorization-code + PKCE login against any OAuth 2.0 provider."""

    def __init__(
        self,
        *,
        store: SecureStore | None = None,
        session: requests.Session | None = None,
        opener: Opener | None = None,
        notify: Notify | None = None,
        environ: Mapping[str, str] | None = None,
        profile: str | None = None,
        **settings: Any,
    ) -> None:
        self.settings: Settings = load_settings(
            {k: v for k, v in settings.items() if v is not None},
            os.environ if environ is None else environ,
            profile,
        )
        self.settings.require("client_id")
        self._store = store
        self._session = session
        self._opener = opener
        self._notify = notify
        self._manager: TokenManager | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(client_id={self.settings.client_id!r})"

    @property
    def manager(self) -> TokenManager:
        if self._manager is None:
            self._manager = build_manager(
                self.settings,
                store=self._store,
                session=self._session,
                opener=self._opener,
                notify=self._notify,
            )
        return self._manager

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if not self.settings.allow_insecure_http:
            refuse_cleartext(r.url or "")
        token = self.manager.access_token()
        r.headers["Authorization"] = authorization(token)
        position: int | None = None
        if r.body is not None and not isinstance(r.body, (bytes, str)):
            try:
                position = r.body.tell()
            except (AttributeError, OSError):
                position = -1  # a stream we cannot rewind: no retry
        r.register_hook(  # type: ignore[no-untyped-call]
            "response", functools.partial(self._retry_401, token, position)
        )
        return r

    def _retry_401(
        self, sent: str, position: int | None, response: requests.Response, **kwargs: Any
    ) -> requests.Response:
        request = response.request
        if not rejected(response.status_code, request.headers.get("Authorization"), sent):
            return response
        token = self.manager.access_token(rejected=sent)  # the next request gets a good one
        if position == -1:  # a stream we cannot rewind: nothing to resend
            return response
        if position is not None:
            request.body.seek(position)  # type: ignore[union-attr]
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


class StytchAuth(OAuth2PKCEAuth):
    """Stytch Connected Apps: ``StytchAuth(project_domain=, client_id=, authorize_url=)``.

    Each argument falls back to its ``STYTCH_*`` environment variable; the legacy form takes
    ``project_id=`` (and ``environment='test'|'live'``) instead of ``project_domain``.
    """

    def __init__(
        self,
        project_domain: str | None = None,
        client_id: str | None = None,
        authorize_url: str | None = None,
        scopes: str | list[str] | tuple[str, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            project_domain=project_domain,
            client_id=client_id,
            authorize_url=authorize_url,
            scopes=scopes,
            **kwargs,
        )


def build_manager(
    settings: Settings,
    *,
    store: SecureStore | None = None,
    session: requests.Session | None = None,
    opener: Opener | None = None,
    notify: Notify | None = None,
) -> TokenManager:
    from .store import AccessTokenCache, FileStore, KeyringStore

    client_id: str = settings.require("client_id")
    if store is None:
        store = (
            FileStore()
            if settings.token_store == "file"
            else KeyringStore(timeout=settings.keyring_timeout)
        )
    return TokenManager(
        key=storage_key(settings),
        client_id=client_id,
        provider=functools.partial(resolve_endpoints, settings, session),
        session=session,
        scopes=settings.scopes,
        store=store,
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
