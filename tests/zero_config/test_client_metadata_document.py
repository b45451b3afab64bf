"""A team hosts a client ID metadata document (CIMD) and points the tool at it: the example in
``examples/client-metadata.json``, the redirect URI ``stytch-connected discover`` prints for it,
and the sign-in the tool then makes all agree, at the emulator (which fetches the document as
Stytch does) with nothing registered."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from httpie_stytch_connected import OAuth2PKCEAuth
from httpie_stytch_connected.errors import LoginError
from httpie_stytch_connected.testing import StytchEmulator
from httpie_stytch_connected.testing.emulator import example_api
from httpie_stytch_connected.testing.emulator.client_documents import document_client
from httpie_stytch_connected.testing.loopback import LoopbackServer, QuietHandler
from httpie_stytch_connected.zero_config.redirect_paths import sign_in_redirect
from tests.command import cli, rows

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "client-metadata.json"
#: The issuer the example's redirect URI is for, as README and the guide say.
EXAMPLE_ISSUER = "https://login.example.com"
DOCUMENT_PATH = "/oauth/client-metadata.json"


def example() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return document


class _Host:
    """A team's web server: serves ``document`` (set it at any time) at :data:`DOCUMENT_PATH`."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {}
        self.fetched = 0
        self._lock = threading.Lock()


@contextmanager
def hosting() -> Iterator[tuple[_Host, str]]:
    host = _Host()

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            if self.path != DOCUMENT_PATH:
                self.reply(404, b"not found", content_type="text/plain")
                return
            with host._lock:
                host.fetched += 1
            self.reply_json(200, host.document)

    with LoopbackServer(Handler) as server:
        yield host, server.url + DOCUMENT_PATH


def without_port(uri: str) -> str:
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(netloc=parts.hostname or ""))


def test_the_example_lists_the_redirect_uri_of_its_issuer_and_is_a_valid_public_client() -> None:
    document = example()
    assert document["redirect_uris"] == [
        sign_in_redirect("/callback", EXAMPLE_ISSUER, "metadata document")
    ]
    assert document["token_endpoint_auth_method"] == "none" and "client_secret" not in document
    assert set(document["grant_types"]) == {"authorization_code", "refresh_token"}
    assert urlsplit(document["client_id"]).scheme == "https"
    client = document_client(document["client_id"], document)  # Stytch's rules, as emulated
    assert client is not None and client.client_type == "third_party_public"
    for guide in (ROOT / "README.md", ROOT / "docs" / "guides" / "zero-configuration.md"):
        text = guide.read_text(encoding="utf-8")
        assert EXAMPLE_ISSUER in text and document["redirect_uris"][0] in text, guide


def test_a_team_hosts_the_example_with_the_redirect_discover_prints_and_signs_in_with_it(
    stytch_zero_env: StytchEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = stytch_zero_env
    with example_api(emulator) as api, hosting() as (host, url):
        monkeypatch.setenv("STYTCH_CLIENT_METADATA_URL", url)
        found = cli("discover", api.url)
        assert found.returncode == 0, found.stderr
        shown = rows(found.stdout)
        assert shown["Client"] == f"{url} (metadata document)"
        redirect = shown["Redirect URI"].removesuffix(" (any port)")
        host.document = {**example(), "client_id": url, "redirect_uris": [redirect]}

        response = requests.get(api.url, auth=OAuth2PKCEAuth(), timeout=30)
        assert response.status_code == 200
    [(client_id, sent)] = emulator.authorization_requests
    assert client_id == url and without_port(sent) == redirect
    assert emulator.counters["register"] == 0 and emulator.counters["login"] == 1
    assert host.fetched >= 2  # the authorization page and the token endpoint read it


def test_a_document_that_lists_another_redirect_uri_fails_the_sign_in(
    stytch_zero_env: StytchEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = stytch_zero_env
    monkeypatch.setenv("STYTCH_LOGIN_TIMEOUT", "3")
    with example_api(emulator) as api, hosting() as (host, url):
        monkeypatch.setenv("STYTCH_CLIENT_METADATA_URL", url)
        host.document = {**example(), "client_id": url}  # the example's issuer, not this one
        with pytest.raises(LoginError):
            requests.get(api.url, auth=OAuth2PKCEAuth(), timeout=30)
    assert emulator.counters["codes_issued"] == 0 and emulator.counters["register"] == 0
