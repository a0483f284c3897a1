"""A sensor fleet's traffic beyond the fixed and periodic: payload sizes drawn per message,
and the on/off and trace-driven arrival processes, each generated a window at a time for the
whole fleet like the sensor's own periodic and Poisson emissions (xedgesim/models/sensor.py).

Each object exists only when its scenario key is used, and draws from its own streams
(``node:<id>:size``, ``:on``, ``:off``; ``:gaps`` and ``:phase`` as a Poisson sensor does):
a fleet that does not use it draws and computes nothing more than before. Every instance's
draws come in its own order of events, so how emissions are cut into windows never changes
a result. Semantics: docs/simulation.md, "Arrival processes" and "Payload sizes".
"""

from __future__ import annotations

import numpy as np

from xedgesim.scenario.model import Distribution, OnOff, Publishing, SensorParams, Trace
from xedgesim.sim.distributions import sample
from xedgesim.sim.streams import RandomStreams

_NONE = np.empty(0, np.int64)


class PayloadSizes:
    """Sizes drawn per emission from ``payload: {<distribution>: …}``, in whole bytes.

    A draw x (a normal conditioned on x >= 0, as link jitter is) becomes ⌈x⌉ bytes, at least
    1: an exponential of mean m gives the geometric sizes P(k) = e^(−(k−1)/m)(1 − e^(−1/m)),
    k >= 1. The largest size a distribution can draw is bounded at load
    (``MAX_DRAWN_PAYLOAD_BYTES``), so no draw is clipped at the top.
    """

    def __init__(self, sizes: Distribution, streams: RandomStreams, node_id: str,
                 count: int) -> None:
        self.sizes = sizes
        self._stream = streams.node(node_id, "size", count)

    @classmethod
    def of(cls, publish: Publishing, streams: RandomStreams, node_id: str,
           count: int) -> PayloadSizes | None:
        """The sizes of a sensor whose payload is drawn; None for a fixed payload."""
        if publish.payload_size is None:
            return None
        return cls(publish.payload_size, streams, node_id, count)

    def draw(self, instances: np.ndarray) -> np.ndarray:
        """One size per emission of ``instances`` (int64 bytes)."""
        draws = sample(self.sizes, self._stream.uniform(instances), truncate_at_zero=True)
        np.ceil(draws, out=draws)
        return np.maximum(draws, 1.0).astype(np.int64)


class OnOffArrivals:
    """An interrupted Poisson process per instance: exponential on periods (mean ``on_ns``)
    and off periods (mean ``off_ns``) in turn; while on, exponential gaps of mean ``interval``.

    State per instance: ``on_end``, the end of the on period the instance is in or last
    entered, and ``next_time``, its next arrival when that is before ``on_end``. A gap that
    would cross ``on_end`` is dropped and a fresh one drawn from the next on period's start:
    exponential gaps are memoryless, so that is the same process. Periods are entered only up
    to the window being generated, so a very long run of short cycles costs per window, not
    all at once.
    """

    def __init__(self, on_off: OnOff, params: SensorParams, streams: RandomStreams,
                 node_id: str, count: int) -> None:
        self._gap_mean = Distribution("exponential", (float(params.interval_ns),))
        self._on_mean = Distribution("exponential", (float(on_off.on_ns),))
        self._off_mean = Distribution("exponential", (float(on_off.off_ns),))
        self._gaps = streams.node(node_id, "gaps", count)
        self._on = streams.node(node_id, "on", count)
        self._off = streams.node(node_id, "off", count)
        everyone = np.arange(count)
        if params.phase == "random":
            # Stationary start: on with probability on / (on + off), for the rest of a period
            # (exponential: the residual of a period in progress has the period's law).
            start_on = (streams.node(node_id, "phase", count).uniform(everyone)
                        < on_off.on_ns / (on_off.on_ns + on_off.off_ns))
            start = np.zeros(count, dtype=np.int64)
            off = np.flatnonzero(~start_on)
            start[off] = self._draw(self._off_mean, self._off, off)
        else:
            start = np.full(count, params.phase, dtype=np.int64)
        self.on_end = start + self._draw(self._on_mean, self._on, everyone)
        self.next_time = start + self._draw(self._gap_mean, self._gaps, everyone)

    @staticmethod
    def _draw(mean: Distribution, stream, instances: np.ndarray) -> np.ndarray:
        return np.rint(sample(mean, stream.uniform(instances))).astype(np.int64)

    def _settle(self, who: np.ndarray, end: int) -> None:
        """Move each of ``who`` whose next gap crossed its on period, and whose period ended
        before ``end``, through off and on periods until an arrival falls inside one or the
        next on period starts at or after ``end``."""
        who = who[(self.next_time[who] >= self.on_end[who]) & (self.on_end[who] < end)]
        while len(who):
            start = self.on_end[who] + self._draw(self._off_mean, self._off, who)
            self.on_end[who] = start + self._draw(self._on_mean, self._on, who)
            self.next_time[who] = start + self._draw(self._gap_mean, self._gaps, who)
            who = who[(self.next_time[who] >= self.on_end[who]) & (self.on_end[who] < end)]

    def due(self, end: int) -> tuple[np.ndarray, np.ndarray]:
        """Every (instance, time) arrival before ``end``, ordered by time then instance."""
        self._settle(np.arange(len(self.next_time)), end)
        due = np.flatnonzero(self.next_time < end)
        instances, times = [], []
        while len(due):
            instances.append(due)
            times.append(self.next_time[due].copy())
            self.next_time[due] += self._draw(self._gap_mean, self._gaps, due)
            self._settle(due, end)
            due = due[self.next_time[due] < end]
        return _in_order(instances, times)


class TraceArrivals:
    """Emission times replayed from a trace: every instance emits at every row's time, or,
    with an ``instance`` column, each row is one emission of the instance it names."""

    def __init__(self, trace: Trace, count: int) -> None:
        self.times = np.frombuffer(trace.times_ns, dtype=np.int64)
        self.instances = (None if trace.instances is None
                          else np.frombuffer(trace.instances, dtype=np.int64))
        self.count = count
        self._row = 0  # the first row not yet emitted

    def due(self, end: int) -> tuple[np.ndarray, np.ndarray]:
        """The rows before ``end`` not yet emitted, ordered by time then instance."""
        first, self._row = self._row, int(np.searchsorted(self.times, end, side="left"))
        times = self.times[first:self._row]
        if not len(times):
            return _NONE, _NONE
        ordered = bool((times[1:] > times[:-1]).all())  # rows of one time need sorting
        if self.instances is not None:
            instances = self.instances[first:self._row]
        else:
            instances = np.tile(np.arange(self.count, dtype=np.int64), len(times))
            times = np.repeat(times, self.count)
        if ordered:
            return instances, times
        order = np.lexsort((instances, times))
        return instances[order], times[order]


def arrivals_of(params: SensorParams, streams: RandomStreams, node_id: str,
                count: int) -> OnOffArrivals | TraceArrivals | None:
    """The arrival process of an ``on_off`` or ``trace`` sensor; None for the sensor's own
    periodic and Poisson processes."""
    if isinstance(params.arrivals, OnOff):
        return OnOffArrivals(params.arrivals, params, streams, node_id, count)
    if isinstance(params.arrivals, Trace):
        return TraceArrivals(params.arrivals, count)
    return None


def _in_order(instances: list[np.ndarray],
              times: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    if not instances:
        return _NONE, _NONE
    instance_array, time_array = np.concatenate(instances), np.concatenate(times)
    order = np.lexsort((instance_array, time_array))
    return instance_array[order], time_array[order]
