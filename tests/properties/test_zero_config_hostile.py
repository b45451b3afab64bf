"""Zero configuration against APIs and servers that misbehave or attack: what must not happen.

A stand-in API on loopback (the metadata it serves and the answers it gives are set per test)
names the Stytch emulator as its authorization server; the rest is real: the emulator, the test
keyring, the scripted browser.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from httpie_stytch_connected.auth import OAuth2PKCEAuth
from httpie_stytch_connected.cli import main
from httpie_stytch_connected.errors import AuthenticationError, ConfigurationError
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.oauth.bearer import MAX_SCOPES
from httpie_stytch_connected.oauth.registration import register
from httpie_stytch_connected.oauth.urls import check_endpoint
from httpie_stytch_connected.testing.emulator import StytchEmulator, example_api
from httpie_stytch_connected.zero_config.binding import BindingCache
from httpie_stytch_connected.zero_config.consent import Pair
from httpie_stytch_connected.zero_config.redirect_paths import server_redirect_path
from tests.adapters import ADAPTERS, oauth2_auth, send
from tests.httpie_harness import run_http
from tests.loopback import LoopbackServer, QuietHandler
from tests.zero_config.terminal import PROMPT, run_request

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


#: Where /a/next sends the request: outside the resource /a, or to a path that reads as inside it
#: to one parser and outside to another (dot segments, encoded slashes and dots, backslashes).
ESCAPES = ["/b/page", "/a/../b/page", "/a/%2e%2e/b/page", "/a%2f..%2fb/page", "/a/..%5cb/page"]


@pytest.mark.parametrize("escape", ESCAPES)
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_redirect_out_of_the_resource_does_not_carry_its_token(
    stytch_zero_env: StytchEmulator, api: StandIn, adapter: str, escape: str
) -> None:
    """The resource is /a; /a/next redirects out of it on the same host, where requests,
    httpx and HTTPie's --follow would keep the Authorization header, by a path each of them
    may write differently: no hop outside /a, as the server may read it, carries the token."""

    def route(api: StandIn, handler: BaseHTTPRequestHandler) -> None:
        if handler.path.startswith("/.well-known/"):
            reply(
                handler,
                200,
                {"resource": api.url + "/a", "authorization_servers": [stytch_zero_env.issuer]},
            )
        elif handler.path.startswith("/a/"):
            if not handler.headers.get("Authorization"):
                challenge(handler)
            elif handler.path == "/a/page":
                reply(handler, 302, Location="/a/next")  # within the resource: token kept
            else:
                reply(handler, 302, Location=escape)
        else:
            reply(handler, 200)

    api.route = route
    for _ in range(2):  # the second a warm run: the token goes out with the first request
        try:
            status = send(adapter, oauth2_auth(adapter), "GET", api.url + "/a/page").status_code
        except AuthenticationError:  # the hop's own 401, without the token, led nowhere
            status = 401
        forget_memory()
        # Where the stand-in reads the hop as inside /a it asks for a token it does not get.
        assert status == 200 or escape != "/b/page"
    carried = {path for path, auth in api.seen if auth}
    assert carried == {"/a/page", "/a/next"}, api.seen
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


def test_a_refused_registration_names_the_settings_that_work(api: StandIn) -> None:
    """A pinned STYTCH_CLIENT_ID is only sent to STYTCH_ISSUER: advice naming it alone loops."""

    def route(api: StandIn, handler: BaseHTTPRequestHandler) -> None:
        reply(handler, 403, {"error": "access_denied"})

    api.route = route
    with pytest.raises(AuthenticationError) as caught:
        register(api.url + "/register", "/callback", requests.Session())
    assert "set STYTCH_ISSUER and STYTCH_CLIENT_ID" in str(caught.value)


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


# -- issue 17 §4: the API cannot point the tool at the person's own machine ----------------------
#
# Every server here is on 127.0.0.1, so "remote" is modelled with the ``local_hosts`` setting, as
# a person would use it: it lists the hosts that count as theirs (here the emulator and a
# metadata server, standing in for servers on the internet). The API is not listed, so it is
# an API on somebody else's machine, and a victim service on 127.0.0.1 (not listed either)
# is the person's own machine, which that API must not be able to reach through the tool.

ATTACKS = ["resource_metadata", "authorization server", "registration_endpoint", "token_endpoint"]


@pytest.fixture
def agreed(stytch_zero_env: StytchEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The person has agreed to sign in where these APIs send them (``hosts`` names them,
    issue 17 §2): the defences below must hold even then, consent being a separate one. After
    ``stytch_zero_env``, which clears every setting."""
    monkeypatch.setenv("STYTCH_HOSTS", "127.0.0.1")


