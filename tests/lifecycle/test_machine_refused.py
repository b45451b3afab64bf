"""A machine client the provider refuses (a wrong secret, an unknown key, a scope it may not
have) is a configuration problem, not an outage: a :class:`ConfigurationError` in one sentence,
never the HTTP library's own request error (``requests.RequestException``, ``httpx.HTTPError``)
that a script's retry loop would retry forever; an outage stays one. Through requests, httpx's
and httpx2's ``Client`` and ``AsyncClient``, and HTTPie, against the Stytch emulator's M2M
clients and the provider-neutral client-credentials server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from httpie_stytch_connected.errors import ConfigurationError, TokenEndpointError
from httpie_stytch_connected.testing.client_credentials_server import ClientCredentialsServer
from httpie_stytch_connected.testing.emulator import ClientCredentials, StytchEmulator
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.adapters import ADAPTERS_IN_PROCESS, oauth2_auth, send, stytch_auth
from tests.httpie_harness import http

WRONG = "wrong-secret-Zq8Yx3"
SECRET_REFUSED = "The provider refused the machine client's ID or secret (invalid_client); "
KEY_REFUSED = "The provider refused the machine client's ID or private key (invalid_client); "
#: What a retry loop catches as "the network failed, try again".
REQUEST_ERRORS = (requests.RequestException, httpx.HTTPError, httpx2.HTTPError, OSError)


def refused(adapter: str, auth: Any, url: str) -> ConfigurationError:
    """The error one GET through ``adapter`` raises, checked to be no request error."""
    with pytest.raises(ConfigurationError) as caught:
        send(adapter, auth, "GET", url)
    error = caught.value
    assert not isinstance(error, REQUEST_ERRORS), type(error).__mro__
    assert not isinstance(error, TokenEndpointError)
    assert str(error).count(". ") == 0 and str(error).endswith(".")  # one sentence
    return error


@pytest.mark.parametrize("adapter", ADAPTERS_IN_PROCESS)
def test_a_wrong_m2m_secret_is_a_configuration_error_naming_the_secret(
    stytch_zero_env: StytchEmulator,
    stytch_m2m_client: ClientCredentials,
    stytch_resource_server: ResourceServer,
    adapter: str,
) -> None:
    auth = stytch_auth(
        adapter,
        project_domain=stytch_zero_env.project_domain,
        client_id=stytch_m2m_client.client_id,
        client_secret=WRONG,
    )
    error = refused(adapter, auth, stytch_resource_server.url)
    assert str(error).startswith(SECRET_REFUSED), error
    assert "STYTCH_CLIENT_SECRET" in str(error)
    assert WRONG not in repr(error) and str(stytch_m2m_client.client_secret) not in str(error)
    assert error.__context__ is None and error.__cause__ is None
    assert not stytch_resource_server.tokens_seen  # nothing was sent to the API


def test_a_wrong_m2m_secret_through_httpie_is_one_error_line(
    stytch_zero_env: StytchEmulator,
    stytch_m2m_client: ClientCredentials,
    stytch_resource_server: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("STYTCH_PROJECT_DOMAIN", stytch_zero_env.project_domain)
    monkeypatch.setenv("STYTCH_CLIENT_ID", stytch_m2m_client.client_id)
    monkeypatch.setenv("STYTCH_CLIENT_SECRET", WRONG)
    result = http("-A", "stytch", "GET", stytch_resource_server.url, config_dir=tmp_path)
    assert result.status == 1 and result.stdout == ""
    assert SECRET_REFUSED in result.stderr, result.stderr
    assert WRONG not in result.stderr


@pytest.mark.parametrize("adapter", ["requests", "Client", "AsyncClient"])
@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "key"])
def test_any_provider_refusing_the_client_is_a_configuration_error(
    stytch_keyring: Path, tmp_path: Path, adapter: str, method: str
) -> None:
    offered = ["private_key_jwt"] if method == "key" else [method]
    with ClientCredentialsServer(auth_methods=offered) as server:
        settings: dict[str, str] = {"issuer": server.issuer}
        if method == "key":
            registered = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            creds = server.add_key_client(registered, ("read",))
            other = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # not it
            key_file = tmp_path / "client.pem"
            key_file.write_bytes(
                other.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            key_file.chmod(0o600)
            settings["private_key_file"] = str(key_file)
        else:
            creds = server.add_secret_client(("read",), auth_method=method)
            settings["client_secret"] = WRONG
        auth = oauth2_auth(adapter, client_id=creds.client_id, **settings)
        with ResourceServer(
            jwks_uri=server.jwks_uri, issuer=server.issuer, audience=server.audience
        ) as api:
            error = refused(adapter, auth, api.url)
            assert not api.tokens_seen
    assert str(error).startswith(KEY_REFUSED if method == "key" else SECRET_REFUSED), error
    assert WRONG not in str(error)


@pytest.mark.parametrize("adapter", ADAPTERS_IN_PROCESS)
def test_a_scope_the_client_may_not_have_is_a_configuration_error_naming_it(
    stytch_zero_env: StytchEmulator,
    stytch_m2m_client: ClientCredentials,
    stytch_resource_server: ResourceServer,
    adapter: str,
) -> None:
    auth = stytch_auth(
        adapter,
        project_domain=stytch_zero_env.project_domain,
        client_id=stytch_m2m_client.client_id,
        client_secret=stytch_m2m_client.client_secret,
        scopes="offline_access",
    )
    error = refused(adapter, auth, stytch_resource_server.url)
    assert "invalid_scope" in str(error)
    assert "check scopes (STYTCH_SCOPES)" in str(error), error  # the setting to fix, as documented
    assert str(stytch_m2m_client.client_secret) not in str(error)


@pytest.mark.parametrize("adapter", ADAPTERS_IN_PROCESS)
def test_a_client_not_allowed_the_grant_is_a_configuration_error_naming_the_settings(
    stytch_zero_env: StytchEmulator,
    stytch_confidential_client: ClientCredentials,
    stytch_resource_server: ResourceServer,
    adapter: str,
) -> None:
    """A Connected App (a person's client) told to use the client-credentials grant: the
    provider answers ``unauthorized_client``, and the line names what to change."""
    confidential = stytch_confidential_client
    auth = stytch_auth(
        adapter,
        project_domain=stytch_zero_env.project_domain,
        client_id=confidential.client_id,
        client_secret=confidential.client_secret,
        grant_type="client_credentials",
    )
    error = refused(adapter, auth, stytch_resource_server.url)
    assert "unauthorized_client" in str(error), error
    assert "check client_id (STYTCH_CLIENT_ID) and grant_type (STYTCH_GRANT_TYPE)" in str(error)
    assert str(confidential.client_secret) not in str(error)
    assert not stytch_resource_server.tokens_seen


def test_a_refused_scope_through_httpie_is_one_line_naming_the_setting(
    stytch_zero_env: StytchEmulator,
    stytch_m2m_client: ClientCredentials,
    stytch_resource_server: ResourceServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("STYTCH_PROJECT_DOMAIN", stytch_zero_env.project_domain)
    monkeypatch.setenv("STYTCH_CLIENT_ID", stytch_m2m_client.client_id)
    monkeypatch.setenv("STYTCH_CLIENT_SECRET", str(stytch_m2m_client.client_secret))
    monkeypatch.setenv("STYTCH_SCOPES", "admin")
    result = http("-A", "stytch", "GET", stytch_resource_server.url, config_dir=tmp_path)
    assert result.status == 1 and result.stdout == ""
    assert "invalid_scope" in result.stderr and "check scopes (STYTCH_SCOPES)" in result.stderr
    assert str(stytch_m2m_client.client_secret) not in result.stderr


@pytest.mark.parametrize("adapter", ADAPTERS_IN_PROCESS)
@pytest.mark.parametrize("fault", ["503", "reset"])
def test_an_outage_stays_a_request_error(
    stytch_zero_env: StytchEmulator,
    stytch_m2m_client: ClientCredentials,
    stytch_resource_server: ResourceServer,
    adapter: str,
    fault: str,
) -> None:
    auth = stytch_auth(
        adapter,
        project_domain=stytch_zero_env.project_domain,
        client_id=stytch_m2m_client.client_id,
        client_secret=stytch_m2m_client.client_secret,
    )
    stytch_zero_env.inject_token_fault(fault, count=1)
    wanted = (
        requests.RequestException if adapter == "requests" else (httpx.HTTPError, httpx2.HTTPError)
    )
    with pytest.raises(wanted) as caught:
        send(adapter, auth, "GET", stytch_resource_server.url)
    assert isinstance(caught.value, TokenEndpointError)
    assert not isinstance(caught.value, ConfigurationError)
    assert send(adapter, auth, "GET", stytch_resource_server.url).status_code == 200  # over


@pytest.mark.parametrize("adapter", ADAPTERS_IN_PROCESS)
def test_a_machine_clients_token_endpoint_that_is_gone_is_a_configuration_error(
    stytch_zero_env: StytchEmulator,
    stytch_m2m_client: ClientCredentials,
    stytch_resource_server: ResourceServer,
    adapter: str,
) -> None:
    """A 404 from the token endpoint is no outage: retrying without a change (the setting it
    names, or the provider) cannot help, so no retry loop may take it for one."""
    stytch_zero_env.token_gone = True
    auth = stytch_auth(
        adapter,
        project_domain=stytch_zero_env.project_domain,
        client_id=stytch_m2m_client.client_id,
        client_secret=stytch_m2m_client.client_secret,
    )
    error = refused(adapter, auth, stytch_resource_server.url)
    assert "answered HTTP 404, as if it were not there" in str(error), error
    assert "the project_domain setting" in str(error)
