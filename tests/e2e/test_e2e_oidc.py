"""End to end against node's oidc-provider, an independent certified OpenID provider: headless
Chromium signs in through the package's real ``webbrowser`` path, via ``requests``
(OAuth2PKCEAuth with explicit endpoints) and via ``http --auth-type=stytch``.

The scenarios themselves are E2EScenarios in conftest.py, shared with test_e2e_stytch.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .conftest import E2EScenarios


def test_first_login_reuse_and_refresh(oidc_e2e: E2EScenarios) -> None:
    oidc_e2e.login_reuse_refresh()


def test_denied_consent(oidc_e2e: E2EScenarios) -> None:
    oidc_e2e.denial()


def test_logout_revokes_then_login_again(oidc_e2e: E2EScenarios) -> None:
    oidc_e2e.logout()


def test_login_again_after_provider_revokes_all(oidc_e2e: E2EScenarios) -> None:
    oidc_e2e.relogin_after_revoke_all()


# Configured with STYTCH_ISSUER / issuer= only: endpoints from OpenID discovery.


def test_discovery_first_login_reuse_and_refresh(oidc_discovery_e2e: E2EScenarios) -> None:
    oidc_discovery_e2e.login_reuse_refresh()


def test_discovery_logout_revokes_then_login_again(oidc_discovery_e2e: E2EScenarios) -> None:
    oidc_discovery_e2e.logout()
