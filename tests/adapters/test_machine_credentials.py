"""Machine credentials, confidential clients and supplied tokens through every adapter:
requests, httpx and httpx2 ``Client`` and ``AsyncClient``, and HTTPie (in-process), against the
Stytch emulator, an API verifying its tokens, and the provider-neutral client-credentials server."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from httpie_stytch_connected.errors import LoginError
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.testing.client_credentials_server import ClientCredentialsServer
from httpie_stytch_connected.testing.emulator import ClientCredentials, StytchEmulator, example_api
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.adapters import ADAPTERS, oauth2_auth, send, stytch_auth, supplied_jwt
from tests.httpie_harness import http
from tests.loopback import LoopbackServer, QuietHandler

EVERY = ADAPTERS


def call(adapter: str, url: str, tmp: Path, **settings: Any) -> tuple[int, str]:
    """One GET through ``adapter`` (HTTPie takes the settings as STYTCH_* variables)."""
    auth = (
        stytch_auth(adapter, **settings)
        if "project_domain" in settings
        else oauth2_auth(adapter, **settings)
    )
    answer = send(adapter, auth, "GET", url)
    return answer.status_code, answer.text


def nothing_anywhere(root: Path, *secrets: str) -> None:
    """No file the package wrote (keyring, caches, data) holds any of ``secrets``."""
    for path in root.rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", "replace")
            for secret in secrets:
                assert secret not in text, path


@pytest.fixture
def machine_env(
    stytch_zero_env: StytchEmulator,
    stytch_m2m_client: ClientCredentials,
    monkeypatch: pytest.MonkeyPatch,
) -> ClientCredentials:
    """The M2M client in the environment; a BROWSER that fails the test if ever run."""
    assert stytch_m2m_client.client_secret is not None
    monkeypatch.setenv("STYTCH_PROJECT_DOMAIN", stytch_zero_env.project_domain)
    monkeypatch.setenv("STYTCH_CLIENT_ID", stytch_m2m_client.client_id)
    monkeypatch.setenv("STYTCH_CLIENT_SECRET", stytch_m2m_client.client_secret)
    monkeypatch.setenv("BROWSER", "false")
    return stytch_m2m_client


@pytest.mark.parametrize("adapter", EVERY)
def test_an_m2m_client_gets_its_token_by_client_credentials_and_caches_it(
    machine_env: ClientCredentials,
    stytch_zero_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    stytch_keyring: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    adapter: str,
) -> None:
    emulator = stytch_zero_env
    secret = str(machine_env.client_secret)
    for _ in range(2):
        status, text = call(adapter, stytch_resource_server.url, tmp_path)
        assert status == 200, text
        assert json.loads(text.splitlines()[0] if adapter != "httpie" else text)["sub"] == (
            machine_env.client_id
        )
    forget_memory()  # a new process: the access-token cache answers, no new grant
    assert call(adapter, stytch_resource_server.url, tmp_path)[0] == 200
    assert emulator.counters["token_client_credentials"] == 1
    assert emulator.counters["authorize_page"] == 0 and emulator.counters["login"] == 0
    [token] = stytch_resource_server.tokens_seen
    claims = emulator.verify_access_token(token)
    assert claims["sub"] == machine_env.client_id
    assert claims["scope"] == "read:data write:data"  # none configured: the client's own
    output = capsys.readouterr()
    for secret_value in (secret, token):
        assert secret_value not in output.out + output.err
    nothing_anywhere(stytch_keyring / "keyring", secret, token)  # nothing in the keyring
    nothing_anywhere(stytch_keyring, secret)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_configured_scopes_are_asked_for(
    machine_env: ClientCredentials,
    stytch_zero_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    tmp_path: Path,
    adapter: str,
) -> None:
    status, _ = call(
        adapter,
        stytch_resource_server.url,
        tmp_path,
        project_domain=stytch_zero_env.project_domain,
        client_id=machine_env.client_id,
        scopes="read:data",
    )
    assert status == 200
    [token] = stytch_resource_server.tokens_seen
    assert stytch_zero_env.verify_access_token(token)["scope"] == "read:data"


class RefusesFirst:
    """An API that answers 401 to the first token it sees and 200 to any other."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                with owner._lock:
                    owner.tokens.append(token)
                    first = owner.tokens[0]
                if token == first:
                    self.reply(401, b"{}", headers={"WWW-Authenticate": "Bearer"})
                else:
                    self.reply(200, b'{"ok": true}')

        self.server = LoopbackServer(Handler)


