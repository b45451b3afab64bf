"""Issue 17 §2, the confused deputy: an API that names the person's own authorization server
gets no sign-in there unless the person agreed to that (API, server) pair.

The person's real API and a hostile one are two example APIs of one emulator, which ignores
RFC 8707 ``resource`` as Stytch does: a token issued "for" the hostile API works on the real
one. Each request runs in a child process with a real pseudo-terminal, or none
(:mod:`tests.zero_config.terminal`), through every adapter.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from httpie_stytch_connected.auth import OAuth2PKCEAuth
from httpie_stytch_connected.errors import ConfigurationError
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.settings.config import load_settings
from httpie_stytch_connected.storage.store import KeyringStore
from httpie_stytch_connected.testing.emulator import StytchEmulator, example_api
from httpie_stytch_connected.testing.resource_server import ResourceServer
from httpie_stytch_connected.zero_config.binding import BindingCache
from httpie_stytch_connected.zero_config.consent import unbound_audience
from tests.adapters import ADAPTERS, oauth2_auth, send
from tests.command import one_line_error
from tests.zero_config.terminal import PROMPT, Run, run_request

#: What the emulator counts for a sign-in that got anywhere.
SIGN_IN = ("register", "authorize_page", "login")


@pytest.fixture
def mine(
    stytch_zero_env: StytchEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ResourceServer]:
    """The person's real API, signed in to (the fixture trusts the emulator); afterwards no
    setting trusts anything, as for a person who set nothing."""
    with example_api(stytch_zero_env) as api:
        assert requests.get(api.url, auth=OAuth2PKCEAuth(), timeout=30).status_code == 200
        monkeypatch.delenv("STYTCH_TRUSTED_ISSUERS")
        forget_memory()
        yield api


@pytest.fixture
def hostile(stytch_zero_env: StytchEmulator) -> Iterator[ResourceServer]:
    """An API that names the same authorization server."""
    with example_api(stytch_zero_env) as api:
        yield api


def counts(emulator: StytchEmulator) -> dict[str, int]:
    return {name: emulator.counters[name] for name in SIGN_IN}


def request(
    adapter: str, api: ResourceServer, *, terminal: bool = True, answer: str | None = None
) -> Run:
    """A POST with a body: HTTPie's stdin is the body, so the answer cannot come from it."""
    return run_request(
        adapter,
        api.url,
        dict(os.environ),
        method="POST",
        body=b'{"n": 1}',
        terminal=terminal,
        answer=answer,
    )


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_without_a_terminal_an_api_naming_the_persons_server_gets_no_sign_in(
    adapter: str, stytch_zero_env: StytchEmulator, mine: ResourceServer, hostile: ResourceServer
) -> None:
    before = counts(stytch_zero_env)
    run = request(adapter, hostile, terminal=False)
    assert run.code != 0 and "200" not in run.stdout
    issuer = stytch_zero_env.issuer
    sentence = f"Not signing in at {issuer} for {hostile.resource}, where this tool already"
    assert sentence in run.stderr, run.stderr
    assert "STYTCH_HOSTS" in run.stderr and "STYTCH_TRUSTED_ISSUERS" in run.stderr
    assert counts(stytch_zero_env) == before  # not registered, no page, no code
    assert not hostile.tokens_seen and BindingCache().lookup(hostile.url) is None


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_on_a_terminal_the_person_learns_the_server_and_what_is_held_there_and_agrees_once(
    adapter: str, stytch_zero_env: StytchEmulator, mine: ResourceServer, hostile: ResourceServer
) -> None:
    run = request(adapter, hostile, answer="y")
    assert run.code == 0 and run.stdout.strip() == "200", run.stderr
    issuer = stytch_zero_env.issuer
    assert f"{hostile.resource} asks you to sign in at {issuer}." in run.screen
    assert f"already signs you in there for {mine.resource};" in run.screen
    assert run.screen.count(PROMPT) == 1
    assert PROMPT not in run.stdout + run.stderr  # the question is on the terminal only
    assert counts(stytch_zero_env)["login"] == 2
    # Remembered with the binding: a later process, even without a terminal, is not asked.
    again = request(adapter, hostile)
    assert again.code == 0 and again.stdout.strip() == "200", again.stderr
    assert again.screen == "" and counts(stytch_zero_env)["login"] == 2


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_answering_no_signs_in_nowhere_and_says_so(
    adapter: str, stytch_zero_env: StytchEmulator, mine: ResourceServer, hostile: ResourceServer
) -> None:
    before = counts(stytch_zero_env)
    run = request(adapter, hostile, answer="n")
    assert PROMPT in run.screen and run.code != 0
    assert "you answered no; to sign in, run again and answer y." in run.stderr, run.stderr
    assert counts(stytch_zero_env) == before and not hostile.tokens_seen
    assert BindingCache().lookup(hostile.url) is None  # asked again next time


def test_no_answer_within_the_login_timeout_is_a_no(
    stytch_zero_env: StytchEmulator, mine: ResourceServer, hostile: ResourceServer
) -> None:
    env = {**os.environ, "STYTCH_LOGIN_TIMEOUT": "1"}
    run = run_request("requests", hostile.url, env, answer=None)
    assert PROMPT in run.screen and "no answer within 1 seconds" in run.stderr, run.stderr
    assert counts(stytch_zero_env)["authorize_page"] == 1  # mine's, not this one's


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("setting", ["STYTCH_HOSTS", "STYTCH_TRUSTED_ISSUERS"])
def test_a_setting_that_names_the_api_or_the_server_is_the_persons_yes(
    adapter: str,
    setting: str,
    stytch_zero_env: StytchEmulator,
    mine: ResourceServer,
    hostile: ResourceServer,
) -> None:
    value = hostile.origin.split("//")[1] if setting == "STYTCH_HOSTS" else stytch_zero_env.issuer
    env = {**os.environ, setting: value}
    run = run_request(adapter, hostile.url, env)  # a terminal, and nothing typed
    assert run.code == 0 and run.stdout.strip() == "200", run.stderr
    assert run.screen == ""


