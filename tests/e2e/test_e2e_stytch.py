"""End to end against our Stytch emulator: headless Chromium signs in through the package's
real ``webbrowser`` path, via ``requests`` (StytchAuth) and via ``http --auth-type=stytch``.

The scenarios themselves are E2EScenarios in conftest.py, shared with test_e2e_oidc.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .conftest import E2EScenarios


def test_first_login_reuse_and_refresh(stytch_e2e: E2EScenarios) -> None:
    stytch_e2e.login_reuse_refresh()


def test_denied_consent(stytch_e2e: E2EScenarios) -> None:
    stytch_e2e.denial()


def test_logout_revokes_then_login_again(stytch_e2e: E2EScenarios) -> None:
    stytch_e2e.logout()


def test_login_again_after_provider_revokes_all(stytch_e2e: E2EScenarios) -> None:
    stytch_e2e.relogin_after_revoke_all()
