"""A token endpoint that moved is found again from the server's metadata, not by a sign-in
(issue 18 §2): a token request the cached endpoint answers as if it were not there (404, 410,
405, a redirect) makes the tool read the authorization server's metadata once more, bypassing
its cache; a new endpoint is used and said in one line, the same dead one is one error that
names it, and no browser opens either way."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from httpie_stytch_connected.errors import AuthenticationError
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.testing.emulator import StytchEmulator, example_api
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.adapters import ADAPTERS, ADAPTERS_IN_PROCESS, oauth2_auth, send, stderr_of
from tests.command import cli
from tests.lifecycle import slow_token_endpoint
from tests.zero_config.test_zero_config import binding_of, expire

MOVED = "/v2/oauth2/token"
THREADS = 8


@pytest.fixture
def api(stytch_zero_env: StytchEmulator) -> Iterator[ResourceServer]:
    with example_api(stytch_zero_env) as server:
        yield server


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_moved_token_endpoint_is_found_in_fresh_metadata_without_a_sign_in(
    adapter: str,
    stytch_zero_env: StytchEmulator,
    api: ResourceServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert send(adapter, oauth2_auth(adapter), "GET", api.url).status_code == 200
    old = binding_of(api.url).token_endpoint
    stytch_zero_env.token_path = MOVED
    expire(api.url)  # the next request refreshes, at the cached endpoint first
    capsys.readouterr()
    metadata_before = stytch_zero_env.counters["metadata"]
    answer = send(adapter, oauth2_auth(adapter), "GET", api.url)
    assert answer.status_code == 200, answer.text
    counters = stytch_zero_env.counters
    assert counters["token_gone"] == 1 and counters["token_refresh_ok"] == 1
    assert counters["login"] == 1 and counters["authorize_page"] == 1  # no sign-in
    assert counters["metadata"] == metadata_before + 1  # read again, not from the cache
    said = stderr_of(adapter, answer, capsys)
    assert said.count(f"moved from {old} to {stytch_zero_env.token_endpoint}") == 1, said
    assert "signing in again" not in said
    assert binding_of(api.url).token_endpoint == stytch_zero_env.token_endpoint
    expire(api.url)
    assert send(adapter, oauth2_auth(adapter), "GET", api.url).status_code == 200
    assert counters["token_gone"] == 1 and counters["metadata"] == metadata_before + 1


@pytest.mark.parametrize("adapter", ADAPTERS_IN_PROCESS)
def test_a_token_endpoint_still_dead_after_fresh_metadata_is_one_error_not_a_sign_in(
    adapter: str, stytch_zero_env: StytchEmulator, api: ResourceServer
) -> None:
    assert send(adapter, oauth2_auth(adapter), "GET", api.url).status_code == 200
    stytch_zero_env.token_gone = True
    for run in (1, 2):
        expire(api.url)
        with pytest.raises(AuthenticationError) as caught:
            send(adapter, oauth2_auth(adapter), "GET", api.url)
        said = str(caught.value)
        assert f"The token endpoint {stytch_zero_env.token_endpoint} of " in said, said
        assert "HTTP 404" in said and "\n" not in said
        counters = stytch_zero_env.counters
        assert counters["token_gone"] == run and counters["login"] == 1
        assert counters["authorize_page"] == 1  # never a browser for it


def test_a_dead_token_endpoint_used_nothing_up_so_a_refresh_works_once_it_answers(
    stytch_zero_env: StytchEmulator, api: ResourceServer
) -> None:
    """A 404 at the token endpoint used nothing up: the stored tokens stay, and once the
    server answers again the refresh works without a sign-in."""
    assert send("requests", oauth2_auth("requests"), "GET", api.url).status_code == 200
    stytch_zero_env.token_gone = True
    expire(api.url)
    with pytest.raises(AuthenticationError):
        send("requests", oauth2_auth("requests"), "GET", api.url)
    stytch_zero_env.token_gone = False
    forget_memory()
    assert send("requests", oauth2_auth("requests"), "GET", api.url).status_code == 200
    assert stytch_zero_env.counters["login"] == 1


def test_login_with_resource_follows_a_moved_token_endpoint_once(
    stytch_zero_env: StytchEmulator, api: ResourceServer
) -> None:
    """``stytch-connected login --resource``: the code meets the dead endpoint after the
    browser; the endpoint is looked up again and the sign-in repeated there, once. (The
    server sends its issuer URL as ``iss``, as on a custom domain: Stytch's default-domain form
    is accepted only with Stytch's own endpoint layout, which the moved endpoint leaves.)"""
    stytch_zero_env.iss_form = "custom_domain"
    assert cli("login", "--resource", api.url).returncode == 0
    stytch_zero_env.token_path = MOVED
    done = cli("login", "--resource", api.url)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(f"to {stytch_zero_env.token_endpoint}, as its metadata") == 1
    counters = stytch_zero_env.counters
    assert counters["token_gone"] == 1 and counters["login"] == 3
    assert binding_of(api.url).token_endpoint == stytch_zero_env.token_endpoint


@pytest.mark.parametrize("adapter", ADAPTERS_IN_PROCESS)
def test_a_dead_token_endpoint_costs_one_browser_sign_in_not_one_per_run(
    adapter: str, stytch_zero_env: StytchEmulator, api: ResourceServer
) -> None:
    """Nothing signed in yet and the token endpoint dead: the first run signs in and meets it;
    it is remembered, so later runs say the same line with no browser (asking the endpoint
    again, which uses nothing up); once it answers again, the next run signs in as usual."""
    stytch_zero_env.token_gone = True
    with pytest.raises(AuthenticationError) as caught:
        send(adapter, oauth2_auth(adapter), "GET", api.url)
    first = str(caught.value)
    assert "names no other, so neither a refresh nor a sign-in can finish" in first, first
    assert stytch_zero_env.counters["authorize_page"] == 1
    for run in (2, 3):
        forget_memory()
        with pytest.raises(AuthenticationError) as caught:
            send(adapter, oauth2_auth(adapter), "GET", api.url)
        assert str(caught.value) == first
        counters = stytch_zero_env.counters
        assert counters["authorize_page"] == 1, "a browser opened for a dead token endpoint"
        assert counters["token_gone"] == run
    stytch_zero_env.token_gone = False  # fixed where it was
    forget_memory()
    assert send(adapter, oauth2_auth(adapter), "GET", api.url).status_code == 200
    assert stytch_zero_env.counters["authorize_page"] == 2


def test_logout_resource_forgets_a_dead_token_endpoint(
    stytch_zero_env: StytchEmulator, api: ResourceServer
) -> None:
    """``logout --resource`` starts afresh: the next run signs in without asking first."""
    stytch_zero_env.token_gone = True
    with pytest.raises(AuthenticationError):
        send("requests", oauth2_auth("requests"), "GET", api.url)
    assert cli("logout", "--resource", api.url).returncode == 0
    forget_memory()
    with pytest.raises(AuthenticationError):
        send("requests", oauth2_auth("requests"), "GET", api.url)
    assert stytch_zero_env.counters["authorize_page"] == 2


def test_requests_waiting_on_an_attempt_that_met_a_dead_endpoint_get_its_one_line(
    stytch_zero_env: StytchEmulator, api: ResourceServer
) -> None:
    """Threads sharing one auth object queue behind the refresh that meets the dead endpoint
    (slowed, so that they do) and take its error: each one the same line, never a TypeError
    from copying that error for them."""
    auth = oauth2_auth("requests")
    assert send("requests", auth, "GET", api.url).status_code == 200
    stytch_zero_env.token_gone = True
    expire(api.url)
    forget_memory()
    slow_token_endpoint(stytch_zero_env, 1, seconds=2.0)
    start = threading.Barrier(THREADS)
    said: list[str] = []

    def one() -> None:
        start.wait(timeout=30)
        try:
            send("requests", auth, "GET", api.url)
        except AuthenticationError as exc:
            said.append(str(exc))
        except Exception as exc:  # what the test is about: no other kind of failure
            said.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=one) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(said) == THREADS
    assert all("names no other, so neither a refresh nor" in line for line in said), said
    assert stytch_zero_env.counters["authorize_page"] == 1
