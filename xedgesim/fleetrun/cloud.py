"""The cloud side of a fleet run: a subscriber on the gateways' forward topics.

What the host's broker delivers enters the run at the virtual time it arrives (the paced
run's clock) and crosses the model's link to the subscribing node, exactly as a hybrid run's
bridge does (:mod:`xedgesim.docker.broker`): the cloud node, a python model, then measures
the age of the data. A message the run did not cause (a probe's reading, an aggregate from
before the run) is told apart by its origin: readings of this run carry origins offset by the
run's epoch (``base_ns``), so anything outside ``[0, now]`` is counted as foreign and dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xedgesim.docker.broker import BlockBridge
from xedgesim.metrics import NodeCounters
from xedgesim.models.base import SimContext
from xedgesim.services import payload
from xedgesim.sim.messages import MessageBatch


class Bridge(BlockBridge):
    """Messages from the real broker, into the run through one model link, block by block."""

    def __init__(self, context: SimContext, link: Any, src: int, base_ns: int,
                 topics: Mapping[str, str], tally: dict[str, int],
                 counters: NodeCounters | None = None) -> None:
        super().__init__(context, link)
        self.src = src  # the sending instance (the broker, or the gateway)
        self.base_ns = base_ns
        self.topics = dict(topics)  # fleet topic -> the scenario's topic, for records
        self.tally = tally  # shared counts: received, foreign, undecodable
        self._counters = counters  # the broker's, which counts what it forwarded

    @property
    def counters(self) -> NodeCounters | None:
        return self._counters

    def on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        """paho's thread: hand the message to the run's thread at once."""
        pacer = self.context.pacer
        assert pacer is not None
        pacer.inject(lambda now: self.arrived(message, now))

    def batch(self, message: Any, now: int) -> MessageBatch | None:
        self.tally["received"] = self.tally.get("received", 0) + 1
        try:
            fields = payload.decode(message.payload)
        except ValueError:
            self.tally["undecodable"] = self.tally.get("undecodable", 0) + 1
            return None
        origin = fields["origin_ns"] - self.base_ns
        if not 0 <= origin <= now:
            self.tally["foreign"] = self.tally.get("foreign", 0) + 1
            return None
        topic = self.topics.get(message.topic, message.topic)
        return MessageBatch.one(
            id=fields["id"], src=self.src, topic=self.context.topics.intern(topic),
            size=len(message.payload), qos=message.qos, retain=bool(message.retain),
            origin=origin, sent=now, value=fields["value"], vmin=fields["vmin"],
            vmax=fields["vmax"], n=fields["n"],
        )
