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
def stops_held(notice: Callable[[], None]) -> Iterator[None]:
    """Within the block, a first Ctrl-C (SIGINT), SIGTERM or SIGHUP is held until the block
    ends and then acts as it would have (KeyboardInterrupt; the process ended by the signal),
    ``notice`` saying so when it arrives; a second one acts at once. For work that, once
    started, loses something if cut short: a refresh whose provider has rotated the refresh
    token before its answer is stored. Only on the main thread, and only for signals left to
    their default (Python's own handler for SIGINT): a program's own handler is left alone."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    defaults: dict[int, object] = {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is None:
            continue
        default = signal.default_int_handler if name == "SIGINT" else signal.SIG_DFL
        if signal.getsignal(number) is default:
            defaults[number] = default
    held: list[int] = []

    def restore() -> None:
        for number, handler in defaults.items():
            signal.signal(number, handler)  # type: ignore[arg-type]

    def act(number: int) -> None:
        restore()
        if number == signal.SIGINT:
            raise KeyboardInterrupt
        signal.raise_signal(number)  # its default again: the process ends as it would have

    def hold(number: int, frame: object) -> None:
        if held:
            act(number)
        held.append(number)
        notice()

    for number in defaults:
        signal.signal(number, hold)
    try:
        yield
    finally:
        restore()
        if held:  # also when the block failed: a stop held is never swallowed
            act(held[0])