@pytest.fixture
def metadata_server() -> Iterator[StandIn]:
    stand_in = StandIn()
    with stand_in.server:
        yield stand_in


@pytest.fixture
def victim() -> Iterator[StandIn]:
    stand_in = StandIn()
    stand_in.route = lambda api, handler: reply(handler, 200, {"reset": True})
    with stand_in.server:
        yield stand_in


def _remote_api(
    emulator: StytchEmulator, api: StandIn, metadata_server: StandIn, victim: StandIn, attack: str
) -> None:
    """Script the API and its metadata server for ``attack`` ("" for an honest chain)."""
    aims = {
        "resource_metadata": victim.url + "/admin/reset?confirm=yes",
        "authorization server": metadata_server.url + "/prm-victim",
    }
    named = aims.get(attack, metadata_server.url + "/prm")

    def at_api(api: StandIn, handler: BaseHTTPRequestHandler) -> None:
        if handler.headers.get("Authorization"):
            reply(handler, 200, {"ok": True})
        else:
            reply(handler, 401, **{"WWW-Authenticate": f'Bearer resource_metadata="{named}"'})

    def at_metadata(server: StandIn, handler: BaseHTTPRequestHandler) -> None:
        if handler.path == "/prm":
            ours = attack in ("registration_endpoint", "token_endpoint")
            issuer = server.url if ours else emulator.issuer
            reply(handler, 200, {"resource": api.url, "authorization_servers": [issuer]})
        elif handler.path == "/prm-victim":
            reply(handler, 200, {"resource": api.url, "authorization_servers": [victim.url]})
        elif handler.path == "/.well-known/oauth-authorization-server":
            reply(
                handler,
                200,
                {
                    "issuer": server.url,
                    "authorization_endpoint": emulator.authorize_url,
                    "token_endpoint": victim.url + "/token"
                    if attack == "token_endpoint"
                    else emulator.token_endpoint,
                    "registration_endpoint": emulator.registration_endpoint
                    if attack == "token_endpoint"
                    else victim.url + "/register",
                    "code_challenge_methods_supported": ["S256"],
                },
            )
        else:
            reply(handler, 404)

    api.route, metadata_server.route = at_api, at_metadata


def _local_hosts(*servers: str) -> str:
    return " ".join(url.split("://", 1)[1] for url in servers)


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_an_api_not_on_this_machine_cannot_send_the_tool_to_it(
    agreed: None,
    stytch_zero_env: StytchEmulator,
    api: StandIn,
    metadata_server: StandIn,
    victim: StandIn,
    adapter: str,
    attack: str,
) -> None:
    """Issue 17 §4: a GET (the resource metadata, the authorization server's metadata, the
    token endpoint's reachability probe) or a JSON POST (registration) to a local service,
    named by the API or by the servers it named, is never sent: one error names the URL and
    what to do, the service sees nothing, and no browser opens."""
    _remote_api(stytch_zero_env, api, metadata_server, victim, attack)
    local_hosts = _local_hosts(stytch_zero_env.issuer, metadata_server.url)
    auth = oauth2_auth(adapter, local_hosts=local_hosts)
    said = _said(adapter, auth, api.url + "/api", {"STYTCH_LOCAL_HOSTS": local_hosts})
    assert "an address on this machine or a private network" in said, said
    assert victim.url in said and "STYTCH_LOCAL_HOSTS" in said
    assert victim.seen == []
    assert stytch_zero_env.counters["login"] == 0


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_an_api_not_on_this_machine_still_signs_in_at_servers_it_may_reach(
    agreed: None,
    stytch_zero_env: StytchEmulator,
    api: StandIn,
    metadata_server: StandIn,
    victim: StandIn,
    adapter: str,
) -> None:
    """The same remote API with an honest chain: registration, sign-in, the code exchange,
    the keys and userinfo all go through the confined calls and reach the servers that count
    as reachable."""
    _remote_api(stytch_zero_env, api, metadata_server, victim, "")
    # Not Stytch's default domain (the emulator's address is no Stytch-owned host): the
    # callback names the issuer itself, as a custom domain or any RFC 9207 server does.
    stytch_zero_env.iss_form = "custom_domain"
    auth = oauth2_auth(
        adapter, local_hosts=_local_hosts(stytch_zero_env.issuer, metadata_server.url)
    )
    assert send(adapter, auth, "GET", api.url + "/api").status_code == 200
    assert stytch_zero_env.counters["login"] == 1 and victim.seen == []


