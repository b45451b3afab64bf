"""Which API is the person's own, and where the provider calls for an API may go (issue 17
§4): the decisions of :mod:`httpie_stytch_connected.zero_config.reach`, read through the
provider-call seam they build, against a real server on 127.0.0.1."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from httpie_stytch_connected.errors import TokenEndpointError
from httpie_stytch_connected.oauth.httpx_calls import HttpxHTTP
from httpie_stytch_connected.oauth.provider_calls import HTTP, RESOURCE_METADATA, call
from httpie_stytch_connected.settings.config import Settings, load_settings
from httpie_stytch_connected.testing import StytchEmulator
from httpie_stytch_connected.testing.emulator.example_api import example_api
from httpie_stytch_connected.zero_config.reach import (
    DeferredCalls,
    configured_issuer,
    is_own,
    provider_http_for,
)
from tests.loopback import LoopbackServer, QuietHandler


class _Ok(QuietHandler):
    def do_GET(self) -> None:
        self.reply(200, b"{}")


@pytest.fixture
def local() -> Iterator[str]:
    with LoopbackServer(_Ok) as server:
        yield server.url


def _settings(**values: str) -> Settings:
    return load_settings(values, {"STYTCH_CONFIG": "/nonexistent.toml"})


@pytest.mark.parametrize(
    ("url", "hosts", "own"),
    [
        ("http://127.0.0.1:8080/api", (), True),
        ("http://[::1]:8080/api", (), True),
        ("http://localhost/api", (), True),
        ("https://api.example.com/api", (), False),
        ("https://127.0.0.1.example.com/api", (), False),
        ("https://api.corp.example/api", ("*.corp.example",), True),
        ("http://127.0.0.1:8080/api", ("api.corp.example",), False),  # the list replaces
        ("http://127.0.0.1:8080/api", ("127.0.0.1:9090",), False),
        ("http://127.0.0.1:9090/api", ("127.0.0.1:9090",), True),
    ],
)
def test_which_api_is_the_persons_own(url: str, hosts: tuple[str, ...], own: bool) -> None:
    assert is_own(url, hosts) is own


#: The library a caller's provider calls go through: requests (None: a session of ours), httpx
#: or httpx2 (the client's own, :class:`HttpxHTTP`).
SESSIONS = ["requests", "httpx", "httpx2"]


def _session(name: str) -> HTTP:
    return None if name == "requests" else HttpxHTTP(importlib.import_module(name))


@pytest.mark.parametrize("library", SESSIONS)
def test_an_api_on_loopback_may_name_this_machine(local: str, library: str) -> None:
    http = provider_http_for("http://127.0.0.1:1/api", _settings(), _session(library))
    assert not http.confined
    assert call(http, "GET", local + "/x", "read", kind=RESOURCE_METADATA).status == 200


@pytest.mark.parametrize("library", SESSIONS)
def test_a_remote_api_may_name_only_what_local_hosts_lists(local: str, library: str) -> None:
    remote = "https://api.example.com/api"
    http = provider_http_for(remote, _settings(), _session(library))
    assert http.confined
    with pytest.raises(TokenEndpointError, match="an address on this machine"):
        call(http, "GET", local + "/x", "read", kind=RESOURCE_METADATA)
    listed = _settings(local_hosts=local.split("://", 1)[1])
    http = provider_http_for(remote, listed, _session(library))
    assert call(http, "GET", local + "/x", "read", kind=RESOURCE_METADATA).status == 200


def test_deferred_calls_are_confined_as_chosen_when_first_made(local: str) -> None:
    remote = DeferredCalls("https://api.example.com/api", _settings(), None)
    with pytest.raises(TokenEndpointError, match="an address on this machine"):
        call(remote, "GET", local + "/x", "read", kind=RESOURCE_METADATA)
    own = DeferredCalls("http://127.0.0.1:1/api", _settings(), None)
    assert call(own, "GET", local + "/x", "read", kind=RESOURCE_METADATA).status == 200


#: Loaded only by a refresh, a sign-in or discovery: a warm run needs none of them.
_NOT_WARM = (
    "keyring",
    "filelock",
    "httpie_stytch_connected.oauth.provider_calls",
    "httpie_stytch_connected.oauth.registration",
    "httpie_stytch_connected.storage.locks",
    "httpie_stytch_connected.zero_config.client_identity",
)


def test_a_warm_zero_configuration_run_loads_no_provider_calls(
    stytch_zero_env: StytchEmulator, stytch_emulator: StytchEmulator
) -> None:
    """The second process finds its binding and token in the cache and calls nothing: it
    loads nothing a call, a lock or the keyring needs (bench row 6 measures the time)."""
    script = (
        "import sys, requests\n"
        "from httpie_stytch_connected import OAuth2PKCEAuth\n"
        "r = requests.get(sys.argv[1], auth=OAuth2PKCEAuth(), timeout=30)\n"
        "print(r.status_code, *sorted(set(sys.argv[2:]) & set(sys.modules)))\n"
    )
    with example_api(stytch_emulator) as api:
        runs = [
            subprocess.run(
                [sys.executable, "-c", script, api.url, *_NOT_WARM],
                env=dict(os.environ),
                capture_output=True,
                text=True,
                timeout=60,
                stdin=subprocess.DEVNULL,
            )
            for _ in range(2)
        ]
    first, warm = (run.stdout.split() for run in runs)
    assert first[0] == "200" and len(first) > 1, runs[0].stderr  # the sign-in loads them
    assert warm == ["200"], runs[1].stderr
    assert stytch_emulator.counters["login"] == 1


def test_the_configured_server_is_the_issuer_or_the_project_domain() -> None:
    assert configured_issuer(_settings()) is None
    issuer = _settings(issuer="https://login.example.com")
    assert configured_issuer(issuer) == "https://login.example.com"
    domain = _settings(project_domain="calm-cat-1.customers.stytch.dev")
    assert configured_issuer(domain) == "https://calm-cat-1.customers.stytch.dev"
