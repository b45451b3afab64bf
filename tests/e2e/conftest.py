"""Fixtures for the end-to-end tests: an independent OpenID provider and a scripted browser."""

from __future__ import annotations

import importlib.util
import json
import os
import select
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

import pytest
import requests

from httpie_stytch_connected.auth import OAuth2PKCEAuth, StytchAuth
from httpie_stytch_connected.errors import AuthenticationError
from httpie_stytch_connected.lifecycle.manager import TokenManager, forget_memory
from httpie_stytch_connected.messages import notify_stderr
from httpie_stytch_connected.oauth.tokens import TokenSet
from httpie_stytch_connected.testing.emulator import StytchEmulator
from httpie_stytch_connected.testing.pytest_plugin import reset_webbrowser
from httpie_stytch_connected.testing.resource_server import ResourceServer

from .oidc_provider import OIDCProviderProcess, ProviderFactory, require

CHROMIUM_BROWSER_SCRIPT = Path(__file__).resolve().with_name("chromium_browser.py")


@pytest.fixture
def oidc_provider() -> Iterator[OIDCProviderProcess]:
    """A fresh oidc-provider (default TTLs) for one test."""
    with OIDCProviderProcess() as provider:
        yield provider


@pytest.fixture
def oidc_provider_factory() -> Iterator[ProviderFactory]:
    """Start providers with env overrides (AT_TTL, RT_TTL, RESOURCE); all stopped at teardown."""
    started: list[OIDCProviderProcess] = []

    def start(env: Optional[Mapping[str, str]] = None) -> OIDCProviderProcess:
        provider = OIDCProviderProcess(env)
        provider.__enter__()
        started.append(provider)
        return provider

    yield start
    for provider in reversed(started):
        provider.__exit__(None, None, None)


@pytest.fixture
def chromium_browser_env() -> str:
    """The ``BROWSER`` command line that runs chromium_browser.py with this interpreter.

    ``webbrowser`` waits for it to exit (GenericBrowser). Note that ``webbrowser`` reads
    ``BROWSER`` once per process (``webbrowser._tryorder`` is cached on first use): set it
    before the first ``webbrowser.get()``/``open()``, or use ``webbrowser.get(command)``.
    """
    chromium = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
    require(os.access(chromium, os.X_OK), f"{chromium} is not installed (apt-get install chromium)")
    require(
        importlib.util.find_spec("playwright") is not None,
        "the playwright package is not installed (pip install playwright)",
    )
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(CHROMIUM_BROWSER_SCRIPT))} %s"


# ---------------------------------------------------------------------------------------------
# The package end to end: a provider (our Stytch emulator or oidc-provider), an API that
# verifies its access tokens, and a client run either in-process through ``requests`` or as
# the ``http --auth-type=stytch`` command. The scenarios (issue 5) live on E2EScenarios so that
# test_e2e_stytch.py and test_e2e_oidc.py run the very same checks against both providers.
# ---------------------------------------------------------------------------------------------

#: Access token lifetime on both providers (short, as a real deployment might set it);
#: ``expired=True`` calls rewrite the stored set as expired rather than wait for the clock.
ACCESS_TOKEN_TTL = 120
#: A BROWSER that fails at once: a call made with it proves no browser login was needed.
FAILING_BROWSER = "false %s"
#: Login timeout when no browser may be needed: a wrong login attempt fails fast, not hangs.
NO_BROWSER_LOGIN_TIMEOUT = "5"
BROWSER_LOGIN_TIMEOUT = "60"
#: What oidc-provider's JWT access tokens are for (resource indicator, the ``aud``).
OIDC_RESOURCE = "https://api.e2e.example/v1"
OIDC_SCOPES = "openid email profile offline_access api:read"
#: Environment the stytch_keyring fixture sets to isolate keyring, caches and config.
ISOLATION_VARS = frozenset(
    {"STYTCH_TEST_KEYRING_DIR", "STYTCH_CACHE_DIR", "STYTCH_DATA_DIR", "STYTCH_CONFIG"}
)
HTTP_COMMAND = Path(sys.executable).with_name("http")
CLI_COMMAND = Path(sys.executable).with_name("stytch-connected")
SUBPROCESS_TIMEOUT = 100.0
MODES = ("requests", "http")
#: The line the package prints (stderr / notify) when it starts a browser login.
LOGIN_MESSAGE = "Opening your browser to sign in."
#: Bound on waiting for chromium_browser.py's result once a login started (its own deadline
#: is 30 s, plus its watchdog's grace).
BROWSER_RESULT_TIMEOUT = 60.0


