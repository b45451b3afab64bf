"""A resource's token never leaves that resource on any redirect hop, through every adapter
(requests, httpx and httpx2 ``Client`` and ``AsyncClient``, HTTPie ``--follow``), and step-up is
bounded.

Zero configuration against the emulator and a small API on 127.0.0.1 whose protected resource
is ``/a`` (RFC 9728 ``resource``: ``http://127.0.0.1:PORT/a``). ``/a/go/NAME`` answers 302 to
a target written exactly as below (the server sees what the client puts on the wire); every
path outside ``/a`` records what it received and answers 200 (a public page), or 401 with a
Bearer challenge when the test says so.
"""

from __future__ import annotations

import asyncio
import json
import posixpath
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote

import pytest

from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.oauth.bearer import answers_for, withhold
from httpie_stytch_connected.oauth.resource_uri import within
from httpie_stytch_connected.storage.store import KeyringStore
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.resource_server import ResourceServer
from httpie_stytch_connected.zero_config.binding import BindingCache
from tests.adapters import ADAPTERS, HTTPX, TIMEOUT, library, oauth2_auth, send
from tests.loopback import LoopbackServer, QuietHandler

WELL_KNOWN = "/.well-known/oauth-protected-resource"
#: Redirect targets that leave the resource ``/a`` however a server reads them.
OUTSIDE = {
    "sibling": "/b/",
    "public": "/public",
    "encoded-dots": "/a/%2e%2e/b/",
    "upper-encoded-dots": "/a/%2E%2E/b/",
    "encoded-slash": "/a/..%2fb",
    "other-case": "/A/",
    "absolute-sibling": "{origin}/b/",
}


@dataclass(frozen=True)
class Seen:
    path: str
    authorization: str | None


class ApiA:
    """The API: resource ``/a``, its routes needing the scopes in ``scopes``."""

    def __init__(self, emulator: StytchEmulator) -> None:
        self.emulator = emulator
        self.seen: list[Seen] = []
        #: What a path outside ``/a`` answers: 200, or 401 with a Bearer challenge.
        self.outside_status = 200
        #: Route -> the scope it needs (None: any valid token).
        self.scopes: dict[str, str | None] = {"/a/data": None}
        #: ``/a/chain/K``: needs scope ``cK``, then redirects to ``/a/chain/K+1``.
        self.chain = 0
        self._verifier = ResourceServer(
            jwks_uri=emulator.jwks_uri, issuer=emulator.issuer, audience=emulator.project_id
        )
        self._lock = threading.Lock()
        owner = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                owner._handle(self)

        self._server = LoopbackServer(Handler)

    @property
    def origin(self) -> str:
        return self._server.url

    @property
    def resource(self) -> str:
        return self.origin + "/a"

    def url(self, path: str) -> str:
        return self.origin + path

    def close(self) -> None:
        self._server.close()

    def hop_after(self, path: str) -> Seen:
        """What the request after the one to ``path`` carried."""
        paths = [s.path for s in self.seen]
        return self.seen[paths.index(path) + 1]

    def _challenge(self, scope: str | None = None, error: str | None = None) -> str:
        params = [f'error="{error}"'] if error else []
        if scope:
            params.append(f'scope="{scope}"')
        params.append(f'resource_metadata="{self.origin}{WELL_KNOWN}/a"')
        return "Bearer " + ", ".join(params)

    def _handle(self, request: QuietHandler) -> None:
        # Routed as a lax server reads a path: every escape decoded, dot segments resolved.
        path = posixpath.normpath(unquote(request.path))
        auth = request.headers.get("Authorization")
        with self._lock:
            self.seen.append(Seen(request.path, auth))
        if path in (WELL_KNOWN, WELL_KNOWN + "/a"):
            document = {
                "resource": self.resource,
                "authorization_servers": [self.emulator.issuer],
                "scopes_supported": ["read:data"],
            }
            return request.reply(200, json.dumps(document).encode())
        if path.startswith("/a/go/"):
            target = OUTSIDE.get(path[6:], "/a/data").format(origin=self.origin)
            return request.reply(302, b"", headers={"Location": target})
        if path.startswith("/a/"):
            return self._protected(request, path, auth)
        if self.outside_status == 401:
            challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            return request.reply(401, b'{"error": "invalid_token"}', headers=challenge)
        return request.reply(200, b'{"public": true}')

    def _protected(self, request: QuietHandler, path: str, auth: str | None) -> None:
        needed: str | None
        if path.startswith("/a/chain/"):
            step = int(path.rsplit("/", 1)[1])
            needed, next_hop = f"c{step}", f"/a/chain/{step + 1}" if step < self.chain else None
        else:
            needed, next_hop = self.scopes.get(path, "missing"), None
        if needed == "missing":
            return request.reply(404, b"{}")
        claims: dict[str, Any] | None = None
        if auth and auth.startswith("Bearer "):
            try:
                claims = self._verifier.verify(auth[7:])
            except Exception:
                claims = None
        if claims is None:
            headers = {"WWW-Authenticate": self._challenge("read:data")}
            return request.reply(401, b'{"error": "invalid_token"}', headers=headers)
        if needed and needed not in str(claims.get("scope", "")).split():
            headers = {"WWW-Authenticate": self._challenge(needed, "insufficient_scope")}
            return request.reply(403, b'{"error": "insufficient_scope"}', headers=headers)
        if next_hop:
            return request.reply(302, b"", headers={"Location": next_hop})
        request.reply(200, b'{"ok": true}')


