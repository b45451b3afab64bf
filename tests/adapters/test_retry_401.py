"""The 401 rule in every adapter (the requests response hook, the httpx auth flow on a Client and
an AsyncClient): refresh (or log in) once, resend once, never to another host."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from httpie_stytch_connected.auth import StytchAuth
from httpie_stytch_connected.httpie_plugin import RESENT
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.managed import NOT_RESENT
from httpie_stytch_connected.storage.store import AccessTokenCache, KeyringStore
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.pytest_plugin import scripted_opener
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.adapters import ADAPTERS, ADAPTERS_IN_PROCESS, HTTPX, library, send, stytch_auth
from tests.httpie_harness import Result, http, run_http
from tests.lifecycle import expire_stored
from tests.loopback import LoopbackServer, QuietHandler


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    authorization: str | None
    body: bytes


class RecordingServer:
    """Records every request. ``/api`` accepts only tokens the resource server verifies;
    ``/always401`` refuses everything; ``/redirect?to=URL`` answers 302 to URL; any other
    path answers 401 (the "other host")."""

    def __init__(self, api: ResourceServer | None = None) -> None:
        self.api = api
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(QuietHandler):
            def _any(self) -> None:
                owner._handle(self)

            do_GET = do_POST = do_PUT = _any

        self._server = LoopbackServer(Handler)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self._server.port}{path}"

    def close(self) -> None:
        self._server.close()

    def _handle(self, request: QuietHandler) -> None:
        body = _read_body(request)
        auth = request.headers.get("Authorization")
        parts = urlsplit(request.path)
        with self._lock:
            self.seen.append(Seen(request.command, parts.path, auth, body))
        status, headers = 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        if parts.path == "/redirect":
            status, headers = 302, {"Location": parse_qs(parts.query)["to"][0]}
        elif (
            parts.path == "/api"
            and self.api
            and auth
            and auth.startswith("Bearer ")
            and _valid(self.api, auth[7:])
        ):
            status, headers = 200, {}
        request.reply(status, b'{"status": %d}' % status, content_type=None, headers=headers)


def _valid(api: ResourceServer, token: str) -> bool:
    try:
        api.verify(token)
    except Exception:
        return False
    return True


def _read_body(request: BaseHTTPRequestHandler) -> bytes:
    if request.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        while True:
            size = int(request.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                request.rfile.readline()
                return b"".join(chunks)
            chunks.append(request.rfile.read(size))
            request.rfile.readline()
    length = int(request.headers.get("Content-Length") or 0)
    return request.rfile.read(length) if length else b""


def _auth(adapter: str = "requests") -> Any:
    if adapter == "httpie":  # a child process: the browser is BROWSER, notes go to stderr
        return stytch_auth(adapter)
    notes: list[str] = []
    return stytch_auth(adapter, opener=scripted_opener(), notify=notes.append)


@pytest.fixture
def server(stytch_resource_server: ResourceServer) -> Iterator[RecordingServer]:
    recording = RecordingServer(stytch_resource_server)
    yield recording
    recording.close()


@pytest.fixture
def rejected_token(stytch_env: StytchEmulator, stytch_resource_server: ResourceServer) -> str:
    """Log in, then store an access token the API refuses (not expired, so it is sent)."""
    auth = _auth()
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).status_code == 200
    key = auth.manager.key
    stored = KeyringStore().load(key)
    assert stored is not None
    bogus = replace(stored, access_token="not-a-valid-token", expires_at=time.time() + 3600)
    KeyringStore().save(key, bogus)
    AccessTokenCache().delete(key)
    forget_memory()
    return bogus.access_token


def _bearers(seen: list[Seen]) -> list[str | None]:
    return [s.authorization for s in seen]


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_401_refreshes_once_and_resends_once(
    adapter: str, stytch_env: StytchEmulator, server: RecordingServer, rejected_token: str
) -> None:
    response = send(adapter, _auth(adapter), "GET", server.url("/api"))
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    first, second = _bearers(server.seen)
    assert first == f"Bearer {rejected_token}"
    assert second and second.startswith("Bearer ") and second != first
    assert stytch_env.counters["token_refresh_ok"] == 1
    assert stytch_env.counters["codes_issued"] == 1


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_401_with_a_dead_grant_logs_in_once_and_resends(
    adapter: str, stytch_env: StytchEmulator, server: RecordingServer, rejected_token: str
) -> None:
    stytch_env.revoke_all()
    response = send(adapter, _auth(adapter), "GET", server.url("/api"))
    assert response.status_code == 200 and len(server.seen) == 2
    assert stytch_env.counters["codes_issued"] == 2


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_bytes_body_is_replayed(
    adapter: str, stytch_env: StytchEmulator, server: RecordingServer, rejected_token: str
) -> None:
    body = b"\x00binary payload\xff" * 100
    response = send(adapter, _auth(adapter), "POST", server.url("/api"), body)
    assert response.status_code == 200
    assert [s.body for s in server.seen] == [body, body]


@pytest.mark.parametrize("adapter", ADAPTERS_IN_PROCESS)
def test_a_multipart_upload_of_bytes_and_a_file_is_replayed(
    adapter: str,
    stytch_env: StytchEmulator,
    server: RecordingServer,
    rejected_token: str,
    tmp_path: Path,
) -> None:
    """``files=`` (httpx's documented upload; requests' too): in-memory parts and a file that
    can seek are sent again, whole, after the 401 renewed the token."""
    path = tmp_path / "report.csv"
    path.write_bytes(b"a,b\n1,2\n" * 50)
    notes: list[str] = []
    auth = stytch_auth(adapter, opener=scripted_opener(), notify=notes.append)
    with path.open("rb") as handle:
        parts = {"memory": ("memory.bin", b"\x00in memory\xff" * 20), "file": ("r.csv", handle)}
        if adapter.endswith("AsyncClient"):
            parts = {"memory": parts["memory"]}  # an AsyncClient takes no sync file
        response = send(adapter, auth, "POST", server.url("/api"), files=parts)
    assert response.status_code == 200, notes
    first, second = (s.body for s in server.seen)
    assert first == second and b"in memory" in first
    assert (b"a,b\n1,2\n" * 50 in first) is not adapter.endswith("AsyncClient")
    assert notes == []


# An AsyncClient takes no sync file.
@pytest.mark.parametrize("adapter", ["requests", "Client", "httpx2.Client"])
def test_a_file_body_is_replayed(
    adapter: str,
    stytch_env: StytchEmulator,
    server: RecordingServer,
    rejected_token: str,
    tmp_path: Path,
) -> None:
    path = tmp_path / "upload.bin"
    path.write_bytes(b"header line\n" + bytes(range(256)) * 40)
    # A body that starts part-way through the file; httpx declares the whole file's length.
    start = 7 if adapter == "requests" else 0
    with path.open("rb") as handle:
        handle.read(start)
        response = send(adapter, _auth(adapter), "PUT", server.url("/api"), handle)
    assert response.status_code == 200
    expected = path.read_bytes()[start:]
    assert [s.body for s in server.seen] == [expected, expected]


def _stream() -> Iterator[bytes]:
    yield b"part one, "
    yield b"part two"


async def _async_stream() -> AsyncIterator[bytes]:
    for part in _stream():
        yield part


@pytest.mark.parametrize("adapter", ADAPTERS_IN_PROCESS)  # a Python generator as the body
def test_a_streamed_body_is_not_replayed_but_the_token_is_renewed_for_the_next_request(
    adapter: str, stytch_env: StytchEmulator, server: RecordingServer, rejected_token: str
) -> None:
    notes: list[str] = []
    auth = stytch_auth(adapter, opener=scripted_opener(), notify=notes.append)
    stream = _async_stream() if adapter.endswith("AsyncClient") else _stream()
    response = send(adapter, auth, "POST", server.url("/api"), stream)
    assert response.status_code == 401
    assert [s.body for s in server.seen] == [b"part one, part two"]
    assert notes == [NOT_RESENT]
    assert stytch_env.counters["token_refresh_ok"] == 1  # the rejected token is not sent again
    assert send(adapter, auth, "GET", server.url("/api")).status_code == 200


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_server_that_always_answers_401_sees_exactly_two_requests(
    adapter: str, stytch_env: StytchEmulator, server: RecordingServer
) -> None:
    response = send(adapter, _auth(adapter), "GET", server.url("/always401"))
    assert response.status_code == 401
    assert len(server.seen) == 2
    first, second = _bearers(server.seen)
    assert first and second and first != second  # the resend carried a fresh token
    assert stytch_env.counters["token_refresh_ok"] == 1


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_redirect_to_another_host_never_gets_a_token(
    adapter: str, stytch_env: StytchEmulator, server: RecordingServer, host: str
) -> None:
    other = RecordingServer()
    try:
        target = other.url("/collect", host=host)
        url = server.url("/redirect") + "?" + f"to={quote(target, safe='')}"
        auth = _auth(adapter)
        for method in ("GET", "POST"):
            response = send(adapter, auth, method, url, b"x")
            assert response.status_code == 401
        assert other.seen and all(s.authorization is None for s in other.seen)
        assert len(other.seen) == 2  # one per request: nothing was resent to it
        assert all((s.authorization or "").startswith("Bearer ") for s in server.seen)
        assert stytch_env.counters["token_refresh"] == 0
    finally:
        other.close()


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_host_outside_the_hosts_setting_gets_no_token_and_no_sign_in(
    adapter: str,
    stytch_env: StytchEmulator,
    server: RecordingServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STYTCH_HOSTS", urlsplit(server.url("/")).netloc)
    auth = _auth(adapter)
    other_name = server.url("/always401", host="localhost")  # the same server, another host
    assert send(adapter, auth, "GET", other_name).status_code == 401
    assert _bearers(server.seen) == [None]  # no token, no resend
    assert stytch_env.counters["authorize_page"] == 0  # and no sign-in for it
    assert send(adapter, auth, "GET", server.url("/always401")).status_code == 401
    assert all(b and b.startswith("Bearer ") for b in _bearers(server.seen)[1:])


WITHHELD = "no token for http://localhost:{port}: its host is not in the hosts setting"


@pytest.mark.parametrize("adapter", ADAPTERS_IN_PROCESS)
def test_a_token_withheld_by_the_hosts_setting_is_said_under_debug(
    adapter: str,
    stytch_env: StytchEmulator,
    server: RecordingServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bare 401 from a host the ``hosts`` setting leaves out is what a person debugs: the
    debug log (``--debug``, or ``logging`` at DEBUG) says the token was withheld and why,
    naming the origin only (a query may carry secrets)."""
    monkeypatch.setenv("STYTCH_HOSTS", urlsplit(server.url("/")).netloc)
    other = server.url("/always401", host="localhost") + "?key=do-not-log"
    with caplog.at_level("DEBUG", logger="httpie_stytch_connected"):
        assert send(adapter, _auth(adapter), "GET", other).status_code == 401
    port = urlsplit(other).port
    assert WITHHELD.format(port=port) in caplog.text, caplog.text
    assert "do-not-log" not in caplog.text


