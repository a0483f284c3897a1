"""One record format for every node kind: flow counters, latency histograms, node counters.

Latencies go into log-linear histograms (128 buckets per power of two, under 0.8 % relative
error) so a run of any length keeps a fixed memory footprint; min, max and mean stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from xedgesim.errors import NodeFailure
from xedgesim.sim.faults import ALWAYS_REPORTED, CAUSES

if TYPE_CHECKING:
    from xedgesim.timeseries import FlowSeries

INT64_MAX = int(np.iinfo(np.int64).max)
# Counters every node has, whatever its type and whatever happens in the run: nodes.csv and
# summary.json show them (zero when nothing was counted), so runs can be read side by side.
NODE_COUNTERS: tuple[str, ...] = (
    "sent", "delivered", "lost", "received", "retransmissions", "crashes", "restarts")

_SUB_BUCKETS = 128
_BUCKETS = (64 - 6) * _SUB_BUCKETS
_CHUNK = 1 << 16


def exact_sum(values: np.ndarray) -> int:
    """The sum of non-negative int64 ``values`` (counts, sizes, latencies) as a Python int:
    numpy's own sum wraps around silently.

    The fast sum is used when no partial sum can pass 2^63 - 1; otherwise Python adds them.
    """
    if len(values) == 0:
        return 0
    if int(values.max()) <= INT64_MAX // len(values):
        return int(values.sum())
    return sum(values.tolist())


def bucket_index(values: np.ndarray) -> np.ndarray:
    """The histogram bucket of each value (below ``_BUCKETS``).

    Worked out ``_CHUNK`` values at a time: a block of a million deliveries would otherwise
    need half a dozen temporaries of its size.
    """
    index = np.maximum(values, 0).astype(np.int64, copy=False)
    for start in range(0, len(index), _CHUNK):
        part = index[start:start + _CHUNK]  # a view: buckets are written in place
        large = part >= _SUB_BUCKETS
        if large.any():
            big = part[large]
            _, exponent = np.frexp(big.astype(np.float64))
            top = exponent.astype(np.int64) - 1  # floor(log2(v))
            top = np.where((np.int64(1) << top) > big, top - 1, top)  # guard float rounding up
            mantissa = big >> (top - 7)
            part[large] = (top - 6) * _SUB_BUCKETS + mantissa - _SUB_BUCKETS
    return index


def _bucket_middle(index: int) -> float:
    if index < _SUB_BUCKETS:
        return float(index)
    top, offset = divmod(index, _SUB_BUCKETS)
    shift = top + 6 - 7
    low = (offset + _SUB_BUCKETS) << shift
    return low + ((1 << shift) - 1) / 2


def _bucket_bounds(index: int) -> tuple[int, int]:
    if index < _SUB_BUCKETS:
        return index, index + 1
    top, offset = divmod(index, _SUB_BUCKETS)
    shift = top + 6 - 7
    low = (offset + _SUB_BUCKETS) << shift
    return low, low + (1 << shift)


def bucket_quantile(counts: np.ndarray, count: int, low: int, high: int, q: float) -> float:
    """Nearest-rank quantile of ``count`` values with these bucket ``counts``: the bucket's
    middle clamped to the exact ``low`` and ``high``."""
    if count == 0:
        return 0.0
    rank = max(1, int(np.ceil(q * count)))
    index = int(np.searchsorted(np.cumsum(counts), rank))
    return float(min(max(_bucket_middle(index), low), high))


class Histogram:
    """Counts of non-negative integers (nanoseconds) with exact count, sum, min and max."""

    def __init__(self) -> None:
        self.counts = np.zeros(_BUCKETS, dtype=np.int64)
        self.count = 0
        self.total = 0
        self.min = 0
        self.max = 0

    def add(self, values: np.ndarray, buckets: np.ndarray | None = None) -> None:
        """Count ``values``; ``buckets``, their ``bucket_index`` when the caller has it."""
        if len(values) == 0:
            return
        if buckets is None:
            buckets = bucket_index(values)
        self.counts += np.bincount(buckets, minlength=_BUCKETS)
        low, high = int(values.min()), int(values.max())
        self.min = low if self.count == 0 else min(self.min, low)
        self.max = max(self.max, high)
        self.count += len(values)
        self.total += exact_sum(values)

    def quantile(self, q: float) -> float:
        """Nearest-rank quantile, the bucket's middle clamped to the exact min and max."""
        return bucket_quantile(self.counts, self.count, self.min, self.max, q)

    def buckets(self) -> list[tuple[int, int, int]]:
        """``(low, high, count)`` of every bucket that counted something: values in
        ``[low, high)`` ns, in increasing order (latency.csv, the latency CDF)."""
        return [(*_bucket_bounds(index), int(self.counts[index]))
                for index in np.flatnonzero(self.counts).tolist()]

    def summary_ms(self) -> dict[str, float | int]:
        """Percentiles in milliseconds, rounded to the microsecond, for reports."""
        def ms(ns: float) -> float:
            return round(ns / 1e6, 3)

        return {
            "count": self.count,
            "mean": ms(self.total / self.count) if self.count else 0.0,
            "p50": ms(self.quantile(0.50)),
            "p95": ms(self.quantile(0.95)),
            "p99": ms(self.quantile(0.99)),
            "max": ms(self.max),
        }


