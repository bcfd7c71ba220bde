"""Two guards for unattended runs: Ctrl-C never cuts a report in half, and stdout carries reports only.

`InterruptGuard` turns SIGINT/SIGTERM into KeyboardInterrupt as usual, except inside `critical()`
(writing one report), where it waits until the report is whole. `reports_stdout()` hands the report
writer a private duplicate of stdout and points file descriptor 1 and `sys.stdout` at stderr for the
run, so a stray print or a C library's message can never land between two reports.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType, TracebackType
from typing import Any, BinaryIO


class InterruptGuard:
    """Defers SIGINT and SIGTERM during critical sections; raises KeyboardInterrupt right after."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self._depth = 0
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._depth == 0:
            raise KeyboardInterrupt
        self.requested = True  # raised when the critical section ends

    def __enter__(self) -> InterruptGuard:  # noqa: PYI034 - Self needs Python 3.11
        if threading.current_thread() is threading.main_thread():  # signals only reach the main thread
            for number in self.SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if self.requested and self._depth == 0:
            self.requested = False
            raise KeyboardInterrupt


@contextlib.contextmanager
def reports_stdout() -> Iterator[BinaryIO]:
    """The stream reports go to; everything else written to stdout meanwhile goes to stderr."""
    stream = sys.stdout
    try:
        real = stream is sys.__stdout__ and stream.fileno() == 1
    except (AttributeError, OSError, ValueError):
        real = False  # a test runner's capture object: no descriptor to protect
    if not real:
        buffer: BinaryIO = getattr(stream, "buffer", stream)
        with contextlib.redirect_stdout(sys.stderr):
            yield buffer
        return
    stream.flush()
    saved = os.dup(1)
    private = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # also what worker processes started from here inherit as their stdout
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield private  # type: ignore[misc]
    finally:
        with contextlib.suppress(OSError):
            private.flush()
        private.close()
        os.dup2(saved, 1)
        os.close(saved)


def quiet_stdout() -> None:
    """Point stdout at /dev/null after its reader went away, so that flushing it at exit cannot
    raise BrokenPipeError again (Python would print that on stderr)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
