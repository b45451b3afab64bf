"""A configured provider's token endpoint that is not there any more (issue 18 §2): with an
``issuer``, the endpoint its metadata names now, read again once bypassing the cache, is used
at once (a refresh, or the code of a sign-in already made, is sent there); where the endpoint
is itself a setting (``token_endpoint``, a Stytch project), one line names that setting and
the tokens are kept. And a token endpoint found gone is remembered, so a run with no refresh
token fails at once with the same line instead of opening a browser whose code could not be
exchanged; it is asked again on each run, so a provider that answers again works at once."""

from __future__ import annotations

import pytest

from httpie_stytch_connected.errors import AuthenticationError
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.storage.store import KeyringStore
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.adapters import ADAPTERS, ADAPTERS_IN_PROCESS, oauth2_auth, send, stderr_of
from tests.command import cli
from tests.lifecycle import expire_stored

MOVED = "/v2/oauth2/token"


@pytest.fixture
def issuer_env(stytch_env: StytchEmulator, monkeypatch: pytest.MonkeyPatch) -> StytchEmulator:
    """The emulator configured by its issuer (discovery), not as a Stytch project; it sends
    its issuer URL as ``iss``, as on a custom domain (Stytch's default-domain form is accepted
    only with Stytch's own endpoint layout, which a moved endpoint leaves)."""
    for name in ("STYTCH_PROJECT_DOMAIN", "STYTCH_AUTHORIZE_URL"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("STYTCH_ISSUER", stytch_env.issuer)
    stytch_env.iss_form = "custom_domain"
    return stytch_env


def error_of(adapter: str, url: str) -> str:
    """The one line a run through ``adapter`` that cannot get a token ends with."""
    with pytest.raises(AuthenticationError) as caught:
        send(adapter, oauth2_auth(adapter), "GET", url)
    return str(caught.value)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_configured_issuers_moved_token_endpoint_is_found_in_fresh_metadata(
    adapter: str,
    issuer_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = stytch_resource_server
    assert send(adapter, oauth2_auth(adapter), "GET", api.url).status_code == 200
    old = issuer_env.token_endpoint
    issuer_env.token_path = MOVED
    expire_stored(oauth2_auth("requests").manager.key)  # the next run refreshes
    capsys.readouterr()
    metadata_before = issuer_env.counters["metadata"]
    answer = send(adapter, oauth2_auth(adapter), "GET", api.url)
    assert answer.status_code == 200, answer.text
    assert issuer_env.counters["token_gone"] == 1 and issuer_env.counters["token_refresh_ok"] == 1
    assert (
        issuer_env.counters["login"] == 1 and issuer_env.counters["authorize_page"] == 1
    )  # no sign-in
    assert issuer_env.counters["metadata"] == metadata_before + 1  # read again, not from the cache
    said = stderr_of(adapter, answer, capsys)
    assert said.count(f"moved from {old} to {issuer_env.token_endpoint}") == 1, said
    assert "signing in again" not in said
    expire_stored(oauth2_auth("requests").manager.key)
    assert send(adapter, oauth2_auth(adapter), "GET", api.url).status_code == 200
    # The next run found the new endpoint in the cache that fresh read left: nothing again.
    assert (
        issuer_env.counters["token_gone"] == 1
        and issuer_env.counters["metadata"] == metadata_before + 1
    )


def test_a_sign_ins_code_is_exchanged_at_the_moved_endpoint_without_a_second_browser(
    issuer_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    """The code of a sign-in made just now was not used up at the dead endpoint: it is sent
    to the one the issuer's metadata names now, and the person signs in once."""
    old = oauth2_auth("requests").manager.endpoints.token_endpoint  # discovered and cached
    issuer_env.token_path = MOVED  # the sign-in meets the old endpoint
    forget_memory()
    done = cli("login")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(f"from {old} to {issuer_env.token_endpoint}, as its") == 1
    assert issuer_env.counters["authorize_page"] == 1 and issuer_env.counters["login"] == 1
    assert (
        issuer_env.counters["token_gone"] == 1
        and issuer_env.counters["token_authorization_code"] >= 1
    )
    answer = send("requests", oauth2_auth("requests"), "GET", stytch_resource_server.url)
    assert answer.status_code == 200


@pytest.mark.parametrize("setting", ["project_domain", "token_endpoint"])
@pytest.mark.parametrize("adapter", ADAPTERS_IN_PROCESS)
def test_a_token_endpoint_a_setting_names_is_one_line_naming_it_and_tokens_are_kept(
    adapter: str,
    setting: str,
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if setting == "token_endpoint":
        monkeypatch.setenv("STYTCH_TOKEN_ENDPOINT", stytch_env.token_endpoint)
    api = stytch_resource_server
    assert send(adapter, oauth2_auth(adapter), "GET", api.url).status_code == 200
    key = oauth2_auth("requests").manager.key
    stytch_env.token_gone = True
    expired = expire_stored(key)
    said = error_of(adapter, api.url)
    assert f"The token endpoint {stytch_env.token_endpoint} answered HTTP 404" in said, said
    assert f"it comes from the {setting} setting (environment variable" in said
    assert "your tokens are kept" in said and "\n" not in said
    assert (
        stytch_env.counters["login"] == 1 and stytch_env.counters["authorize_page"] == 1
    )  # never a browser
    stored = KeyringStore().load(key)
    assert stored is not None and stored.refresh_token == expired.refresh_token
    stytch_env.token_gone = False  # nothing was used up: the refresh works once it answers
    forget_memory()
    assert send(adapter, oauth2_auth(adapter), "GET", api.url).status_code == 200
    assert stytch_env.counters["login"] == 1


@pytest.mark.parametrize("adapter", ADAPTERS_IN_PROCESS)
def test_a_dead_token_endpoint_costs_one_browser_sign_in_not_one_per_run(
    adapter: str, issuer_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    """Nothing stored (no refresh token): the first run signs in and meets the dead endpoint;
    later runs say the same line before any browser opens; once the endpoint answers again,
    the next run signs in as usual."""
    issuer_env.token_gone = True
    api = stytch_resource_server
    first = error_of(adapter, api.url)
    assert issuer_env.counters["authorize_page"] == 1 and issuer_env.counters["token_gone"] == 1
    assert "names no other, so neither a refresh nor a sign-in can finish" in first, first
    for run in (2, 3):
        forget_memory()
        assert error_of(adapter, api.url) == first
        assert issuer_env.counters["authorize_page"] == 1, (
            "a browser opened for a dead token endpoint"
        )
        assert (
            issuer_env.counters["token_gone"] == run
        )  # asked again each run (cheap, uses nothing up)
    issuer_env.token_gone = False  # the provider fixed it where it was
    forget_memory()
    assert send(adapter, oauth2_auth(adapter), "GET", api.url).status_code == 200
    assert issuer_env.counters["authorize_page"] == 2 and issuer_env.counters["login"] == 2


def test_logout_forgets_a_dead_token_endpoint(
    issuer_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    """``logout`` starts afresh: the next run signs in without asking the endpoint first."""
    issuer_env.token_gone = True
    error_of("requests", stytch_resource_server.url)
    assert cli("logout").returncode == 0
    forget_memory()
    gone_before = issuer_env.counters["token_gone"]
    error_of("requests", stytch_resource_server.url)
    assert issuer_env.counters["authorize_page"] == 2  # a browser: the memory was forgotten
    assert issuer_env.counters["token_gone"] == gone_before + 1  # the code exchange, no probe first
