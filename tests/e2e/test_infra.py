"""The end-to-end infrastructure itself: oidc-provider + scripted Chromium, no package code.

A throwaway OAuth client written here (loopback ``http.server`` + PKCE + ``requests``) logs in
through chromium_browser.py and checks what the package's e2e tests will rely on.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shlex
import subprocess
import threading
import webbrowser
from pathlib import Path
from types import TracebackType
from typing import Any, Optional
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests

from ..loopback import LoopbackServer, QuietHandler
from .oidc_provider import OIDCProviderProcess, ProviderFactory

SCOPE = "openid email profile offline_access api:read"


class LoopbackCallback:
    """http://127.0.0.1:<free port>/callback, recording the first query it receives."""

    def __init__(self) -> None:
        self.received = threading.Event()
        self.query: dict[str, str] = {}
        owner = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != "/callback":
                    self.send_error(404)
                    return
                if not owner.received.is_set():
                    owner.query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                    owner.received.set()
                body = b"<!doctype html><title>Done</title><p>You can close this window.</p>"
                self.reply(200, body, content_type="text/html; charset=utf-8")

        self.server = LoopbackServer(Handler)

    @property
    def redirect_uri(self) -> str:
        return self.server.url + "/callback"

    def __enter__(self) -> LoopbackCallback:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.server.close()


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(
    op: OIDCProviderProcess, redirect_uri: str, challenge: str, state: str, scope: str = SCOPE
) -> str:
    return (
        op.authorization_endpoint
        + "?"
        + urlencode(
            {
                "response_type": "code",
                "client_id": op.client_id,
                "redirect_uri": redirect_uri,
                "scope": scope,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
    )


def run_browser(
    browser_cmd: str, url: str, tmp_path: Path, **env: str
) -> tuple[subprocess.CompletedProcess[bytes], dict[str, Any]]:
    """Run the BROWSER command line the way webbrowser's GenericBrowser does."""
    result_file = tmp_path / f"browser-result-{secrets.token_hex(4)}.json"
    argv = [arg.replace("%s", url) for arg in shlex.split(browser_cmd)]
    full_env = dict(os.environ)
    full_env.update(env)
    full_env["E2E_RESULT_FILE"] = str(result_file)
    full_env.setdefault("E2E_SCREENSHOT", str(tmp_path / "final-page.png"))
    proc = subprocess.run(
        argv, env=full_env, stdin=subprocess.DEVNULL, capture_output=True, timeout=90
    )
    result = json.loads(result_file.read_text()) if result_file.exists() else {}
    return proc, result


def login(
    op: OIDCProviderProcess, browser_cmd: str, tmp_path: Path, scope: str = SCOPE, **env: str
) -> tuple[dict[str, str], str, str, dict[str, Any]]:
    """Browser login; returns (callback query, redirect_uri, code_verifier, browser result)."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    with LoopbackCallback() as callback:
        url = authorize_url(op, callback.redirect_uri, challenge, state, scope)
        proc, result = run_browser(browser_cmd, url, tmp_path, **env)
        assert proc.returncode == 0, (proc.stderr.decode(), result)
        assert proc.stdout == b""
        assert result["ok"] is True
        assert callback.received.is_set()
        assert callback.query.get("state") == state
        return callback.query, callback.redirect_uri, verifier, result


def token_request(op: OIDCProviderProcess, **form: str) -> requests.Response:
    return requests.post(op.token_endpoint, data={"client_id": op.client_id, **form}, timeout=10)


def refresh(op: OIDCProviderProcess, refresh_token: str) -> requests.Response:
    return token_request(op, grant_type="refresh_token", refresh_token=refresh_token)


def exchange(
    op: OIDCProviderProcess, query: dict[str, str], redirect_uri: str, verifier: str
) -> dict[str, Any]:
    response = token_request(
        op,
        grant_type="authorization_code",
        code=query["code"],
        redirect_uri=redirect_uri,
        code_verifier=verifier,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def verify_access_token(op: OIDCProviderProcess, token: str) -> dict[str, Any]:
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    assert header["typ"] == "at+jwt"
    key = jwt.PyJWKClient(op.jwks_uri).get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=["RS256"], audience=op.resource, issuer=op.issuer
    )
    return claims


def test_login_exchange_rotation_and_reuse(
    oidc_provider: OIDCProviderProcess, chromium_browser_env: str, tmp_path: Path
) -> None:
    op = oidc_provider
    assert op.client_id == "e2e-native-cli"
    assert op.issuer == f"http://127.0.0.1:{op.port}"
    assert op.resource == "http://127.0.0.1:9/api"

    query, redirect_uri, verifier, result = login(op, chromium_browser_env, tmp_path)
    assert result["pages"] == ["oidc-login", "oidc-consent"]
    assert result["callback_status"] == 200
    assert query["iss"] == op.issuer  # RFC 9207
    assert (tmp_path / "final-page.png").stat().st_size > 0

    # redirect_uri (port included) must be sent again.
    no_redirect = token_request(
        op, grant_type="authorization_code", code=query["code"], code_verifier=verifier
    )
    assert no_redirect.status_code == 400
    tokens = exchange(op, query, redirect_uri, verifier)
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert "offline_access" in tokens["scope"].split()  # kept without prompt=consent
    assert "api:read" in tokens["scope"].split()
    assert tokens["refresh_token"]
    assert tokens["id_token"]

    claims = verify_access_token(op, tokens["access_token"])
    assert claims["aud"] == op.resource
    assert claims["client_id"] == op.client_id
    assert claims["sub"] == "ada@example.com"  # devInteractions: the login typed in
    assert "api:read" in claims["scope"].split()

    id_claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert id_claims["email"] == "ada@example.com"
    assert id_claims["aud"] == op.client_id

    # Rotation: every refresh returns a new refresh token (and a new JWT access token).
    rt1 = tokens["refresh_token"]
    r2 = refresh(op, rt1)
    assert r2.status_code == 200, r2.text
    rt2 = r2.json()["refresh_token"]
    assert rt2 != rt1
    assert verify_access_token(op, r2.json()["access_token"])["aud"] == op.resource
    r3 = refresh(op, rt2)
    assert r3.status_code == 200, r3.text
    rt3 = r3.json()["refresh_token"]
    assert rt3 not in (rt1, rt2)

    # Reuse of a consumed refresh token: invalid_grant, and the whole grant dies.
    reuse = refresh(op, rt1)
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    newest = refresh(op, rt3)
    assert newest.status_code == 400
    assert newest.json()["error"] == "invalid_grant"

    counters = op.counters()
    assert counters["token_requests"] == {"authorization_code": 2, "refresh_token": 4}
    assert counters["token_success"] == {"authorization_code": 1, "refresh_token": 2}
    assert counters["token_error"] == {
        "authorization_code": {"invalid_grant": 1},
        "refresh_token": {"invalid_grant": 2},
    }
    assert op.extra_stdout == b""


def test_revoke_all_and_short_ttls(
    oidc_provider_factory: ProviderFactory, chromium_browser_env: str, tmp_path: Path
) -> None:
    op = oidc_provider_factory({"AT_TTL": "120", "RT_TTL": "600"})
    query, redirect_uri, verifier, _ = login(op, chromium_browser_env, tmp_path)
    tokens = exchange(op, query, redirect_uri, verifier)
    assert tokens["expires_in"] == 120
    claims = verify_access_token(op, tokens["access_token"])
    assert claims["exp"] - claims["iat"] == 120

    revoked = op.revoke_all()
    assert revoked.get("RefreshToken") == 1
    assert revoked.get("Grant") == 1
    after = refresh(op, tokens["refresh_token"])
    assert after.status_code == 400
    assert after.json()["error"] == "invalid_grant"
    assert op.counters()["token_error"] == {"refresh_token": {"invalid_grant": 1}}


def test_without_offline_access_no_refresh_token(
    oidc_provider: OIDCProviderProcess, chromium_browser_env: str, tmp_path: Path
) -> None:
    op = oidc_provider
    query, redirect_uri, verifier, result = login(
        op, chromium_browser_env, tmp_path, scope="openid email api:read"
    )
    assert result["pages"] == ["oidc-login", "oidc-consent"]
    tokens = exchange(op, query, redirect_uri, verifier)
    assert "refresh_token" not in tokens
    assert "offline_access" not in tokens["scope"].split()


def test_deny_through_webbrowser(
    oidc_provider: OIDCProviderProcess,
    chromium_browser_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The BROWSER string works with webbrowser (blocking); deny ends on the callback too."""
    op = oidc_provider
    result_file = tmp_path / "result.json"
    monkeypatch.setenv("E2E_DECISION", "deny")
    monkeypatch.setenv("E2E_RESULT_FILE", str(result_file))
    _, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    with LoopbackCallback() as callback:
        url = authorize_url(op, callback.redirect_uri, challenge, state)
        assert webbrowser.get(chromium_browser_env).open(url) is True
        assert callback.received.is_set()
    assert callback.query["error"] == "access_denied"
    assert callback.query["state"] == state
    assert "code" not in callback.query
    assert json.loads(result_file.read_text())["pages"] == ["oidc-login", "oidc-consent"]
    assert op.counters()["token_requests"] == {}


def test_browser_fails_cleanly_without_callback_server(
    oidc_provider: OIDCProviderProcess, chromium_browser_env: str, tmp_path: Path
) -> None:
    """Nothing listening on the loopback port: exit 1, short message, no code leaked."""
    op = oidc_provider
    with LoopbackCallback() as callback:
        redirect_uri = callback.redirect_uri  # a port that is closed once we leave
    _, challenge = pkce_pair()
    url = authorize_url(op, redirect_uri, challenge, "s")
    proc, result = run_browser(chromium_browser_env, url, tmp_path, E2E_BROWSER_TIMEOUT="20")
    assert proc.returncode == 1
    assert proc.stdout == b""
    stderr = proc.stderr.decode()
    assert "code=" not in stderr and "code=" not in json.dumps(result)
    assert result["ok"] is False
    assert "ERR_CONNECTION_REFUSED" in result["error"]
