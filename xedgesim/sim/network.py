"""Links and mailboxes: how messages get from one node to another, or get lost on the way.

A ``Link`` is every directed link from the instances of one sender group to one receiver;
each instance has its own FIFO queue, its own loss and latency streams. A message's fate is
decided when it is sent, because every fault is scheduled in advance: cut links, crashed
senders and dead receivers are known, random loss and jitter come from counter-based streams.
Nothing crosses a cut link and a crashed sender sends nothing, not even what it had queued
(docs/simulation.md, "a message's fate on a link"). QoS 1 messages that are lost are sent
again after ``retry_interval``, up to ``max_retries`` times.

A ``Mailbox`` hands a receiver its arrivals in blocks. Any send made by an event at time t
departs at t or later, so arrivals before the next queued event are complete and can be handed
over together. A node whose handler sends (``reacts_to_messages``, the broker) to another such
node takes blocks no longer than the network's smallest latency, so nothing it causes can come
back inside the block: the result equals an event-by-event run, in far fewer steps.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol

import numpy as np

from xedgesim.metrics import FlowStats, Histogram, NodeCounters, exact_sum
from xedgesim.scenario.model import Buffer, LinkSpec, Scenario
from xedgesim.sim.distributions import sample
from xedgesim.sim.energy import LOST, MADE, EnergyAccount
from xedgesim.sim.faults import (
    BATTERY,
    CAUSES,
    NODE_DOWN,
    OK,
    OVERFLOW,
    RANDOM,
    FaultTimeline,
    reported_causes,
)
from xedgesim.sim.kernel import DELIVERY, NEVER, TIMER, Kernel
from xedgesim.sim.loss import GilbertChannel
from xedgesim.sim.messages import MessageBatch, arrival_order, constant
from xedgesim.sim.rng import occurrence_rank
from xedgesim.sim.schedule import NsPerByte, Phases, ns_per_byte
from xedgesim.sim.streams import RandomStreams
from xedgesim.sim.topology import Group, Topology
from xedgesim.timeseries import FlowSeries

_SENDER_DOWN = np.int8(len(CAUSES) + 1)  # lost as node_down, but never retried: see Link._failed
# Where a bandwidth queue saturates: a transmission that would end later ends here instead.
# The run ends before 2^61 ns and latency plus the largest jitter stay below 2^62 ns (both
# checked at load, xedgesim/scenario/horizon.py), so a message departing here is in flight at
# the end, as it would have been anyway, and its arrival still fits int64: time never wraps,
# however long the backlog a slow link accumulates (docs/simulation.md, "Bandwidth").
SATURATED_NS = 2**62
_INT64_MAX = 2**63 - 1
_NOT_STARTED = np.full(1, -1, dtype=np.int64)  # ``waited`` of an attempt not yet transmitted


class Receiver(Protocol):
    id: str
    reacts_to_messages: bool
    block_limit_ns: int | None

    def receive(self, block: MessageBatch) -> None: ...


class ServiceQueue(Protocol):
    """A node's processing queue (``xedgesim/sim/service.py``), between its mailbox and it."""

    def admit(self, arrived: MessageBatch) -> None: ...

    def done_before(self, bound: int) -> MessageBatch | None: ...

    def earliest(self) -> int: ...


class Recorder(Protocol):
    """Optional per-message output (``--records``)."""

    def start(self, instance_ids: list[str], topic_names: list[str]) -> None: ...

    def delivered(self, flow: FlowStats, block: MessageBatch) -> None: ...

    def lost(self, flow: FlowStats, batch: MessageBatch, causes: np.ndarray) -> None: ...

    def in_flight(self, flow: FlowStats, batch: MessageBatch) -> None:
        """Messages whose fate the run's end leaves undecided."""


