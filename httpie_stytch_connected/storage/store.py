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
import os
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO, TypeVar

from ..errors import TokenStoreError
from ..oauth.tokens import TokenSet
from ..waits import wait_in_slices
from . import private_files
from .private_files import private_dir

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

log = logging.getLogger(__name__)

APP_NAME = "httpie-stytch-connected"
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


def token_key(route: str, client_id: str, scopes: Iterable[str]) -> str:
    """One key per (where the refresh token goes, client, scope set): never shared across them.

    ``route`` names the provider and every endpoint that receives the refresh token.
    """
    material = "\n".join([route.rstrip("/"), client_id, " ".join(sorted(set(scopes)))])
    return hashlib.sha256(material.encode()).hexdigest()[:40]


def cache_dir() -> Path:
    override = os.environ.get("STYTCH_CACHE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    override = os.environ.get("STYTCH_DATA_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def lock_dir() -> Path:
    """Where the locks of keyring-held token sets live: ``STYTCH_LOCK_DIR``, else the per-user
    runtime directory (``$XDG_RUNTIME_DIR``, ``/run/user/<uid>``; on macOS and Windows the
    per-user temporary directory), else ``~/.local/state/httpie-stytch-connected/locks``.

    Not the cache directory: every process of the user shares one keyring entry, whatever its
    ``STYTCH_CACHE_DIR`` or ``XDG_CACHE_HOME`` (cron and a terminal), so the lock must not
    follow those. The runtime directory is also where the Secret Service's session bus lives.
    Where there is none (a container, SSH without a login manager), the fallback is under the
    home directory, never a name in a shared temporary directory (``/tmp/runtime-<uid>``) that
    another user could create first and so stop every sign-in and refresh.
    """
    override = os.environ.get("STYTCH_LOCK_DIR")
    if override:
        return Path(override)
    if sys.platform in ("win32", "darwin"):
        import platformdirs

        return Path(platformdirs.user_runtime_dir(APP_NAME, appauthor=False)) / "locks"
    for base in (os.environ.get("XDG_RUNTIME_DIR"), f"/run/user/{os.getuid()}"):
        if base and os.path.isabs(base) and _own_runtime_dir(base):
            return Path(base) / APP_NAME / "locks"
    try:
        home = Path.home()
    except (KeyError, RuntimeError):  # no HOME and no passwd entry: nothing to fall back to
        raise TokenStoreError(
            "There is no runtime or home directory for the lock files; set STYTCH_LOCK_DIR to "
            "a private writable directory."
        ) from None
    return home / ".local" / "state" / APP_NAME / "locks"


def _own_runtime_dir(base: str) -> bool:
    """A runtime directory as XDG requires it: a real directory of ours that nobody else can
    write (one another user made, or a symlink, is passed over, never an error)."""
    import stat

    try:
        info = os.lstat(base)
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


class SecureStore(Protocol):
    """Holds whole token sets, refresh token included."""

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


def _setting_for(path: Path) -> str | None:
    """The environment variable that chose where ``path`` lives, if one of ours did."""
    return _place(path)[1]


def _place(path: Path) -> tuple[Path, str | None, bool]:
    """(top-level directory, the setting that moves it, whether it is our own default one)
    for ``path``: a directory outside ours (a caller's own) is its own top."""
    for name, base in (
        ("STYTCH_LOCK_DIR", lock_dir),
        ("STYTCH_CACHE_DIR", cache_dir),
        ("STYTCH_DATA_DIR", data_dir),
    ):
        try:
            top = base()
        except TokenStoreError:  # no usable runtime directory: nothing can be under it
            continue
        if path.is_relative_to(top):
            return top, name, not os.environ.get(name)
    return path, None, False


def ensure_private_dir(path: Path, setting_name: str | None = None) -> Path:
    """Create the directory ``path`` (0700, with its parents) unless it exists, and check that
    no other local user can write it (:func:`.private_files.private_dir`).

    Failure is a :class:`TokenStoreError` naming the path and the setting that chose it
    (``setting_name``, by default ``STYTCH_CACHE_DIR`` or ``STYTCH_DATA_DIR`` when ``path`` is
    under one of them), never a raw :class:`OSError`.
    """
    top, setting, own = _place(path)
    private_dir(path, top, setting_name or setting, own_top=own)
    return path


def _unlink(path: Path) -> None:
    """Delete ``path`` if it is there; failing to delete what is there is a TokenStoreError."""
    try:
        path.unlink()
    except (FileNotFoundError, NotADirectoryError):  # nothing there (or no directory at all)
        return
    except OSError as exc:
        setting = _setting_for(path)
        where = f" (under {setting})" if setting else ""
        raise TokenStoreError(
            f"Could not delete {path}{where} ({exc.strerror or type(exc).__name__}); delete it "
            "by hand, then run the command again."
        ) from None


def write_private(path: Path, text: str) -> None:
    """Atomically replace ``path`` with ``text``, readable by the owner only (0600).

    A directory that cannot be created or that another user could write is a
    :class:`TokenStoreError` (see :func:`ensure_private_dir`); other failures are
    :class:`OSError`.
    """
    ensure_private_dir(path.parent)
    tmp = _complete_temp_file(path, text)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _complete_temp_file(path: Path, text: str) -> str:
    """A synced 0600 file ``.<name>.<random>`` beside ``path`` holding ``text``.

    On Linux the text goes into a file with no name (``O_TMPFILE``) that is named only once
    complete: a process killed while writing leaves nothing behind. Elsewhere, or where the file
    system cannot, a named temporary file (:func:`drop_temp_files` removes one left behind).
    """
    try:
        fd = os.open(path.parent, os.O_TMPFILE | os.O_WRONLY, 0o600)
    except (AttributeError, OSError):  # no O_TMPFILE here, or not on this file system
        fd = -1
    if fd >= 0:
        import secrets  # writers only, like tempfile below

        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            _write_synced(handle, text)
            tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}")
            with contextlib.suppress(OSError):  # e.g. no /proc: fall back below
                fds = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
                try:  # linkat(AT_SYMLINK_FOLLOW) of /proc/self/fd/N names the nameless file
                    os.link(str(handle.fileno()), tmp, src_dir_fd=fds, follow_symlinks=True)
                finally:
                    os.close(fds)
                return tmp
    import tempfile  # only writers need it; the warm path only reads

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            _write_synced(handle, text)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def _write_synced(handle: TextIO, text: str) -> None:
    handle.write(text)
    handle.flush()
    os.fsync(handle.fileno())


