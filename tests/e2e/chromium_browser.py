"""A scripted person with a headless Chromium, usable as ``BROWSER`` in end-to-end tests.

    BROWSER="/work/venv/bin/python /work/main/tests/e2e/chromium_browser.py %s"

``webbrowser`` runs that command and, because it has no trailing ``&``, waits for it to exit
(``GenericBrowser``); with ``... %s &`` it runs in the background (``BackgroundBrowser``).

The script launches Debian's Chromium (``/usr/bin/chromium``, never a Playwright browser
download) through the PyPI ``playwright`` package with a fresh, empty profile, opens the URL
and plays the user on the pages it recognises:

* the Stytch emulator: login form ``#email`` / ``#password`` / ``#login``, consent page
  ``#approve`` / ``#deny``;
* oidc-provider's devInteractions: login form ``input[name=login]`` /
  ``input[name=password]`` + submit, consent form (hidden ``prompt=consent``) with a
  "Continue" submit button and a "[ Cancel ]" link to ``/interaction/<uid>/abort``.

It exits 0 once the browser has landed on ``http://<loopback>:<port>/callback`` and that page
has loaded, else 1 with a short message on stderr. URLs are never printed with their query
string (they carry authorization codes). Nothing is ever written to stdout.

Environment:
    E2E_EMAIL, E2E_PASSWORD   credentials typed in (default ada@example.com / correct horse)
    E2E_DECISION              "approve" (default) or "deny"
    E2E_BROWSER_TIMEOUT       overall deadline in seconds (default 30)
    E2E_SCREENSHOT            save a PNG of the final page there
    E2E_RESULT_FILE           write a JSON summary there ({"ok", "seconds", "pages", "error",
                              "callback_status", "callback_title"}): the only diagnostics when
                              the caller discards our stderr (httpie_stytch_connected.login.browser
                              does)
    E2E_CHROMIUM              browser executable (default /usr/bin/chromium)
    E2E_CALLBACK_PATH         path of the loopback redirect (default /callback)
    E2E_BROWSER_VERBOSE       "1": one line with the timing on stderr on success
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import urlsplit

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
_URL_WITH_QUERY = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#'\"<>]*)[?#][^\s'\"<>]*")


class BrowserFailure(Exception):
    """The scripted login did not end on the callback page."""


def redact(text: str) -> str:
    """Drop query strings and fragments from every URL in ``text`` (they hold codes)."""
    return _URL_WITH_QUERY.sub(lambda m: m.group(1) + "?…", text)


def is_callback(url: str, callback_path: str) -> bool:
    parts = urlsplit(url)
    return (
        parts.scheme == "http"
        and parts.hostname in LOOPBACK_HOSTS
        and parts.port is not None
        and parts.path == callback_path
    )


def is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "file"):  # file: the sign-in's forwarding page
        return True
    return parts.hostname in LOOPBACK_HOSTS


@dataclass
class Outcome:
    ok: bool = False
    seconds: float = 0.0
    pages: list[str] = field(default_factory=list)
    error: Optional[str] = None
    callback_status: Optional[int] = None
    callback_title: Optional[str] = None


@dataclass
class _Tracker:
    """Main-frame navigations and failures, fed by Playwright events."""

    navigations: int = 0
    failed: list[str] = field(default_factory=list)
    callback_status: Optional[int] = None


class Person:
    def __init__(self, page: Any, deadline: float, outcome: Outcome) -> None:
        self.page = page
        self.deadline = deadline
        self.outcome = outcome
        self.email = os.environ.get("E2E_EMAIL", "ada@example.com")
        self.password = os.environ.get("E2E_PASSWORD", "correct horse")
        decision = os.environ.get("E2E_DECISION", "approve").strip().lower()
        if decision not in ("approve", "deny"):
            raise BrowserFailure(f"E2E_DECISION must be approve or deny, not {decision!r}")
        self.deny = decision == "deny"
        self.callback_path = os.environ.get("E2E_CALLBACK_PATH", "/callback")
        self.tracker = _Tracker()
        page.on("framenavigated", self._on_navigated)
        page.on("requestfailed", self._on_request_failed)
        page.on("response", self._on_response)

    # -- events ---------------------------------------------------------------------
    def _on_navigated(self, frame: Any) -> None:
        if frame == self.page.main_frame:
            self.tracker.navigations += 1

    def _on_request_failed(self, request: Any) -> None:
        if request.is_navigation_request() and request.frame == self.page.main_frame:
            self.tracker.failed.append(redact(f"{request.url}: {request.failure or 'failed'}"))

    def _on_response(self, response: Any) -> None:
        request = response.request
        if (
            request.is_navigation_request()
            and request.frame == self.page.main_frame
            and is_callback(response.url, self.callback_path)
        ):
            self.tracker.callback_status = response.status

    # -- helpers --------------------------------------------------------------------
    def remaining_ms(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise BrowserFailure("timed out before reaching the callback page")
        return left * 1000

    def present(self, selector: str) -> bool:
        return bool(self.page.locator(selector).count() > 0)

    def act(self, kind: str, action: Callable[[], None], trigger: str) -> None:
        """Run ``action`` and wait until the page changed: navigated or ``trigger`` gone."""
        if kind in self.outcome.pages:
            raise BrowserFailure(
                f"{kind} page shown again after it was answered (credentials rejected?)"
            )
        self.outcome.pages.append(kind)
        before = self.tracker.navigations
        action()
        while True:
            if self.tracker.navigations > before:
                self.page.wait_for_load_state("load", timeout=self.remaining_ms())
                return
            if not self.present(trigger):
                return
            # Poll (bounded by the deadline) for in-page (no navigation) updates.
            self.page.wait_for_timeout(min(100.0, self.remaining_ms()))

    # -- the person -----------------------------------------------------------------
    def run(self, url: str) -> None:
        try:
            self.page.goto(url, wait_until="load", timeout=self.remaining_ms())
        except Exception as exc:  # navigation errors carry the URL: redact
            raise BrowserFailure(redact(f"could not open the start page: {exc}")) from None
        while True:
            self.remaining_ms()
            if self.tracker.failed:
                raise BrowserFailure(f"page failed to load: {self.tracker.failed[-1]}")
            if is_callback(self.page.url, self.callback_path):
                self.page.wait_for_load_state("load", timeout=self.remaining_ms())
                if self.tracker.failed:
                    raise BrowserFailure(f"callback failed to load: {self.tracker.failed[-1]}")
                self.outcome.callback_status = self.tracker.callback_status
                self.outcome.callback_title = self.page.title()
                return
            self.step()

    def step(self) -> None:
        page = self.page
        if self.present("#email") and self.present("#password") and self.present("#login"):

            def stytch_login() -> None:
                page.fill("#email", self.email, timeout=self.remaining_ms())
                page.fill("#password", self.password, timeout=self.remaining_ms())
                page.click("#login", timeout=self.remaining_ms())

            self.act("stytch-login", stytch_login, "#login")
        elif self.present("#approve") or self.present("#deny"):
            button = "#deny" if self.deny else "#approve"
            self.act(
                "stytch-consent",
                lambda: page.click(button, timeout=self.remaining_ms()),
                button,
            )
        elif self.present("input[name=login]") and self.present("input[name=password]"):

            def oidc_login() -> None:
                page.fill("input[name=login]", self.email, timeout=self.remaining_ms())
                page.fill("input[name=password]", self.password, timeout=self.remaining_ms())
                page.click("button[type=submit]", timeout=self.remaining_ms())

            self.act("oidc-login", oidc_login, "input[name=login]")
        elif self.present("input[name=prompt][value=consent]"):
            if self.deny:
                self.act("oidc-consent", self._oidc_abort, "input[name=prompt][value=consent]")
            else:
                self.act(
                    "oidc-consent",
                    lambda: page.click(
                        "button[type=submit]:has-text('Continue')", timeout=self.remaining_ms()
                    ),
                    "input[name=prompt][value=consent]",
                )
        else:
            raise BrowserFailure(f"unrecognised page {redact(page.url)!s} (title {page.title()!r})")

    def _oidc_abort(self) -> None:
        page = self.page
        cancel = page.locator("a:has-text('Cancel')")
        if cancel.count() > 0:
            cancel.first.click(timeout=self.remaining_ms())
            return
        # No link: the abort route is /interaction/<uid>/abort.
        parts = urlsplit(page.url)
        page.goto(
            f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}/abort",
            wait_until="commit",
            timeout=self.remaining_ms(),
        )


def play(url: str, timeout: float, outcome: Outcome) -> None:
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    deadline = started + timeout
    screenshot = os.environ.get("E2E_SCREENSHOT")
    executable = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
    with tempfile.TemporaryDirectory(prefix="e2e-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            timeout=max(1000.0, (deadline - time.monotonic()) * 1000),
        )
        try:
            # Only loopback traffic: oidc-provider's page @imports a web font, and this
            # machine's network is closed (and watched). Everything else is aborted.
            def route(r: Any) -> None:
                if is_loopback(r.request.url):
                    r.continue_()
                else:
                    r.abort()

            context.route("**/*", route)
            page = context.pages[0] if context.pages else context.new_page()
            person = Person(page, deadline, outcome)
            try:
                person.run(url)
                outcome.ok = True
            finally:
                if screenshot:
                    try:
                        page.screenshot(path=screenshot, full_page=True, timeout=5000)
                    except Exception as exc:
                        print(
                            redact(f"chromium_browser: screenshot failed: {exc}"), file=sys.stderr
                        )
        finally:
            context.close()
    outcome.seconds = round(time.monotonic() - started, 3)


def _write_result(outcome: Outcome) -> None:
    path = os.environ.get("E2E_RESULT_FILE")
    if not path:
        return
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(outcome.__dict__, fh)
        fh.write("\n")


def main(argv: list[str]) -> int:
    # Nothing may reach stdout (HTTPie's stdout is the response body): send fd 1 to stderr.
    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    if len(argv) != 2:
        print("usage: chromium_browser.py URL", file=sys.stderr)
        return 2
    try:
        timeout = float(os.environ.get("E2E_BROWSER_TIMEOUT", "30"))
    except ValueError:
        print("chromium_browser: E2E_BROWSER_TIMEOUT must be a number", file=sys.stderr)
        return 2

    # Last resort if Playwright itself hangs: the deadline plus a grace period.
    watchdog = threading.Timer(timeout + 20, lambda: os._exit(1))
    watchdog.daemon = True
    watchdog.start()

    started = time.monotonic()
    outcome = Outcome()
    try:
        play(argv[1], timeout, outcome)
    except BrowserFailure as exc:
        outcome.ok, outcome.error = False, redact(str(exc))
    except Exception as exc:  # Playwright errors can carry URLs: redact
        outcome.ok, outcome.error = False, redact(f"{type(exc).__name__}: {exc}")
    if not outcome.seconds:
        outcome.seconds = round(time.monotonic() - started, 3)
    _write_result(outcome)
    if not outcome.ok:
        first_line = (outcome.error or "failed").strip().splitlines()[0][:300]
        print(f"chromium_browser: {first_line}", file=sys.stderr)
        return 1
    if os.environ.get("E2E_BROWSER_VERBOSE") == "1":
        print(
            f"chromium_browser: callback reached in {outcome.seconds:.2f} s "
            f"via {', '.join(outcome.pages) or 'no page'}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
