"""Storage that keeps its promises: a keyring backend that keeps secrets in a plaintext file is
never picked silently; a backend the person named is used as is, and ``status`` names it.

Real backends only, registered through keyring's own selection (``PYTHON_KEYRING_BACKEND``,
keyring's config file, or its detection), in ``stytch-connected`` processes whose keyring
config and data directories are temporary: never the developer's own keychain.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import SecretService, fail

from httpie_stytch_connected.errors import TokenStoreError
from httpie_stytch_connected.storage.keyring_choice import weakness
from httpie_stytch_connected.storage.store import KeyringStore
from httpie_stytch_connected.testing import StytchEmulator
from httpie_stytch_connected.testing.keyring_backend import DirectoryKeyring
from tests.command import cli, one_line_error

pytest.importorskip("keyrings.alt")
# keyring's detection and its XDG config and data dirs as on Linux: elsewhere it would find the
# developer's own keychain, which these tests must never touch.
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="keyring's Linux detection")
PLAINTEXT = "keyrings.alt.file.PlaintextKeyring"
SECRET_SERVICE = "keyring.backends.SecretService.Keyring"


@pytest.fixture
def bare_machine(stytch_env: StytchEmulator, tmp_path: Path) -> dict[str, str]:
    """The environment of a machine with keyrings.alt installed, no D-Bus session, and no
    keyring chosen by anyone: keyring detects its backend by itself."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHON_KEYRING_BACKEND", "DBUS_SESSION_BUS_ADDRESS")
    }
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg-config")
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg-data")
    return env


def _plaintext_file(env: dict[str, str]) -> Path:
    return Path(env["XDG_DATA_HOME"], "python_keyring", "keyring_pass.cfg")


def test_a_plaintext_backend_keyring_picked_by_itself_is_refused(
    stytch_env: StytchEmulator, bare_machine: dict[str, str]
) -> None:
    line = one_line_error(cli("login", env=bare_machine))
    assert PLAINTEXT in line and "picked by itself" in line and "plaintext file" in line
    assert "PYTHON_KEYRING_BACKEND" in line and "STYTCH_TOKEN_STORE=file" in line
    assert "DBUS_SESSION_BUS_ADDRESS is not set" in line  # what is actually missing
    assert not _plaintext_file(bare_machine).exists()
    assert stytch_env.counters["login"] == 0  # refused before the browser opened


def test_a_backend_the_person_named_is_used_as_is_and_status_names_it(
    stytch_env: StytchEmulator, bare_machine: dict[str, str]
) -> None:
    env = {**bare_machine, "PYTHON_KEYRING_BACKEND": PLAINTEXT}
    login = cli("login", env=env)
    assert login.returncode == 0, login.stderr
    assert f"kept in the keyring backend {PLAINTEXT}" in login.stderr
    assert _plaintext_file(env).exists()
    status = cli("status", env=env)
    assert status.returncode == 0, status.stderr
    (row,) = [line for line in status.stdout.splitlines() if line.startswith("Token store:")]
    assert PLAINTEXT in row and "plaintext file" in row
    assert "chosen by PYTHON_KEYRING_BACKEND" in row
    assert "system keyring" not in row


def test_a_backend_named_in_keyrings_config_file_is_used_as_is(
    stytch_env: StytchEmulator, bare_machine: dict[str, str]
) -> None:
    config = Path(bare_machine["XDG_CONFIG_HOME"], "python_keyring", "keyringrc.cfg")
    config.parent.mkdir(parents=True)
    config.write_text(f"[backend]\ndefault-keyring = {PLAINTEXT}\n")
    login = cli("login", env=bare_machine)
    assert login.returncode == 0, login.stderr
    assert _plaintext_file(bare_machine).exists()
    status = cli("status", env=bare_machine)
    assert f"chosen by keyring's config file {config}" in status.stdout


def test_a_named_secret_service_without_d_bus_says_what_is_missing(
    stytch_env: StytchEmulator, bare_machine: dict[str, str]
) -> None:
    line = one_line_error(
        cli("login", env={**bare_machine, "PYTHON_KEYRING_BACKEND": SECRET_SERVICE})
    )
    assert "no D-Bus session bus" in line and "DBUS_SESSION_BUS_ADDRESS is not set" in line
    assert "unlock it" not in line
    assert stytch_env.counters["login"] == 0


def test_no_keyring_at_all_without_d_bus_says_what_is_missing(
    stytch_keyring: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    # What keyring detects when nothing is usable.
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    with pytest.raises(TokenStoreError) as caught:
        KeyringStore().load("k")
    message = str(caught.value)
    assert "No system keyring can keep your tokens" in message
    assert "no D-Bus session bus" in message and "unlock it" not in message


class FixedKeyFileKeyring(KeyringBackend):
    """A file "encrypted" with a key anyone can read: its own rating says it is no keychain."""

    priority = 0.4

    def get_password(self, service: str, username: str) -> str | None:
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        raise NotImplementedError

    def delete_password(self, service: str, username: str) -> None:
        raise NotImplementedError


def test_each_kind_of_backend_is_judged_by_what_it_is() -> None:
    from keyrings.alt.file import EncryptedKeyring, PlaintextKeyring

    assert "plaintext file" in (weakness(PlaintextKeyring()) or "")
    encrypted = EncryptedKeyring.__new__(EncryptedKeyring)  # its __init__ wants pycryptodome
    assert "does not recommend" in (weakness(encrypted) or "")
    fixed_key = FixedKeyFileKeyring()  # type: ignore[no-untyped-call]
    assert "does not recommend (priority 0.4)" in (weakness(fixed_key) or "")
    assert weakness(SecretService.Keyring()) is None  # type: ignore[no-untyped-call]
    assert weakness(DirectoryKeyring()) is None  # the test keyring rates itself recommended
