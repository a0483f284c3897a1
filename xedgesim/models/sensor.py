"""A sensor fleet: ``count`` sensors emitting readings, simulated as vectors.

Emissions are generated one window (one ``interval``) at a time for the whole fleet: the times,
the readings and, on the link, the losses and latencies are drawn for every sensor at once.
Each sensor instance has its own random streams, so the result equals sensor-by-sensor
simulation; the fleet is just the fast way to compute it.
"""

from __future__ import annotations

import numpy as np

from xedgesim.errors import NodeFailure
from xedgesim.models.base import Node, SimContext
from xedgesim.models.traffic import PayloadSizes, arrivals_of
from xedgesim.scenario.model import Distribution, NodeSpec, SensorParams
from xedgesim.sim.distributions import sample
from xedgesim.sim.kernel import TIMER
from xedgesim.sim.messages import MessageBatch
from xedgesim.sim.service import DeviceProcessing, ProcessingStats
from xedgesim.sim.streams import RandomStreams


class SensorFleet(Node):
    counter_names = ("suppressed_while_down",)

    def __init__(self, spec: NodeSpec, context: SimContext) -> None:
        super().__init__(spec, context)
        params: SensorParams = spec.params  # type: ignore[assignment]
        self.params = params
        publish = params.publish
        count, seed = spec.count, context.scenario.seed
        self.link = context.network.link(spec.id, publish.to, publish.retry_interval_ns,
                                         publish.max_retries)
        self.topic_ids = context.topics.intern_fleet(publish.topic, spec.instance_ids)
        streams = RandomStreams(seed)
        self._values = streams.node(spec.id, "value", count)
        self._gaps = streams.node(spec.id, "gaps", count) if params.process == "poisson" else None
        self._gap_distribution = Distribution("exponential", (float(params.interval_ns),))
        self._sizes = PayloadSizes.of(publish, streams, spec.id, count)
        self._arrivals = arrivals_of(params, streams, spec.id, count)
        if self._arrivals is None:
            self._first_times(streams, count)
        # One window of emissions goes out at once; with QoS 1 it must be shorter than the
        # retry interval, so no retry can fall due inside a window already sent.
        self.window_ns = params.interval_ns
        if publish.qos > 0:
            self.window_ns = min(self.window_ns, publish.retry_interval_ns)
        self._may_be_down = context.timeline.has_node_outages(spec.id)
        self._device: DeviceProcessing | None = None  # compute: {at: device}
        if params.compute is not None and params.compute.at == "device":
            stats = context.processing.setdefault(spec.id, ProcessingStats())
            self._device = DeviceProcessing(spec.id, self.group.first, count, params.compute,
                                            streams, context.timeline, context.kernel.until,
                                            self.counters, stats)

    def _first_times(self, streams: RandomStreams, count: int) -> None:
        """Each instance's first emission, for the periodic and Poisson processes."""
        params = self.params
        everyone = np.arange(count)
        if params.phase != "random":
            self.next_time = np.full(count, params.phase, dtype=np.int64)
        elif self._gaps is not None:
            self.next_time = self._gap(everyone)  # a Poisson process already in its steady state
        else:
            phase = streams.node(self.id, "phase", count).uniform(everyone)
            self.next_time = (phase * params.interval_ns).astype(np.int64)
        self._phase_order = np.argsort(self.next_time, kind="stable")

    def start(self) -> None:
        self.context.kernel.schedule(0, TIMER, self._emit_window)

    def _gap(self, instances: np.ndarray) -> np.ndarray:
        """Poisson process: exponential inter-arrival times with mean ``interval``."""
        gaps = sample(self._gap_distribution, self._gaps.uniform(instances))
        return np.rint(gaps).astype(np.int64)

    def _due(self, end: int) -> tuple[np.ndarray, np.ndarray]:
        """Every (instance, time) emission before ``end``, ordered by time then instance."""
        if self._arrivals is not None:
            return self._arrivals.due(end)
        interval = self.params.interval_ns
        due = np.flatnonzero(self.next_time < end)
        if len(due) == len(self.next_time) and self._gaps is None:
            # The steady periodic case: everyone emits once, in phase order.
            ordered = self._phase_order
            times = self.next_time[ordered]
            self.next_time += interval
            if int(self.next_time.min()) >= end:
                return ordered, times
            self.next_time -= interval
            due = ordered
        instances, times = [], []
        while len(due):
            instances.append(due)
            times.append(self.next_time[due].copy())
            self.next_time[due] += interval if self._gaps is None else self._gap(due)
            due = due[self.next_time[due] < end]
        if not instances:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        instance_array, time_array = np.concatenate(instances), np.concatenate(times)
        order = np.lexsort((instance_array, time_array))
        return instance_array[order], time_array[order]

    def _emit_window(self, _: object) -> int:
        kernel = self.context.kernel
        start = kernel.now
        end = min(start + self.window_ns, kernel.until)
        instances, times = self._due(end)
        if end < kernel.until:
            kernel.schedule(end, TIMER, self._emit_window)
        if not len(instances):
            if self._device is not None:
                self._send(self._device.process(None, end))
            return 0
        with np.errstate(over="ignore", invalid="ignore"):
            values = sample(self.params.value, self._values.uniform(instances))
        if not np.isfinite(values).all():
            bad = values[~np.isfinite(values)][0]
            raise NodeFailure(f"node {self.id!r} at {start / 1e9:g} s: a reading drawn from "
                              f"its value distribution is {bad}, not a finite number")
        publish = self.params.publish
        sizes = publish.payload_bytes if self._sizes is None else self._sizes.draw(instances)
        if self._may_be_down:
            down = self.context.timeline.node_down(self.id, instances, times)
            if down.any():
                self.counters.add("suppressed_while_down", instances[down])
                instances, times, values = instances[~down], times[~down], values[~down]
                if self._sizes is not None:
                    sizes = sizes[~down]
        batch = MessageBatch.readings(
            ids=self.context.message_ids(len(instances)),
            src=instances + self.group.first,
            topic=self.topic_ids.of(instances),
            times=times,
            values=values,
            size=sizes,
            qos=publish.qos,
            retain=publish.retain,
        )
        self._send(batch if self._device is None else self._device.process(batch, end))
        return len(instances)

    def _send(self, batch: MessageBatch | None) -> None:
        if batch is not None:
            self.link.send(batch)
