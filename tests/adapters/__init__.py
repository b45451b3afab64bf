"""One request through any of our adapters: ``requests``, ``httpx.Client`` or
``httpx.AsyncClient``, so a behaviour is tested the same way for each. Redirects are followed
(requests' default; httpx is told to)."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import httpx
import requests

from httpie_stytch_connected import auth as requests_auth
from httpie_stytch_connected import httpx as httpx_auth

ADAPTERS = ["requests", "Client", "AsyncClient"]
HTTPX = ["Client", "AsyncClient"]
TIMEOUT = 60.0


class Answer(Protocol):
    """What the tests read from a ``requests.Response`` or an ``httpx.Response``."""

    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...

    @property
    def history(self) -> Any: ...

    def json(self, **kwargs: Any) -> Any: ...


def stytch_auth(adapter: str, **kwargs: Any) -> Any:
    """The adapter's ``StytchAuth`` built with ``kwargs``."""
    module = requests_auth if adapter == "requests" else httpx_auth
    return module.StytchAuth(**kwargs)


def oauth2_auth(adapter: str, **kwargs: Any) -> Any:
    """The adapter's ``OAuth2PKCEAuth`` built with ``kwargs``."""
    module = requests_auth if adapter == "requests" else httpx_auth
    return module.OAuth2PKCEAuth(**kwargs)


def send(adapter: str, auth: Any, method: str, url: str, body: Any = None, **kwargs: Any) -> Answer:
    """One request with ``body`` (bytes, a file or a stream) through a fresh client."""
    if adapter == "requests":
        return requests.request(method, url, data=body, auth=auth, timeout=TIMEOUT, **kwargs)
    if adapter == "Client":
        with httpx.Client(auth=auth, timeout=TIMEOUT, follow_redirects=True) as client:
            return client.request(method, url, content=body, **kwargs)

    async def run() -> httpx.Response:
        async with httpx.AsyncClient(auth=auth, timeout=TIMEOUT, follow_redirects=True) as client:
            return await client.request(method, url, content=body, **kwargs)

    return asyncio.run(run())
