"""RFC 7636: S256 challenges, verifier shape, and what the authorization request carries."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from httpie_stytch_connected.login.flow import authorization_url
from httpie_stytch_connected.oauth.pkce import PKCE, new_verifier, random_token, s256_challenge


def test_rfc7636_appendix_b_vector() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_verifiers_are_fresh_and_in_range() -> None:
    verifiers = {new_verifier() for _ in range(50)}
    assert len(verifiers) == 50
    assert all(43 <= len(v) <= 128 for v in verifiers)


@pytest.mark.parametrize("bad", ["short", "x" * 129, "a" * 42 + "!", "é" * 50])
def test_invalid_verifiers_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        s256_challenge(bad)


def test_pkce_repr_hides_the_verifier() -> None:
    pkce = PKCE()
    assert pkce.verifier not in repr(pkce)
    assert pkce.method == "S256"


def test_state_and_nonce_are_unguessable() -> None:
    values = {random_token() for _ in range(100)}
    assert len(values) == 100
    assert all(len(v) >= 43 for v in values)


def test_authorization_url_keeps_existing_query() -> None:
    url = authorization_url("https://app.example/oauth/authorize?tenant=a", {"state": "s&x"})
    query = parse_qs(urlsplit(url).query)
    assert query == {"tenant": ["a"], "state": ["s&x"]}
