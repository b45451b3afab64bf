"""The token model: expiry fixed at receipt, rotation-friendly merging, strict parsing."""

from __future__ import annotations

import json

import pytest

from httpie_stytch_connected.oauth.tokens import SuppliedToken, TokenResponseError, TokenSet

BODY = {
    "access_token": "at-1",
    "expires_in": 3600,
    "refresh_token": "rt-1",
    "scope": "openid offline_access",
    "token_type": "bearer",
    "id_token": "idt-1",
}


def test_expiry_is_computed_from_expires_in_at_receipt() -> None:
    tokens = TokenSet.from_response(BODY, now=1000.0)
    assert tokens.expires_at == 4600.0
    assert not tokens.expires_within(60, now=4539.0)
    assert tokens.expires_within(60, now=4541.0)
    assert tokens.scopes == {"openid", "offline_access"}


def test_token_type_is_case_insensitive_and_must_be_bearer() -> None:
    TokenSet.from_response({**BODY, "token_type": "Bearer"})
    with pytest.raises(TokenResponseError):
        TokenSet.from_response({**BODY, "token_type": "mac"})


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"access_token": ""},
        {"access_token": 5},
        {"access_token": "a", "expires_in": "soon"},
        {"access_token": "a", "expires_in": [60]},
        {"access_token": "a", "expires_in": True},
        {"access_token": "a\n"},
        {"access_token": "a b"},
    ],
)
def test_unusable_responses_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(TokenResponseError):
        TokenSet.from_response(body)


@pytest.mark.parametrize("expires_in", [0, -1, "0", "-5", -1e308, "-inf", "inf", "nan", 10**400])
def test_an_expiry_of_zero_or_less_or_absurd_is_unknown_not_expired(expires_in: object) -> None:
    tokens = TokenSet.from_response({**BODY, "expires_in": expires_in}, now=1000.0)
    assert tokens.expires_at is None
    assert not tokens.expires_within(60, now=10**12)  # used until the API answers 401


def test_access_tokens_are_rfc6750_b64tokens() -> None:
    for good in ("abc", "a.b.c", "A-Z_0~9+/", "abc==", "eyJhbGciOi.eyJzdWIi.c2ln"):
        assert TokenSet.from_response({**BODY, "access_token": good}).access_token == good
    for bad in ("abc\n", "a b", "=abc", "ab=c", "a\tb", "abc\u00e9", 'a"b', "a,b", "a\x7f"):
        with pytest.raises(TokenResponseError, match="access_token") as caught:
            TokenSet.from_response({**BODY, "access_token": bad})
        assert bad not in str(caught.value)


def test_refresh_without_rotation_keeps_the_previous_refresh_token_and_scope() -> None:
    first = TokenSet.from_response(BODY)
    second = TokenSet.from_response({"access_token": "at-2", "expires_in": 60}, previous=first)
    assert second.refresh_token == "rt-1"
    assert second.scope == first.scope
    rotated = TokenSet.from_response({**BODY, "refresh_token": "rt-2"}, previous=first)
    assert rotated.refresh_token == "rt-2"


def test_json_round_trip_and_foreign_entries() -> None:
    tokens = TokenSet.from_response(BODY, now=5.0)
    assert TokenSet.from_json(tokens.to_json()) == tokens
    for foreign in ("{}", "[]", '{"v": 99, "access_token": "x"}', '"text"'):
        with pytest.raises(ValueError):
            TokenSet.from_json(foreign)


def test_repr_shows_no_secret() -> None:
    text = repr(TokenSet.from_response(BODY))
    assert "at-1" not in text and "rt-1" not in text and "idt-1" not in text
    supplied = SuppliedToken("at-1", "the STYTCH_ACCESS_TOKEN variable")
    assert "at-1" not in repr(supplied) + str(supplied) + f"{supplied}"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("refresh_token", 12345),
        ("refresh_token", "rt\n"),
        ("refresh_token", "rt\u00e9"),
        ("scope", "openid\x1b]0;owned\x07"),
        ("scope", ["openid"]),
        ("scope", "openid\temail"),
        ("id_token", "a.b.c\r\n"),
        ("id_token", {"alg": "none"}),
    ],
)
def test_every_other_field_is_checked_at_receipt_and_named(name: str, value: object) -> None:
    with pytest.raises(TokenResponseError, match=f"token response's {name} is malformed") as e:
        TokenSet.from_response({**BODY, name: value})
    assert str(value) not in str(e.value)


def test_who_signed_in_is_kept_across_refreshes_and_read_back_only_as_printable_text() -> None:
    from httpie_stytch_connected.oauth.tokens import Account

    ada = Account("user-1", "Ada <ada@example.com> (user-1)")
    signed_in = TokenSet(access_token="a", refresh_token="r", account=ada)
    assert TokenSet.from_json(signed_in.to_json()).account == ada
    refreshed = TokenSet.from_response({"access_token": "b"}, previous=signed_in)
    assert refreshed.account == ada
    assert '"account"' not in TokenSet(access_token="a").to_json()  # older readers agree
    for junk in ({"shown": "\x1b[31mred"}, {"shown": "x" * 5000}, {"subject": 7}, ["x"], "x"):
        text = json.dumps({"v": 1, "access_token": "a", "account": junk})
        account = TokenSet.from_json(text).account
        assert account is None or (account.shown.isprintable() and account.subject is None)
    assert ada.same_person(Account("user-1", "Ada L. (user-1)"))  # renamed: same sub
    assert not ada.same_person(Account("user-2", "Ada <ada@example.com> (user-1)"))
