"""A configured provider asks for the scopes it was given, never those an API's challenge
names; so when the API answers ``403 insufficient_scope`` for a scope outside them, every
adapter hands the 403 back and says once, on stderr, which scope to add to ``scopes``. An MCP
client sees that 403 only as the SDK's "Server returned an error response"."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.adapters import ADAPTERS, Answer, send, stderr_of, stytch_auth

NEEDED = "write:data"


@pytest.fixture
def writes(stytch_env: StytchEmulator) -> Iterator[ResourceServer]:
    """``/api/resources`` needs ``read:data``; ``/api/notes`` needs ``write:data`` too."""
    with ResourceServer(
        jwks_uri=stytch_env.jwks_uri,
        issuer=stytch_env.issuer,
        audience=stytch_env.project_id,
        required_scope="read:data",
        routes={"/api/notes": f"read:data {NEEDED}"},
    ) as api:
        yield api


def one_line_naming_the_scope(
    adapter: str, answer: Answer, capsys: pytest.CaptureFixture[str]
) -> str:
    """The 403 came back, and stderr has exactly one line naming :data:`NEEDED`: that line."""
    assert answer.status_code == 403
    said = [line for line in stderr_of(adapter, answer, capsys).splitlines() if NEEDED in line]
    assert len(said) == 1, said
    return said[0]


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_403_for_a_scope_outside_the_configured_ones_names_the_scope_to_add(
    adapter: str,
    stytch_env: StytchEmulator,
    writes: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STYTCH_SCOPES", "openid offline_access read:data")
    auth = stytch_auth(adapter)
    assert send(adapter, auth, "GET", writes.url).status_code == 200
    capsys.readouterr()  # the sign-in's notices
    notes = writes.url.replace("/api/resources", "/api/notes")
    said = one_line_naming_the_scope(adapter, send(adapter, auth, "GET", notes), capsys)
    assert "STYTCH_SCOPES" in said and "insufficient_scope" in said
    assert stytch_env.counters["login"] == 1  # no sign-in for it: the scopes are the settings'


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_supplied_token_short_of_a_scope_says_to_supply_one_with_it(
    adapter: str,
    stytch_env: StytchEmulator,
    writes: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A supplied token is used as given: the way out is another token, not the settings."""
    monkeypatch.setenv("STYTCH_SCOPES", "openid offline_access read:data")
    token = stytch_auth("requests").manager.access_token()
    monkeypatch.setenv("STYTCH_ACCESS_TOKEN", token)
    capsys.readouterr()
    notes = writes.url.replace("/api/resources", "/api/notes")
    said = one_line_naming_the_scope(
        adapter, send(adapter, stytch_auth(adapter), "GET", notes), capsys
    )
    assert "STYTCH_ACCESS_TOKEN" in said and "STYTCH_SCOPES" not in said
    assert token not in said
