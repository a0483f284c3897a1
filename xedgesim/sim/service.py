"""Processing queues: a FIFO in front of ``c`` identical servers, in exact integer nanoseconds.

A node with ``service:`` (and a gateway or cloud node that runs a sensor's ``compute:``)
handles a message when its processing ends, not when it arrives: ``ServiceStage`` sits between
its mailbox and it. A sensor with ``compute: {at: device}`` processes each reading itself, one
at a time, before sending it: ``DeviceProcessing``. Both compute every message's start and end
with ``fifo``, from one processing time per message drawn from the processing node's stream
``node:<id>:service`` in arrival order (docs/simulation.md, "Processing time").

A crash loses what is queued or being processed: every message in the node at the crash (its
processing not ended before it) is discarded, counted as ``discarded_in_processing``, and the
servers are idle when the node comes back. Faults are known in advance, so a message's fate is
decided when it joins the queue, as on a link.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from xedgesim.metrics import Histogram, NodeCounters
from xedgesim.scenario.model import Compute, Distribution
from xedgesim.sim.distributions import sample
from xedgesim.sim.faults import FaultTimeline
from xedgesim.sim.kernel import NEVER
from xedgesim.sim.messages import MessageBatch, arrival_order
from xedgesim.sim.network import SATURATED_NS, fifo_per_instance, take_before
from xedgesim.sim.streams import RandomStreams

# What a node that processes counts (nodes.csv): only such nodes have these columns.
PROCESSING_COUNTERS = ("processed", "processing_energy_pj", "discarded_in_processing")


def fifo(arrival: np.ndarray, work: np.ndarray, free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of each message's processing, in arrival order, FIFO over the servers
    whose free times are ``free`` (updated in place).

    A message starts at its arrival or when the earliest-free server frees, whichever is
    later, and ends ``work`` later. Which server takes it does not change any time (they are
    identical), so the result is unique; equal ends are handed over by message id. With one
    server this is Lindley's recursion, computed as a vector:
    ``start_i = S_(i-1) + max(free, max_(j<=i) (a_j - S_(j-1)))`` with ``S`` the running sum
    of the work. An end that would pass ``SATURATED_NS`` (a queue far beyond the run) stays
    there, as on a link, so time never wraps.
    """
    count = len(arrival)
    if count == 0:
        return arrival.copy(), arrival.copy()
    if len(free) == 1 and int(work.max()) * count + max(int(arrival[-1]), int(free[0])) \
            < SATURATED_NS:
        done_before = np.cumsum(work)
        done_before -= work
        start = arrival - done_before
        np.maximum.accumulate(start, out=start)
        np.maximum(start, free[0], out=start)
        start += done_before
        end = start + work
        free[0] = end[-1]
        return start, end
    servers = free.tolist()
    heapq.heapify(servers)
    starts, ends = [], []
    for when, took in zip(arrival.tolist(), work.tolist(), strict=True):
        begin = max(when, servers[0])
        done = min(begin, SATURATED_NS - took) + took
        heapq.heapreplace(servers, done)
        starts.append(begin)
        ends.append(done)
    free[:] = sorted(servers)
    return np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64)


@dataclass
class ProcessingStats:
    """Per processing node: time waiting in the queue and from arrival to end (``response``),
    of every message whose processing ended within the run (summary.json ``processing_ms``)."""

    waiting: Histogram = field(default_factory=Histogram)
    response: Histogram = field(default_factory=Histogram)

    def count(self, arrival: np.ndarray, start: np.ndarray, end: np.ndarray) -> None:
        self.waiting.add(start - arrival)
        self.response.add(end - arrival)

    def summary_ms(self) -> dict[str, dict[str, float | int]]:
        return {"waiting": self.waiting.summary_ms(), "response": self.response.summary_ms()}


def _draw(distribution: Distribution, uniforms: np.ndarray) -> np.ndarray:
    """Processing times in whole nanoseconds, never negative (a normal is truncated at 0)."""
    draws = sample(distribution, uniforms, truncate_at_zero=True)
    return np.rint(draws).astype(np.int64)


