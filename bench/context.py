"""Everything a row needs: isolated state, the emulator, the API server, the venvs, a token."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from bench.common import BENCH_DIR, BenchState, StaticServer, log

if TYPE_CHECKING:
    from httpie_stytch_connected.auth import StytchAuth
    from httpie_stytch_connected.testing.emulator import StytchEmulator


class Context:
    def __init__(self, *, quick: bool) -> None:
        self.quick = quick
        self.state = BenchState()
        self._emulator: StytchEmulator | None = None
        self._server: StaticServer | None = None
        self._plugin_python: Path | None = None
        self._baseline_python: Path | None = None

    def __enter__(self) -> Context:
        from httpie_stytch_connected.testing import StytchEmulator

        self._emulator = StytchEmulator().start()
        e = self._emulator
        self.state.provider(e.project_domain, e.client_id, e.authorize_url)
        self.state.apply()
        self._server = StaticServer()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
        if self._emulator is not None:
            self._emulator.stop()
        self.state.cleanup()

    def n(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    @property
    def emulator(self) -> StytchEmulator:
        assert self._emulator is not None
        return self._emulator

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url

    @property
    def env(self) -> dict[str, str]:
        return self.state.env

    @property
    def plugin_python(self) -> Path:
        if self._plugin_python is None:
            from bench.venvs import plugin_venv

            self._plugin_python = plugin_venv()
        return self._plugin_python

    @property
    def baseline_python(self) -> Path:
        if self._baseline_python is None:
            from bench.venvs import baseline_venv

            self._baseline_python = baseline_venv()
        return self._baseline_python

    def http(self, python: Path) -> str:
        return str(python.parent / "http")

    def probe(self, python: Path, *args: str) -> dict[str, Any]:
        done = subprocess.run(
            [str(python), str(BENCH_DIR / "probes.py"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"probe {args} failed: {done.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    # -- tokens ----------------------------------------------------------------------------
    def auth(self, **kwargs: Any) -> StytchAuth:
        from httpie_stytch_connected import StytchAuth

        return StytchAuth(notify=lambda _message: None, **kwargs)

    def ensure_token(self) -> str:
        """A valid stored token; the first call does one real browser login."""
        from httpie_stytch_connected.lifecycle.manager import forget_memory

        forget_memory()
        manager = self.auth().manager
        cached = manager.cached_access_token()
        if cached:
            return cached
        log("signing in once through the emulator (scripted browser) ...")
        t = time.perf_counter()
        token = manager.access_token()
        log(f"signed in in {(time.perf_counter() - t) * 1000:.0f} ms")
        return token

    def expire_token(self) -> None:
        """Keep the refresh token, but make the stored and cached access token expired."""
        from httpie_stytch_connected.lifecycle.manager import forget_memory

        self.ensure_token()
        manager = self.auth().manager
        stored = manager.stored()
        assert stored is not None and stored.refresh_token
        past = time.time() - 3600
        expired = dataclasses.replace(stored, expires_at=past, received_at=past - 60)
        manager.store.save(manager.key, expired)
        if manager.access_cache is not None:
            manager.access_cache.save(manager.key, expired)
        forget_memory()