def _said(adapter: str, auth: Any, url: str, env: dict[str, str]) -> str:
    """What the person is told when ``adapter``'s request fails before any answer."""
    if adapter == "httpie":
        result, _ = run_http(["-A", "oauth2", "GET", url], {**os.environ, **env}, None, 90)
        assert result.status != 0 and "Traceback" not in result.stderr
        return result.stderr
    with pytest.raises(AuthenticationError) as caught:
        send(adapter, auth, "GET", url)
    return str(caught.value)


# -- issue 17 §1: a code and verifier only ever go to the server the browser signed in at -------


def _mix_up(
    api: StandIn,
    named: StandIn,
    honest_page: str,
    client_id: str = "",
    *,
    token_path: str = "/token",
    **metadata: object,
) -> list[str]:
    """``api`` (200 to any token) names ``named`` as its authorization server, which sends the
    browser to ``honest_page`` (another server's sign-in page), has its token endpoint at
    ``token_path`` and answers every registration with ``client_id``; ``metadata`` adds to or
    replaces its metadata's fields. The paths of what is POSTed to ``named`` come back (a code
    and a verifier would reach its token endpoint)."""
    posted: list[str] = []

    def at_api(api: StandIn, handler: BaseHTTPRequestHandler) -> None:
        if handler.headers.get("Authorization"):
            reply(handler, 200, {"ok": True})
            return
        prm = named.url + "/prm"
        reply(handler, 401, **{"WWW-Authenticate": f'Bearer resource_metadata="{prm}"'})

    def at_named(named: StandIn, handler: BaseHTTPRequestHandler) -> None:
        if handler.command == "POST":
            posted.append(handler.path)
        if handler.path == "/prm":
            reply(handler, 200, {"resource": api.url, "authorization_servers": [named.url]})
        elif handler.path == "/.well-known/oauth-authorization-server":
            document = {
                "issuer": named.url,
                "authorization_endpoint": honest_page,
                "token_endpoint": named.url + token_path,
                "registration_endpoint": named.url + "/register",
                "code_challenge_methods_supported": ["S256"],
                **metadata,
            }
            reply(handler, 200, document)
        elif handler.path == "/register" and client_id:
            reply(handler, 201, {"client_id": client_id})
        else:
            reply(handler, 400, {"error": "invalid_grant"})

    api.route, named.route = at_api, at_named
    return posted


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_server_that_copies_stytchs_layout_never_gets_the_honest_pages_code(
    agreed: None,
    stytch_zero_env: StytchEmulator,
    api: StandIn,
    metadata_server: StandIn,
    adapter: str,
) -> None:
    """The mix-up of issue 17 §1: a remote API names a server that copies Stytch's layout
    (its token endpoint at ``{issuer}/v1/oauth2/token``) and sends the browser to the honest
    Stytch page (the emulator, which answers with the default domain's
    ``iss=stytch.com/project-…``). That alias is no longer granted over metadata an API chose:
    the callback is refused, and the code and PKCE verifier never reach the copy."""
    emulator = stytch_zero_env
    posted = _mix_up(
        api,
        metadata_server,
        emulator.authorize_url,
        token_path="/v1/oauth2/token",  # Stytch's layout, copied
        registration_endpoint=emulator.registration_endpoint,
        scopes_supported=["openid", "offline_access"],
    )
    local_hosts = _local_hosts(emulator.issuer, metadata_server.url)
    auth = oauth2_auth(adapter, local_hosts=local_hosts)
    said = _said(adapter, auth, api.url + "/api", {"STYTCH_LOCAL_HOSTS": local_hosts})
    assert "refused" in said and "stytch.com/project-" in said, said
    assert emulator.counters["login"] == 1  # the person did sign in at the honest page
    assert posted == []  # and nothing of it reached the copy's token endpoint


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_without_iss_the_honest_servers_code_never_reaches_the_server_an_api_named(
    agreed: None,
    stytch_zero_env: StytchEmulator,
    api: StandIn,
    metadata_server: StandIn,
    adapter: str,
) -> None:
    """The mix-up of issue 17 §1 that does not depend on ``iss``: the honest server sends
    none, and the server the API names neither advertises it nor runs a sign-in page. It
    hands out the person's client at the honest server (registered there, at that server's
    redirect path) and sends the browser to the honest page. The sign-in for the named
    server listens on that server's own path, which the honest server has not registered
    for its client: it refuses to send a code there, so no code and no verifier reach the
    named server's token endpoint (RFC 9700 §4.4.2)."""
    honest = stytch_zero_env
    honest.iss_form = "none"
    persons_client = register(
        honest.registration_endpoint,
        server_redirect_path("/callback", honest.issuer),
        requests.Session(),
    )
    posted = _mix_up(api, metadata_server, honest.authorize_url, persons_client)
    local_hosts = _local_hosts(honest.issuer, metadata_server.url)
    auth = oauth2_auth(adapter, local_hosts=local_hosts)
    said = _said(adapter, auth, api.url + "/api", {"STYTCH_LOCAL_HOSTS": local_hosts})
    assert "Traceback" not in said
    assert posted == ["/register"]  # never /token: no code, no verifier
    asked = [urlsplit(uri).path for client, uri in honest.authorization_requests]
    assert asked == [server_redirect_path("/callback", metadata_server.url)]
    assert honest.counters["login"] == 0


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_an_outage_at_the_resource_metadata_is_said_as_one_with_its_status(
    stytch_zero_env: StytchEmulator, api: StandIn, adapter: str
) -> None:
    """A 5xx at the well-known resource metadata is an outage to retry, not an API that does
    not say where to sign in (so no advice to configure the provider)."""

    def route(api: StandIn, handler: BaseHTTPRequestHandler) -> None:
        if handler.path.startswith("/.well-known/"):
            reply(handler, 503)
        else:
            challenge(handler)

    api.route = route
    said = _said(adapter, oauth2_auth(adapter), api.url + "/api", {})
    assert "HTTP 503" in said and "try again later" in said, said
    assert "does not say where to sign in" not in said
    assert stytch_zero_env.counters["login"] == 0


