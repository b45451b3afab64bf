"""Client registrations the server no longer honours never trap the person (issue 18 §1):
a refused registration is replaced once with a line saying so, a registration answer is used
as the server made it, registrations never loop, and a sign-in that gets no answer with a
registered client forgets that registration for the next run."""

from __future__ import annotations

import os
import re
import shlex
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from httpie_stytch_connected.errors import ConfigurationError, LoginError, TokenEndpointError
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.storage.metadata_cache import (
    UNUSABLE_TTL,
    forget_unusable,
    remember_unusable,
    unusable,
)
from httpie_stytch_connected.testing.emulator import StytchEmulator, example_api
from httpie_stytch_connected.testing.resource_server import ResourceServer
from httpie_stytch_connected.testing.user_agent import ScriptedUserAgent
from httpie_stytch_connected.zero_config.binding import BindingCache
from tests.adapters import ADAPTERS, ADAPTERS_IN_PROCESS, oauth2_auth, send
from tests.command import cli
from tests.httpie_harness import run_http
from tests.zero_config.test_zero_config import expire


@pytest.fixture
def api(stytch_zero_env: StytchEmulator) -> Iterator[ResourceServer]:
    with example_api(stytch_zero_env) as server:
        yield server


def browser_that_stays_open(url: str) -> bool:
    """A browser as a person has one: it opens the page and stays on it, whatever it shows
    (the scripted user agent does what the person would on the emulator's pages)."""
    with ScriptedUserAgent() as agent:
        agent.open(url)
    return True


def registered_client(url: str) -> str:
    binding = BindingCache().lookup(url)
    assert binding is not None and binding.client_source == "registered"
    return binding.client_id


@pytest.mark.parametrize("adapter", ADAPTERS_IN_PROCESS)
def test_a_deleted_registration_refused_at_refresh_is_replaced_once_and_said(
    adapter: str, stytch_zero_env: StytchEmulator, api: ResourceServer
) -> None:
    assert send(adapter, oauth2_auth(adapter), "GET", api.url).status_code == 200
    stytch_zero_env.forget_client(registered_client(api.url))  # the server pruned it
    expire(api.url)
    notes: list[str] = []
    response = send(adapter, oauth2_auth(adapter, notify=notes.append), "GET", api.url)
    assert response.status_code == 200, response.text
    assert any("refused the client registered for this tool" in n for n in notes), notes
    assert stytch_zero_env.counters["register"] == 2
    forget_memory()
    assert send(adapter, oauth2_auth(adapter), "GET", api.url).status_code == 200
    assert stytch_zero_env.counters["register"] == 2 and stytch_zero_env.counters["login"] == 2


