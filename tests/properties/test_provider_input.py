"""What a provider sends is untrusted input (issue 9 §2, §3): a stdlib stand-in provider on
127.0.0.1 answers with the odd values real providers have sent, and ``OAuth2PKCEAuth`` with an
opener that completes the redirect at once (``code=c``) runs the real flow against it."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from httpie_stytch_connected.auth import OAuth2PKCEAuth
from httpie_stytch_connected.errors import AuthenticationError, LoginError, TokenEndpointError
from httpie_stytch_connected.lifecycle.manager import forget_memory
from httpie_stytch_connected.oauth.tokens import TokenSet
from httpie_stytch_connected.storage.store import AccessTokenCache, KeyringStore
from tests.loopback import LoopbackServer, QuietHandler

DEEP = b"[" * 50_000 + b"]" * 50_000
Reply = tuple[int, bytes]


def token_body(n: int, **changes: Any) -> bytes:
    body = {
        "access_token": f"AT-{n}",
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": f"RT-{n}",
    }
    body.update(changes)
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


@dataclass
class Script:
    """What the stand-in answers: ``on_code``/``on_refresh`` get the form and the count of token
    responses so far; ``pages`` are GET bodies by path (``/api`` answers 200 by default)."""

    on_code: Callable[[dict[str, str], int], Reply] = lambda form, n: (200, token_body(n))
    on_refresh: Callable[[dict[str, str], int], Reply] = lambda form, n: (200, token_body(n))
    pages: dict[str, Reply] = field(default_factory=dict)
    forms: list[dict[str, str]] = field(default_factory=list)


class StandIn(QuietHandler):
    script = Script()

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        script = type(self).script
        script.forms.append(form)
        answer = (
            script.on_code if form.get("grant_type") == "authorization_code" else script.on_refresh
        )
        status, body = answer(form, len(script.forms))
        self.reply(status, body, content_type=_content_type(body))

    def do_GET(self) -> None:
        status, body = type(self).script.pages.get(urlsplit(self.path).path, (200, b"{}"))
        self.reply(status, body, content_type=_content_type(body))


def _content_type(body: bytes) -> str | None:
    if not body:
        return None
    return "text/html" if body.lstrip().startswith(b"<") else "application/json"


@dataclass
class Provider:
    url: str
    script: Script
    opened: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def open(self, url: str) -> bool:
        """The person signs in at once: the provider redirects back with ``code=c``."""
        self.opened.append(url)
        query = parse_qs(urlsplit(url).query)
        requests.get(
            query["redirect_uri"][0], params={"code": "c", "state": query["state"][0]}, timeout=30
        )
        return True

    def auth(self, **settings: Any) -> OAuth2PKCEAuth:
        return OAuth2PKCEAuth(
            client_id="client-1",
            authorization_endpoint=self.url + "/authorize",
            token_endpoint=self.url + "/token",
            opener=self.open,
            notify=self.notes.append,
            **settings,
        )

    def get(self, auth: OAuth2PKCEAuth) -> requests.Response:
        return requests.get(self.url + "/api", auth=auth, timeout=30)

    def env(self) -> dict[str, str]:
        """The same settings for a ``stytch-connected`` process."""
        return {
            **os.environ,
            "STYTCH_CLIENT_ID": "client-1",
            "STYTCH_AUTHORIZATION_ENDPOINT": self.url + "/authorize",
            "STYTCH_TOKEN_ENDPOINT": self.url + "/token",
        }


@pytest.fixture
def provider(stytch_keyring: Path) -> Iterator[Provider]:
    script = Script()
    handler = type("Handler", (StandIn,), {"script": script})
    with LoopbackServer(handler) as server:
        yield Provider(server.url, script)


def stored(auth: OAuth2PKCEAuth) -> TokenSet | None:
    return KeyringStore().load(auth.manager.key)


def new_run() -> None:
    """As the next process finds things: nothing in memory."""
    forget_memory()


# -- §2 expires_in ---------------------------------------------------------------------------


@pytest.mark.parametrize("expires_in", [0, -30, "0", -1e308, "-Infinity", 1e400])
def test_an_expiry_of_zero_or_less_never_causes_a_login_loop(
    provider: Provider, expires_in: Any
) -> None:
    provider.script.on_code = lambda form, n: (200, token_body(n, expires_in=expires_in))
    if expires_in == 1e400:  # json.dumps writes Infinity; send an integer too big for a float
        provider.script.on_code = lambda form, n: (
            200,
            token_body(n).replace(b'"expires_in": 3600', b'"expires_in": 1' + b"0" * 400),
        )
    auth = provider.auth()
    for _ in range(3):
        assert provider.get(auth).status_code == 200
    new_run()
    assert provider.get(provider.auth()).status_code == 200  # the next `http` run, too
    assert len(provider.opened) == 1
    saved = stored(auth)
    assert saved is not None and saved.expires_at is None  # unknown: used until a 401


# -- §2 access tokens that cannot go into a header -------------------------------------------


@pytest.mark.parametrize(
    "access_token",
    [
        "SECRET\n",
        "SECRET\r\nX-Injected: 1",
        "SEC RET",
        "SECRÉT",
        'SECRET"',
        "=SECRET",
        "SECRET\x00",
        "SECRET=x",
    ],
)
def test_an_access_token_that_is_not_a_b64token_is_refused_at_receipt(
    provider: Provider, access_token: str
) -> None:
    provider.script.on_code = lambda form, n: (200, token_body(n, access_token=access_token))
    auth = provider.auth()
    with pytest.raises(TokenEndpointError, match="access_token is not an RFC 6750 b64token") as e:
        provider.get(auth)
    assert "SECRET" not in str(e.value) and "SEC" not in str(e.value)
    assert stored(auth) is None and AccessTokenCache().load(auth.manager.key) is None


# -- §2 an error body on a 200 ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"error": "invalid_grant", "error_description": "The code has expired"}, "has expired"),
        ({"status_code": 400, "error_type": "idp_auth_code_expired"}, "idp_auth_code_expired"),
        ({"error": "access_denied", "error_message": "Stytch says no"}, "Stytch says no"),
    ],
)
def test_a_200_whose_body_is_an_error_shows_the_providers_reason(
    provider: Provider, body: dict[str, Any], reason: str
) -> None:
    provider.script.on_code = lambda form, n: (200, json.dumps(body).encode())
    auth = provider.auth()
    with pytest.raises(TokenEndpointError) as caught:
        provider.get(auth)
    assert reason in str(caught.value)
    assert "no access_token" not in str(caught.value)
    assert stored(auth) is None


# -- §2 deeply nested JSON -------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 400])
def test_deeply_nested_json_from_the_token_endpoint_is_a_clean_error(
    provider: Provider, status: int
) -> None:
    provider.script.on_code = lambda form, n: (status, DEEP)
    with pytest.raises(TokenEndpointError, match="Could not exchange the authorization code"):
        provider.get(provider.auth())


def test_deeply_nested_discovery_is_a_clean_error(provider: Provider) -> None:
    provider.script.pages["/.well-known/openid-configuration"] = (200, DEEP)
    provider.script.pages["/.well-known/oauth-authorization-server"] = (
        200,
        b'{"issuer": {"a": ' * 40 + b"1" + b"}" * 40,  # parses, but no document is that deep
    )
    auth = OAuth2PKCEAuth(client_id="client-1", issuer=provider.url, opener=provider.open)
    with pytest.raises(TokenEndpointError, match="serves no OpenID or OAuth metadata"):
        provider.get(auth)
    assert provider.opened == []


def test_deeply_nested_keys_and_userinfo_are_clean_answers(provider: Provider) -> None:
    base = provider.url
    provider.script.pages["/.well-known/openid-configuration"] = (
        200,
        json.dumps(
            {
                "issuer": base,
                "authorization_endpoint": base + "/authorize",
                "token_endpoint": base + "/token",
                "jwks_uri": base + "/jwks",
                "userinfo_endpoint": base + "/userinfo",
            }
        ).encode(),
    )
    provider.script.pages["/jwks"] = (200, DEEP)
    provider.script.pages["/userinfo"] = (200, DEEP)
    # Nested past any real token (but not past the interpreter's limit, which tests may raise).
    header = b'{"alg":"RS256","x":' + b"[" * 40 + b"]" * 40 + b"}"
    id_token = ".".join(
        base64.urlsafe_b64encode(part).decode().rstrip("=") for part in (header, b"{}", b"sig")
    )
    provider.script.on_code = lambda form, n: (200, token_body(n, id_token=id_token))
    auth = OAuth2PKCEAuth(
        client_id="client-1", issuer=base, scopes="openid", opener=provider.open, notify=print
    )
    with pytest.raises(LoginError, match="failed verification: it is malformed"):
        provider.get(auth)  # the ID token's own JSON is nested too deep
    well_formed = base64.urlsafe_b64encode(b'{"alg":"RS256"}').decode().rstrip("=") + ".e30.c2ln"
    provider.script.on_code = lambda form, n: (200, token_body(n, id_token=well_formed))
    with pytest.raises(LoginError, match=r"signing keys .* could not be fetched \(not a JSON"):
        provider.get(auth)
    # With no ID token, the login succeeds; `status` asks the userinfo endpoint who signed in.
    provider.script.on_code = lambda form, n: (200, token_body(n))
    assert provider.get(auth).status_code == 200
    status = subprocess.run(
        [sys.executable, "-m", "httpie_stytch_connected", "status"],
        env={
            **os.environ,
            "STYTCH_CLIENT_ID": "client-1",
            "STYTCH_ISSUER": base,
            "STYTCH_SCOPES": "openid",
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    assert "unknown (the userinfo endpoint did not answer)" in status.stdout
    assert "Traceback" not in status.stderr


def test_the_cli_prints_one_line_for_a_nested_token_response(provider: Provider) -> None:
    provider.script.on_code = lambda form, n: (200, DEEP)
    browser = Path(os.environ["STYTCH_CACHE_DIR"]).parent / "browser.py"
    browser.write_text(
        "import sys, requests\n"
        "from urllib.parse import parse_qs, urlsplit\n"
        "from httpie_stytch_connected.testing.user_agent import _forwarded\n"
        "q = parse_qs(urlsplit(_forwarded(sys.argv[1])).query)\n"
        "requests.get(q['redirect_uri'][0], params={'code': 'c', 'state': q['state'][0]},"
        " timeout=30)\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "httpie_stytch_connected", "login"],
        env={**provider.env(), "BROWSER": f"{sys.executable} {browser} %s"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr
    assert "stytch-connected: error: Could not exchange the authorization code" in result.stderr


# -- §3 a refused refresh is any definitive refusal ------------------------------------------

REFUSALS = [
    pytest.param(
        400,
        b'{"error":"invalid_request","error_description":"refresh token was revoked"}',
        id="rfc6749-invalid_request",
    ),
    pytest.param(
        400, b'{"status_code":400,"error_type":"refresh_token_not_found"}', id="stytch-shape"
    ),
    pytest.param(401, b'{"error":"unauthorized"}', id="401"),
    pytest.param(403, b"<html><body>Forbidden</body></html>", id="403-html"),
    pytest.param(400, b"", id="400-empty"),
    # 404, 405, 410 and redirects are not refusals: the endpoint is not there (issue 18 §2,
    # tests/lifecycle/test_manager_token_endpoint.py).
    pytest.param(409, b"conflict", id="409-text"),
    pytest.param(200, b'{"error":"unauthorized_client"}', id="200-error-body"),
]


def signed_in_then_expired(provider: Provider) -> tuple[OAuth2PKCEAuth, TokenSet]:
    auth = provider.auth()
    assert provider.get(auth).status_code == 200
    first = stored(auth)
    assert first is not None
    expired = replace(first, expires_at=time.time() - 10)
    KeyringStore().save(auth.manager.key, expired)
    AccessTokenCache().delete(auth.manager.key)
    new_run()
    return auth, expired


@pytest.mark.parametrize(("status", "body"), REFUSALS)
def test_any_definitive_refusal_of_a_refresh_leads_to_one_login(
    provider: Provider, status: int, body: bytes
) -> None:
    auth, _ = signed_in_then_expired(provider)
    provider.script.on_refresh = lambda form, n: (status, body)
    assert provider.get(provider.auth()).status_code == 200
    assert len(provider.opened) == 2  # the first login and one more
    grants = [form["grant_type"] for form in provider.script.forms]
    assert grants == ["authorization_code", "refresh_token", "authorization_code"]
    assert any("signing in again" in note for note in provider.notes)
    renewed = stored(auth)
    assert renewed is not None and renewed.refresh_token == "RT-3"


@pytest.mark.parametrize(("status", "body"), REFUSALS[:4])
def test_a_refused_refresh_first_uses_what_a_sibling_stored(
    provider: Provider, status: int, body: bytes
) -> None:
    auth, _ = signed_in_then_expired(provider)
    sibling = TokenSet(access_token="AT-sibling", refresh_token="RT-sibling", expires_at=None)

    def rotated_elsewhere(form: dict[str, str], n: int) -> Reply:
        KeyringStore().save(auth.manager.key, sibling)  # another process won the race
        return status, body

    provider.script.on_refresh = rotated_elsewhere
    response = provider.get(provider.auth())
    assert response.status_code == 200
    assert response.request.headers["Authorization"] == "Bearer AT-sibling"
    assert len(provider.opened) == 1


@pytest.mark.parametrize(("status", "body"), REFUSALS[:3])
def test_a_refused_refresh_with_no_browser_and_no_terminal_says_what_to_run(
    provider: Provider, status: int, body: bytes
) -> None:
    auth, expired = signed_in_then_expired(provider)
    provider.script.on_refresh = lambda form, n: (status, body)
    drop = ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY", "SSH_CONNECTION", "SSH_TTY")
    env = {k: v for k, v in provider.env().items() if k not in drop}
    result = subprocess.run(
        [sys.executable, "-m", "httpie_stytch_connected", "token"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,  # no controlling terminal: CI, cron
    )
    assert result.returncode == 1
    assert "`stytch-connected login` in a terminal" in result.stderr
    assert "Traceback" not in result.stderr
    assert stored(auth) == expired  # nothing deleted until a new login succeeds


@pytest.mark.parametrize(("status", "body"), [(429, b'{"error":"slow_down"}'), (503, b"")])
def test_a_refresh_answered_not_now_keeps_everything_and_opens_no_browser(
    provider: Provider, status: int, body: bytes
) -> None:
    auth, expired = signed_in_then_expired(provider)
    provider.script.on_refresh = lambda form, n: (status, body)
    later = provider.auth()
    later.manager.client.refresh_backoff = (0.01,)
    with pytest.raises(AuthenticationError, match="try again later"):
        provider.get(later)
    assert len(provider.opened) == 1
    assert stored(auth) == expired


def test_deeply_nested_resource_metadata_and_registration_answers_are_clean_errors(
    provider: Provider,
) -> None:
    from httpie_stytch_connected.oauth.registration import register
    from httpie_stytch_connected.oauth.resource_metadata import discover_resource

    provider.script.pages["/.well-known/oauth-protected-resource/api"] = (200, DEEP)
    provider.script.pages["/.well-known/oauth-protected-resource"] = (200, DEEP)
    with pytest.raises(AuthenticationError, match="does not say where to sign in"):
        discover_resource(provider.url + "/api", None, requests.Session())
    provider.script.on_refresh = lambda form, n: (201, DEEP)  # any POST but a code exchange
    with pytest.raises(TokenEndpointError, match="answered without a usable client_id"):
        register(provider.url + "/register", "/callback", requests.Session())


# -- issue 17 §6: absurd but finite lifetimes, the CLI's last resort, oversized identifiers --

YEAR = 365 * 86400


def _status(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "httpie_stytch_connected", "status", *extra],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("expires_in", ["1e300", 1e308, 10**300, "31536001", 1e15])
def test_an_absurd_finite_lifetime_is_clamped_and_status_shows_it(
    provider: Provider, expires_in: Any
) -> None:
    provider.script.on_code = lambda form, n: (200, token_body(n, expires_in=expires_in))
    auth = provider.auth()
    assert provider.get(auth).status_code == 200
    saved = stored(auth)
    assert saved is not None and saved.expires_at is not None
    assert 0 < saved.expires_at - saved.received_at <= YEAR
    status = _status(provider.env())
    assert status.returncode == 0, status.stderr
    assert "Traceback" not in status.stderr and "Error" not in status.stderr
    assert "valid for 365 days" in status.stdout or "valid for 364 days" in status.stdout


@pytest.mark.parametrize("expires_at", [1e300, -1e300, 1e18])
def test_status_of_an_absurd_stored_expiry_is_one_line(
    provider: Provider, expires_at: float
) -> None:
    """What an older release stored (it kept ``1e300``): formatting is total."""
    auth = provider.auth()
    assert provider.get(auth).status_code == 200
    KeyringStore().save(
        auth.manager.key, TokenSet("AT-9", expires_at=expires_at, refresh_token="RT-9")
    )
    AccessTokenCache().delete(auth.manager.key)
    status = _status(provider.env())
    assert status.returncode == 0, status.stderr
    assert "Traceback" not in status.stderr
    assert "more than a hundred years" in status.stdout


def test_the_cli_shows_no_traceback_for_an_unexpected_error() -> None:
    """The last resort: one line naming the command and --debug; with --debug, the traceback."""
    program = (
        "import sys\n"
        "from httpie_stytch_connected import cli\n"
        "def broken(ctx):\n"
        "    raise OverflowError('date value out of range')\n"
        "cli.COMMANDS['config'] = (broken, *cli.COMMANDS['config'][1:])\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    env = {**os.environ, "STYTCH_CONFIG": "/nonexistent/config.toml"}
    for debug in ((), ("--debug",)):
        result = subprocess.run(
            [sys.executable, "-c", program, "config", *debug],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("stytch-connected: error: config failed unexpectedly")
        assert "OverflowError" in last
        if debug:
            assert "Traceback" in result.stderr
        else:
            assert "Traceback" not in result.stderr and "--debug" in last
            assert result.stderr.count("\n") == 1


def test_a_registration_with_a_huge_client_id_is_refused_and_nothing_is_kept(
    provider: Provider,
) -> None:
    from httpie_stytch_connected.errors import ConfigurationError
    from httpie_stytch_connected.zero_config.client_identity import (
        RegistrationStore,
        client_identity,
        registration_redirect,
    )

    huge = "c" * (900 * 1024)
    provider.script.on_refresh = lambda form, n: (201, json.dumps({"client_id": huge}).encode())
    registrations = RegistrationStore(KeyringStore())
    with pytest.raises(ConfigurationError) as caught:
        client_identity(
            {"registration_endpoint": provider.url + "/register"},
            issuer=provider.url + "/" + "i" * 5000,
            configured_client_id=None,
            metadata_document=None,
            registrations=registrations,
            redirect_path="/callback",
            session=requests.Session(),
        )
    message = str(caught.value)
    assert len(message) < 600 and "921600 characters" in message
    issuer = provider.url + "/" + "i" * 5000
    assert registrations.load(issuer, registration_redirect("/callback", issuer)) is None


def test_a_stored_oversized_registration_is_not_used(provider: Provider) -> None:
    from httpie_stytch_connected.oauth.registration import redirect_uri
    from httpie_stytch_connected.zero_config.client_identity import RegistrationStore

    registrations = RegistrationStore(KeyringStore())
    redirect = redirect_uri("/callback")
    registrations.save(provider.url, redirect, "c" * 5000)
    assert registrations.load(provider.url, redirect) is None
    registrations.save(provider.url, redirect, "client-\x1b[2J")
    assert registrations.load(provider.url, redirect) is None
    registrations.save(provider.url, redirect, "client-ok")
    assert registrations.load(provider.url, redirect) == "client-ok"


def test_shown_values_are_one_bounded_line() -> None:
    from httpie_stytch_connected.oauth.untrusted import shown

    assert shown("https://as.example") == "https://as.example"
    text = shown("x" * 900_000 + "\n\x1b[2J")
    assert len(text) <= 130 and "\n" not in text and "\x1b" not in text
    assert text.endswith("(900002 characters)") or "characters)" in text
    assert shown("") == "(empty)"
