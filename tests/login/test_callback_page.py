"""The browser's last page: it arrives whole, even from a process that exits at once, and it
says how the sign-in really ended (after the code exchange, the ID-token check and the save)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import pytest
import requests

from httpie_stytch_connected.errors import LoginError, TokenEndpointError, TokenStoreError
from httpie_stytch_connected.login import callback_server
from httpie_stytch_connected.login.callback_server import CallbackServer
from httpie_stytch_connected.login.flow import Keep, browser_login
from httpie_stytch_connected.oauth.token_client import TokenClient
from httpie_stytch_connected.oauth.tokens import TokenSet
from tests.loopback import LoopbackServer, QuietHandler

TOKENS = {"access_token": "AT", "token_type": "Bearer", "expires_in": 3600}
#: Bound on every wait in this module.
BOUND = 30.0


class TokenEndpoint:
    """A stand-in token endpoint: answers ``status`` with ``TOKENS``, after ``gate`` opens."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.gate = threading.Event()
        self.gate.set()
        self.events: list[str] = []
        endpoint = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                endpoint.gate.wait(BOUND)
                endpoint.events.append("exchange")
                body = TOKENS if endpoint.status == 200 else {"error": "server_error"}
                self.reply(endpoint.status, json.dumps(body).encode())

        self.server = LoopbackServer(Handler)
        self.url = f"{self.server.url}/token"


@contextmanager
def token_endpoint(status: int = 200) -> Iterator[TokenEndpoint]:
    endpoint = TokenEndpoint(status)
    try:
        yield endpoint
    finally:
        endpoint.gate.set()
        endpoint.server.close()


class Browser:
    """An opener that follows the authorization URL straight to the callback, like a browser
    whose sign-in is already done, and keeps the page it got."""

    def __init__(self, events: list[str], *extra: dict[str, str]) -> None:
        self.events = events
        self.extra = extra
        self.page: requests.Response | None = None
        self.done = threading.Event()

    def __call__(self, url: str) -> bool:
        query = parse_qs(urlsplit(url).query)
        redirect_uri, state = query["redirect_uri"][0], query["state"][0]
        try:
            for params in self.extra:  # what else reaches the callback first
                requests.get(f"{redirect_uri}?{urlencode(params)}", timeout=BOUND)
            self.page = requests.get(
                f"{redirect_uri}?{urlencode({'code': 'c', 'state': state})}", timeout=BOUND
            )
            self.events.append("page")
        finally:
            self.done.set()
        return True


def sign_in(endpoint: TokenEndpoint, browser: Browser, keep: Keep | None = None) -> TokenSet:
    notes: list[str] = []
    try:
        return browser_login(
            authorization_endpoint="http://127.0.0.1:9/authorize",
            client=TokenClient(endpoint.url, "client", timeout=(5, BOUND)),
            scopes=("profile",),
            timeout=BOUND,
            opener=browser,
            notify=notes.append,
            keep=keep,
        ).tokens
    finally:
        assert browser.done.wait(BOUND), "the browser never got its page"


def title(page: requests.Response | None) -> str:
    assert page is not None
    return page.text.split("<title>", 1)[1].split("</title>", 1)[0]


def test_the_page_says_signed_in_only_after_the_exchange_and_the_save() -> None:
    with token_endpoint() as endpoint:
        browser = Browser(endpoint.events)
        sign_in(endpoint, browser, keep=lambda tokens, claims: endpoint.events.append("keep"))
    assert endpoint.events == ["exchange", "keep", "page"]
    assert browser.page is not None and browser.page.status_code == 200
    assert title(browser.page) == "Signed in"


def refuse_to_keep(tokens: TokenSet, claims: dict[str, Any] | None) -> None:
    raise TokenStoreError("The system keyring refused to store the tokens.")


@pytest.mark.parametrize(
    ("status", "keep", "error"),
    [(500, None, TokenEndpointError), (200, refuse_to_keep, TokenStoreError)],
    ids=["exchange fails", "save fails"],
)
def test_a_sign_in_that_fails_after_the_browser_says_so_on_the_page(
    status: int, keep: Keep | None, error: type[Exception]
) -> None:
    with token_endpoint(status) as endpoint:
        browser = Browser(endpoint.events)
        with pytest.raises(error):
            sign_in(endpoint, browser, keep=keep)
    assert title(browser.page) == "Sign-in not completed"
    assert browser.page is not None and "signed in" not in browser.page.text.lower()


def test_a_slow_exchange_holds_the_page_no_longer_than_the_hold_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(callback_server, "HOLD_LIMIT", 0.5)
    with token_endpoint() as endpoint:
        endpoint.gate.clear()  # the token endpoint does not answer yet
        browser = Browser(endpoint.events)
        login = threading.Thread(target=sign_in, args=(endpoint, browser))
        login.start()
        try:
            # Sent while the exchange is still waiting: a neutral page, not a guess.
            assert browser.done.wait(BOUND)
            assert endpoint.events == ["page"]
            assert title(browser.page) == "Sign-in received"
        finally:
            endpoint.gate.set()
            login.join(BOUND)
    assert endpoint.events == ["page", "exchange"]


