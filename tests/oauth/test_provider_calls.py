"""Every kind of provider call, through its public entry point, against a hostile server on
127.0.0.1: an oversized answer is refused without being held, a drip-fed answer is cut at the
kind's deadline, a redirect is not followed, ``session.auth`` is never used, and a failure
carries nothing of the request on ``__context__`` or ``__cause__``."""

from __future__ import annotations

import contextlib
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import jwt
import pytest
import requests

from httpie_stytch_connected.errors import AuthenticationError, TokenEndpointError
from httpie_stytch_connected.oauth import provider_calls
from httpie_stytch_connected.oauth.endpoints import ProviderEndpoints, check_reachable
from httpie_stytch_connected.oauth.id_token import IdTokenCheck
from httpie_stytch_connected.oauth.identity import signed_in_as
from httpie_stytch_connected.oauth.provider_calls import (
    LIMITS,
    Limits,
    ProviderAnswer,
    ProviderRequest,
    RequestsHTTP,
    call,
)
from httpie_stytch_connected.oauth.registration import register
from httpie_stytch_connected.oauth.resource_metadata import discover_resource
from httpie_stytch_connected.oauth.token_client import TokenClient
from httpie_stytch_connected.oauth.tokens import TokenSet
from httpie_stytch_connected.storage.metadata_cache import metadata
from tests.loopback import LoopbackServer, QuietHandler

MIB = 1024 * 1024
#: What a hostile server sends where at most LIMITS allows.
HUGE = 64 * MIB
#: Seconds between drip-fed bytes: well inside the read timeout the tests set.
DRIP = 0.2
#: Bytes a drip-feed sends at most, so that a test without the deadline still ends.
DRIP_BYTES = 60
ACCESS = "access-token-sent-to-userinfo-only"


def _key_set() -> bytes:
    """One real signing key, under a ``kid`` no test token names."""
    import json

    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    jwk = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key()))
    return json.dumps({"keys": [{**jwk, "kid": "another", "use": "sig"}]}).encode()


@dataclass
class Hostile:
    """What the server does next, and what it saw."""

    mode: str = "ok"
    body: bytes = b"{}"
    paths: list[str] = field(default_factory=list)
    authorization: list[str | None] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)


def _handler(state: Hostile) -> type[QuietHandler]:
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._answer()

        def _answer(self) -> None:
            state.paths.append(self.path)
            state.authorization.append(self.headers.get("Authorization"))
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                getattr(self, "_" + state.mode)()  # the client may give up, as it should

        def _ok(self) -> None:
            self.reply(200, state.body)

        def _redirect(self) -> None:
            if self.path == "/elsewhere":
                self.reply(200, state.body)
            else:
                self.reply(302, b"", headers={"Location": "/elsewhere"})

        def _huge(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(HUGE))
            self.end_headers()
            chunk = b" " * (256 * 1024)
            for _ in range(HUGE // len(chunk)):
                if state.stop.is_set():
                    return
                self.wfile.write(chunk)

        def _drip(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(state.body) + DRIP_BYTES))
            self.end_headers()
            self._trickle(b" ")
            self.wfile.write(state.body)

        def _drip_headers(self) -> None:
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            self._trickle(b"a")
            self.wfile.write(b"\r\nContent-Length: %d\r\n\r\n" % len(state.body) + state.body)

        def _trickle(self, byte: bytes) -> None:
            for _ in range(DRIP_BYTES):
                if state.stop.wait(DRIP):
                    return
                self.wfile.write(byte)

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[Hostile, str]]:
    state = Hostile()
    with LoopbackServer(_handler(state)) as running:
        yield state, running.url
        state.stop.set()


