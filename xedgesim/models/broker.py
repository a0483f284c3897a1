"""An MQTT broker: routes publishes to matching subscriptions, keeps retained messages.

Delivery to a subscriber uses QoS min(publish, subscription); QoS 1 forwards that are lost
(random loss, cut link, subscriber down) are retried by the broker's link like any QoS 1 send,
which is how a message published while its subscriber is away still reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from xedgesim.models.base import Node, SimContext
from xedgesim.models.topics import matches
from xedgesim.scenario.model import BrokerParams, NodeSpec
from xedgesim.sim.messages import MessageBatch
from xedgesim.sim.network import Link


@dataclass
class _Subscriber:
    node: str
    filters: tuple[str, ...]
    qos: int
    link: Link
    matching: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def matches(self, topic_ids: np.ndarray, names: list[str]) -> np.ndarray:
        """Per message: does its topic match one of the filters? Cached per topic id."""
        known = len(self.matching)
        if len(names) > known:
            fresh = [any(matches(f, name) for f in self.filters) for name in names[known:]]
            self.matching = np.concatenate([self.matching, np.array(fresh, dtype=bool)])
        return self.matching[topic_ids]


class BrokerNode(Node):
    reacts_to_messages = True
    counter_names = ("forwarded", "dropped_no_subscriber")

    def __init__(self, spec: NodeSpec, context: SimContext) -> None:
        super().__init__(spec, context)
        self.params: BrokerParams = spec.params  # type: ignore[assignment]
        # A forward that fails is retried one retry interval later; blocks stay shorter than
        # that, so a retry never falls due inside a block whose forwards have already gone out.
        self.block_limit_ns = self.params.retry_interval_ns
        self.subscribers: list[_Subscriber] = []
        self.retained: dict[int, MessageBatch] = {}

    def subscribe(self, node: str, filters: tuple[str, ...], qos: int) -> None:
        link = self.context.network.link(self.id, node, self.params.retry_interval_ns,
                                         self.params.max_retries)
        self.subscribers.append(_Subscriber(node, filters, qos, link))

    def receive(self, block: MessageBatch) -> None:
        self._retain(block)
        names = self.context.topics.names
        routed = np.zeros(len(block), dtype=bool)
        for subscriber in self.subscribers:
            wanted = subscriber.matches(block.topic, names)
            if wanted.any():
                routed |= wanted
                self._forward(subscriber, block.select(wanted), block.arrival[wanted])
        self.counters.add("dropped_no_subscriber", 0, int((~routed).sum()))

    def _retain(self, block: MessageBatch) -> None:
        for row in np.flatnonzero(block.retain):
            self.retained[int(block.topic[row])] = block.select(np.array([row]))

    def _forward(self, subscriber: _Subscriber, batch: MessageBatch, when: np.ndarray) -> None:
        forwarded = batch.copy_with(
            src=np.full(len(batch), self.group.first, dtype=np.int64),
            qos=np.minimum(batch.qos, subscriber.qos).astype(np.int8),
            first_sent=when,
            sent=when,
            attempt=np.zeros(len(batch), dtype=np.int64),
        )
        self.counters.add("forwarded", 0, len(batch))
        subscriber.link.send(forwarded)

    def crashed(self, instance: int | None) -> None:
        if not self.params.persistence:
            self.retained.clear()

    def node_restarted(self, node: str, now: int) -> None:
        """A subscriber that comes back subscribes again and gets the retained messages it
        matches; when the broker itself comes back, every subscriber does."""
        if not self.retained or not self.is_up(now):
            return
        retained = MessageBatch.concat([self.retained[t] for t in sorted(self.retained)])
        for subscriber in self.subscribers:
            if node in (subscriber.node, self.id):
                wanted = subscriber.matches(retained.topic, self.context.topics.names)
                if wanted.any():
                    self._forward(subscriber, retained.select(wanted),
                                  np.full(int(wanted.sum()), now, dtype=np.int64))