@pytest.fixture
def refuses_first() -> Iterator[RefusesFirst]:
    api = RefusesFirst()
    with api.server:
        yield api


@pytest.mark.parametrize("adapter", EVERY)
def test_a_401_gets_one_new_machine_token_and_one_resend(
    machine_env: ClientCredentials,
    stytch_zero_env: StytchEmulator,
    refuses_first: RefusesFirst,
    tmp_path: Path,
    adapter: str,
) -> None:
    status, text = call(adapter, refuses_first.server.url + "/api", tmp_path)
    assert status == 200, text
    assert len(refuses_first.tokens) == 2 and refuses_first.tokens[0] != refuses_first.tokens[1]
    assert stytch_zero_env.counters["token_client_credentials"] == 2


class AlwaysRefuses(QuietHandler):
    """An API that answers 401 to every token: a machine token it will never take."""

    def do_GET(self) -> None:
        self.reply(401, b"{}", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


@pytest.mark.parametrize("adapter", EVERY)
def test_an_api_that_refuses_every_machine_token_costs_one_renewal_not_a_loop(
    machine_env: ClientCredentials,
    stytch_zero_env: StytchEmulator,
    tmp_path: Path,
    adapter: str,
) -> None:
    with LoopbackServer(AlwaysRefuses) as api:
        status, _ = call(adapter, api.url + "/api", tmp_path)
    assert status == 401  # the API's answer, handed back
    assert stytch_zero_env.counters["token_client_credentials"] == 2  # the first, one renewal


@pytest.mark.parametrize("adapter", EVERY)
@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "key"])
def test_any_provider_by_issuer_with_the_method_its_metadata_offers(
    stytch_zero_env: StytchEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    adapter: str,
    method: str,
) -> None:
    offered = ["private_key_jwt"] if method == "key" else [method]
    with ClientCredentialsServer(auth_methods=offered) as server:
        if method == "key":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            creds = server.add_key_client(key, ("read",))
            key_file = tmp_path / "client.pem"
            key_file.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            key_file.chmod(0o600)
            monkeypatch.setenv("STYTCH_PRIVATE_KEY_FILE", str(key_file))
        else:
            creds = server.add_secret_client(("read",), auth_method=method)
            assert creds.client_secret is not None
            monkeypatch.setenv("STYTCH_CLIENT_SECRET", creds.client_secret)
        monkeypatch.setenv("STYTCH_ISSUER", server.issuer)
        monkeypatch.setenv("STYTCH_CLIENT_ID", creds.client_id)
        with ResourceServer(
            jwks_uri=server.jwks_uri, issuer=server.issuer, audience=server.audience
        ) as api:
            status, text = call(adapter, api.url, tmp_path, issuer=server.issuer)
            assert status == 200, text
            assert call(adapter, api.url, tmp_path, issuer=server.issuer)[0] == 200
        wanted = "private_key_jwt" if method == "key" else method
        assert server.auth_seen == [(creds.client_id, wanted)]
    output = capsys.readouterr()
    if creds.client_secret:
        assert creds.client_secret not in output.out + output.err


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_confidential_connected_app_sends_its_secret_at_code_exchange_and_refresh(
    stytch_env: StytchEmulator,
    stytch_confidential_client: ClientCredentials,
    stytch_resource_server: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    adapter: str,
) -> None:
    emulator = stytch_env
    app = stytch_confidential_client
    assert app.client_secret is not None
    emulator.strict_client_auth_method = True
    settings = {
        "project_domain": emulator.project_domain,
        "client_id": app.client_id,
        "client_secret": app.client_secret,
    }
    assert call(adapter, stytch_resource_server.url, tmp_path, **settings)[0] == 200
    assert emulator.counters["login"] == 1  # a person signed in: not a machine
    from tests.lifecycle import expire_stored

    auth = stytch_auth(adapter, **settings)
    expire_stored(auth.manager.key)
    assert send(adapter, auth, "GET", stytch_resource_server.url).status_code == 200
    mine = [
        (endpoint, method)
        for endpoint, cid, method in emulator.client_auth_seen
        if cid == app.client_id
    ]
    assert mine == [("token", app.token_endpoint_auth_method)] * 2  # exchange, then refresh
    assert emulator.counters["token_refresh_ok"] == 1


