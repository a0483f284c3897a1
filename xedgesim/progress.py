"""A progress line on the terminal for runs that take more than a moment."""

from __future__ import annotations

import sys
import time
from typing import TextIO

NS_PER_S = 1_000_000_000


class ProgressBar:
    """Shows nothing for the first ``delay_s`` seconds, so short runs stay quiet."""

    def __init__(self, total_ns: int, stream: TextIO = sys.stderr, delay_s: float = 2.0,
                 width: int = 30) -> None:
        self.total_ns = total_ns
        self.stream = stream
        self.width = width
        self.started = time.monotonic()
        self.delay_s = delay_s
        self.shown = False

    def __call__(self, now_ns: int, events: int) -> None:
        elapsed = time.monotonic() - self.started
        if elapsed < self.delay_s:
            return
        fraction = min(1.0, now_ns / self.total_ns) if self.total_ns else 1.0
        filled = int(fraction * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(
            f"\r[{bar}] {fraction:6.1%}  {now_ns / NS_PER_S:,.1f}s/{self.total_ns / NS_PER_S:,.0f}s"
            f" virtual  {events:,} events  {events / elapsed if elapsed > 0 else 0:,.0f}/s "
        )
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * (self.width + 80) + "\r")
            self.stream.flush()


class TaskProgress:
    """A sweep's progress line: tasks done of the total and an estimate of the time left,
    from the pace of the tasks finished in this session (a resumed sweep's earlier results
    count as done but say nothing about the pace)."""

    def __init__(self, total: int, done: int = 0, stream: TextIO = sys.stderr,
                 width: int = 30) -> None:
        self.total = total
        self.done = done
        self.first = done
        self.stream = stream
        self.width = width
        self.started = time.monotonic()
        self.shown = False

    def __call__(self, done: int | None = None) -> None:
        self.done = self.done + 1 if done is None else done
        elapsed = time.monotonic() - self.started
        fraction = self.done / self.total if self.total else 1.0
        filled = int(fraction * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        fresh = self.done - self.first
        left = (self.total - self.done) * elapsed / fresh if fresh else None
        eta = "--:--" if left is None else _clock(left)
        self.stream.write(f"\r[{bar}] {self.done:,}/{self.total:,} runs  ETA {eta} ")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * (self.width + 60) + "\r")
            self.stream.flush()


def _clock(seconds: float) -> str:
    """1:02:03, 2:03 or 0:07."""
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