@pytest.fixture
def api(stytch_zero_env: StytchEmulator) -> Iterator[ApiA]:
    server = ApiA(stytch_zero_env)
    yield server
    server.close()


def signed_in(adapter: str, api: ApiA) -> Any:
    """One request inside ``/a`` that signs in; the auth object, for the next request."""
    auth = oauth2_auth(adapter)
    response = send(adapter, auth, "GET", api.url("/a/data"))
    assert response.status_code == 200, response.text
    assert api.emulator.counters["login"] == 1
    forget_memory()  # the next request starts as a later run would: from the cache files
    return auth


def refresh_token(api: ApiA) -> str | None:
    binding = BindingCache().lookup(api.url("/a/data"))
    assert binding is not None
    stored = KeyringStore().load(binding.key)
    return None if stored is None else stored.refresh_token


@pytest.mark.parametrize("target", sorted(OUTSIDE))
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_the_token_is_not_sent_on_a_same_origin_redirect_out_of_the_resource(
    adapter: str, target: str, api: ApiA
) -> None:
    auth = signed_in(adapter, api)
    response = send(adapter, auth, "GET", api.url(f"/a/go/{target}"))
    assert response.status_code in (200, 404), response.text
    went = api.hop_after(f"/a/go/{target}")
    assert api.seen[[s.path for s in api.seen].index(f"/a/go/{target}")].authorization
    assert went.authorization is None, f"the /a token went to {went.path}"


@pytest.mark.parametrize("target", ["sibling", "encoded-dots", "encoded-slash"])
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_401_from_a_hop_out_of_the_resource_renews_nothing(
    adapter: str, target: str, api: ApiA
) -> None:
    auth = signed_in(adapter, api)
    before = dict(api.emulator.counters)
    rotating = refresh_token(api)
    api.outside_status = 401
    response = send(adapter, auth, "GET", api.url(f"/a/go/{target}"))
    assert response.status_code == 401
    counters = api.emulator.counters
    assert counters["token_refresh"] == before.get("token_refresh", 0)  # nothing rotated
    assert counters["login"] == 1 and counters["authorize_page"] == before["authorize_page"]
    assert refresh_token(api) == rotating
    start = [s.path for s in api.seen].index(f"/a/go/{target}")
    hops = api.seen[start + 1 :]
    assert len(hops) == 1 and hops[0].authorization is None  # not resent, never with a token


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_the_token_still_goes_on_a_redirect_inside_the_resource(adapter: str, api: ApiA) -> None:
    auth = signed_in(adapter, api)
    response = send(adapter, auth, "GET", api.url("/a/go/inside"))
    assert response.status_code == 200 and [r.status_code for r in response.history] == [302]
    went = api.hop_after("/a/go/inside")
    assert went.path == "/a/data" and went.authorization
    assert api.emulator.counters["login"] == 1


