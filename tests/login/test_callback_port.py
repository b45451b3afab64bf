"""A fixed callback port and host, for servers that compare redirect URIs exactly (port
included) and for remote development where only a forwarded port reaches the machine."""

from __future__ import annotations

import socket
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from httpie_stytch_connected.auth import StytchAuth
from httpie_stytch_connected.errors import ConfigurationError, LoginError
from httpie_stytch_connected.login.callback_server import CallbackServer
from httpie_stytch_connected.settings.config import load_settings
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.resource_server import ResourceServer
from httpie_stytch_connected.testing.user_agent import ScriptedUserAgent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_sign_in_comes_back_on_the_fixed_port(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    port = _free_port()
    seen: list[str] = []

    def browser(url: str) -> bool:
        seen.append(dict(parse_qsl(urlsplit(url).query))["redirect_uri"])
        with ScriptedUserAgent() as agent:
            return agent.open(url).ok

    auth = StytchAuth(opener=browser, callback_port=port, notify=lambda _: None)
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).status_code == 200
    assert seen == [f"http://127.0.0.1:{port}/callback"]


def test_the_redirect_uri_carries_the_host_name_asked_for_and_listens_on_loopback() -> None:
    port = _free_port()
    with CallbackServer("state", port=port, host="localhost") as server:
        assert server.redirect_uri == f"http://localhost:{port}/callback"
        assert server.port == port
        answer = requests.get(f"http://127.0.0.1:{port}/elsewhere", timeout=5)
        assert answer.status_code == 404  # it is our listener, on 127.0.0.1


def test_a_fixed_port_in_use_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(LoginError, match=rf"callback port {port} .* in use"):
            CallbackServer("state", port=port).__enter__()


def test_the_timeout_names_the_redirect_uri_and_the_setting() -> None:
    with CallbackServer("state") as server, pytest.raises(LoginError) as caught:
        server.wait(timeout=0.2)
    message = str(caught.value)
    assert server.path in message and "STYTCH_CALLBACK_PORT" in message
    assert "in in" not in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("callback_port", "0"),
        ("callback_port", "70000"),
        ("callback_port", "http"),
        ("callback_host", "example.com"),
        ("callback_host", "0.0.0.0"),  # noqa: S104 - refused, never bound
    ],
)
def test_callback_settings_outside_loopback_or_range_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        load_settings({name: value}, {"STYTCH_CONFIG": "/nonexistent.toml"})
