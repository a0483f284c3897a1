"""Run a scenario written as YAML text and look at individual messages.

``run_yaml`` loads the text with ``load_scenario_text``, runs ``simulate`` with an in-memory
recorder (the ``Recorder`` protocol of ``xedgesim.sim.network``) and also notes every first
transmission on every link, so a test can follow one message from its send to its fate. After
each run it checks the accounting of every flow (``check_accounting``).

Loaded by ``tests/unit/conftest.py`` (pytest runs with ``--import-mode=importlib``); tests get it
through the ``sim`` fixture.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from unittest import mock

import numpy as np

from xedgesim import simulation
from xedgesim.metrics import FlowStats
from xedgesim.scenario import Scenario, load_scenario_text
from xedgesim.sim.faults import CAUSES
from xedgesim.sim.messages import FIELD_NAMES, MessageBatch
from xedgesim.sim.network import Link, Network
from xedgesim.simulation import RunResult

MS = 1_000_000
S = 1_000_000_000


@dataclass(frozen=True)
class Row:
    """One message on one hop: as first sent (``status='sent'``), delivered, lost, or still
    travelling when the run ends (``in_flight``)."""

    status: str
    flow: str
    id: int
    sender: str  # instance id of this hop's sender
    topic: str
    origin: int
    first_sent: int
    sent: int
    arrival: int
    attempt: int
    qos: int
    retain: bool
    size: int
    value: float
    vmin: float
    vmax: float
    n: int
    waited: int  # in a bandwidth-limited link's FIFO (-1: the transmission did not start)
    cause: str | None = None

    @property
    def key(self) -> tuple[int, int]:
        """A message on a hop: its id and first send time (a retained copy re-sent by the broker
        keeps its id but is a new send)."""
        return (self.id, self.first_sent)

    @property
    def latency(self) -> int:
        """Hop latency as the flow statistics count it: arrival − first send."""
        return self.arrival - self.first_sent


# the MessageBatch columns of a Row, in its field order (src and topic become names)
_ROW_COLUMNS = ("id", "src", "topic", "origin", "first_sent", "sent", "arrival", "attempt",
                "qos", "retain", "size", "value", "vmin", "vmax", "n", "waited")


class MemoryRecorder:
    """Collects every delivered and lost message, one ``Row`` each."""

    def __init__(self) -> None:
        self.instance_ids: list[str] = []
        self.topic_names: list[str] = []
        self.delivered_rows: list[Row] = []
        self.lost_rows: list[Row] = []
        self.in_flight_rows: list[Row] = []
        self._senders: dict[int, str] = {}
        self._topics: dict[int, str] = {}

    def start(self, instance_ids: list[str], topic_names: list[str]) -> None:
        self.instance_ids = instance_ids
        self.topic_names = topic_names  # the run's live table: filled as nodes intern topics

    def rows(self, status: str, flow: str, batch: MessageBatch,
             causes: np.ndarray | None = None) -> list[Row]:
        """One ``Row`` per message of ``batch``. Columns are turned into Python values once
        per batch and each name is looked up once per run: a theory test records millions of
        messages, and a lookup per message made this harness most of its time."""
        columns = {name: getattr(batch, name).tolist() for name in _ROW_COLUMNS}
        senders = [_name(self._senders, self.instance_ids, i) for i in columns["src"]]
        topics = [_name(self._topics, self.topic_names, i) for i in columns["topic"]]
        cause_names = ([None] * len(batch) if causes is None
                       else [CAUSES[code - 1] for code in causes.tolist()])
        return [Row(status, flow, *values, cause=cause)
                for *values, cause in zip(
                    columns["id"], senders, topics,
                    *(columns[name] for name in _ROW_COLUMNS[3:]), cause_names, strict=True)]

    def delivered(self, flow: FlowStats, block: MessageBatch) -> None:
        self.delivered_rows.extend(self.rows("delivered", flow.name, block))

    def lost(self, flow: FlowStats, batch: MessageBatch, causes: np.ndarray) -> None:
        assert len(causes) == len(batch)
        assert (causes >= 1).all(), f"a lost message without a cause: {causes}"
        self.lost_rows.extend(self.rows("lost", flow.name, batch, causes))

    def in_flight(self, flow: FlowStats, batch: MessageBatch) -> None:
        self.in_flight_rows.extend(self.rows("in_flight", flow.name, batch))


def _name(cache: dict[int, str], table: Sequence[str], index: int) -> str:
    """``table[index]``, remembered: an index's name never changes once interned."""
    name = cache.get(index)
    if name is None:
        name = cache[index] = table[index]
    return name


