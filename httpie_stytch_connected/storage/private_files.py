"""Files only this user can have written: the cache and data directories, checked before use.

``STYTCH_CACHE_DIR`` or ``STYTCH_DATA_DIR`` may point at a directory another local user created
or can write (a shared ``/tmp/shared``, mode 0777). That user could plant a discovery document
naming their own token endpoint (and receive the code, verifier and refresh token), an
access-token file (so we send their token), or a symlink where we write. So, on POSIX, every
directory we write into or read a trusted file from is checked first, and refused with a
:class:`TokenStoreError` naming the setting unless:

- it and every directory between it and the app's top-level directory are real directories
  (``lstat``: no symbolic link is followed), owned by us, not writable by group or others;
- each directory above the top-level one (after resolving symlinks there, e.g. macOS ``/tmp``)
  is owned by us or root and lets no other user rename what it holds: not writable by others,
  nor by a group other than our own primary group, unless it has the sticky bit (``/tmp``).

Directories we create are 0700. Files are opened with ``O_NOFOLLOW`` and must be regular files
of ours that no one else can write; writes (:func:`.store.write_private`) go through a new
0600 file and ``os.replace``, which never follows a symlink. Windows has no such checks: the
per-user profile directories' ACLs already keep other users out.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from ..errors import TokenStoreError

#: Where the checks apply: POSIX, where ownership and mode bits mean what they say.
_POSIX = hasattr(os, "getuid")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def private_dir(
    path: Path, top: Path, setting: str | None, *, create: bool = True, own_top: bool = False
) -> bool:
    """Check (and with ``create``, make, 0700) the directory ``path`` under ``top``.

    ``top`` is the app's top-level directory that holds ``path`` (or ``path`` itself);
    ``setting`` is the environment variable that moves it, for messages. ``own_top``: ``top``
    is the app's own default directory, narrowed to 0700 if an older release left it wider.
    False when ``path`` does not exist and ``create`` is False. Raises
    :class:`TokenStoreError` when it cannot be created or another user could write it.
    """
    path, top = Path(os.path.abspath(path)), Path(os.path.abspath(top))
    if path != top and top not in path.parents:
        top = path
    depth = len(path.parts) - len(top.parts)
    chain = [*reversed(list(path.parents)[:depth]), path]  # top first, down to path
    if create:
        for directory in reversed(top.parents):
            _make(directory, setting)
    if _POSIX:
        _check_above(top, setting)
    for directory in chain:  # top first: nothing is created inside a directory not checked
        if create:
            _make(directory, setting)
            if directory == top and own_top:
                _narrow(top)
        if not _POSIX:
            continue
        try:
            info = os.lstat(directory)
        except (FileNotFoundError, NotADirectoryError):
            return False
        if not (stat.S_ISDIR(info.st_mode) or stat.S_ISLNK(info.st_mode)):
            return False  # a file: nothing can be under it (creating there already failed)
        problem = _problem(info, directory=True)
        if problem:
            raise _refused(directory, problem, setting)
    return path.is_dir()


def read_private(
    path: Path, top: Path, setting: str | None, *, what: str = "directory"
) -> str | None:
    """The text of ``path``, a file only we can have written; None if it or its directory is
    missing or it is not UTF-8. Raises :class:`TokenStoreError` when it or its directories
    could have been written by another user, or it is a symbolic link; ``what`` ``setting``
    names (a directory, or the file itself), for the advice."""
    if not private_dir(path.parent, top, setting, create=False):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        if os.path.islink(path):
            raise _refused(path, "it is a symbolic link", setting, what=what) from None
        raise TokenStoreError(
            f"Could not read {path} ({exc.strerror or type(exc).__name__}); check its permissions."
        ) from None
    data = _read_checked(fd, path, setting, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def read_settings_file(path: Path, setting: str) -> bytes | None:
    """The bytes of a file whose settings decide where secrets go (the config file: a
    ``token_endpoint`` there receives the code, the verifier and the refresh token); None when
    it is missing.

    The file must be a regular file (opened without following a symbolic link), ours, and not
    writable by group or others; the directory holding it and every one above it (symlinks
    there resolved) must be ours or root's and let no other user rename what they hold (not
    writable by others unless sticky, as ``/tmp`` is). Anything else raises
    :class:`TokenStoreError` naming the path and ``setting``, the variable that moves it.
    """
    path = Path(os.path.abspath(path))
    if _POSIX:
        _check_above(path, setting, what="file")
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if os.path.islink(path):
            raise _refused(path, "it is a symbolic link", setting, what="file") from None
        raise TokenStoreError(
            f"Could not read {path} ({exc.strerror or type(exc).__name__}); check its "
            f"permissions or set {setting}."
        ) from None
    return _read_checked(fd, path, setting, "file")


def _read_checked(fd: int, path: Path, setting: str | None, what: str) -> bytes:
    """The bytes of the file open at ``fd`` (closed here) once its ``fstat`` shows a regular
    file only we can have written; :class:`TokenStoreError` otherwise, a directory named as
    such (a setting pointed at a folder is a common slip)."""
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):  # os.fdopen() would raise IsADirectoryError
        os.close(fd)
        raise TokenStoreError(f"{path} is a directory; point {setting or 'it'} at a file.")
    with os.fdopen(fd, "rb") as handle:
        problem = _problem(info, directory=False) if _POSIX else None
        if problem:
            raise _refused(path, problem, setting, what=what)
        return handle.read()


def _narrow(top: Path) -> None:
    """Our own default top-level directory, left wider by an older release: 0700 now."""
    with contextlib.suppress(OSError):
        info = os.lstat(top)
        if _POSIX and stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid():
            os.chmod(top, 0o700)


def _make(directory: Path, setting: str | None) -> None:
    try:
        os.mkdir(directory, 0o700)
        return
    except OSError as exc:
        if os.path.isdir(directory):  # already there (some systems say EACCES or EROFS first)
            return
        why = exc.strerror or type(exc).__name__
    fix = f"set {setting} to a writable directory" if setting else "check its permissions"
    raise TokenStoreError(f"Could not create the directory {directory} ({why}); {fix}.")


def _check_above(top: Path, setting: str | None, *, what: str = "directory") -> None:
    """No other user may rename or replace the directories that lead to ``top``."""
    real = Path(os.path.realpath(top.parent))
    for directory in [*reversed(real.parents), real]:
        try:
            info = os.lstat(directory)
        except FileNotFoundError:  # nothing there yet: nothing to read, nobody else's
            return
        others_can_write = info.st_mode & stat.S_IWOTH or (
            info.st_mode & stat.S_IWGRP and info.st_gid != os.getgid()
        )
        if info.st_uid not in (os.getuid(), 0):
            problem = f"it is owned by another user (uid {info.st_uid})"
            raise _refused(directory, problem, setting, what=what)
        if others_can_write and not info.st_mode & stat.S_ISVTX:
            raise _refused(directory, _writable(info), setting, what=what)


def _problem(info: os.stat_result, *, directory: bool) -> str | None:
    """Why a directory (or file) with this ``lstat`` could hold another user's content."""
    if stat.S_ISLNK(info.st_mode):
        return "it is a symbolic link"
    if not directory and not stat.S_ISREG(info.st_mode):
        return "it is not a regular file"
    if info.st_uid != os.getuid():
        return f"it is owned by another user (uid {info.st_uid})"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return _writable(info)
    return None


def _writable(info: os.stat_result) -> str:
    return f"other users can write to it (mode {stat.S_IMODE(info.st_mode):04o})"


def _refused(
    path: Path, problem: str, setting: str | None, *, what: str = "directory"
) -> TokenStoreError:
    where = f" (under {setting})" if setting else ""
    if not setting:
        fix = "make it yours and writable by you alone (chmod go-w)"
    elif what == "file":  # a mounted secret is often a link: a private copy is the way out
        fix = f"copy it to a file of your own with mode 0600 and point {setting} at that"
    else:
        fix = f"point {setting} at a {what} only you can write"
    return TokenStoreError(
        f"Refusing to use {path}{where}: {problem}, so another local user could plant or "
        f"replace files there; {fix}."
    )
