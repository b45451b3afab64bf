"""The person agrees before zero configuration signs in where an API sent them (issue 17 §2).

In zero configuration the API names the authorization server. A hostile API can name the
person's *own* server: the tool would reuse their registration, sign them in at the real page
with ``resource=`` the hostile API, and hand that API a token; a server that ignores RFC 8707
(Stytch does) makes it a token for the project, which works on the person's real APIs too.
Nothing on the wire tells the two apart, so the person decides, once per (API, server) pair:

- a setting has already said yes: ``hosts`` names the API, or ``trusted_issuers`` names the
  server;
- else a question on the terminal (``/dev/tty``: HTTPie's stdin may be the request body and its
  stdout is the response body), saying which server it is and which other APIs this tool already
  signs in to there, answered ``y`` within ``login_timeout`` seconds;
- no terminal, ``n``, or no answer in time: a refusal naming the settings that say yes.

The answer is remembered by the binding itself: a binding is saved only after the pair was
agreed, and a saved one is never asked about again (in any process).
"""

from __future__ import annotations

import base64
import os
import select
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..errors import ConfigurationError
from ..oauth.resource_uri import within
from ..oauth.untrusted import parse_json, shown
from ..oauth.urls import equivalent, shown_url
from ..settings.options import host_matches

if TYPE_CHECKING:
    from ..settings.config import Settings

#: The terminal of the process, whatever its stdin, stdout and stderr are.
TERMINAL = "/dev/tty"
#: Other APIs named in the question; the rest are counted.
_NAMED = 3

Answer = Literal["yes", "no", "timeout", "no terminal"]


@dataclass(frozen=True)
class Pair:
    """What the person is asked about: an API new to this tool, the server it sends them to,
    what this tool already holds there (other APIs bound to it, and how the client is known)."""

    resource: str
    issuer: str
    others: tuple[str, ...] = ()
    client: str = "to be registered"
    #: Why the server is the API's own origin, when it is (:data:`.binding.FALLBACKS`).
    fallback: str = ""

    def held(self) -> str:
        """What is at stake at that server, as a sentence for the question."""
        if self.others:
            named = ", ".join(shown_url(api) for api in self.others[:_NAMED])
            more = len(self.others) - _NAMED
            named += f" and {more} more" if more > 0 else ""
            return (
                f"This tool already signs you in there for {named}; unless that server binds "
                "each token to one API, a token from this sign-in may work there too."
            )
        if self.client == "registered":
            return "This tool is registered there already; nothing else is held there."
        return "This tool holds nothing there yet."

    def question(self) -> str:
        return (
            f"\n{shown_url(self.resource)} asks you to sign in at {shown_url(self.issuer)}.\n"
            + (f"({self.fallback}.)\n" if self.fallback else "")
            + f"{self.held()}\n"
            f"Sign in at {shown_url(self.issuer)} for {shown_url(self.resource)}? [y/N] "
        )


def agreed_by_settings(settings: Settings, pair: Pair) -> bool:
    """``hosts`` names the API (the person listed where tokens go) or ``trusted_issuers`` names
    the server (the person accepts any API's sign-in there): the same URL, though it may be
    written differently (``https://Login.example.com/`` for ``https://login.example.com``)."""
    hosts: tuple[str, ...] = settings.values.get("hosts") or ()
    trusted: tuple[str, ...] = settings.values.get("trusted_issuers") or ()
    listed = any(equivalent(pair.issuer, issuer) for issuer in trusted)
    return (bool(hosts) and host_matches(pair.resource, hosts)) or listed


def confirm(settings: Settings, pair: Pair) -> None:
    """Return when the person (or a setting) agrees to sign in for ``pair``; else raise the
    refusal, having sent nothing to the server."""
    if agreed_by_settings(settings, pair):
        return
    timeout = float(settings.values.get("login_timeout") or 300.0)
    answer = ask_terminal(pair.question(), timeout)
    if answer != "yes":
        raise refusal(pair, answer, timeout)


def refusal(pair: Pair, answer: Answer, timeout: float) -> ConfigurationError:
    """One sentence: why nothing was signed in to, and which settings say yes."""
    where = f"Not signing in at {shown_url(pair.issuer)} for {shown_url(pair.resource)}"
    where += f" ({pair.fallback})" if pair.fallback else ""
    settings = (
        "add the API's host to STYTCH_HOSTS (hosts) or the server to STYTCH_TRUSTED_ISSUERS "
        "(trusted_issuers)"
    )
    others = len(pair.others)
    held = f", where this tool already signs you in for {others} other API(s)," if others else ""
    if answer == "no":
        return ConfigurationError(f"{where}: you answered no; to sign in, run again and answer y.")
    if answer == "timeout":
        return ConfigurationError(
            f"{where}: no answer within {timeout:g} seconds; run again and answer y, or {settings}."
        )
    return ConfigurationError(
        f"{where}{held}: this API is new to this tool and there is no terminal to ask you on; "
        f"to allow it, {settings}, or run it once from a terminal."
    )


def ask_terminal(question: str, timeout: float) -> Answer:
    """``question`` written to the controlling terminal and a line read back from it, waiting
    at most ``timeout`` seconds. Anything typed before the question is dropped, so an early
    keystroke cannot answer it."""
    try:
        fd = os.open(TERMINAL, os.O_RDWR | getattr(os, "O_NOCTTY", 0))
    except OSError:  # no controlling terminal (CI, a service, Windows): nobody to ask
        return "no terminal"
    try:
        _drop_typeahead(fd)
        os.write(fd, question.encode("utf-8", "replace"))
        line = _read_line(fd, time.monotonic() + timeout)
        if line is None:
            os.write(fd, b"\n")
            return "timeout"
        return "yes" if line.strip().lower() in (b"y", b"yes") else "no"
    except OSError:  # the terminal went away while asking
        return "no terminal"
    finally:
        os.close(fd)


def _drop_typeahead(fd: int) -> None:
    try:
        import termios

        termios.tcflush(fd, termios.TCIFLUSH)
    except (ImportError, OSError):
        pass


def _read_line(fd: int, deadline: float) -> bytes | None:
    """One line from ``fd`` (a terminal in canonical mode hands a line at a time); None when
    the deadline passes first. End of input (Ctrl-D) is an empty line: no."""
    line = b""
    while b"\n" not in line:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 1024)
        if not chunk:
            break
        line += chunk
        if len(line) > 1024:  # nobody types that much for y or n
            break
    return line.split(b"\n", 1)[0]


def unbound_audience(token: str, resource: str) -> str | None:
    """The ``aud`` of ``token``, shown, when it is a JWT whose audience does not name
    ``resource`` (nor a resource that contains it): the server ignored RFC 8707's ``resource``,
    so the token is likely accepted by every API of that server. None when the token is bound
    to ``resource``, or says nothing readable (an opaque token, no ``aud``)."""
    parts = token.split(".")
    if len(parts) != 3 or len(parts[1]) > 16384:
        return None
    try:
        claims = parse_json(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:  # also binascii.Error and UnicodeDecodeError
        return None
    audience = claims.get("aud") if isinstance(claims, dict) else None
    values = [audience] if isinstance(audience, str) else audience
    if not isinstance(values, list) or not values:
        return None
    if any(isinstance(value, str) and within(value, resource) for value in values):
        return None
    return shown(" ".join(str(value) for value in values))
