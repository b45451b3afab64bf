"""``stytch-connected`` for APIs found by zero configuration: ``discover``, ``login --resource``,
``token --resource``, ``status`` and ``logout --resource``, through the real entry point."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
import requests

from httpie_stytch_connected.auth import OAuth2PKCEAuth
from httpie_stytch_connected.errors import LoginError
from httpie_stytch_connected.testing import StytchEmulator
from httpie_stytch_connected.testing.emulator import example_api
from httpie_stytch_connected.testing.pytest_plugin import scripted_opener
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.command import cli, one_line_error, rows
from tests.loopback import LoopbackServer, QuietHandler


@pytest.fixture
def api(stytch_zero_env: StytchEmulator) -> Iterator[ResourceServer]:
    with example_api(stytch_zero_env) as server:
        yield server


def test_discover_shows_the_chain_without_signing_in_or_registering(
    stytch_zero_env: StytchEmulator, api: ResourceServer
) -> None:
    done = cli("discover", api.url)
    assert done.returncode == 0, done.stderr
    found = rows(done.stdout)
    assert found["Resource"] == api.resource
    assert found["Authorization server"] == stytch_zero_env.issuer
    assert found["Token endpoint"] == stytch_zero_env.token_endpoint
    assert found["Registration endpoint"] == stytch_zero_env.url + "/v1/oauth2/register"
    assert found["Client"] == (
        "none yet: the first sign-in registers one at the registration endpoint"
    )
    own = hashlib.sha256(stytch_zero_env.issuer.encode()).hexdigest()[:12]
    assert found["Redirect URI"] == f"http://127.0.0.1/callback/{own} (any port)"
    assert found["Scopes"] == "read:data openid offline_access"
    assert stytch_zero_env.counters["register"] == 0
    assert stytch_zero_env.counters["authorize_page"] == 0


class _Open(QuietHandler):
    """A site that asks for no token: 200 to every GET, and it counts every POST."""

    posts: list[str] = []

    def do_GET(self) -> None:
        self.reply(200, b"<html>welcome</html>")

    def do_POST(self) -> None:
        self.posts.append(self.path)
        self.reply(200, b"{}")


@pytest.mark.parametrize(
    "command", [("discover",), ("login", "--resource"), ("token", "--resource")]
)
def test_a_site_that_asks_for_no_token_is_no_older_server(
    stytch_zero_env: StytchEmulator, command: tuple[str, ...]
) -> None:
    """Only a 401 with a Bearer challenge starts the chain, in the command as through every
    adapter: a site answering 200 gets no invented /authorize, /token or /register, and no
    registration POST."""
    _Open.posts = []
    with LoopbackServer(_Open) as site:
        done = cli(*command, site.url + "/app")
    assert done.returncode != 0
    assert "answered 200 without a Bearer challenge" in one_line_error(done)
    assert _Open.posts == []


def test_status_lists_every_api_as_one_json_document(stytch_zero_env: StytchEmulator) -> None:
    """Zero configuration's ``status --json`` is one array, one entry per API found, and an API
    whose tokens are gone is an entry saying so (and a line with the command that signs in),
    not an error hiding the others."""
    import json

    with example_api(stytch_zero_env) as first, example_api(stytch_zero_env) as second:
        assert cli("login", "--resource", first.url).returncode == 0
        declined = OAuth2PKCEAuth(opener=scripted_opener("deny"))
        with pytest.raises(LoginError):  # found and remembered, but never signed in to
            requests.get(second.url, auth=declined, timeout=30)
        listed = cli("status", "--json")
        text = cli("status")
    assert listed.returncode == 0, listed.stderr
    entries = {entry["resource"]: entry for entry in json.loads(listed.stdout)}
    assert entries[first.resource]["signed_in"] is True
    assert "access_token" not in entries[first.resource]
    assert entries[second.resource] == {
        "resource": second.resource,
        "signed_in": False,
        "error": "not_signed_in",
        "message": f"Not signed in for {second.resource}; run `stytch-connected login "
        f"--resource {second.resource}` to sign in.",
    }
    assert f"login --resource {second.resource}" in text.stdout
    assert text.returncode == 0, text.stderr


def test_login_token_status_logout_with_resource(
    stytch_zero_env: StytchEmulator, api: ResourceServer
) -> None:
    login = cli("login", "--resource", api.url)
    assert login.returncode == 0, login.stderr
    # The tokens belong to the API, not to "the settings without a profile" (there are none).
    assert f"Tokens for {api.resource} are kept in the " in login.stderr, login.stderr
    assert "without a profile" not in login.stderr
    token = cli("token", "--resource", api.url)
    assert token.returncode == 0, token.stderr
    claims = stytch_zero_env.verify_access_token(token.stdout.strip())
    assert "read:data" in claims["scope"].split()
    registered = rows(cli("discover", api.url).stdout)["Client"]
    assert registered.endswith("(registered)")  # discover now reports the stored registration
    status = cli("status")
    assert status.returncode == 0, status.stderr
    shown = rows(status.stdout)
    assert shown["API"] == api.resource and shown["Provider"] == stytch_zero_env.issuer
    assert "read:data" in shown["Scopes"]
    assert stytch_zero_env.counters["login"] == 1 and stytch_zero_env.counters["register"] == 1
    logout = cli("logout", "--resource", api.url)
    assert logout.returncode == 0, logout.stderr
    assert "revoked" in logout.stderr
    assert "Not signed in" in one_line_error(cli("status", "--resource", api.url))
    again = cli("logout", "--resource", api.url)
    assert again.returncode == 0 and "without a profile" not in again.stderr, again.stderr


def test_nothing_configured_and_no_resource_says_what_to_pass(
    stytch_zero_env: StytchEmulator,
) -> None:
    assert "--resource URL" in one_line_error(cli("token"))
    assert "login --resource URL" in one_line_error(cli("status"))


def test_a_command_without_resource_names_the_apis_signed_in_to(
    stytch_zero_env: StytchEmulator, api: ResourceServer
) -> None:
    """`status` lists the APIs found; `token`, `exec` and `logout` without --resource said
    only "pass --resource URL", leaving the person to find which URL: they name them."""
    assert cli("login", "--resource", api.url).returncode == 0
    for argv in (["token"], ["logout"], ["exec", "--", "true"]):
        line = one_line_error(cli(*argv))
        assert f"pass --resource URL (APIs found so far: {api.resource})" in line, (argv, line)


def test_logout_with_resource_forgets_the_registration_and_the_binding(
    stytch_zero_env: StytchEmulator, api: ResourceServer
) -> None:
    """Issue 18 §1: the way out of a registration the server no longer honours."""
    from httpie_stytch_connected.storage.store import KeyringStore
    from httpie_stytch_connected.zero_config.binding import BindingCache
    from httpie_stytch_connected.zero_config.client_identity import (
        RegistrationStore,
        registration_redirect,
    )

    assert cli("login", "--resource", api.url).returncode == 0
    binding = BindingCache().lookup(api.url)
    assert binding is not None and binding.client_source == "registered"
    registrations = RegistrationStore(KeyringStore())
    redirect = registration_redirect("/callback", binding.issuer)
    assert registrations.load(binding.issuer, redirect) == binding.client_id
    logout = cli("logout", "--resource", api.url)
    assert logout.returncode == 0, logout.stderr
    assert f"Forgot the client registered at {binding.issuer}" in logout.stderr
    assert BindingCache().lookup(api.url) is None
    assert registrations.load(binding.issuer, redirect) is None
    assert stytch_zero_env.live_grants() == []
    again = cli("logout", "--resource", api.url)  # nothing known: no discovery, no registration
    assert again.returncode == 0 and "nothing is known" in again.stderr
    assert stytch_zero_env.counters["register"] == 1


def test_logout_with_resource_deletes_the_registration_where_rfc_7592_is_offered(
    stytch_zero_env: StytchEmulator, api: ResourceServer
) -> None:
    stytch_zero_env.client_configuration = True
    assert cli("login", "--resource", api.url).returncode == 0
    assert len(stytch_zero_env.registered_clients()) == 1
    logout = cli("logout", "--resource", api.url)
    assert logout.returncode == 0, logout.stderr
    assert "deleted it there (RFC 7592)" in logout.stderr
    assert stytch_zero_env.registered_clients() == []
    assert stytch_zero_env.counters["registration_delete"] == 1


@pytest.mark.parametrize("command", ["token", "login"])
def test_token_and_login_with_resource_replace_a_deleted_registration_once(
    stytch_zero_env: StytchEmulator, api: ResourceServer, command: str
) -> None:
    from httpie_stytch_connected.zero_config.binding import BindingCache
    from tests.zero_config.test_zero_config import expire

    # token: the refresh is answered invalid_client; login signs in at once, so only RFC 7592
    # can tell before the browser shows the authorization page's error.
    stytch_zero_env.client_configuration = command == "login"
    assert cli("login", "--resource", api.url).returncode == 0
    binding = BindingCache().lookup(api.url)
    assert binding is not None
    stytch_zero_env.forget_client(binding.client_id)  # the server pruned it
    expire(api.url)
    done = cli(command, "--resource", api.url)
    assert done.returncode == 0, done.stderr
    assert "refused the client registered for this tool" in done.stderr
    assert stytch_zero_env.counters["register"] == 2
    token = cli("token", "--resource", api.url)
    stytch_zero_env.verify_access_token(token.stdout.strip())