class Recorder(requests.auth.AuthBase):
    """A session's own auth: it must never run on a provider call."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        self.calls += 1
        r.headers["Authorization"] = "Bearer the-sessions-own-token"
        return r


def _token(url: str, session: requests.Session) -> object:
    client = TokenClient(url + "/token", "client-1", session=session, refresh_backoff=())
    return client.refresh(TokenSet(access_token="old", refresh_token="refresh-token-secret"))


def _revocation(url: str, session: requests.Session) -> object:
    client = TokenClient(url, "client-1", revocation_endpoint=url + "/revoke", session=session)
    client.revoke("refresh-token-secret")
    return None


def _discovery(url: str, session: requests.Session) -> object:
    return metadata(url, url=url + "/doc", session=session, ttl=0)


def _resource_metadata(url: str, session: requests.Session) -> object:
    challenge = {"resource_metadata": url + "/.well-known/oauth-protected-resource"}
    return discover_resource(url + "/api", challenge, session)


def _registration(url: str, session: requests.Session) -> object:
    return register(url + "/register", "/callback", session)


def _jwks(url: str, session: requests.Session) -> object:
    token = jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256", headers={"kid": "k1"})
    return IdTokenCheck(url + "/jwks", url, "client-1", session=session).verify(token, None)


def _endpoints(url: str) -> ProviderEndpoints:
    return ProviderEndpoints(
        authorization_endpoint=url + "/authorize",
        token_endpoint=url + "/token",
        userinfo_endpoint=url + "/userinfo",
    )


def _userinfo(url: str, session: requests.Session) -> object:
    tokens = TokenSet(access_token=ACCESS, expires_at=time.time() + 3600)
    who, source = signed_in_as(_endpoints(url), "client-1", session, tokens)
    if who is None:  # what signed_in_as says instead of raising
        raise AuthenticationError(source)
    return who


def _reachability(url: str, session: requests.Session) -> object:
    check_reachable(_endpoints(url), session)
    return None


Run = Callable[[str, requests.Session], object]
#: kind -> (how the package makes that call, a body it accepts)
KINDS: dict[str, tuple[Run, bytes]] = {
    provider_calls.TOKEN: (_token, b'{"access_token": "a", "token_type": "Bearer"}'),
    provider_calls.REVOCATION: (_revocation, b""),
    provider_calls.DISCOVERY: (_discovery, b""),  # set per server: it names the issuer
    provider_calls.RESOURCE_METADATA: (_resource_metadata, b""),  # likewise
    provider_calls.REGISTRATION: (_registration, b'{"client_id": "c1"}'),
    provider_calls.JWKS: (_jwks, _key_set()),
    provider_calls.USERINFO: (_userinfo, b'{"sub": "user-1"}'),
    provider_calls.REACHABILITY: (_reachability, b"{}"),
}
#: The kinds whose answer is read (reachability reads none).
READ = [kind for kind in KINDS if LIMITS[kind].max_bytes]


def _good_body(kind: str, url: str) -> bytes:
    if kind == provider_calls.DISCOVERY:
        return b'{"issuer": "%s", "authorization_endpoint": "%s/a", "token_endpoint": "%s/t"}' % (
            (url.encode(),) * 3
        )
    if kind == provider_calls.RESOURCE_METADATA:
        return b'{"resource": "%s/api", "authorization_servers": ["%s"]}' % (
            url.encode(),
            url.encode(),
        )
    return KINDS[kind][1]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STYTCH_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_answers_normally(kind: str, server: tuple[Hostile, str]) -> None:
    """The baseline the hostile cases below depart from: the same call succeeds."""
    state, url = server
    state.body = _good_body(kind, url)
    run, _ = KINDS[kind]
    if kind == provider_calls.JWKS:  # the keys are fetched; the test token is no provider's
        with pytest.raises(AuthenticationError, match="ID token failed verification"):
            run(url, requests.Session())
    else:
        run(url, requests.Session())
    assert state.paths


@pytest.mark.parametrize("kind", READ)
def test_an_oversized_answer_is_refused_without_being_held(
    kind: str, server: tuple[Hostile, str]
) -> None:
    state, url = server
    state.mode = "huge"
    run, _ = KINDS[kind]
    tracemalloc.start()
    try:
        with pytest.raises(AuthenticationError) as caught:
            run(url, requests.Session())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    cap = LIMITS[kind].max_bytes
    assert peak < cap + 8 * MIB, f"held {peak // MIB} MiB for a {cap // 1024} KiB cap"
    message = str(caught.value)
    if kind == provider_calls.USERINFO:  # said, not raised: only the memory tells
        assert message == "the userinfo endpoint did not answer"
    else:
        assert f"more than {cap // 1024} KiB" in message and "127.0.0.1" in message
        assert message.count(". ") == 0 and message.endswith(".")  # one sentence


def test_a_reachability_probe_reads_no_body(server: tuple[Hostile, str]) -> None:
    """Any answer will do: a 64 MiB one is neither read nor held."""
    state, url = server
    state.mode = "huge"
    tracemalloc.start()
    try:
        check_reachable(_endpoints(url), requests.Session())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MIB


@pytest.mark.timeout(60)
@pytest.mark.parametrize("where", ["drip", "drip_headers"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_a_drip_fed_answer_is_cut_at_the_deadline(
    kind: str, where: str, server: tuple[Hostile, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A byte every DRIP seconds never trips the 5 s read timeout; the 1 s deadline cuts it
    (without one the server would take DRIP * DRIP_BYTES = 12 s)."""
    state, url = server
    state.mode = where
    state.body = _good_body(kind, url)
    monkeypatch.setitem(LIMITS, kind, Limits(2.0, 5.0, 1.0, LIMITS[kind].max_bytes, "x"))
    run, _ = KINDS[kind]
    started = time.monotonic()
    if kind == provider_calls.REACHABILITY and where == "drip":  # the body is never read
        run(url, requests.Session())
        assert time.monotonic() - started < 1.0
        return
    with pytest.raises(AuthenticationError) as caught:
        run(url, requests.Session())
    took = time.monotonic() - started
    assert took < 2.5, f"{kind} took {took:.1f} s"
    if kind == provider_calls.USERINFO:
        assert str(caught.value) == "the userinfo endpoint did not answer"
    elif kind == provider_calls.JWKS:
        assert "could not be fetched (no answer within 1 s)" in str(caught.value)
    elif kind == provider_calls.REACHABILITY:
        assert "Cannot reach the token endpoint" in str(caught.value)
        assert "(no answer within 1 s)" in str(caught.value)
    else:
        assert "did not answer in time" in str(caught.value)


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_redirect_is_not_followed(kind: str, server: tuple[Hostile, str]) -> None:
    state, url = server
    state.mode = "redirect"
    state.body = _good_body(kind, url)
    run, _ = KINDS[kind]
    with contextlib.suppress(AuthenticationError):  # each says so its own way: 302 is no answer
        run(url, requests.Session())
    assert state.paths and "/elsewhere" not in state.paths


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_sessions_own_auth_is_never_used(kind: str, server: tuple[Hostile, str]) -> None:
    state, url = server
    state.body = _good_body(kind, url)
    session = requests.Session()
    session.auth = recorder = Recorder()
    run, _ = KINDS[kind]
    try:
        run(url, session)
    except AuthenticationError:
        assert kind == provider_calls.JWKS  # no key matches: the keys were fetched all the same
    assert recorder.calls == 0
    expected = f"Bearer {ACCESS}" if kind == provider_calls.USERINFO else None
    assert state.authorization and set(state.authorization) == {expected}