@dataclass
class Run:
    """One API call made through the package, by whichever client."""

    mode: str
    ok: bool
    body: Any = None
    status: Optional[int] = None  # requests only (http exits 0 for 2xx with --check-status)
    error: Optional[str] = None  # the message a person sees
    returncode: Optional[int] = None  # http only
    stdout: bytes = b""
    stderr: str = ""
    messages: list[str] = field(default_factory=list)  # what the package told the person
    browser: Optional[dict[str, Any]] = None  # chromium_browser.py's result; None: never ran
    seconds: float = 0.0

    @property
    def login_started(self) -> bool:
        return any(m.startswith(LOGIN_MESSAGE) for m in self.messages)

    def explain(self) -> str:
        return (
            f"{self.mode}: ok={self.ok} status={self.status} rc={self.returncode} "
            f"error={self.error!r} browser={self.browser!r}\n"
            f"messages={self.messages!r}\nstdout={self.stdout[:500]!r}\n"
            f"stderr={self.stderr[-2000:]}"
        )


class E2EProvider:
    """What the scenarios need to know about, and ask of, one provider."""

    name = "provider"
    #: Pages chromium_browser.py answers during one login.
    login_pages: tuple[str, ...] = ()

    def __init__(self, api: ResourceServer, token_endpoint: str, client_id: str) -> None:
        self.api = api
        self.token_endpoint = token_endpoint
        self.client_id = client_id

    def settings(self) -> dict[str, Any]:
        """Package settings by name (``STYTCH_<NAME>`` in the environment)."""
        raise NotImplementedError

    def auth(self, **settings: Any) -> OAuth2PKCEAuth:
        """The requests auth object a library user would write for this provider."""
        raise NotImplementedError

    def expected_body(self) -> dict[str, Any]:
        raise NotImplementedError

    def code_exchanges(self) -> int:
        raise NotImplementedError

    def refreshes(self) -> tuple[int, int]:
        """(successful, refused) refresh_token grants so far."""
        raise NotImplementedError

    def revocations(self) -> int:
        raise NotImplementedError

    def revoke_all(self) -> None:
        raise NotImplementedError

    def refresh_refused(self, refresh_token: str) -> bool:
        """Is ``refresh_token`` refused (invalid_grant)? Only ask about dead tokens: a live one
        would be rotated (and counted)."""
        response = requests.post(
            self.token_endpoint,
            data={
                "grant_type": "refresh_token",
                "client_id": self.client_id,
                "refresh_token": refresh_token,
            },
            timeout=10,
        )
        return response.status_code == 400 and response.json().get("error") == "invalid_grant"


class EmulatorProvider(E2EProvider):
    name = "stytch-emulator"
    login_pages = ("stytch-login", "stytch-consent")

    def __init__(self, emulator: StytchEmulator, api: ResourceServer) -> None:
        super().__init__(api, emulator.token_endpoint, emulator.client_id)
        self.emulator = emulator

    def settings(self) -> dict[str, Any]:
        return {
            "project_domain": self.emulator.project_domain,
            "client_id": self.emulator.client_id,
            "authorize_url": self.emulator.authorize_url,
        }

    def auth(self, **settings: Any) -> OAuth2PKCEAuth:
        return StytchAuth(
            project_domain=self.emulator.project_domain,
            client_id=self.emulator.client_id,
            authorize_url=self.emulator.authorize_url,
            environ=clean_environ(),
            **settings,
        )

    def expected_body(self) -> dict[str, Any]:
        return {"resources": [{"id": 1, "name": "first"}], "sub": self.emulator.user_id}

    def code_exchanges(self) -> int:
        return self.emulator.counters["token_authorization_code"]

    def refreshes(self) -> tuple[int, int]:
        counters = self.emulator.counters
        ok = counters["token_refresh_ok"]
        return ok, counters["token_refresh"] - ok

    def revocations(self) -> int:
        return self.emulator.counters["revoke"]

    def revoke_all(self) -> None:
        self.emulator.revoke_all()