# -- step-up is bounded (issue 17 §3) -----------------------------------------------------------
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_one_step_up_per_request_however_many_hops_ask_for_more(
    adapter: str, api: ApiA, stytch_emulator: StytchEmulator
) -> None:
    api.chain = 4
    stytch_emulator.scopes_supported = (*stytch_emulator.scopes_supported, "c1", "c2", "c3", "c4")
    auth = signed_in(adapter, api)
    response = send(adapter, auth, "GET", api.url("/a/chain/1"))
    assert response.status_code == 403
    assert stytch_emulator.counters["login"] == 2  # the first sign-in and one step-up
    chain = [s.path for s in api.seen if s.path.startswith("/a/chain/")]
    assert chain == ["/a/chain/1", "/a/chain/1", "/a/chain/2"]  # one resend, then the answer


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_scope_the_server_declined_is_remembered_and_said_once(
    adapter: str,
    api: ApiA,
    stytch_emulator: StytchEmulator,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    api.scopes["/a/admin"] = "admin:all"
    stytch_emulator.scopes_supported = (*stytch_emulator.scopes_supported, "admin:all")
    issue = stytch_emulator._issue_code  # a server that grants less than it was asked

    def without_admin(pending: Any) -> Any:
        return issue(replace(pending, scopes=tuple(s for s in pending.scopes if s != "admin:all")))

    monkeypatch.setattr(stytch_emulator, "_issue_code", without_admin)
    auth = signed_in(adapter, api)
    first = send(adapter, auth, "GET", api.url("/a/admin"))
    assert first.status_code == 403 and stytch_emulator.counters["login"] == 2
    forget_memory()  # a later run: what was declined is on disk, not in memory
    again = send(adapter, oauth2_auth(adapter), "GET", api.url("/a/admin"))
    assert again.status_code == 403 and stytch_emulator.counters["login"] == 2
    said = capfd.readouterr().err + getattr(first, "stderr", "") + getattr(again, "stderr", "")
    assert said.count("declined the scope admin:all") == 1, said
    assert send(adapter, auth, "GET", api.url("/a/data")).status_code == 200
    assert stytch_emulator.counters["login"] == 2
    # A hostile API names another scope each time: the server declined here once, so no more
    api.scopes["/a/admin"] = "admin:other"
    forget_memory()
    other = send(adapter, oauth2_auth(adapter), "GET", api.url("/a/admin"))
    assert other.status_code == 403 and stytch_emulator.counters["login"] == 2


@pytest.mark.parametrize("adapter", HTTPX)
def test_httpx_by_hand_next_request_out_of_the_resource_goes_without_the_token(
    adapter: str, api: ApiA
) -> None:
    auth = signed_in(adapter, api)

    http = library(adapter)

    async def by_hand_async() -> int:
        async with http.AsyncClient(auth=auth, timeout=TIMEOUT) as client:
            first = await client.get(api.url("/a/go/sibling"))
            assert first.next_request is not None
            answer: int = (await client.send(first.next_request)).status_code
            return answer

    if adapter.rsplit(".", 1)[-1] == "Client":
        with http.Client(auth=auth, timeout=TIMEOUT) as client:
            first = client.get(api.url("/a/go/sibling"))
            assert first.next_request is not None
            status = client.send(first.next_request).status_code
    else:
        status = asyncio.run(by_hand_async())
    assert status == 200
    assert api.hop_after("/a/go/sibling") == Seen("/b/", None)


@pytest.mark.parametrize("adapter", HTTPX)
def test_a_trace_the_caller_set_is_kept_and_sees_each_hop_as_sent(adapter: str, api: ApiA) -> None:
    """The guard lives in httpcore's ``trace`` extension; a ``trace`` of the caller's own is
    called after it on every hop, so it sees the headers as they go on the wire."""
    auth = signed_in(adapter, api)
    seen: list[tuple[str, bool]] = []

    def record(name: str, info: dict[str, Any]) -> None:
        if name.endswith("send_request_headers.started"):
            wire = info["request"]
            carried = any(k.lower() == b"authorization" for k, _ in wire.headers)
            seen.append((wire.url.target.decode(), carried))

    async def record_async(name: str, info: dict[str, Any]) -> None:
        record(name, info)

    trace = record_async if adapter.endswith("AsyncClient") else record
    response = send(adapter, auth, "GET", api.url("/a/go/sibling"), extensions={"trace": trace})
    assert response.status_code == 200
    assert seen == [("/a/go/sibling", True), ("/b/", False)]
    assert api.hop_after("/a/go/sibling") == Seen("/b/", None)


@pytest.mark.parametrize(
    ("url", "inside"),
    [
        ("/a", True),
        ("/a/", True),
        ("/a/x?q=1", True),
        ("/%61/x", True),  # an encoded unreserved character is that character
        ("/a/x/../y", True),
        ("/a/./y", True),
        ("/ab", False),
        ("/b/", False),
        ("/A/", False),  # paths keep their case
        ("/a/%2e%2e/b/", False),
        ("/a/.%2E/b/", False),
        ("/a/..%2fb", False),  # an encoded slash: ambiguous, so outside
        ("/a/%252e%252e/b", False),  # decoded twice by some servers
        ("/a/..;x/b", False),  # a dot segment behind a path parameter
        ("/a\\..\\b", False),
        ("/a/%zz", False),
    ],
)
def test_the_normalisation_the_rule_judges_on(url: str, inside: bool) -> None:
    assert within("http://Host.example:80/a", "http://host.example" + url) is inside
    assert answers_for("http://host.example/a", "t", "http://host.example" + url, "Bearer t") is (
        inside
    )
    assert withhold("http://host.example/a", "t", "http://host.example" + url, "Bearer t") is (
        not inside
    )