def drop_temp_files(path: Path) -> None:
    """Delete what an interrupted :func:`write_private` of ``path`` left (``.<name>.*``).

    Only for a caller that holds the lock every writer of ``path`` takes: another writer's
    temporary file would otherwise go from under it. Failures are ignored, as a missing file is.
    """
    from glob import escape  # writers only; the warm path never gets here

    with contextlib.suppress(OSError):
        for stale in path.parent.glob(f".{escape(path.name)}.*"):
            with contextlib.suppress(OSError):
                stale.unlink()


def read_text(path: Path) -> str | None:
    """The text of a file only we can have written, or None if it is missing or not UTF-8.

    A file or directory another user could have written, or a symbolic link, is a
    :class:`TokenStoreError` (:func:`.private_files.read_private`).
    """
    top, setting, _ = _place(path.parent)
    return private_files.read_private(path, top, setting)


class FileStore:
    """Opt-in plaintext store for headless machines: one 0600 JSON file per token set."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or data_dir() / "tokens"
        self.description = f"file store in {self.directory}"

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def load(self, key: str) -> TokenSet | None:
        return _parse(read_text(self._path(key)))

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


class AccessTokenCache:
    """The warm path: the access token and its expiry only, never the refresh token."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or cache_dir() / "access"

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def load(self, key: str) -> TokenSet | None:
        tokens = _parse(read_text(self._path(key)))
        return tokens if tokens and tokens.access_token else None

    def save(self, key: str, tokens: TokenSet) -> None:
        slim = TokenSet(
            access_token=tokens.access_token,
            expires_at=tokens.expires_at,
            scope=tokens.scope,
            received_at=tokens.received_at,
        )
        drop_temp_files(self._path(key))  # an earlier run killed mid-write left its token there
        # A cache that cannot be written is only slower.
        with contextlib.suppress(OSError, TokenStoreError):
            write_private(self._path(key), slim.to_json())

    def delete(self, key: str) -> None:
        drop_temp_files(self._path(key))
        _unlink(self._path(key))

    def lock_file(self, key: str) -> Path:
        """Beside the token file: whoever can write that file finds the same lock."""
        return self.directory / f"{key}.lock"


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
        """The stored set, or None. Takes no lock: a split value whose parts go from under the
        reader (another process saved meanwhile) is read again through the new pointer, so a
        reader sees the old set or the new one, never nothing."""
        head = self._call(self._get, key)
        for _ in range(_READ_ATTEMPTS):
            if head is None:
                return None
            try:
                pointer = json.loads(head)
            except (ValueError, RecursionError):  # corrupt or foreign: a fresh login replaces it
                return None
            if not isinstance(pointer, dict) or "gen" not in pointer:
                return _parse(head)
            value = self._call(self._join, key, pointer)
            if value is not None:
                return _parse(value)
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

    # -- the work, run on a worker thread by _call --------------------------------------
    def _backend(self, *, checked: bool = True) -> KeyringBackend:
        """keyring's backend; ``checked``: refused if keyring picked a plaintext one by itself
        (:func:`.keyring_choice.check`)."""
        import keyring
        from keyring.backends import fail, null

        from .keyring_choice import check

        backend = keyring.get_keyring()
        if isinstance(backend, (fail.Keyring, null.Keyring)):
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


def _parse(text: str | None) -> TokenSet | None:
    if text is None:
        return None
    try:
        return TokenSet.from_json(text)
    except (ValueError, TypeError, RecursionError, OverflowError):
        return None
