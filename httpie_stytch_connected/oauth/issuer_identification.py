"""RFC 9207: the ``iss`` of an authorization response must name the server we asked.

It is the mix-up defence: a response that came from another authorization server must not
have its code sent to ours (or ours to another's). When the server advertises
``authorization_response_iss_parameter_supported`` the parameter must be there and equal the
issuer exactly (§2.4); when it is present without being advertised it is compared too. The
Stytch preset also accepts Stytch's default-domain form, ``stytch.com/{project_id}``, which its
authorization responses carry while its tokens name the project domain; nothing else.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .endpoints import ProviderEndpoints

#: Stytch's default-domain ``iss`` for any project ID (used when the ID is not configured).
STYTCH_DEFAULT_DOMAIN_ISS = r"stytch\.com/project-(?:test|live)-[0-9a-f-]{36}"


def stytch_default_domain_iss(project_id: str | None) -> str:
    """The pattern of the ``iss`` form Stytch's default domain sends for ``project_id``."""
    return re.escape(f"stytch.com/{project_id}") if project_id else STYTCH_DEFAULT_DOMAIN_ISS


def iss_problem(endpoints: ProviderEndpoints, iss: str | None) -> str | None:
    """Why a callback's ``iss`` (None: absent) is refused, or None when it is acceptable."""
    issuer = endpoints.issuer
    if issuer is None:  # nothing to compare with: endpoints configured one by one
        return None
    if iss is None:
        if endpoints.iss_parameter_supported:
            return f"it names no issuer, though {issuer} always sends one (RFC 9207)"
        return None
    if iss == issuer:
        return None
    if endpoints.iss_alias and re.fullmatch(endpoints.iss_alias, iss):
        return None
    from .untrusted import shown
    from .urls import shown_url

    return f"it came from '{shown(iss)}', not from {shown_url(issuer)} (RFC 9207 mix-up defence)"