# -- the consent question and the refusals show the server and the API as they are ---------------

#: An issuer path with a Cyrillic e (U+0435) for the Latin one: on loopback a path stands in
#: for a host (``login.example.com`` with a Cyrillic ``o``), which a test cannot serve.
LOOKALIKE = "/t\u0435nant"


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_server_named_in_letters_from_another_script_is_refused_before_any_question(
    stytch_zero_env: StytchEmulator, api: StandIn, adapter: str
) -> None:
    """An API names a server whose URL reads as another (a lookalike letter from another
    script): the person would be asked to sign in at what looks like their own server. Such a
    URL is refused where every URL an API or a server names is checked, before its metadata is
    read and before any question, in one sentence saying how a URL must be written."""
    issuer = api.url + LOOKALIKE
    read: list[str] = []

    def route(api: StandIn, handler: BaseHTTPRequestHandler) -> None:
        if handler.path.startswith("/.well-known/oauth-protected-resource"):
            reply(handler, 200, {"resource": api.url, "authorization_servers": [issuer]})
        elif handler.path.startswith("/.well-known/"):
            read.append(handler.path)
            document = {
                "issuer": issuer,
                "authorization_endpoint": api.url + "/authorize",
                "token_endpoint": api.url + "/token",
                "registration_endpoint": api.url + "/register",
                "code_challenge_methods_supported": ["S256"],
            }
            reply(handler, 200, document)
        else:
            challenge(handler)

    api.route = route
    run = run_request(adapter, api.url + "/api", dict(os.environ), answer="n")
    assert PROMPT not in run.screen and "\u0435" not in run.screen + run.stderr, run.screen
    assert "outside ASCII" in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert read == [] and stytch_zero_env.counters["login"] == 0