def _copy(batch: MessageBatch) -> MessageBatch:
    return MessageBatch(*(np.array(getattr(batch, name), copy=True) for name in FIELD_NAMES))


class _CapturingNetwork(Network):
    """The real network, plus a note of every first transmission (what ``Link._count_sent``
    counts: a sensor whose battery ran out emits nothing, though ``Link.send`` saw it)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.first_sends: list[tuple[str, MessageBatch]] = []
        self._wrapped: set[int] = set()
        _CapturingNetwork.last = self

    def link(self, sender: str, receiver: str, retry_interval_ns: int, max_retries: int) -> Link:
        link = super().link(sender, receiver, retry_interval_ns, max_retries)
        if id(link) not in self._wrapped:
            self._wrapped.add(id(link))
            original = link._count_sent

            def count_sent(batch: MessageBatch, _link: Link = link, _original=original) -> None:
                self.first_sends.append((_link.flow.name, _copy(batch)))
                _original(batch)

            link._count_sent = count_sent  # type: ignore[method-assign]
        return link


@dataclass
class Run:
    scenario: Scenario
    result: RunResult
    summary: dict
    network: Network
    recorder: MemoryRecorder
    delivered: list[Row]
    lost: list[Row]
    in_flight: list[Row]
    _flows: dict[str, FlowStats] = field(default_factory=dict)
    _sent: list[Row] | None = None

    @property
    def sent(self) -> list[Row]:
        """Every first transmission on every link, one row each; made when first asked for (a
        theory test of millions of messages that only counts never asks)."""
        if self._sent is None:
            self._sent = [row for flow, batch in self.network.first_sends
                          for row in self.recorder.rows("sent", flow, batch)]
        return self._sent

    def flow(self, name: str) -> dict:
        """The flow's entry in ``summary.json``."""
        return self.summary["flows"][name]

    def stats(self, name: str) -> FlowStats:
        return self._flows[name]

    def sent_on(self, flow: str) -> list[Row]:
        return sorted((r for r in self.sent if r.flow == flow), key=lambda r: (r.sent, r.id))

    def delivered_on(self, flow: str) -> list[Row]:
        return sorted((r for r in self.delivered if r.flow == flow),
                      key=lambda r: (r.first_sent, r.id))

    def lost_on(self, flow: str) -> list[Row]:
        return sorted((r for r in self.lost if r.flow == flow), key=lambda r: (r.first_sent, r.id))

    def in_flight_keys(self, flow: str) -> set[tuple[int, int]]:
        done = {r.key for r in self.delivered_on(flow)} | {r.key for r in self.lost_on(flow)}
        return {r.key for r in self.sent_on(flow)} - done

    def counter(self, node: str, name: str) -> int:
        """A node group's counter summed over its instances (0 when never counted)."""
        return int(self.summary["nodes"][node].get(name, 0))

    def counters(self, node: str, name: str) -> np.ndarray:
        """A node group's counter per instance."""
        group = self.result.counters[node]
        return group.values.get(name, np.zeros(group.count, dtype=np.int64))

    def end_to_end(self, node: str):
        return self.result.end_to_end[node]


def load(text: str) -> Scenario:
    return load_scenario_text(textwrap.dedent(text), "test.yaml")


def run_yaml(text: str, *, check: bool = True) -> Run:
    """Load and simulate ``text``; with ``check``, assert the accounting of every flow."""
    return run_scenario(load(text), check=check)


def run_scenario(scenario: Scenario, *, check: bool = True) -> Run:
    recorder = MemoryRecorder()
    with mock.patch.object(simulation, "Network", _CapturingNetwork):
        result = simulation.simulate(scenario, recorder=recorder)
    run = Run(
        scenario=scenario,
        result=result,
        summary=result.summary(),
        network=_CapturingNetwork.last,
        recorder=recorder,
        delivered=recorder.delivered_rows,
        lost=recorder.lost_rows,
        in_flight=recorder.in_flight_rows,
        _flows={flow.name: flow for flow in result.flows},
    )
    if check:
        check_accounting(run)
    return run


