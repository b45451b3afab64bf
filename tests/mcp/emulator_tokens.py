"""Access tokens from the Stytch emulator through its real authorization-code flow (PKCE, the
scripted user agent signing in, a loopback callback), for tests that need a plain Bearer token."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode

import requests

from httpie_stytch_connected.testing import ScriptedUserAgent, StytchEmulator

from ..loopback import LoopbackServer, QuietHandler


class _Callback(QuietHandler):
    def do_GET(self) -> None:
        self.reply(200, b"signed in", content_type="text/plain")


def sign_in(emulator: StytchEmulator, scope: str) -> dict[str, Any]:
    """The token response of one sign-in as the emulator's fixed user, asking for ``scope``."""
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest())
        .rstrip(b"=")
        .decode("ascii")
    )
    with LoopbackServer(_Callback) as callback:
        redirect_uri = callback.url + "/callback"
        state = secrets.token_urlsafe(16)
        query = urlencode(
            {
                "client_id": emulator.client_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": scope,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        with ScriptedUserAgent(email=emulator.email, password=emulator.password) as agent:
            result = agent.open(f"{emulator.authorize_url}?{query}")
    assert result.reached_callback, result.error
    assert result.callback_params.get("state") == state
    response = requests.post(
        emulator.token_endpoint,
        data={
            "grant_type": "authorization_code",
            "client_id": emulator.client_id,
            "code": result.callback_params["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        timeout=10,
    )
    assert response.status_code == 200, response.status_code
    body: dict[str, Any] = response.json()
    return body
