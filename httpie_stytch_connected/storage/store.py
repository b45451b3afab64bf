"""Where token sets live: the system keyring by default, a 0600 file store by opt-in, and a
0600 access-token cache that keeps warm ``http`` runs from touching the keyring at all.

Writes are atomic or absent: files go through a temporary file (on Linux one with no name until
it is complete) and ``os.replace``; a keyring value too large for the backend (Windows Credential
Manager: 2,560 bytes) is split into parts written into the one of two fixed slots that the
current pointer does not name, before the small entry that points at them — the commit. A
process killed at any step leaves only what the next save or delete finds and removes: the other
slot, and (files) ``.<name>.*`` temporary files.
Reads of corrupt or foreign entries give ``None`` (a fresh login replaces them), never a crash.
Keyring calls are bounded by a timeout: a locked Secret Service must not hang the terminal.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from ..errors import TokenStoreError
from ..waits import wait_in_slices
from .access_cache import AccessTokenCache, parse_token_set
from .paths import (
    APP_NAME,
    _unlink,
    cache_dir,
    data_dir,
    drop_temp_files,
    ensure_private_dir,
    lock_dir,
    read_text,
    token_key,
    write_private,
)
from .paths import _setting_for as _setting_for  # storage.locks imports it from here

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

    from ..oauth.tokens import TokenSet

log = logging.getLogger(__name__)

KEYRING_SERVICE = APP_NAME
#: Windows Credential Manager holds 2,560 bytes of UTF-16: split well below 1,280 characters.
WINDOWS_PART_CHARS = 1000
#: Most parts one token set may be split into (the reader refuses more).
_MAX_PARTS = 64
#: Parts live in one of two fixed slots, never under a name only a lost pointer knew: a save
#: writes into the slot its pointer does not name, then empties the other; logout empties both.
_SLOTS = ("a", "b")
#: Reads of a split value raced by saves before giving up (each save takes the lock: rare).
_READ_ATTEMPTS = 5
#: Bytes a probe writes beyond the current token file: a rotated set may be a little larger.
_PROBE_SLACK = 4096
_T = TypeVar("_T")

#: Re-exported: the directories and file primitives live in :mod:`.paths`, the warm path's
#: cache in :mod:`.access_cache` (neither loads this module).
__all__ = [
    "APP_NAME",
    "KEYRING_SERVICE",
    "AccessTokenCache",
    "FileStore",
    "KeyringStore",
    "SecureStore",
    "cache_dir",
    "data_dir",
    "drop_temp_files",
    "ensure_private_dir",
    "lock_dir",
    "read_text",
    "token_key",
    "write_private",
]


class SecureStore(Protocol):
    """Holds whole token sets, refresh token included.

    A store may also offer ``abandoned(key) -> list[TokenSet]``: whole token sets for ``key``
    that a killed save left where no read finds them and the next save or delete removes
    (their refresh tokens may be live at the provider: the manager revokes them, RFC 7009),
    read under the key's lock. Both stores here do; a store without it reports none.
    """

    @property
    def description(self) -> str:
        """Where the tokens are kept, for the person: ``status`` and ``login`` show it."""
        ...

    def load(self, key: str) -> TokenSet | None: ...
    def save(self, key: str, tokens: TokenSet) -> None: ...
    def delete(self, key: str) -> None: ...
    def probe(self, key: str) -> None:
        """Raise :class:`TokenStoreError` unless a token set for ``key`` can be written now."""

    def lock_file(self, key: str) -> Path:
        """The cross-process lock of ``key``'s token set: tied to where the set is kept, so
        every process that can rotate its refresh token takes the same lock."""


class FileStore:
    """Opt-in plaintext store for headless machines: one 0600 JSON file per token set."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or data_dir() / "tokens"
        self.description = f"file store in {self.directory}"

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def load(self, key: str) -> TokenSet | None:
        return parse_token_set(read_text(self._path(key)))

    def save(self, key: str, tokens: TokenSet) -> None:
        drop_temp_files(self._path(key))
        self._write(self._path(key), tokens.to_json())

    def probe(self, key: str) -> None:
        """Write and remove a file as large as the token file plus room to grow, beside it.

        It goes through the same temporary-file-and-rename path as :meth:`save`, so a full
        disk, a read-only mount or a directory we may not write fails here, before a refresh
        token is spent or a browser opens. The probe holds no secret: only padding.
        """
        try:
            size = self._path(key).stat().st_size
        except OSError:
            size = 0
        probe = self.directory / f".{key}.probe"
        drop_temp_files(probe)  # what a killed probe left; it may be what filled the disk
        self._write(probe, " " * (size + _PROBE_SLACK))
        _unlink(probe)

    def _write(self, path: Path, text: str) -> None:
        try:
            write_private(path, text)
        except OSError as exc:
            raise TokenStoreError(
                f"Could not write the token file in {self.directory} "
                f"({exc.strerror or type(exc).__name__}); check that the directory is writable "
                "and the disk is not full."
            ) from None

    def delete(self, key: str) -> None:
        drop_temp_files(self._path(key))
        _unlink(self._path(key))

    def lock_file(self, key: str) -> Path:
        """Beside the token file: whoever can write that file finds the same lock."""
        return self.directory / f"{key}.lock"

    def abandoned(self, key: str) -> list[TokenSet]:
        """The token sets in the ``.<name>.*`` temporary files a killed write left beside the
        token file (named just before its rename), which the next save or delete removes
        (:func:`.paths.drop_temp_files`); a file that is not ours or not a token set is
        skipped."""
        from glob import escape

        found = []
        with contextlib.suppress(OSError):
            for stale in sorted(self.directory.glob(f".{escape(self._path(key).name)}.*")):
                try:
                    tokens = parse_token_set(read_text(stale))
                except (OSError, TokenStoreError):
                    continue
                if tokens is not None:
                    found.append(tokens)
        return found


