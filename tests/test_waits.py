"""``waits.stops_held``: a stop held while a refresh is in flight acts once the block ends,
however it ends (the refresh itself is tested end to end in tests/lifecycle)."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from httpie_stytch_connected.waits import stops_held


def test_a_ctrl_c_held_through_a_block_that_fails_still_stops() -> None:
    """A refresh that meets an outage after the person pressed Ctrl-C: the outage is not what
    they asked for, the stop is."""
    said: list[str] = []
    with pytest.raises(KeyboardInterrupt), stops_held(lambda: said.append("held")):
        signal.raise_signal(signal.SIGINT)
        assert said == ["held"]  # held, not raised, while the block runs
        raise OSError("the provider went away")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_sigterm_held_through_a_block_that_fails_still_ends_the_process() -> None:
    """A supervisor's SIGTERM during a refresh that fails must not leave a long-running
    program running: after the block, the process ends by that signal."""
    program = (
        "import signal\n"
        "from httpie_stytch_connected.waits import stops_held\n"
        "try:\n"
        "    with stops_held(lambda: print('held', flush=True)):\n"
        "        signal.raise_signal(signal.SIGTERM)\n"
        "        raise OSError('the provider went away')\n"
        "except OSError:\n"
        "    pass\n"
        "print('still running', flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )
    assert done.stdout == "held\n" and done.returncode == -signal.SIGTERM, done