class OIDCProvider(E2EProvider):
    name = "oidc-provider"
    login_pages = ("oidc-login", "oidc-consent")

    def __init__(self, op: OIDCProviderProcess, api: ResourceServer, *, discovery: bool) -> None:
        super().__init__(api, op.token_endpoint, op.client_id)
        self.op = op
        self.discovery = discovery

    def settings(self) -> dict[str, Any]:
        """``issuer`` (OpenID discovery), or every endpoint spelled out."""
        if self.discovery:
            return {"issuer": self.op.issuer, "client_id": self.op.client_id, "scopes": OIDC_SCOPES}
        return {
            "authorization_endpoint": self.op.authorization_endpoint,
            "token_endpoint": self.op.token_endpoint,
            "revocation_endpoint": self.op.revocation_endpoint,
            "client_id": self.op.client_id,
            "scopes": OIDC_SCOPES,
        }

    def auth(self, **settings: Any) -> OAuth2PKCEAuth:
        return OAuth2PKCEAuth(environ=clean_environ(), **self.settings(), **settings)

    def expected_body(self) -> dict[str, Any]:
        # devInteractions: the login typed in becomes the subject.
        return {"resources": [{"id": 1, "name": "first"}], "sub": "ada@example.com"}

    def code_exchanges(self) -> int:
        return int(self.op.counters()["token_success"].get("authorization_code", 0))

    def refreshes(self) -> tuple[int, int]:
        counters = self.op.counters()
        ok = int(counters["token_success"].get("refresh_token", 0))
        refused = sum(int(n) for n in counters["token_error"].get("refresh_token", {}).values())
        return ok, refused

    def revocations(self) -> int:
        return int(self.op.counters()["revocation_requests"])

    def revoke_all(self) -> None:
        self.op.revoke_all()


def zero_environ() -> dict[str, str]:
    """No provider setting; ``hosts`` names loopback, where every API of these tests is, so the
    person has agreed to sign in for them (a test run has no terminal to be asked on)."""
    return {**clean_environ(), "STYTCH_HOSTS": "127.0.0.1"}


