"""Where the storage's files live, how they are named, and how they are read and written.

The warm path needs only this and :mod:`.access_cache`: the directories (``STYTCH_CACHE_DIR``,
``STYTCH_DATA_DIR``, ``STYTCH_LOCK_DIR``, else the platform's own), the token-set key, and a read
of a file only we can have written. ``platformdirs`` loads only when a directory has no setting,
and the runtime directory is asked for only when a path could be under it (:func:`_place`).
Writes are atomic (:func:`write_private`); the writers' modules load only when one writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TextIO

from ..errors import TokenStoreError
from . import private_files
from .private_files import private_dir

APP_NAME = "httpie-stytch-connected"
#: The last name of the default lock directory (:func:`lock_dir`).
_LOCKS = "locks"


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
    known = _linux_user_dir("XDG_CACHE_HOME", "~/.cache")
    if known is not None:
        return known
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    override = os.environ.get("STYTCH_DATA_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    """The platform's per-user configuration directory for this app (the profiles file's)."""
    known = _linux_user_dir("XDG_CONFIG_HOME", "~/.config")
    if known is not None:
        return known
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def config_file(environ: Mapping[str, str]) -> Path:
    """The settings file: ``STYTCH_CONFIG``, else ``config.toml`` in :func:`config_dir`. Here
    rather than beside the profile reader, so that the warm path (:mod:`..warm`) can find the
    file whose bytes it fingerprints without loading the settings."""
    override = environ.get("STYTCH_CONFIG")
    if override:
        return Path(override)
    return config_dir() / "config.toml"


def _linux_user_dir(variable: str, default: str) -> Path | None:
    """``platformdirs``' answer for a per-user XDG directory on Linux, in the cases where every
    ``platformdirs`` release we accept (``>=3``) gives the same one, without importing it: the
    variable set to an absolute path with no blanks around it, or unset or empty with an absolute
    ``HOME``. None elsewhere (another platform, Android, a relative path, blanks): then
    ``platformdirs`` is asked.
    Every warm run reads the cache and config directories; importing ``platformdirs`` costs
    more than the rest of the read."""
    if sys.platform != "linux" or ("ANDROID_DATA" in os.environ and "ANDROID_ROOT" in os.environ):
        return None
    value = os.environ.get(variable, "")
    if value != value.strip():  # releases disagree: some strip the blanks, others keep them
        return None
    if os.path.isabs(value):
        base = value
    elif value.strip() or not os.path.isabs(os.environ.get("HOME", "")):
        return None
    else:
        base = os.path.expanduser(default)
    return Path(os.path.join(base, APP_NAME))


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

        return Path(platformdirs.user_runtime_dir(APP_NAME, appauthor=False)) / _LOCKS
    for base in (os.environ.get("XDG_RUNTIME_DIR"), f"/run/user/{os.getuid()}"):
        if base and os.path.isabs(base) and _own_runtime_dir(base):
            return Path(base) / APP_NAME / _LOCKS
    try:
        home = Path.home()
    except (KeyError, RuntimeError):  # no HOME and no passwd entry: nothing to fall back to
        raise TokenStoreError(
            "There is no runtime or home directory for the lock files; set STYTCH_LOCK_DIR to "
            "a private writable directory."
        ) from None
    return home / ".local" / "state" / APP_NAME / _LOCKS


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
        if base is lock_dir and not _may_be_under_default_lock_dir(path):
            continue  # the same answer without asking platformdirs (the warm path's read)
        try:
            top = base()
        except TokenStoreError:  # no usable runtime directory: nothing can be under it
            continue
        if path.is_relative_to(top):
            return top, name, not os.environ.get(name)
    return path, None, False


def _may_be_under_default_lock_dir(path: Path) -> bool:
    """False when ``path`` cannot be under :func:`lock_dir`: with ``STYTCH_LOCK_DIR`` unset, that
    directory's last name is always ``locks`` (we add it to whatever the platform gives), so a
    path below it has a part of that name (compared as the platform compares paths)."""
    if os.environ.get("STYTCH_LOCK_DIR"):
        return True
    locks = os.path.normcase(_LOCKS)
    return any(os.path.normcase(part) == locks for part in path.parts)


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
            "by hand, then try again."
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
