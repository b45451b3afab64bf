"""Property-based tests: callback parsing, PKCE and the token model under arbitrary input."""

from __future__ import annotations

import json
import math
import string
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from httpie_stytch_connected.login.callback_server import evaluate, render
from httpie_stytch_connected.oauth import pkce
from httpie_stytch_connected.oauth.tokens import TokenResponseError, TokenSet

UNRESERVED = string.ascii_letters + string.digits + "-._~"
B64URL = string.ascii_letters + string.digits + "-_"
STATE = "s" * 43
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- callback parsing ----------------------------------------------------------------------

params = st.dictionaries(st.text(max_size=20), st.text(max_size=60), max_size=8)


@FAST
@given(path=st.text(max_size=80), query=st.text(max_size=400))
def test_evaluate_never_raises_and_never_accepts_without_the_state(path: str, query: str) -> None:
    outcome = evaluate(path, query, expected_path="/callback", expected_state=STATE)
    assert outcome.status in (200, 400, 404)
    if STATE not in query:
        assert not outcome.final
    render(outcome)  # renders whatever came in


@FAST
@given(extra=params, code=st.text(min_size=1, max_size=100))
def test_evaluate_accepts_the_matching_state_and_returns_the_code(
    extra: dict[str, str], code: str
) -> None:
    fields = {k: v for k, v in extra.items() if k not in ("state", "code", "error")}
    fields.update(state=STATE, code=code)
    outcome = evaluate(
        "/callback", urlencode(fields), expected_path="/callback", expected_state=STATE
    )
    if len(fields) > 32:
        assert not outcome.final
    else:
        assert outcome.final and outcome.code == code and outcome.error is None


@FAST
@given(state=st.text(max_size=60), error=st.text(max_size=40), code=st.text(max_size=40))
def test_a_wrong_state_can_neither_complete_nor_abort_the_login(
    state: str, error: str, code: str
) -> None:
    if state == STATE:
        state += "x"
    for fields in ({"state": state, "code": code}, {"state": state, "error": error or "x"}):
        outcome = evaluate(
            "/callback", urlencode(fields), expected_path="/callback", expected_state=STATE
        )
        assert not outcome.final and outcome.code is None and outcome.error is None


@FAST
@given(name=st.sampled_from(["state", "code", "error"]), n=st.integers(2, 5))
def test_repeated_parameters_are_refused(name: str, n: int) -> None:
    base = {"state": STATE, "code": "abc", name: "first"}
    query = urlencode(base) + f"&{name}=again" * (n - 1)
    outcome = evaluate("/callback", query, expected_path="/callback", expected_state=STATE)
    assert not outcome.final and outcome.status == 400


@FAST
@given(
    code=st.text(min_size=1, max_size=50),
    path=st.text(max_size=30).filter(lambda p: p != "/callback"),
)
def test_only_the_expected_path_is_accepted(code: str, path: str) -> None:
    query = urlencode({"state": STATE, "code": code})
    outcome = evaluate(path, query, expected_path="/callback", expected_state=STATE)
    assert outcome.status == 404 and not outcome.final


@FAST
@given(description=st.text(max_size=400), error=st.text(min_size=1, max_size=200))
def test_provider_error_text_is_escaped_when_echoed(description: str, error: str) -> None:
    query = urlencode({"state": STATE, "error": error, "error_description": description})
    outcome = evaluate("/callback", query, expected_path="/callback", expected_state=STATE)
    assert outcome.final and outcome.code is None
    page = render(outcome).decode()
    assert "<script" not in page.lower().replace("<style", "")
    body = page.split("</style>", 1)[1]
    assert "<" not in body.replace("<h1>", "").replace("</h1>", "").replace("<p>", "").replace(
        "</p>", ""
    ).replace("<code>", "").replace("</code>", "").replace("</html>", "")


def test_a_huge_number_of_fields_is_refused() -> None:
    query = "&".join(f"f{i}=x" for i in range(5000)) + f"&state={STATE}&code=abc"
    outcome = evaluate("/callback", query, expected_path="/callback", expected_state=STATE)
    assert outcome.status == 400 and not outcome.final


# -- PKCE ----------------------------------------------------------------------------------


def test_s256_matches_rfc7636_appendix_b() -> None:
    # RFC 7636 Appendix B prints this challenge for this verifier (SHA-256 octets 19 211 ...).
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce.s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@FAST
@given(nbytes=st.integers(32, 96))
def test_verifiers_are_43_to_128_unreserved_characters(nbytes: int) -> None:
    verifier = pkce.new_verifier(nbytes)
    assert 43 <= len(verifier) <= 128
    assert set(verifier) <= set(UNRESERVED)
    challenge = pkce.s256_challenge(verifier)
    assert len(challenge) == 43 and set(challenge) <= set(B64URL)


def test_default_pkce_and_state_shapes() -> None:
    seen = set()
    for _ in range(50):
        p = pkce.PKCE()
        assert len(p.verifier) == 86 and p.verifier not in repr(p)
        assert len(p.challenge) == 43 and p.method == "S256"
        seen.add(p.verifier)
        state = pkce.random_token()
        assert len(state) >= 43 and set(state) <= set(B64URL)
    assert len(seen) == 50