@dataclass
class FlowStats:
    """Messages from one sender group to one receiver: the unit of every report.

    With a ``warmup_ns``, the counts and the latency histogram leave out the messages first
    sent before it (a steady-state estimate); the per-second ``series`` keeps the whole run.
    """

    sender: str
    receiver: str
    sent: int = 0
    delivered: int = 0
    delivered_bytes: int = 0
    retransmissions: int = 0
    causes: tuple[str, ...] = ALWAYS_REPORTED  # the run's (reported_causes), keys of ``lost``
    lost: dict[str, int] = field(default_factory=dict)
    latency: Histogram = field(default_factory=Histogram)
    series: FlowSeries | None = None  # per second (timeseries.csv), when the run keeps one
    warmup_ns: int = 0  # the scenario's ``warmup``
    # on a bandwidth-limited link: how long each transmission waited in its FIFO
    waiting: Histogram | None = None

    def __post_init__(self) -> None:
        for cause in self.causes:
            self.lost.setdefault(cause, 0)

    @property
    def name(self) -> str:
        return f"{self.sender}->{self.receiver}"

    def in_flight(self) -> int:
        return self.sent - self.delivered - sum(self.lost.values())

    def _measured(self, first_sent: np.ndarray) -> np.ndarray | None:
        """Which rows the counts take (first sent at or after the warmup), or None for all:
        without a warmup no row is ever looked at."""
        if not self.warmup_ns:
            return None
        measured = first_sent >= self.warmup_ns
        return None if measured.all() else measured

    def count_sent(self, sent: np.ndarray) -> None:
        """First transmissions, at their times."""
        if self.series is not None:
            self.series.count_sent(sent)
        measured = self._measured(sent)
        self.sent += len(sent) if measured is None else int(np.count_nonzero(measured))

    def count_retransmissions(self, first_sent: np.ndarray) -> None:
        """Retries of messages first sent at these times."""
        measured = self._measured(first_sent)
        self.retransmissions += (len(first_sent) if measured is None
                                 else int(np.count_nonzero(measured)))

    def count_lost(self, sent: np.ndarray, causes: np.ndarray, first_sent: np.ndarray) -> None:
        """Losses (codes of ``CAUSES``, 1 for its first), at the time of the attempt; the
        message was first sent at ``first_sent``."""
        if self.series is not None:
            self.series.count_lost(sent, causes)
        measured = self._measured(first_sent)
        counts = np.bincount(causes if measured is None else causes[measured],
                             minlength=len(CAUSES) + 1)
        for code, name in enumerate(CAUSES, start=1):
            if counts[code]:
                if name not in self.lost:
                    raise ValueError(f"flow {self.name}: lost to {name!r}, a cause its run "
                                     f"does not report ({', '.join(self.causes)})")
                self.lost[name] += int(counts[code])

    def count_delivered(self, arrival: np.ndarray, first_sent: np.ndarray,
                        size: np.ndarray) -> None:
        latency = arrival - first_sent
        buckets = bucket_index(latency)
        if self.series is not None:
            self.series.count_delivered(arrival, latency, buckets)
        measured = self._measured(first_sent)
        if measured is not None:
            latency, buckets, size = latency[measured], buckets[measured], size[measured]
        self.delivered += len(latency)
        self.delivered_bytes += exact_sum(size)
        self.latency.add(latency, buckets)

    def count_queue(self, entered: np.ndarray, left: np.ndarray) -> None:
        """Messages that entered a bandwidth-limited link's queue and when they left it."""
        if self.series is not None:
            self.series.count_queue(entered, left)

    def count_waited(self, waited: np.ndarray, first_sent: np.ndarray) -> None:
        """How long transmissions on a bandwidth-limited link waited before they started, of
        messages first sent at ``first_sent`` (after the warmup, if there is one)."""
        if self.waiting is not None:
            measured = self._measured(first_sent)
            self.waiting.add(waited if measured is None else waited[measured])


