"""Zero configuration against the emulator: from an API's 401 to a 200 with nothing set.

The chain runs over loopback against real servers: the Stytch emulator (with Dynamic Client
Registration), an example API that serves its protected resource metadata (RFC 9728), the test
keyring and the scripted user agent as BROWSER.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from httpie_stytch_connected.auth import OAuth2PKCEAuth
from httpie_stytch_connected.errors import ConfigurationError
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.managed import NOT_RESENT
from httpie_stytch_connected.oauth.bearer import MAX_SCOPES
from httpie_stytch_connected.oauth.resource_metadata import ProtectedResource
from httpie_stytch_connected.oauth.tokens import TokenSet
from httpie_stytch_connected.storage.store import AccessTokenCache, KeyringStore
from httpie_stytch_connected.testing.emulator import StytchEmulator, example_api
from httpie_stytch_connected.testing.resource_server import ResourceServer
from httpie_stytch_connected.zero_config.binding import BindingCache, initial_scopes
from tests.adapters import ADAPTERS, ADAPTERS_IN_PROCESS, oauth2_auth, send
from tests.loopback import LoopbackServer, QuietHandler


@pytest.fixture
def zero_env(stytch_zero_env: StytchEmulator) -> StytchEmulator:
    """Nothing configured: no provider, no client ID."""
    return stytch_zero_env


@pytest.fixture
def api(stytch_emulator: StytchEmulator) -> Iterator[ResourceServer]:
    with example_api(stytch_emulator) as server:
        yield server


def new_process() -> None:
    """What a later run starts from: nothing in memory."""
    forget_memory()


def binding_of(url: str) -> Any:
    binding = BindingCache().lookup(url)
    assert binding is not None
    return binding


def expire(url: str) -> None:
    binding = binding_of(url)
    stored = KeyringStore().load(binding.key)
    assert stored is not None
    KeyringStore().save(
        binding.key,
        TokenSet(
            access_token=stored.access_token,
            expires_at=0.0,
            refresh_token=stored.refresh_token,
            scope=stored.scope,
        ),
    )
    AccessTokenCache().delete(binding.key)
    new_process()


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_nothing_configured_first_request_goes_without_a_token_and_ends_in_200(
    adapter: str, zero_env: StytchEmulator, api: ResourceServer
) -> None:
    response = send(adapter, oauth2_auth(adapter), "GET", api.url)
    assert response.status_code == 200, response.text
    assert api.counters["401"] == 1  # the first request, sent without a token
    # Read once, at the URL the 401 named (the root form), not at a guessed one.
    assert api.counters["metadata"] == 1
    assert api.counters["metadata /.well-known/oauth-protected-resource"] == 1
    counters = zero_env.counters
    assert counters["register"] == 1 and counters["login"] == 1
    assert len(response.history) == 1 and response.history[0].status_code == 401


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_warm_run_does_no_discovery_and_no_new_login(
    adapter: str, zero_env: StytchEmulator, api: ResourceServer
) -> None:
    assert send(adapter, oauth2_auth(adapter), "GET", api.url).status_code == 200
    before = dict(zero_env.counters)
    metadata_before = api.counters["metadata"]
    new_process()
    response = send(adapter, oauth2_auth(adapter), "GET", api.url)
    assert response.status_code == 200 and not response.history
    assert dict(zero_env.counters) == before  # not even the metadata document
    assert api.counters["metadata"] == metadata_before and api.counters["401"] == 1


def test_without_resource_metadata_in_the_401_the_well_known_urls_are_read(
    zero_env: StytchEmulator, api: ResourceServer
) -> None:
    api.challenge_metadata = False
    assert requests.get(api.url, auth=OAuth2PKCEAuth(), timeout=30).status_code == 200
    # RFC 9728 §3.1: the path-inserted form first.
    assert api.counters["metadata /.well-known/oauth-protected-resource/api/resources"] == 1


def test_metadata_for_another_resource_is_refused_before_any_browser_opens(
    zero_env: StytchEmulator, stytch_emulator: StytchEmulator
) -> None:
    api = example_api(stytch_emulator, resource="http://127.0.0.1:9/elsewhere")
    with api, pytest.raises(ConfigurationError, match="another resource"):
        requests.get(api.url, auth=OAuth2PKCEAuth(), timeout=30)
    assert zero_env.counters["authorize_page"] == 0 and zero_env.counters["register"] == 0


def test_an_issuer_that_differs_by_a_trailing_slash_is_refused(
    zero_env: StytchEmulator, stytch_emulator: StytchEmulator
) -> None:
    api = example_api(stytch_emulator, authorization_servers=[stytch_emulator.issuer + "/"])
    with api, pytest.raises(ConfigurationError, match="names issuer"):
        requests.get(api.url, auth=OAuth2PKCEAuth(), timeout=30)
    assert zero_env.counters["register"] == 0


def test_a_plain_http_authorization_server_off_loopback_is_refused(
    zero_env: StytchEmulator, stytch_emulator: StytchEmulator
) -> None:
    api = example_api(stytch_emulator, authorization_servers=["http://login.example.com"])
    with api, pytest.raises(ConfigurationError, match="https"):
        requests.get(api.url, auth=OAuth2PKCEAuth(), timeout=30)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_pinned_client_id_is_never_sent_to_a_server_an_api_named(
    adapter: str, zero_env: StytchEmulator, api: ResourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17 §1: STYTCH_CLIENT_ID belongs to the server configured with it. With none
    configured, the server the API names gets a registration of its own, signed in at that
    server's own redirect path; the pinned client goes nowhere."""
    monkeypatch.setenv("STYTCH_CLIENT_ID", zero_env.client_id)
    assert send(adapter, oauth2_auth(adapter), "GET", api.url).status_code == 200
    assert zero_env.counters["register"] == 1 and zero_env.counters["login"] == 1
    assert binding_of(api.url).client_id != zero_env.client_id
    sent = [client for client, _ in zero_env.authorization_requests]
    assert sent and zero_env.client_id not in sent