@pytest.mark.parametrize("adapter", EVERY)
@pytest.mark.parametrize("given", ["variable", "file"])
def test_a_supplied_token_is_used_as_is_and_a_401_says_it_was_refused(
    stytch_zero_env: StytchEmulator,
    stytch_m2m_client: ClientCredentials,
    refuses_first: RefusesFirst,
    stytch_resource_server: ResourceServer,
    stytch_keyring: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    adapter: str,
    given: str,
) -> None:
    import requests

    good = requests.post(
        stytch_zero_env.token_endpoint,
        data={"grant_type": "client_credentials"},
        auth=(stytch_m2m_client.client_id, str(stytch_m2m_client.client_secret)),
        timeout=10,
    ).json()["access_token"]
    supplied: dict[str, str] = {"access_token": good}  # no provider, no client: used as is
    if given == "file":  # as a secret mount gives it: with a trailing line break, 0600
        token_file = tmp_path / "token"
        token_file.write_text(good + "\n")
        token_file.chmod(0o600)
        supplied = {"access_token_file": str(token_file)}
    for name, value in supplied.items():
        monkeypatch.setenv(f"STYTCH_{name.upper()}", value)
    status, text = call(adapter, stytch_resource_server.url, tmp_path, **supplied)
    assert status == 200, text
    assert stytch_resource_server.tokens_seen == {good}
    nothing_anywhere(stytch_keyring, good)
    if adapter == "httpie":
        result = http("-A", "stytch", "GET", refuses_first.server.url, config_dir=tmp_path)
        assert result.status != 0
        text = result.stdout + result.stderr
        assert "refused the supplied access token" in text and good not in text
        return
    with pytest.raises(LoginError, match="refused the supplied access token") as caught:
        call(adapter, refuses_first.server.url, tmp_path, **supplied)
    assert good not in str(caught.value)
    assert refuses_first.tokens == [good]  # not refreshed, not resent


@pytest.mark.parametrize("adapter", EVERY)
def test_a_refused_supplied_token_that_has_expired_says_when(
    stytch_zero_env: StytchEmulator,
    refuses_first: RefusesFirst,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    adapter: str,
) -> None:
    expired = supplied_jwt(exp=int(time.time()) - 600)
    monkeypatch.setenv("STYTCH_ACCESS_TOKEN", expired)
    if adapter == "httpie":
        result = http("-A", "stytch", "GET", refuses_first.server.url, config_dir=tmp_path)
        assert result.status != 0
        text = result.stdout + result.stderr
    else:
        with pytest.raises(LoginError) as caught:
            call(adapter, refuses_first.server.url, tmp_path, access_token=expired)
        text = str(caught.value)
    # Seconds pass between making the token and the refusal: 10 minutes and a few seconds.
    assert "refused the supplied access token" in text, text
    assert re.search(r"it expired 10 minutes( \d+ seconds?)? ago \(at \d\d:\d\d\)", text), text
    assert expired not in text


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_a_server_offering_only_secrets_costs_one_registration_kept_with_its_secret(
    stytch_zero_env: StytchEmulator,
    stytch_keyring: Path,
    capsys: pytest.CaptureFixture[str],
    adapter: str,
    method: str,
) -> None:
    """MCP's auth/token-endpoint-auth-basic and -post: register for the method offered, keep
    the secret in the secure store with the registration, use it at every token request."""
    from httpie_stytch_connected.testing.emulator import example_api

    emulator = stytch_zero_env
    emulator.registration_auth_method = method
    emulator.strict_client_auth_method = True
    with example_api(emulator) as api:
        assert send(adapter, oauth2_auth(adapter), "GET", api.url).status_code == 200
        forget_memory()  # a later run: the registration (and its secret) comes from the store
        shutil_rmtree_cache(stytch_keyring)
        assert send(adapter, oauth2_auth(adapter), "GET", api.url).status_code == 200
    assert emulator.counters["register"] == 1
    seen = {(endpoint, how) for endpoint, _, how in emulator.client_auth_seen}
    assert seen == {("token", method)}
    from httpie_stytch_connected.storage.store import KeyringStore
    from httpie_stytch_connected.zero_config.client_identity import (
        RegistrationStore,
        registration_redirect,
    )

    record = RegistrationStore(KeyringStore()).load_record(
        emulator.issuer, registration_redirect("/callback", emulator.issuer)
    )
    assert record is not None and record.client_secret  # kept in the secure store
    assert record.token_endpoint_auth_method == method
    output = capsys.readouterr()
    assert record.client_secret not in output.out + output.err + repr(record)
    nothing_anywhere(stytch_keyring / "cache", record.client_secret)
    nothing_anywhere(stytch_keyring / "data", record.client_secret)


