"""No secret hangs off an exception a user gets: when a refresh, a code exchange or a
client-credentials request fails (the provider down, the connection reset, an error status),
the refresh token, the code, the PKCE verifier and the client secret are nowhere in what the
exception reaches: its context and cause, its ``request`` and ``response``, its arguments, the
attributes of each, through every in-process adapter (HTTPie's child process prints only the
message, which the property tests read).

The HTTP libraries' own exceptions hold the request they failed on, body included
(``requests.ConnectionError(...).request.body`` is the refresh form): none of them may be
reachable, not even as a suppressed ``__context__``. A traceback's frames are not walked:
they are the code's own locals, not something the exception was made to carry."""

from __future__ import annotations

import base64
import threading
import types
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from httpie_stytch_connected.errors import AuthenticationError
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.testing.emulator import ClientCredentials, StytchEmulator
from httpie_stytch_connected.testing.pytest_plugin import scripted_opener
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.adapters import ADAPTERS_IN_PROCESS, RUNS, get, library, send, stytch_auth
from tests.lifecycle import expire_stored
from tests.loopback import LoopbackServer, QuietHandler

#: What a provider call's form carries besides the secrets' values: a body that reached the
#: exception shows these names even when its values are not known to the test.
FORM_FIELDS = ("refresh_token=", "code_verifier=", "client_secret=", "grant_type=")
#: Objects walked from one exception at most: far more than any clean chain holds.
BOUND = 20_000
#: Not walked: shared by everything (a module's globals, a class's namespace), or holding
#: nothing an exception was given.
_SKIPPED = (
    types.ModuleType,
    type,
    types.BuiltinFunctionType,
    type(threading.Lock()),
    threading.Thread,
)


def _children(value: object) -> list[object]:
    found: list[object] = []
    if isinstance(value, BaseException):
        found += [value.__context__, value.__cause__, *value.args]
    for name in ("request", "response"):  # properties too (httpx's raise when unset)
        try:
            found.append(getattr(value, name))
        except Exception:  # noqa: S112 - not set: nothing to reach
            continue
    if isinstance(value, Mapping):
        found += [*value.keys(), *value.values()]
    elif isinstance(value, (list, tuple, set, frozenset)):
        found += list(value)
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict):
        found += list(attributes.values())
    for slot in getattr(type(value), "__slots__", ()):
        if isinstance(slot, str) and hasattr(value, slot):
            found.append(getattr(value, slot))
    return found


def reachable_text(error: BaseException) -> Iterator[str]:
    """Every string or bytes value (decoded) reachable from ``error``, within :data:`BOUND`."""
    seen: set[int] = set()
    todo: list[object] = [error]
    while todo:
        value = todo.pop()
        if id(value) in seen or value is None or isinstance(value, _SKIPPED):
            continue
        seen.add(id(value))
        assert len(seen) <= BOUND, "the walk never ended: raise BOUND or look at the chain"
        if isinstance(value, str):
            yield value
        elif isinstance(value, (bytes, bytearray, memoryview)):
            yield bytes(value).decode("latin-1")
        elif not isinstance(value, (int, float, complex)):
            todo.extend(_children(value))


def assert_nothing_reaches(error: BaseException, secrets: list[str]) -> None:
    """Neither a value of ``secrets`` nor a provider call's form is reachable from ``error``."""
    assert all(secrets), "a secret to look for is empty"
    for text in reachable_text(error):
        for secret in secrets:
            assert secret not in text, f"a secret is reachable from {type(error).__name__}"
        for field in FORM_FIELDS:
            assert field not in text, f"{field!r} is reachable from {type(error).__name__}"


def _fails(adapter: str, auth: Any, url: str) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as caught:
        send(adapter, auth, "GET", url)
    return caught.value


