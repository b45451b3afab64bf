"""Resource URLs that RFC 3986 §6.2 calls equivalent are one resource (issue 18 §3).

The API's metadata may spell its ``resource`` with another scheme or host case, an explicit
default port, or an empty path where the URL called has ``/``: the chain accepts it, and the
binding it caches is found again by the next run, so the person signs in once.
"""

from __future__ import annotations

import pytest

from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.oauth.resource_uri import origin_of
from httpie_stytch_connected.testing.emulator import StytchEmulator, example_api
from httpie_stytch_connected.zero_config.binding import Binding, BindingCache
from tests.adapters import ADAPTERS, oauth2_auth, send


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_resource_spelled_another_equivalent_way_is_accepted_and_found_again(
    adapter: str, stytch_zero_env: StytchEmulator
) -> None:
    api = example_api(stytch_zero_env)
    with api:
        scheme, rest = api.origin.split("://", 1)
        api._resource = f"{scheme.upper()}://{rest}/"  # "HTTP://127.0.0.1:PORT/"
        assert send(adapter, oauth2_auth(adapter), "GET", api.url).status_code == 200
        forget_memory()  # a later run
        response = send(adapter, oauth2_auth(adapter), "GET", api.url)
        assert response.status_code == 200 and not response.history
    assert stytch_zero_env.counters["login"] == 1 and stytch_zero_env.counters["register"] == 1
    assert api.counters["metadata"] == 1


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("https://API.Example.com:443", "https://api.example.com/"),
        ("HTTP://api.example.com:80/a", "http://api.example.com/a"),
        ("https://api.example.com:8443/", "https://api.example.com:8443"),
        ("https://[::1]:443/", "https://[::1]"),
    ],
)
def test_origins_are_compared_after_rfc_3986_normalisation(one: str, other: str) -> None:
    assert origin_of(one) == origin_of(other)
    assert origin_of("https://api.example.com:8443") != origin_of("https://api.example.com")


def test_a_binding_for_a_resource_with_an_explicit_default_port_is_found_for_the_api_url(
    stytch_zero_env: StytchEmulator,
) -> None:
    """The cache file is chosen by origin: ``https://API.example.com:443`` and the URL called,
    ``https://api.example.com/v1/items``, must lead to the same file, or every run walks the
    chain again and signs in again."""
    binding = Binding(
        resource="HTTPS://API.Example.com:443",
        issuer="https://login.example.com",
        authorization_endpoint="https://login.example.com/authorize",
        token_endpoint="https://login.example.com/token",
        client_id="client-1",
        client_source="registered",
        scopes=("read",),
    )
    BindingCache().save(binding)
    assert BindingCache().lookup("https://api.example.com/v1/items") == binding
    assert BindingCache().lookup("https://api.example.com:8443/v1/items") is None