def test_a_token_withheld_by_the_hosts_setting_is_said_by_http_debug(
    stytch_env: StytchEmulator, server: RecordingServer, tmp_path: Path
) -> None:
    env = {**os.environ, "STYTCH_HOSTS": urlsplit(server.url("/")).netloc}
    other = server.url("/always401", host="localhost")
    result, _ = run_http(["--debug", "-A", "stytch", "GET", other], env, None, 60)
    assert WITHHELD.format(port=urlsplit(other).port) in result.stderr, result.stderr[-2000:]
    assert _bearers(server.seen) == [None]


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_same_origin_redirect_to_a_401_is_resent_once(
    adapter: str, stytch_env: StytchEmulator, server: RecordingServer
) -> None:
    url = server.url("/redirect") + "?to=/always401"
    response = send(adapter, _auth(adapter), "GET", url)
    assert response.status_code == 401
    assert [s.path for s in server.seen] == ["/redirect", "/always401", "/always401"]
    assert stytch_env.counters["token_refresh_ok"] == 1


# -- under HTTPie: uploads, -v, --proxy, --timeout ----------------------------------------------


def _http(tmp_path: Path, *args: str) -> Result:
    return http("--check-status", "-A", "stytch", *args, config_dir=tmp_path / "httpie")


@pytest.mark.parametrize(
    "args",
    [
        ("--multipart", "POST", "{api}", "field=value", "other=two"),
        ("--chunked", "POST", "{api}", "field=value"),
        ("--chunked", "--multipart", "POST", "{api}", "field=value"),
        ("POST", "{api}", "@{file}"),  # a seekable file: rewound to where it started
    ],
    ids=["multipart", "chunked", "chunked-multipart", "file"],
)
def test_httpie_replays_a_body_it_holds_in_memory(
    stytch_env: StytchEmulator,
    server: RecordingServer,
    rejected_token: str,
    tmp_path: Path,
    args: tuple[str, ...],
) -> None:
    upload = tmp_path / "upload.txt"
    upload.write_text("file contents\n")
    filled = [a.format(api=server.url("/api"), file=upload) for a in args]
    result = _http(tmp_path, *filled)
    assert result.status == 0, result.stderr
    assert len(server.seen) == 2
    assert server.seen[0].body == server.seen[1].body != b""
    assert NOT_RESENT not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--multipart", "POST", "{api}", "field@{file}"),
        ("--chunked", "POST", "{api}", "@{file}"),
    ],
    ids=["multipart-file", "chunked-file"],
)
def test_httpie_says_once_when_an_upload_cannot_be_resent(
    stytch_env: StytchEmulator,
    server: RecordingServer,
    rejected_token: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
) -> None:
    upload = tmp_path / "upload.bin"
    upload.write_bytes(b"file contents\n" * 100)
    result = _http(tmp_path, *[a.format(api=server.url("/api"), file=upload) for a in args])
    assert result.status == 4  # the 401, as HTTPie reports it with --check-status
    assert len(server.seen) == 1
    terminal = capsys.readouterr().err
    assert terminal.count(NOT_RESENT) == 1
    assert stytch_env.counters["token_refresh_ok"] == 1  # renewed: running it again works
    again = _http(tmp_path, *[a.format(api=server.url("/api"), file=upload) for a in args])
    assert again.status == 0, again.stderr


