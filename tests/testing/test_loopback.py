"""The one loopback server helper behind every test server (``testing/loopback.py``)."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from httpie_stytch_connected.testing import StytchEmulator
from httpie_stytch_connected.testing.loopback import (
    JOIN_TIMEOUT,
    LoopbackHTTPServer,
    LoopbackServer,
    LoopbackService,
    QuietHandler,
)
from tests.lifecycle import wait_for


class Hello(QuietHandler):
    def do_GET(self) -> None:
        if self.path == "/boom":
            raise ValueError("secret-looking message")
        self.reply_json(200, {"hello": "world"}, {"X-Extra": "1"})


def test_it_listens_on_127_0_0_1_only_on_an_os_assigned_port() -> None:
    with LoopbackServer(Hello) as server:
        assert server._server.server_address[0] == "127.0.0.1"
        assert server.port > 0
        answer = requests.get(server.url + "/", timeout=5)
    assert answer.status_code == 200
    assert answer.json() == {"hello": "world"}
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers["X-Extra"] == "1"


def test_close_is_bounded_idempotent_and_ends_the_listener() -> None:
    server = LoopbackServer(Hello)
    url = server.url
    began = time.monotonic()
    server.close()
    server.close()
    assert time.monotonic() - began < JOIN_TIMEOUT
    assert not server._thread.is_alive()
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=5)


def test_a_handler_error_prints_its_type_never_its_message(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with LoopbackServer(Hello) as server, pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/boom", timeout=5)
    err = capfd.readouterr().err
    assert "handler error ValueError" in err
    assert "secret-looking" not in err and "Traceback" not in err


class Service(LoopbackService):
    def __init__(self) -> None:
        self.stops = 0

    def _bind(self) -> LoopbackHTTPServer:
        return LoopbackHTTPServer(Hello)

    def stop(self) -> None:
        self.stops += 1
        super().stop()


def test_a_service_starts_once_and_leaving_the_block_calls_its_own_stop() -> None:
    service = Service()
    with pytest.raises(RuntimeError, match="Service is not started"):
        _ = service.origin
    with service:
        assert requests.get(service.origin, timeout=5).status_code == 200
        with pytest.raises(RuntimeError, match="can only be started once"):
            service.start()
    assert service.stops == 1
    assert service.origin.startswith("http://127.0.0.1:")  # still readable after the stop
    with pytest.raises(RuntimeError, match="can only be started once"):
        service.start()


def test_leaving_an_emulator_block_wakes_a_slow_token_fault() -> None:
    results: list[int] = []
    with StytchEmulator() as emulator:
        emulator.slow_seconds = 60.0
        emulator.inject_token_fault("slow")
        waiting = threading.Thread(
            target=lambda: results.append(
                requests.post(emulator.token_endpoint, data={}, timeout=60).status_code
            )
        )
        waiting.start()
        wait_for(lambda: emulator.counters["token_faults"] == 1)  # the request is held
    waiting.join(timeout=30)
    assert results == [400]
