"""Long waits on the main thread, cut into short slices so that Ctrl-C always works.

The kernel may hand SIGINT to any thread. CPython runs the handler on the main thread, but a
main thread blocked in a single long ``Event.wait``, ``Lock.acquire`` or ``Thread.join`` is not
woken when the signal landed on another thread (the loopback server's, the browser
launcher's): Ctrl-C would then wait out the whole timeout. Waking every quarter second lets
the interpreter notice the pending signal.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

#: Longest uninterrupted block; short enough that Ctrl-C feels immediate.
SLICE = 0.25


def wait_in_slices(wait: Callable[[float], bool], timeout: float) -> bool:
    """Call ``wait(seconds)`` (True once done) in slices until done or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if wait(max(0.0, min(remaining, SLICE))):
            return True
        if remaining <= SLICE:
            return False


@contextlib.contextmanager
def interrupt_after(notice: Callable[[], None]) -> Iterator[None]:
    """Within the block, a first Ctrl-C (SIGINT) is held until the block ends, then raised as
    KeyboardInterrupt (``notice`` says so when it arrives); a second one raises at once. For
    work that, once started, loses something if cut short: a refresh whose provider has
    rotated the refresh token before its answer is stored. Only on the main thread and over
    Python's own handler: a program's own handler is left alone."""
    import signal
    import threading

    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    held: list[int] = []

    def hold(signum: int, frame: object) -> None:
        if held:
            raise KeyboardInterrupt
        held.append(signum)
        notice()

    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if held:
        raise KeyboardInterrupt
