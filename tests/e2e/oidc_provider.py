"""Run node's oidc-provider (``e2e/oidc-provider/server.mjs``) as an independent test peer.

    with OIDCProviderProcess(env={"AT_TTL": "5"}) as op:
        op.issuer, op.client_id, op.resource, op.revoke_all(), op.counters()

Missing prerequisites (``node``, ``e2e/oidc-provider/node_modules``) skip the test, except
under CI (``CI`` set, e.g. ``CI=true``), where they fail it: CI must install them
(``.ci/e2e-setup.sh``).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Optional

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
PROVIDER_DIR = REPO_ROOT / "e2e" / "oidc-provider"
SERVER_SCRIPT = PROVIDER_DIR / "server.mjs"
CLIENT_ID = "e2e-native-cli"


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(condition: bool, reason: str) -> None:
    """Skip the test when ``condition`` is false, or fail it under CI."""
    if condition:
        return
    if running_in_ci():
        pytest.fail(
            f"{reason} (CI is set: e2e prerequisites must be installed, see .ci/e2e-setup.sh)",
            pytrace=False,
        )
    pytest.skip(reason)


def node_executable() -> str:
    node = shutil.which("node")
    require(node is not None, "node is not installed")
    assert node is not None
    require(
        (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir(),
        "e2e/oidc-provider/node_modules is missing (run: npm ci --prefix e2e/oidc-provider)",
    )
    return node


class OIDCProviderError(RuntimeError):
    pass


class OIDCProviderProcess:
    """A running oidc-provider on 127.0.0.1 at a free port (context manager)."""

    client_id = CLIENT_ID

    def __init__(
        self,
        env: Optional[Mapping[str, str]] = None,
        *,
        startup_timeout: float = 20.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self._env_overrides = dict(env or {})
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._process: Optional[subprocess.Popen[bytes]] = None
        self._stderr: Optional[IO[bytes]] = None
        self._extra_stdout: list[bytes] = []
        self._info: dict[str, Any] = {}
        self._metadata: Optional[dict[str, Any]] = None
        self._pump: Optional[threading.Thread] = None

    # -- life cycle -----------------------------------------------------------------
    def __enter__(self) -> OIDCProviderProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()
        self._close_stderr()

    def _close_stderr(self) -> None:
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def start(self) -> None:
        node = node_executable()
        env = dict(os.environ)
        env.update(self._env_overrides)
        env["PORT"] = "0"
        env.pop("NODE_OPTIONS", None)
        # Lives as long as this object (read for error messages, closed in __exit__).
        self._stderr = tempfile.TemporaryFile(prefix="e2e-oidc-provider-stderr-")  # noqa: SIM115
        self._process = subprocess.Popen(
            [node, str(SERVER_SCRIPT)],
            cwd=str(PROVIDER_DIR),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        lines: queue.Queue[bytes] = queue.Queue()
        stdout = self._process.stdout
        assert stdout is not None

        def pump() -> None:
            first = True
            for line in iter(stdout.readline, b""):
                if first:
                    lines.put(line)
                    first = False
                else:
                    self._extra_stdout.append(line)
            if first:
                lines.put(b"")

        self._pump = threading.Thread(target=pump, name="oidc-provider-stdout", daemon=True)
        self._pump.start()
        try:
            first_line = lines.get(timeout=self._startup_timeout)
        except queue.Empty:
            self.stop()
            message = (
                f"oidc-provider printed no JSON line within {self._startup_timeout:g} s; "
                f"stderr:\n{self.stderr_text()}"
            )
            self._close_stderr()
            raise OIDCProviderError(message) from None
        try:
            info = json.loads(first_line)
            if not isinstance(info, dict):
                raise ValueError("not a JSON object")
            str(info["issuer"])
            int(info["port"])
        except (ValueError, KeyError) as exc:
            self.stop()
            message = (
                f"oidc-provider did not start (exit code {self._process.poll()}, first "
                f"stdout line {first_line[:200]!r}: {exc}); stderr:\n{self.stderr_text()}"
            )
            self._close_stderr()
            raise OIDCProviderError(message) from None
        self._info = info

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=self._stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=self._stop_timeout)
        if process.stdout is not None and self._pump is None:
            process.stdout.close()
        if self._pump is not None:
            self._pump.join(timeout=self._stop_timeout)  # EOF follows the exit

    @property
    def returncode(self) -> Optional[int]:
        return None if self._process is None else self._process.poll()

    def stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    @property
    def extra_stdout(self) -> bytes:
        """Whatever the provider printed on stdout after its JSON line (should be nothing)."""
        return b"".join(self._extra_stdout)

    # -- facts ------------------------------------------------------------------------
    @property
    def issuer(self) -> str:
        return str(self._info["issuer"])

    @property
    def port(self) -> int:
        return int(self._info["port"])

    @property
    def resource(self) -> str:
        return str(self._info["resource"])

    @property
    def metadata(self) -> dict[str, Any]:
        """The discovery document (fetched once)."""
        if self._metadata is None:
            response = requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=10)
            response.raise_for_status()
            self._metadata = dict(response.json())
        return self._metadata

    @property
    def authorization_endpoint(self) -> str:
        return str(self.metadata["authorization_endpoint"])

    @property
    def token_endpoint(self) -> str:
        return str(self.metadata["token_endpoint"])

    @property
    def revocation_endpoint(self) -> str:
        return str(self.metadata["revocation_endpoint"])

    @property
    def jwks_uri(self) -> str:
        return str(self.metadata["jwks_uri"])

    # -- test-only admin routes -----------------------------------------------------
    def revoke_all(self) -> dict[str, int]:
        """Destroy every grant, token, code and session the provider holds."""
        response = requests.post(f"{self.issuer}/e2e/revoke-all", timeout=10)
        response.raise_for_status()
        return dict(response.json()["revoked"])

    def counters(self) -> dict[str, Any]:
        """Token endpoint requests by grant_type: token_requests, token_success,
        token_error ({grant_type: {error: n}}), revocation_requests, introspection_requests."""
        response = requests.get(f"{self.issuer}/e2e/counters", timeout=10)
        response.raise_for_status()
        return dict(response.json())


#: ``oidc_provider_factory(env)``: start a provider with env overrides (stopped at teardown).
ProviderFactory = Callable[[Optional[Mapping[str, str]]], OIDCProviderProcess]