def test_a_pinned_client_id_left_unused_is_said_once(
    zero_env: StytchEmulator,
    api: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STYTCH_CLIENT_ID", zero_env.client_id)
    for _ in range(2):
        assert requests.get(api.url, auth=OAuth2PKCEAuth(), timeout=30).status_code == 200
    said = capsys.readouterr().err
    assert said.count("STYTCH_CLIENT_ID is not sent to") == 1, said


def test_the_registration_is_kept_per_server_and_reused_by_a_later_run(
    zero_env: StytchEmulator, api: ResourceServer, stytch_keyring: Path
) -> None:
    assert requests.get(api.url, auth=OAuth2PKCEAuth(), timeout=30).status_code == 200
    client_id = binding_of(api.url).client_id
    # A later run on a machine whose cache was wiped still has the keyring: same client.
    shutil.rmtree(stytch_keyring / "cache")
    (stytch_keyring / "cache").mkdir()
    new_process()
    assert requests.get(api.url, auth=OAuth2PKCEAuth(), timeout=30).status_code == 200
    assert zero_env.counters["register"] == 1
    assert binding_of(api.url).client_id == client_id
    assert zero_env.counters["login"] == 1  # the tokens were in the keyring under the same key


def test_invalid_client_registers_once_more_and_signs_in_again(
    zero_env: StytchEmulator, api: ResourceServer
) -> None:
    assert requests.get(api.url, auth=OAuth2PKCEAuth(), timeout=30).status_code == 200
    zero_env.forget_client(binding_of(api.url).client_id)
    expire(api.url)
    assert requests.get(api.url, auth=OAuth2PKCEAuth(), timeout=30).status_code == 200
    assert zero_env.counters["register"] == 2 and zero_env.counters["login"] == 2


def test_scopes_are_what_the_401_asks_plus_openid_and_offline_access(
    zero_env: StytchEmulator, api: ResourceServer
) -> None:
    assert requests.get(api.url, auth=OAuth2PKCEAuth(), timeout=30).status_code == 200
    binding = binding_of(api.url)
    assert binding.scopes == ("read:data", "openid", "offline_access")
    stored = KeyringStore().load(binding.key)
    assert stored is not None and stored.scopes == {"read:data", "openid", "offline_access"}


def test_without_a_scope_in_the_401_the_resource_scopes_are_asked(
    zero_env: StytchEmulator, api: ResourceServer
) -> None:
    api.challenge_scope = False
    assert requests.get(api.url, auth=OAuth2PKCEAuth(), timeout=30).status_code == 200
    assert binding_of(api.url).scopes == ("read:data", "write:data", "openid", "offline_access")


def test_resource_rides_on_authorization_token_and_refresh_requests(
    zero_env: StytchEmulator, api: ResourceServer
) -> None:
    assert requests.get(api.url, auth=OAuth2PKCEAuth(), timeout=30).status_code == 200
    expire(api.url)
    assert requests.get(api.url, auth=OAuth2PKCEAuth(), timeout=30).status_code == 200
    assert zero_env.resources_seen == [
        ("authorize", api.resource),
        ("authorization_code", api.resource),
        ("refresh_token", api.resource),
    ]


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_two_apis_on_one_server_one_registration_two_tokens_never_crossed(
    adapter: str, zero_env: StytchEmulator, stytch_emulator: StytchEmulator
) -> None:
    auth = oauth2_auth(adapter)
    with example_api(stytch_emulator) as first, example_api(stytch_emulator) as second:
        assert send(adapter, auth, "GET", first.url).status_code == 200
        assert send(adapter, auth, "GET", second.url).status_code == 200
        assert send(adapter, auth, "GET", first.url).status_code == 200
        # The second API's first request carried no token: the first API's was not sent there.
        assert second.counters["401"] == 1 and second.tokens_seen.isdisjoint(first.tokens_seen)
        assert binding_of(first.url).key != binding_of(second.url).key
    assert zero_env.counters["register"] == 1 and zero_env.counters["login"] == 2


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_step_up_signs_in_once_for_the_union_and_resends(
    adapter: str, zero_env: StytchEmulator, api: ResourceServer
) -> None:
    auth = oauth2_auth(adapter)
    assert send(adapter, auth, "GET", api.url).status_code == 200
    admin = api.origin + "/api/admin"
    response = send(adapter, auth, "POST", admin, b"payload")
    assert response.status_code == 200 and response.json()["echo"] == "payload"
    assert [r.status_code for r in response.history] == [403]
    assert zero_env.counters["login"] == 2
    binding = binding_of(api.url)
    stored = KeyringStore().load(binding.key)
    assert stored is not None and {"read:data", "write:data"} <= stored.scopes
    assert "write:data" in binding.scopes  # a later sign-in asks for the union at once
    assert send(adapter, oauth2_auth(adapter), "GET", admin).status_code == 200
    assert send(adapter, auth, "GET", api.url).status_code == 200
    assert zero_env.counters["login"] == 2


def test_step_up_with_a_stream_signs_in_but_does_not_resend(
    zero_env: StytchEmulator, api: ResourceServer
) -> None:
    auth = OAuth2PKCEAuth()
    assert requests.get(api.url, auth=auth, timeout=30).status_code == 200
    admin = api.origin + "/api/admin"
    response = requests.post(admin, data=iter([b"once"]), auth=auth, timeout=30)
    assert response.status_code == 403
    assert zero_env.counters["login"] == 2
    assert requests.get(admin, auth=auth, timeout=30).status_code == 200


def test_explicit_project_domain_skips_resource_metadata(
    stytch_env: StytchEmulator, api: ResourceServer
) -> None:
    assert (
        requests.get(
            api.url, auth=OAuth2PKCEAuth(scopes="openid read:data offline_access"), timeout=30
        ).status_code
        == 200
    )
    assert api.counters["metadata"] == 0 and stytch_env.counters["register"] == 0
    assert stytch_env.resources_seen[0] == ("authorize", None)


@pytest.mark.parametrize("junk", ["", "{", '{"v": 1, "bindings": [{"resource": 3}]}', "[]"])
def test_a_corrupt_resource_cache_means_discovery_again_not_a_crash(
    zero_env: StytchEmulator, api: ResourceServer, stytch_keyring: Path, junk: str
) -> None:
    assert requests.get(api.url, auth=OAuth2PKCEAuth(), timeout=30).status_code == 200
    for cached in (stytch_keyring / "cache" / "resources").glob("*.json"):
        cached.write_text(junk)
    new_process()
    assert requests.get(api.url, auth=OAuth2PKCEAuth(), timeout=30).status_code == 200
    assert api.counters["metadata"] == 2 and zero_env.counters["login"] == 1


class _BasicOnly(QuietHandler):
    """An API that wants Basic credentials: not ours to sign in for."""

    paths: list[str] = []

    def do_GET(self) -> None:
        self.paths.append(self.path)
        self.reply(401, b"{}", headers={"WWW-Authenticate": 'Basic realm="api"'})


def test_a_401_without_a_bearer_challenge_is_the_answer_not_a_sign_in(
    zero_env: StytchEmulator,
) -> None:
    with LoopbackServer(_BasicOnly) as server:
        response = requests.get(server.url + "/api", auth=OAuth2PKCEAuth(), timeout=30)
    assert response.status_code == 401 and not response.history
    assert _BasicOnly.paths == ["/api"]  # no metadata was looked for
    assert zero_env.counters["authorize_page"] == 0


async def _async_once() -> AsyncIterator[bytes]:
    yield b"once"


@pytest.mark.parametrize("adapter", ADAPTERS_IN_PROCESS)
def test_a_first_request_with_a_one_shot_body_signs_in_and_says_why_it_was_not_resent(
    adapter: str, zero_env: StytchEmulator, api: ResourceServer
) -> None:
    """Issue 18 §5: the 401 that starts discovery meets a streamed body; the sign-in happens,
    the 401 comes back (the body cannot go twice), and the person reads why, as in configured
    mode, whichever adapter sent it."""
    notes: list[str] = []
    auth = oauth2_auth(adapter, notify=notes.append)
    body = _async_once() if adapter.endswith("AsyncClient") else iter([b"once"])
    response = send(adapter, auth, "POST", api.url, body)
    assert response.status_code == 401
    assert notes.count(NOT_RESENT) == 1, notes
    assert zero_env.counters["login"] == 1
    assert send(adapter, auth, "GET", api.url).status_code == 200


@pytest.mark.parametrize("where", ["scopes_supported", "challenge"])
def test_an_api_naming_thousands_of_scopes_gets_a_bounded_few(where: str) -> None:
    """What an API names goes into the sign-in URL and onto the terminal: at most MAX_SCOPES
    scope-tokens, each at most 128 characters, whatever it sends."""
    flood = [f"s{n}" for n in range(20_000)] + ["x" * 129]
    listed = ("x" * 129, *flood) if where == "scopes_supported" else ()
    resource = ProtectedResource("https://api.example.com/", ("https://as.example.com",), listed)
    asked = " ".join(["x" * 129, *flood]) if where == "challenge" else None
    scopes = initial_scopes(asked, resource, ["openid"])
    assert scopes == (*flood[:MAX_SCOPES], "openid")
