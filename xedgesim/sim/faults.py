"""The fault timeline: scheduled faults turned into down-intervals, queried in vectors.

Faults are known before the run starts, so a sensor fleet can emit a whole window ahead and a
link can decide a message's fate at send time, and still agree with what an event-by-event
simulation would do.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from xedgesim.scenario.faults import RECOVERY, TARGET
from xedgesim.scenario.model import FaultSpec, Scenario
from xedgesim.sim.failures import RandomOutages
from xedgesim.sim.kernel import NEVER
from xedgesim.sim.streams import RandomStreams
from xedgesim.sim.topology import Topology

OK, RANDOM, LINK_DOWN, PARTITION, NODE_DOWN = 0, 1, 2, 3, 4
# Every loss cause, coded by position (1 for the first); a message's cause is its code.
CAUSES: tuple[str, ...] = ("random", "link_down", "partition", "node_down", "battery",
                          "overflow")
FAULT_CAUSES: tuple[str, ...] = CAUSES[1:4]
# In every run's outputs (summary.json, timeseries.csv), used or not.
ALWAYS_REPORTED: tuple[str, ...] = CAUSES[:4]


def has_buffer(scenario: Scenario) -> bool:
    """Does any queue of ``scenario`` have a finite ``buffer`` (a link's or a sender's)?"""
    network = scenario.network
    if network.default.buffer is not None or any(
            link.spec.buffer is not None for link in network.links):
        return True
    return any(getattr(getattr(spec.params, "publish", None), "buffer", None) is not None
               for spec in scenario.nodes)


# A cause that a model feature adds -> whether a scenario uses that feature. Such a cause is
# reported only by the runs that can have it, so the outputs of every scenario written
# before the feature keep their bytes (docs/simulation.md, "Loss causes").
OPTIONAL_CAUSES: dict[str, Callable[[Scenario], bool]] = {
    # a node's battery ran out (docs/simulation.md, "Energy and battery")
    "battery": lambda scenario: any(spec.energy is not None and spec.energy.battery_pj is not None
                                    for spec in scenario.nodes),
    # a message found a full buffer (docs/simulation.md, "Finite buffers")
    "overflow": has_buffer,
}
BATTERY = CAUSES.index("battery") + 1
OVERFLOW = CAUSES.index("overflow") + 1


def reported_causes(scenario: Scenario) -> tuple[str, ...]:
    """The loss causes a run of ``scenario`` reports, in code order."""
    return ALWAYS_REPORTED + tuple(
        cause for cause in CAUSES[len(ALWAYS_REPORTED):] if OPTIONAL_CAUSES[cause](scenario))


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
    def __init__(self, faults: tuple[FaultSpec, ...], topology: Topology, *,
                 until: int | None = None, seed: int = 0) -> None:
        """``faults`` as scheduled; with ``until`` (the run's end), also the random failures of
        the nodes with ``failures:``, drawn from ``seed``'s streams (xedgesim/sim/failures.py)."""
        self.node_outages: dict[str, list[Outage]] = defaultdict(list)
        self.random_outages: dict[str, RandomOutages] = {}
        self.link_outages: dict[frozenset[str], list[tuple[int, int]]] = defaultdict(list)
        self.partitions: list[Partition] = []
        self.node_events: list[NodeEvent] = []
        ordered = sorted(faults, key=lambda f: f.at_ns)
        # What puts something down, by the kind of target (xedgesim/scenario/faults.py's
        # table of actions); recoveries are found from the fault they end.
        starts = {"node": self._node_outage, "link": self._link_outage,
                  "groups": self._partition}
        for fault in ordered:
            if fault.action in RECOVERY:
                starts[TARGET[fault.action]](fault, ordered, topology)
        if until is not None:
            self._random_failures(topology, until, seed)
        self.node_events.sort(key=lambda e: e.time)

    def _random_failures(self, topology: Topology, until: int, seed: int) -> None:
        streams = RandomStreams(seed)
        for group in topology.groups.values():
            if group.spec.failures is None:
                continue
            outages = RandomOutages(group.spec.failures, group.count, until, streams, group.id)
            self.random_outages[group.id] = outages
            instance = None if group.count == 1 else outages.instance.tolist()
            for number, (start, end) in enumerate(zip(outages.start.tolist(),
                                                      outages.end.tolist(), strict=True)):
                local = None if instance is None else instance[number]
                self.node_events.append(NodeEvent(start, group.id, local, up=False))
                if end < until:
                    self.node_events.append(NodeEvent(end, group.id, local, up=True))

    def _node_outage(self, fault: FaultSpec, ordered: list[FaultSpec],
                     topology: Topology) -> None:
        group, instance = topology.resolve(fault.node)
        end = _recovery(fault, ordered, lambda f, n=fault.node: f.node == n)
        local = None if instance is None else np.array([instance])
        self.node_outages[group.id].append(Outage(fault.at_ns, end, local))
        self.node_events.append(NodeEvent(fault.at_ns, group.id, instance, up=False))
        if end != NEVER:
            self.node_events.append(NodeEvent(end, group.id, instance, up=True))

    def _link_outage(self, fault: FaultSpec, ordered: list[FaultSpec],
                     topology: Topology) -> None:
        pair = frozenset(topology.resolve(end)[0].id for end in fault.link)
        end = _recovery(
            fault, ordered,
            lambda f, p=pair: f.link is not None
            and frozenset(topology.resolve(e)[0].id for e in f.link) == p,
        )
        self.link_outages[pair].append((fault.at_ns, end))

    def _partition(self, fault: FaultSpec, ordered: list[FaultSpec],
                   topology: Topology) -> None:
        cut = _sides(fault.groups)
        end = _recovery(fault, ordered, lambda f, c=cut: not f.groups or _sides(f.groups) == c)
        side = {
            topology.resolve(member)[0].id: number
            for number, members in enumerate(fault.groups or ())
            for member in members
        }
        self.partitions.append(Partition(fault.at_ns, end, side))

    def node_down(self, group: str, local: np.ndarray, times: np.ndarray) -> np.ndarray:
        """For each (instance, time): is that instance of ``group`` down?"""
        down = np.zeros(len(times), dtype=bool)
        for outage in self.node_outages.get(group, ()):
            during = (times >= outage.start) & (times < outage.end)
            if outage.instances is not None:
                during &= np.isin(local, outage.instances)
            down |= during
        if group in self.random_outages:
            down |= self.random_outages[group].down(local, times)
        return down

    def has_node_outages(self, group: str) -> bool:
        return bool(self.node_outages.get(group)) or group in self.random_outages

    def down_during(self, group: str, local: np.ndarray, start: np.ndarray,
                    end: np.ndarray) -> np.ndarray:
        """For each (instance, [start, end)): is that instance of ``group`` down at any moment?"""
        down = np.zeros(len(start), dtype=bool)
        for outage in self.node_outages.get(group, ()):
            during = (start < outage.end) & (outage.start < end)
            if outage.instances is not None:
                during &= np.isin(local, outage.instances)
            down |= during
        if group in self.random_outages:
            down |= self.random_outages[group].down_during(local, start, end)
        return down

    def first_crash(self, group: str, local: np.ndarray, start: np.ndarray,
                    end: np.ndarray) -> np.ndarray:
        """For each (instance, (start, end)): when that instance of ``group`` first goes down
        strictly inside the interval, ``NEVER`` if it does not: what interrupts a transmission."""
        when = np.full(len(start), NEVER, dtype=np.int64)
        for outage in self.node_outages.get(group, ()):
            hit = (start < outage.start) & (outage.start < end) & (outage.start < when)
            if outage.instances is not None:
                hit &= np.isin(local, outage.instances)
            when[hit] = outage.start
        if group in self.random_outages:
            when = np.minimum(when, self.random_outages[group].first_crash(local, start, end,
                                                                           NEVER))
        return when

    def link_cut(self, a: str, b: str, times: np.ndarray) -> np.ndarray:
        """Per time: ``OK``, ``LINK_DOWN`` or ``PARTITION`` for the link between groups a and b."""
        cause = np.zeros(len(times), dtype=np.int8)
        for start, end in self.link_outages.get(frozenset((a, b)), ()):
            cause[(times >= start) & (times < end)] = LINK_DOWN
        for partition in self.partitions:
            if _across(partition, a, b):
                hit = (times >= partition.start) & (times < partition.end) & (cause == OK)
                cause[hit] = PARTITION
        return cause

    def first_cut(self, a: str, b: str, start: np.ndarray,
                  end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each (start, end): when the link between groups a and b is first cut strictly
        inside the interval (``NEVER`` if it is not) and the cause, as ``link_cut`` names it."""
        when = np.full(len(start), NEVER, dtype=np.int64)
        cause = np.zeros(len(start), dtype=np.int8)
        cuts = [(s, LINK_DOWN) for s, _ in self.link_outages.get(frozenset((a, b)), ())]
        cuts += [(p.start, PARTITION) for p in self.partitions if _across(p, a, b)]
        for at, code in cuts:
            hit = (start < at) & (at < end) & (at < when)
            when[hit] = at
            cause[hit] = code
        return when, cause

    def disturbs(self, sender: str, receiver: str, start: int, end: int) -> bool:
        """Is any instance of ``sender``, or the link to ``receiver``, down at some moment of
        [start, end)? When not, a queue can be worked out without looking at faults."""
        spans = [(o.start, o.end) for o in self.node_outages.get(sender, ())]
        spans += self.link_outages.get(frozenset((sender, receiver)), [])
        spans += [(p.start, p.end) for p in self.partitions if _across(p, sender, receiver)]
        if sender in self.random_outages and self.random_outages[sender].overlaps(start, end):
            return True
        return any(s < end and start < e for s, e in spans)

    def cut_spans(self, a: str, b: str) -> list[tuple[int, int]]:
        """The [start, end) windows in which the link between groups a and b is cut, by a
        link fault or a partition, overlapping windows merged (end ``NEVER``: not mended)."""
        spans = sorted([*self.link_outages.get(frozenset((a, b)), []),
                        *((p.start, p.end) for p in self.partitions if _across(p, a, b))])
        merged: list[tuple[int, int]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged

    def affects_link(self, a: str, b: str) -> bool:
        if frozenset((a, b)) in self.link_outages:
            return True
        return any(_across(p, a, b) for p in self.partitions)


def _across(partition: Partition, a: str, b: str) -> bool:
    """Does ``partition`` put groups a and b on different sides?"""
    side_a, side_b = partition.side.get(a), partition.side.get(b)
    return side_a is not None and side_b is not None and side_a != side_b


def _sides(groups: tuple[tuple[str, ...], ...] | None) -> frozenset[frozenset[str]]:
    """A partition's groups, in no particular order: what a ``heal`` must repeat to end it."""
    return frozenset(frozenset(members) for members in groups or ())


def _recovery(fault: FaultSpec, ordered: list[FaultSpec], same) -> int:
    """When a fault ends: after its ``for:``, else at the next matching recovery, else never."""
    if fault.duration_ns is not None:
        return fault.at_ns + fault.duration_ns
    recovery = RECOVERY[fault.action]
    for later in ordered:
        if later.at_ns > fault.at_ns and later.action == recovery and same(later):
            return later.at_ns
    return NEVER
