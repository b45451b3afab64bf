"""A real keyring backend for tests: JSON in a directory, shared by every process of a test.

Select it with ``PYTHON_KEYRING_BACKEND=httpie_stytch_connected.testing.keyring_backend.
DirectoryKeyring`` and ``STYTCH_TEST_KEYRING_DIR=<dir>``; the developer's own keychain is never
touched. Faults for tests: ``STYTCH_TEST_KEYRING_FAULT`` = ``hang`` (every call blocks until
:func:`release_hangs` or ``HANG_LIMIT``, then fails),
``limit:N`` (values over N characters are refused, as Windows Credential Manager does),
``fail`` (every write is refused with ``KeyringLocked``, as a locked keychain does; reads work)
or ``corrupt`` is written by tests directly into the file. :attr:`DirectoryKeyring.writes`
counts the writes attempted on an instance.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import filelock
from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked, PasswordDeleteError, PasswordSetError

_LOCK = threading.Lock()
#: Upper bound of a "hang", so a test process never keeps a stuck thread for long.
HANG_LIMIT = 120.0
_HANG = threading.Event()


def release_hangs() -> None:
    """End every call hanging now (each fails with ``KeyringLocked``); later calls hang again."""
    global _HANG
    released, _HANG = _HANG, threading.Event()
    released.set()


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

    def _fault(self) -> str:
        fault = os.environ.get("STYTCH_TEST_KEYRING_FAULT", "")
        if fault == "hang":
            # A locked Secret Service: no answer until released (or HANG_LIMIT), then a refusal.
            _HANG.wait(HANG_LIMIT)
            raise KeyringLocked("the test keyring was hanging")
        return fault

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
        self._fault()
        with _LOCK, self._locked():
            return self._read().get(f"{service}\0{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        with _LOCK:
            self.writes += 1
        fault = self._fault()
        if fault == "fail":
            raise KeyringLocked("the test keyring is locked")
        if fault.startswith("limit:") and len(password) > int(fault.split(":", 1)[1]):
            raise PasswordSetError("the value is larger than this backend allows")
        with _LOCK, self._locked():
            data = self._read()
            data[f"{service}\0{username}"] = password
            self._write(data)

    def delete_password(self, service: str, username: str) -> None:
        self._fault()
        with _LOCK, self._locked():
            data = self._read()
            if data.pop(f"{service}\0{username}", None) is None:
                raise PasswordDeleteError("not found")
            self._write(data)
