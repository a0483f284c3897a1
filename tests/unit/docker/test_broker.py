"""The docker broker's bridge (xedgesim/docker/broker.py) without an engine: what Mosquitto
delivers while the coordinator is busy enters the run as one block, each message counted."""

from __future__ import annotations

from types import SimpleNamespace

from xedgesim.docker.broker import MosquittoBroker, _Bridge
from xedgesim.metrics import NodeCounters
from xedgesim.models.topics import TopicTable
from xedgesim.services import payload
from xedgesim.sim.kernel import Kernel
from xedgesim.sim.messages import MessageBatch

S = 1_000_000_000


class FakeLink:
    def __init__(self) -> None:
        self.sent: list[MessageBatch] = []

    def send(self, batch: MessageBatch) -> None:
        self.sent.append(batch)


def bridge(kernel: Kernel) -> tuple[_Bridge, FakeLink, NodeCounters]:
    """A bridge of a broker that has no container: only what ``batch`` reads is set."""
    broker = object.__new__(MosquittoBroker)
    broker.counters = NodeCounters("broker", 1)  # type: ignore[misc]
    broker.group = SimpleNamespace(first=0)  # type: ignore[misc]
    broker.context = SimpleNamespace(kernel=kernel, topics=TopicTable())  # type: ignore[misc]
    link = FakeLink()
    return _Bridge(broker, link), link, broker.counters


def message(identity: int, data: bytes | None = None) -> SimpleNamespace:
    data = data or payload.encode_reading(id=identity, value=20.5, origin_ns=identity)
    return SimpleNamespace(topic=f"site/{identity}/t", payload=data, qos=1, retain=0)


def test_messages_taken_in_together_go_on_as_one_block() -> None:
    kernel = Kernel(10 * S)
    subject, link, counters = bridge(kernel)
    for identity in range(3):
        subject.arrived(message(identity), 2 * S)
    subject.arrived(message(9, b"[" * 100_000), 2 * S)  # undecodable: counted, not sent

    kernel.run()

    [block] = link.sent
    assert block.id.tolist() == [0, 1, 2]
    assert block.sent.tolist() == [2 * S] * 3
    assert kernel.events == 4  # every message handled counts as an event
    assert counters.values["forwarded"].sum() == 3
    assert counters.values["undecodable"].sum() == 1


def test_a_later_wake_up_makes_a_new_block() -> None:
    kernel = Kernel(10 * S)
    subject, link, _ = bridge(kernel)
    subject.arrived(message(1), S)
    kernel.run()  # runs the first block's event
    kernel.now = 3 * S
    subject.arrived(message(2), 3 * S)
    subject.arrived(message(3), 3 * S)
    kernel.run()

    assert [b.id.tolist() for b in link.sent] == [[1], [2, 3]]


def test_what_arrives_at_the_end_of_the_run_is_still_sent() -> None:
    kernel = Kernel(10 * S)
    subject, link, _ = bridge(kernel)
    kernel.now = 10 * S

    subject.arrived(message(7), 10 * S)

    assert [b.id.tolist() for b in link.sent] == [[7]]


def test_every_counter_the_broker_counts_is_declared_before_it_counts() -> None:
    """nodes.csv's columns come from the declared counters: before, ``published`` and
    ``undecodable`` appeared only once something was counted, so the header depended on what
    Mosquitto did. Declared through ``Node.__init__``, as every node's are."""
    from xedgesim.models.base import Node

    kernel = Kernel(10 * S)
    subject, _, _ = bridge(kernel)
    broker = subject.broker
    counters = NodeCounters("broker", 1)
    context = SimpleNamespace(topology=SimpleNamespace(groups={"broker": broker.group}),
                              counters={"broker": counters}, kernel=kernel,
                              topics=broker.context.topics)
    Node.__init__(broker, SimpleNamespace(id="broker"), context)  # type: ignore[arg-type]
    declared = set(counters.values)
    assert {"forwarded", "published", "undecodable"} <= declared
    assert all(counters.values[name].sum() == 0 for name in declared)

    subject.arrived(message(1), S)
    subject.arrived(message(2, b"not json"), S)
    kernel.run()
    broker.publisher = SimpleNamespace(publish=lambda *args, **kwargs: None)
    broker.receive(MessageBatch.concat(subject.link.sent))

    assert set(counters.values) == declared
    assert [counters.values[name].sum() for name in ("forwarded", "published", "undecodable")] \
        == [1, 1, 1]
