"""The scenario's broker on a fleet run: the host's real broker, fed by the simulator's sensors.

Each message that reaches the broker node, after the scenario's network model delayed or
dropped it on the way in, is published through paho at the virtual time it arrives (as a
hybrid run does with a broker container), over TLS to the host's broker, as the fleet's sensor
user. Subscribers that are real services on the device (the gateway) subscribe themselves;
for the python-model ones (the cloud) the broker subscribes on their behalf, to the forward
topics the host's gateways really publish on, through a :class:`~xedgesim.fleetrun.cloud.Bridge`.
"""

from __future__ import annotations

from typing import Any

from xedgesim.fleetrun import mqtt
from xedgesim.fleetrun.cloud import Bridge
from xedgesim.fleetrun.targets import HostTarget
from xedgesim.models.base import Node, SimContext
from xedgesim.models.topics import matches, render
from xedgesim.scenario.model import BrokerParams, NodeSpec
from xedgesim.services import payload
from xedgesim.sim.messages import MessageBatch


class FleetBroker(Node):
    wall_clock = True
    block_limit_ns = 1_000_000  # publish within 1 ms (virtual) of each message's arrival
    # the same counters as a broker container's, so nodes.csv has the same columns
    counter_names = ("forwarded", "published", "undecodable")

    def __init__(self, spec: NodeSpec, context: SimContext, target: HostTarget, run_id: str,
                 base_ns: int, tally: dict[str, int], mqtt_module: Any = None) -> None:
        super().__init__(spec, context)
        self.params: BrokerParams = spec.params  # type: ignore[assignment]
        self.target = target
        self.run_id = run_id
        self.base_ns = base_ns
        self.tally = tally
        self.mqtt_module = mqtt_module
        self.publisher = mqtt.connect(target.endpoint, target.sensors,
                                      f"xedgesim-{run_id}-{target.host}-sensors",
                                      mqtt=mqtt_module)
        self.clients: list[Any] = []

    def subscribe(self, node: str, filters: tuple[str, ...], qos: int) -> None:
        """For a python-model subscriber: the host gateways' forward topics its filters
        match in the scenario; a gateway on the device subscribes itself."""
        scenario = self.context.scenario
        if scenario.node(node).type == "gateway":
            return
        topics = {}
        for gateway_id, gateway in self.target.gateways.items():
            publish = scenario.node(gateway_id).params.publish  # type: ignore[union-attr]
            if publish is None or publish.to != self.id:
                continue
            scenario_topic = render(publish.topic, gateway_id, 0)
            if any(matches(topic_filter, scenario_topic) for topic_filter in filters):
                topics[gateway.forward_topic] = scenario_topic
        if not topics:
            return
        link = self.context.network.link(self.id, node, self.params.retry_interval_ns,
                                         self.params.max_retries)
        bridge = Bridge(self.context, link, self.group.first, self.base_ns, topics, self.tally,
                        self.counters)
        self.clients.append(listen(self.target, f"xedgesim-{self.run_id}-{self.target.host}-"
                                                f"{node}", bridge, qos, self.mqtt_module))

    def receive(self, block: MessageBatch) -> None:
        names = self.context.topics.names
        fixed = self.target.sensor_topic
        for row in range(len(block)):
            self.publisher.publish(
                fixed or names[int(block.topic[row])],
                payload.encode(
                    id=int(block.id[row]), value=float(block.value[row]),
                    vmin=float(block.vmin[row]), vmax=float(block.vmax[row]),
                    n=int(block.n[row]), origin_ns=int(block.origin[row]) + self.base_ns,
                ),
                qos=int(block.qos[row]),
                retain=False,  # a retained reading would outlive the run on a real broker
            )
        self.counters.add("published", 0, len(block))

    def stop(self) -> None:
        for client in [self.publisher, *self.clients]:
            mqtt.close(client)
        self.clients.clear()


def listen(target: HostTarget, client_id: str, bridge: Bridge, qos: int,
           mqtt_module: Any = None) -> Any:
    """A client of the cloud's user, subscribed to the bridge's fleet topics."""
    client = mqtt.connect(target.endpoint, target.cloud, client_id,
                          on_message=bridge.on_message, mqtt=mqtt_module)
    try:
        mqtt.subscribe(client, [(topic, qos) for topic in bridge.topics],
                       where=f"{target.host}'s broker")
    except BaseException:
        mqtt.close(client)
        raise
    return client