class Network:
    def __init__(
        self,
        scenario: Scenario,
        topology: Topology,
        timeline: FaultTimeline,
        kernel: Kernel,
        counters: dict[str, NodeCounters],
        recorder: Recorder | None = None,
        energy: dict[str, EnergyAccount] | None = None,
    ) -> None:
        """The links of ``scenario``'s network, drawing from its seed's streams, counting the
        loss causes it reports and leaving its ``warmup`` out of the flows' counts; ``energy``:
        the accounts of the nodes with ``energy:``, charged by their links and mailboxes."""
        spec = scenario.network
        self.spec = spec
        self.seed = scenario.seed
        self.causes = reported_causes(scenario)
        self.warmup_ns = scenario.warmup_ns
        self.energy = energy or {}
        self.topology = topology
        self.timeline = timeline
        self.kernel = kernel
        self.counters = counters
        self.recorder = recorder
        self.flows: dict[tuple[str, str], FlowStats] = {}
        self.mailboxes: dict[str, Mailbox] = {}
        self._links: dict[tuple[str, str], Link] = {}
        # The smallest latency ever in effect: a link's schedule may lower it during the run.
        latencies = [spec.default.lowest_latency_ns()]
        latencies += [o.spec.lowest_latency_ns() for o in spec.links]
        self.lookahead = max(1, min(latencies))

    def link_spec(self, a: str, b: str) -> LinkSpec:
        return self.spec.between(a, b)

    def link(self, sender: str, receiver: str, retry_interval_ns: int, max_retries: int) -> Link:
        """The link bundle from group ``sender`` to node ``receiver`` (created once)."""
        key = (sender, receiver)
        if key not in self._links:
            spec = self.link_spec(sender, receiver)
            queued = spec.slowest_bandwidth_bps() is not None
            series = FlowSeries(self.kernel.until, queue=queued)
            flow = self.flows.setdefault(key, FlowStats(
                sender, receiver, causes=self.causes, series=series,
                waiting=Histogram() if queued else None, warmup_ns=self.warmup_ns))
            group = self.topology.groups[sender]
            publish = getattr(group.spec.params, "publish", None)
            own_buffer = publish.buffer if publish is not None and publish.to == receiver \
                else None
            self._links[key] = Link(
                self,
                spec,
                group,
                self.topology.groups[receiver],
                flow,
                retry_interval_ns,
                max_retries,
                own_buffer,
            )
        return self._links[key]

    def attach(self, node: Receiver, service: ServiceQueue | None = None) -> None:
        self.mailboxes[node.id] = Mailbox(self, node, service)

    def feeds_reactive_node(self, sender: str) -> bool:
        """Can what ``sender`` sends make another node send at once (and so come back)?"""
        return any(
            self.mailboxes[receiver].node.reacts_to_messages
            for (origin, receiver) in self._links
            if origin == sender and receiver in self.mailboxes
        )


