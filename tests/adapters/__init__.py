"""One request through any of our adapters: ``requests``, ``httpx.Client``,
``httpx.AsyncClient``, ``httpx2.Client``, ``httpx2.AsyncClient`` or HTTPie (``http -A oauth2`` in
a child process), so a behaviour is tested the same way for each. Redirects are followed
(requests' default; httpx and httpx2 are told to; HTTPie gets ``--follow``).

HTTPie takes its settings from the environment: the auth object's explicit arguments become
``STYTCH_*`` variables, and the browser is the one ``BROWSER`` names (the ``stytch_browser``
fixture's scripted user agent). A test whose auth object holds Python parts (an opener, a
notify callback, a store or session) or whose body is not bytes cannot cross a process: it
uses ``ADAPTERS_IN_PROCESS``."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import httpx
import httpx2
import requests

from httpie_stytch_connected import auth as requests_auth
from httpie_stytch_connected import httpx as httpx_auth
from httpie_stytch_connected import httpx2 as httpx2_auth
from httpie_stytch_connected.settings.options import OPTIONS
from tests.httpie_harness import Seen, run_http

if TYPE_CHECKING:
    import pytest

    from httpie_stytch_connected.testing import StytchEmulator

#: The httpx family: ``Client`` and ``AsyncClient`` are httpx's, the ``httpx2.`` ones httpx2's.
HTTPX = ["Client", "AsyncClient", "httpx2.Client", "httpx2.AsyncClient"]
ADAPTERS_IN_PROCESS = ["requests", *HTTPX]
ADAPTERS = [*ADAPTERS_IN_PROCESS, "httpie"]
TIMEOUT = 60.0


class Answer(Protocol):
    """What the tests read from a ``requests.Response``, an ``httpx.Response`` or an
    ``httpx2.Response``."""

    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...

    @property
    def history(self) -> Any: ...

    def json(self, **kwargs: Any) -> Any: ...


#: The two libraries of the httpx family, by name: ``library(name)`` and ``auth_module(name)``
#: take these too.
LIBRARIES = ["httpx", "httpx2"]


def clients_of(name: str) -> list[str]:
    """The ``HTTPX`` adapters of library ``name``: its ``Client`` and its ``AsyncClient``."""
    return [a for a in HTTPX if library(a).__name__ == name]


def library(adapter: str) -> ModuleType:
    """The HTTP library of one of ``HTTPX`` (or of ``LIBRARIES``): ``httpx`` or ``httpx2``."""
    return httpx2 if adapter.startswith("httpx2") else httpx


def auth_module(adapter: str) -> ModuleType:
    """Our module whose classes ``adapter`` takes."""
    if adapter not in HTTPX and adapter not in LIBRARIES:
        return requests_auth
    return httpx2_auth if adapter.startswith("httpx2") else httpx_auth


def stytch_auth(adapter: str, **kwargs: Any) -> Any:
    """The adapter's ``StytchAuth`` built with ``kwargs``."""
    return auth_module(adapter).StytchAuth(**kwargs)


def oauth2_auth(adapter: str, **kwargs: Any) -> Any:
    """The adapter's ``OAuth2PKCEAuth`` built with ``kwargs``."""
    return auth_module(adapter).OAuth2PKCEAuth(**kwargs)


def send(adapter: str, auth: Any, method: str, url: str, body: Any = None, **kwargs: Any) -> Answer:
    """One request with ``body`` (bytes, a file or a stream) through a fresh client."""
    if adapter == "httpie":
        return _httpie(auth, method, url, body, **kwargs)
    if adapter == "requests":
        return requests.request(method, url, data=body, auth=auth, timeout=TIMEOUT, **kwargs)
    lib = library(adapter)
    if adapter.rsplit(".", 1)[-1] == "Client":
        with lib.Client(auth=auth, timeout=TIMEOUT, follow_redirects=True) as client:
            answer: Answer = client.request(method, url, content=body, **kwargs)
            return answer

    async def run() -> Answer:
        async with lib.AsyncClient(auth=auth, timeout=TIMEOUT, follow_redirects=True) as client:
            answer: Answer = await client.request(method, url, content=body, **kwargs)
            return answer

    return asyncio.run(run())