def test_the_question_shows_the_whole_host_of_a_long_one() -> None:
    """A host cut short in the question hides where it ends: ``login.example.com.aaa…`` may be
    a name under ``attacker.example``. The host is shown whole (DNS bounds it), only the path
    is cut; a host longer than DNS allows is no URL at all."""
    host = "login.example.com." + ".".join(["a" * 60] * 3) + ".attacker.example"
    issuer = f"https://{host}/" + "t" * 500
    question = Pair("https://api.example.com", issuer).question()
    assert question.count(f"https://{host}/") == 2 and "t" * 200 not in question
    with pytest.raises(ConfigurationError, match="a host of at most 253"):
        check_endpoint(f"https://{'a' * 60}.{host}/", "authorization_servers")


#: A value in a URL as long as a request line may carry, to be named in an error.
LONG = "x" * 30_000


@pytest.mark.parametrize("named", ["resource", "issuer"])
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_refusal_names_a_huge_value_an_api_or_server_chose_in_one_short_line(
    agreed: None, stytch_zero_env: StytchEmulator, api: StandIn, adapter: str, named: str
) -> None:
    """Metadata for another resource, or for a server whose own metadata names another
    issuer, is refused by naming what the API said: a resource or an issuer of 30,000
    characters is named cut short, not filling the terminal."""
    issuer = api.url + "/as/" + (LONG if named == "issuer" else "")

    def route(api: StandIn, handler: BaseHTTPRequestHandler) -> None:
        if handler.path.startswith("/.well-known/oauth-protected-resource"):
            resource = api.url + "/other/" + LONG if named == "resource" else api.url
            reply(handler, 200, {"resource": resource, "authorization_servers": [issuer]})
        elif handler.path.startswith("/.well-known/"):
            reply(handler, 200, {"issuer": api.url, "code_challenge_methods_supported": ["S256"]})
        else:
            challenge(handler)

    api.route = route
    said = _said(adapter, oauth2_auth(adapter), api.url + "/api", {"STYTCH_HOSTS": "127.0.0.1"})
    assert ("another resource" if named == "resource" else "names issuer") in said, said[:500]
    assert len(said) < 2000 and "x" * 200 not in said, said[:500]
    assert stytch_zero_env.counters["login"] == 0


