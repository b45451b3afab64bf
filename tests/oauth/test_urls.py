"""How a refused URL is named in a message: scheme and host only, never user information, a
path or a query, which may carry secrets (oauth/urls.py), wherever the URL came from."""

from __future__ import annotations

import pytest

from httpie_stytch_connected.errors import ConfigurationError
from httpie_stytch_connected.oauth.urls import check_endpoint, equivalent, host_of
from tests.command import cli, one_line_error

SECRET = "QUERYSECRET123"


@pytest.mark.parametrize(
    "url",
    [
        f"http://api.example.com/v1?api_key={SECRET}",
        f"ftp://api.example.com/{SECRET}",
        f"http://user:{SECRET}@api.example.com/",
        f"api.example.com/v1?api_key={SECRET}",
        f"http://api.example.com/v1#{SECRET}",
    ],
)
def test_a_refused_url_is_named_without_its_secrets(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        check_endpoint(url, "the API URL")
    assert SECRET not in str(caught.value)
    assert SECRET not in host_of(url)


@pytest.mark.parametrize("command", [("discover",), ("token", "--resource")])
def test_the_command_names_a_refused_api_url_without_its_query(command: tuple[str, ...]) -> None:
    done = cli(*command, f"http://api.example.invalid/v1?api_key={SECRET}")
    line = one_line_error(done)
    assert SECRET not in done.stderr and "http://api.example.invalid/…" in line


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("https://login.example.com", "https://login.example.com/", True),
        ("https://login.example.com", "HTTPS://Login.Example.COM", True),
        ("https://login.example.com", "https://login.example.com:443/", True),
        ("http://127.0.0.1:80/", "http://127.0.0.1", True),
        ("https://login.example.com/t", "https://login.example.com/t/", False),
        ("https://login.example.com/T", "https://login.example.com/t", False),
        ("https://login.example.com", "http://login.example.com", False),
        ("https://login.example.com", "https://login.example.com:8443", False),
        ("https://login.example.com", "https://login.example.com.evil", False),
        ("https://a:x/", "https://a:x/", False),  # no port: nothing is equivalent to it
    ],
)
def test_urls_a_person_writes_differently_are_equivalent_only_by_rfc_3986(
    a: str, b: str, same: bool
) -> None:
    assert equivalent(a, b) is same and equivalent(b, a) is same


@pytest.mark.parametrize(
    "url",
    [
        "http://login.example.com@127.0.0.1:8080/",
        "https://user:pw@login.example.com/",
        "https://@a/",
    ],
)
def test_a_url_with_user_information_is_refused_naming_its_real_host(url: str) -> None:
    """A hostile server's issuer ``http://login.example.com@127.0.0.1`` must not read as
    ``login.example.com`` in the question the person answers."""
    with pytest.raises(ConfigurationError, match="user information") as caught:
        check_endpoint(url, "issuer")
    assert "login.example.com" not in str(caught.value).replace(host_of(url), "")


@pytest.mark.parametrize("url", ["notaurl", "ftp://api.example.com/", "127.0.0.1:8080/x"])
def test_a_url_without_a_usable_scheme_says_both_schemes_that_are(url: str) -> None:
    """Plain http is accepted on this machine: the refusal that says what a URL must be says so
    too, or a person testing against a local API is told to use https:// that it does not
    serve."""
    with pytest.raises(ConfigurationError) as caught:
        check_endpoint(url, "the API URL")
    assert "https://" in str(caught.value) and "http:// on 127.0.0.1" in str(caught.value)
