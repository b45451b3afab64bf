"""Zero configuration against APIs and servers that misbehave or attack: what must not happen.

A stand-in API on loopback (the metadata it serves and the answers it gives are set per test)
names the Stytch emulator as its authorization server; the rest is real: the emulator, the test
keyring, the scripted browser.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
import requests

from httpie_stytch_connected.auth import OAuth2PKCEAuth
from httpie_stytch_connected.cli import main
from httpie_stytch_connected.errors import AuthenticationError
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.oauth.registration import register
from httpie_stytch_connected.testing.emulator import StytchEmulator
from tests.loopback import LoopbackServer, QuietHandler

Route = Callable[["StandIn", BaseHTTPRequestHandler], None]


class StandIn:
    """An API whose every answer a test scripts; it records each request's path and
    Authorization header."""

    def __init__(self) -> None:
        self.route: Route = lambda api, handler: None
        self.seen: list[tuple[str, str | None]] = []
        owner = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                owner.seen.append((self.path, self.headers.get("Authorization")))
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.route(owner, self)

            do_POST = do_GET

        self.server = LoopbackServer(Handler)

    @property
    def url(self) -> str:
        return self.server.url

    def authorized(self, path: str) -> bool:
        return any(p == path and auth for p, auth in self.seen)


def reply(handler: BaseHTTPRequestHandler, status: int, body: Any = None, **headers: str) -> None:
    assert isinstance(handler, QuietHandler)
    handler.reply(status, json.dumps(body or {}).encode(), headers=headers)


def challenge(handler: BaseHTTPRequestHandler, scope: str = "read:data") -> None:
    reply(handler, 401, {}, **{"WWW-Authenticate": f'Bearer scope="{scope}"'})


@pytest.fixture
def api() -> Iterator[StandIn]:
    stand_in = StandIn()
    with stand_in.server:
        yield stand_in


def test_a_redirect_out_of_the_resource_does_not_carry_its_token(
    stytch_zero_env: StytchEmulator, api: StandIn
) -> None:
    """The resource is /a; /a/next redirects to /b on the same host, where requests (and
    HTTPie's --follow) would keep the Authorization header."""

    def route(api: StandIn, handler: BaseHTTPRequestHandler) -> None:
        if handler.path.startswith("/.well-known/"):
            reply(
                handler,
                200,
                {"resource": api.url + "/a", "authorization_servers": [stytch_zero_env.issuer]},
            )
        elif handler.path.startswith("/a"):
            if not handler.headers.get("Authorization"):
                challenge(handler)
            elif handler.path == "/a/page":
                reply(handler, 302, Location="/a/next")  # within the resource: token kept
            else:
                reply(handler, 302, Location="/b/page")
        else:
            reply(handler, 200)

    api.route = route
    assert requests.get(api.url + "/a/page", auth=OAuth2PKCEAuth(), timeout=30).ok
    forget_memory()  # a warm run: the token goes out with the first request
    assert requests.get(api.url + "/a/page", auth=OAuth2PKCEAuth(), timeout=30).ok
    assert api.authorized("/a/next") and not api.authorized("/b/page")
    assert stytch_zero_env.counters["login"] == 1


DEEP = b"[" * 100_000 + b"]" * 100_000
HUGE = b'{"padding": "' + b" " * (2 * 1024 * 1024) + b'"}'


@pytest.mark.parametrize("hostile", ["/.well-known/oauth-protected-resource", "/as/", "/register"])
@pytest.mark.parametrize(
    ("body", "error"),
    [
        (DEEP, "does not say where|serves no OpenID|without a usable client_id"),
        (HUGE, "more than 1024"),
    ],
)
def test_a_document_nested_too_deep_or_too_big_is_one_clean_error(
    stytch_zero_env: StytchEmulator,
    api: StandIn,
    hostile: str,
    body: bytes,
    error: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The API, its metadata, its authorization server's metadata and registration endpoint
    are one stand-in, and one of the three documents is hostile. A RecursionError, or reading
    gigabytes, would be a crash: each is one error a person can read. (``hosts`` names the API,
    so the person has agreed to sign in at its server and registration is reached.)"""
    monkeypatch.setenv("STYTCH_HOSTS", "127.0.0.1")

    def route(api: StandIn, handler: BaseHTTPRequestHandler) -> None:
        assert isinstance(handler, QuietHandler)
        issuer = api.url + "/as"
        if handler.path.startswith(hostile):
            handler.reply(200, body)
        elif handler.path.startswith("/.well-known/oauth-protected-resource"):
            reply(handler, 200, {"resource": api.url, "authorization_servers": [issuer]})
        elif handler.path.startswith("/as/"):
            reply(
                handler,
                200,
                {
                    "issuer": issuer,
                    "authorization_endpoint": issuer + "/authorize",
                    "token_endpoint": issuer + "/token",
                    "registration_endpoint": api.url + "/register",
                },
            )
        else:
            challenge(handler)

    api.route = route
    with pytest.raises(AuthenticationError, match=error):
        requests.get(api.url + "/api", auth=OAuth2PKCEAuth(), timeout=30)


def test_a_registration_refusal_nested_too_deep_is_one_clean_error(api: StandIn) -> None:
    def route(api: StandIn, handler: BaseHTTPRequestHandler) -> None:
        assert isinstance(handler, QuietHandler)
        handler.reply(400, DEEP)

    api.route = route
    with pytest.raises(AuthenticationError, match="Could not register this client: HTTP 400"):
        register(api.url + "/register", "/callback", requests.Session())


def test_scopes_and_a_client_id_with_terminal_escapes_never_reach_the_terminal(
    stytch_zero_env: StytchEmulator, api: StandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    """``discover`` prints the scopes the API asked for: an escape sequence in them (or in a
    registered client ID) could rewrite what the person reads."""

    def route(api: StandIn, handler: BaseHTTPRequestHandler) -> None:
        if handler.path.startswith("/.well-known/"):
            metadata = {"resource": api.url, "authorization_servers": [stytch_zero_env.issuer]}
            reply(handler, 200, {**metadata, "scopes_supported": ["read:data", "\x1b[2Jx"]})
        elif handler.path == "/register":
            reply(handler, 201, {"client_id": "client\x1b]0;owned\x07"})
        else:
            challenge(handler, "read:data \x1b[31mred")

    api.route = route
    assert main(["discover", api.url + "/api"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "read:data openid offline_access" in out
    with pytest.raises(AuthenticationError, match="usable client_id"):
        register(api.url + "/register", "/callback", requests.Session())
