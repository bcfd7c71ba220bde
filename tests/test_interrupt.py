"""The interrupt guard: a signal during a report write waits until the write is whole."""
from __future__ import annotations

import os
import signal
import time

import pytest

from brandscan.cli.interrupt import InterruptGuard


def test_a_signal_inside_a_critical_section_is_raised_when_it_ends() -> None:
    written: list[str] = []
    # What the process had before the guard: Python's default handler, or SIG_IGN when it was started
    # in the background by a non-interactive shell.
    before = signal.getsignal(signal.SIGINT)
    with InterruptGuard() as guard:
        with pytest.raises(KeyboardInterrupt), guard.critical():
            written.append("first half")
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler runs here and only takes note
            written.append("second half")
        assert written == ["first half", "second half"]
        with guard.critical():  # the interrupt was delivered once, not again
            written.append("closing bracket")
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)  # outside a write: at once
            time.sleep(0.05)
    assert signal.getsignal(signal.SIGINT) is before  # restored
