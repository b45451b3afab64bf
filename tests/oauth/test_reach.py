"""Issue 17 §4: an endpoint an API named reaches global addresses only.

The address classifier is checked on every spelling of a local address; the connection hook
with real sockets: a server on 127.0.0.1 counts what reaches it, and a confined provider call
to it, however its address is spelt, must leave it untouched while an unconfined one (the
person's own configuration) still reaches it."""

from __future__ import annotations

import importlib
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from httpie_stytch_connected.errors import TokenEndpointError
from httpie_stytch_connected.oauth.httpx_calls import HttpxHTTP
from httpie_stytch_connected.oauth.provider_calls import (
    REGISTRATION,
    RESOURCE_METADATA,
    ConfinableHTTP,
    Limits,
    RequestsHTTP,
    call,
)
from httpie_stytch_connected.oauth.urls import NotGlobal, global_addresses, is_global_address
from tests.loopback import LoopbackServer, QuietHandler

LOCAL = [
    "127.0.0.1",
    "127.8.9.10",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # link-local: where cloud metadata services answer
    "100.64.0.1",  # shared address space (RFC 6598)
    "0.0.0.0",  # noqa: S104 - an address to judge, not one to bind
    "224.0.0.1",
    "239.255.255.250",
    "255.255.255.255",
    "192.0.2.2",  # documentation
    "::1",
    "::",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "fe80::1",
    "fe80::1%1",
    "fc00::1",
    "fd00::2",
    "ff02::1",
    "ff0e::1",
    "not an address",
]
GLOBAL = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", LOCAL)
def test_a_local_private_or_special_address_is_not_global(address: str) -> None:
    assert not is_global_address(address)


@pytest.mark.parametrize("address", GLOBAL)
def test_a_public_address_is_global(address: str) -> None:
    assert is_global_address(address)


#: Spellings of 127.0.0.1 (and of this machine) that resolve without any DNS server.
SPELLINGS = ["127.0.0.1", "2130706433", "0x7f000001", "0177.0.0.1", "0x7f.1", "127.1", "localhost"]


@pytest.mark.parametrize("host", [*SPELLINGS, "::1", "::ffff:127.0.0.1", "0.0.0.0"])  # noqa: S104
def test_every_spelling_of_this_machine_is_refused_once_resolved(host: str) -> None:
    with pytest.raises(NotGlobal) as caught:
        global_addresses(host, 80)
    assert not is_global_address(caught.value.address)


class Victim:
    """A local service an API would like the tool to call: it counts every connection."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        owner = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                owner.requests.append(self.command + " " + self.path)
                self.reply(200, b"{}")

            do_POST = do_GET

        self.server = LoopbackServer(Handler)

    @property
    def port(self) -> int:
        return int(self.server.url.rsplit(":", 1)[1])


@pytest.fixture
def victim() -> Iterator[Victim]:
    found = Victim()
    with found.server:
        yield found


#: The provider calls under test: requests', httpx's and httpx2's through the library's own
#: transport, and httpx's through a transport of the caller's own (checked before the call).
CALLS = ["requests", "httpx", "httpx2", "httpx, the caller's transport"]
#: ``own`` in, the calls confined by it out.
Confine = Callable[[Callable[[str], bool]], ConfinableHTTP]


@pytest.fixture(params=CALLS)
def calls(request: pytest.FixtureRequest) -> Iterator[tuple[ConfinableHTTP, Confine]]:
    """The unconfined calls of one library, and how to confine them."""
    name: str = request.param
    if name == "requests":
        yield RequestsHTTP(), lambda own: RequestsHTTP(own=own)
        return
    lib = importlib.import_module(name.split(",")[0])
    base = HttpxHTTP(lib)
    if "caller" not in name:
        yield base, base.confine
        return

    class Theirs(lib.BaseTransport):  # type: ignore[misc, name-defined]
        """Not the library's own transport: one that connects as it likes."""

        def __init__(self) -> None:
            self.inner = lib.HTTPTransport()

        def handle_request(self, request: Any) -> Any:
            return self.inner.handle_request(request)

    with lib.Client(transport=Theirs()) as client, base.serving(client):
        yield base, base.confine


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/admin/reset?confirm=yes"


@pytest.mark.parametrize("host", [*SPELLINGS, "::ffff:127.0.0.1"])
@pytest.mark.parametrize(("method", "kind"), [("GET", RESOURCE_METADATA), ("POST", REGISTRATION)])
def test_a_confined_call_never_reaches_this_machine_however_it_is_spelt(
    victim: Victim, host: str, method: str, kind: str, calls: tuple[ConfinableHTTP, Confine]
) -> None:
    confined = calls[1](lambda url: False)
    url = _url(host, victim.port)
    with pytest.raises(TokenEndpointError) as caught:
        call(confined, method, url, "read the API's metadata", kind=kind, json={"a": 1})
    message = str(caught.value)
    if host == "0177.0.0.1" and not isinstance(confined, RequestsHTTP):
        # httpx refuses the URL (an octal part): nothing is sent either.
        assert "failed (InvalidURL)" in message and victim.requests == []
        return
    assert "an address on this machine or a private network" in message
    assert url in message and "STYTCH_LOCAL_HOSTS" in message
    # True whoever named it (an API on loopback too, when STYTCH_LOCAL_HOSTS replaced the default)
    assert "not on this machine named it" not in message
    assert "replaces the loopback default" in message
    assert victim.requests == []


