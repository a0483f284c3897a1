"""The cloud: a sink that records how old the data is when it finally arrives."""

from __future__ import annotations

from xedgesim.metrics import Histogram, exact_sum
from xedgesim.models.base import Node, SimContext
from xedgesim.scenario.model import NodeSpec
from xedgesim.sim.messages import MessageBatch


class CloudNode(Node):
    counter_names = ("readings_in",)

    def __init__(self, spec: NodeSpec, context: SimContext) -> None:
        super().__init__(spec, context)
        self.end_to_end = context.end_to_end.setdefault(spec.id, Histogram())
        self.warmup_ns = context.scenario.warmup_ns

    def receive(self, block: MessageBatch) -> None:
        age = block.arrival - block.origin
        if self.warmup_ns:  # data measured before the warmup ended is not steady state
            age = age[block.origin >= self.warmup_ns]
        self.end_to_end.add(age)
        self.counters.add("readings_in", 0, exact_sum(block.n))
