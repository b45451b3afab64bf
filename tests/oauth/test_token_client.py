"""The token endpoint client against canned HTTP responses (``responses``): the wire format."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs

import pytest
import requests
import responses

from httpie_stytch_connected.errors import TokenEndpointError
from httpie_stytch_connected.oauth.token_client import TokenClient
from httpie_stytch_connected.oauth.tokens import TokenSet

TOKEN_URL = "https://example.customers.stytch.dev/v1/oauth2/token"
REVOKE_URL = "https://example.customers.stytch.dev/v1/oauth2/revoke"
OK = {"access_token": "at", "expires_in": 3600, "refresh_token": "rt2", "token_type": "bearer"}


def client() -> TokenClient:
    return TokenClient(
        TOKEN_URL, "client-1", revocation_endpoint=REVOKE_URL, refresh_backoff=(0, 0)
    )


def form(call: responses.Call) -> dict[str, list[str]]:
    body = call.request.body
    assert isinstance(body, str)
    return parse_qs(body)


@responses.activate
def test_code_exchange_is_form_encoded_with_exact_redirect_uri() -> None:
    responses.post(TOKEN_URL, json=OK)
    tokens = client().exchange_code("the-code", "v" * 43, "http://127.0.0.1:5123/callback")
    assert tokens.access_token == "at"
    call = responses.calls[0]
    assert call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form(call) == {
        "grant_type": ["authorization_code"],
        "client_id": ["client-1"],
        "code": ["the-code"],
        "code_verifier": ["v" * 43],
        "redirect_uri": ["http://127.0.0.1:5123/callback"],
    }


@responses.activate
def test_refresh_sends_the_refresh_grant_and_keeps_rotation() -> None:
    responses.post(TOKEN_URL, json=OK)
    current = TokenSet(access_token="old", refresh_token="rt1", scope="openid")
    tokens = client().refresh(current)
    assert form(responses.calls[0]) == {
        "grant_type": ["refresh_token"],
        "client_id": ["client-1"],
        "refresh_token": ["rt1"],
    }
    assert tokens.refresh_token == "rt2"
    assert tokens.scope == "openid"


@pytest.mark.parametrize(
    ("body", "error", "error_type", "words"),
    [
        (
            {
                "status_code": 400,
                "error_type": "idp_refresh_token_already_used",
                "error_message": "Refresh token already used.",
            },
            None,
            "idp_refresh_token_already_used",
            "Refresh token already used",
        ),
        (
            {"error": "invalid_grant", "error_description": "grant revoked"},
            "invalid_grant",
            None,
            "grant revoked",
        ),
    ],
)
@responses.activate
def test_both_error_shapes_become_one_readable_error(
    body: dict[str, object], error: str | None, error_type: str | None, words: str
) -> None:
    responses.post(TOKEN_URL, json=body, status=400)
    with pytest.raises(TokenEndpointError) as caught:
        client().refresh(TokenSet(access_token="a", refresh_token="secret-rt"))
    exc = caught.value
    assert (exc.error, exc.error_type, exc.status) == (error, error_type, 400)
    assert exc.grant_refused
    assert words in str(exc)
    assert "secret-rt" not in str(exc)
    assert len(responses.calls) == 1  # a refused grant is never retried


@responses.activate
def test_refresh_retries_5xx_a_bounded_number_of_times() -> None:
    responses.post(TOKEN_URL, status=503, body="busy")
    with pytest.raises(TokenEndpointError) as caught:
        client().refresh(TokenSet(access_token="a", refresh_token="rt"))
    assert caught.value.status == 503
    assert not caught.value.grant_refused
    assert len(responses.calls) == 3


@responses.activate
def test_refresh_recovers_after_a_connection_error() -> None:
    responses.post(TOKEN_URL, body=requests.ConnectionError("refused"))
    responses.post(TOKEN_URL, json=OK)
    assert client().refresh(TokenSet(access_token="a", refresh_token="rt")).access_token == "at"


@responses.activate
def test_code_exchange_is_never_retried() -> None:
    responses.post(TOKEN_URL, status=502)
    with pytest.raises(TokenEndpointError):
        client().exchange_code("c", "v" * 43, "http://127.0.0.1:1/callback")
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (200, "<html>login</html>", "text/html"),
        (200, '{"token_type": "bearer"}', "application/json"),
        (200, "[1, 2]", "application/json"),
        (400, "<html>bad request</html>", "text/html"),
    ],
)
@responses.activate
def test_unusable_answers_are_clear_errors(status: int, body: str, content_type: str) -> None:
    responses.post(TOKEN_URL, status=status, body=body, content_type=content_type)
    with pytest.raises(TokenEndpointError) as caught:
        client().exchange_code("c", "v" * 43, "http://127.0.0.1:1/callback")
    message = str(caught.value)
    assert message.startswith("Could not exchange the authorization code")
    assert "\n" not in message


@responses.activate
def test_revocation_is_rfc7009() -> None:
    responses.post(REVOKE_URL, body="")
    client().revoke("rt-x")
    assert form(responses.calls[0]) == {
        "token": ["rt-x"],
        "token_type_hint": ["refresh_token"],
        "client_id": ["client-1"],
    }


REFRESH_TOKEN = "rt-Zq8Xk2Lp9Vw4Nm7Tb3Hc6Yd1Jf5Rg0SsQe2Wu7Io4Pa9"
VERIFIER = "vA3kLm9Qz7Xw2Rt5Yb8Nc1Hd4Jf6Gs0Pq3Lk8Mn2Vb5Cx"
CODE = "cOdE-7f3a9b1c2d4e5f60718293a4b5c6d7e8"


@pytest.mark.parametrize(
    ("description", "call"),
    [
        (f"refresh token {REFRESH_TOKEN[:30]} was revoked", "refresh"),
        (f"refresh token {REFRESH_TOKEN} was revoked", "refresh"),
        ("bad verifier " + base64.b64encode(VERIFIER.encode()).decode(), "exchange"),
        (f"code {CODE.upper()} is unknown", "exchange"),
        (f"code {CODE[5:20].lower()}... is unknown", "exchange"),
    ],
)
@responses.activate
def test_provider_text_that_echoes_any_fragment_of_what_we_sent_is_withheld(
    description: str, call: str
) -> None:
    responses.post(
        TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": description}
    )
    with pytest.raises(TokenEndpointError) as caught:
        if call == "refresh":
            client().refresh(TokenSet(access_token="a", refresh_token=REFRESH_TOKEN))
        else:
            client().exchange_code(CODE, VERIFIER, "http://127.0.0.1:1/callback")
    assert str(caught.value).endswith(
        ": invalid_grant: [provider text withheld: it repeats part of a secret we sent]."
    )
    assert caught.value.grant_refused


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (
            400,
            '{"error":"invalid_request","error_description":"token revoked"}',
            "application/json",
        ),
        (400, '{"status_code":400,"error_type":"something_new"}', "application/json"),
        (401, "<html>401 Unauthorized</html>", "text/html"),
        (403, "<html>Forbidden</html>", "text/html"),
        (400, "", "text/plain"),
        (400, "[" * 100_000, "application/json"),
        (
            200,
            '{"error":"invalid_grant","error_description":"The code has expired"}',
            "application/json",
        ),
    ],
)
@responses.activate
def test_every_definitive_refusal_is_a_refused_grant_and_never_retried(
    status: int, body: str, content_type: str
) -> None:
    responses.post(TOKEN_URL, status=status, body=body, content_type=content_type)
    with pytest.raises(TokenEndpointError) as caught:
        client().refresh(TokenSet(access_token="a", refresh_token="rt"))
    assert caught.value.grant_refused and not caught.value.retryable
    assert caught.value.status == status
    assert len(responses.calls) == 1


@pytest.mark.parametrize("status", [408, 429, 500, 503])
@responses.activate
def test_not_now_answers_are_retried_and_never_a_refused_grant(status: int) -> None:
    responses.post(TOKEN_URL, status=status, json={"error": "slow_down"})
    with pytest.raises(TokenEndpointError, match="try again later") as caught:
        client().refresh(TokenSet(access_token="a", refresh_token="rt"))
    assert caught.value.retryable and not caught.value.grant_refused
    assert len(responses.calls) == 3


@responses.activate
def test_a_200_error_body_shows_the_providers_reason() -> None:
    responses.post(
        TOKEN_URL, json={"error": "invalid_grant", "error_description": "The code has expired"}
    )
    with pytest.raises(TokenEndpointError) as caught:
        client().exchange_code("c", "v" * 43, "http://127.0.0.1:1/callback")
    assert str(caught.value) == (
        "Could not exchange the authorization code: invalid_grant: The code has expired."
    )


@responses.activate
def test_provider_text_loses_control_characters() -> None:
    responses.post(
        TOKEN_URL, status=400, json={"error": "invalid_grant\x1b[2J", "error_description": "a\x07b"}
    )
    with pytest.raises(TokenEndpointError) as caught:
        client().refresh(TokenSet(access_token="a", refresh_token="rt"))
    assert "\x1b" not in str(caught.value) and "\x07" not in str(caught.value)
    assert "invalid_grant[2J: ab." in str(caught.value)


FORM = "application/x-www-form-urlencoded"


@responses.activate
def test_a_form_encoded_token_answer_is_read_as_github_sends_it() -> None:
    body = "access_token=gho_abc&expires_in=28800&refresh_token=ghr_def&token_type=bearer&scope="
    responses.post(TOKEN_URL, body=body, content_type=FORM)
    tokens = client().exchange_code("the-code", "v" * 43, "http://127.0.0.1:5123/callback")
    assert (tokens.access_token, tokens.refresh_token) == ("gho_abc", "ghr_def")
    assert tokens.expires_at is not None


@responses.activate
def test_a_form_encoded_error_on_a_200_is_a_refusal_naming_the_code() -> None:
    body = "error=bad_verification_code&error_description=The+code+passed+is+incorrect"
    responses.post(TOKEN_URL, body=body, content_type=f"{FORM}; charset=utf-8")
    with pytest.raises(TokenEndpointError, match="bad_verification_code") as caught:
        client().exchange_code("the-code", "v" * 43, "http://127.0.0.1:5123/callback")
    assert caught.value.refused


@pytest.mark.parametrize(
    "body", ["access_token=a&access_token=b", "\xff", "just words", "a=1&" * 40 + "b=2"]
)
@responses.activate
def test_a_form_answer_that_is_not_one_is_refused_as_not_a_token_answer(body: str) -> None:
    responses.post(TOKEN_URL, body=body.encode("latin-1"), content_type=FORM)
    with pytest.raises(TokenEndpointError, match="neither JSON nor a form"):
        client().exchange_code("the-code", "v" * 43, "http://127.0.0.1:5123/callback")
