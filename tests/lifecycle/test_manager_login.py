"""The manager signs in: once for all the threads that ask, only after the provider is known to
be reachable, saying who signed in; ``login()`` signs in whatever is stored."""

from __future__ import annotations

import threading

import pytest
import requests

from httpie_stytch_connected import StytchAuth
from httpie_stytch_connected.errors import TokenEndpointError
from httpie_stytch_connected.lifecycle.manager import NO_REFRESH_TOKEN
from httpie_stytch_connected.storage.store import KeyringStore
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.pytest_plugin import ScriptedOpener
from httpie_stytch_connected.testing.resource_server import ResourceServer


def test_concurrent_callers_in_one_process_share_one_login(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    auth = StytchAuth()
    statuses: list[int] = []
    workers = [
        threading.Thread(
            target=lambda: statuses.append(
                requests.get(stytch_resource_server.url, auth=auth, timeout=60).status_code
            )
        )
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert statuses == [200] * 4
    assert stytch_env.counters["login"] == 1


@pytest.mark.parametrize(
    ("scopes", "userinfo_calls"),
    [("openid email profile offline_access", 0), ("email profile offline_access", 1)],
)
def test_a_sign_in_says_who_signed_in(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    scopes: str,
    userinfo_calls: int,
) -> None:
    """From the verified ID token, or without one from the userinfo endpoint; on stderr."""
    notes: list[str] = []
    auth = StytchAuth(scopes=scopes, notify=notes.append)
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).status_code == 200
    signed_in = [n for n in notes if n.startswith("Signed in")]
    assert len(signed_in) == 1
    assert signed_in[0].startswith("Signed in as Ada Lovelace <ada@example.com> (user-test-")
    assert stytch_env.counters["userinfo"] == userinfo_calls


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again on exit: nothing listens there


def test_an_unreachable_token_endpoint_is_found_before_the_browser_opens(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    opened: list[str] = []

    def browser(url: str) -> bool:
        opened.append(url)
        return False

    auth = StytchAuth(
        project_domain=f"http://127.0.0.1:{_closed_port()}",  # a wrong project domain
        opener=browser,
    )
    with pytest.raises(TokenEndpointError) as caught:
        requests.get(stytch_resource_server.url, auth=auth, timeout=30)
    message = str(caught.value)
    assert "Cannot reach the token endpoint" in message
    assert "the project_domain setting (argument)" in message
    assert opened == [] and stytch_env.counters["authorize_page"] == 0


def test_login_signs_in_again_whatever_is_stored(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    stytch_opener: ScriptedOpener,
) -> None:
    auth = StytchAuth(opener=stytch_opener, notify=lambda _: None)
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).ok
    before = KeyringStore().load(auth.manager.key)
    tokens = auth.manager.login()
    assert stytch_opener.opened == 2 and stytch_env.counters["codes_issued"] == 2
    assert before is not None and tokens.refresh_token != before.refresh_token
    assert KeyringStore().load(auth.manager.key) == tokens


@pytest.mark.parametrize("scopes", ["openid read:data", "openid read:data offline_access"])
def test_a_sign_in_without_a_refresh_token_says_how_to_get_one(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer, scopes: str
) -> None:
    """``scopes="openid read:data"`` (the default's offline_access left out) signed in without a
    refresh token and said nothing, so the person met the browser again an hour later with no
    idea why; the sign-in now says so, once, and nothing when offline_access was asked for."""
    notes: list[str] = []
    auth = StytchAuth(scopes=scopes, notify=notes.append)
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).status_code == 200
    stored = auth.manager.stored()
    assert stored is not None and (stored.refresh_token is None) == ("offline" not in scopes)
    said = [n for n in notes if "refresh token" in n]
    assert said == ([] if "offline" in scopes else [NO_REFRESH_TOKEN])
