"""The fault timeline: scheduled faults turned into down-intervals, queried in vectors.

Faults are known before the run starts, so a sensor fleet can emit a whole window ahead and a
link can decide a message's fate at send time, and still agree with what an event-by-event
simulation would do.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from xedgesim.scenario.model import FaultSpec
from xedgesim.sim.kernel import NEVER
from xedgesim.sim.topology import Topology

OK, RANDOM, LINK_DOWN, PARTITION, NODE_DOWN = 0, 1, 2, 3, 4
CAUSES: tuple[str, ...] = ("random", "link_down", "partition", "node_down")  # codes 1..4
FAULT_CAUSES: tuple[str, ...] = CAUSES[1:]


@dataclass(frozen=True)
class Outage:
    start: int
    end: int
    instances: np.ndarray | None = None  # local indices; None: the whole group


@dataclass(frozen=True)
class Partition:
    start: int
    end: int
    side: dict[str, int]  # group id -> which side of the cut it is on


@dataclass(frozen=True)
class NodeEvent:
    """A crash or restart, for the nodes that keep state across it."""

    time: int
    group: str
    instance: int | None
    up: bool


class FaultTimeline:
    def __init__(self, faults: tuple[FaultSpec, ...], topology: Topology) -> None:
        self.node_outages: dict[str, list[Outage]] = defaultdict(list)
        self.link_outages: dict[frozenset[str], list[tuple[int, int]]] = defaultdict(list)
        self.partitions: list[Partition] = []
        self.node_events: list[NodeEvent] = []
        ordered = sorted(faults, key=lambda f: f.at_ns)
        for fault in ordered:
            if fault.action == "crash":
                group, instance = topology.resolve(fault.node)
                end = _recovery(fault, ordered, "restart", lambda f, n=fault.node: f.node == n)
                local = None if instance is None else np.array([instance])
                self.node_outages[group.id].append(Outage(fault.at_ns, end, local))
                self.node_events.append(NodeEvent(fault.at_ns, group.id, instance, up=False))
                if end != NEVER:
                    self.node_events.append(NodeEvent(end, group.id, instance, up=True))
            elif fault.action == "link_down":
                pair = frozenset(topology.resolve(end)[0].id for end in fault.link)
                end = _recovery(
                    fault, ordered, "link_up",
                    lambda f, p=pair: f.link is not None
                    and frozenset(topology.resolve(e)[0].id for e in f.link) == p,
                )
                self.link_outages[pair].append((fault.at_ns, end))
            elif fault.action == "partition":
                cut = _sides(fault.groups)
                end = _recovery(
                    fault, ordered, "heal", lambda f, c=cut: not f.groups or _sides(f.groups) == c
                )
                side = {
                    topology.resolve(member)[0].id: number
                    for number, members in enumerate(fault.groups or ())
                    for member in members
                }
                self.partitions.append(Partition(fault.at_ns, end, side))
        self.node_events.sort(key=lambda e: e.time)

    def node_down(self, group: str, local: np.ndarray, times: np.ndarray) -> np.ndarray:
        """For each (instance, time): is that instance of ``group`` down?"""
        down = np.zeros(len(times), dtype=bool)
        for outage in self.node_outages.get(group, ()):
            during = (times >= outage.start) & (times < outage.end)
            if outage.instances is not None:
                during &= np.isin(local, outage.instances)
            down |= during
        return down

    def has_node_outages(self, group: str) -> bool:
        return bool(self.node_outages.get(group))

    def link_cut(self, a: str, b: str, times: np.ndarray) -> np.ndarray:
        """Per time: ``OK``, ``LINK_DOWN`` or ``PARTITION`` for the link between groups a and b."""
        cause = np.zeros(len(times), dtype=np.int8)
        for start, end in self.link_outages.get(frozenset((a, b)), ()):
            cause[(times >= start) & (times < end)] = LINK_DOWN
        for partition in self.partitions:
            side_a, side_b = partition.side.get(a), partition.side.get(b)
            if side_a is not None and side_b is not None and side_a != side_b:
                hit = (times >= partition.start) & (times < partition.end) & (cause == OK)
                cause[hit] = PARTITION
        return cause

    def affects_link(self, a: str, b: str) -> bool:
        if frozenset((a, b)) in self.link_outages:
            return True
        return any(
            p.side.get(a) is not None and p.side.get(b) is not None and p.side[a] != p.side[b]
            for p in self.partitions
        )


def _sides(groups: tuple[tuple[str, ...], ...] | None) -> frozenset[frozenset[str]]:
    """A partition's groups, in no particular order: what a ``heal`` must repeat to end it."""
    return frozenset(frozenset(members) for members in groups or ())


def _recovery(fault: FaultSpec, ordered: list[FaultSpec], action: str, same) -> int:
    """When a fault ends: after its ``for:``, else at the next matching recovery, else never."""
    if fault.duration_ns is not None:
        return fault.at_ns + fault.duration_ns
    for later in ordered:
        if later.at_ns > fault.at_ns and later.action == action and same(later):
            return later.at_ns
    return NEVER