class NodeCounters:
    """Named integer counters for each instance of a node group (rows of ``nodes.csv``).

    Counters are int64 and never wrap: an addition that would pass 2^63 - 1 stops the run with
    a ``NodeFailure`` naming the node and the counter. (Counting one per event cannot get
    there; adding amounts, such as the readings behind aggregates, can.)
    """

    def __init__(self, node: str, count: int) -> None:
        self.node = node
        self.count = count
        self.values: dict[str, np.ndarray] = {}

    def declare(self, names: tuple[str, ...]) -> None:
        """Counters that exist from the start, at zero, even if nothing is ever counted."""
        for name in names:
            self.values.setdefault(name, np.zeros(self.count, dtype=np.int64))

    def add(self, name: str, local: np.ndarray | int, amount: np.ndarray | int = 1) -> None:
        column = self.values.get(name)
        if column is None:
            column = self.values[name] = np.zeros(self.count, dtype=np.int64)
        if isinstance(local, (int, np.integer)):
            total = int(column[local]) + int(amount)
            if total > INT64_MAX:
                raise self._overflow(name, total)
            column[local] = total
        elif isinstance(amount, int) and amount == 1 and len(local) * 8 > self.count:
            column += np.bincount(local, minlength=self.count)
        elif isinstance(amount, int) and amount == 1:
            np.add.at(column, local, 1)
        else:
            self._add_checked(name, column, local, amount)

    def _add_checked(self, name: str, column: np.ndarray, local: np.ndarray,
                     amount: np.ndarray | int) -> None:
        amounts = np.broadcast_to(np.asarray(amount, dtype=np.int64), local.shape)
        if len(local) == 0:
            return
        if int(column.max()) + exact_sum(amounts) <= INT64_MAX:
            np.add.at(column, local, amounts)
            return
        totals = column.tolist()
        for where, more in zip(local.tolist(), amounts.tolist(), strict=True):
            totals[where] += more
        if max(totals) > INT64_MAX:
            raise self._overflow(name, max(totals))
        column[:] = totals

    def _overflow(self, name: str, total: int) -> NodeFailure:
        return NodeFailure(
            f"node {self.node!r}: its counter {name!r} would reach {total:,}, past "
            f"{INT64_MAX:,}, the largest a counter holds; a count this large usually means "
            "messages feed back on themselves (gateways republishing each other's aggregates "
            "through a broker)")
