"""Long waits on the main thread, cut into short slices so that Ctrl-C always works.

The kernel may hand SIGINT to any thread. CPython runs the handler on the main thread, but a
main thread blocked in a single long ``Event.wait``, ``Lock.acquire`` or ``Thread.join`` is not
woken when the signal landed on another thread (the loopback server's, the browser
launcher's): Ctrl-C would then wait out the whole timeout. Waking every quarter second lets
the interpreter notice the pending signal.
"""

from __future__ import annotations

import time
from collections.abc import Callable

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
