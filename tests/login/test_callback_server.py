"""The loopback callback server under hostile local traffic: answer, ignore, finish, shut down."""

from __future__ import annotations

import logging
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from httpie_stytch_connected.errors import LoginError
from httpie_stytch_connected.login import callback_server
from httpie_stytch_connected.login.callback_server import CallbackServer
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.resource_server import ResourceServer

STATE = "the-real-state-" + "x" * 30
CODE = "the-real-authorization-code-0123456789"


def _raw(port: int, payload: bytes, *, timeout: float = 5.0) -> bytes:
    """Send raw bytes, return what the server answers (b"" if it reset the connection)."""
    with closing(socket.create_connection(("127.0.0.1", port), timeout=timeout)) as sock:
        with suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(payload)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed ``sock``: an end of stream, or a reset where unread bytes
    were still in its buffer (the kernel answers a close with unread data by RST). A socket
    timeout is an error, not a close."""
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True


def _status(answer: bytes) -> int | None:
    if not answer.startswith(b"HTTP/"):
        return None
    return int(answer.split(b" ", 2)[1])


def _get(server: CallbackServer, params: dict[str, str] | str, path: str = "/callback") -> int:
    query = params if isinstance(params, str) else urlencode(params)
    response = requests.get(f"http://127.0.0.1:{server.port}{path}?{query}", timeout=5)
    return response.status_code


def _port_closed(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


@contextmanager
def _slow_clients(port: int, n: int) -> Iterator[list[socket.socket]]:
    """Clients that connect, send half a request line and then say nothing."""
    socks = []
    try:
        for _ in range(n):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /callback?state=")
            socks.append(sock)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def _hostile_traffic(server: CallbackServer) -> dict[str, int | None]:
    """Everything another local process might send; returns what each was answered."""
    port = server.port
    seen: dict[str, int | None] = {}
    seen["forged state"] = _get(server, {"state": "guess", "code": "attacker-code"})
    seen["no state"] = _get(server, {"code": "attacker-code"})
    seen["missing code"] = _get(server, {"state": STATE})
    seen["empty code"] = _get(server, {"state": STATE, "code": ""})
    seen["repeated state"] = _get(server, f"state={STATE}&state={STATE}&code=x")
    seen["repeated code"] = _get(server, f"state={STATE}&code=a&code=b")
    seen["error, wrong state"] = _get(server, {"state": "guess", "error": "access_denied"})
    seen["error, no state"] = _get(server, {"error": "access_denied"})
    seen["wrong path"] = _get(server, {"state": STATE, "code": "x"}, path="/callback/x")
    seen["favicon"] = _get(server, "", path="/favicon.ico")
    seen["many fields"] = _get(server, "&".join(f"f{i}=1" for i in range(500)))
    seen["huge query"] = _status(
        _raw(port, b"GET /callback?state=" + b"A" * 70_000 + b" HTTP/1.1\r\n\r\n")
    )
    seen["huge header"] = _status(
        _raw(port, b"GET /callback HTTP/1.1\r\nX-Big: " + b"B" * 70_000 + b"\r\n\r\n")
    )
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
    seen["many headers"] = _status(_raw(port, b"GET /callback HTTP/1.1\r\n" + many + b"\r\n"))
    # Not HTTP (a TLS hello): answered HTTP/0.9-style, a bare error page without a status line.
    junk = _raw(port, b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
    seen["not http"] = 400 if b"400" in junk else _status(junk)
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH", "HEAD"):
        response = requests.request(
            method,
            f"http://127.0.0.1:{port}/callback?" + urlencode({"state": STATE, "code": "x"}),
            data=b"state=" + STATE.encode() + b"&code=x" if method != "HEAD" else None,
            timeout=5,
        )
        seen[method] = response.status_code
    return seen


def test_hostile_traffic_is_answered_and_ignored_and_the_real_callback_completes(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG, logger="httpie_stytch_connected")
    with CallbackServer(STATE) as server:
        port = server.port
        with _slow_clients(port, 8):
            seen = _hostile_traffic(server)
            started = time.monotonic()
            assert _get(server, {"state": STATE, "code": CODE}) == 200
            assert server.wait(timeout=10) == CODE
            # The slow clients did not hold the real callback up.
            assert time.monotonic() - started < callback_server.REQUEST_DEADLINE
            # A replay after the answer is noise, and the answer does not change.
            assert _get(server, {"state": STATE, "code": "second"}) == 404
            assert server.wait(timeout=1) == CODE
    assert _port_closed(port)
    # Every hostile request was answered (or dropped at the size limit) and none ended the wait.
    for what, status in seen.items():
        if what in ("huge query", "huge header"):
            assert status in (None, 400, 414, 431), what
        else:
            assert status is not None and status >= 400, (what, status)
    assert seen["huge query"] in (None, 414)
    out, err = capfd.readouterr()
    ours = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith("httpie_stytch_connected")
    )
    for text in (out, err, ours):
        assert CODE not in text and "attacker-code" not in text and STATE not in text


def test_an_error_with_a_wrong_state_cannot_abort_the_login() -> None:
    with CallbackServer(STATE) as server:
        for _ in range(3):
            assert _get(server, {"state": "forged", "error": "access_denied"}) == 400
        assert _get(server, {"error": "access_denied"}) == 400
        assert _get(server, {"state": STATE, "code": CODE}) == 200
        assert server.wait(timeout=10) == CODE


def test_an_error_with_the_right_state_ends_the_login_with_a_clear_message() -> None:
    with CallbackServer(STATE) as server:
        description = "<b>The user said no</b>"
        params = {"state": STATE, "error": "access_denied", "error_description": description}
        response = requests.get(server.redirect_uri + "?" + urlencode(params), timeout=5)
        assert response.status_code == 200
        assert "<b>" not in response.text and "&lt;b&gt;" in response.text
        with pytest.raises(LoginError, match="access_denied"):
            server.wait(timeout=10)


def test_a_silent_callback_times_out_and_the_port_closes() -> None:
    with CallbackServer(STATE) as server, _slow_clients(server.port, 3):
        port = server.port
        started = time.monotonic()
        with pytest.raises(LoginError, match=r"within 0\.5 seconds"):
            server.wait(timeout=0.5)
        assert time.monotonic() - started < 3
    assert _port_closed(port)


def test_shutdown_is_prompt_with_slow_clients_connected() -> None:
    server = CallbackServer(STATE).__enter__()
    port = server.port
    with _slow_clients(port, 10):
        started = time.monotonic()
        server.close()
        assert time.monotonic() - started < 3
        assert _port_closed(port)
    server.close()  # idempotent


def test_a_slow_client_is_dropped_after_the_request_deadline() -> None:
    with CallbackServer(STATE) as server, _slow_clients(server.port, 1) as (sock,):
        sock.settimeout(callback_server.REQUEST_DEADLINE + 10)
        started = time.monotonic()
        assert _closed_by_server(sock)
        assert time.monotonic() - started < callback_server.REQUEST_DEADLINE + 8


def test_concurrent_forgers_race_the_real_callback() -> None:
    with CallbackServer(STATE) as server:
        barrier = threading.Barrier(9, timeout=10)
        results: list[int] = []

        def forge(i: int) -> None:
            barrier.wait()
            results.append(_get(server, {"state": f"forged-{i}", "code": f"evil-{i}"}))

        threads = [threading.Thread(target=forge, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        barrier.wait()
        assert _get(server, {"state": STATE, "code": CODE}) == 200
        for thread in threads:
            thread.join(timeout=10)
        assert sorted(set(results)) == [400]
        assert server.wait(timeout=5) == CODE


def test_the_redirect_uri_is_loopback_with_the_os_assigned_port() -> None:
    with CallbackServer(STATE, path="cb") as server:
        assert server.redirect_uri == f"http://127.0.0.1:{server.port}/cb"
        assert STATE not in repr(server)
    assert server.redirect_uri == "(not listening)"


def test_a_pasted_redirect_url_goes_through_the_same_checks() -> None:
    with CallbackServer(STATE) as server:
        forged = server.redirect_uri + "?" + urlencode({"state": "nope", "code": "evil"})
        assert not server.submit_url(forged).final
        good = server.redirect_uri + "?" + urlencode({"state": STATE, "code": CODE})
        assert server.submit_url(good).code == CODE
        assert server.wait(timeout=1) == CODE


def test_a_real_login_completes_while_local_processes_probe_its_callback(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    from httpie_stytch_connected.auth import StytchAuth
    from httpie_stytch_connected.testing.pytest_plugin import scripted_opener

    ports: list[int] = []

    def hostile_then_real(url: str) -> bool:
        redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
        port = int(urlsplit(redirect).port or 0)
        ports.append(port)
        base = f"http://127.0.0.1:{port}/callback"
        for params in (
            {"state": "forged", "code": "attacker-code"},
            {"state": "forged", "error": "access_denied"},
            {"error": "access_denied"},
        ):
            assert requests.get(base + "?" + urlencode(params), timeout=5).status_code == 400
        assert requests.post(base, data={"code": "attacker-code"}, timeout=5).status_code == 501
        with _slow_clients(port, 4):
            return scripted_opener()(url)

    notes: list[str] = []
    auth = StytchAuth(opener=hostile_then_real, notify=notes.append)
    response = requests.get(stytch_resource_server.url, auth=auth, timeout=30)
    assert response.status_code == 200
    assert stytch_env.counters["token_authorization_code"] == 1
    assert ports and _port_closed(ports[0])


def test_a_client_dribbling_bytes_is_cut_off_by_the_request_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(callback_server, "REQUEST_DEADLINE", 0.5)
    with CallbackServer("s") as server, socket.create_connection(("127.0.0.1", server.port)) as s:
        s.settimeout(10)
        s.sendall(b"GET /callback?")
        cut = threading.Event()

        def dribble() -> None:
            with suppress(OSError):
                while not cut.is_set():
                    s.sendall(b"a")
                    cut.wait(0.1)

        feeder = threading.Thread(target=dribble, daemon=True)
        feeder.start()
        try:
            assert _closed_by_server(s)  # well before the socket timeout
        finally:
            cut.set()
            feeder.join(timeout=5)


def test_when_too_many_clients_are_still_sending_the_oldest_makes_room(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(callback_server, "MAX_PENDING", 4)
    with CallbackServer("s") as server, _slow_clients(server.port, 4) as idle:
        idle[0].settimeout(callback_server.REQUEST_DEADLINE / 2)
        # The newest is served at once; the oldest silent one is dropped for it, well before
        # the request deadline would have dropped it.
        reply = requests.get(f"{server.redirect_uri}?code=c&state=s", timeout=5)
        assert reply.status_code == 200
        assert _closed_by_server(idle[0])
        assert server.wait(1) == "c"


def test_reset_and_cut_connections_print_no_traceback(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(callback_server, "REQUEST_DEADLINE", 0.5)
    with CallbackServer(STATE) as server:
        for _ in range(3):  # half a request, then a reset (RST) instead of a close
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(b"GET /callback?state=")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as cut:
            cut.sendall(b"GET /callback?state=")  # never finished: the deadline cuts it
            # Connections are accepted in order: this answer means the ones above were too.
            assert _get(server, {"state": STATE, "code": CODE}) == 200
            assert _closed_by_server(cut)
        assert server.wait(timeout=10) == CODE
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception occurred" not in err, err


def test_two_servers_keep_their_own_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(callback_server, "MAX_PENDING", 2)
    with CallbackServer("a") as first, CallbackServer("b") as second:
        with _slow_clients(first.port, 2):
            assert _get(second, {"state": "b", "code": "c"}) == 200  # not held by the others
        assert second.wait(timeout=5) == "c"


def test_an_error_description_reaches_the_terminal_without_control_characters() -> None:
    outcome = callback_server.evaluate(
        "/callback",
        "state=s&error=access_denied%1B%5B2J&error_description=bad%07%0Anews",
        expected_path="/callback",
        expected_state="s",
    )
    assert (outcome.error, outcome.error_description) == ("access_denied[2J", "bad news")


def test_ctrl_c_ends_the_wait_even_when_sigint_lands_on_another_thread() -> None:
    # The kernel may deliver SIGINT to any thread; the main thread, blocked in the wait, must
    # still notice it promptly instead of sleeping out the 60 s login timeout.
    script = (
        "import signal, sys, threading, time\n"
        "from httpie_stytch_connected.login.callback_server import CallbackServer\n"
        "def elsewhere():\n"
        "    time.sleep(0.5)\n"  # let the main thread block first; not synchronisation
        "    signal.pthread_kill(threading.get_ident(), signal.SIGINT)\n"
        "threading.Thread(target=elsewhere, daemon=True).start()\n"
        "started = time.monotonic()\n"
        "try:\n"
        "    with CallbackServer('s') as server:\n"
        "        server.wait(60)\n"
        "except KeyboardInterrupt:\n"
        "    print(round(time.monotonic() - started))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=90
    )
    assert done.stdout.strip() and int(done.stdout) < 30, (done.stdout, done.stderr)


#: Local clients that each send half a request line and then a byte every second (the field
#: report: a byte every 4 s, under the old 5 s idle timeout), reconnecting whenever dropped.
#: Prints "connected" and "dropped" per event; runs until its stdin closes.
FLOOD = """
import socket, sys, threading, time
port, clients, pause = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
say = threading.Lock()

