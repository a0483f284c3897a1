"""One run: Scenario -> nodes on a kernel and a network -> a ``RunResult``.

The data flow is one way: this module builds everything from the typed scenario, runs the
kernel, and hands back plain results; writing files and printing is ``report``'s job.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from xedgesim import __version__
from xedgesim.metrics import FlowStats, Histogram, NodeCounters
from xedgesim.models.base import Node, SimContext
from xedgesim.registry import node_class
from xedgesim.scenario.model import Scenario
from xedgesim.sim.faults import CAUSES, FAULT_CAUSES, FaultTimeline, NodeEvent
from xedgesim.sim.kernel import FAULT, Kernel, Progress
from xedgesim.sim.network import Network, Recorder
from xedgesim.sim.topology import Topology

NS_PER_S = 1_000_000_000


@dataclass
class RunResult:
    scenario: Scenario
    flows: list[FlowStats]
    end_to_end: dict[str, Histogram]
    counters: dict[str, NodeCounters]
    events: int
    wall_s: float

    def summary(self) -> dict:
        """Everything a run measured, deterministic for a given scenario and seed (no wall time)."""
        duration_s = self.scenario.duration_ns / NS_PER_S
        lost = {cause: sum(f.lost[cause] for f in self.flows) for cause in CAUSES}
        flows = {}
        for flow in self.flows:
            flows[flow.name] = {
                "from": flow.sender,
                "to": flow.receiver,
                "sent": flow.sent,
                "delivered": flow.delivered,
                "lost": dict(flow.lost),
                "in_flight": flow.in_flight(),
                "retransmissions": flow.retransmissions,
                "delivery_ratio": round(flow.delivered / flow.sent, 6) if flow.sent else None,
                "latency_ms": flow.latency.summary_ms(),
                "throughput": {
                    "messages_per_s": round(flow.delivered / duration_s, 3),
                    "bytes_per_s": round(flow.delivered_bytes / duration_s, 3),
                },
            }
        return {
            "scenario": self.scenario.name,
            "seed": self.scenario.seed,
            "duration_s": duration_s,
            "mode": "deterministic",
            "xedgesim_version": __version__,
            "events_processed": self.events,
            "messages": {
                "sent": sum(f.sent for f in self.flows),
                "delivered": sum(f.delivered for f in self.flows),
                "lost": lost,
                "lost_random": lost["random"],
                "lost_to_faults": sum(lost[cause] for cause in FAULT_CAUSES),
                "in_flight": sum(f.in_flight() for f in self.flows),
                "retransmissions": sum(f.retransmissions for f in self.flows),
            },
            "flows": flows,
            "end_to_end_ms": {node: h.summary_ms() for node, h in self.end_to_end.items()},
            "nodes": {
                group: {name: int(column.sum()) for name, column in sorted(c.values.items())}
                for group, c in self.counters.items()
            },
        }


def simulate(
    scenario: Scenario,
    *,
    recorder: Recorder | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run ``scenario`` to its end and return what it measured."""
    started = time.perf_counter()
    kernel = Kernel(scenario.duration_ns)
    topology = Topology(scenario)
    timeline = FaultTimeline(scenario.faults, topology)
    counters = {g.id: NodeCounters(g.count) for g in topology.groups.values()}
    network = Network(scenario.network, topology, timeline, kernel, scenario.seed, counters,
                      recorder)
    context = SimContext(scenario, kernel, topology, timeline, network, counters)
    if recorder is not None:
        recorder.start(topology.instance_ids, context.topics.names)
    nodes: dict[str, Node] = {}
    for spec in scenario.nodes:
        node = node_class(spec.type, spec.implementation)(spec, context)
        nodes[spec.id] = node
        if spec.type != "sensor":
            network.attach(node)
    for spec in scenario.nodes:
        subscription = getattr(spec.params, "subscription", None)
        if subscription is not None:
            nodes[subscription.broker].subscribe(spec.id, subscription.topics, subscription.qos)
    for event in timeline.node_events:
        kernel.schedule(event.time, FAULT, _apply_node_event(nodes, counters), event)
    for node in nodes.values():
        node.start()
    kernel.run(progress)
    return RunResult(
        scenario=scenario,
        flows=sorted(network.flows.values(), key=lambda f: (f.sender, f.receiver)),
        end_to_end=context.end_to_end,
        counters=counters,
        events=kernel.events,
        wall_s=time.perf_counter() - started,
    )


def _apply_node_event(nodes: dict[str, Node], counters: dict[str, NodeCounters]):
    def apply(event: NodeEvent) -> int:
        node = nodes[event.group]
        group_counters = counters[event.group]
        where = np.arange(group_counters.count) if event.instance is None else event.instance
        if event.up:
            group_counters.add("restarts", where)
            for other in nodes.values():
                other.node_restarted(event.group, event.time)
        else:
            node.crashed(event.instance)
            group_counters.add("crashes", where)
        return 1

    return apply