def test_a_failure_carries_nothing_of_the_request(server: tuple[Hostile, str]) -> None:
    """requests' exceptions hold the request, body (refresh token) included: none of them may
    hang off what we raise."""
    state, url = server
    state.mode = "drip_headers"  # slower than the read timeout: requests raises ReadTimeout
    with socket_closed_port() as dead:
        for target in (dead, url):
            limits = Limits(2.0, 0.1, 5.0, 1024)
            with pytest.raises(TokenEndpointError) as caught:
                call(
                    requests.Session(),
                    "POST",
                    target + "/token",
                    "refresh the access token",
                    kind=provider_calls.TOKEN,
                    form={"refresh_token": "refresh-token-secret"},
                    limits=limits,
                )
            assert caught.value.__cause__ is None and caught.value.__context__ is None
            assert getattr(caught.value, "request", None) is None
            assert getattr(caught.value, "response", None) is None
            assert "refresh-token-secret" not in repr(caught.value)


def test_a_request_shows_none_of_its_secrets() -> None:
    """What a custom :class:`ProviderHTTP` is handed may end up in its logs or exceptions."""
    request = ProviderRequest(
        "POST",
        "https://idp.example/token?x=1",
        {"Authorization": "Basic c2VjcmV0"},
        LIMITS[provider_calls.TOKEN],
        form={"refresh_token": "refresh-token-secret"},
    )
    shown = f"{request!r} {request!s}"
    assert "idp.example" in shown
    assert "c2VjcmV0" not in shown and "refresh-token-secret" not in shown


class socket_closed_port:
    """A loopback URL nobody listens on."""

    def __enter__(self) -> str:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return f"http://127.0.0.1:{sock.getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        return None


def test_a_custom_transport_carries_every_call(server: tuple[Hostile, str]) -> None:
    """The seam: anything with ``send`` carries the call, and gets the kind's limits."""
    state, url = server
    seen: list[tuple[str, Limits]] = []

    class Counting:
        def __init__(self) -> None:
            self.inner = RequestsHTTP(requests.Session())

        def send(self, request: ProviderRequest) -> ProviderAnswer:
            seen.append((request.method, request.limits))
            return self.inner.send(request)

    state.body = _good_body(provider_calls.DISCOVERY, url)
    metadata(url, url=url + "/doc", session=cast(Any, Counting()), ttl=0)
    assert seen == [("GET", LIMITS[provider_calls.DISCOVERY])]