def stderr_of(adapter: str, answer: Any, capsys: Any) -> str:
    """What the person read on stderr after :func:`send`: HTTPie's own (a child process), or
    this process's as pytest's ``capsys`` fixture caught it."""
    return str(answer.stderr) if adapter == "httpie" else str(capsys.readouterr().err)


#: Each adapter of the httpx family, the async ones under asyncio and under trio.
RUNS = [
    ("Client", "-"),
    ("AsyncClient", "asyncio"),
    ("AsyncClient", "trio"),
    ("httpx2.Client", "-"),
    ("httpx2.AsyncClient", "asyncio"),
    ("httpx2.AsyncClient", "trio"),
]


def get(adapter: str, backend: str, auth: Any, url: str, **client: Any) -> Any:
    """One GET to ``url`` through a new client of ``adapter`` (one of ``HTTPX``) made with
    ``client`` (``mounts=``, ``transport=``, ...), an ``AsyncClient`` under ``backend``
    (``asyncio`` or ``trio``; ``-`` for a ``Client``)."""
    lib = library(adapter)
    client = {"timeout": TIMEOUT, **client}
    if backend == "-":
        with lib.Client(auth=auth, **client) as sync:
            return sync.get(url)

    async def run() -> Any:
        async with lib.AsyncClient(auth=auth, **client) as asynchronous:
            return await asynchronous.get(url)

    return anyio.run(run, backend=backend)


@dataclass
class HTTPieAnswer:
    status_code: int
    text: str
    stderr: str
    history: list[Seen] = field(default_factory=list)

    def json(self, **kwargs: Any) -> Any:
        import json

        return json.loads(self.text, **kwargs)


def _httpie(
    auth: Any, method: str, url: str, body: Any = None, headers: Any = None
) -> HTTPieAnswer:
    parts = [p for p in ("_opener", "_notify", "_store", "_session") if getattr(auth, p, None)]
    if parts or not (body is None or isinstance(body, bytes)):
        raise TypeError(
            f"HTTPie runs in a child process ({parts or 'a stream body'}): use "
            "ADAPTERS_IN_PROCESS for this test"
        )
    env = dict(os.environ)
    settings = auth.settings
    for option in OPTIONS:
        if settings.sources.get(option.name) == "argument":
            env[option.env] = _env_value(settings.values[option.name])
    if settings.profile:
        env["STYTCH_PROFILE"] = settings.profile
    items = [f"{name}:{value}" for name, value in (headers or {}).items()]
    result, seen = run_http(
        ["--follow", "--print=b", "--pretty=none", "-A", "oauth2", method, url, *items],
        env,
        body,
        TIMEOUT + 30,
    )
    if not seen:
        raise AssertionError(f"http sent nothing (exit {result.status}): {result.stderr}")
    return HTTPieAnswer(seen[-1].status_code, result.stdout, result.stderr, seen[:-1])


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return " ".join(str(v) for v in value)
    return str(value)


def provider_profile(emulator: StytchEmulator, name: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Move the emulator's provider settings from the environment (``stytch_env``) into a
    ``[profiles.NAME]`` table of the config file (``STYTCH_CONFIG``); the file's text."""
    text = (
        f"[profiles.{name}]\n"
        f'project_domain = "{emulator.project_domain}"\n'
        f'client_id = "{emulator.client_id}"\n'
        f'authorize_url = "{emulator.authorize_url}"\n'
    )
    Path(os.environ["STYTCH_CONFIG"]).write_text(text)
    for variable in ("STYTCH_PROJECT_DOMAIN", "STYTCH_CLIENT_ID", "STYTCH_AUTHORIZE_URL"):
        monkeypatch.delenv(variable)
    return text


def supplied_jwt(**claims: object) -> str:
    """A JWT as another issuer would hand one over (read unverified by us: any key)."""
    import jwt

    return jwt.encode({"sub": "user-x", **claims}, "k" * 32, algorithm="HS256")
