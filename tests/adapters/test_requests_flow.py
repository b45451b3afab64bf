"""The main job through ``requests``, end to end over loopback: the Stytch emulator, a resource
server that verifies the JWT, the test keyring backend, and the scripted user agent as BROWSER."""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from httpie_stytch_connected import AuthenticationError, StytchAuth
from httpie_stytch_connected.auth import ProviderError
from httpie_stytch_connected.errors import ConfigurationError, LoginError, TokenEndpointError
from httpie_stytch_connected.settings.options import SettingArgs
from httpie_stytch_connected.testing import StytchEmulator
from httpie_stytch_connected.testing.pytest_plugin import scripted_opener
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.lifecycle import expire_stored


def test_first_call_logs_in_and_second_call_reuses(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    auth = StytchAuth()
    first = requests.get(stytch_resource_server.url, auth=auth, timeout=30)
    assert first.status_code == 200, first.text
    assert first.json()["sub"].startswith("user-test-")
    second = requests.get(stytch_resource_server.url, auth=auth, timeout=30)
    assert second.status_code == 200
    counters = stytch_env.counters
    assert counters["login"] == 1
    assert counters["token_authorization_code"] == 1
    assert counters["token_refresh"] == 0


def test_explicit_arguments_work_without_environment(
    stytch_emulator: StytchEmulator,
    stytch_keyring: Path,
    stytch_browser: str,
    stytch_resource_server: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("STYTCH_PROJECT_DOMAIN", "STYTCH_CLIENT_ID", "STYTCH_AUTHORIZE_URL"):
        monkeypatch.delenv(name, raising=False)
    auth = StytchAuth(
        project_domain=stytch_emulator.project_domain,
        client_id=stytch_emulator.client_id,
        authorize_url=stytch_emulator.authorize_url,
        scopes="openid offline_access",
    )
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).status_code == 200
    stored = auth.manager.stored()
    assert stored is not None and stored.scopes == {"openid", "offline_access"}


def test_denial_is_a_clear_error_and_stores_nothing(
    stytch_env: StytchEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STYTCH_UA_DECISION", "deny")
    auth = StytchAuth()
    with pytest.raises(LoginError, match="refused in the browser: access_denied"):
        requests.get(stytch_env.url + "/anything", auth=auth, timeout=30)
    assert auth.manager.stored() is None


def test_a_login_nobody_completes_times_out(
    stytch_env: StytchEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STYTCH_UA_DECISION", "ignore")
    with pytest.raises(LoginError, match=r"within 1 seconds"):
        requests.get(stytch_env.url + "/x", auth=StytchAuth(login_timeout=1), timeout=30)


def test_forged_state_and_favicon_requests_during_login_do_not_break_it(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    seen: list[int] = []

    def hostile_then_real_browser(url: str) -> bool:
        from urllib.parse import parse_qs, urlsplit

        redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
        origin = redirect.rsplit("/", 1)[0]
        for probe in (
            f"{redirect}?code=stolen&state=forged",
            f"{redirect}?error=access_denied&state=forged",
            f"{origin}/favicon.ico",
            f"{redirect}?code=x",
        ):
            seen.append(requests.get(probe, timeout=5).status_code)
        return scripted_opener()(url)

    auth = StytchAuth(opener=hostile_then_real_browser)
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).status_code == 200
    assert seen == [400, 400, 404, 400]


def test_every_request_carries_the_bearer_token(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    auth = StytchAuth()
    prepared = auth(requests.Request("GET", stytch_resource_server.url).prepare())
    token = prepared.headers["Authorization"].removeprefix("Bearer ")
    assert stytch_resource_server.verify(token)["aud"] == [stytch_env.project_id]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"client_id": None}, "client_id is not set"),
        ({"authorize_url": "http://app.example/authorize"}, "must use https"),
        ({"project_domain": "http://example.com"}, "must use https"),
    ],
)
def test_configuration_errors_name_the_setting(
    stytch_env: StytchEmulator,
    monkeypatch: pytest.MonkeyPatch,
    kwargs: SettingArgs,
    message: str,
) -> None:
    if kwargs.get("client_id", "") is None:
        monkeypatch.delenv("STYTCH_CLIENT_ID")
    with pytest.raises(ConfigurationError, match=message):
        requests.get(stytch_env.url, auth=StytchAuth(**kwargs), timeout=5)


def test_legacy_project_id_uses_stytch_public_endpoints(stytch_keyring: Path) -> None:
    auth = StytchAuth(
        project_id="project-live-123",
        client_id="c",
        authorize_url="https://app.example/auth",
        environ={},
    )
    endpoints = auth.manager.endpoints
    assert endpoints.token_endpoint == (
        "https://api.stytch.com/v1/public/project-live-123/oauth2/token"
    )
    assert endpoints.issuer == "stytch.com/project-live-123"
    test = StytchAuth(
        project_id="project-test-9",
        client_id="c",
        authorize_url="https://app.example/auth",
        environ={},
    )
    assert test.manager.endpoints.token_endpoint.startswith("https://test.stytch.com/v1/public/")


