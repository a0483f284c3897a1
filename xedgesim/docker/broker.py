"""``type: broker, implementation: docker``: a real Mosquitto in the loop.

The coordinator publishes each message that reaches the broker node (after the network model
has delayed or dropped it on the way in) through paho at the virtual time it arrives, and
subscribes on behalf of every python-model subscriber; what Mosquitto delivers is injected
back into the run at the virtual time it comes, and crosses the model's broker->subscriber
link. Mosquitto answers on the wall clock, so the run is paced (see ``sim.pacing``). What
arrives while the coordinator is busy enters as one block at the virtual time it is taken in:
a coordinator that fell behind catches up by the block, not message by message.
Subscribers that are themselves real services (``docker: {mode: service}``) connect to the
broker container on the run's network and need no bridge.
"""

from __future__ import annotations

import threading
from typing import Any

from xedgesim.docker.containers import ContainerError, ContainerSpec
from xedgesim.docker.mqtt import connected_client
from xedgesim.models.base import Node, SimContext
from xedgesim.scenario.model import BrokerParams, NodeSpec
from xedgesim.services import payload
from xedgesim.sim.kernel import DELIVERY
from xedgesim.sim.messages import MessageBatch

MQTT_PORT = 1883
# Origins cross a real broker as instants of the 2000s in ns (19 digits), as a fleet run's
# do (its run's epoch, xedgesim/fleetrun/broker.py): a reading or aggregate is then as many
# bytes in a hybrid simulation as on a fleet, and byte rates compare (docs/parity.md).
ORIGIN_OFFSET_NS = 10**18


class MosquittoBroker(Node):
    wall_clock = True
    block_limit_ns = 1_000_000  # publish within 1 ms (virtual) of each message's arrival
    # Declared up front, like the models' counters: nodes.csv's columns depend only on the
    # node types of the scenario, never on whether Mosquitto delivered or garbled anything.
    counter_names = ("forwarded", "published", "undecodable")

    def __init__(self, spec: NodeSpec, context: SimContext) -> None:
        super().__init__(spec, context)
        self.params: BrokerParams = spec.params  # type: ignore[assignment]
        if context.containers is None or spec.image is None:
            raise ContainerError(f"node {spec.id!r}: a docker broker needs an image")
        self.container = context.containers.start(
            ContainerSpec(node=spec.id, image=spec.image, ports=(MQTT_PORT,),
                          environment={"XEDGESIM_BROKER_PROFILE": "simulation"})
        )
        self.address = self.container.address(MQTT_PORT)
        self.publisher = connected_client(self.address, f"xedgesim-{spec.id}-bridge")
        self.bridges: list[Any] = []

    def subscribe(self, node: str, filters: tuple[str, ...], qos: int) -> None:
        """Subscribe on behalf of ``node`` unless it talks MQTT itself."""
        if self.context.scenario.node(node).docker.get("mode") == "service":
            return
        link = self.context.network.link(self.id, node, self.params.retry_interval_ns,
                                         self.params.max_retries)
        pacer = self.context.pacer
        if pacer is None:
            raise ContainerError(f"node {self.id!r}: a wall-clock broker needs a paced run")

        bridge = _Bridge(self, link)

        def on_message(_client: Any, _userdata: Any, message: Any) -> None:
            pacer.inject(lambda now: bridge.arrived(message, now))

        client = connected_client(self.address, f"xedgesim-{node}", on_message=on_message)
        subscribed = threading.Event()
        client.on_subscribe = lambda *_: subscribed.set()
        client.subscribe([(topic, qos) for topic in filters])
        if not subscribed.wait(10):
            raise ContainerError(f"node {self.id!r}: no SUBACK for {node}'s subscription")
        self.bridges.append(client)

    def receive(self, block: MessageBatch) -> None:
        names = self.context.topics.names
        for row in range(len(block)):
            self.publisher.publish(
                names[int(block.topic[row])],
                payload.encode(
                    id=int(block.id[row]), value=float(block.value[row]),
                    vmin=float(block.vmin[row]), vmax=float(block.vmax[row]),
                    n=int(block.n[row]), origin_ns=int(block.origin[row]) + ORIGIN_OFFSET_NS,
                ),
                qos=int(block.qos[row]),
                retain=bool(block.retain[row]),
            )
        self.counters.add("published", 0, len(block))

    def batch(self, message: Any, now: int) -> MessageBatch | None:
        """What Mosquitto delivered, as a message the broker node sends on at ``now``."""
        try:
            fields = payload.decode(message.payload)
        except ValueError:
            self.counters.add("undecodable", 0)
            return None
        return MessageBatch.one(
            id=fields["id"], src=self.group.first,
            topic=self.context.topics.intern(message.topic), size=len(message.payload),
            qos=message.qos, retain=bool(message.retain),
            origin=fields["origin_ns"] - ORIGIN_OFFSET_NS, sent=now,
            value=fields["value"], vmin=fields["vmin"], vmax=fields["vmax"], n=fields["n"],
        )

    def stop(self) -> None:
        for client in [self.publisher, *self.bridges]:
            client.disconnect()
            client.loop_stop()
        self.bridges.clear()


class BlockBridge:
    """What a real broker delivers to one subscriber, entering the run block by block.

    Each message is injected on its own (so each counts in the lag from its arrival); the first
    of a wake-up schedules one kernel event at that virtual time, which sends all that arrived
    by then through the subscriber's link as one batch. Subclasses say how a message becomes a
    batch (``batch``; ``None`` drops it) and which counters count what was forwarded: the
    hybrid run's broker here, a fleet run's cloud side in :mod:`xedgesim.fleetrun.cloud`.
    """

    def __init__(self, context: SimContext, link: Any) -> None:
        self.context = context
        self.link = link
        self.pending: list[Any] = []

    @property
    def counters(self) -> Any:
        """The counters that count forwarded messages, or None."""
        return None

    def batch(self, message: Any, now: int) -> MessageBatch | None:
        raise NotImplementedError

    def arrived(self, message: Any, now: int) -> None:
        kernel = self.context.kernel
        if now >= kernel.until:  # the run is ending: no event can be scheduled any more
            self.pending.append(message)
            self.send(now)
            return
        if not self.pending:
            kernel.schedule(now, DELIVERY, self.send)
        self.pending.append(message)

    def send(self, now: int | None) -> int:
        messages, self.pending = self.pending, []
        sent_at = self.context.kernel.now if now is None else now
        batches = [b for m in messages if (b := self.batch(m, sent_at)) is not None]
        if batches:
            if self.counters is not None:
                self.counters.add("forwarded", 0, len(batches))
            self.link.send(MessageBatch.concat(batches))
        return len(messages)


class _Bridge(BlockBridge):
    """A hybrid run's bridged subscriber: the broker node decodes and counts."""

    def __init__(self, broker: MosquittoBroker, link: Any) -> None:
        super().__init__(broker.context, link)
        self.broker = broker

    @property
    def counters(self) -> Any:
        return self.broker.counters

    def batch(self, message: Any, now: int) -> MessageBatch | None:
        return self.broker.batch(message, now)