# -- a refresh --------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["provider down", "reset", "500"])
@pytest.mark.parametrize("adapter", ADAPTERS_IN_PROCESS)
def test_a_failed_refresh_lets_no_refresh_token_be_reached(
    adapter: str, fault: str, stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    auth = stytch_auth(adapter, opener=scripted_opener(), notify=lambda _: None)
    assert send(adapter, auth, "GET", stytch_resource_server.url).status_code == 200
    expire_stored(auth.manager.key)
    refresh_tokens = stytch_env.issued_refresh_tokens()
    if fault == "provider down":
        stytch_env.stop()  # its port is closed: the refresh cannot connect
    else:
        stytch_env.inject_token_fault(fault, count=10)  # every retry fails
    later = stytch_auth(adapter, opener=scripted_opener("deny"), notify=lambda _: None)
    error = _fails(adapter, later, stytch_resource_server.url)
    assert "refresh" in str(error)
    assert_nothing_reaches(error, refresh_tokens)


@pytest.mark.parametrize(("adapter", "backend"), RUNS)
def test_a_refresh_failed_by_the_client_s_own_transport_lets_no_refresh_token_be_reached(
    adapter: str,
    backend: str,
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
) -> None:
    """An httpx (httpx2) user's refresh goes through their client's transport for the
    provider (here a mount that fails it with ``ConnectError``, whose ``request`` holds the
    refresh form, as httpx's own errors do): the user gets their library's ``HTTPError``, and
    neither the refresh token nor the form hangs anywhere off it."""
    lib = library(adapter)
    auth = stytch_auth(adapter, opener=scripted_opener(), notify=lambda _: None)
    assert send(adapter, auth, "GET", stytch_resource_server.url).status_code == 200
    expire_stored(auth.manager.key)
    refresh_tokens = stytch_env.issued_refresh_tokens()

    def refuse(request: Any) -> Any:
        raise lib.ConnectError("refused", request=request)

    mounts = {stytch_env.url: lib.MockTransport(refuse)}
    later = stytch_auth(adapter, opener=scripted_opener("deny"), notify=lambda _: None)
    with pytest.raises(lib.HTTPError) as caught:
        get(adapter, backend, later, stytch_resource_server.url, mounts=mounts)
    assert isinstance(caught.value, AuthenticationError) and "refresh" in str(caught.value)
    assert_nothing_reaches(caught.value, refresh_tokens)
    assert stytch_env.counters["token_refresh_ok"] == 0


class _RefusesEveryToken(QuietHandler):
    """An API that answers 401 to every request."""

    def do_GET(self) -> None:
        self.reply(401, b"{}", headers={"WWW-Authenticate": "Bearer"})


@pytest.mark.parametrize("adapter", ADAPTERS_IN_PROCESS)
def test_a_failed_renewal_after_a_401_lets_no_access_token_be_reached(
    adapter: str, stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    """The API refuses the access token and the provider is down: the error about the request
    that carried that token holds neither it (the request's Authorization header, the redirect
    guard in its extensions) nor the refresh token."""
    auth = stytch_auth(adapter, opener=scripted_opener(), notify=lambda _: None)
    assert send(adapter, auth, "GET", stytch_resource_server.url).status_code == 200
    [access_token] = stytch_resource_server.tokens_seen
    refresh_tokens = stytch_env.issued_refresh_tokens()
    stytch_env.stop()  # the renewal's refresh cannot connect
    with LoopbackServer(_RefusesEveryToken) as api:
        error = _fails(adapter, auth, api.url + "/api")
    assert "refresh" in str(error)
    assert_nothing_reaches(error, [access_token, *refresh_tokens])


# -- a code exchange --------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["reset", "500"])
@pytest.mark.parametrize("adapter", ADAPTERS_IN_PROCESS)
def test_a_failed_code_exchange_lets_no_code_or_verifier_be_reached(
    adapter: str, fault: str, stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    stytch_env.inject_token_fault(fault)  # the sign-in's one token request: the exchange
    auth = stytch_auth(adapter, opener=scripted_opener(), notify=lambda _: None)
    error = _fails(adapter, auth, stytch_resource_server.url)
    assert stytch_env.counters["codes_issued"] == 1  # the person signed in: a code was sent
    codes = list(stytch_env._codes)  # the emulator's own record of the codes it issued
    assert_nothing_reaches(error, codes)


# -- client credentials -----------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["reset", "500"])
@pytest.mark.parametrize("adapter", ADAPTERS_IN_PROCESS)
def test_a_failed_client_credentials_grant_lets_no_client_secret_be_reached(
    adapter: str,
    fault: str,
    stytch_zero_env: StytchEmulator,
    stytch_m2m_client: ClientCredentials,
    stytch_resource_server: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = str(stytch_m2m_client.client_secret)
    basic = base64.b64encode(f"{stytch_m2m_client.client_id}:{secret}".encode()).decode()
    monkeypatch.setenv("BROWSER", "false")  # a machine: nothing may sign in
    stytch_zero_env.inject_token_fault(fault, count=10)
    auth = stytch_auth(
        adapter,
        project_domain=stytch_zero_env.project_domain,
        client_id=stytch_m2m_client.client_id,
        client_secret=secret,
    )
    error = _fails(adapter, auth, stytch_resource_server.url)
    assert stytch_zero_env.counters["token_faults"] >= 1  # the grant was asked for, and failed
    assert_nothing_reaches(error, [secret, basic])
    forget_memory()
