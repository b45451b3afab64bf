"""Older servers (MCP authorization 2025-03-26) in zero configuration (issue 18 §3).

Such an API publishes no protected resource metadata (RFC 9728): its 401 names none and the
well-known URLs answer 404. Its authorization server is then on its origin: the one the
metadata at ``{origin}/.well-known/oauth-authorization-server`` names, the origin itself or
another issuer on it (the conformance scenario ``auth/2025-03-26-oauth-metadata-backcompat``:
``{origin}/oauth``, endpoints under ``/oauth``), or, with no metadata, the origin with the
default ``/authorize``, ``/token`` and ``/register`` (``auth/2025-03-26-oauth-endpoint-
fallback``). :class:`OldServer` is such an API and server in one, on 127.0.0.1; it checks the
PKCE S256 verifier and the redirect URI as a real server does. The rest is real: the keyring,
the scripted browser, every adapter.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from httpie_stytch_connected.errors import AuthenticationError
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.zero_config.binding import FALLBACKS, BindingCache
from tests.adapters import ADAPTERS, oauth2_auth, send
from tests.command import cli
from tests.loopback import LoopbackServer, QuietHandler

ORIGIN_METADATA = "origin metadata"  # the origin's metadata names the origin
ISSUER_ON_ORIGIN = "issuer on origin"  # conformance: auth/2025-03-26-oauth-metadata-backcompat
DEFAULT_ENDPOINTS = "default endpoints"  # conformance: auth/2025-03-26-oauth-endpoint-fallback
MODES = [ORIGIN_METADATA, ISSUER_ON_ORIGIN, DEFAULT_ENDPOINTS]


class OldServer:
    """An API at ``/api`` that is also its own authorization server, 2025-03-26 style.

    ``mode`` says what it publishes; ``metadata`` overrides fields of the metadata it serves
    in :data:`ORIGIN_METADATA` mode; ``prm_status`` is what its well-known resource metadata
    URLs answer; ``challenge`` is its 401's ``WWW-Authenticate``. ``seen`` records every
    request as ``METHOD /path``."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.prefix = "" if mode == DEFAULT_ENDPOINTS else "/oauth"
        self.metadata: dict[str, object] = {}
        self.prm_status = 404
        self.challenge = "Bearer"
        self.seen: list[str] = []
        self.resources: list[str] = []
        self.signed_in = 0
        self.clients: list[str] = []  # registered, in order
        self.refused: set[str] = set()  # clients the token endpoint no longer knows
        self._pending: dict[str, tuple[str, str, str]] = {}  # code: client, redirect, challenge
        self._issued: set[str] = set()
        owner = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                path, _, query = self.path.partition("?")
                owner.seen.append(f"{self.command} {path}")
                owner.answer(self, path, parse_qs(query), body)

            do_POST = do_GET

        self.server = LoopbackServer(Handler)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def issuer(self) -> str:
        return self.url + ("/oauth" if self.mode == ISSUER_ON_ORIGIN else "")

    @property
    def fallback(self) -> str:
        """How ``stytch-connected discover`` names the fallback (a FALLBACKS key)."""
        return DEFAULT_ENDPOINTS if self.mode == DEFAULT_ENDPOINTS else ORIGIN_METADATA

    def requested(self, path: str) -> bool:
        return any(seen.endswith(" " + path) for seen in self.seen)

    def answer(
        self, handler: QuietHandler, path: str, query: dict[str, list[str]], body: str
    ) -> None:
        endpoint = path.removeprefix(self.prefix) if path.startswith(self.prefix) else None
        if path == "/api":
            token = (handler.headers.get("Authorization") or "").removeprefix("Bearer ")
            if token in self._issued:
                return handler.reply_json(200, {"ok": True})
            return handler.reply(401, b"{}", headers={"WWW-Authenticate": self.challenge})
        if path.startswith("/.well-known/oauth-protected-resource"):
            return handler.reply_json(self.prm_status, {})
        if path == "/.well-known/oauth-authorization-server" and self.mode != DEFAULT_ENDPOINTS:
            return handler.reply_json(200, self._metadata())
        if endpoint == "/register" and handler.command == "POST":
            self.clients.append(f"old-client-{len(self.clients) + 1}")
            return handler.reply_json(201, {**json.loads(body), "client_id": self.clients[-1]})
        if endpoint == "/authorize":
            return self._authorize(handler, {k: v[0] for k, v in query.items()})
        if endpoint == "/token" and handler.command == "POST":
            return self._token(handler, {k: v[0] for k, v in parse_qs(body).items()})
        handler.reply_json(404, {})

    def prune(self) -> None:
        """Forget every client registered so far and every token issued (servers prune)."""
        self.refused.update(self.clients)
        self._issued.clear()

    def _metadata(self) -> dict[str, object]:
        base = self.url + self.prefix
        return {
            "issuer": self.issuer,
            "authorization_endpoint": base + "/authorize",
            "token_endpoint": base + "/token",
            "registration_endpoint": base + "/register",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            **self.metadata,
        }

    def _authorize(self, handler: QuietHandler, asked: dict[str, str]) -> None:
        """Approve at once (no login page, as the conformance suite's servers do)."""
        if (
            asked.get("response_type") != "code"
            or asked.get("client_id") not in self.clients
            or asked.get("code_challenge_method") != "S256"
            or not asked.get("code_challenge")
        ):
            return handler.reply(400, b"bad authorization request", content_type="text/plain")
        code = secrets.token_urlsafe(16)
        self._pending[code] = (asked["client_id"], asked["redirect_uri"], asked["code_challenge"])
        target = f"{asked['redirect_uri']}?{urlencode({'code': code, 'state': asked['state']})}"
        handler.reply(302, b"", content_type=None, headers={"Location": target})

    def _token(self, handler: QuietHandler, form: dict[str, str]) -> None:
        pending = self._pending.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "").encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        if form.get("client_id") in self.refused:
            return handler.reply_json(401, {"error": "invalid_client"})
        if (
            form.get("grant_type") != "authorization_code"
            or pending is None
            or pending != (form.get("client_id"), form.get("redirect_uri"), digest.decode())
        ):
            return handler.reply_json(400, {"error": "invalid_grant"})
        self.resources.append(form.get("resource", ""))
        self.signed_in += 1
        token = secrets.token_urlsafe(24)
        self._issued.add(token)
        handler.reply_json(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})


