"""Ctrl-C and SIGTERM: one behaviour for every run, an exception that unwinds the cleanup code.

Why an exception: everything a run holds (a staging directory, containers, worker processes)
is released by a ``with`` block or a ``finally``, so a signal turned into an exception releases
all of it on the one path that errors take too. SIGTERM (``kill``, a service manager, a CI
timeout) is treated exactly like Ctrl-C and differs only in the exit status (143, not 130).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived. A ``KeyboardInterrupt``, so code that cleans up after
    Ctrl-C cleans up after SIGTERM too.

    ``kept`` names an output that was already complete and in place when the signal arrived
    (the signal came while it was being renamed into place); otherwise nothing was written.
    """

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.kept: Path | None = None


def exit_code(error: KeyboardInterrupt) -> int:
    """128 + the signal number, as a shell reports a process stopped by that signal."""
    return 128 + getattr(error, "signum", signal.SIGINT)


def signal_name(error: KeyboardInterrupt) -> str:
    return signal.Signals(getattr(error, "signum", signal.SIGINT)).name


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


def _in_main_thread() -> bool:
    # Python delivers signals to the main thread only, and only it may set handlers.
    return threading.current_thread() is threading.main_thread()


@contextmanager
def signals_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM raise ``Interrupted``; then the handlers
    that were there before are back.

    A SIGINT that is ignored stays ignored, as Python itself does at startup: a background job
    is meant not to see the terminal's Ctrl-C, and a sweep's workers leave Ctrl-C to their
    parent, which stops them.
    """
    if not _in_main_thread():
        yield
        return
    previous = {}
    for signum in SIGNALS:
        if signum == signal.SIGINT and signal.getsignal(signum) == signal.SIG_IGN:
            continue
        previous[signum] = signal.signal(signum, _raise)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while the block runs, then raise ``Interrupted`` for the first
    that came: cleanup and renames into place are never cut half-way."""
    if not _in_main_thread():
        yield
        return
    pending: list[int] = []
    previous = {}
    for signum in SIGNALS:
        if signal.getsignal(signum) == signal.SIG_IGN:
            continue
        previous[signum] = signal.signal(signum, lambda s, f: pending.append(s))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if pending:
            raise Interrupted(pending[0])
