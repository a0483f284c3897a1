"""Paced runs: virtual time tied to wall time, for scenarios with wall-clock services.

A real Mosquitto does not advance in lockstep: it answers when it answers. With such a node in
the loop, virtual time t is run at wall time ``start + t / speed``; messages that arrive from
the real world (paho's network thread) are injected at the virtual time of their arrival.

The coordinator measures how late it ran each event (its lag): a kernel event after its due
wall time, an injected message after it arrived. A paced run's results are only as good as its
lag is small: a coordinator that falls behind delays every message it touches by its lag, so
the latencies it reports are the model's plus the lag. A run whose p95 lag passes ``max_lag``
is marked invalid (``valid: false`` in the summary), and ``xedge simulate`` exits 1 after
writing it (docs/containers.md).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable

import numpy as np

from xedgesim.metrics import Histogram

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
# The bound on the p95 lag, unless --max-lag says otherwise. 100 ms is about ten times the lag
# a healthy run shows on a busy 2-core machine (bench/hybrid_broker.py), and small against the
# intervals and windows (seconds) whose results a paced run is for; a p95 above it means the
# coordinator could not keep up, and the latencies it measured carry its own delay.
DEFAULT_MAX_LAG_NS = 100 * NS_PER_MS
LAG_QUANTILE = 0.95
LAG_BATCH = 4096  # lags are added to the histogram in batches: one add costs as much as 4096
LAG_CHUNK = 1 << 20  # at most this many samples go to the histogram at once (bounded memory)

Injection = Callable[[int], None]  # called with the virtual time of the injection


class Pacer:
    """Ties virtual time to the wall clock; measures and judges how late events run.

    ``clock`` is the wall clock (seconds, monotonic); tests replace it to force a lag.
    """

    clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(self, speed: float = 1.0, max_lag_ns: int = DEFAULT_MAX_LAG_NS) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, found {speed}")
        if max_lag_ns <= 0:
            raise ValueError(f"max_lag_ns must be > 0, found {max_lag_ns}")
        self.speed = speed
        self.max_lag_ns = max_lag_ns
        self._lag = Histogram()  # ns of wall time each event ran after it was due
        self._pending: list[int] = []  # lags not yet in the histogram
        self._weights: list[int] = []  # how many messages each of them stands for
        self._pending_weight = 0
        self._injections: queue.SimpleQueue[tuple[float, Injection]] = queue.SimpleQueue()
        self._started: float | None = None

    def start(self) -> None:
        self._started = self.clock()

    def inject(self, action: Injection) -> None:
        """From any thread: run ``action(virtual_now)`` on the coordinator's thread, soon.

        The wall time of the call is kept: how long the action waits is part of the lag.
        """
        self._injections.put((self.clock(), action))

    def virtual_now(self) -> int:
        return int((self.clock() - self._started) * self.speed * NS_PER_S)

    def wait(self, virtual_time: int) -> list[Injection]:
        """Sleep until ``virtual_time`` is due in wall time, or until something is injected.

        Returns the injections received (empty when the time came first); each counts in the
        lag from when it arrived, since the caller runs them at once.
        """
        due = self._due(virtual_time)
        remaining = due - self.clock()
        try:
            first = self._injections.get(timeout=remaining) if remaining > 0 \
                else self._injections.get_nowait()
        except queue.Empty:
            return []
        arrived = [first]
        while True:
            try:
                arrived.append(self._injections.get_nowait())
            except queue.Empty:
                break
        now = self.clock()
        for at, _ in arrived:
            self._add_lag(now - at)
        return [action for _, action in arrived]

    def record_lag(self, virtual_time: int, count: int = 1) -> None:
        """The kernel has just handled the heap entry due at ``virtual_time``: ``count``
        events (a sensor window or a block of deliveries is many messages in one entry).

        Each of them counts once in the lag, late by as much as the entry finished after it
        was due, so a block weighs as much as the messages in it and the p95 is per message.
        """
        if count > 0:
            self._add_lag(self.clock() - self._due(virtual_time), count)

    @property
    def lag(self) -> Histogram:
        """Every lag measured so far, in ns."""
        self._flush()
        return self._lag

    def lag_p95_ns(self) -> float:
        return self.lag.quantile(LAG_QUANTILE)

    @property
    def valid(self) -> bool:
        """Whether the run kept up: its p95 lag is within ``max_lag_ns``."""
        return self.lag_p95_ns() <= self.max_lag_ns

    def summary(self) -> dict[str, object]:
        return {"speed": self.speed, "lag_ms": self.lag.summary_ms(),
                "max_lag_ms": self.max_lag_ns / NS_PER_MS, "valid": self.valid}

    def _due(self, virtual_time: int) -> float:
        assert self._started is not None, "start() first"
        return self._started + virtual_time / (self.speed * NS_PER_S)

    def _add_lag(self, seconds: float, count: int = 1) -> None:
        """``count`` events' lag; cheap, since it is called for every entry of a paced run."""
        self._pending.append(max(0, round(seconds * NS_PER_S)))
        self._weights.append(count)
        self._pending_weight += count
        if len(self._pending) >= LAG_BATCH or self._pending_weight >= LAG_CHUNK:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        lags = np.array(self._pending, dtype=np.int64)
        weights = np.array(self._weights, dtype=np.int64)
        self._pending.clear()
        self._weights.clear()
        self._pending_weight = 0
        self._lag.add(np.repeat(lags, np.minimum(weights, LAG_CHUNK)))
        big = weights > LAG_CHUNK
        for lag, weight in zip(lags[big].tolist(), weights[big].tolist(), strict=True):
            for done in range(LAG_CHUNK, weight, LAG_CHUNK):  # a block larger than a chunk
                self._lag.add(np.full(min(LAG_CHUNK, weight - done), lag, dtype=np.int64))


def invalid_message(pacing: dict) -> str:
    """What ``xedge simulate`` says about a paced run whose lag passed its bound."""
    return (f"the run is invalid: its p95 lag {pacing['lag_ms']['p95']:g} ms passed "
            f"--max-lag {pacing['max_lag_ms']:g} ms (the coordinator could not keep up; try a "
            "lower --speed or a smaller scenario)")