@FAST
@given(verifier=st.text(max_size=200))
def test_s256_refuses_verifiers_outside_rfc7636(verifier: str) -> None:
    valid = 43 <= len(verifier) <= 128 and set(verifier) <= set(UNRESERVED)
    if valid:
        assert len(pkce.s256_challenge(verifier)) == 43
    else:
        with pytest.raises(ValueError):
            pkce.s256_challenge(verifier)


@FAST
@given(verifier=st.text(alphabet=UNRESERVED, min_size=43, max_size=128))
def test_s256_is_deterministic_and_url_safe(verifier: str) -> None:
    first = pkce.s256_challenge(verifier)
    assert first == pkce.s256_challenge(verifier)
    assert len(first) == 43 and set(first) <= set(B64URL)


# -- token model ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=8,
)
token_fields = st.sampled_from(
    ["access_token", "token_type", "expires_in", "refresh_token", "scope", "id_token"]
)
hostile_bodies = st.dictionaries(token_fields | st.text(max_size=10), json_values, max_size=7)
hostile_expiry = st.one_of(
    json_values,
    st.sampled_from(["inf", "-inf", "nan", "1e999", "Infinity", "3600", " 60 ", "0x10", "1_0"]),
)


@FAST
@given(body=hostile_bodies, now=st.floats(0, 4e9))
def test_from_response_raises_only_token_response_error(body: dict[str, Any], now: float) -> None:
    try:
        tokens = TokenSet.from_response(body, now=now)
    except TokenResponseError:
        return
    assert isinstance(tokens.access_token, str) and tokens.access_token
    assert tokens.expires_at is None or math.isfinite(tokens.expires_at)
    assert TokenSet.from_json(tokens.to_json()) == tokens


@FAST
@given(expires_in=hostile_expiry, now=st.floats(0, 4e9))
def test_expiry_is_finite_and_fixed_at_receipt(expires_in: Any, now: float) -> None:
    body = {"access_token": "a.b.c", "token_type": "bearer", "expires_in": expires_in}
    try:
        tokens = TokenSet.from_response(body, now=now)
    except TokenResponseError:
        return
    assert tokens.received_at == now
    if tokens.expires_at is None:  # absent, zero or less, or not finite: unknown, not expired
        assert expires_in is None or not _positive_and_finite(expires_in)
    else:
        assert math.isfinite(tokens.expires_at)
        # Longer than a year is taken as a year: nothing downstream meets an absurd expiry.
        assert tokens.expires_at == now + min(float(expires_in), 365 * 86400.0)
        assert float(expires_in) > 0


def _positive_and_finite(value: Any) -> bool:
    try:
        return 0 < float(value) < math.inf
    except OverflowError:
        return False


def test_expiry_comes_from_expires_in_not_the_jwt() -> None:
    tokens = TokenSet.from_response(
        {"access_token": "x", "expires_in": 120, "token_type": "Bearer"}, now=1000.0
    )
    assert tokens.expires_at == 1120.0
    assert not tokens.expires_within(60, now=1059.0)
    assert tokens.expires_within(60, now=1060.0)
    assert tokens.expires_within(0, now=1120.0)


token_sets = st.builds(
    TokenSet,
    access_token=st.text(max_size=80),
    expires_at=st.none() | st.floats(0, 1e12),
    refresh_token=st.none() | st.text(min_size=1, max_size=80),
    scope=st.none() | st.text(min_size=1, max_size=40),
    id_token=st.none() | st.text(min_size=1, max_size=80),
    received_at=st.floats(0, 1e12),
)


@FAST
@given(tokens=token_sets)
def test_token_set_json_round_trip_and_repr_hides_secrets(tokens: TokenSet) -> None:
    assert TokenSet.from_json(tokens.to_json()) == tokens
    text = repr(tokens)
    blank = repr(replace(tokens, access_token="", refresh_token=None, id_token=None))
    assert text == blank  # no secret field takes part in repr
    for secret in (tokens.access_token, tokens.refresh_token, tokens.id_token):
        if secret and len(secret) >= 8 and secret not in blank:
            assert secret not in text


@FAST
@given(text=st.text(max_size=200) | json_values.map(lambda v: json.dumps(v, allow_nan=True)))
def test_from_json_raises_only_value_error(text: str) -> None:
    try:
        tokens = TokenSet.from_json(text)
    except ValueError:
        return
    assert TokenSet.from_json(tokens.to_json()) == tokens


def test_from_json_refuses_deeply_nested_and_non_finite_values() -> None:
    with pytest.raises(ValueError):
        TokenSet.from_json("[" * 100_000)
    for bad in ("NaN", "Infinity", "-Infinity", "1" + "0" * 400):
        with pytest.raises(ValueError):
            TokenSet.from_json(f'{{"v":1,"access_token":"a","expires_at":{bad}}}')
        with pytest.raises(ValueError):
            TokenSet.from_json(f'{{"v":1,"access_token":"a","received_at":{bad}}}')


def test_from_response_keeps_the_previous_refresh_token_and_scope() -> None:
    before = TokenSet(access_token="old", refresh_token="r1", scope="openid")
    after = TokenSet.from_response({"access_token": "new", "expires_in": 5}, previous=before)
    assert after.refresh_token == "r1" and after.scope == "openid"
    rotated = TokenSet.from_response(
        {"access_token": "new", "refresh_token": "r2"}, previous=before
    )
    assert rotated.refresh_token == "r2"