def test_a_deleted_registration_whose_page_refuses_it_is_forgotten_for_the_next_run(
    stytch_zero_env: StytchEmulator, api: ResourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refresh answers ``invalid_grant`` and the authorization page shows its refusal to
    the person only: no answer comes back. That registration is forgotten, so the next run
    registers a new one instead of replaying the dead one."""
    monkeypatch.setenv("STYTCH_LOGIN_TIMEOUT", "2")
    assert send("requests", oauth2_auth("requests"), "GET", api.url).status_code == 200
    dead = registered_client(api.url)
    stytch_zero_env.forget_client(dead)
    stytch_zero_env.unknown_client_error = "invalid_grant"
    expire(api.url)
    auth = oauth2_auth("requests", opener=browser_that_stays_open)
    with pytest.raises(LoginError, match="it was forgotten") as caught:
        send("requests", auth, "GET", api.url)
    assert dead in str(caught.value)
    forget_memory()
    assert send("requests", oauth2_auth("requests"), "GET", api.url).status_code == 200
    assert registered_client(api.url) != dead
    assert stytch_zero_env.counters["register"] == 2


def test_a_confidential_answer_without_a_method_uses_client_secret_basic(
    stytch_zero_env: StytchEmulator, api: ResourceServer
) -> None:
    """RFC 7591 §2: a registration answer with a secret and no method means
    ``client_secret_basic``, though a public client was asked for."""
    stytch_zero_env.registration_auth_method = "client_secret_basic"
    stytch_zero_env.registration_omits_auth_method = True
    stytch_zero_env.token_endpoint_auth_methods = ["none", "client_secret_basic"]
    stytch_zero_env.strict_client_auth_method = True
    assert send("requests", oauth2_auth("requests"), "GET", api.url).status_code == 200
    client = registered_client(api.url)
    assert ("token", client, "client_secret_basic") in stytch_zero_env.client_auth_seen
    assert stytch_zero_env.counters["register"] == 1


def test_a_server_that_refuses_what_it_registers_gets_two_registrations_never_more(
    stytch_zero_env: StytchEmulator, api: ResourceServer
) -> None:
    """Each registered client must use client_secret_post but the answer names no method (so
    RFC 7591 §2 says basic): every sign-in ends in ``invalid_client``. One replacement in the
    first run, then an error; the next run registers nothing."""
    stytch_zero_env.registration_auth_method = "client_secret_post"
    stytch_zero_env.registration_omits_auth_method = True
    stytch_zero_env.strict_client_auth_method = True
    with pytest.raises(TokenEndpointError) as caught:
        send("requests", oauth2_auth("requests"), "GET", api.url)
    assert caught.value.error == "invalid_client"
    assert stytch_zero_env.counters["register"] == 2
    forget_memory()
    with pytest.raises(ConfigurationError, match="registering again would not help"):
        send("requests", oauth2_auth("requests"), "GET", api.url)
    assert stytch_zero_env.counters["register"] == 2


def test_rfc_7592_finds_a_deleted_registration_before_the_browser_opens(
    stytch_zero_env: StytchEmulator, api: ResourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the server offers RFC 7592, a sign-in with a registered client first asks whether
    the client still exists: a pruned one is replaced before any browser shows its error."""
    monkeypatch.setenv("STYTCH_LOGIN_TIMEOUT", "2")
    stytch_zero_env.client_configuration = True
    assert send("requests", oauth2_auth("requests"), "GET", api.url).status_code == 200
    dead = registered_client(api.url)
    stytch_zero_env.forget_client(dead)
    stytch_zero_env.unknown_client_error = "invalid_grant"
    expire(api.url)
    stytch_zero_env.reset_counters()
    notes: list[str] = []
    auth = oauth2_auth("requests", opener=browser_that_stays_open, notify=notes.append)
    assert send("requests", auth, "GET", api.url).status_code == 200
    counters = stytch_zero_env.counters
    assert counters["register"] == 1 and counters["authorize_page"] == 1  # not the dead one
    assert counters["registration_read"] == 2  # the dead client, then its replacement
    assert any(dead in note and "registering a new one" in note for note in notes), notes


def test_rfc_7592_saying_the_client_exists_keeps_it(
    stytch_zero_env: StytchEmulator, api: ResourceServer
) -> None:
    stytch_zero_env.client_configuration = True
    assert send("requests", oauth2_auth("requests"), "GET", api.url).status_code == 200
    client = registered_client(api.url)
    stytch_zero_env.revoke_all()  # the refresh is refused: a sign-in, with the same client
    expire(api.url)
    stytch_zero_env.reset_counters()
    assert send("requests", oauth2_auth("requests"), "GET", api.url).status_code == 200
    counters = stytch_zero_env.counters
    assert counters["registration_read"] == 1 and counters["register"] == 0
    assert registered_client(api.url) == client


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ({"token_endpoint_auth_method": "private_key_jwt"}, "private_key_jwt"),
        ({"token_endpoint_auth_method": "client_secret_post"}, "no client_secret"),
        ({"grant_types": ["client_credentials"]}, "authorization_code"),
    ],
)
def test_a_registration_answer_the_tool_cannot_use_is_said_before_any_browser_opens(
    stytch_zero_env: StytchEmulator, api: ResourceServer, extra: dict[str, object], said: str
) -> None:
    stytch_zero_env.registration_answer_extra = extra
    with pytest.raises(ConfigurationError, match="registered a client this tool cannot use") as e:
        send("requests", oauth2_auth("requests"), "GET", api.url)
    assert said in str(e.value)
    counters = stytch_zero_env.counters
    assert counters["register"] == 1 and counters["authorize_page"] == 0