def shutil_rmtree_cache(root: Path) -> None:
    """Wipe the cache (bindings, discovery, access tokens); the keyring stays."""
    import shutil

    shutil.rmtree(root / "cache")
    (root / "cache").mkdir()


@pytest.mark.parametrize("adapter", EVERY)
def test_a_profile_holds_the_machine_credential(
    stytch_zero_env: StytchEmulator,
    stytch_m2m_client: ClientCredentials,
    stytch_resource_server: ResourceServer,
    stytch_keyring: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    adapter: str,
) -> None:
    secret = str(stytch_m2m_client.client_secret)
    config = stytch_keyring / "config.toml"
    config.touch(mode=0o600)  # a secret in it: the person's alone (settings/profiles.py)
    config.write_text(
        "[profiles.ci]\n"
        f'project_domain = "{stytch_zero_env.project_domain}"\n'
        f'client_id = "{stytch_m2m_client.client_id}"\n'
        f'client_secret = "{secret}"\n'
        'scopes = "read:data"\n'
    )
    if adapter == "httpie":
        result = http(
            "-A", "stytch", "-a", "ci", "GET", stytch_resource_server.url, config_dir=tmp_path
        )
        assert result.status == 0, result.stderr
        assert secret not in result.stdout + result.stderr
    else:
        answer = send(
            adapter, stytch_auth(adapter, profile="ci"), "GET", stytch_resource_server.url
        )
        assert answer.status_code == 200
    [token] = stytch_resource_server.tokens_seen
    assert stytch_zero_env.verify_access_token(token)["scope"] == "read:data"
    output = capsys.readouterr()
    assert secret not in output.out + output.err


# -- zero configuration with a pre-registered confidential client -----------------------------


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_zero_config_with_a_pre_registered_confidential_client_sends_its_secret(
    adapter: str, stytch_zero_env: StytchEmulator, stytch_emulator: StytchEmulator
) -> None:
    """What an administrator hands out is set: the client ID and secret, the server they belong
    to and the scopes (the MCP conformance suite's ``auth/pre-registration``). No client is
    registered and the token endpoint gets the configured secret. (A client ID goes only to the
    server it is configured for: the mix-up defence of issue 17 §1.)"""
    app = stytch_emulator.create_connected_app("first_party")
    assert app.client_secret is not None
    stytch_emulator.strict_client_auth_method = True  # the secret is required, by Basic
    # The emulator's metadata offers what Stytch's discovery document lists (stytch.md), as is.
    with example_api(stytch_emulator) as api:
        auth = oauth2_auth(
            adapter,
            client_id=app.client_id,
            client_secret=app.client_secret,
            issuer=stytch_emulator.issuer,
            scopes="read:data",
            grant_type="authorization_code",
        )
        response = send(adapter, auth, "GET", api.url)
        assert response.status_code == 200, response.text
    counters = stytch_emulator.counters
    assert counters["register"] == 0 and counters["login"] == 1
    assert ("token", app.client_id, "client_secret_basic") in stytch_emulator.client_auth_seen
