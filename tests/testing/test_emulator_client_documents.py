"""The emulator's client ID metadata documents (CIMD): advertised, fetched on use, and refused
by the draft's rules and Stytch's (a third-party public client, redirect URLs it would
register)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.emulator.client_documents import (
    document_client,
    is_document_url,
)

URL = "https://cli.example.com/oauth/client-metadata.json"
GOOD: dict[str, Any] = {
    "client_id": URL,
    "client_name": "cli",
    "redirect_uris": ["http://127.0.0.1/callback/0123456789ab"],
    "token_endpoint_auth_method": "none",
}


@pytest.fixture
def emulator() -> Iterator[StytchEmulator]:
    with StytchEmulator() as emulator:
        yield emulator


def test_the_metadata_advertises_documents_while_the_switch_is_on(
    emulator: StytchEmulator,
) -> None:
    url = emulator.url + "/.well-known/oauth-authorization-server"
    assert requests.get(url, timeout=10).json()["client_id_metadata_document_supported"] is True
    emulator.client_id_metadata_documents = False
    assert "client_id_metadata_document_supported" not in requests.get(url, timeout=10).json()


def test_a_good_document_is_a_third_party_public_client() -> None:
    client = document_client(URL, GOOD)
    assert client is not None
    assert (client.client_id, client.redirect_uris) == (URL, tuple(GOOD["redirect_uris"]))
    assert client.client_type == "third_party_public" and client.secret is None


@pytest.mark.parametrize(
    "change",
    [
        {"client_id": URL + "?other"},  # not the URL it was fetched from
        {"redirect_uris": []},
        {"redirect_uris": "http://127.0.0.1/callback"},
        {"redirect_uris": ["http://localhost/callback"]},  # Stytch refuses localhost
        {"redirect_uris": ["http://cli.example.com/callback"]},  # http off loopback
        {"token_endpoint_auth_method": "client_secret_basic"},
        {"client_secret": "s3cret"},
    ],
)
def test_a_document_breaking_a_rule_names_no_client(change: dict[str, Any]) -> None:
    assert document_client(URL, {**GOOD, **change}) is None


@pytest.mark.parametrize(
    ("url", "document"),
    [
        (URL, True),
        ("http://127.0.0.1:8000/client.json", True),  # a test's own host
        ("http://cli.example.com/client.json", False),
        ("https://cli.example.com", False),  # no path
        ("https://cli.example.com/client.json#x", False),
        ("connected-app-test-1234", False),
    ],
)
def test_which_client_ids_name_a_document(url: str, document: bool) -> None:
    assert is_document_url(url) is document


def test_an_unreachable_document_is_an_unknown_client(emulator: StytchEmulator) -> None:
    query = {
        "client_id": "http://127.0.0.1:9/client.json",
        "redirect_uri": "http://127.0.0.1/callback",
    }
    page = requests.get(emulator.authorize_url, params=query, timeout=10)
    assert page.status_code == 401 and "Unknown client_id" in page.text
    assert emulator.counters["client_document_fetch"] == 1