class Link:
    def __init__(
        self,
        network: Network,
        spec: LinkSpec,
        sender: Group,
        receiver: Group,
        flow: FlowStats,
        retry_interval_ns: int,
        max_retries: int,
        own_buffer: Buffer | None = None,
    ) -> None:
        """``own_buffer``: the sender's publish ``buffer``, a limit on its FIFO besides the
        link's."""
        self.network = network
        self.spec = spec
        self.sender = sender
        self.receiver = receiver
        self.flow = flow
        self.retry_interval_ns = retry_interval_ns
        self.max_retries = max_retries
        streams = RandomStreams(network.seed)
        self._loss = (streams.link(sender.id, receiver.id, "loss", sender.count)
                      if spec.ever_lossy() else None)
        self._jitter = (streams.link(sender.id, receiver.id, "jitter", sender.count)
                        if spec.jitter else None)
        self._bursty = (GilbertChannel(spec.gilbert, streams, sender.id, receiver.id,
                                       sender.count) if spec.gilbert else None)
        # With a schedule (docs/simulation.md, "Links that change") latency, loss and bandwidth
        # come from its phases; without one, from ``spec`` as they always have.
        self._phases = Phases(spec) if spec.schedule is not None else None
        bandwidth = spec.slowest_bandwidth_bps()
        self._shared = spec.queue == "shared"
        # When each FIFO's link is free: one per sender instance, or one shared by them all.
        self._busy_until = (np.zeros(1 if self._shared else sender.count, dtype=np.int64)
                            if bandwidth else None)
        self._limit = _fifo_limit(spec.buffer, own_buffer)
        # What is in each finite FIFO (FIFO index -> when each message leaves it, its size,
        # oldest first) and its bytes: only finite buffers look at the queue's length.
        self._inside: dict[int, deque[tuple[int, int]]] = {}
        self._inside_bytes: dict[int, int] = {}
        if bandwidth:
            # With a schedule, the slowest phase's: an upper bound, for the fault check.
            self._ns_per_byte = ns_per_byte(bandwidth)
        timeline = network.timeline
        self._may_be_cut = timeline.affects_link(sender.id, receiver.id)
        self._receiver_may_be_down = timeline.has_node_outages(receiver.id)
        self._sender_may_be_down = timeline.has_node_outages(sender.id)
        self._retries: MessageBatch | None = None  # waiting QoS 1 retries, by (sent, id)
        self._retry_at = NEVER
        self._energy = network.energy.get(sender.id)  # the sender's account, if it has one

    def send(self, batch: MessageBatch) -> None:
        """First transmissions (rows in order of ``sent``).

        Retries that fall due before the last of them go out in the same batch, in send-time
        order, so the FIFO queue and the random streams see messages exactly as an
        event-by-event run would. Callers keep each batch shorter than ``retry_interval``, so
        no retry can fall due inside a batch that has already gone out.
        """
        if not len(batch):
            return
        due = None
        if self._retries is not None:
            due = self._take_due_retries(before=int(batch.sent[-1]) + 1)
        if self._energy is not None:
            self._send_powered(batch, due)
            return
        self._count_sent(batch)
        if due is not None:
            self._count_retransmissions(due)
            batch = MessageBatch.concat([due, batch])
            batch = batch.select(np.lexsort((batch.id, batch.sent)))
        if len(batch):
            self._transmit(batch)

    def _count_sent(self, batch: MessageBatch) -> None:
        self.flow.count_sent(batch.sent)
        self.network.counters[self.sender.id].add("sent", batch.src - self.sender.first)

    def _count_retransmissions(self, due: MessageBatch) -> None:
        self.flow.count_retransmissions(due.first_sent)
        self.network.counters[self.sender.id].add("retransmissions", due.src - self.sender.first)

    def _send_powered(self, first: MessageBatch | None, due: MessageBatch | None) -> None:
        """Charge first transmissions and due retries to the sender's energy account, in
        send-time order, and send those its battery lets it make (docs/simulation.md, "Energy
        and battery").

        A first transmission of an instance already dead is dropped: it never happened. One
        its battery cannot power counts as sent and is lost as ``battery``, as is every retry
        of a dead instance; these are not retransmissions. On a link with a finite buffer the
        walk through the FIFO charges each message as the buffer admits or refuses it: a
        refused one never goes on air and costs no transmission, so the battery's verdicts
        depend on the buffer's, message by message.
        """
        parts = [part for part in (due, first) if part is not None]
        batch = MessageBatch.concat(parts)
        if len(parts) > 1:
            batch = batch.select(np.lexsort((batch.id, batch.sent)))
        local = batch.src - self.sender.first
        is_first = batch.attempt == 0
        queued = None
        if self._limit is None:
            verdict = self._energy.transmit(local, batch.sent, batch.size, is_first)
        else:
            *queued, verdict = self._queue(local, batch.sent, batch.size, is_first)
        if verdict is not None and verdict.any():  # not all made (MADE is 0)
            lost = verdict == LOST
            if lost.any():
                self._count_sent(batch.select(lost & is_first))
                self._lose(batch.select(lost), np.full(int(lost.sum()), BATTERY, np.int8))
            made = verdict == MADE
            batch, is_first = batch.select(made), is_first[made]
            if queued is not None:
                queued = [column[made] for column in queued]
        self._count_sent(batch.select(is_first))
        retries = ~is_first
        if retries.any():
            self._count_retransmissions(batch.select(retries))
        if len(batch):
            self._transmit(batch, queued)

    def _transmit(self, batch: MessageBatch, queued: list[np.ndarray] | None = None) -> None:
        """Send ``batch`` through the FIFO and over the link; ``queued``: its walk through
        the FIFO when the caller made it already (``_send_powered``)."""
        network = self.network
        local = batch.src - self.sender.first
        if self._busy_until is not None:
            departure, cause, decided, waited = (
                queued if queued is not None
                else self._queue(local, batch.sent, batch.size)[:4])
            self._count_queue(batch, departure, cause, waited)
            if network.recorder is not None:
                batch = batch.copy_with(waited=waited)
        else:
            departure = decided = batch.sent
            cause = self._fault_at_start(local, batch.sent)
        on_air = cause == OK
        all_on_air = bool(on_air.all())
        air_local = local if all_on_air else local[on_air]
        if not all_on_air:
            departure = departure[on_air]
        phase = None if self._phases is None else self._phases.at(departure)
        arrival = departure + (self.spec.latency_ns if phase is None
                               else self._phases.latency_ns[phase])
        if self._jitter is not None:
            uniforms = self._jitter.uniform(air_local)
            jitter = sample(self.spec.jitter, uniforms, truncate_at_zero=True)
            arrival += np.rint(jitter, out=jitter).astype(np.int64)  # arrival: a fresh array
        air_cause = np.zeros(len(arrival), dtype=np.int8)
        if self._loss is not None:
            loss = self.spec.loss if phase is None else self._phases.loss[phase]
            air_cause[self._loss.uniform(air_local) < loss] = RANDOM
        elif self._bursty is not None:
            air_cause[self._bursty.lost(air_local)] = RANDOM
        if self._receiver_may_be_down:
            down = network.timeline.node_down(self.receiver.id, np.zeros(len(arrival), np.int64),
                                              arrival)
            air_cause[down & (air_cause == OK)] = NODE_DOWN
        # Still travelling when the run ends, or not even started: in flight, fate undecided.
        late = arrival >= network.kernel.until
        if all_on_air:
            cause = air_cause
        else:
            cause[on_air] = air_cause
            full_arrival = decided.copy()
            full_arrival[on_air] = arrival
            arrival = full_arrival
            full_late = decided >= network.kernel.until
            full_late[on_air] = late
            late = full_late
        arrived = (cause == OK) & ~late
        if arrived.any():
            # One copy of the arrived rows, already in (arrival, id) order.
            rows = np.flatnonzero(arrived)
            order = arrival_order(arrival[rows], batch.id[rows])
            if order is not None:
                rows = rows[order]
            network.mailboxes[self.receiver.id].put(
                batch.select(rows).copy_with(arrival=arrival[rows]))
        silenced = (cause == _SENDER_DOWN) & ~late
        if silenced.any():
            self._lose(batch.select(silenced), np.full(int(silenced.sum()), NODE_DOWN, np.int8))
        failed = (cause != OK) & (cause != _SENDER_DOWN) & ~late
        if failed.any():
            self._failed(batch.select(failed), cause[failed])
        if network.recorder is not None and late.any():
            self._record_in_flight(batch.select(late))

    def _record_in_flight(self, batch: MessageBatch) -> None:
        """Record messages the run's end leaves travelling; a wait is shown only for a
        transmission that started within the run."""
        if self._busy_until is not None:
            unstarted = batch.sent + batch.waited >= self.network.kernel.until
            if unstarted.any():
                batch = batch.copy_with(waited=np.where(unstarted, -1, batch.waited))
        self.network.recorder.in_flight(self.flow, batch)

    def _count_queue(self, batch: MessageBatch, departure: np.ndarray, cause: np.ndarray,
                     waited: np.ndarray) -> None:
        """The queue's length over time (timeseries.csv) and how long each transmission that
        started within the run waited for its turn (summary.json); a message lost to
        overflow never entered the queue."""
        sent = batch.sent
        if self._limit is not None:
            entered = cause != OVERFLOW
            self.flow.count_queue(sent[entered], departure[entered])
        else:
            self.flow.count_queue(sent, departure)
        started = waited >= 0
        started &= sent + waited < self.network.kernel.until
        self.flow.count_waited(waited[started], batch.first_sent[started])

    def _fault_at_start(self, local: np.ndarray, start: np.ndarray) -> np.ndarray:
        """Per transmission starting at ``start``: ``OK``, or why it cannot start: the sender
        is down (``_SENDER_DOWN``, it sends nothing), or the link is cut."""
        cause = np.zeros(len(start), dtype=np.int8)
        if self._may_be_cut:
            cause = self.network.timeline.link_cut(self.sender.id, self.receiver.id, start)
        if self._sender_may_be_down:
            cause[self.network.timeline.node_down(self.sender.id, local, start)] = _SENDER_DOWN
        return cause

    def _queue(self, local: np.ndarray, sent: np.ndarray, size: np.ndarray,
               first: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """FIFO per sender instance (or one shared by all): a transmission starts at
        max(sent, end of the previous one) and ends ``size × 8 / bandwidth`` later, its
        departure.

        A fault that holds at the start, or begins before the end, loses the message (see
        "a message's fate on a link" in docs/simulation.md): the link is free again from the
        moment of the fault, and what is queued behind meets the same fault. Returns the
        departures, the causes, when each fate was decided (the start, or the fault, or the
        arrival of a message a full buffer refused) and how long each waited before its
        transmission started (-1 when it did not start), then the energy verdicts when
        ``first`` (whether each is a first send) asks the walk of a finite buffer to charge
        the sender's account (see ``_walk``), else None.
        """
        busy = self._busy_until
        serialisation = self._serialisation(size)
        faulty = (self._may_be_cut or self._sender_may_be_down) and len(local) > 0
        if faulty:
            longest = int(serialisation.max())
            total = int(serialisation.sum()) if longest * len(local) < SATURATED_NS \
                else SATURATED_NS
            latest = min(max(int(busy.max()), int(sent[-1])) + total, SATURATED_NS)
            faulty = self.network.timeline.disturbs(self.sender.id, self.receiver.id,
                                                    int(sent[0]), latest + 1)
        if self._shared or self._limit is not None:
            return self._walk(local, sent, size, serialisation, faulty, first)
        cause = np.zeros(len(local), dtype=np.int8)
        if self._phases is None:
            def took(rows: np.ndarray, _: np.ndarray) -> np.ndarray:
                return serialisation[rows]
        else:  # the bandwidth of the phase each starts in
            def took(rows: np.ndarray, start: np.ndarray) -> np.ndarray:
                return self._phases.serialisation(size[rows], start, self._serialisation)
        if not faulty:
            start, departure = fifo_per_instance(local, sent, busy, took)
            return departure, cause, departure, start - sent, None
        decided = np.empty(len(local), dtype=np.int64)
        started = np.empty(len(local), dtype=bool)

        def interrupted(rows: np.ndarray, who: np.ndarray, start: np.ndarray,
                        end: np.ndarray) -> np.ndarray:
            free, cause[rows], decided[rows], started[rows] = self._interrupted(who, start, end)
            return free

        start, departure = fifo_per_instance(local, sent, busy, took, interrupted)
        return departure, cause, decided, np.where(started, start - sent, -1), None

    def _walk(self, local: np.ndarray, sent: np.ndarray, size: np.ndarray,
              serialisation: np.ndarray, faulty: bool, first: np.ndarray | None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """``_queue`` message by message, for a shared FIFO or a finite buffer (drop-tail).

        Which messages a finite buffer admits depends on which it admitted before, and a
        shared FIFO is one queue however many senders feed it: both are sequential by nature,
        so they are walked in order, at a cost paid only by the links that have them. A
        message arriving at ``t`` finds in the FIFO the admitted messages that leave it after
        ``t`` (their transmission ends, or a fault drops them, later), the one being
        serialised included; it is refused (``OVERFLOW``) when they already number
        ``buffer`` messages, or when its bytes would take theirs past ``buffer`` bytes.

        With ``first`` (a finite buffer on a link whose sender has an energy account), each
        message is charged as it arrives, after the buffer's decision: a refused one costs no
        transmission; one the battery does not power (verdict not ``MADE``) never enters the
        FIFO. Returns the verdicts then.
        """
        count = len(local)
        departure = np.empty(count, dtype=np.int64)
        decided = np.empty(count, dtype=np.int64)
        waited = np.full(count, -1, dtype=np.int64)
        cause = np.zeros(count, dtype=np.int8)
        verdict = None if first is None else np.full(count, MADE, dtype=np.int8)
        most_messages, most_bytes = self._limit or (None, None)
        shared = self._shared
        busy = self._busy_until
        free = busy.tolist()
        rows = zip(local.tolist(), sent.tolist(), size.tolist(), serialisation.tolist(),
                   strict=True)
        for row, (who, at, nbytes, took) in enumerate(rows):
            fifo = 0 if shared else who
            if self._limit is not None:
                inside = self._inside.get(fifo)
                if inside is None:
                    inside = self._inside[fifo] = deque()
                    self._inside_bytes[fifo] = 0
                while inside and inside[0][0] <= at:
                    self._inside_bytes[fifo] -= inside.popleft()[1]
                full = ((most_messages is not None and len(inside) >= most_messages)
                        or (most_bytes is not None
                            and self._inside_bytes[fifo] + nbytes > most_bytes))
                if verdict is not None:
                    made = self._energy.transmit(local[row:row + 1], sent[row:row + 1],
                                                 size[row:row + 1], first[row:row + 1],
                                                 np.array([full]))
                    if made is not None and made[0] != MADE:
                        verdict[row] = made[0]
                        departure[row] = decided[row] = at
                        continue
                if full:
                    cause[row] = OVERFLOW
                    departure[row] = decided[row] = at
                    continue
            start = max(at, free[fifo])
            if self._phases is not None:  # the bandwidth of the phase it starts in
                took = int(self._phases.serialisation(np.array([nbytes]), np.array([start]),
                                                      self._serialisation)[0])
            done = min(start, SATURATED_NS - took) + took
            if faulty:
                gone, why, when, started = self._interrupted(
                    np.array([who]), np.array([start]), np.array([done]))
                done, cause[row], decided[row] = int(gone[0]), why[0], when[0]
                if started[0]:
                    waited[row] = start - at
            else:
                decided[row] = done
                waited[row] = start - at
            departure[row] = free[fifo] = done
            if self._limit is not None:
                inside.append((done, nbytes))
                self._inside_bytes[fifo] += nbytes
        busy[:] = free
        return departure, cause, decided, waited, verdict

    def _serialisation(self, size: np.ndarray, exact: NsPerByte | None = None) -> np.ndarray:
        """⌈size × 8 × 10^9 / bandwidth⌉ ns per message, exact in integers, at most
        ``SATURATED_NS``; ``exact`` is the ns per byte of a scheduled bandwidth, if not the
        link's.

        int64 arithmetic when the products fit (every bandwidth in whole bits per second whose
        ns per byte is a whole number or a small fraction), Python integers per distinct size
        otherwise.
        """
        num, den = self._ns_per_byte if exact is None else exact
        largest = int(size.max()) if len(size) else 0
        if largest * num + den <= _INT64_MAX:
            took = size * num if den == 1 else (size * num + (den - 1)) // den
            return took if largest * num <= SATURATED_NS * den else np.minimum(took, SATURATED_NS)
        values, where = np.unique(size, return_inverse=True)
        took = [min(-(-int(value) * num // den), SATURATED_NS) for value in values]
        return np.array(took, dtype=np.int64)[where]

    def _interrupted(self, who: np.ndarray, start: np.ndarray, end: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Transmissions over [start, end) against the fault timeline: when each frees the
        link, why it failed (``OK`` if it did not), when its fate was decided, and whether
        it started at all (no fault held at its start)."""
        timeline = self.network.timeline
        cause = self._fault_at_start(who, start)
        started = cause == OK
        free = np.where(started, end, start)
        decided = start.copy()
        when = np.full(len(start), NEVER, dtype=np.int64)
        why = np.zeros(len(start), dtype=np.int8)
        if self._sender_may_be_down:
            when = timeline.first_crash(self.sender.id, who, start, end)
            why[when != NEVER] = _SENDER_DOWN
        if self._may_be_cut:
            cut_at, cut_cause = timeline.first_cut(self.sender.id, self.receiver.id, start, end)
            earlier = cut_at < when
            when[earlier], why[earlier] = cut_at[earlier], cut_cause[earlier]
        broken = started & (when != NEVER)
        cause[broken], free[broken], decided[broken] = why[broken], when[broken], when[broken]
        return free, cause, decided, started

    def _failed(self, batch: MessageBatch, cause: np.ndarray) -> None:
        """QoS 1 messages with retries left wait for their retry; the others are lost.

        A retry lives in the sender's memory: if the sender goes down at any moment between
        the attempt and the retry (or the end of the run), the message is lost as ``node_down``.
        """
        retry = (batch.qos > 0) & (batch.attempt < self.max_retries)
        if retry.any():
            again = batch.select(retry)
            again = again.copy_with(sent=again.sent + self.retry_interval_ns,
                                    attempt=again.attempt + 1,
                                    waited=constant(_NOT_STARTED, len(again)))
            until = self.network.kernel.until
            if self._sender_may_be_down:
                forgotten = self.network.timeline.down_during(
                    self.sender.id, again.src - self.sender.first, batch.sent[retry],
                    np.minimum(again.sent + 1, until))
                if forgotten.any():
                    self._lose(again.select(forgotten),
                               np.full(int(forgotten.sum()), NODE_DOWN, np.int8))
                    again = again.select(~forgotten)
            late = again.sent >= until
            if late.any():  # in flight: the run ends before the retry is due
                if self.network.recorder is not None:
                    self._record_in_flight(again.select(late))
                again = again.select(~late)
            if len(again):
                self._add_retries(again)
        final = ~retry
        if final.any():
            self._lose(batch.select(final), cause[final])

    def _add_retries(self, batch: MessageBatch) -> None:
        if self._retries is not None:
            batch = MessageBatch.concat([self._retries, batch])
        self._retries = batch.select(np.lexsort((batch.id, batch.sent)))
        earliest = int(self._retries.sent[0])
        if earliest < self._retry_at:
            self._retry_at = earliest
            self.network.kernel.schedule(earliest, TIMER, self._retry_due)

    def _take_due_retries(self, before: int) -> MessageBatch | None:
        """Pending retries sent before ``before`` (those a crash made the sender forget are
        gone already, see ``_failed``)."""
        pending = self._retries
        cut = int(np.searchsorted(pending.sent, before, side="left"))
        if cut == 0:
            return None
        due = pending.select(slice(0, cut))
        self._retries = pending.select(slice(cut, None)) if cut < len(pending) else None
        return due

    def _retry_due(self, _: object) -> int:
        """Send the retries due before the next event, within one retry interval."""
        kernel = self.network.kernel
        now = kernel.now
        if now != self._retry_at:
            return 0  # superseded by an earlier retry event
        self._retry_at = NEVER
        if self._retries is None:
            return 0  # already sent along with a later batch
        bound = min(max(kernel.next_time(), now + 1), now + self.retry_interval_ns)
        due = self._take_due_retries(before=bound)
        if self._retries is not None:
            self._retry_at = int(self._retries.sent[0])
            kernel.schedule(self._retry_at, TIMER, self._retry_due)
        if due is None:
            return 0
        retries = len(due)
        if self._energy is not None:
            self._send_powered(None, due)
        else:
            self._count_retransmissions(due)
            self._transmit(due)
        return retries

    def _lose(self, batch: MessageBatch, cause: np.ndarray) -> None:
        self.flow.count_lost(batch.sent, cause, batch.first_sent)
        self.network.counters[self.sender.id].add("lost", batch.src - self.sender.first)
        if self.network.recorder is not None:
            self.network.recorder.lost(self.flow, batch, cause)


class Mailbox:
    """Arrivals waiting for one node, handed over in safe blocks (see the module docstring)."""

    def __init__(self, network: Network, node: Receiver,
                 service: ServiceQueue | None = None) -> None:
        self.network = network
        self.node = node
        self.service = service  # processing before the node handles a message (service:)
        self.kernel = network.kernel
        self._chunks: list[MessageBatch] = []
        self._energy = network.energy.get(node.id)  # the receiver's account, if it has one
        self._wakeup_at = NEVER
        self._bounded: bool | None = None  # decided at the first delivery, once links exist

    def put(self, batch: MessageBatch) -> None:
        """Add arrivals sorted by (arrival, id); wake the node at the earliest one."""
        self._chunks.append(batch)
        earliest = int(batch.arrival[0])
        if earliest < self._wakeup_at:
            self._wakeup_at = earliest
            self.kernel.schedule(earliest, DELIVERY, self._wake)

    def _wake(self, _: object) -> int:
        now = self.kernel.now
        if now != self._wakeup_at:
            return 0  # superseded by an earlier wake-up that already handled these arrivals
        bound = min(max(self.kernel.next_time(), now + 1), self.kernel.until)
        if self._bounded is None:
            self._bounded = self.node.reacts_to_messages and self.network.feeds_reactive_node(
                self.node.id)
        if self._bounded:
            bound = min(bound, now + self.network.lookahead)
        if self.node.block_limit_ns is not None:
            bound = min(bound, now + self.node.block_limit_ns)
        block, self._chunks = take_before(self._chunks, bound)
        if self.service is not None:
            return self._serve(block, bound)
        self._wakeup_at = NEVER
        if self._chunks:
            self._wakeup_at = min(int(chunk.arrival[0]) for chunk in self._chunks)
            self.kernel.schedule(self._wakeup_at, DELIVERY, self._wake)
        if block is None:
            return 0
        self._account_deliveries(block)
        self.node.receive(block)
        return len(block)

    def _serve(self, arrived: MessageBatch | None, bound: int) -> int:
        """With a processing queue: the arrivals before ``bound`` join it, and the node gets
        the messages whose processing ends before ``bound``, at that end (as ``arrival``).

        Every arrival before ``bound`` is known, so is every end before it (an end comes
        after its arrival, and a message's end depends only on those that arrived before it):
        the node's reactions come no sooner than an end, so the reasoning of the module
        docstring holds with ends in place of arrivals.
        """
        service = self.service
        events = 0
        if arrived is not None:
            self._account_deliveries(arrived)
            service.admit(arrived)
            events = len(arrived)
        done = service.done_before(bound)
        self._wakeup_at = min([service.earliest()]
                              + [int(chunk.arrival[0]) for chunk in self._chunks])
        if self._wakeup_at != NEVER:
            self.kernel.schedule(self._wakeup_at, DELIVERY, self._wake)
        if done is None:
            return events
        self.node.receive(done)
        return events + len(done)

    def _account_deliveries(self, block: MessageBatch) -> None:
        network = self.network
        topology = network.topology
        # Groups are ranges of instances: when the first and last senders are of one group,
        # all are (the usual case, found without a pass over the block).
        lowest, highest = topology.group_of_instance[[block.src.min(), block.src.max()]]
        groups = None if lowest == highest else topology.group_of_instance[block.src]
        senders = [lowest] if groups is None else np.unique(groups)
        for group_index in senders:
            sender = topology.group_list[int(group_index)]
            rows = block if len(senders) == 1 else block.select(groups == group_index)
            flow = network.flows[(sender.id, self.node.id)]
            flow.count_delivered(rows.arrival, rows.first_sent, rows.size)
            network.counters[sender.id].add("delivered", rows.src - sender.first)
            if network.recorder is not None:
                network.recorder.delivered(flow, rows)
        network.counters[self.node.id].add("received", 0, len(block))
        if self._energy is not None:
            self._energy.receive(0, len(block), exact_sum(block.size))


def fifo_per_instance(local: np.ndarray, arrival: np.ndarray, free: np.ndarray,
                      service: Callable[[np.ndarray, np.ndarray], np.ndarray],
                      cut_short: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                                          np.ndarray] | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of each row's service in a FIFO of its own instance ``local``, whose
    server is free from ``free`` (per instance, updated in place): a link's per-sender queue,
    a device's processor.

    A row starts at max(its arrival, the end of its instance's row before) and ends
    ``service(rows, start)`` ns later, at most at ``SATURATED_NS`` (time never wraps). The rows
    of one instance are in arrival order; all instances advance at once, a vector step per
    row an instance has in the batch (one, for a periodic sender). ``cut_short(rows, who,
    start, end)``: when each service really frees its server, if something (a fault) can end
    it early; that is its end.
    """
    start = np.empty(len(local), dtype=np.int64)
    end = np.empty(len(local), dtype=np.int64)
    rank = occurrence_rank(local)
    for step in range(int(rank.max()) + 1 if len(rank) else 0):
        rows = np.flatnonzero(rank == step)
        who = local[rows]
        begin = np.maximum(arrival[rows], free[who])
        took = service(rows, begin)
        done = np.minimum(begin, SATURATED_NS - took) + took  # begin + took, saturated
        if cut_short is not None:
            done = cut_short(rows, who, begin, done)
        free[who] = done
        start[rows], end[rows] = begin, done
    return start, end


def take_before(chunks: list[MessageBatch],
                bound: int) -> tuple[MessageBatch | None, list[MessageBatch]]:
    """The rows of ``chunks`` (each sorted by (arrival, id)) that arrive before ``bound``, as
    one batch in (arrival, id) order, and the chunks of what is left."""
    taken: list[MessageBatch] = []
    kept: list[MessageBatch] = []
    for chunk in chunks:
        cut = int(np.searchsorted(chunk.arrival, bound, side="left"))
        if cut == len(chunk):
            taken.append(chunk)
        elif cut == 0:
            kept.append(chunk)
        else:
            taken.append(chunk.select(slice(0, cut)))
            rest = chunk.select(slice(cut, None))
            # A small rest is copied, so that the arrays of the block can be freed.
            kept.append(rest.copy() if 2 * len(rest) < len(chunk) else rest)
    if not taken:
        return None, kept
    if len(taken) == 1:
        return taken[0], kept
    arrival = np.concatenate([chunk.arrival for chunk in taken])
    order = arrival_order(arrival, np.concatenate([chunk.id for chunk in taken]),
                          sorted_runs=True)
    return MessageBatch.concat(taken, order), kept


def _fifo_limit(*buffers: Buffer | None) -> tuple[int | None, int | None] | None:
    """The tightest of ``buffers`` on one FIFO, in messages and in bytes (either may be
    ``None``: no such limit), or ``None`` when none is finite."""
    given = [buffer for buffer in buffers if buffer is not None]
    if not given:
        return None
    messages = [b.messages for b in given if b.messages is not None]
    sizes = [b.size_bytes for b in given if b.size_bytes is not None]
    return (min(messages) if messages else None, min(sizes) if sizes else None)