def test_the_persons_own_servers_are_still_reached(
    victim: Victim, calls: tuple[ConfinableHTTP, Confine]
) -> None:
    """Unconfined (the person's configuration, or an API on loopback), and the hosts ``own``
    declares theirs under confinement: the same server answers."""
    url = _url("127.0.0.1", victim.port)
    unconfined, confine = calls
    for http in (unconfined, confine(lambda u: u.startswith("http://127.0.0.1:"))):
        assert call(http, "GET", url, "read", kind=RESOURCE_METADATA).status == 200
    assert victim.requests == ["GET /admin/reset?confirm=yes"] * 2


def test_the_refusal_names_a_long_url_bounded(
    victim: Victim, calls: tuple[ConfinableHTTP, Confine]
) -> None:
    url = _url("127.0.0.1", victim.port) + "&x=" + "a" * 5000
    with pytest.raises(TokenEndpointError) as caught:
        call(calls[1](lambda u: False), "GET", url, "read", kind=RESOURCE_METADATA)
    assert len(str(caught.value)) < 600 and "characters)" in str(caught.value)
    assert victim.requests == []


def test_a_name_that_does_not_resolve_is_unreachable_not_local(
    calls: tuple[ConfinableHTTP, Confine],
) -> None:
    with pytest.raises(TokenEndpointError) as caught:
        call(
            calls[1](lambda u: False),
            "GET",
            "https://nothing.invalid/x",
            "read",
            kind=RESOURCE_METADATA,
        )
    assert "cannot reach nothing.invalid" in str(caught.value)
    assert caught.value.retryable


@pytest.mark.parametrize("library", ["requests", "httpx", "httpx2"])
def test_a_name_that_rebinds_after_the_check_is_not_resolved_again(
    victim: Victim, monkeypatch: pytest.MonkeyPatch, library: str
) -> None:
    """DNS rebinding: the system resolver (not our code) answers a public address first and
    127.0.0.1 from then on. The name is resolved once and the socket connected to the address
    that was checked; resolving it again to connect would reach the victim. (Through the
    library's own transport: a transport of the caller's own connects as it likes.)"""
    real = socket.getaddrinfo
    answers: list[str] = []

    def rebinding(host: object, port: object, *args: object, **kwargs: object) -> object:
        if host != "rebind.example":
            return real(host, port, *args, **kwargs)  # type: ignore[arg-type]
        address = "192.88.99.200" if not answers else "127.0.0.1"  # global, never answers
        answers.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    assert is_global_address("192.88.99.200")
    quick = Limits(0.5, 0.5, 2.0, 1024)
    confined = (
        RequestsHTTP(own=lambda u: False)
        if library == "requests"
        else HttpxHTTP(importlib.import_module(library)).confine(lambda u: False)
    )
    with pytest.raises(TokenEndpointError) as caught:
        call(
            confined,
            "GET",
            f"http://rebind.example:{victim.port}/admin",
            "read",
            kind=RESOURCE_METADATA,
            limits=quick,
        )
    assert "cannot reach" in str(caught.value) or "in time" in str(caught.value)
    assert answers == ["192.88.99.200"] and victim.requests == []


class Proxy:
    """A stand-in forward proxy: it records each request line (``CONNECT host:port`` for a
    tunnel, an absolute URL for plain http) and refuses them all."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        owner = self

        class Handler(QuietHandler):
            def do_CONNECT(self) -> None:
                owner.seen.append(f"{self.command} {self.path}")
                self.reply(502, b"")

            do_GET = do_POST = do_CONNECT

        self.server = LoopbackServer(Handler)


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    found = Proxy()
    with found.server:
        yield found


def test_through_a_proxy_the_target_is_checked_and_the_proxy_still_used(
    victim: Victim, proxy: Proxy
) -> None:
    """The person's proxy is theirs (on loopback here) and is reached as configured; the
    name tunnelled to is checked first, so a local target never even reaches the proxy, and
    a global one goes through it."""
    import requests

    session = requests.Session()
    session.trust_env = False
    session.proxies = {"https": proxy.server.url, "http": proxy.server.url}
    confined = RequestsHTTP(session, own=lambda url: False)
    for url in (f"https://127.0.0.1:{victim.port}/admin", f"http://localhost:{victim.port}/a"):
        with pytest.raises(TokenEndpointError, match="an address on this machine"):
            call(confined, "GET", url, "read", kind=RESOURCE_METADATA)
    assert proxy.seen == [] and victim.requests == []
    with pytest.raises(TokenEndpointError):
        call(confined, "GET", "https://192.88.99.200/x", "read", kind=RESOURCE_METADATA)
    assert proxy.seen == ["CONNECT 192.88.99.200:443"]
