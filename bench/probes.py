"""Probes run as child processes in the benchmark venvs: ``python bench/probes.py NAME [ARGS]``.

Standalone on purpose (the venvs do not have ``bench`` on their path). Each probe prints one
JSON object as the last line of stdout.

- ``modules``: run ``http --version`` in-process, then report which heavy modules are loaded.
- ``pieces URL``: the warm ``-A stytch`` path (``httpie_stytch_connected.warm``), then the full
  path a miss takes, timed piece by piece (HTTPie imported first).
- ``call URL``: one cold ``HTTPieStytchAuth.__call__`` in a fresh process, timed as a whole.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from collections.abc import Callable
from typing import Any

HEAVY = ("keyring", "jwt", "filelock", "platformdirs", "cryptography", "requests_auth")
OURS = "httpie_stytch_connected"


def _loaded() -> dict[str, Any]:
    return {
        "heavy": [m for m in HEAVY if m in sys.modules],
        "ours": sorted(m for m in sys.modules if m.startswith(OURS)),
    }


def modules() -> dict[str, Any]:
    from httpie.core import main

    with contextlib.redirect_stdout(io.StringIO()) as out:
        status = main(["http", "--version"])
    return {"status": int(status), "version": out.getvalue().strip(), **_loaded()}


def plugins() -> dict[str, Any]:
    """Wall ms of HTTPie's plugin discovery + loading (entry-point scan, imports), in-process."""
    import httpie.core  # noqa: F401
    from httpie.plugins.registry import plugin_manager

    t = time.perf_counter()
    plugin_manager.load_installed_plugins(None)
    return {"ms": (time.perf_counter() - t) * 1000, **_loaded()}


def _prepared(url: str) -> Any:
    import requests

    return requests.Request("GET", url).prepare()


def _httpie_loaded() -> None:
    """What a real ``http`` run has imported by the time ``__call__`` runs."""
    import httpie.cli.definition
    import httpie.client
    import httpie.core  # noqa: F401


def pieces(url: str) -> dict[str, Any]:
    _httpie_loaded()

    clock = time.perf_counter
    out: dict[str, Any] = {}
    t = clock()
    from httpie_stytch_connected.httpie_plugin import StytchAuthPlugin, _httpie_args

    out["import plugin module"] = clock() - t
    t = clock()
    plugin = StytchAuthPlugin()
    plugin.raw_auth = None
    adapter = plugin.get_auth()
    out["get_auth()"] = clock() - t
    request = _prepared(url)
    t = clock()
    warm = adapter._warm(url)
    out["warm path: fingerprint, memo, cache read (its imports included)"] = clock() - t
    t = clock()
    from httpie_stytch_connected.auth import StytchAuth

    out["import auth chain (lazy, in __call__)"] = clock() - t
    after_import = _loaded()
    t = clock()
    auth = StytchAuth(profile=None)
    out["settings (StytchAuth())"] = clock() - t
    t = clock()
    manager = auth.manager
    out["build manager"] = clock() - t
    t = clock()
    _httpie_args()
    out["offline check"] = clock() - t
    t = clock()
    token = manager.access_token()
    out["access_token(): cache file read"] = clock() - t
    t = clock()
    auth(request)
    out["auth(request), warm"] = clock() - t
    adapter._auth = auth
    t = clock()
    adapter(_prepared(url))
    out["adapter(request), warm"] = clock() - t
    ms = {k: v * 1000 for k, v in out.items()}
    return {
        "ms": ms,
        "token_len": len(token),
        "warm_hit": warm is not None,
        "after_import": after_import,
        **_loaded(),
    }


def call(url: str) -> dict[str, Any]:
    _httpie_loaded()
    from httpie_stytch_connected.httpie_plugin import StytchAuthPlugin

    plugin = StytchAuthPlugin()
    plugin.raw_auth = None
    adapter = plugin.get_auth()
    request = _prepared(url)
    t = time.perf_counter()
    adapter(request)
    elapsed = (time.perf_counter() - t) * 1000
    ok = request.headers.get("Authorization", "").startswith("Bearer ")
    return {"ms": elapsed, "ok": ok, **_loaded()}


def main(argv: list[str]) -> int:
    name, *args = argv
    probes: dict[str, Callable[..., dict[str, Any]]] = {
        "modules": modules,
        "plugins": plugins,
        "pieces": pieces,
        "call": call,
    }
    result = probes[name](*args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