def test_the_settings_name_the_server_not_a_lookalike(
    stytch_zero_env: StytchEmulator, mine: ResourceServer, hostile: ResourceServer
) -> None:
    env = {**os.environ, "STYTCH_TRUSTED_ISSUERS": stytch_zero_env.issuer + "/tenant"}
    run = run_request("requests", hostile.url, env, terminal=False)
    assert "Not signing in" in run.stderr and counts(stytch_zero_env)["login"] == 1


def test_the_server_as_a_person_writes_it_is_the_same_server(
    stytch_zero_env: StytchEmulator, mine: ResourceServer, hostile: ResourceServer
) -> None:
    """A trailing ``/`` or an upper-case host names the same server (RFC 3986 §6.2.3)."""
    written = stytch_zero_env.issuer.replace("127.0.0.1", "127.0.0.1".upper()) + "/"
    env = {**os.environ, "STYTCH_TRUSTED_ISSUERS": written}
    run = run_request("requests", hostile.url, env, terminal=False)
    assert run.code == 0 and run.stdout.strip() == "200", run.stderr


def test_the_command_without_a_terminal_refuses_in_one_line(
    stytch_zero_env: StytchEmulator, mine: ResourceServer, hostile: ResourceServer
) -> None:
    """``stytch-connected login --resource URL`` walks the same chain: the same agreement."""
    command = Path(sys.executable).with_name("stytch-connected")
    result = subprocess.run(
        [str(command), "login", "--resource", hostile.url],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        start_new_session=True,  # no terminal, whatever the test run has
    )
    line = one_line_error(result)
    assert f"Not signing in at {stytch_zero_env.issuer} for {hostile.resource}" in line
    assert counts(stytch_zero_env)["authorize_page"] == 1  # mine's only


def test_the_first_api_at_a_new_server_is_asked_about_too(
    stytch_zero_env: StytchEmulator, hostile: ResourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STYTCH_TRUSTED_ISSUERS")
    run = request("requests", hostile, answer="y")
    assert "This tool holds nothing there yet." in run.screen and run.code == 0, run.stderr


# -- the token's audience ------------------------------------------------------------------


def said_unbound(lines: str) -> list[str]:
    return [line for line in lines.splitlines() if "does not name that API" in line]


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_token_whose_audience_does_not_name_the_api_is_said_once_per_binding(
    adapter: str, stytch_zero_env: StytchEmulator, hostile: ResourceServer
) -> None:
    notes: list[str] = []
    parts = {} if adapter == "httpie" else {"notify": notes.append}
    first = send(adapter, oauth2_auth(adapter, **parts), "GET", hostile.url)
    assert first.status_code == 200
    lines = said_unbound(getattr(first, "stderr", "") + "\n".join(notes))
    binding = BindingCache().lookup(hostile.url)
    assert binding is not None and binding.unbound_said
    stored = KeyringStore().load(binding.key)
    assert stored is not None and stored.access_token not in "\n".join(lines)
    assert lines == [
        f"{stytch_zero_env.issuer} issued a token for {hostile.resource} whose audience "
        f"({stytch_zero_env.project_id}) does not name that API: the server ignored the API it "
        "was asked for, so any API that accepts this server's tokens may accept this one too."
    ]
    notes.clear()
    forget_memory()  # a later run, and a step-up (a new sign-in) for the same binding
    again = send(adapter, oauth2_auth(adapter, **parts), "POST", hostile.origin + "/api/admin")
    assert again.status_code == 200 and stytch_zero_env.counters["login"] == 2
    assert said_unbound(getattr(again, "stderr", "") + "\n".join(notes)) == []


def _jwt(claims: object) -> str:
    def part(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


@pytest.mark.parametrize(
    ("aud", "said"),
    [
        ("https://api.example.com/api", None),
        (["other", "https://api.example.com/api"], None),
        ("https://api.example.com", None),  # a resource that contains the API
        ("project-test-1", "project-test-1"),
        (["https://api.example.com/apiv2", "x"], "https://api.example.com/apiv2 x"),
        ("https://evil.example/api", "https://evil.example/api"),
        ("proj\x1b[2Jx", "proj[2Jx"),  # shown: no escape reaches the terminal
    ],
)
def test_the_audience_is_read_from_a_jwt_and_compared_as_a_resource(
    aud: object, said: str | None
) -> None:
    assert unbound_audience(_jwt({"aud": aud}), "https://api.example.com/api") == said


@pytest.mark.parametrize("token", ["opaque-token", "a.b.c", _jwt({"sub": "x"}), _jwt([1])])
def test_a_token_that_says_nothing_readable_is_not_called_unbound(token: str) -> None:
    assert unbound_audience(token, "https://api.example.com/api") is None


@pytest.mark.parametrize(
    "bad", ["login.example.com", "ftp://login.example.com", "https://", "https://a?x=1"]
)
def test_trusted_issuers_are_issuer_urls(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="trusted_issuers from argument is invalid"):
        load_settings({"trusted_issuers": bad}, {"STYTCH_CONFIG": "/nonexistent.toml"})


def test_trusted_issuers_are_kept_exactly_as_written() -> None:
    settings = load_settings(
        {},
        {"STYTCH_CONFIG": "/nonexistent.toml", "STYTCH_TRUSTED_ISSUERS": "https://a/, https://b"},
    )
    assert settings.trusted_issuers == ("https://a/", "https://b")