class KeyringStore:
    """The system keyring, with a timeout on every call and values split when too large."""

    def __init__(self, *, service: str = KEYRING_SERVICE, timeout: float = 20.0) -> None:
        self.service = service
        self.timeout = timeout

    @property
    def description(self) -> str:
        """The backend keyring really uses and who chose it (may ask the keyring: bounded)."""
        from .keyring_choice import describe

        try:
            return self._call(lambda: describe(self._backend(checked=False)))
        except TokenStoreError:  # no backend at all: the error that says so comes elsewhere
            return "system keyring"

    def load(self, key: str) -> TokenSet | None:
        """The stored set, or None. Takes no lock (see :meth:`_load_value`)."""
        value = self._load_value(key)
        return None if value is None else parse_token_set(value)

    def _load_value(self, key: str) -> str | None:
        """The value saved under ``key`` (:meth:`_save`), whole or joined from its parts, or
        None. A split value whose parts go from under the reader (another process saved
        meanwhile) is read again through the new pointer, so a reader sees the old value or
        the new one, never nothing."""
        head = self._call(self._get, key)
        for _ in range(_READ_ATTEMPTS):
            if head is None:
                return None
            try:
                pointer = json.loads(head)
            except (ValueError, RecursionError):  # corrupt or foreign: a fresh login replaces it
                return None
            if not isinstance(pointer, dict) or "gen" not in pointer:
                return head
            value = self._call(self._join, key, pointer)
            if value is not None:
                return value
            again = self._call(self._get, key)
            if again == head:  # a pointer to parts that are not there: corrupt
                return None
            head = again
        return None

    def lock_file(self, key: str) -> Path:
        return lock_dir() / f"{key}.lock"

    def save(self, key: str, tokens: TokenSet) -> None:
        self._call(self._save, key, tokens.to_json())

    def probe(self, key: str) -> None:
        """Write and delete a small entry beside ``key``: a keyring that is locked, refuses
        writes or stalls fails here (bounded by the timeout), before anything is spent."""
        self._call(self._probe, f"{key}/probe")

    def delete(self, key: str) -> None:
        self._call(self._delete, key)

    def abandoned(self, key: str) -> list[TokenSet]:
        """The token sets in the slots the pointer does not name (both, for a whole value):
        what a save killed after its parts and before its pointer left. Parts that do not
        join into a token set (a save killed half-way through them) hold no usable token."""
        found = (parse_token_set(value) for value in self._call(self._orphans, key))
        return [tokens for tokens in found if tokens is not None]

    # -- the work, run on a worker thread by _call --------------------------------------
    def _backend(self, *, checked: bool = True) -> KeyringBackend:
        """keyring's backend; ``checked``: refused if keyring picked a plaintext one by itself
        (:func:`.keyring_choice.check`)."""
        import keyring
        from keyring.backends import fail, null

        from .keyring_choice import check, turned_off

        backend = keyring.get_keyring()
        if isinstance(backend, (fail.Keyring, null.Keyring)):
            chosen = turned_off(backend)
            if chosen is not None:
                raise TokenStoreError(chosen)
            raise keyring.errors.NoKeyringError(type(backend).__name__)
        if checked:
            check(backend)
        return backend

    def _get(self, account: str) -> str | None:
        value = self._backend().get_password(self.service, account)
        return value if isinstance(value, str) else None

    def _join(self, key: str, pointer: dict[str, object]) -> str | None:
        gen, parts = pointer.get("gen"), pointer.get("parts")
        if not isinstance(gen, str) or not isinstance(parts, int) or not 0 < parts <= _MAX_PARTS:
            return None
        chunks = [self._get(_part(key, gen, i)) for i in range(parts)]
        if any(c is None for c in chunks):
            return None
        value = "".join(c or "" for c in chunks)
        # A slot is reused every other save: a reader that lags a whole save behind would join
        # parts of two token sets, which the digest refuses (pointers older than it have none).
        digest = pointer.get("sha")
        return value if digest is None or digest == _digest(value) else None

    def _save(self, key: str, value: str) -> None:
        from keyring.errors import PasswordSetError

        backend = self._backend()
        old = self._pointer(key)
        if sys.platform != "win32":
            try:
                backend.set_password(self.service, key, value)
            except PasswordSetError:  # too large for this backend: try it in parts
                log.debug("whole keyring write refused; writing parts")
            else:  # any other failure (locked, broken) is reported as it is, by _call
                # Read back: some backends shorten a long value without a word, and the next
                # run would find nothing usable. Such a backend gets the value in parts.
                if self._get(key) == value:
                    self._sweep(key, old, keep=None)
                    return
                log.debug("the keyring did not keep the whole value; writing parts")
        slot = _SLOTS[1] if old is not None and old.get("gen") == _SLOTS[0] else _SLOTS[0]
        parts = self._write_parts(key, slot, value)
        pointer = {"gen": slot, "parts": parts, "sha": _digest(value)}
        backend.set_password(self.service, key, json.dumps(pointer))
        if self._join(key, pointer) != value or self._get(key) != json.dumps(pointer):
            raise TokenStoreError(
                "The system keyring did not keep the tokens as written (it shortened them, "
                "even in parts); opt in to the file store with STYTCH_TOKEN_STORE=file."
            )
        self._sweep(key, old, keep=slot)

    def _write_parts(self, key: str, slot: str, value: str) -> int:
        """Write ``value`` as parts 0, 1, ... of ``slot``, emptied first; the count written."""
        from keyring.errors import PasswordSetError

        backend = self._backend()
        size = WINDOWS_PART_CHARS
        while True:
            # Leftovers of a save killed before its pointer, or of a refused larger size.
            self._empty_slot(key, slot)
            chunks = [value[i : i + size] for i in range(0, len(value), size)]
            if len(chunks) > _MAX_PARTS:
                raise TokenStoreError(
                    "The system keyring refused to store the tokens, even in parts; opt in to "
                    "the file store with STYTCH_TOKEN_STORE=file."
                )
            try:
                for i, chunk in enumerate(chunks):
                    backend.set_password(self.service, _part(key, slot, i), chunk)
                    if i == 0 and self._get(_part(key, slot, 0)) != chunk:
                        raise PasswordSetError("shortened")  # a silent limit: the same cure
            except PasswordSetError:  # smaller parts for a backend with a smaller limit
                size //= 2
                continue
            except Exception:
                with contextlib.suppress(Exception):
                    self._empty_slot(key, slot)
                raise
            return len(chunks)

    def _orphans(self, key: str) -> list[str]:
        named = (self._pointer(key) or {}).get("gen")
        values = []
        for slot in _SLOTS:
            if slot == named:
                continue
            chunks: list[str] = []
            while len(chunks) < _MAX_PARTS:
                chunk = self._get(_part(key, slot, len(chunks)))
                if chunk is None:
                    break
                chunks.append(chunk)
            if chunks:
                values.append("".join(chunks))
        return values

    def _probe(self, account: str) -> None:
        self._backend().set_password(self.service, account, "probe")
        self._quiet_delete(account)

    def _pointer(self, key: str) -> dict[str, object] | None:
        try:
            pointer = json.loads(self._get(key) or "null")
        except (ValueError, RecursionError):
            return None
        return pointer if isinstance(pointer, dict) and "gen" in pointer else None

    def _sweep(self, key: str, old: dict[str, object] | None, *, keep: str | None) -> None:
        """Empty every slot but ``keep``, and the parts of ``old`` if an older version named
        them: whatever an interrupted save or delete left behind goes here."""
        for slot in _SLOTS:
            if slot != keep:
                self._empty_slot(key, slot)
        gen, parts = (old or {}).get("gen"), (old or {}).get("parts")
        if isinstance(gen, str) and gen not in _SLOTS and isinstance(parts, int):
            for i in range(min(parts, _MAX_PARTS)):
                self._quiet_delete(_part(key, gen, i))

    def _empty_slot(self, key: str, slot: str) -> None:
        """Delete the parts of ``slot``: they are always a run 0, 1, ..., n-1, because parts are
        written upwards and deleted downwards, so a kill at any step leaves such a run."""
        count = 0
        while count < _MAX_PARTS and self._get(_part(key, slot, count)) is not None:
            count += 1
        for i in reversed(range(count)):
            self._quiet_delete(_part(key, slot, i))

    def _delete(self, key: str) -> None:
        pointer = self._pointer(key)
        self._quiet_delete(key)
        self._sweep(key, pointer, keep=None)

    def _quiet_delete(self, account: str) -> None:
        import keyring.errors

        with contextlib.suppress(keyring.errors.PasswordDeleteError):
            self._backend().delete_password(self.service, account)

    def _call(self, fn: Callable[..., _T], *args: object) -> _T:
        """Run ``fn`` on a daemon thread so a hanging backend cannot outlive ``timeout``."""
        box: dict[str, object] = {}

        def run() -> None:
            try:
                box["value"] = fn(*args)
            except BaseException as exc:  # handed to the caller below
                box["error"] = exc

        worker = threading.Thread(target=run, name="stytch-keyring", daemon=True)
        worker.start()

        def joined(seconds: float) -> bool:
            worker.join(seconds)
            return not worker.is_alive()

        wait_in_slices(joined, self.timeout)
        if worker.is_alive():
            raise TokenStoreError(
                f"The system keyring did not answer within {self.timeout:g} s (is it locked?); "
                "unlock it, raise STYTCH_KEYRING_TIMEOUT, or opt in to the file store with "
                "STYTCH_TOKEN_STORE=file."
            )
        if "error" in box:
            raise _store_error(box["error"]) from None  # type: ignore[arg-type]
        return box["value"]  # type: ignore[return-value]