class ServiceStage:
    """The processing queue of one receiving node (a gateway, broker or cloud node: one
    instance).

    Each message takes its sensor's ``compute`` time when its topic is one of a sensor whose
    readings this node processes (``duties``: the topic ids of each such sensor and its
    ``Compute``; a topic two sensors share is processed as the first's), else a draw of the
    node's own ``service`` time, or no time when it has none.
    """

    def __init__(
        self,
        node_id: str,
        service: Distribution | None,
        servers: int,
        duties: list[tuple[np.ndarray, Compute]],
        streams: RandomStreams,
        timeline: FaultTimeline,
        until: int,
        counters: NodeCounters,
        stats: ProcessingStats,
    ) -> None:
        self.node_id = node_id
        self.until = until
        self.timeline = timeline
        self.counters = counters
        self.stats = stats
        counters.declare(PROCESSING_COUNTERS)
        self._stream = streams.node(node_id, "service", 1)
        self._free = np.zeros(servers, dtype=np.int64)
        self._times = [service] + [compute.time for _, compute in duties]
        self._energy = np.array([0] + [compute.energy_pj for _, compute in duties],
                                dtype=np.int64)
        self._duty: np.ndarray | None = None  # topic id -> 1 + duty, 0 for the node's own
        if duties:
            self._duty = np.zeros(1 + max(int(ids.max()) for ids, _ in duties), dtype=np.int64)
            for number in reversed(range(len(duties))):
                self._duty[duties[number][0]] = number + 1
        self._may_crash = timeline.has_node_outages(node_id)
        self._before_crash = NEVER  # the crash that ends the servers' current busy stretch
        self._chunks: list[MessageBatch] = []  # processed, by (end, id), ``arrival`` = end

    def admit(self, arrived: MessageBatch) -> None:
        """The arrivals of one block (in (arrival, id) order) join the queue."""
        uniforms = self._stream.uniform(np.zeros(len(arrived), dtype=np.intp))
        kind = self._kind(arrived.topic)
        work = np.zeros(len(arrived), dtype=np.int64)
        for number, time in enumerate(self._times):
            rows = kind == number
            if time is not None and rows.any():
                work[rows] = _draw(time, uniforms[rows])
        start, end, discarded = self._serve(arrived.arrival, work)
        if discarded is not None:
            self.counters.add("discarded_in_processing", 0, int(discarded.sum()))
        handled = end < self.until if discarded is None else (end < self.until) & ~discarded
        rows = np.flatnonzero(handled)
        if not len(rows):
            return
        self.stats.count(arrived.arrival[rows], start[rows], end[rows])
        self.counters.add("processed", 0, len(rows))
        energy = int(self._energy[kind[rows]].sum()) if self._duty is not None else 0
        if energy:
            self.counters.add("processing_energy_pj", 0, energy)
        order = arrival_order(end[rows], arrived.id[rows])
        if order is not None:
            rows = rows[order]
        self._chunks.append(arrived.select(rows).copy_with(arrival=end[rows]))

    def done_before(self, bound: int) -> MessageBatch | None:
        """The messages whose processing ends before ``bound``, in (end, id) order."""
        done, self._chunks = take_before(self._chunks, bound)
        return done

    def earliest(self) -> int:
        return min((int(chunk.arrival[0]) for chunk in self._chunks), default=NEVER)

    def _kind(self, topic: np.ndarray) -> np.ndarray:
        """Per message: 0 for the node's own service time, 1 + the duty whose readings it is."""
        if self._duty is None:
            return np.zeros(len(topic), dtype=np.int64)
        known = topic < len(self._duty)
        return np.where(known, self._duty[np.where(known, topic, 0)], 0)

    def _serve(self, arrival: np.ndarray,
               work: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Start and end of each message, and which a crash discards (None: the node never
        goes down).

        The messages between two crashes are one busy stretch of the servers: each is
        discarded if its processing has not ended before the next crash after its arrival;
        after a crash the servers are idle (what arrives while the node is down is lost on
        the link, so the next arrival comes after the restart).
        """
        if not self._may_crash:
            start, end = fifo(arrival, work, self._free)
            return start, end, None
        next_crash = self.timeline.first_crash(
            self.node_id, np.zeros(len(arrival), dtype=np.int64), arrival,
            np.full(len(arrival), NEVER, dtype=np.int64))
        start = np.empty(len(arrival), dtype=np.int64)
        end = np.empty(len(arrival), dtype=np.int64)
        bounds = np.flatnonzero(np.r_[True, next_crash[1:] != next_crash[:-1], True])
        for first, stop in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            crash = int(next_crash[first])
            if crash != self._before_crash:  # a crash came since the last message
                self._free[:] = 0
                self._before_crash = crash
            start[first:stop], end[first:stop] = fifo(arrival[first:stop], work[first:stop],
                                                      self._free)
        return start, end, end >= next_crash


class DeviceProcessing:
    """A sensor fleet's ``compute: {at: device}``: each instance processes its readings one
    at a time, in the order it measured them, and sends each when its processing ends.

    The fleet hands over each window's readings; those whose processing ends inside the
    window are sent in it, by (end, id), the rest are held for the window they end in. So a
    window's sends stay inside the window, as the link requires (one retry interval at most).
    """

    def __init__(self, node_id: str, first: int, count: int, compute: Compute,
                 streams: RandomStreams, timeline: FaultTimeline, until: int,
                 counters: NodeCounters, stats: ProcessingStats) -> None:
        self.node_id = node_id
        self.first = first  # global index of instance 0 (messages carry global ``src``)
        self.compute = compute
        self.timeline = timeline
        self.until = until
        self.counters = counters
        self.stats = stats
        counters.declare(PROCESSING_COUNTERS)
        self._stream = streams.node(node_id, "service", count)
        self._free = np.zeros(count, dtype=np.int64)
        self._may_crash = timeline.has_node_outages(node_id)
        self._held: list[MessageBatch] = []  # processed, by (end, id), sent = arrival = end

    def process(self, readings: MessageBatch | None, end_of_window: int) -> MessageBatch | None:
        """Queue ``readings`` (fresh, by (time, id)); what to send before ``end_of_window``."""
        if readings is not None and len(readings):
            self._queue(readings)
        due, self._held = take_before(self._held, end_of_window)
        return due

    def _queue(self, readings: MessageBatch) -> None:
        """One server per instance: Lindley's recursion for all instances at once, a step per
        reading an instance has in the batch (one, for a periodic sensor)."""
        local = readings.src - self.first
        measured = readings.origin
        work = _draw(self.compute.time, self._stream.uniform(local))
        discarded = np.zeros(len(local), dtype=bool)

        def crashed(rows: np.ndarray, who: np.ndarray, _: np.ndarray,
                    done: np.ndarray) -> np.ndarray:
            """A crash discards the reading in processing: the device is idle from then on."""
            crash = self.timeline.first_crash(self.node_id, who, measured[rows], done + 1)
            hit = crash != NEVER
            discarded[rows] = hit
            return np.where(hit, crash, done)

        start, end = fifo_per_instance(local, measured, self._free,
                                       lambda rows, _: work[rows],
                                       crashed if self._may_crash else None)
        if discarded.any():
            self.counters.add("discarded_in_processing", local[discarded])
        rows = np.flatnonzero(~discarded & (end < self.until))
        if not len(rows):
            return
        self.stats.count(measured[rows], start[rows], end[rows])
        self.counters.add("processed", local[rows])
        if self.compute.energy_pj:
            self.counters.add("processing_energy_pj", local[rows], self.compute.energy_pj)
        order = arrival_order(end[rows], readings.id[rows])
        if order is not None:
            rows = rows[order]
        ends = end[rows]
        self._held.append(readings.select(rows).copy_with(first_sent=ends, sent=ends,
                                                          arrival=ends))