def test_httpie_verbose_says_the_request_was_resent(
    stytch_env: StytchEmulator,
    server: RecordingServer,
    rejected_token: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = _http(tmp_path, "-v", "GET", server.url("/api"))
    assert result.status == 0, result.stderr
    assert f"Bearer {rejected_token}" in result.stdout  # HTTPie shows the first attempt
    terminal = capsys.readouterr().err
    assert terminal.count(RESENT) == 1
    assert "Bearer" not in terminal and rejected_token not in terminal
    quiet = _http(tmp_path, "GET", server.url("/always401"))
    assert quiet.status == 4
    assert RESENT not in capsys.readouterr().err  # only when HTTPie shows the request


class _Proxy(QuietHandler):
    """A forward proxy for plain http:// URLs that records the absolute URLs it is asked for."""

    seen: list[str]

    def _any(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        target = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
        connection = HTTPConnection(target.netloc, timeout=30)
        try:
            path = target.path + (f"?{target.query}" if target.query else "")
            connection.request(self.command, path, body=body, headers=headers)
            answer = connection.getresponse()
            content = answer.read()
        finally:
            connection.close()
        kept = {k: v for k, v in answer.getheaders() if k.lower() not in _HOP_BY_HOP}
        self.reply(answer.status, content, content_type=None, headers=kept)

    do_GET = do_POST = _any


_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive"}


def test_httpie_proxy_carries_the_token_exchange_too(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer, tmp_path: Path
) -> None:
    class Proxy(_Proxy):
        seen: list[str] = []

    with LoopbackServer(Proxy) as proxy:
        result = _http(tmp_path, f"--proxy=http:{proxy.url}", "GET", stytch_resource_server.url)
    assert result.status == 0, result.stderr
    token_url = f"POST {stytch_env.project_domain}/v1/oauth2/token"
    assert token_url in Proxy.seen
    assert f"GET {stytch_resource_server.url}" in Proxy.seen


def test_httpie_timeout_bounds_a_refresh(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer, tmp_path: Path
) -> None:
    assert _http(tmp_path, "GET", stytch_resource_server.url).status == 0
    expire_stored(StytchAuth().manager.key)
    stytch_env.slow_seconds = 5.0
    stytch_env.inject_token_fault("slow", count=1)
    result = _http(tmp_path, "--timeout=1", "GET", stytch_resource_server.url)
    assert result.status == 1
    assert "did not answer in time" in result.stderr


@pytest.mark.parametrize("adapter", HTTPX)
def test_a_raise_for_status_hook_still_lets_the_next_request_renew_the_token(
    adapter: str, stytch_env: StytchEmulator, server: RecordingServer, rejected_token: str
) -> None:
    """httpx's documented pattern, ``event_hooks={"response": [raise_for_status]}``, turns the
    401 into the caller's error before the auth flow sees it. That request fails, as the hook
    says; the token it was refused is renewed by the next request rather than sent again, so
    later requests do not all fail the same way."""
    lib = library(adapter)
    auth = stytch_auth(adapter, opener=scripted_opener(), notify=lambda _: None)
    url = server.url("/api")

    def check(response: Any) -> None:
        response.raise_for_status()

    async def check_async(response: Any) -> None:
        response.raise_for_status()

    async def twice_async() -> int:
        hooks = {"response": [check_async]}
        async with lib.AsyncClient(auth=auth, timeout=30, event_hooks=hooks) as client:
            with pytest.raises(lib.HTTPStatusError):
                await client.get(url)
            status: int = (await client.get(url)).status_code
            return status

    if adapter.endswith("AsyncClient"):
        status = asyncio.run(twice_async())
    else:
        with lib.Client(auth=auth, timeout=30, event_hooks={"response": [check]}) as client:
            with pytest.raises(lib.HTTPStatusError):
                client.get(url)
            status = client.get(url).status_code
    assert status == 200
    assert _bearers(server.seen)[0] == f"Bearer {rejected_token}"
    assert f"Bearer {rejected_token}" not in _bearers(server.seen)[1:]
    assert stytch_env.counters["token_refresh_ok"] == 1