def _store_error(exc: BaseException) -> BaseException:
    if not isinstance(exc, Exception) or isinstance(exc, TokenStoreError):
        return exc
    import keyring.errors

    from .keyring_choice import no_system_keyring

    choices = (
        "name a backend with PYTHON_KEYRING_BACKEND, or opt in to the file store with "
        "STYTCH_TOKEN_STORE=file"
    )
    if isinstance(exc, keyring.errors.KeyringLocked):
        return TokenStoreError(
            f"The system keyring is locked ({type(exc).__name__}); unlock it or opt in to the "
            "file store with STYTCH_TOKEN_STORE=file."
        )
    if isinstance(exc, (keyring.errors.NoKeyringError, RuntimeError)):
        # No backend at all, or the one named could not start (keyring's InitError is a
        # RuntimeError): say why, when we can tell, instead of asking to unlock it.
        why = no_system_keyring(isinstance(exc, keyring.errors.NoKeyringError)) or (
            f" (the keyring backend could not start: {type(exc).__name__})"
        )
        return TokenStoreError(
            f"No system keyring can keep your tokens{why}; start one (gnome-keyring, KWallet, "
            f"macOS Keychain, Windows Credential Manager), {choices}."
        )
    return TokenStoreError(
        f"The system keyring failed ({type(exc).__name__}); check that it is running and "
        "unlocked, or opt in to the file store with STYTCH_TOKEN_STORE=file."
    )


def _part(key: str, gen: str, index: int) -> str:
    return f"{key}/{gen}/{index}"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]
