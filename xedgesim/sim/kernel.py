"""The virtual-time kernel: one heap of events, run in a documented, stable order.

A heap entry is ``(time_ns, priority, sequence, callback, argument)``. Ties are broken by
priority, then by the order of scheduling, so equal-time order is deterministic by construction:

1. ``FAULT``    - faults and recoveries at time t apply to everything else at t;
2. ``TIMER``    - node timers (sensor emission windows, gateway windows, QoS 1 retries);
3. ``DELIVERY`` - message deliveries; a message arriving exactly at a window boundary
                  belongs to the window that starts there.

A callback returns how many simulation events it handled (``None`` counts as one): a sensor
fleet's emission window or a block of deliveries is many events in one heap entry. That is
what makes fleets fast, and ``events`` honest.

The run covers virtual time ``[0, until)``; anything due at or after ``until`` stays pending
and is reported as in flight.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xedgesim.sim.pacing import Pacer

FAULT, TIMER, DELIVERY = 0, 1, 2
NEVER = 2**63 - 1

Callback = Callable[[Any], "int | None"]
Progress = Callable[[int, int], None]  # (virtual time ns, events so far)


class Kernel:
    def __init__(self, until_ns: int) -> None:
        self.now = 0
        self.until = until_ns
        self.events = 0
        self._queue: list[tuple[int, int, int, Callback, Any]] = []
        self._sequence = itertools.count()

    def schedule(
        self, time_ns: int, priority: int, callback: Callback, argument: Any = None
    ) -> None:
        """Run ``callback(argument)`` at ``time_ns``; scheduling into the past is a bug."""
        if time_ns < self.now:
            raise ValueError(f"cannot schedule at {time_ns} ns, before now ({self.now} ns)")
        if time_ns < self.until:
            entry = (time_ns, priority, next(self._sequence), callback, argument)
            heapq.heappush(self._queue, entry)

    def next_time(self) -> int:
        """When the next event is due (``NEVER`` when none is): the horizon up to which a node
        may safely handle its deliveries in one block."""
        return self._queue[0][0] if self._queue else NEVER

    def run_paced(self, pacer: Pacer, progress: Progress | None = None) -> None:
        """Like ``run``, but each event waits for its wall-clock time, and actions injected
        from other threads (messages from real services) run at the virtual time they came."""
        queue, pop = self._queue, heapq.heappop
        pacer.start()
        next_report = time.monotonic()
        while True:
            due = queue[0][0] if queue else self.until
            injected = pacer.wait(due)
            if injected:
                self.now = min(max(self.now, pacer.virtual_now()), due)
                for action in injected:
                    action(self.now)
                continue
            if not queue:
                break
            when, _, _, callback, argument = pop(queue)
            self.now = when
            handled = callback(argument)
            handled = 1 if handled is None else handled
            self.events += handled
            pacer.record_lag(when, handled)  # one lag sample per message, not per heap entry
            if progress is not None and time.monotonic() >= next_report:
                progress(when, self.events)
                next_report = time.monotonic() + 0.25
        self.now = self.until

    def run(self, progress: Progress | None = None, progress_every_s: float = 0.25) -> None:
        """Pop and run events in order until none is left before ``until``."""
        queue, pop = self._queue, heapq.heappop
        next_report = time.monotonic() + progress_every_s if progress else float("inf")
        while queue:
            when, _, _, callback, argument = pop(queue)
            self.now = when
            handled = callback(argument)
            self.events += 1 if handled is None else handled
            if progress is not None and time.monotonic() >= next_report:
                progress(when, self.events)
                next_report = time.monotonic() + progress_every_s
        self.now = self.until