def clean_environ() -> dict[str, str]:
    """This process's environment without any STYTCH_* setting but the isolating ones."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("STYTCH_") or name in ISOLATION_VARS
    }


class E2EClient:
    """Makes API calls through the package, in-process (``requests``) or as ``http``."""

    def __init__(
        self,
        mode: str,
        provider: E2EProvider,
        chromium: str,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        assert mode in MODES, mode
        self.mode = mode
        self.provider = provider
        self.chromium = chromium
        self.tmp_path = tmp_path
        self.monkeypatch = monkeypatch
        self.calls = 0
        self.httpie_config = tmp_path / "httpie-config"
        self.httpie_config.mkdir()
        (self.httpie_config / "config.json").write_text(
            json.dumps({"disable_update_warnings": True}), encoding="utf-8"
        )

    # -- the package's view of the stored credentials (same keyring dir as the subprocess) --
    def manager(self) -> TokenManager:
        return self.provider.auth().manager

    def stored(self) -> Optional[TokenSet]:
        return self.manager().stored()

    def cached_access_tokens(self) -> list[Path]:
        return sorted((Path(os.environ["STYTCH_CACHE_DIR"]) / "access").glob("*.json"))

    def logout(self) -> None:
        """Sign out: revoke the refresh token at the provider, then forget everything stored.

        The person at the terminal (http mode) runs ``stytch-connected logout`` with the same
        environment as ``http``; a library user (requests mode) calls ``manager.logout()``.
        """
        if self.mode == "http":
            proc = subprocess.run(
                [str(CLI_COMMAND), "logout"],
                env=self._subprocess_env({"BROWSER": FAILING_BROWSER}, {}),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=SUBPROCESS_TIMEOUT,
                check=False,
            )
            stderr = proc.stderr.decode("utf-8", "replace")
            assert proc.returncode == 0, stderr
            assert proc.stdout == b"", (proc.stdout, stderr)
            assert "Traceback" not in stderr, stderr
            assert "Signed out: the provider revoked the session" in stderr, stderr
            return
        assert self.manager().logout() is True, "nothing was stored, or revocation failed"

    def expire_stored(self) -> None:
        """As a later run would find it: the stored access token past its expiry, no cache."""
        manager = self.manager()
        stored = manager.stored()
        assert stored is not None, "nothing stored to expire"
        manager.store.save(manager.key, replace(stored, expires_at=time.time() - 10))
        if manager.access_cache is not None:
            manager.access_cache.delete(manager.key)
        forget_memory()

    # -- calls ----------------------------------------------------------------------------
    def call(
        self,
        *,
        browser: bool = True,
        decision: str = "approve",
        expired: bool = False,
        fresh_process: bool = True,
    ) -> Run:
        """GET the API once.

        ``browser``: BROWSER is the scripted Chromium, else a command that fails (so success
        proves that no browser was needed). ``expired``: the stored access token has expired.
        ``fresh_process`` (requests only): drop
        this process's in-memory tokens first, as a new process would start.
        """
        self.calls += 1
        result_file = self.tmp_path / f"browser-result-{self.calls}.fifo"
        os.mkfifo(result_file, 0o600)
        # The package returns as soon as the callback arrives, while Chromium is still closing;
        # chromium_browser.py writes its result last. A FIFO makes that an event we can wait
        # for (bounded), instead of polling for a file.
        result_fd = os.open(result_file, os.O_RDONLY | os.O_NONBLOCK)
        env = {
            "BROWSER": self.chromium if browser else FAILING_BROWSER,
            "E2E_DECISION": decision,
            "E2E_RESULT_FILE": str(result_file),
        }
        settings = {"login_timeout": BROWSER_LOGIN_TIMEOUT if browser else NO_BROWSER_LOGIN_TIMEOUT}
        if expired:
            self.expire_stored()
        started = time.monotonic()
        try:
            if self.mode == "requests":
                run = self._call_requests(env, settings, fresh_process)
            else:
                run = self._call_http(env, settings)
            if browser and run.login_started:
                run.browser = read_browser_result(result_fd, BROWSER_RESULT_TIMEOUT)
        finally:
            os.close(result_fd)
        run.seconds = round(time.monotonic() - started, 3)
        return run

    def _call_requests(self, env: dict[str, str], settings: dict[str, str], fresh: bool) -> Run:
        for name, value in env.items():
            self.monkeypatch.setenv(name, value)
        reset_webbrowser()  # webbrowser reads BROWSER once per process
        if fresh:
            forget_memory()
        messages: list[str] = []

        def notify(message: str) -> None:
            messages.append(message)
            notify_stderr(message)

        auth = self.provider.auth(notify=notify, **settings)
        try:
            response = requests.get(self.provider.api.url, auth=auth, timeout=30)
        except AuthenticationError as exc:
            return Run(self.mode, ok=False, error=str(exc), messages=messages)
        json_body = response.headers.get("Content-Type") == "application/json"
        return Run(
            self.mode,
            ok=response.ok,
            body=response.json() if json_body else None,
            status=response.status_code,
            messages=messages,
        )

    def _subprocess_env(self, env: dict[str, str], settings: dict[str, str]) -> dict[str, str]:
        """The isolated environment, the provider's STYTCH_* settings, then ``env``."""
        full_env = clean_environ()
        for name in [n for n in full_env if n.startswith("E2E_")]:
            del full_env[name]
        for name, value in {**self.provider.settings(), **settings}.items():
            full_env[f"STYTCH_{name.upper()}"] = str(value)
        full_env.update(env)
        full_env["HTTPIE_CONFIG_DIR"] = str(self.httpie_config)
        return full_env

    def _call_http(self, env: dict[str, str], settings: dict[str, str]) -> Run:
        full_env = self._subprocess_env(env, settings)
        argv = [
            str(HTTP_COMMAND),
            "--ignore-stdin",
            "--check-status",
            "--auth-type=stytch",
            "GET",
            self.provider.api.url,
        ]
        proc = subprocess.run(
            argv,
            env=full_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=SUBPROCESS_TIMEOUT,
            check=False,
        )
        stderr = proc.stderr.decode("utf-8", "replace")
        errors = [line for line in stderr.splitlines() if line.startswith("http: error:")]
        body: Any = None
        if proc.returncode == 0:
            try:  # stdout must be the response body and nothing else
                body = json.loads(proc.stdout)
            except ValueError:
                raise AssertionError(
                    f"http's stdout is not just the JSON body: {proc.stdout[:1000]!r}"
                ) from None
        return Run(
            self.mode,
            ok=proc.returncode == 0,
            body=body,
            error="\n".join(errors) or None,
            returncode=proc.returncode,
            stdout=proc.stdout,
            stderr=stderr,
            messages=stderr.splitlines(),
        )


def read_browser_result(fd: int, timeout: float) -> dict[str, Any]:
    """Read chromium_browser.py's JSON result from the FIFO ``fd`` until the writer closes it."""
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    while True:
        remaining = deadline - time.monotonic()
        readable = select.select([fd], [], [], max(0.0, remaining))[0] if remaining > 0 else []
        if not readable:
            return {"ok": False, "error": f"no browser result within {timeout:g} s"}
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            continue
        if not data:
            break
        chunks.append(data)
    result: dict[str, Any] = json.loads(b"".join(chunks))
    return result