def test_an_api_asking_new_scopes_on_every_request_gets_a_bounded_few_sign_ins(
    stytch_zero_env: StytchEmulator, api: StandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each request's 401 asks at most :data:`MAX_SCOPES` scopes, but an API asking ten new
    ones on every request (at a server that grants them all) would have had the person sign in
    again on every request, for an ever longer list. What this tool asks for one API is bounded
    in all: past it, no sign-in, one sentence with the way out, and the API's answer."""
    stytch_zero_env.scopes_supported += tuple(f"s{i}" for i in range(200))

    def route(api: StandIn, handler: BaseHTTPRequestHandler) -> None:
        if handler.path.startswith("/.well-known/"):
            document = {"resource": api.url, "authorization_servers": [stytch_zero_env.issuer]}
            reply(handler, 200, document)
        elif not handler.headers.get("Authorization"):
            challenge(handler, "s0")
        else:
            k = int(handler.path.rsplit("/", 1)[1])
            scope = " ".join(f"s{i}" for i in range(10 * k + 1, 10 * k + 11))
            grow = f'Bearer error="insufficient_scope", scope="{scope}"'
            reply(handler, 403, {}, **{"WWW-Authenticate": grow})

    api.route = route
    answers = [
        requests.get(f"{api.url}/api/{k}", auth=OAuth2PKCEAuth(), timeout=30).status_code
        for k in range(8)
    ]
    assert answers == [403] * 8
    assert stytch_zero_env.counters["login"] <= 1 + MAX_SCOPES // 10
    assert capsys.readouterr().err.count(f"more than {MAX_SCOPES} scopes") == 1
    signed_in = stytch_zero_env.counters["login"]
    assert main(["logout", "--resource", api.url]) == 0  # the way out it names
    forget_memory()
    assert requests.get(f"{api.url}/api/0", auth=OAuth2PKCEAuth(), timeout=30).status_code == 403
    assert stytch_zero_env.counters["login"] > signed_in


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_server_handing_out_the_persons_client_at_another_server_gets_no_sign_in_with_it(
    agreed: None,
    stytch_zero_env: StytchEmulator,
    api: StandIn,
    metadata_server: StandIn,
    adapter: str,
) -> None:
    """The mix-up of issue 17 §1 with the person's own client: the person signed in at their
    server for their API, and a server another API names answers its registration with that
    very client, its authorization endpoint the person's server's page (where the client may
    need no new consent). Only the redirect path kept the code from the sign-in for the named
    server, and paths are a 48-bit hash of the issuer apart, a match one can search for. The
    answer is an unusable registration: no browser opens with that client, nothing is sent to
    the named server's token endpoint, and one sentence says why."""
    honest = stytch_zero_env
    with example_api(honest) as mine:
        assert send(adapter, oauth2_auth(adapter), "GET", mine.url).status_code == 200
        held = BindingCache().lookup(mine.url)
    assert held is not None
    asked = len(honest.authorization_requests)
    posted = _mix_up(api, metadata_server, honest.authorize_url, held.client_id)
    said = _said(adapter, oauth2_auth(adapter), api.url + "/api", {})
    assert "holds at another server" in said and "Traceback" not in said, said
    assert len(honest.authorization_requests) == asked and posted == ["/register"]


@pytest.mark.parametrize("port", ["0" * 5000 + "1", "99999", "0"])
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_server_named_with_a_port_no_server_has_is_refused_in_one_short_line(
    agreed: None, stytch_zero_env: StytchEmulator, api: StandIn, adapter: str, port: str
) -> None:
    """``:0001`` is port 1, so ``:`` and 5,000 zeros and a 1 reached the network and came back
    as a 5 KB "cannot reach" line; a port out of range failed inside the HTTP library. Each is
    refused where URLs are checked, in one sentence, before anything is sent."""

    def route(api: StandIn, handler: BaseHTTPRequestHandler) -> None:
        if handler.path.startswith("/.well-known/oauth-protected-resource"):
            named = [f"http://127.0.0.1:{port}/as"]
            reply(handler, 200, {"resource": api.url, "authorization_servers": named})
        else:
            challenge(handler)

    api.route = route
    said = _said(adapter, oauth2_auth(adapter), api.url + "/api", {"STYTCH_HOSTS": "127.0.0.1"})
    assert "a port from 1 to 65535" in said and len(said) < 2000, said[:300]
    assert "Traceback" not in said


def test_a_sign_in_at_a_server_with_a_huge_issuer_says_so_in_short_lines(
    agreed: None,
    stytch_zero_env: StytchEmulator,
    api: StandIn,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A server whose issuer URL is 30,000 characters long, with the emulator's endpoints, is
    a server like any other: the sign-in goes through, and every line about it (the "Signing
    in to …" line named it whole) is one short line."""
    emulator = stytch_zero_env
    emulator.iss_form = "none"  # the callback names no issuer, as some servers do
    issuer = api.url + "/as/" + LONG

    def route(api: StandIn, handler: BaseHTTPRequestHandler) -> None:
        if handler.path.startswith("/.well-known/oauth-protected-resource"):
            reply(handler, 200, {"resource": api.url, "authorization_servers": [issuer]})
        elif handler.path.startswith("/.well-known/"):
            document = {
                "issuer": issuer,
                "authorization_endpoint": emulator.authorize_url,
                "token_endpoint": emulator.token_endpoint,
                "registration_endpoint": emulator.registration_endpoint,
                "code_challenge_methods_supported": ["S256"],
            }
            reply(handler, 200, document)
        elif handler.headers.get("Authorization"):
            reply(handler, 200, {"ok": True})
        else:
            challenge(handler)

    api.route = route
    assert requests.get(api.url + "/api", auth=OAuth2PKCEAuth(), timeout=30).status_code == 200
    lines = capsys.readouterr().err.splitlines()
    assert any(line.startswith("Signing in to") for line in lines), lines
    assert max(len(line) for line in lines) < 1000
