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