def unusable_answer(emulator: StytchEmulator) -> None:
    """Every registration is answered with a client that must use private_key_jwt."""
    emulator.registration_answer_extra = {"token_endpoint_auth_method": "private_key_jwt"}


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_an_unusable_registration_answer_is_remembered_not_registered_again_until_logout(
    adapter: str, stytch_zero_env: StytchEmulator, api: ResourceServer
) -> None:
    """Servers cap registrations: a registration endpoint that answered with a client this tool
    cannot use gets no other registration on later runs (the same line is said, before
    anything is sent there), until ``logout --resource`` forgets it."""
    unusable_answer(stytch_zero_env)
    with pytest.raises(ConfigurationError, match="registered a client this tool cannot use"):
        send("requests", oauth2_auth("requests"), "GET", api.url)
    assert stytch_zero_env.counters["register"] == 1
    forget_memory()
    said = "earlier registered a client this tool cannot use (it must authenticate with "
    if adapter == "httpie":  # its one error line, from a child process
        result, _ = run_http(["-A", "oauth2", "GET", api.url], dict(os.environ), None, 90)
        assert result.status == 1 and said in result.stderr, result.stderr
        lines = result.stderr.strip().splitlines()  # HTTPie pads its error with blank lines
        assert len(lines) == 1 and f"--resource {api.resource}`" in lines[0], result.stderr
    else:
        with pytest.raises(ConfigurationError, match=re.escape(said)) as caught:
            send(adapter, oauth2_auth(adapter), "GET", api.url)
        assert f"logout --resource {api.resource}`" in str(caught.value)
    counters = stytch_zero_env.counters
    assert counters["register"] == 1 and counters["authorize_page"] == 0
    logout = cli("logout", "--resource", api.url)
    assert logout.returncode == 0, logout.stderr
    assert "registered a client this tool cannot use; the next run registers" in logout.stderr
    stytch_zero_env.registration_answer_extra = {}  # the server's owner fixed it
    forget_memory()
    assert send(adapter, oauth2_auth(adapter), "GET", api.url).status_code == 200
    assert stytch_zero_env.counters["register"] == 2


def test_the_advice_for_an_unusable_registration_works_when_followed(
    stytch_zero_env: StytchEmulator, api: ResourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The line names the settings that work: a client ID is sent only to the server
    configured with it, so the issuer is set too, and the client signs in at the configured
    redirect URL, which is what the person registers it with."""
    unusable_answer(stytch_zero_env)
    with pytest.raises(ConfigurationError) as caught:
        send("requests", oauth2_auth("requests"), "GET", api.url)
    advice = re.search(
        r"set STYTCH_ISSUER=(\S+) and STYTCH_SCOPES=('[^']+') and STYTCH_CLIENT_ID to a client "
        r"registered there for this CLI with the redirect URL (\S+) ",
        str(caught.value),
    )
    assert advice is not None, caught.value
    issuer, scopes, redirect = advice.groups()
    assert issuer == stytch_zero_env.issuer
    assert redirect in stytch_zero_env.redirect_uris  # the emulator's client was registered so
    monkeypatch.setenv("STYTCH_ISSUER", issuer)
    monkeypatch.setenv("STYTCH_SCOPES", shlex.split(scopes)[0])
    monkeypatch.setenv("STYTCH_CLIENT_ID", stytch_zero_env.client_id)
    forget_memory()
    assert send("requests", oauth2_auth("requests"), "GET", api.url).status_code == 200
    assert stytch_zero_env.counters["register"] == 1
    client, sent = stytch_zero_env.authorization_requests[-1]
    parts = urlsplit(sent)
    assert client == stytch_zero_env.client_id
    assert f"{parts.scheme}://{parts.hostname}{parts.path}" == redirect  # on any port


def test_an_unusable_registration_is_remembered_for_a_day_and_what_is_kept_is_checked(
    stytch_keyring: object,
) -> None:
    endpoint = "https://login.example.com/register"
    remember_unusable(endpoint, "its grant_types leave out authorization_code", None)
    assert unusable(endpoint) == "its grant_types leave out authorization_code"
    assert unusable(endpoint, now=time.time() + UNUSABLE_TTL + 1) is None
    assert unusable("https://login.example.com/other") is None
    remember_unusable(endpoint, "\x1b]0;owned\x07", "https://api.example.com")
    assert unusable(endpoint) == "its answer could not be used"
    assert forget_unusable("https://api.example.com/v1/things") == [endpoint]
    assert unusable(endpoint) is None


@pytest.mark.parametrize("fault", ["limit:150", "truncate:150"])
def test_a_registration_the_keyring_keeps_in_parts_is_found_again_not_registered_anew(
    stytch_zero_env: StytchEmulator,
    api: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
) -> None:
    """A keyring that refuses or shortens long values (and every Windows one: values there are
    always written in parts) keeps a confidential registration's record in parts: the next run
    reads it back whole, so it refreshes with that client instead of registering another and
    signing in again on every run."""
    monkeypatch.setenv("STYTCH_TEST_KEYRING_FAULT", fault)
    stytch_zero_env.registration_auth_method = "client_secret_basic"
    assert send("requests", oauth2_auth("requests"), "GET", api.url).status_code == 200
    client = registered_client(api.url)
    expire(api.url)
    forget_memory()
    assert send("requests", oauth2_auth("requests"), "GET", api.url).status_code == 200
    counters = stytch_zero_env.counters
    assert counters["register"] == 1 and counters["authorize_page"] == 1
    assert counters["token_refresh_ok"] == 1
    assert registered_client(api.url) == client