class E2EScenarios:
    """Issue 5's scenarios, for one provider and one client mode."""

    def __init__(self, provider: E2EProvider, client: E2EClient) -> None:
        self.provider = provider
        self.client = client

    # -- checks shared by the scenarios -----------------------------------------------------
    def assert_success(self, run: Run, *, browser: bool) -> None:
        """The API answered 200 with its body; a browser login happened iff ``browser``."""
        assert run.ok, run.explain()
        assert run.body == self.provider.expected_body(), run.explain()
        if run.mode == "requests":
            assert run.status == 200, run.explain()
        else:
            assert run.returncode == 0, run.explain()
            # run.body is json.loads(stdout): stdout held the response body and nothing else
            # (no prompt, no URL, no browser output), or parsing it would have failed.
            assert run.stdout.lstrip().startswith(b"{"), run.explain()
            assert "Traceback" not in run.stderr, run.explain()
            assert not run.error, run.explain()
        if browser:
            assert run.browser is not None, f"no browser login happened\n{run.explain()}"
            assert run.browser["ok"] is True, run.explain()
            assert run.browser["pages"] == list(self.provider.login_pages), run.explain()
            assert run.browser["callback_status"] == 200, run.explain()
            # The whole page arrived, after the exchange and the save (the http process exits
            # right after the sign-in: the page must not be cut off).
            assert run.browser["callback_title"] == "Signed in", run.explain()
        else:
            assert run.browser is None, f"a browser login happened\n{run.explain()}"

    def stored_refresh_token(self) -> str:
        stored = self.client.stored()
        assert stored is not None, "no token set stored"
        assert stored.refresh_token, "no refresh token stored"
        return stored.refresh_token

    # -- 1, 2, 3: first login, reuse without a browser, refresh after expiry -----------------
    def login_reuse_refresh(self) -> None:
        provider, client = self.provider, self.client

        first = client.call()
        self.assert_success(first, browser=True)
        assert provider.code_exchanges() == 1
        assert provider.refreshes() == (0, 0)
        first_set = client.stored()
        assert first_set is not None and first_set.refresh_token and first_set.access_token
        assert len(client.cached_access_tokens()) == 1

        # 2. A new process (or, in-process, the same one) reuses the token: BROWSER fails.
        second = client.call(browser=False)
        self.assert_success(second, browser=False)
        if client.mode == "requests":
            self.assert_success(client.call(browser=False, fresh_process=False), browser=False)
        assert provider.code_exchanges() == 1
        assert provider.refreshes() == (0, 0)
        assert client.stored() == first_set

        # 3. The access token has expired: one refresh, the rotated refresh token stored.
        third = client.call(browser=False, expired=True)
        self.assert_success(third, browser=False)
        assert provider.refreshes() == (1, 0)
        assert provider.code_exchanges() == 1
        refreshed = client.stored()
        assert refreshed is not None
        assert refreshed.refresh_token and refreshed.refresh_token != first_set.refresh_token
        assert refreshed.access_token != first_set.access_token
        claims = provider.api.verify(refreshed.access_token)
        assert claims["sub"] == provider.expected_body()["sub"]
        assert provider.api.counters["200"] == (4 if client.mode == "requests" else 3)
        assert provider.api.counters["401"] == 0

    # -- 4: the person denies consent ----------------------------------------------------------
    def denial(self) -> None:
        provider, client = self.provider, self.client
        run = client.call(decision="deny")
        assert not run.ok, run.explain()
        assert run.browser is not None and run.browser["ok"] is True, run.explain()
        assert run.browser["pages"] == list(self.provider.login_pages), run.explain()
        assert run.error is not None, run.explain()
        assert "\n" not in run.error, run.explain()  # one line
        assert "refused" in run.error and "access_denied" in run.error, run.explain()
        if client.mode == "http":
            assert run.returncode not in (None, 0), run.explain()
            assert run.stdout == b"", run.explain()
            assert "Traceback" not in run.stderr, run.explain()
            assert run.error.startswith("http: error: "), run.explain()
        # Nothing stored, nothing exchanged, the API never called.
        assert client.stored() is None
        assert client.cached_access_tokens() == []
        assert provider.code_exchanges() == 0
        assert sum(provider.api.counters.values()) == 0

    # -- 5: logout revokes at the provider; the next request signs in again --------------------
    def logout(self) -> None:
        provider, client = self.provider, self.client
        self.assert_success(client.call(), browser=True)
        refresh_token = self.stored_refresh_token()

        client.logout()
        assert provider.revocations() == 1
        assert client.stored() is None
        assert client.cached_access_tokens() == []
        assert provider.refresh_refused(refresh_token)  # revoked at the provider

        again = client.call()
        self.assert_success(again, browser=True)  # a new browser login was needed
        assert provider.code_exchanges() == 2
        assert self.stored_refresh_token() != refresh_token

    # -- 6: the provider revoked everything; the refused refresh leads to a new login -----------
    def relogin_after_revoke_all(self) -> None:
        provider, client = self.provider, self.client
        self.assert_success(client.call(), browser=True)
        refresh_token = self.stored_refresh_token()
        refreshes_before = provider.refreshes()

        provider.revoke_all()
        again = client.call(expired=True)  # the access token counts as expired: refresh first
        self.assert_success(again, browser=True)
        ok, refused = provider.refreshes()
        assert (ok, refused) == (refreshes_before[0], refreshes_before[1] + 1)
        assert provider.code_exchanges() == 2
        assert self.stored_refresh_token() != refresh_token
        assert "Your session has expired; signing in again." in again.messages, again.explain()


