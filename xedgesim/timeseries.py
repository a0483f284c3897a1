"""What happened on each flow, second by second: ``timeseries.csv``.

A run's totals say how many messages were lost; the time series says when, so a fault window
shows up as a dip and a saturated link as a growing queue. It is aggregated as the run goes,
one row per flow and per second of virtual time, never per message: memory is
O(flows × seconds) whatever the fleet size, and the counting is a few vector operations per
batch. A run longer than ``MAX_ROWS`` seconds is cut into steps of several whole seconds so a
flow never has more than ``MAX_ROWS`` rows.

When each message counts (docs/simulation.md, "timeseries.csv"):

* ``sent`` in the step of its first transmission, as ``sent`` in ``summary.json``;
* ``delivered`` and its latency (arrival minus first transmission) in the step it arrives;
* ``lost_<cause>`` in the step of the attempt that lost it (when a forgotten retry would
  have been sent, at the latest the run's last step);
* ``queue``, on bandwidth-limited links only: messages handed to the link and not yet gone
  from it (serialised, or dropped by a fault) at the end of the step, all sender instances.

Latency percentiles use the run's log-linear histogram buckets (:mod:`xedgesim.metrics`),
clamped to the step's exact minimum and maximum. A mailbox hands a flow's arrivals over in
time order, so a step's latencies are complete once an arrival of a later step is counted:
only the current step's bucket numbers are kept.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, TextIO

import numpy as np

from xedgesim.metrics import bucket_quantile
from xedgesim.sim.faults import ALWAYS_REPORTED, CAUSES

if TYPE_CHECKING:
    from xedgesim.metrics import FlowStats

NS_PER_S = 1_000_000_000
MAX_ROWS = 100_000
"""Rows per flow at most: one a second up to about 28 hours of virtual time, then coarser."""

def columns(causes: Iterable[str] = ALWAYS_REPORTED) -> tuple[str, ...]:
    """The header of ``timeseries.csv`` for a run that reports ``causes``."""
    return ("flow", "t_s", "sent", "delivered", *(f"lost_{cause}" for cause in causes),
            "latency_p50_ms", "latency_p95_ms", "queue")


def step_ns(duration_ns: int) -> int:
    """One second, or the fewest whole seconds that keep a run within ``MAX_ROWS`` steps."""
    seconds = -(-duration_ns // NS_PER_S)
    return NS_PER_S * max(1, -(-seconds // MAX_ROWS))


class FlowSeries:
    """Per-step counts of one flow (the ``series`` of a :class:`~xedgesim.metrics.FlowStats`).

    ``queue`` is tracked only for a bandwidth-limited link: elsewhere a message leaves the
    link the moment it is sent and the column is left empty.
    """

    def __init__(self, duration_ns: int, *, queue: bool = False) -> None:
        self.duration_ns = duration_ns
        self.step_ns = step_ns(duration_ns)
        self.rows = max(1, -(-duration_ns // self.step_ns))
        self.sent = np.zeros(self.rows, dtype=np.int64)
        self.delivered = np.zeros(self.rows, dtype=np.int64)
        self.lost: np.ndarray | None = None  # (cause, step), made at the first loss
        self.p50 = np.full(self.rows, math.nan)
        self.p95 = np.full(self.rows, math.nan)
        self.entered = np.zeros(self.rows, dtype=np.int64) if queue else None
        self.left = np.zeros(self.rows, dtype=np.int64) if queue else None
        self._open = -1  # the step whose latencies are being gathered
        self._buckets: list[np.ndarray] = []
        self._low = self._high = 0
        self.late = 0  # arrivals for a step already closed: none, if mailboxes keep time order

    def count_sent(self, times: np.ndarray) -> None:
        _add_by_step(self.sent, times, self.step_ns)

    def count_lost(self, times: np.ndarray, causes: np.ndarray) -> None:
        """``causes`` are the codes of ``CAUSES`` (1 for its first)."""
        if not len(times):
            return
        if self.lost is None:
            self.lost = np.zeros((len(CAUSES), self.rows), dtype=np.int64)
        step = np.minimum(times // self.step_ns, self.rows - 1)
        first, last = int(step.min()), int(step.max())
        if first == last:
            counts = np.bincount(causes, minlength=len(CAUSES) + 1)[1:]
            self.lost[:, first] += counts
            return
        np.add.at(self.lost, (causes.astype(np.int64) - 1, step), 1)

    def count_queue(self, entered: np.ndarray, left: np.ndarray) -> None:
        """Messages handed to the link at ``entered`` and gone from it at ``left``."""
        if self.entered is None or self.left is None:
            return
        _add_by_step(self.entered, entered, self.step_ns)
        gone = left[left < self.duration_ns]
        if len(gone):
            _add_by_step(self.left, gone, self.step_ns)

    def count_delivered(self, arrival: np.ndarray, latency: np.ndarray,
                        buckets: np.ndarray) -> None:
        """Arrivals with their latency and its histogram bucket (already computed for the
        flow's own histogram)."""
        if not len(arrival):
            return
        step = self.step_ns
        first, last = int(arrival.min()) // step, int(arrival.max()) // step
        if first == last:
            self.delivered[first] += len(arrival)
            self._gather(first, latency, buckets)
            return
        steps = arrival // step
        order = np.argsort(steps, kind="stable")
        steps, latency, buckets = steps[order], latency[order], buckets[order]
        cuts = np.flatnonzero(np.diff(steps)) + 1
        for begin, end in zip([0, *cuts.tolist()], [*cuts.tolist(), len(steps)], strict=True):
            at = int(steps[begin])
            self.delivered[at] += end - begin
            self._gather(at, latency[begin:end], buckets[begin:end])

    def _gather(self, at: int, latency: np.ndarray, buckets: np.ndarray) -> None:
        if at < self._open:
            self.late += len(latency)
            return
        low, high = int(latency.min()), int(latency.max())
        if at > self._open:
            self.close()
            self._open, self._low, self._high = at, low, high
        else:
            self._low, self._high = min(self._low, low), max(self._high, high)
        self._buckets.append(buckets.astype(np.int16))

    def close(self) -> None:
        """Work out the open step's percentiles (done as later arrivals come, and at the end)."""
        if not self._buckets:
            return
        counts = np.bincount(np.concatenate(self._buckets).astype(np.int64))
        total = int(counts.sum())
        self.p50[self._open] = bucket_quantile(counts, total, self._low, self._high, 0.50)
        self.p95[self._open] = bucket_quantile(counts, total, self._low, self._high, 0.95)
        self._buckets = []

    def queue(self) -> np.ndarray | None:
        """Messages on the link at the end of each step, or None where no queue is tracked."""
        if self.entered is None or self.left is None:
            return None
        return np.cumsum(self.entered) - np.cumsum(self.left)


def _add_by_step(column: np.ndarray, times: np.ndarray, step: int) -> None:
    if not len(times):
        return
    first = min(int(times.min()) // step, len(column) - 1)
    last = min(int(times.max()) // step, len(column) - 1)
    if first == last:
        column[first] += len(times)
        return
    steps = np.minimum(times // step, len(column) - 1) - first
    column[first:last + 1] += np.bincount(steps, minlength=last - first + 1)


def write_timeseries(handle: TextIO, flows: Iterable[FlowStats], duration_ns: int) -> None:
    """``timeseries.csv``: one row per flow (in the order given) and per step.

    A flow without a ``series`` (a run that did not keep a time series) has no rows.
    Percentiles of a step with no delivery and the queue of a link without bandwidth limit
    are empty fields. Every series must be the run's (``duration_ns``): one file, one clock.
    """
    flows = list(flows)
    reported = {cause for flow in flows for cause in flow.causes}
    causes = [cause for cause in CAUSES if cause in reported] if flows else ALWAYS_REPORTED
    rows_of_causes = [CAUSES.index(cause) for cause in causes]
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(columns(causes))
    empty_lost = [[0] * len(causes)]
    for flow in flows:
        series = flow.series
        if series is None:
            continue
        if series.duration_ns != duration_ns:
            raise ValueError(f"flow {flow.name}: its series covers {series.duration_ns} ns, "
                             f"the run {duration_ns} ns")
        series.close()
        seconds = series.step_ns // NS_PER_S
        lost = (series.lost[rows_of_causes].T.tolist() if series.lost is not None
                else empty_lost * series.rows)
        queue = series.queue()
        queue_column = queue.tolist() if queue is not None else [""] * series.rows
        writer.writerows(
            (flow.name, row * seconds, sent, delivered, *lost_row, _ms(p50), _ms(p95), waiting)
            for row, (sent, delivered, lost_row, p50, p95, waiting) in enumerate(zip(
                series.sent.tolist(), series.delivered.tolist(), lost, series.p50.tolist(),
                series.p95.tolist(), queue_column, strict=True))
        )


def _ms(ns: float) -> str | float:
    return "" if math.isnan(ns) else round(ns / 1e6, 3)
