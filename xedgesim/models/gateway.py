"""A gateway: collects readings over a window and forwards one aggregate upstream.

``GatewayLogic`` is the behaviour with no notion of how time passes or how messages move; the
simulation drives it here (``GatewayNode``) and the MQTT service drives the very same class
inside the gateway image.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from xedgesim.errors import NodeFailure
from xedgesim.metrics import INT64_MAX, exact_sum
from xedgesim.models.base import Node, SimContext
from xedgesim.models.topics import render
from xedgesim.scenario.model import GatewayParams, NodeSpec
from xedgesim.sim.kernel import TIMER
from xedgesim.sim.messages import MessageBatch, is_constant


@dataclass(frozen=True)
class Aggregate:
    count: int  # readings behind it
    mean: float
    minimum: float
    maximum: float
    oldest_origin_ns: int  # when its oldest reading was measured: the basis of end-to-end latency


class GatewayLogic:
    """Running count, sum, min, max and oldest origin of the readings of the current window.

    Inputs may themselves be aggregates (``counts`` > 1), so gateways can be chained. Inputs
    are added a block at a time; the same blocks in the same order give bit-identical results.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> int:
        """Forget the current window; returns how many readings were discarded."""
        discarded = getattr(self, "count", 0)
        self.count = 0
        self.total = 0.0
        self.minimum = float("inf")
        self.maximum = float("-inf")
        self.oldest_origin_ns: int | None = None
        return discarded

    def add(
        self,
        means: np.ndarray,
        minimums: np.ndarray,
        maximums: np.ndarray,
        counts: np.ndarray,
        origins: np.ndarray,
    ) -> None:
        """Add a block of inputs; ``OverflowError`` when the window's count or sum cannot be
        held (more than 2^63 - 1 readings, or a sum beyond the largest float), never a wrap."""
        if len(means) == 0:
            return
        count = self.count + exact_sum(counts)
        if count > INT64_MAX:
            raise OverflowError(
                f"its window holds {count:,} readings, more than the {INT64_MAX:,} a message "
                "can carry; counts that grow like this mean aggregates feed back on themselves "
                "(a gateway that subscribes to what it or another gateway republishes)")
        # fsum is exactly rounded, so the result does not depend on the numpy or BLAS build:
        # the same inputs give the same bits in-process and inside the gateway image.
        weighted = means
        if not (is_constant(counts) and counts[0] == 1):  # single readings weigh one each
            with np.errstate(over="ignore", invalid="ignore"):
                weighted = means * counts
        try:
            total = self.total + exact_sum_of_floats(weighted)
        except (OverflowError, ValueError):
            total = math.inf
        if not math.isfinite(total):
            largest = float(np.max(np.abs(means)))
            raise OverflowError(
                f"the sum of its window's readings is not a finite number (readings near "
                f"{largest:.3g}; the largest float is {sys.float_info.max:.3g})")
        self.count = count
        self.total = total
        self.minimum = min(self.minimum, float(minimums.min()))
        self.maximum = max(self.maximum, float(maximums.max()))
        oldest = int(origins.min())
        if self.oldest_origin_ns is None or oldest < self.oldest_origin_ns:
            self.oldest_origin_ns = oldest

    def flush(self) -> Aggregate | None:
        """The aggregate of the window that just ended (None if it was empty); starts a new one."""
        if self.count == 0:
            return None
        aggregate = Aggregate(self.count, self.total / self.count, self.minimum, self.maximum,
                              self.oldest_origin_ns or 0)
        self.reset()
        return aggregate


def exact_sum_of_floats(values: np.ndarray) -> float:
    """``math.fsum(values)``, the correctly rounded sum, several times faster for a block of
    readings.

    Each float is a 53-bit integer times a power of two (``frexp``). When the powers span at
    most 8 octaves, the integers shifted to the lowest power fit in 61 bits and are summed
    exactly in int64 (in 31-bit halves, which cannot overflow); ``float()`` of the Python
    integer total rounds it once, half to even, as fsum does. Other blocks (wide ranges,
    non-finite values, a zero or subnormal total) go to fsum itself.
    """
    if not 0 < len(values) < 1 << 31 or not np.isfinite(values).all():
        return math.fsum(_floats(values))
    mantissas, exponents = np.frexp(values)
    low = int(exponents.min())
    if int(exponents.max()) - low > 8:
        return math.fsum(_floats(values))
    mantissas *= 2.0**53
    ints = mantissas.astype(np.int64)  # exact
    ints <<= exponents - low
    tops = ints >> 31
    total = (int(tops.sum()) << 31) + int((ints - (tops << 31)).sum())
    if total == 0 or not -1000 < low - 53 + total.bit_length() < 1000:
        return math.fsum(_floats(values))
    return math.ldexp(float(total), low - 53)


def _floats(values: np.ndarray) -> Iterator[float]:
    """The values as Python floats, 64k at a time: ``fsum`` takes them 5x faster than numpy
    scalars, and a million at once would be a 32 MB list."""
    for start in range(0, len(values), 1 << 16):
        yield from values[start:start + (1 << 16)].tolist()


class GatewayNode(Node):
    counter_names = ("readings_in", "readings_discarded_on_crash", "empty_windows",
                     "aggregates_sent")

    def __init__(self, spec: NodeSpec, context: SimContext) -> None:
        super().__init__(spec, context)
        params: GatewayParams = spec.params  # type: ignore[assignment]
        self.params = params
        self.logic = GatewayLogic()
        self.link = None
        self.topic_id = -1
        if params.publish is not None:
            publish = params.publish
            self.link = context.network.link(spec.id, publish.to, publish.retry_interval_ns,
                                             publish.max_retries)
            self.topic_id = context.topics.intern(render(publish.topic, spec.id, 0))

    def start(self) -> None:
        self.context.kernel.schedule(self.params.aggregate_every_ns, TIMER, self._window_ends)

    def receive(self, block: MessageBatch) -> None:
        try:
            self.logic.add(block.value, block.vmin, block.vmax, block.n, block.origin)
        except OverflowError as error:
            raise NodeFailure(f"node {self.id!r} at {self.context.kernel.now / 1e9:g} s: "
                              f"{error}") from None
        self.counters.add("readings_in", 0, exact_sum(block.n))

    def crashed(self, instance: int | None) -> None:
        self.counters.add("readings_discarded_on_crash", 0, self.logic.reset())

    def _window_ends(self, _: object) -> int:
        kernel = self.context.kernel
        kernel.schedule(kernel.now + self.params.aggregate_every_ns, TIMER, self._window_ends)
        if not self.is_up(kernel.now):
            return 1
        aggregate = self.logic.flush()
        if aggregate is None:
            self.counters.add("empty_windows", 0)
            return 1
        self.counters.add("aggregates_sent", 0)
        if self.link is not None:
            self._send(aggregate, kernel.now)
        return 1

    def _send(self, aggregate: Aggregate, now: int) -> None:
        publish = self.params.publish
        batch = MessageBatch.one(
            id=int(self.context.message_ids(1)[0]), src=self.group.first, topic=self.topic_id,
            size=publish.payload_bytes, qos=publish.qos, retain=publish.retain,
            origin=aggregate.oldest_origin_ns, sent=now, value=aggregate.mean,
            vmin=aggregate.minimum, vmax=aggregate.maximum, n=aggregate.count,
        )
        self.link.send(batch)