@pytest.fixture(params=MODES)
def e2e_mode(request: pytest.FixtureRequest) -> str:
    """Each scenario runs through ``requests`` in-process and through the ``http`` command."""
    mode = str(request.param)
    if mode == "http":
        for command in (HTTP_COMMAND, CLI_COMMAND):
            require(command.exists(), f"{command} is missing (pip install -e '.[test]')")
    return mode


@pytest.fixture
def stytch_e2e(
    e2e_mode: str,
    stytch_keyring: Path,
    chromium_browser_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[E2EScenarios]:
    """Scenarios against our Stytch emulator (short access token lifetime)."""
    with (
        StytchEmulator(access_token_ttl=ACCESS_TOKEN_TTL) as emulator,
        ResourceServer(
            jwks_uri=emulator.jwks_uri, issuer=emulator.issuer, audience=emulator.project_id
        ) as api,
    ):
        provider = EmulatorProvider(emulator, api)
        client = E2EClient(e2e_mode, provider, chromium_browser_env, tmp_path, monkeypatch)
        try:
            yield E2EScenarios(provider, client)
        finally:
            reset_webbrowser()


def _oidc_scenarios(
    discovery: bool,
    e2e_mode: str,
    oidc_provider_factory: ProviderFactory,
    chromium_browser_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[E2EScenarios]:
    op = oidc_provider_factory({"AT_TTL": str(ACCESS_TOKEN_TTL), "RESOURCE": OIDC_RESOURCE})
    with ResourceServer(
        jwks_uri=op.jwks_uri, issuer=op.issuer, audience=OIDC_RESOURCE, required_scope="api:read"
    ) as api:
        provider = OIDCProvider(op, api, discovery=discovery)
        client = E2EClient(e2e_mode, provider, chromium_browser_env, tmp_path, monkeypatch)
        try:
            yield E2EScenarios(provider, client)
        finally:
            reset_webbrowser()
            assert op.extra_stdout == b""


@pytest.fixture
def oidc_e2e(
    e2e_mode: str,
    oidc_provider_factory: ProviderFactory,
    stytch_keyring: Path,
    chromium_browser_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[E2EScenarios]:
    """Scenarios against oidc-provider (short access token lifetime, JWT access tokens),
    configured with explicit endpoints."""
    yield from _oidc_scenarios(
        False, e2e_mode, oidc_provider_factory, chromium_browser_env, tmp_path, monkeypatch
    )


@pytest.fixture
def oidc_discovery_e2e(
    e2e_mode: str,
    oidc_provider_factory: ProviderFactory,
    stytch_keyring: Path,
    chromium_browser_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[E2EScenarios]:
    """The same, configured with the issuer alone (``issuer=`` / STYTCH_ISSUER): every
    endpoint, the revocation endpoint included, comes from OpenID discovery."""
    yield from _oidc_scenarios(
        True, e2e_mode, oidc_provider_factory, chromium_browser_env, tmp_path, monkeypatch
    )


@pytest.fixture
def op(
    oidc_provider_factory: ProviderFactory,
    stytch_keyring: Path,
    chromium_browser_env: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[OIDCProviderProcess]:
    """The independent OpenID provider, with headless Chromium as the system browser."""
    monkeypatch.setenv("BROWSER", chromium_browser_env)
    reset_webbrowser()
    yield oidc_provider_factory(None)
    reset_webbrowser()
