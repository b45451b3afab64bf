"""The cross-process lock held across read-refresh-write of one token set.

It lives where the store says (:meth:`SecureStore.lock_file`): beside a file store's token file,
in the per-user runtime directory for the keyring — never under a cache setting, which two
processes sharing one refresh token may not share.

The holder writes what it is doing, and how long that may take by its own timeouts, in a small
record beside the lock (``<key>.lock.holder``: a process id, an activity, seconds; no secret).
A waiter gives up once the holder has been at one activity longer than that, and says what it
was: a holder stopped with Ctrl-Z in the middle of a refresh is reported as a stalled refresh
within the refresh's own timeouts, not after a sign-in's. Every failure to use the lock is a
:class:`TokenStoreError` naming the directory and the setting that moves it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import LoginError, TokenStoreError
from ..waits import SLICE
from .store import _setting_for, ensure_private_dir, read_text, write_private

if TYPE_CHECKING:
    from filelock import BaseFileLock

log = logging.getLogger(__name__)

#: Seconds a waiter allows beyond the holder's own bound: scheduling, a loaded machine.
GRACE = 5.0
#: What a holder records it is doing.
REFRESHING, SIGNING_IN, SIGNING_OUT = "refreshing the tokens", "signing in", "signing out"


@dataclass(frozen=True)
class Activity:
    """What the holder of the lock is doing (``doing``: "refreshing the tokens", "signing in",
    "signing out") and the most it may take by its own timeouts (``seconds``)."""

    doing: str
    seconds: float


class LockBusy(Exception):
    """The lock is held by someone else and the caller asked not to wait."""


class LockAbandoned(Exception):
    """The caller stopped waiting for the lock (its ``wanted`` said so): nothing was started."""


class StoreLock:
    """One token set's lock file, with the holder's activity record beside it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.record = path.with_name(path.name + ".holder")

    @contextlib.contextmanager
    def hold(
        self,
        activity: Activity,
        *,
        fallback: float,
        wait: bool = True,
        wanted: Callable[[], bool] | None = None,
    ) -> Iterator[Callable[[Activity], None]]:
        """Hold the lock for ``activity``; yields a function that records the next activity.

        ``fallback``: seconds to wait for a holder that keeps no record. ``wait=False`` raises
        :class:`LockBusy` at once if the lock is held; ``wanted`` is asked between waits, and
        False (the caller gave up) raises :class:`LockAbandoned`. Raises :class:`LoginError`
        when the holder overruns its own bound, :class:`TokenStoreError` when the lock cannot
        be used.
        """
        import filelock

        ensure_private_dir(self.path.parent, _setting_for(self.path))
        lock = filelock.FileLock(str(self.path), mode=0o600)
        self._acquire(lock, fallback, wait, wanted)
        try:
            self._mark(activity)
            yield self._mark
        finally:
            with contextlib.suppress(OSError, TokenStoreError):
                self.record.unlink()
            lock.release()

    def _acquire(
        self,
        lock: BaseFileLock,
        fallback: float,
        wait: bool,
        wanted: Callable[[], bool] | None,
    ) -> None:
        import filelock

        seen: object = self  # no record read yet
        deadline = time.monotonic() + fallback
        holder: dict[str, object] | None = None
        while True:
            try:
                lock.acquire(timeout=SLICE if wait else 0)
                return
            except filelock.Timeout:
                if not wait:
                    raise LockBusy from None
            except OSError as exc:  # a read-only or foreign directory, a lock file we may not open
                raise self._unusable(exc) from None
            if wanted is not None and not wanted():  # a cancelled task: hold no thread
                raise LockAbandoned
            text = read_text(self.record)
            if text != seen:  # a new holder, or a new activity: its own bound starts now
                seen, holder = text, _parse(text)
                seconds = holder.get("seconds") if holder else None
                bound = fallback  # a holder that keeps no record, or a record that is no use
                if isinstance(seconds, (int, float)) and 0 <= seconds < math.inf:
                    bound = float(seconds) + GRACE
                deadline = time.monotonic() + bound
            if time.monotonic() > deadline:
                raise LoginError(_overrun(holder))

    def _mark(self, activity: Activity) -> None:
        """Record what this holder now does; a record that cannot be written only makes the
        waiters fall back to their own bound."""
        import secrets  # holders only

        record = {
            "pid": os.getpid(),
            "doing": activity.doing,
            "seconds": activity.seconds,
            "mark": secrets.token_hex(4),  # a repeated activity is still a new record
        }
        try:
            write_private(self.record, json.dumps(record))
        except (OSError, TokenStoreError) as exc:
            log.debug("lock holder record not written (%s)", type(exc).__name__)

    def _unusable(self, exc: OSError) -> TokenStoreError:
        directory = self.path.parent
        setting = _setting_for(self.path)
        fix = f"set {setting} to a writable directory" if setting else "check its permissions"
        return TokenStoreError(
            f"Could not use the lock file {self.path.name} in {directory} "
            f"({exc.strerror or type(exc).__name__}); {fix}."
        )


def _parse(text: str | None) -> dict[str, object] | None:
    try:
        value = json.loads(text or "null")
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _overrun(holder: dict[str, object] | None) -> str:
    """What a waiter says when the holder overran: who, doing what, and what to do."""
    doing, pid = (holder.get("doing"), holder.get("pid")) if holder else (None, None)
    who = f"Another process (pid {pid})" if isinstance(pid, int) else "Another process"
    if doing == "signing in":
        return (
            f"{who} has been signing in for too long; finish or cancel that sign-in and try again."
        )
    what = "".join(c for c in doing if c.isprintable())[:60] if isinstance(doing, str) else ""
    return (
        f"{who} has been {what or 'holding the token lock'} for longer than its timeouts allow "
        "(is it stopped, e.g. with Ctrl-Z?); resume or end it, then try again."
    )