def report(event):
    with say:
        print(event, flush=True)

def client():
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"GET /callback?state=")
                report("connected")
                sock.settimeout(1.0)
                while True:
                    try:
                        if not sock.recv(1024):
                            break
                    except socket.timeout:
                        sock.sendall(b"x")
        except OSError:
            pass
        report("dropped")
        time.sleep(pause)

for _ in range(clients):
    threading.Thread(target=client, daemon=True).start()
sys.stdin.read()
"""


@contextmanager
def _flood(port: int, clients: int, pause: float) -> Iterator[dict[str, int]]:
    """Run :data:`FLOOD` in its own process; yields its event counts, updated as they come."""
    seen = {"connected": 0, "dropped": 0}
    changed = threading.Condition()
    flood = subprocess.Popen(
        [sys.executable, "-c", FLOOD, str(port), str(clients), str(pause)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def count() -> None:
        assert flood.stdout is not None
        for line in flood.stdout:
            with changed:
                seen[line.strip()] = seen.get(line.strip(), 0) + 1
                changed.notify_all()

    counter = threading.Thread(target=count, daemon=True)
    counter.start()
    try:
        with changed:
            # Every client has connected, and every one has been dropped once (then came back).
            assert changed.wait_for(
                lambda: seen["connected"] >= 2 * clients and seen["dropped"] >= clients, 30
            ), seen
        yield seen
    finally:
        flood.kill()
        flood.communicate(timeout=10)
        counter.join(timeout=10)


@pytest.mark.parametrize(
    ("clients", "max_pending"),
    [(40, None), (12, 8)],
    ids=["40 slow clients", "more slow clients than places"],
)
def test_a_flood_of_slow_clients_cannot_lock_out_the_real_callback(
    monkeypatch: pytest.MonkeyPatch, clients: int, max_pending: int | None
) -> None:
    if max_pending is not None:
        monkeypatch.setattr(callback_server, "MAX_PENDING", max_pending)
    with CallbackServer(STATE) as server, _flood(server.port, clients, pause=0.2) as seen:
        # With the flood still running: stray requests and then the real one are all answered.
        for _ in range(3):
            assert _get(server, "", path="/favicon.ico") == 404
        assert _get(server, {"state": STATE, "code": CODE}) == 200
        assert server.wait(timeout=5) == CODE
        assert seen["dropped"] >= clients


def test_a_declined_sign_in_is_shown_as_such_where_the_server_leaves_iss_off_errors() -> None:
    """A server that advertises ``iss`` (RFC 9207) but omits it from error responses: the
    person's ``access_denied`` is what they read, not a mix-up warning; a code without ``iss``
    is still refused."""

    def needs_iss(iss: str | None) -> str | None:
        return None if iss else "it names no issuer, though the server always sends one"

    with CallbackServer(STATE, check_iss=needs_iss) as server:
        assert _get(server, {"state": STATE, "error": "access_denied"}) == 200
        with pytest.raises(LoginError, match="access_denied") as caught:
            server.wait(timeout=10)
        assert "issuer" not in str(caught.value)
    with CallbackServer(STATE, check_iss=needs_iss) as server:
        assert _get(server, {"state": STATE, "code": CODE}) == 400
        with pytest.raises(LoginError, match="names no issuer"):
            server.wait(timeout=10)


def test_a_sign_in_at_one_servers_path_ignores_a_code_sent_to_another_path() -> None:
    """Issue 17 §1 (RFC 9700 §4.4.2): a sign-in listens on its server's own redirect path
    only. A matching code delivered to the shared path, or to another server's path, is not
    taken: the wait goes on until the code arrives at its own path."""
    own, other = "/callback/aaaaaaaaaaaa", "/callback/bbbbbbbbbbbb"
    with CallbackServer(STATE, path=own) as server:
        for path in ("/callback", other, own + "/", own + "x"):
            assert _get(server, {"state": STATE, "code": "elsewhere"}, path=path) == 404
        assert not server.answered
        assert _get(server, {"state": STATE, "code": CODE}, path=own) == 200
        assert server.wait(timeout=5) == CODE
