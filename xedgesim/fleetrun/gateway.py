"""The scenario's gateway on a fleet run: the gateway container of the host, left alone.

It subscribes and publishes through the host's broker on its own wall-clock windows, as in
production, so the run has nothing to feed it. Its crashes, and the cuts of its link to the
broker, are realised on the device (:mod:`xedgesim.fleetrun.faults`). When the scenario sends
its aggregates straight to a node that is not a broker (``to: cloud``), the run subscribes to
the topic the gateway really publishes on and sends what comes through the scenario's
gateway->node link.
"""

from __future__ import annotations

from typing import Any

from xedgesim.fleetrun.broker import listen
from xedgesim.fleetrun.cloud import Bridge
from xedgesim.fleetrun.faults import DeviceFaults
from xedgesim.fleetrun.targets import HostTarget
from xedgesim.models.base import Node, SimContext
from xedgesim.models.topics import render
from xedgesim.scenario.model import GatewayParams, NodeSpec
from xedgesim.sim.kernel import FAULT
from xedgesim.sim.messages import MessageBatch


class FleetGateway(Node):
    wall_clock = True

    def __init__(self, spec: NodeSpec, context: SimContext, target: HostTarget, run_id: str,
                 base_ns: int, tally: dict[str, int], faults: DeviceFaults,
                 mqtt_module: Any = None) -> None:
        super().__init__(spec, context)
        self.params: GatewayParams = spec.params  # type: ignore[assignment]
        self.on_host = target.gateways[spec.id]
        self.faults = faults
        self.client: Any = None
        publish = self.params.publish
        if publish is not None and context.scenario.node(publish.to).type != "broker":
            link = context.network.link(spec.id, publish.to, publish.retry_interval_ns,
                                        publish.max_retries)
            topics = {self.on_host.forward_topic: render(publish.topic, spec.id, 0)}
            bridge = Bridge(context, link, self.group.first, base_ns, topics, tally)
            self.client = listen(target, f"xedgesim-{run_id}-{target.host}-{spec.id}", bridge,
                                 publish.qos, mqtt_module)

    def receive(self, block: MessageBatch) -> None:
        raise TypeError(f"node {self.id!r}: on a fleet the gateway hears only its broker")

    def crashed(self, instance: int | None) -> None:
        self.faults.crash(self.id, self.on_host.container, self.context.kernel.now)

    def node_restarted(self, node_id: str, now: int) -> None:
        if node_id == self.id:
            self.faults.restart(self.id, self.on_host.container, now)

    def schedule_cuts(self, broker: str) -> None:
        """Cut the container off its broker for each window the scenario cuts that link."""
        kernel = self.context.kernel
        for start, end in self.context.timeline.cut_spans(self.id, broker):
            kernel.schedule(start, FAULT, self._cut, start)
            if end < kernel.until:
                kernel.schedule(end, FAULT, self._mend, end)

    def _cut(self, at_ns: int) -> int:
        self.faults.cut_off(self.id, self.on_host.container, at_ns)
        return 1

    def _mend(self, at_ns: int) -> int:
        self.faults.reconnect(self.id, self.on_host.container, at_ns)
        return 1

    def stop(self) -> None:
        if self.client is not None:
            from xedgesim.fleetrun import mqtt

            mqtt.close(self.client)
            self.client = None
