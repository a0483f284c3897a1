"""One host's share of a fleet run: the scenario's sensors, network model and cloud, paced on
the wall clock against the host's real broker and gateway.

It is ``xedgesim.simulation.simulate`` with the broker and gateway nodes swapped for the
host's real ones (:mod:`~xedgesim.fleetrun.broker`, :mod:`~xedgesim.fleetrun.gateway`):
the same kernel, topology, fault timeline, network model, sensor and cloud models and
counters, so the result is a ``RunResult`` that writes the very files a simulation writes.

A ``HostWorkload`` is prepared first (every client connected and subscribed, so nothing the
gateway sends early is missed), then run, usually on a thread of its own beside the other
hosts'; ``stop()`` from any thread ends it at once (the run's thread raises ``Stopped``).
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from xedgesim.fleetrun.broker import FleetBroker
from xedgesim.fleetrun.faults import Applied, DeviceFaults
from xedgesim.fleetrun.gateway import FleetGateway
from xedgesim.fleetrun.targets import HostTarget
from xedgesim.metrics import NodeCounters
from xedgesim.models.base import Node, SimContext
from xedgesim.registry import node_class
from xedgesim.scenario.model import Scenario
from xedgesim.sim.faults import FaultTimeline
from xedgesim.sim.kernel import FAULT, Kernel
from xedgesim.sim.network import Network, Recorder
from xedgesim.sim.pacing import DEFAULT_MAX_LAG_NS, Pacer
from xedgesim.sim.topology import Topology
from xedgesim.simulation import RunResult, _apply_node_event


class Stopped(Exception):
    """Raised on a workload's thread when ``stop()`` was called."""


@dataclass
class HostRun:
    """What one host's run measured, and what was done to the host."""

    target: HostTarget
    result: RunResult
    applied: list[Applied] = field(default_factory=list)
    tally: dict[str, int] = field(default_factory=dict)  # bridged messages: received, foreign


class HostWorkload:
    """Prepare (``with``), then ``run()``; leaving the block closes every client and starts
    again any container a fault stopped."""

    def __init__(self, scenario: Scenario, target: HostTarget, *, run_id: str, base_ns: int,
                 recorder: Recorder | None = None, speed: float = 1.0,
                 max_lag_ns: int = DEFAULT_MAX_LAG_NS, mqtt_module: Any = None) -> None:
        self.scenario = scenario
        self.target = target
        self.run_id = run_id
        self.base_ns = base_ns
        self.recorder = recorder
        self.mqtt_module = mqtt_module
        self.kernel = Kernel(scenario.duration_ns)
        self.topology = Topology(scenario)
        self.timeline = FaultTimeline(scenario.faults, self.topology)
        self.counters = {g.id: NodeCounters(g.id, g.count) for g in self.topology.groups.values()}
        self.network = Network(scenario, self.topology, self.timeline, self.kernel,
                               self.counters, recorder)
        self.context = SimContext(scenario, self.kernel, self.topology, self.timeline,
                                  self.network, self.counters)
        self.context.pacer = Pacer(speed, max_lag_ns)
        self.faults = DeviceFaults(target.host, target.device)
        self.tally: dict[str, int] = {}
        self.nodes: dict[str, Node] = {}
        self._cleanup = ExitStack()
        self._started = 0.0

    def __enter__(self) -> HostWorkload:
        try:
            self._cleanup.callback(self.faults.finish)
            if self.recorder is not None:
                self.recorder.start(self.topology.instance_ids, self.context.topics.names)
            self.nodes = self._build()
        except BaseException:
            self._cleanup.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._cleanup.close()

    def _build(self) -> dict[str, Node]:
        built: dict[str, Node] = {}
        shared = {"target": self.target, "run_id": self.run_id, "base_ns": self.base_ns,
                  "tally": self.tally, "mqtt_module": self.mqtt_module}
        for spec in sorted(self.scenario.nodes, key=lambda s: s.type != "broker"):
            node: Node
            if spec.type == "broker":
                node = FleetBroker(spec, self.context, **shared)
            elif spec.type == "gateway":
                node = FleetGateway(spec, self.context, faults=self.faults, **shared)
            else:
                node = node_class(spec.type, "python_model")(spec, self.context)
            built[spec.id] = node
            self._cleanup.callback(node.stop)
        nodes = {spec.id: built[spec.id] for spec in self.scenario.nodes}
        for spec in self.scenario.nodes:
            if spec.type != "sensor":
                self.network.attach(nodes[spec.id])
        for spec in self.scenario.nodes:
            subscription = getattr(spec.params, "subscription", None)
            if subscription is not None:
                nodes[subscription.broker].subscribe(spec.id, subscription.topics,
                                                     subscription.qos)
        return nodes

    def stop(self) -> None:
        """From any thread: end the run now."""
        def halt(_now: int) -> None:
            raise Stopped(self.target.host)

        assert self.context.pacer is not None
        self.context.pacer.inject(halt)

    def run(self) -> HostRun:
        """Run the scenario to its end on the wall clock (call inside the ``with`` block)."""
        # crashes and restarts exactly as a simulation applies them; a gateway's happen on the
        # device (FleetGateway.crashed / node_restarted)
        apply = _apply_node_event(self.nodes, self.counters)
        for event in self.timeline.node_events:
            self.kernel.schedule(event.time, FAULT, apply, event)
        for node in self.nodes.values():
            if isinstance(node, FleetGateway):
                node.schedule_cuts(self.target.broker)
        for node in self.nodes.values():
            node.start()
        self._started = time.perf_counter()
        pacer = self.context.pacer
        assert pacer is not None
        self.kernel.run_paced(pacer)
        return self.result()

    def result(self) -> HostRun:
        pacer = self.context.pacer
        assert pacer is not None
        result = RunResult(
            scenario=self.scenario,
            flows=sorted(self.network.flows.values(), key=lambda f: (f.sender, f.receiver)),
            end_to_end=self.context.end_to_end,
            counters=self.counters,
            events=self.kernel.events,
            wall_s=time.perf_counter() - self._started,
            pacing=pacer.summary(),
        )
        return HostRun(self.target, result, self.faults.applied, self.tally)
