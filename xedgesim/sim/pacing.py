"""Paced runs: virtual time tied to wall time, for scenarios with wall-clock services.

A real Mosquitto does not advance in lockstep: it answers when it answers. With such a node in
the loop, virtual time t is run at wall time ``start + t / speed``; messages that arrive from
the real world (paho's network thread) are injected at the virtual time of their arrival. The
coordinator reports how late it ran each event (its lag): results are statistical, and repeated
runs with confidence intervals are the honest output.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable

import numpy as np

from xedgesim.metrics import Histogram

NS_PER_S = 1_000_000_000

Injection = Callable[[int], None]  # called with the virtual time of the injection


class Pacer:
    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, found {speed}")
        self.speed = speed
        self.lag = Histogram()  # ns of wall time each event ran after its due time
        self._injections: queue.SimpleQueue[Injection] = queue.SimpleQueue()
        self._started: float | None = None

    def start(self) -> None:
        self._started = time.monotonic()

    def inject(self, action: Injection) -> None:
        """From any thread: run ``action(virtual_now)`` on the coordinator's thread, soon."""
        self._injections.put(action)

    def virtual_now(self) -> int:
        return int((time.monotonic() - self._started) * self.speed * NS_PER_S)

    def wait(self, virtual_time: int) -> list[Injection]:
        """Sleep until ``virtual_time`` is due in wall time, or until something is injected.

        Returns the injections received (empty when the time came first).
        """
        due = self._started + virtual_time / (self.speed * NS_PER_S)
        while True:
            remaining = due - time.monotonic()
            try:
                first = self._injections.get(timeout=max(remaining, 0.0)) if remaining > 0 \
                    else self._injections.get_nowait()
            except queue.Empty:
                return []
            actions = [first]
            while True:
                try:
                    actions.append(self._injections.get_nowait())
                except queue.Empty:
                    return actions

    def record_lag(self, virtual_time: int) -> None:
        due = self._started + virtual_time / (self.speed * NS_PER_S)
        late_ns = max(0, int((time.monotonic() - due) * NS_PER_S))
        self.lag.add(np.array([late_ns], dtype=np.int64))

    def summary(self) -> dict[str, object]:
        return {"speed": self.speed, "lag_ms": self.lag.summary_ms()}