def pending_in_mailboxes(network: Network) -> list[tuple[str, int, int, int]]:
    """(receiver, id, first_sent, arrival) of every message still in a mailbox at the end."""
    out = []
    for receiver, box in network.mailboxes.items():
        for chunk in box._chunks:
            for i in range(len(chunk)):
                out.append((receiver, int(chunk.id[i]), int(chunk.first_sent[i]),
                            int(chunk.arrival[i])))
    return out


def check_accounting(run: Run) -> None:
    """sent = delivered + lost + in_flight for every flow, and the records agree with it (the
    records of the messages first sent after the warmup, when the scenario has one)."""
    duration = run.scenario.duration_ns
    warmup = run.scenario.warmup_ns

    def measured(rows: list[Row]) -> list[Row]:
        return [row for row in rows if row.first_sent >= warmup]

    topology_groups = {spec.id for spec in run.scenario.nodes}
    for flow in run.result.flows:
        name = flow.name
        entry = run.flow(name)
        lost_total = sum(entry["lost"].values())
        assert entry["sent"] == entry["delivered"] + lost_total + entry["in_flight"], name
        assert entry["in_flight"] >= 0, f"{name}: negative in_flight {entry['in_flight']}"
        sent, delivered, lost = (measured(run.sent_on(name)), measured(run.delivered_on(name)),
                                 measured(run.lost_on(name)))
        assert len(sent) == flow.sent, f"{name}: {len(sent)} first sends recorded, {flow.sent}"
        assert len(delivered) == flow.delivered, name
        causes = Counter(r.cause for r in lost)
        assert {c: causes.get(c, 0) for c in flow.causes} == dict(flow.lost), name
        assert set(causes) <= set(flow.causes), name
        sent_keys = [r.key for r in sent]
        assert len(set(sent_keys)) == len(sent_keys), f"{name}: a message sent twice"
        finished = [r.key for r in delivered] + [r.key for r in lost]
        assert len(set(finished)) == len(finished), f"{name}: a message with two fates"
        assert set(finished) <= set(sent_keys), f"{name}: a fate for a message never sent"
        assert len(set(sent_keys) - set(finished)) == flow.in_flight(), name
        travelling = [r.key for r in measured(run.in_flight) if r.flow == name]
        assert len(travelling) == flow.in_flight(), f"{name}: in-flight rows"
        assert set(travelling) == set(sent_keys) - set(finished), name
        for row in delivered:
            assert row.arrival < duration, f"{name}: delivered after the end: {row}"
            assert row.arrival >= row.sent >= row.first_sent, f"{name}: {row}"
        assert flow.latency.count == flow.delivered, name
        if delivered:
            assert flow.latency.min == min(r.latency for r in delivered), name
            assert flow.latency.max == max(r.latency for r in delivered), name
            assert flow.latency.total == sum(r.latency for r in delivered), name
        assert flow.delivered_bytes == sum(r.size for r in delivered), name
    in_flight = {
        (flow.sender, flow.receiver): run.in_flight_keys(flow.name) for flow in run.result.flows
    }
    everything_in_flight = set().union(*in_flight.values()) if in_flight else set()
    for receiver, message_id, first_sent, arrival in pending_in_mailboxes(run.network):
        # A message that would arrive at or after the end is never queued: it is in flight.
        assert arrival < duration, f"message {message_id} for {receiver} queued at {arrival}"
        assert (message_id, first_sent) in everything_in_flight, message_id
    if warmup:
        return  # node counters cover the whole run, the flows only what follows the warmup
    # Per node: the counters agree with the flows.
    for group in topology_groups:
        outgoing = [f for f in run.result.flows if f.sender == group]
        incoming = [f for f in run.result.flows if f.receiver == group]
        assert run.counter(group, "delivered") == sum(f.delivered for f in outgoing), group
        assert run.counter(group, "lost") == sum(sum(f.lost.values()) for f in outgoing), group
        assert run.counter(group, "retransmissions") == sum(
            f.retransmissions for f in outgoing), group
        assert run.counter(group, "received") == sum(f.delivered for f in incoming), group
        assert run.counter(group, "sent") == sum(f.sent for f in outgoing), group
