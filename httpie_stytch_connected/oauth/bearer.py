"""What every HTTP adapter asks of the token lifecycle, in terms no HTTP library owns.

An adapter (the ``requests`` auth hook, the ``httpx`` auth flow) needs three things: the token
for a request about to go out (:meth:`TokenManager.access_token`, or
:meth:`TokenManager.access_token_in_memory` where blocking is not allowed), the header that
carries it (:func:`authorization`), and whether a response rejected it (:func:`rejected`), after
which ``TokenManager.access_token(rejected=token)`` renews it. The rules live here once:

- RFC 6750 §3.1: only a 401 to a request that carried *our* header is about our token
  (:func:`rejected`). Both requests and httpx drop the Authorization header when a redirect
  leaves the origin, so a 401 from another origin renews nothing and nothing is resent there.
- A resource's token (zero configuration: one token per protected resource) never leaves that
  resource on any redirect hop, judged on the URL that will actually be sent, normalised as a
  server may read it (:mod:`.resource_uri`; in doubt, outside): an adapter withholds it where
  :func:`withhold` says so, and only an answer from inside the resource to a request that
  carried it (:func:`answers_for`) can renew it, step it up or have it resent.
- RFC 6750 §5.3: the token goes only over TLS, or to loopback where it never leaves the
  machine (:func:`refuse_cleartext`), unless the person allowed plain http.
- A rejected token is renewed at once, even when the adapter cannot resend the body as it was
  (a stream): the next request then carries a good one. An adapter resends at most once.
- RFC 6750 §3.1: a 403 ``insufficient_scope`` to our token names the scopes it lacks
  (:func:`scopes_refused`, read with :func:`scope_tokens`). Zero configuration signs in once
  more for them; a configured provider, asked for the configured scopes alone, hands the 403
  back and says once which scope to add (``TokenManager.after_forbidden``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from ..errors import ConfigurationError
from .urls import is_loopback


def authorization(token: str) -> str:
    """The ``Authorization`` header value for ``token`` (RFC 6750 §2.1)."""
    return f"Bearer {token}"


def rejected(status: int, sent: str | None, token: str) -> bool:
    """True when a response with ``status`` answered a request that carried ``token``.

    ``sent`` is the Authorization header of the request that got the response (after any
    redirects), None when it had none: a 401 from a host the header was not sent to is not a
    verdict on our token.
    """
    return status == 401 and carried(sent, token)


#: RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), here at most 128 long. Compiled
#: on first use (``re`` keeps it): a warm run loads this module and needs none.
_SCOPE_TOKEN = r"[\x21\x23-\x5b\x5d-\x7e]{1,128}"
#: The most scopes an API may have us ask for at once: what it names goes into the sign-in URL
#: and onto the terminal, and 20,000 of them made a 460 KB line and a sign-in that failed.
MAX_SCOPES = 32


def scope_tokens(text: str) -> list[str]:
    """The first :data:`MAX_SCOPES` RFC 6749 §3.3 scope-tokens in ``text``; anything else is
    dropped: it comes from the API and is shown on the terminal, where a control character
    could rewrite the screen and a flood of them bury it."""
    return [token for token in text.split() if re.fullmatch(_SCOPE_TOKEN, token)][:MAX_SCOPES]


def scopes_refused(
    status: int, sent: str | None, token: str, challenge: str | None, asked: Sequence[str]
) -> list[str]:
    """RFC 6750 §3.1: the scopes a ``403`` with ``error="insufficient_scope"`` to a request
    that carried ``token`` names beyond ``asked`` (the scopes the token was asked with); []
    for any other answer. Only scope-tokens of printable ASCII (RFC 6749 §3.3) are kept: they
    come from the API and are shown on the terminal (:func:`scope_tokens`)."""
    if status != 403 or not carried(sent, token):
        return []
    parsed = bearer_challenge(challenge)
    if not parsed or parsed.get("error") != "insufficient_scope":
        return []
    return [s for s in dict.fromkeys(scope_tokens(parsed.get("scope", ""))) if s not in asked]


def carried(sent: str | None, token: str) -> bool:
    """Whether the Authorization header ``sent`` (None: none) is ours for ``token``."""
    return sent == authorization(token)


def withhold(resource: str, token: str, url: str, sent: str | None) -> bool:
    """True when a request about to go to ``url`` carries ``token`` (its Authorization header
    is ``sent``) although ``url`` lies outside ``resource``: the adapter must take the header
    off before it is written. The one redirect rule every adapter applies to every hop."""
    from .resource_uri import within  # zero configuration only: not on a configured warm run

    return carried(sent, token) and not within(resource, url)


def answers_for(resource: str, token: str, url: str, sent: str | None) -> bool:
    """Whether a response from ``url`` to a request that carried ``sent`` speaks about
    ``resource``'s ``token``: only then may a 401 renew it, a 403 step it up, or the request be
    resent. A hop outside the resource, or one that went without our header, renews nothing."""
    from .resource_uri import within

    return carried(sent, token) and within(resource, url)


def refuse_cleartext(url: str) -> None:
    """Raise :class:`ConfigurationError` for a plain ``http://`` URL that is not on loopback.

    A Bearer token is a password for as long as it lives (RFC 6750 §5.3: TLS is required);
    on loopback it never leaves the machine, so local development keeps working.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() == "http" and not is_loopback(parts.hostname or ""):
        raise ConfigurationError(
            f"Refusing to send the access token in clear text to http://{parts.netloc}; use "
            "https://, or set STYTCH_ALLOW_INSECURE_HTTP=true (allow_insecure_http=True) to "
            "send it anyway."
        )


#: Longest challenge header read; a hostile API cannot make us parse megabytes.
_MAX_HEADER = 8192
_TOKEN = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"
# Compiled on first use (``re`` keeps them): a warm run imports this module and parses no
# challenge.
_PARAM = rf'\s*({_TOKEN})\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)\s*,?'
_SCHEME = rf"\s*({_TOKEN})(?=[\s,]|$)\s*,?"
_JUNK = rf"{_TOKEN}|."


def bearer_challenge(header: str | None) -> dict[str, str] | None:
    """The parameters of the ``Bearer`` challenge in a ``WWW-Authenticate`` value (RFC 9110
    §11.6.1; names lower-cased, first occurrence wins), or None when there is no such challenge.

    The ``error`` value is not insisted on: Stytch's example servers send non-standard ones.
    """
    text = (header or "")[:_MAX_HEADER]
    scheme: str | None = None
    params: dict[str, str] | None = None
    pos = 0
    param, scheme_name, junk = re.compile(_PARAM), re.compile(_SCHEME), re.compile(_JUNK, re.S)
    while pos < len(text):
        match = param.match(text, pos)
        if match:
            if scheme == "bearer" and params is not None:
                value = match.group(2)
                if value.startswith('"'):
                    value = re.sub(r"\\(.)", r"\1", value[1:-1])
                params.setdefault(match.group(1).lower(), value)
            pos = match.end()
            continue
        match = scheme_name.match(text, pos)
        if match:
            scheme = match.group(1).lower()
            if scheme == "bearer" and params is None:
                params = {}
            pos = match.end()
            continue
        # Junk (a token68 tail, a stray quote): skipped whole. Neither pattern can match inside
        # a run of token characters where it failed at its start, and stepping one character
        # at a time made a header of n such characters cost n² steps (8 KB: over a second).
        skipped = junk.match(text, pos)
        pos = skipped.end() if skipped else pos + 1
    return params
