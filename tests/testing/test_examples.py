"""The examples run as a person would run them: subprocesses against the emulator over loopback.

The requests script and the CLI app sign in through ``BROWSER`` (the scripted user agent from
``stytch_env``); the resource server example is checked with tokens the emulator really issued.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest
import requests

from httpie_stytch_connected.login.callback_server import CallbackServer
from httpie_stytch_connected.login.flow import authorization_url
from httpie_stytch_connected.oauth.pkce import PKCE, random_token
from httpie_stytch_connected.testing import ScriptedUserAgent, StytchEmulator
from httpie_stytch_connected.testing.resource_server import ResourceServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RUN_TIMEOUT = 60.0


def run_example(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run an example with the current (fixture-isolated) environment; never inherits stdin."""
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def assert_no_secrets(emulator: StytchEmulator, *outputs: str) -> None:
    text = "".join(outputs)
    assert "eyJ" not in text  # no JWT (access or ID token) was printed
    for refresh_token in emulator.issued_refresh_tokens():
        assert refresh_token not in text


def issue_access_token(emulator: StytchEmulator, scope: str) -> str:
    """A real access token from the emulator: authorize, sign in, exchange the code over HTTP."""
    pkce, state = PKCE(), random_token()
    with CallbackServer(state) as callback:
        url = authorization_url(
            emulator.authorize_url,
            {
                "client_id": emulator.client_id,
                "redirect_uri": callback.redirect_uri,
                "response_type": "code",
                "scope": scope,
                "state": state,
                "code_challenge": pkce.challenge,
                "code_challenge_method": PKCE.method,
            },
        )
        with ScriptedUserAgent() as agent:
            assert agent.open(url).ok
        code = callback.wait(10)
        redirect_uri = callback.redirect_uri
    response = requests.post(
        emulator.token_endpoint,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": pkce.verifier,
            "redirect_uri": redirect_uri,
            "client_id": emulator.client_id,
        },
        timeout=10,
    )
    assert response.status_code == 200
    token: str = response.json()["access_token"]
    return token


