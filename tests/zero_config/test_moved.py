"""An API that moved to another authorization server is followed there (issue 18 §2, RFC 9728
§5.2): a 401 that a token just obtained to cure a refusal does not cure makes the tool read the
API's resource metadata again, once per request; a new server is said in one line and agreed
to like a new API, and the binding to the old one gives way."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from httpie_stytch_connected.errors import ConfigurationError
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.testing.emulator import StytchEmulator, example_api
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.adapters import ADAPTERS, ADAPTERS_IN_PROCESS, oauth2_auth, send, stderr_of
from tests.zero_config.test_zero_config import binding_of

MOVED = "now names another authorization server"


@pytest.fixture
def api(stytch_zero_env: StytchEmulator) -> Iterator[ResourceServer]:
    with example_api(stytch_zero_env) as server:
        yield server


@pytest.fixture
def other() -> Iterator[StytchEmulator]:
    """Server B, where the API moves."""
    with StytchEmulator() as emulator:
        yield emulator


def signed_in_then_moved(
    adapter: str, first: StytchEmulator, other: StytchEmulator, api: ResourceServer
) -> None:
    """Signed in at ``first``; then the API moves to ``other`` and refuses ``first``'s tokens."""
    assert send(adapter, oauth2_auth(adapter), "GET", api.url).status_code == 200
    api.move_to(other.issuer, other.jwks_uri)
    forget_memory()


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_an_api_that_moved_to_another_server_is_followed_there_in_the_same_request(
    adapter: str,
    stytch_zero_env: StytchEmulator,
    other: StytchEmulator,
    api: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The 401 is met with a refresh at the old server; the refreshed token is refused too,
    so the metadata is read again, names the new server, and the request ends in a 200."""
    monkeypatch.setenv("STYTCH_TRUSTED_ISSUERS", f"{stytch_zero_env.issuer} {other.issuer}")
    signed_in_then_moved(adapter, stytch_zero_env, other, api)
    capsys.readouterr()
    metadata_before = api.counters["metadata"]
    answer = send(adapter, oauth2_auth(adapter), "POST", api.url, b"payload")
    assert answer.status_code == 200, answer.text
    assert answer.json()["echo"] == "payload"  # the body went whole on the last send
    said = stderr_of(adapter, answer, capsys)
    assert said.count(MOVED) == 1 and other.issuer in said, said
    assert api.counters["metadata"] == metadata_before + 1  # read again once, not cached
    assert stytch_zero_env.counters["token_refresh"] == 1  # the refresh that did not cure
    assert other.counters["register"] == 1 and other.counters["login"] == 1
    assert stytch_zero_env.counters["login"] == 1  # no sign-in at the old server
    assert binding_of(api.url).issuer == other.issuer
    assert stytch_zero_env.live_grants() == []  # the old server's grant was revoked
    forget_memory()
    assert send(adapter, oauth2_auth(adapter), "GET", api.url).status_code == 200
    assert other.counters["login"] == 1 and api.counters["metadata"] == metadata_before + 1


def test_a_new_server_without_a_terminal_or_a_setting_is_refused_clearly(
    stytch_zero_env: StytchEmulator,
    other: StytchEmulator,
    api: ResourceServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 17 §2 holds for a moved API: the person agrees to the new server (no terminal
    here, and only the old server is trusted), and nothing is sent there before."""
    signed_in_then_moved("requests", stytch_zero_env, other, api)
    capsys.readouterr()
    with pytest.raises(ConfigurationError, match="no terminal to ask you on") as caught:
        send("requests", oauth2_auth("requests"), "GET", api.url)
    assert other.issuer in str(caught.value)
    assert capsys.readouterr().err.count(MOVED) == 1
    assert other.counters["register"] == 0 and other.counters["authorize_page"] == 0
    assert binding_of(api.url).issuer == stytch_zero_env.issuer  # nothing agreed, nothing kept


@pytest.mark.parametrize("adapter", ADAPTERS_IN_PROCESS)
def test_an_api_that_keeps_refusing_but_names_the_same_server_reads_its_metadata_once(
    adapter: str, stytch_zero_env: StytchEmulator, other: StytchEmulator, api: ResourceServer
) -> None:
    """Never a loop: one reading of the metadata per request, and it changes nothing when the
    API still names the server it refuses tokens from."""
    signed_in_then_moved(adapter, stytch_zero_env, other, api)
    api.authorization_servers = [stytch_zero_env.issuer]  # refuses its tokens, names it still
    for run in (1, 2):
        before = api.counters["metadata"]
        answer = send(adapter, oauth2_auth(adapter), "GET", api.url)
        assert answer.status_code == 401
        assert api.counters["metadata"] == before + 1, run
        forget_memory()
    assert other.counters["metadata"] == 0 and other.counters["register"] == 0
