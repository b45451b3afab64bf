"""Real keyring backends for tests, with fault knobs; the developer's own keychain is never touched.

:class:`DirectoryKeyring` keeps JSON in a directory shared by every process of a test: select it
with ``PYTHON_KEYRING_BACKEND=httpie_stytch_connected.testing.keyring_backend.DirectoryKeyring``
and ``STYTCH_TEST_KEYRING_DIR=<dir>``. :class:`SecretServiceWithFaults` is keyring's own Secret
Service backend (gnome-keyring, KWallet) with the same knobs, for a private test session bus.

Faults for tests: ``STYTCH_TEST_KEYRING_FAULT`` = ``hang`` (every call blocks until
:func:`release_hangs` or ``HANG_LIMIT``, then fails),
``limit:N`` (values over N characters are refused, as Windows Credential Manager does),
``truncate:N`` (values over N characters are silently cut to N, as some backends do),
``fail`` (every write is refused with ``KeyringLocked``, as a locked keychain does; reads work),
``hang-writes`` (reads work, every write blocks as ``hang`` does: a keychain that prompts for
write access nobody answers) or ``corrupt`` is written by tests directly into the file.
``STYTCH_TEST_KEYRING_REFUSE=<entry>``: writes of that one entry (its user name) are refused with
``KeyringLocked`` after the size check, others land: a keychain item that keeps its own access
rule (macOS asks the app that made it) while new items are written freely.
``STYTCH_TEST_KEYRING_KILL_AT=N``: the process kills itself with SIGKILL at its N-th write (set
or delete, counted from 1 in each process) before that write lands: a crash at a chosen step.
:attr:`writes` counts the ``set_password`` calls attempted on an instance.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import filelock
from keyring.backend import KeyringBackend
from keyring.backends import SecretService
from keyring.errors import KeyringLocked, PasswordDeleteError, PasswordSetError

_LOCK = threading.Lock()
#: Upper bound of a "hang", so a test process never keeps a stuck thread for long.
HANG_LIMIT = 120.0
_HANG = threading.Event()
#: Writes (sets and deletes) this process has attempted, for STYTCH_TEST_KEYRING_KILL_AT.
_process_writes = 0


def release_hangs() -> None:
    """End every call hanging now (each fails with ``KeyringLocked``); later calls hang again."""
    global _HANG
    released, _HANG = _HANG, threading.Event()
    released.set()


def _fault(*, writing: bool = False) -> str:
    fault = os.environ.get("STYTCH_TEST_KEYRING_FAULT", "")
    if fault == "hang" or (writing and fault == "hang-writes"):
        # A locked Secret Service: no answer until released (or HANG_LIMIT), then a refusal.
        _HANG.wait(HANG_LIMIT)
        raise KeyringLocked("the test keyring was hanging")
    return fault


def _before_write(password: str | None, entry: str = "") -> str | None:
    """The write knobs: die at the chosen write, refuse when locked, over the size limit or
    the refused ``entry``; what the backend then keeps (``truncate:N`` cuts it)."""
    global _process_writes
    with _LOCK:
        _process_writes += 1
        count = _process_writes
    if os.environ.get("STYTCH_TEST_KEYRING_KILL_AT") == str(count):
        os.kill(os.getpid(), signal.SIGKILL)
    fault = _fault(writing=True)
    if password is None:
        return None
    if fault == "fail":
        raise KeyringLocked("the test keyring is locked")
    if fault.startswith("limit:") and len(password) > int(fault.split(":", 1)[1]):
        raise PasswordSetError("the value is larger than this backend allows")
    if entry and os.environ.get("STYTCH_TEST_KEYRING_REFUSE") == entry:
        raise KeyringLocked("the test keyring refuses this entry")
    if fault.startswith("truncate:"):
        return password[: int(fault.split(":", 1)[1])]
    return password


class DirectoryKeyring(KeyringBackend):
    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        #: Writes attempted (refused ones included).
        self.writes = 0

    @property
    def _file(self) -> Path:
        directory = os.environ.get("STYTCH_TEST_KEYRING_DIR")
        if not directory:
            raise RuntimeError("STYTCH_TEST_KEYRING_DIR is not set")
        return Path(directory) / "keyring.json"

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self._file.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, str]) -> None:
        path = self._file
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)

    def _locked(self) -> filelock.BaseFileLock:
        return filelock.FileLock(str(self._file) + ".lock")

    def get_password(self, service: str, username: str) -> str | None:
        _fault()
        with _LOCK, self._locked():
            return self._read().get(f"{service}\0{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        with _LOCK:
            self.writes += 1
        kept = _before_write(password, username)
        with _LOCK, self._locked():
            data = self._read()
            data[f"{service}\0{username}"] = kept or ""
            self._write(data)

    def delete_password(self, service: str, username: str) -> None:
        _before_write(None)
        with _LOCK, self._locked():
            data = self._read()
            if data.pop(f"{service}\0{username}", None) is None:
                raise PasswordDeleteError("not found")
            self._write(data)


class SecretServiceWithFaults(SecretService.Keyring):
    """keyring's Secret Service backend behind the same knobs (a size limit, a kill at a write).

    Never chosen by itself (lowest priority): tests name it in ``PYTHON_KEYRING_BACKEND``.
    """

    priority = 0.1

    def get_password(self, service: str, username: str) -> str | None:
        _fault()
        value = super().get_password(service, username)  # type: ignore[no-untyped-call]
        return value if isinstance(value, str) else None

    def set_password(self, service: str, username: str, password: str) -> None:
        kept = _before_write(password, username) or ""
        super().set_password(service, username, kept)  # type: ignore[no-untyped-call]

    def delete_password(self, service: str, username: str) -> None:
        _before_write(None)
        super().delete_password(service, username)  # type: ignore[no-untyped-call]