def first_line(stream: IO[str], timeout: float) -> str:
    """The first line of a child's output, or fail after ``timeout`` seconds."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout).strip()
    except queue.Empty:
        raise AssertionError(f"no output within {timeout} s") from None


@contextmanager
def example_api(
    emulator: StytchEmulator, *, audience: str | None = None, scope: str = "read:data"
) -> Iterator[str]:
    """Run examples/resource_server.py for ``emulator``; yield its URL; stop it with SIGTERM."""
    process = subprocess.Popen(
        [
            sys.executable,
            str(EXAMPLES / "resource_server.py"),
            "--jwks-uri",
            emulator.jwks_uri,
            "--issuer",
            emulator.issuer,
            "--audience",
            audience or emulator.project_id,
            "--scope",
            scope,
            "--port",
            "0",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = first_line(process.stdout, 30)
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api/resources")
        yield url
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def get(url: str, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(url, headers=headers, timeout=10)


# -- examples/requests_script.py ----------------------------------------------------------------


def test_requests_script_signs_in_once_and_prints_the_resources(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    first = run_example("requests_script.py", stytch_resource_server.url)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["resources"]
    assert stytch_env.counters["login"] == 1

    second = run_example("requests_script.py", stytch_resource_server.url)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["resources"]
    assert stytch_env.counters["login"] == 1  # the stored tokens were reused across processes
    assert stytch_resource_server.counters["200"] == 2
    assert_no_secrets(stytch_env, first.stdout, first.stderr, second.stdout, second.stderr)


def test_requests_script_usage_error() -> None:
    result = run_example("requests_script.py")
    assert result.returncode == 2
    assert "usage" in result.stderr


# -- examples/httpx_async_script.py -------------------------------------------------------------


def test_httpx_async_script_signs_in_once_for_concurrent_requests_and_reuses_it(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    first = run_example("httpx_async_script.py", stytch_resource_server.url, "8")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["resources"]
    assert stytch_env.counters["login"] == 1  # eight requests in flight, one sign-in

    second = run_example("httpx_async_script.py", stytch_resource_server.url)
    assert second.returncode == 0, second.stderr
    assert stytch_env.counters["login"] == 1  # the stored tokens were reused across processes
    assert stytch_env.counters["token_requests"] == 1
    assert stytch_resource_server.counters["200"] == 9
    assert_no_secrets(stytch_env, first.stdout, first.stderr, second.stdout, second.stderr)


def test_httpx_async_script_usage_error() -> None:
    result = run_example("httpx_async_script.py")
    assert result.returncode == 2
    assert "usage" in result.stderr


# -- examples/cli_app.py ------------------------------------------------------------------------


def test_cli_app_login_get_resources_logout(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    api = ("--api-url", stytch_resource_server.url)
    outputs: list[str] = []

    login = run_example("cli_app.py", "login")
    outputs += [login.stdout, login.stderr]
    assert login.returncode == 0, login.stderr
    assert stytch_env.counters["login"] == 1

    resources = run_example("cli_app.py", *api, "get-resources")
    outputs += [resources.stdout, resources.stderr]
    assert resources.returncode == 0, resources.stderr
    assert json.loads(resources.stdout)["resources"]
    assert stytch_env.counters["login"] == 1  # no new sign-in: the stored token was used
    assert stytch_resource_server.counters["200"] == 1

    logout = run_example("cli_app.py", "logout")
    outputs += [logout.stdout, logout.stderr]
    assert logout.returncode == 0, logout.stderr
    assert stytch_env.counters["revoke"] == 1
    assert "Revoked" in logout.stderr

    again = run_example("cli_app.py", *api, "get-resources")
    outputs += [again.stdout, again.stderr]
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["resources"]
    assert stytch_env.counters["login"] == 2  # logged out: this call had to sign in again
    assert_no_secrets(stytch_env, *outputs)


def test_cli_app_logout_when_not_logged_in(stytch_env: StytchEmulator) -> None:
    result = run_example("cli_app.py", "logout")
    assert result.returncode == 0, result.stderr
    assert "Not logged in" in result.stderr
    assert stytch_env.counters["revoke"] == 0


# -- examples/resource_server.py ----------------------------------------------------------------


def test_resource_server_accepts_a_valid_token(stytch_emulator: StytchEmulator) -> None:
    token = issue_access_token(stytch_emulator, "openid read:data")
    with example_api(stytch_emulator) as url:
        response = get(url, token)
    assert response.status_code == 200
    assert response.json()["sub"] == stytch_emulator.user_id
    assert response.json()["resources"]


def test_resource_server_asks_for_a_token(stytch_emulator: StytchEmulator) -> None:
    with example_api(stytch_emulator) as url:
        response = get(url)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_resource_server_rejects_forged_and_foreign_tokens(
    stytch_emulator: StytchEmulator,
) -> None:
    # A token without the scope given the payload of one with it, keeping its own signature.
    narrow = issue_access_token(stytch_emulator, "openid").split(".")
    wide = issue_access_token(stytch_emulator, "openid read:data").split(".")
    tampered = ".".join([narrow[0], wide[1], narrow[2]])
    with StytchEmulator(project_id="project-test-someone-else") as other:
        foreign = issue_access_token(other, "openid read:data")
    with example_api(stytch_emulator) as url:
        responses = [get(url, tampered), get(url, foreign), get(url, "not-a-jwt")]
    for response in responses:
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_resource_server_rejects_a_token_for_another_audience(
    stytch_emulator: StytchEmulator,
) -> None:
    token = issue_access_token(stytch_emulator, "openid read:data")
    with example_api(stytch_emulator, audience="project-test-another-api") as url:
        response = get(url, token)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_resource_server_rejects_an_expired_token() -> None:
    with StytchEmulator(access_token_ttl=-60) as emulator:  # exp a minute before iat
        token = issue_access_token(emulator, "openid read:data")
        with example_api(emulator) as url:
            response = get(url, token)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_resource_server_requires_the_scope(stytch_emulator: StytchEmulator) -> None:
    token = issue_access_token(stytch_emulator, "openid email")
    with example_api(stytch_emulator, scope="read:data") as url:
        response = get(url, token)
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("script", ["cli_app.py", "resource_server.py"])
def test_examples_have_help(script: str) -> None:
    result = run_example(script, "--help")
    assert result.returncode == 0
    assert "usage" in result.stdout
