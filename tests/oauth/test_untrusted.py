"""Provider input made safe (issue 9 §2): the scrubber withholds provider text that repeats any
fragment of a secret we sent, in any case or common encoding, and lets ordinary text through;
provider JSON nested past any real document is "not JSON", never a RecursionError."""

from __future__ import annotations

import base64
import html
import string
from collections.abc import Callable
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from httpie_stytch_connected.oauth.untrusted import (
    MAX_DEPTH,
    MIN_ECHO,
    WITHHELD,
    echoes,
    parse_json,
    shown_text,
)

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
UNRESERVED = string.ascii_letters + string.digits + "-._~"

#: How a provider might give back what it got: each takes the fragment, returns the echo.
TRANSFORMS: dict[str, Callable[[str], str]] = {
    "as sent": lambda s: s,
    "upper": str.upper,
    "lower": str.lower,
    "swapcase": str.swapcase,
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
    "base64url": lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("="),
    "base64 upper": lambda s: base64.b64encode(s.encode()).decode().upper(),
    "hex": lambda s: s.encode().hex(),
    "HEX": lambda s: s.encode().hex().upper(),
    "percent": lambda s: quote(s, safe=""),
    "every char percent": lambda s: "".join(f"%{b:02X}" for b in s.encode()),
    "html entities": lambda s: "".join(f"&#{ord(c)};" for c in s),
    "spaced": lambda s: " ".join(s),
    "dashed": lambda s: "-".join(s[i : i + 4] for i in range(0, len(s), 4)),
    "full-width": lambda s: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s),
    "quoted": lambda s: repr(s),
}

#: What providers' error descriptions are made of.
DESCRIPTIONS = (
    "The authorization code has expired or was already used; the refresh token is invalid, "
    "revoked, unknown or does not belong to this client. Grant type refresh_token not allowed: "
    "invalid_grant invalid_request unauthorized_client PKCE verification failed (code_verifier "
    "does not match code_challenge). See https://stytch.com/docs/api/errors/400 request-id "
    "request-id-test-55e2a8c4 for details. Too many requests, slow down and retry after 30s."
)

secrets_ = st.text(alphabet=UNRESERVED, min_size=43, max_size=128).filter(
    lambda s: sum(c.isalnum() for c in s) >= 40
)
prose = st.sampled_from(
    [
        "",
        "The grant ",
        "refresh token ",
        "invalid value: ",
        "code=",
        "see https://docs.example.com/errors#invalid_grant for ",
    ]
)


@FAST
@given(
    secret=secrets_,
    start=st.integers(0, 200),
    length=st.integers(16, 128),
    transform=st.sampled_from(sorted(TRANSFORMS)),
    before=prose,
    after=prose,
)
def test_any_fragment_of_a_secret_in_any_encoding_is_withheld(
    secret: str, start: int, length: int, transform: str, before: str, after: str
) -> None:
    start %= len(secret) - 15
    fragment = secret[start : start + length]
    text = f"{before}{TRANSFORMS[transform](fragment)} {after}"
    assert shown_text(text, ["other-secret-value-0123456789", secret], limit=10_000) == WITHHELD


@pytest.mark.parametrize(
    ("make_text", "secret"),
    [  # the three: a prefix, the verifier in base64, the code upper-cased
        (
            lambda s: f"refresh token {s[:30]}... was revoked",
            "r" * 5 + "Zq8Xk2Lp9Vw4Nm7Tb3Hc6Yd1Jf5Rg0Ss",
        ),
        (lambda s: "verifier " + base64.b64encode(s.encode()).decode(), "v" + "Ab3_dE9-x" * 6),
        (lambda s: f"code {s.upper()} expired", "c0de-Ab3dE9xQ7rT2mN5pL8kJ4hG6"),
        (lambda s: html.escape(f"<b>{s[3:20]}</b>"), "tok_" + "9f8e7d6c5b4a3210" * 3),
    ],
)
def test_the_echoes_reported_in_the_field_are_withheld(
    make_text: Callable[[str], str], secret: str
) -> None:
    assert shown_text(make_text(secret), [secret]) == WITHHELD


@FAST
@given(secret=secrets_, words=st.lists(st.sampled_from(DESCRIPTIONS.split()), max_size=40))
def test_ordinary_provider_text_is_shown(secret: str, words: list[str]) -> None:
    text = " ".join(["The", "refresh", "token", "was", "revoked", *words])
    assert shown_text(text, [secret], limit=10_000) == text


def test_secrets_too_short_to_be_real_are_not_looked_for() -> None:
    # A test double's code "c" must not blank out "The code has expired".
    assert shown_text("The code has expired", ["c", "v"]) == "The code has expired"
    assert not echoes("anything at all", ["short"])
    assert echoes("x" * 3 + "abcdefgh", ["abcdefgh"])
    assert MIN_ECHO == 8


def test_shown_text_is_one_printable_line_within_the_limit() -> None:
    assert shown_text("a\x1b[2J\nb\x07c  d", []) == "a[2J bc d"
    assert shown_text("x" * 1000, [], limit=50) == "x" * 50
    assert shown_text("  ", []) is None and shown_text(5, []) is None


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 5000 + "1" + "}" * 5000,
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
    ],
)
def test_deeply_nested_json_is_not_json(text: str) -> None:
    with pytest.raises(ValueError):
        parse_json(text)
    with pytest.raises(ValueError):
        parse_json(text.encode())


def test_ordinary_depth_parses() -> None:
    deep_enough = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse_json(deep_enough) is not None
    assert parse_json('{"keys": [{"kty": "RSA", "x5c": ["a"]}]}')["keys"][0]["kty"] == "RSA"
