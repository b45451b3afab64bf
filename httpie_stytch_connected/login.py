"""The authorization-code flow with PKCE over a loopback redirect (RFC 6749 §4.1, RFC 7636,
RFC 8252): build the request, open the browser, wait for the one matching callback, exchange.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit, urlunsplit

from .browser import open_browser
from .callback_server import CallbackServer
from .pkce import PKCE, random_token
from .token_client import TokenClient
from .tokens import TokenSet

Notify = Callable[[str], None]
Opener = Callable[[str], bool]


def notify_stderr(message: str) -> None:
    """Short lines on stderr: stdout carries HTTPie's response body."""
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class LoginResult:
    tokens: TokenSet
    nonce: str | None = field(default=None, repr=False)


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
    timeout: float = 300.0,
    opener: Opener = open_browser,
    notify: Notify = notify_stderr,
) -> LoginResult:
    pkce = PKCE()
    state = random_token()
    nonce = random_token() if "openid" in scopes else None
    with CallbackServer(state, path=redirect_path) as server:
        params = {
            "client_id": client.client_id,
            "redirect_uri": server.redirect_uri,
            "response_type": "code",
            "scope": " ".join(scopes),
            "state": state,
            "code_challenge": pkce.challenge,
            "code_challenge_method": PKCE.method,
        }
        if nonce:
            params["nonce"] = nonce
        url = authorization_url(authorization_endpoint, params)
        notify("Opening your browser to sign in. If it does not open, visit this URL:")
        notify(f"  {url}")
        launcher = threading.Thread(target=opener, args=(url,), name="stytch-browser", daemon=True)
        launcher.start()
        code = server.wait(timeout)
        redirect_uri = server.redirect_uri
    tokens = client.exchange_code(code, pkce.verifier, redirect_uri)
    notify("Signed in.")
    return LoginResult(tokens, nonce)