@pytest.fixture(params=MODES)
def old(
    request: pytest.FixtureRequest,
    stytch_zero_env: StytchEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[OldServer]:
    """An older server the person trusts (``trusted_issuers``: it is not asked here)."""
    server = OldServer(request.param)
    with server.server:
        monkeypatch.setenv("STYTCH_TRUSTED_ISSUERS", server.issuer)
        yield server


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_an_older_server_signs_in_at_its_own_origin(adapter: str, old: OldServer) -> None:
    """Registration, the authorization request and the code exchange at the origin's metadata
    endpoints (under ``/oauth``) or at the defaults; the resource is the origin (RFC 8707) and
    the server the issuer that metadata names; the next run uses the cached binding and token:
    no second sign-in."""
    assert send(adapter, oauth2_auth(adapter), "GET", old.url + "/api").status_code == 200
    for endpoint in ("/register", "/authorize", "/token"):
        assert old.requested(old.prefix + endpoint), old.seen
    assert old.signed_in == 1 and old.resources == [old.url]
    assert [(b.resource, b.issuer) for b in BindingCache().known()] == [(old.url, old.issuer)]
    forget_memory()  # a later run
    assert send(adapter, oauth2_auth(adapter), "GET", old.url + "/api").status_code == 200
    assert old.signed_in == 1


def test_a_pruned_client_is_registered_again_at_the_same_endpoints(old: OldServer) -> None:
    """Issue 18 §1 for an older server: the replacement registration finds the registration
    endpoint the same way (the defaults, when the origin publishes no metadata)."""
    assert send("requests", oauth2_auth("requests"), "GET", old.url + "/api").status_code == 200
    old.prune()
    assert send("requests", oauth2_auth("requests"), "GET", old.url + "/api").status_code == 200
    assert old.clients == ["old-client-1", "old-client-2"] and old.signed_in == 2
    assert [b.client_id for b in BindingCache().known()] == ["old-client-2"]


def test_discover_says_which_fallback_it_used(old: OldServer) -> None:
    done = cli("discover", old.url + "/api")
    assert done.returncode == 0, done.stderr
    found = dict(line.split(":", 1) for line in done.stdout.splitlines())
    assert found["Resource"].strip() == old.url
    assert found["Authorization server"].strip() == old.issuer
    assert found["Token endpoint"].strip() == old.url + old.prefix + "/token"
    assert found["Fallback"].strip() == FALLBACKS[old.fallback]
    assert not old.requested(old.prefix + "/register") and old.signed_in == 0


# -- what the fallback must not loosen (issue 17) ------------------------------------------------


def _refused(old: OldServer) -> str:
    """The error a request to ``old`` ends in; nothing registered, no browser opened."""
    with pytest.raises(AuthenticationError) as caught:
        send("requests", oauth2_auth("requests"), "GET", old.url + "/api")
    assert not old.requested(old.prefix + "/register"), old.seen
    assert not old.requested(old.prefix + "/authorize"), old.seen
    assert BindingCache().known() == []
    return str(caught.value)


def test_an_older_server_is_not_signed_in_at_without_the_persons_agreement(
    old: OldServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API's origin as its own server is a new (API, server) pair: asked, and without a
    terminal to ask on, refused (issue 17 §2), as for any server an API names."""
    monkeypatch.delenv("STYTCH_TRUSTED_ISSUERS")
    said = _refused(old)
    assert f"Not signing in at {old.issuer} for {old.url} ({FALLBACKS[old.fallback]})" in said, said
    assert "STYTCH_TRUSTED_ISSUERS" in said, said


@pytest.mark.parametrize(
    ("metadata", "refusal"),
    [
        # The origin's document may name an issuer on the origin (as the conformance suite's
        # back-compat server does, {origin}/oauth), never one elsewhere: it would then speak
        # for another party's server (RFC 8414 §3.3).
        ({"issuer": "https://elsewhere.example"}, "names issuer"),
        ({"issuer": "http://127.0.0.2:{port}/oauth"}, "names issuer"),
        ({"issuer": "http://127.0.0.1:1/oauth"}, "names issuer"),
        ({"issuer": "https://127.0.0.1:{port}/oauth"}, "names issuer"),
        ({"issuer": "http://someone@127.0.0.1:{port}/oauth"}, "names issuer"),
        ({"issuer": "{origin}/oauth?tenant=1"}, "names issuer"),
        ({"issuer": "{origin}/a%2f/oauth"}, "names issuer"),
        ({"issuer": ["{origin}"]}, "names issuer"),
        ({"code_challenge_methods_supported": ["plain"]}, "does not offer PKCE with S256"),
    ],
)
def test_the_origins_metadata_is_checked_like_any_servers(
    stytch_zero_env: StytchEmulator,
    monkeypatch: pytest.MonkeyPatch,
    metadata: dict[str, object],
    refusal: str,
) -> None:
    """The issuer (on the origin, in RFC 8414 §2's form) and the S256 requirement hold there
    too, checked before the person is asked."""
    server = OldServer(ORIGIN_METADATA)
    with server.server:
        port = str(urlsplit(server.url).port)
        server.metadata = {
            k: json.loads(json.dumps(v).replace("{origin}", server.url).replace("{port}", port))
            for k, v in metadata.items()
        }
        monkeypatch.setenv("STYTCH_TRUSTED_ISSUERS", server.url)
        said = _refused(server)
        assert refusal in said, said


@pytest.mark.parametrize("prm_status", [500, 503])
def test_an_outage_at_the_resource_metadata_is_no_older_server(
    stytch_zero_env: StytchEmulator, monkeypatch: pytest.MonkeyPatch, prm_status: int
) -> None:
    """A 5xx says nothing about what the API publishes: no guessing that it is its own
    server (its next answer may name another)."""
    server = OldServer(DEFAULT_ENDPOINTS)
    server.prm_status = prm_status
    with server.server:
        monkeypatch.setenv("STYTCH_TRUSTED_ISSUERS", server.url)
        said = _refused(server)
        assert f"HTTP {prm_status}" in said and "try again later" in said, said


def test_a_resource_metadata_url_the_api_names_but_does_not_serve_is_no_older_server(
    stytch_zero_env: StytchEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An API that names its metadata (RFC 9728 §5.1) follows the current specification: a
    404 there is its error, said as such, not a reason to guess."""
    server = OldServer(DEFAULT_ENDPOINTS)
    with server.server:
        named = server.url + "/.well-known/oauth-protected-resource"
        server.challenge = f'Bearer resource_metadata="{named}"'
        monkeypatch.setenv("STYTCH_TRUSTED_ISSUERS", server.url)
        assert "does not say where to sign in" in _refused(server)


def test_an_api_on_another_machine_gets_no_call_to_this_one_through_the_fallback(
    stytch_zero_env: StytchEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17 §4: an API that is not the person's own (``local_hosts`` lists only the
    emulator: the API on 127.0.0.1 stands for one on the internet whose name resolves to this
    machine) gets only its own request: the resource metadata lookup that precedes the
    fallback is a confined provider call, refused, so the fallback (whose calls go to that same
    origin) never starts, and nothing is fetched, registered or opened on this machine."""
    server = OldServer(ORIGIN_METADATA)
    with server.server:
        monkeypatch.setenv("STYTCH_TRUSTED_ISSUERS", server.url)
        monkeypatch.setenv("STYTCH_LOCAL_HOSTS", urlsplit(stytch_zero_env.url).netloc)
        said = _refused(server)
    assert "an address on this machine or a private network" in said, said
    assert server.seen == ["GET /api"]
