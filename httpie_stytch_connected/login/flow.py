"""The authorization-code flow with PKCE over a loopback redirect (RFC 6749 §4.1, RFC 7636,
RFC 8252): build the request, open the browser (or take a pasted redirect where none can open,
see :mod:`.headless`), wait for the one matching callback, exchange, verify the ID token.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..errors import LoginError
from ..messages import Notify, Opener, notify_stderr
from ..oauth.id_token import IdTokenCheck
from ..oauth.pkce import PKCE, random_token
from ..oauth.token_client import TokenClient
from ..oauth.tokens import TokenSet
from ..oauth.urls import host_of
from .browser import launch_browser, open_browser
from .callback_server import CallbackServer
from .headless import Fallback, input_ended, no_browser_reason, no_terminal

log = logging.getLogger(__name__)

#: Stores the tokens of a sign-in, given the ID token's verified claims (None without one).
Keep = Callable[[TokenSet, "dict[str, Any] | None"], None]


@dataclass(frozen=True)
class LoginResult:
    tokens: TokenSet
    nonce: str | None = field(default=None, repr=False)
    #: The ID token's claims, verified; None without an ID token or a way to check it.
    claims: dict[str, Any] | None = field(default=None, repr=False)


def authorization_url(endpoint: str, params: dict[str, str]) -> str:
    """Append our parameters, keeping any query the endpoint already has."""
    parts = urlsplit(endpoint)
    query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def browser_login(
    *,
    authorization_endpoint: str,
    client: TokenClient,
    scopes: Sequence[str],
    redirect_path: str = "/callback",
    callback_port: int | None = None,
    callback_host: str = "127.0.0.1",
    timeout: float = 300.0,
    opener: Opener = open_browser,
    notify: Notify = notify_stderr,
    no_browser: bool = False,
    id_token_check: IdTokenCheck | None = None,
    keep: Keep | None = None,
    resource: str | None = None,
    check_iss: Callable[[str | None], str | None] | None = None,
) -> LoginResult:
    """Sign in; ``no_browser`` prints the URL and takes a pasted redirect instead.

    The environment decides only for the default opener: a caller's own opener is trusted until
    it returns False. ``keep`` stores the tokens; the browser's page is held until the code is
    exchanged, the ID token checked (its claims are ``keep``'s second argument, None without
    one) and ``keep`` has returned, so it says how the sign-in really
    ended (see :class:`.CallbackServer`).
    """
    pkce = PKCE()
    state = random_token()
    nonce = random_token() if "openid" in scopes else None
    headless = "You asked not to open a browser." if no_browser else None
    if headless is None and opener is open_browser:
        reason = no_browser_reason()
        headless = f"No browser can be opened here ({reason})." if reason else None
    with CallbackServer(
        state,
        path=redirect_path,
        port=callback_port or 0,
        host=callback_host,
        notify=notify,
        hold_reply=True,
        check_iss=check_iss,
    ) as server:
        params = {
            "client_id": client.client_id,
            "redirect_uri": server.redirect_uri,
            "response_type": "code",
            "state": state,
            "code_challenge": pkce.challenge,
            "code_challenge_method": PKCE.method,
        }
        if scopes:  # none known anywhere: the parameter is left out, not sent empty
            params["scope"] = " ".join(scopes)
        if nonce:
            params["nonce"] = nonce
        if resource:  # RFC 8707 §2.1
            params["resource"] = resource
        url = authorization_url(authorization_endpoint, params)
        log.debug(
            "sign-in: authorization request to %s, redirect_uri %s, scope %r",
            host_of(authorization_endpoint),
            server.redirect_uri,
            params.get("scope", ""),
        )
        fallback = Fallback(server, state, notify)
        try:
            if headless is not None:
                if not fallback.paste(headless, url):
                    raise LoginError(no_terminal(resource=resource))
            else:
                _launch(opener, url, fallback, notify, server)
            code = server.wait(timeout)
        except LoginError:
            if fallback.input_ended:
                raise LoginError(input_ended(resource)) from None
            if fallback.cancelled:
                raise LoginError(no_terminal(fallback.reason, resource)) from None
            raise
        finally:
            fallback.close()
        # The browser's page waits for this (bounded); an exception sends it saying so.
        log.debug(
            "sign-in: callback received; exchanging the code at %s", host_of(client.token_endpoint)
        )
        tokens = client.exchange_code(code, pkce.verifier, server.redirect_uri)
        claims = None
        if tokens.id_token and id_token_check is not None:
            claims = id_token_check.verify(tokens.id_token, nonce)
            log.debug("sign-in: ID token verified (signature, issuer, audience, expiry, nonce)")
        log.debug(
            "sign-in: done; scope %r, access token for %s, refresh token %s",
            tokens.scope or " ".join(scopes),
            f"{tokens.expires_at - time.time():.0f} s" if tokens.expires_at else "an unstated time",
            "received" if tokens.refresh_token else "not received",
        )
        if keep is not None:
            keep(tokens, claims)
        server.report(signed_in=True)
    return LoginResult(tokens, nonce, claims)


def _launch(
    opener: Opener, url: str, fallback: Fallback, notify: Notify, server: CallbackServer
) -> None:
    """Open the browser off the main thread; if it fails, fall back to the paste prompt."""
    notify("Opening your browser to sign in. If it does not open, visit this URL:")
    notify(f"  {url}")

    def run() -> None:
        if opener is open_browser:
            failure = launch_browser(url)
        else:
            # False only: an opener that returns nothing (shows the URL its own way) opened it
            failure = "the browser did not open" if opener(url) is False else None
        # A browser command may fail after it delivered the callback: then nothing is missing.
        if failure is None or server.answered:
            return
        log.debug("sign-in: %s", failure)
        if not fallback.paste(f"{failure[0].upper()}{failure[1:]}."):
            fallback.cancel(failure)

    log.debug("sign-in: opening the browser")
    threading.Thread(target=run, name="stytch-browser", daemon=True).start()
