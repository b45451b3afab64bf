"""A scripted user agent that signs in and approves on its pages over plain HTTP.

It stands in for the person at the browser in tests: it loads the emulator's authorize page,
fills in the login form, answers the consent page and follows the final redirect to the
loopback callback. It understands only :class:`~.emulator.StytchEmulator` pages.

Run as ``python -m httpie_stytch_connected.testing.user_agent URL`` it can be used as the
``BROWSER`` command. It writes nothing to stdout and never prints a query string, because
query strings carry authorization codes and states.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

__all__ = ["DECISIONS", "ScriptedUserAgent", "UserAgentResult"]

#: What the scripted person does on the consent page ("ignore": never finishes the login).
DECISIONS = ("approve", "deny", "ignore")

_MAX_HOPS = 10
#: The emulator's fixture user's password (a test fixture, not a secret).
_FIXTURE_PHRASE = "correct horse"
_TIMEOUT = 10.0
_REDIRECTS = (301, 302, 303, 307, 308)


def redact(url: str) -> str:
    """The URL without userinfo, query or fragment: safe to print."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


@dataclass
class _Form:
    action: str = ""
    method: str = "get"
    fields: dict[str, str] = field(default_factory=dict)
    field_types: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)


class _FormParser(HTMLParser):
    """Collects forms, their inputs and their named submit buttons."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[_Form] = []
        self._current: _Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._current = _Form(attr.get("action", ""), attr.get("method", "get").lower())
            self.forms.append(self._current)
        elif self._current is not None and tag == "input":
            name = attr.get("name")
            if name:
                self._current.fields[name] = attr.get("value", "")
                self._current.field_types[name] = attr.get("type", "text").lower()
        elif self._current is not None and tag == "button":
            name = attr.get("name")
            if name and attr.get("type", "submit").lower() == "submit":
                self._current.buttons.append((name, attr.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


@dataclass(frozen=True)
class UserAgentResult:
    """What happened; secrets (the callback URL and its parameters) are kept out of repr."""

    reached_callback: bool
    status: int | None
    text: str = field(repr=False)
    error: str | None = None
    visited: tuple[str, ...] = ()
    callback_url: str | None = field(default=None, repr=False)
    callback_params: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.reached_callback


class ScriptedUserAgent:
    """Signs in with fixed credentials and approves (or denies) consent, then hits the callback."""

    def __init__(
        self,
        email: str = "ada@example.com",
        password: str = _FIXTURE_PHRASE,
        decision: str = "approve",
    ) -> None:
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}")
        self.email = email
        self.password = password
        self.decision = decision
        self.session = requests.Session()
        # No proxies or .netrc from the environment: talk straight to the loopback servers.
        self.session.trust_env = False

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> ScriptedUserAgent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self, url: str) -> UserAgentResult:
        """Drive the sign-in that starts at ``url`` until the loopback callback answers.

        With ``decision="ignore"`` it only loads the first page, like a person who opened
        the link and walked away.
        """
        visited: list[str] = []
        method, target, data = "GET", url, None
        logged_in = consented = False
        last: requests.Response | None = None
        for _ in range(_MAX_HOPS):
            visited.append(f"{method} {redact(target)}")
            is_callback = _is_callback(target, url)
            try:
                last = self.session.request(
                    method, target, data=data, allow_redirects=False, timeout=_TIMEOUT
                )
            except requests.RequestException as exc:
                return UserAgentResult(
                    False, None, "", f"request failed: {type(exc).__name__}", tuple(visited)
                )
            if is_callback:
                params = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
                return UserAgentResult(
                    True, last.status_code, last.text, None, tuple(visited), target, params
                )
            if last.status_code in _REDIRECTS:
                location = last.headers.get("Location")
                if not location:
                    return self._fail(last, "redirect without Location", visited)
                method, target, data = "GET", urljoin(target, location), None
                continue
            if self.decision == "ignore":
                return UserAgentResult(
                    False, last.status_code, last.text, "ignored", tuple(visited)
                )
            if last.status_code != 200:
                return self._fail(last, f"unexpected status {last.status_code}", visited)
            parser = _FormParser()
            parser.feed(last.text)
            form = _pick_form(parser.forms)
            if form is None:
                return self._fail(last, "no login or consent form on the page", visited)
            fields = dict(form.fields)
            if "password" in fields and form.field_types.get("password") == "password":
                if logged_in:
                    return self._fail(last, "login rejected", visited)
                logged_in = True
                fields["email"] = self.email
                fields["password"] = self.password
            else:
                if consented or not any(n == "decision" for n, _ in form.buttons):
                    return self._fail(last, "unexpected consent page", visited)
                consented = True
                fields["decision"] = self.decision
            method = "POST" if form.method == "post" else "GET"
            target = urljoin(last.url, form.action)
            data = fields
        return self._fail(last, "too many hops", visited)

    @staticmethod
    def _fail(
        response: requests.Response | None, reason: str, visited: list[str]
    ) -> UserAgentResult:
        status = response.status_code if response is not None else None
        text = response.text if response is not None else ""
        return UserAgentResult(False, status, text, reason, tuple(visited))


def _pick_form(forms: Sequence[_Form]) -> _Form | None:
    for form in forms:
        if "password" in form.fields or any(n == "decision" for n, _ in form.buttons):
            return form
    return None


def _is_callback(target: str, start: str) -> bool:
    """A redirect carrying ``code`` or ``error`` away from the authorize server is the callback."""
    t, s = urlsplit(target), urlsplit(start)
    if t.netloc == s.netloc:
        return False
    query = parse_qs(t.query)
    return "code" in query or "error" in query


def _forwarded(url: str) -> str:
    """Where a ``file://`` forwarding page sends a browser (its ``<meta http-equiv=refresh>``),
    as a browser would follow it; any other URL as it is. The sign-in hands command browsers such
    a page so the authorization URL stays off the process list."""
    if not url.startswith("file://"):
        return url
    from html import unescape
    from re import search
    from urllib.parse import unquote

    with open(unquote(urlsplit(url).path), encoding="utf-8") as page:
        found = search(r'http-equiv="refresh" content="0; url=([^"]*)"', page.read())
    return unescape(found.group(1)) if found else url


def main(argv: Sequence[str] | None = None) -> int:
    """``BROWSER`` entry point: exit 0 once the callback answered, non-zero otherwise.

    argparse gives it ``--help`` (someone trying it by hand learns what it reads) and a usage
    error (exit 2) for anything but one URL; a URL never starts with ``-``."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m httpie_stytch_connected.testing.user_agent",
        description=(
            "Sign in and answer the consent page of a local Stytch emulator over HTTP, as a "
            "person at a browser would, then follow the redirect to the loopback callback. "
            "Use it as BROWSER='python -m httpie_stytch_connected.testing.user_agent %s'. "
            "It understands only the emulator's pages and prints nothing on stdout."
        ),
        epilog=(
            "environment: STYTCH_UA_DECISION (approve, deny or ignore; default approve), "
            "STYTCH_UA_EMAIL and STYTCH_UA_PASSWORD (default: the emulator's test user)."
        ),
    )
    parser.add_argument("url", metavar="URL", help="the authorization URL to open")
    url = parser.parse_args(sys.argv[1:] if argv is None else argv).url
    decision = os.environ.get("STYTCH_UA_DECISION", "approve")
    if decision not in DECISIONS:
        print(f"user_agent: STYTCH_UA_DECISION must be one of {DECISIONS}", file=sys.stderr)
        return 2
    if decision == "ignore":
        return 0
    agent = ScriptedUserAgent(
        email=os.environ.get("STYTCH_UA_EMAIL", "ada@example.com"),
        password=os.environ.get("STYTCH_UA_PASSWORD", _FIXTURE_PHRASE),
        decision=decision,
    )
    with agent:
        result = agent.open(_forwarded(url))
    if result.reached_callback:
        return 0
    print(
        f"user_agent: did not reach the callback ({result.error}); visited: "
        + ", ".join(result.visited),
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
