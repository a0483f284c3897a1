"""One run: Scenario -> nodes on a kernel and a network -> a ``RunResult``.

The data flow is one way: this module builds everything from the typed scenario, runs the
kernel, and hands back plain results; writing files and printing is ``report``'s job.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xedgesim import __version__
from xedgesim.metrics import FlowStats, Histogram, NodeCounters, exact_sum
from xedgesim.models.base import Node, SimContext
from xedgesim.registry import node_class
from xedgesim.scenario.model import NodeSpec, Scenario
from xedgesim.scenario.nodes import NODE_TYPE_TABLE
from xedgesim.sim.energy import EnergyAccount, energy_accounts, joules
from xedgesim.sim.faults import FAULT_CAUSES, FaultTimeline, NodeEvent, reported_causes
from xedgesim.sim.kernel import FAULT, Kernel, Progress
from xedgesim.sim.network import Network, Recorder
from xedgesim.sim.pacing import DEFAULT_MAX_LAG_NS, Pacer
from xedgesim.sim.service import ProcessingStats, ServiceStage
from xedgesim.sim.streams import RandomStreams
from xedgesim.sim.topology import Topology

if TYPE_CHECKING:
    from xedgesim.docker.containers import ContainerSession

NS_PER_S = 1_000_000_000


@dataclass
class RunResult:
    scenario: Scenario
    flows: list[FlowStats]
    end_to_end: dict[str, Histogram]
    counters: dict[str, NodeCounters]
    events: int
    wall_s: float
    pacing: dict | None = None  # set when wall-clock services made the run paced
    link_proxies: dict | None = None  # set when link proxies carried containers' traffic
    energy: dict[str, EnergyAccount] = field(default_factory=dict)  # nodes with ``energy:``
    processing: dict[str, ProcessingStats] | None = None  # nodes with service: or compute:

    def summary(self) -> dict:
        """Everything a run measured, deterministic for a given scenario and seed (no wall time)."""
        duration_s = self.scenario.duration_ns / NS_PER_S
        warmup_s = self.scenario.warmup_ns / NS_PER_S
        measured_s = duration_s - warmup_s  # what throughput is over
        lost = {cause: sum(f.lost[cause] for f in self.flows)
                for cause in reported_causes(self.scenario)}
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
                # only links with a queue (a bandwidth limit): other runs keep their bytes
                **({"queueing_ms": flow.waiting.summary_ms()} if flow.waiting is not None
                   else {}),
                "throughput": {
                    "messages_per_s": round(flow.delivered / measured_s, 3),
                    "bytes_per_s": round(flow.delivered_bytes / measured_s, 3),
                },
            }
        return {
            "scenario": self.scenario.name,
            "seed": self.scenario.seed,
            "duration_s": duration_s,
            **({"warmup_s": warmup_s} if self.scenario.warmup_ns else {}),
            "mode": "deterministic" if self.pacing is None else "statistical",
            # what `xedge compare` allows a count to differ by: one window of each gateway
            "aggregation_windows_s": {
                spec.id: spec.params.aggregate_every_ns / NS_PER_S
                for spec in self.scenario.nodes if hasattr(spec.params, "aggregate_every_ns")
            },
            "xedgesim_version": __version__,
            # a --network overlay changes what ran: its path and content hash say which
            **({"network_overlay": self.scenario.network_overlay}
               if self.scenario.network_overlay is not None else {}),
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
            **({"processing_ms": {node: stats.summary_ms()
                                  for node, stats in sorted(self.processing.items())}}
               if self.processing else {}),
            **({"pacing": self.pacing} if self.pacing is not None else {}),
            **({"link_proxies": self.link_proxies} if self.link_proxies else {}),
            "nodes": {
                group: {name: int(column.sum()) for name, column in sorted(c.values.items())}
                for group, c in self.counters.items()
            },
            **({"energy": self.energy_summary()} if self.energy else {}),
        }

    def energy_summary(self) -> dict:
        """The fleet's energy (docs/simulation.md, "Energy and battery"): used and left in
        joules, exact to the picojoule, per node and in all; how many instances ran out, and
        when the first did."""
        until = self.scenario.duration_ns
        nodes = {}
        used_pj = 0
        firsts = []
        for node_id, account in self.energy.items():
            used = exact_sum(account.used(until))
            used_pj += used
            entry: dict = {"used_j": joules(used)}
            if account.capacity is not None:
                dead = account.depleted_at[account.depleted_at < until]
                first = int(dead.min()) if len(dead) else None
                entry["battery_left_j"] = joules(account.capacity * len(account.spent) - used)
                entry["depleted"] = len(dead)
                entry["first_depletion_s"] = None if first is None else first / NS_PER_S
                firsts += [] if first is None else [first]
            nodes[node_id] = entry
        return {
            "used_j": joules(used_pj),
            "depleted": sum(node.get("depleted", 0) for node in nodes.values()),
            "first_depletion_s": min(firsts) / NS_PER_S if firsts else None,
            "nodes": nodes,
        }


def simulate(
    scenario: Scenario,
    *,
    recorder: Recorder | None = None,
    progress: Progress | None = None,
    log_dir: Path | None = None,
    speed: float = 1.0,
    max_lag_ns: int = DEFAULT_MAX_LAG_NS,
) -> RunResult:
    """Run ``scenario`` to its end and return what it measured.

    Docker nodes get their containers from one session that removes them all when the run
    ends, fails or is interrupted; their logs go to ``log_dir``. When a node runs on the wall
    clock (a real broker), the whole run is paced at ``speed`` times real time, and is marked
    invalid when its p95 lag passes ``max_lag_ns``.
    """
    started = time.perf_counter()
    kernel = Kernel(scenario.duration_ns)
    topology = Topology(scenario)
    timeline = FaultTimeline(scenario.faults, topology, until=scenario.duration_ns,
                             seed=scenario.seed)
    counters = {g.id: NodeCounters(g.id, g.count) for g in topology.groups.values()}
    energy = energy_accounts(scenario)
    network = Network(scenario, topology, timeline, kernel, counters, recorder, energy)
    context = SimContext(scenario, kernel, topology, timeline, network, counters)
    if recorder is not None:
        recorder.start(topology.instance_ids, context.topics.names)
    with ExitStack() as cleanup:
        if any(spec.implementation == "docker" for spec in scenario.nodes):
            context.containers = cleanup.enter_context(_container_session(log_dir))
            context.pacer = Pacer(speed, max_lag_ns)
        nodes = _build_nodes(scenario, context, cleanup)
        for event in timeline.node_events:
            kernel.schedule(event.time, FAULT, _apply_node_event(nodes, counters), event)
        for node in nodes.values():
            node.start()
        pacer = context.pacer if any(node.wall_clock for node in nodes.values()) else None
        if pacer is not None:
            kernel.run_paced(pacer, progress)
        else:
            kernel.run(progress)
    for account in energy.values():
        account.finish(scenario.duration_ns)
    return RunResult(
        scenario=scenario,
        flows=sorted(network.flows.values(), key=lambda f: (f.sender, f.receiver)),
        end_to_end=context.end_to_end,
        counters=counters,
        events=kernel.events,
        wall_s=time.perf_counter() - started,
        pacing=pacer.summary() if pacer is not None else None,
        link_proxies=context.link_proxies or None,
        energy=energy,
        processing=context.processing,
    )


@contextmanager
def _container_session(log_dir: Path | None) -> Iterator[ContainerSession]:
    from xedgesim.docker.containers import ContainerSession, new_run_id, sigterm_as_interrupt

    with sigterm_as_interrupt(), ContainerSession(new_run_id(), log_dir=log_dir) as session:
        yield session


def _build_nodes(scenario: Scenario, context: SimContext, cleanup: ExitStack) -> dict[str, Node]:
    """Every node, its mailbox and its subscriptions; each node is stopped when the run ends."""
    built: dict[str, Node] = {}
    # Brokers first: services in other containers connect to them as they start.
    for spec in sorted(scenario.nodes, key=lambda s: not NODE_TYPE_TABLE[s.type].starts_first):
        node = node_class(spec.type, spec.implementation)(spec, context)
        built[spec.id] = node
        cleanup.callback(node.stop)
    nodes = {spec.id: built[spec.id] for spec in scenario.nodes}  # scenario order from here on
    for spec in scenario.nodes:
        if NODE_TYPE_TABLE[spec.type].receives:
            context.network.attach(nodes[spec.id], _service_stage(spec, nodes, context))
    for spec in scenario.nodes:
        subscription = getattr(spec.params, "subscription", None)
        if subscription is not None:
            nodes[subscription.broker].subscribe(spec.id, subscription.topics, subscription.qos)
    return nodes


def _service_stage(spec: NodeSpec, nodes: dict[str, Node],
                   context: SimContext) -> ServiceStage | None:
    """The processing queue of receiving node ``spec``: its own ``service:``, and the readings
    of the sensors whose ``compute`` it runs (at: gateway, when they publish to it; at: cloud,
    when it is a cloud node); None when it has neither, so its messages cost nothing more."""
    duties = []
    for sensor in context.scenario.nodes:
        compute = getattr(sensor.params, "compute", None)
        if compute is not None and (
                (compute.at == "gateway" and sensor.params.publish.to == spec.id)
                or (compute.at == "cloud" and spec.type == "cloud")):
            topics = nodes[sensor.id].topic_ids.of(np.arange(sensor.count))
            duties.append((topics, compute))
    if spec.service is None and not duties:
        return None
    stats = context.processing.setdefault(spec.id, ProcessingStats())
    return ServiceStage(
        spec.id,
        None if spec.service is None else spec.service.time,
        1 if spec.service is None else spec.service.servers,
        duties,
        RandomStreams(context.scenario.seed),
        context.timeline,
        context.kernel.until,
        context.counters[spec.id],
        stats,
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
