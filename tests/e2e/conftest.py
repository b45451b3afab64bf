"""Fixtures for the end-to-end tests: an independent OpenID provider and a scripted browser."""

from __future__ import annotations

import importlib.util
import os
import shlex
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Optional

import pytest

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