def test_errors_are_authentication_errors_without_secrets(
    stytch_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    auth = StytchAuth()
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).ok
    expire_stored(auth.manager.key)
    stytch_env.inject_token_fault("500", count=5)
    with pytest.raises(AuthenticationError) as caught:
        requests.get(stytch_resource_server.url, auth=StytchAuth(), timeout=30)
    for secret in stytch_env.issued_refresh_tokens():
        assert secret not in str(caught.value)
    assert auth.manager.stored() is not None  # an outage deletes nothing


def test_the_requests_api_works_without_httpie_installed(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    script = (
        "import sys\n"
        "sys.modules['httpie'] = None  # as if HTTPie were not installed\n"
        "import requests\n"
        "from httpie_stytch_connected import StytchAuth\n"
        "r = requests.get(sys.argv[1], auth=StytchAuth(), timeout=30)\n"
        "print(r.status_code, 'httpie' in sys.modules and sys.modules['httpie'] is not None)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, stytch_resource_server.url],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.stdout.split() == ["200", "False"], done.stderr


def test_a_session_whose_auth_is_this_auth_object_does_not_recurse(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    session = requests.Session()
    session.auth = StytchAuth(session=session, login_timeout=20)
    response = session.get(stytch_resource_server.url, timeout=30)
    assert response.status_code == 200  # the token POST did not call the auth again
    assert stytch_env.counters["token_authorization_code"] == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com/api/resources",
        "HTTP://API.EXAMPLE.COM/x",
        "http://10.0.0.7:8080/x",
        "http://[2001:db8::1]/x",
        "http://localhost.example.com/x",
    ],
)
def test_a_plain_http_api_url_never_gets_the_token(
    stytch_env: StytchEmulator, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused before any sign-in or token lookup, naming the setting that allows it."""
    opened: list[str] = []

    def opener(url: str) -> bool:
        opened.append(url)
        return False

    auth = StytchAuth(opener=opener, login_timeout=5)
    with pytest.raises(ConfigurationError, match="STYTCH_ALLOW_INSECURE_HTTP") as caught:
        requests.Request("GET", url, auth=auth).prepare()
    assert "clear text" in str(caught.value)
    assert (opened, stytch_env.counters["login"]) == ([], 0)
    monkeypatch.setenv("STYTCH_ALLOW_INSECURE_HTTP", "true")
    allowed = requests.Request("GET", url, auth=StytchAuth()).prepare()
    assert allowed.headers["Authorization"].startswith("Bearer ")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/x", "http://localhost/x", "http://[::1]:9/x", "http://127.8.0.1/x"]
)
def test_loopback_and_https_api_urls_get_the_token(stytch_env: StytchEmulator, url: str) -> None:
    for target in (url, url.replace("http://", "https://", 1)):
        prepared = requests.Request("GET", target, auth=StytchAuth()).prepare()
        assert prepared.headers["Authorization"].startswith("Bearer ")
    assert stytch_env.counters["login"] == 1


def test_a_provider_outage_is_a_requests_exception(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    auth = StytchAuth()
    assert requests.get(stytch_resource_server.url, auth=auth, timeout=30).status_code == 200
    expire_stored(auth.manager.key)
    stytch_env.inject_token_fault("503", count=10)
    with pytest.raises(requests.RequestException) as caught:
        requests.get(stytch_resource_server.url, auth=StytchAuth(), timeout=30)
    assert isinstance(caught.value, TokenEndpointError)
    assert isinstance(caught.value, AuthenticationError)
    assert caught.value.request is not None  # as httpx's: the request, without our header
    assert caught.value.request.url == stytch_resource_server.url


def test_a_provider_error_is_a_requests_exception_in_a_copy_and_across_processes() -> None:
    """The requests classes' provider error is a ``requests.RequestException`` with the core
    error's fields; a copy, and one a worker process sends back pickled, is the same."""
    core = TokenEndpointError(
        "Could not refresh the access token: invalid_grant: expired.",
        error="invalid_grant",
        status=400,
        refused=True,
    )
    assert not isinstance(core, requests.RequestException)  # the core needs no requests
    error = ProviderError.like(core)
    assert isinstance(error, requests.RequestException)
    for clone in (copy.copy(error), pickle.loads(pickle.dumps(error))):  # noqa: S301 - ours
        assert type(clone) is ProviderError  # a TokenEndpointError and a RequestException
        fields = (str(clone), clone.error, clone.status, clone.refused, clone.retryable)
        assert fields == (str(error), "invalid_grant", 400, True, False)
