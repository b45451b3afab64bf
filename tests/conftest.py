"""Suite-wide set-up, and the fixtures more than one folder uses."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from httpie_stytch_connected.testing.emulator import StytchEmulator
    from httpie_stytch_connected.testing.resource_server import ResourceServer
    from tests.lifecycle import Harness

# A run started in the background by a non-interactive shell inherits SIGINT ignored, and an
# ignored signal stays ignored across exec: the child processes that the Ctrl-C tests interrupt
# would never see it. A handler here is reset to the default in every child instead.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--adapters",
        metavar="NAMES",
        help="comma-separated: run the tests parametrized over adapters (tests.adapters.ADAPTERS)"
        " through these only, e.g. requests,AsyncClient,httpx2.Client (.ci/pythons.sh's fast"
        " subset); default: every adapter",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselects the runs through adapters that ``--adapters`` leaves out."""
    wanted = config.getoption("adapters")
    if not wanted:
        return
    from tests.adapters import ADAPTERS

    keep = set(wanted.split(","))
    if unknown := keep - set(ADAPTERS):
        raise pytest.UsageError(f"--adapters: no adapter named {', '.join(sorted(unknown))}")
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        adapter = callspec.params.get("adapter") if callspec else None
        (kept if adapter is None or adapter in keep else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture
def release_hangs() -> Iterator[None]:
    """After the test, ends any test-keyring call it left hanging (``hang`` faults)."""
    yield
    from httpie_stytch_connected.testing import keyring_backend

    keyring_backend.release_hangs()


@pytest.fixture
def h(stytch_env: StytchEmulator, stytch_resource_server: ResourceServer) -> Harness:
    """The emulator and resource server, with auth objects built as separate runs would."""
    from tests.lifecycle import Harness

    return Harness(stytch_env, stytch_resource_server)
