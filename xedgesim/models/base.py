"""What every node model gets from the run, and what it must offer back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from xedgesim.metrics import NODE_COUNTERS, Histogram, NodeCounters
from xedgesim.models.topics import TopicTable
from xedgesim.scenario.model import NodeSpec, Scenario
from xedgesim.sim.faults import FaultTimeline
from xedgesim.sim.kernel import Kernel
from xedgesim.sim.messages import MessageBatch
from xedgesim.sim.network import Network
from xedgesim.sim.service import ProcessingStats
from xedgesim.sim.topology import Group, Topology

if TYPE_CHECKING:
    from xedgesim.docker.containers import ContainerSession
    from xedgesim.sim.pacing import Pacer


@dataclass
class SimContext:
    """The shared services of one run; models schedule through ``kernel`` and send through
    ``network`` and never touch each other's state."""

    scenario: Scenario
    kernel: Kernel
    topology: Topology
    timeline: FaultTimeline
    network: Network
    counters: dict[str, NodeCounters]
    topics: TopicTable = field(default_factory=TopicTable)
    containers: ContainerSession | None = None  # set when the scenario has docker nodes
    pacer: Pacer | None = None  # set when a wall-clock node makes the run paced
    end_to_end: dict[str, Histogram] = field(default_factory=dict)
    # what each link proxy of a hybrid run did (linkproxy.hybrid.report), by link
    link_proxies: dict[str, dict] = field(default_factory=dict)
    processing: dict[str, ProcessingStats] = field(default_factory=dict)  # nodes that process
    _next_message_id: int = 0

    def message_ids(self, count: int) -> np.ndarray:
        first = self._next_message_id
        self._next_message_id += count
        return np.arange(first, first + count, dtype=np.int64)


class Node:
    """A scenario node group. Subclasses override what they do; defaults do nothing."""

    reacts_to_messages = False  # True when receive() may send (see sim.network.Mailbox)
    wall_clock = False  # True for real services that do not advance in lockstep: run paced
    block_limit_ns: int | None = None  # longest block of deliveries receive() may take
    counter_names: tuple[str, ...] = ()  # the model's own counters, beyond NODE_COUNTERS

    def __init__(self, spec: NodeSpec, context: SimContext) -> None:
        self.spec = spec
        self.id = spec.id
        self.context = context
        self.group: Group = context.topology.groups[spec.id]
        self.counters = context.counters[spec.id]
        self.counters.declare(NODE_COUNTERS + self.counter_names)

    def start(self) -> None:
        """Schedule the first timers; called once at virtual time 0."""

    def stop(self) -> None:
        """The run is over (or failed): release what ``__init__`` acquired, e.g. a connection."""

    def receive(self, block: MessageBatch) -> None:
        raise TypeError(f"node {self.id!r} ({self.spec.type}) cannot receive messages")

    def crashed(self, instance: int | None) -> None:
        """Lose volatile state; ``instance`` is None when the whole group went down."""

    def node_restarted(self, node_id: str, now: int) -> None:
        """Some node (maybe this one) came back at ``now``; a broker re-sends retained messages."""

    def is_up(self, now: int, instance: int = 0) -> bool:
        down = self.context.timeline.node_down(self.id, np.array([instance]), np.array([now]))
        return not bool(down[0])