def test_an_error_without_state_is_reported_at_once_and_the_wait_goes_on() -> None:
    # Anyone on this machine could send it, so it cannot end the wait; the person hears of it.
    with token_endpoint() as endpoint:
        stateless = {"error": "access_denied", "error_description": "The user said no"}
        wrong_state = {"state": "stale", "error": "invalid_request"}
        browser = Browser(endpoint.events, stateless, wrong_state)
        notes: list[str] = []
        result = browser_login(
            authorization_endpoint="http://127.0.0.1:9/authorize",
            client=TokenClient(endpoint.url, "client"),
            scopes=("profile",),
            timeout=BOUND,
            opener=browser,
            notify=notes.append,
        )
    assert result.tokens.access_token == "AT"
    unchecked = [n for n in notes if "cannot be checked" in n]
    assert len(unchecked) == 2
    assert "access_denied (The user said no)" in unchecked[0] and "Ctrl-C" in unchecked[0]
    assert "invalid_request" in unchecked[1]


def test_unverifiable_errors_are_reported_as_they_arrive_and_a_flood_of_them_is_capped() -> None:
    notes: list[str] = []
    with CallbackServer("s", notify=notes.append) as server:
        for i in range(callback_server.MAX_NOTICES + 5):
            reply = requests.get(f"{server.redirect_uri}?error=e{i}", timeout=BOUND)
            assert reply.status_code == 400 and f"e{i}" in reply.text
            if i < callback_server.MAX_NOTICES:
                assert len(notes) == i + 1 and f"e{i}" in notes[-1]  # already on the terminal
        with pytest.raises(LoginError, match="within"):
            server.wait(0.2)  # none of them ended the wait
    assert len(notes) == callback_server.MAX_NOTICES


#: A process that signs in and is frozen (SIGSTOP) the moment ``browser_login`` returns: nothing
#: of it runs afterwards, as with ``http`` exiting. Whichever thread writes the page is made slow
#: to do it, as on a loaded machine (the race seen in CI), so a page written by any thread but
#: the returning one, or after it, is never seen.
FREEZE_AT_ONCE = """
import os, signal, sys, time
from httpie_stytch_connected.login import callback_server
from httpie_stytch_connected.login.flow import Keep, browser_login
from httpie_stytch_connected.oauth.token_client import TokenClient

reply = callback_server._Handler._reply

def slow_reply(self, status, body):
    time.sleep(0.3)
    reply(self, status, body)

callback_server._Handler._reply = slow_reply

def opener(url):
    print(url, flush=True)
    return True

browser_login(
    authorization_endpoint="http://127.0.0.1:9/authorize",
    client=TokenClient(sys.argv[1], "client"),
    scopes=("profile",),
    timeout=30,
    opener=opener,
    notify=lambda message: None,
)
os.kill(os.getpid(), signal.SIGSTOP)
"""
RUNS = 8


def test_a_process_that_stops_right_after_signing_in_leaves_the_browser_a_whole_page() -> None:
    def one_run(endpoint: str) -> requests.Response:
        child = subprocess.Popen(
            [sys.executable, "-c", FREEZE_AT_ONCE, endpoint],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            query = parse_qs(urlsplit(child.stdout.readline()).query)
            params = {"code": "c", "state": query["state"][0]}
            # Bounded: a page that was not fully written before the freeze never arrives.
            return requests.get(f"{query['redirect_uri'][0]}?{urlencode(params)}", timeout=10)
        finally:
            child.kill()
            child.communicate(timeout=BOUND)

    with token_endpoint() as endpoint, ThreadPoolExecutor(4) as pool:
        pages = list(pool.map(one_run, [endpoint.url] * RUNS))
    for page in pages:
        assert page.status_code == 200
        assert title(page) == "Signed in" and page.text.endswith("</html>")


@pytest.mark.parametrize(("scopes", "sent"), [((), None), (("profile", "email"), "profile email")])
def test_the_scope_parameter_is_left_out_when_no_scope_is_known(
    scopes: tuple[str, ...], sent: str | None
) -> None:
    """RFC 6749 §3.3: ``scope`` is optional; an empty ``scope=`` is refused by some servers."""
    seen: list[str] = []

    def browser(url: str) -> bool:
        seen.append(url)
        return True  # nobody signs in: the wait below ends the sign-in

    with pytest.raises(LoginError):
        browser_login(
            authorization_endpoint="http://127.0.0.1:9/authorize",
            client=TokenClient("http://127.0.0.1:9/token", "client"),
            scopes=scopes,
            timeout=0.5,
            opener=browser,
            notify=lambda _: None,
        )
    assert len(seen) == 1
    query = dict(parse_qsl(urlsplit(seen[0]).query, keep_blank_values=True))
    assert query.get("scope") == sent
