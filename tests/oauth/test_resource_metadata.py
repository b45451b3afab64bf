"""RFC 9728 and RFC 7591 pieces on their own: the challenge parser, the well-known URLs, the
resource match, and the choice of client identity."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import pytest
import requests

from httpie_stytch_connected.errors import ConfigurationError
from httpie_stytch_connected.oauth.bearer import bearer_challenge
from httpie_stytch_connected.oauth.resource_metadata import (
    discover_resource,
    well_known_urls,
)
from httpie_stytch_connected.oauth.resource_uri import within
from httpie_stytch_connected.storage.store import FileStore
from httpie_stytch_connected.zero_config.client_identity import (
    ClientIdentity,
    RegistrationStore,
    client_identity,
)
from httpie_stytch_connected.zero_config.redirect_paths import server_redirect_path, sign_in_path


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'Bearer resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"',
            {"resource_metadata": "https://api.example.com/.well-known/oauth-protected-resource"},
        ),
        (
            'Bearer error="Unauthorized", error_description="Unauthorized", '
            'resource_metadata="https://a.example/m", scope="read:data write:data"',
            {
                "error": "Unauthorized",
                "error_description": "Unauthorized",
                "resource_metadata": "https://a.example/m",
                "scope": "read:data write:data",
            },
        ),
        ('Basic realm="x", Bearer scope="a"', {"scope": "a"}),
        ('Basic abc==, Bearer realm="api"', {"realm": "api"}),
        ('bearer Scope="a", scope="b"', {"scope": "a"}),
        (
            'Bearer error="invalid_token", error_description="say \\"hi\\""',
            {
                "error": "invalid_token",
                "error_description": 'say "hi"',
            },
        ),
        ("Bearer", {}),
        ('Basic realm="x"', None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_challenge(header: str | None, expected: dict[str, str] | None) -> None:
    assert bearer_challenge(header) == expected


def test_a_huge_challenge_is_cut_not_parsed_forever() -> None:
    assert bearer_challenge('Bearer scope="a", ' + "x" * 1_000_000) == {"scope": "a"}


@pytest.mark.parametrize("tail", ["(", '"', "/"])
def test_a_challenge_of_junk_costs_a_pass_over_it_not_one_per_character(tail: str) -> None:
    """A run of token characters that is neither a parameter nor a scheme (it ends in a
    character no challenge has there) was retried from each of its characters: an API's 8 KB
    header cost over a second of CPU on every 401. Ten of them now take far less than one."""
    junk = "Bearer " + "a" * 8000 + tail  # within the 8 KB read
    started = time.process_time()
    for _ in range(10):
        assert not bearer_challenge(junk)
    assert time.process_time() - started < 1.0


def test_well_known_urls_path_inserted_then_root() -> None:
    assert well_known_urls("https://api.example.com/mcp/v1?x=1") == [
        "https://api.example.com/.well-known/oauth-protected-resource/mcp/v1",
        "https://api.example.com/.well-known/oauth-protected-resource",
    ]
    assert well_known_urls("https://api.example.com/") == [
        "https://api.example.com/.well-known/oauth-protected-resource"
    ]


@pytest.mark.parametrize(
    ("resource", "url", "match"),
    [
        ("https://api.example.com", "https://api.example.com/api/resources", True),
        ("https://api.example.com/", "https://api.example.com/api/resources", True),
        ("https://api.example.com/api", "https://api.example.com/api/resources", True),
        ("https://api.example.com/api", "https://api.example.com/api", True),
        ("https://api.example.com/api", "https://api.example.com/apiary", False),
        ("https://api.example.com/other", "https://api.example.com/api/resources", False),
        ("https://evil.example.com", "https://api.example.com/api", False),
        ("http://api.example.com", "https://api.example.com/api", False),
        ("https://api.example.com:8443", "https://api.example.com/api", False),
        ("https://api.example.com/#x", "https://api.example.com/api", False),
    ],
)
def test_resource_matches(resource: str, url: str, match: bool) -> None:
    assert within(resource, url) is match


@pytest.mark.parametrize(
    ("url", "challenge"),
    [
        ("http://api.example.com/api", None),
        ("http://127.0.0.1:9/api", {"resource_metadata": "http://meta.example.com/prm"}),
    ],
)
def test_metadata_is_only_read_over_https_or_loopback(
    url: str, challenge: dict[str, str] | None
) -> None:
    with pytest.raises(ConfigurationError, match="https"):
        discover_resource(url, challenge, requests.Session())  # refused before any I/O


@pytest.mark.parametrize("field", ["resource", "authorization_servers"])
def test_metadata_urls_with_terminal_escapes_are_refused(field: str) -> None:
    from httpie_stytch_connected.oauth.resource_metadata import _parse

    document: dict[str, object] = {
        "resource": "https://api.example.com",
        "authorization_servers": ["https://login.example.com"],
    }
    hostile = "https://api.example.com/\x1b]8;;https://evil/\x07"
    document[field] = [hostile] if field == "authorization_servers" else hostile
    with pytest.raises(ConfigurationError, match="control characters") as caught:
        _parse(document, "https://api.example.com/.well-known/oauth-protected-resource")
    assert "\x1b" not in str(caught.value)


def identity(tmp_path: Path, metadata: Mapping[str, object], **kwargs: object) -> ClientIdentity:
    defaults: dict[str, object] = {
        "issuer": "https://login.example.com",
        "configured_client_id": None,
        "metadata_document": None,
        "registrations": RegistrationStore(FileStore(tmp_path)),
        "redirect_path": "/callback",
        "session": requests.Session(),
        "register_now": False,
    }
    defaults.update(kwargs)
    return client_identity(metadata, **defaults)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STYTCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("STYTCH_DATA_DIR", str(tmp_path / "data"))


def test_a_configured_client_id_wins_at_the_server_it_was_configured_for(tmp_path: Path) -> None:
    found = identity(
        tmp_path,
        {"registration_endpoint": "https://login.example.com/register"},
        configured_client_id="mine",
        configured_issuer="https://login.example.com",
        metadata_document="https://cli.example.com/client.json",
    )
    assert (found.client_id, found.source) == ("mine", "configured")


@pytest.mark.parametrize("configured_issuer", [None, "https://login.example.com/"])
def test_a_configured_client_id_is_never_used_at_a_server_an_api_named(
    tmp_path: Path, configured_issuer: str | None
) -> None:
    """Issue 17 §1: the pinned client belongs to the configured server (exactly: not even a
    trailing slash differs); at any other a registration (or the metadata document) is used."""
    found = identity(
        tmp_path,
        {"registration_endpoint": "https://login.example.com/register"},
        configured_client_id="mine",
        configured_issuer=configured_issuer,
    )
    assert found.source == "to be registered"
    with pytest.raises(ConfigurationError, match="sent only to the server configured with it"):
        identity(tmp_path, {}, configured_client_id="mine", configured_issuer=configured_issuer)


def test_each_server_gets_a_redirect_path_of_its_own() -> None:
    """RFC 9700 §4.4.2: distinct redirect URIs per authorization server, under the configured
    path; a configured client keeps the path registered with it."""
    one = server_redirect_path("/callback", "https://one.example.com")
    two = server_redirect_path("/callback/", "https://two.example.com")
    assert one.startswith("/callback/") and two.startswith("/callback/") and one != two
    assert one == server_redirect_path("/callback", "https://one.example.com")
    assert sign_in_path("/callback", "https://one.example.com", "registered") == one
    assert sign_in_path("/callback", "https://one.example.com", "metadata document") == one
    assert sign_in_path("/callback", "https://one.example.com", "configured") == "/callback"


def test_a_metadata_document_is_used_only_when_the_server_advertises_it(tmp_path: Path) -> None:
    document = "https://cli.example.com/client.json"
    advertised = {
        "client_id_metadata_document_supported": True,
        "registration_endpoint": "https://login.example.com/register",
    }
    found = identity(tmp_path, advertised, metadata_document=document)
    assert (found.client_id, found.source) == (document, "metadata document")
    silent = {"registration_endpoint": "https://login.example.com/register"}
    found = identity(tmp_path, silent, metadata_document=document)
    assert found.source == "to be registered"


def test_no_registration_endpoint_and_nothing_configured_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="STYTCH_CLIENT_ID"):
        identity(tmp_path, {})
