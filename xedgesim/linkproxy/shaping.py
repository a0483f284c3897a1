"""The shaping model of one direction of a link, as pure logic on integer nanoseconds.

No sockets and no clock here: the caller says what arrived and when (``offer``), asks what is
due (``advance``) and when to ask next (``next_deadline``). The proxy's I/O loop is one such
caller, the unit tests with a fake clock another, so the model is tested without timing noise.

A *unit* is what gets one delay: an MQTT control packet, or a segment of a byte stream (see
``framing``). Per direction of a link, like ``xedgesim.sim.network.Link``:

1. **queue**: units wait in one FIFO, shared by every connection through the proxy; a unit's
   transmission starts at max(its arrival at the proxy, the end of the previous one, the moment
   the link is up) and lasts ⌈(size + overhead) × 8 × 10^9 / bandwidth⌉ ns (exact integers,
   as the simulator computes it), then it has *departed*;
2. **delay**: a departed unit arrives ``latency`` + one jitter draw later; the draw is the next
   one of the direction's stream (``link:<from>-><to>:jitter``, the simulator's name),
   truncated at zero as the simulator truncates it;
3. **order**: a unit is delivered no earlier than the unit before it on the same connection
   (TCP does not reorder, so a short draw behind a long one waits: head-of-line blocking).

Faults (``down``): a unit that departed before the fault is on its way and arrives, as in the
simulator. The others, with ``HOLD``, wait and go out, in order and each serialised whole
again, when the link comes back (``up``); with ``CUT`` they are dropped, and so is everything
offered while the link is down, and the caller is told to close the connections.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from xedgesim.scenario.model import Distribution, LinkSpec
from xedgesim.sim.distributions import sample
from xedgesim.sim.rng import Streams
from xedgesim.sim.streams import link_stream

HOLD = "hold"
CUT = "cut"
FAULT_MODES = (HOLD, CUT)

# What a unit draws its jitter from.
MAIN = 0  # the link's stream: every segment, or every MQTT PUBLISH
CONTROL = 1  # MQTT packets that are not PUBLISH: a stream of their own (see ``LinkStreams``)
NO_DRAW = 2  # a connection's end (FIN): the base latency only

DRAW_BLOCK = 256  # uniforms drawn at once: counter-based, so the same values as one by one


@dataclass(frozen=True)
class LinkModel:
    """What the proxy applies of a scenario link: latency, jitter, bandwidth.

    ``loss`` is not applied: over TCP a lost segment is sent again by TCP, not lost (see
    docs/link-emulation.md). ``overhead_bytes`` is added to every unit's size for the
    bandwidth (say 54 for TCP/IPv4/Ethernet headers); 0 counts the TCP payload only.
    """

    latency_ns: int = 0
    jitter: Distribution | None = None
    bandwidth_bps: float | None = None
    overhead_bytes: int = 0

    def __post_init__(self) -> None:
        if self.latency_ns < 0:
            raise ValueError(f"latency must be >= 0 ns, found {self.latency_ns}")
        if self.bandwidth_bps is not None and not self.bandwidth_bps > 0:
            raise ValueError(f"bandwidth must be > 0 bit/s, found {self.bandwidth_bps}")
        if self.overhead_bytes < 0:
            raise ValueError(f"overhead must be >= 0 bytes, found {self.overhead_bytes}")

    @classmethod
    def from_spec(cls, spec: LinkSpec, overhead_bytes: int = 0) -> LinkModel:
        return cls(spec.latency_ns, spec.jitter, spec.bandwidth_bps, overhead_bytes)

    def serialisation_ns(self, size: int) -> int:
        """⌈(size + overhead) × 8 × 10^9 / bandwidth⌉ ns, 0 without a bandwidth."""
        if self.bandwidth_bps is None:
            return 0
        ns_per_byte = Fraction(8 * 10**9) / Fraction(self.bandwidth_bps)
        total = (size + self.overhead_bytes) * ns_per_byte
        return -(-total.numerator // total.denominator)


@dataclass(frozen=True)
class LinkStreams:
    """Which random streams a proxied link draws from: the simulator's, by name.

    The proxy's client side is scenario node ``client`` (instance ``client_instance`` of its
    group), the upstream side ``server``. Client to server draws from
    ``link:<client>-><server>:jitter``, instance ``client_instance``, exactly the stream the
    simulator draws that link's transmissions from; the other direction likewise. MQTT packets
    other than PUBLISH draw from the same name with ``:control`` appended, so the k-th PUBLISH
    through the proxy gets the k-th draw, as the k-th message does in the simulator.
    """

    seed: int = 0
    client: str = "client"
    server: str = "server"
    client_instance: int = 0
    server_instance: int = 0

    def name(self, sender: str, receiver: str) -> str:
        return link_stream(sender, receiver, "jitter")

    def upstream(self) -> tuple[str, int]:
        """The stream name and instance of the client-to-server direction."""
        return self.name(self.client, self.server), self.client_instance

    def downstream(self) -> tuple[str, int]:
        return self.name(self.server, self.client), self.server_instance


class JitterDraws:
    """Jitter draws in ns for one direction: draw k is draw k of the named stream's instance,
    exactly what ``xedgesim.sim.network.Link`` would draw (rounded to whole ns the same way)."""

    def __init__(self, seed: int, name: str, instance: int, jitter: Distribution | None) -> None:
        self.jitter = jitter
        self._streams = Streams(seed, name, instance + 1) if jitter is not None else None
        self._instances = np.full(DRAW_BLOCK, instance, dtype=np.intp)
        self._block: list[int] = []
        self._next = 0
        self.drawn = 0

    def next(self) -> int:
        if self._streams is None:
            return 0
        if self._next == len(self._block):
            uniforms = self._streams.uniform(self._instances)
            values = np.rint(sample(self.jitter, uniforms, truncate_at_zero=True))
            self._block = values.astype(np.int64).tolist()
            self._next = 0
        value = self._block[self._next]
        self._next += 1
        self.drawn += 1
        return value


@dataclass(eq=False)
class Unit:
    """One delayed piece of traffic on one connection (``conn``: any hashable key)."""

    conn: Hashable
    size: int
    received_ns: int  # when its last byte reached the proxy
    draw: int = MAIN
    data: bytes = b""
    eof: bool = False  # the connection's end: delivered after all its data
    departure_ns: int = -1  # when its last bit left (set when its transmission is scheduled)
    jitter_ns: int = 0
    deliver_ns: int = -1  # when it is handed to the other side


@dataclass
class DirectionStats:
    units: int = 0  # delivered (a connection's end is not counted)
    bytes: int = 0
    dropped_units: int = 0  # by a CUT
    dropped_bytes: int = 0
    held_units: int = 0  # units that waited for the link to come back (HOLD)


@dataclass
class Direction:
    """One direction of a link: a FIFO serialiser, then a delay line, then per-connection order.

    ``draws`` maps ``MAIN`` and ``CONTROL`` to jitter draws; every call takes ``now`` in ns, and
    calls must not go back in time.
    """

    model: LinkModel
    draws: dict[int, JitterDraws]
    stats: DirectionStats = field(default_factory=DirectionStats)
    down_mode: str | None = None  # None while the link is up

    def __post_init__(self) -> None:
        self._waiting: deque[Unit] = deque()  # not yet scheduled (link down)
        self._wire: deque[Unit] = deque()  # scheduled, departure not yet confirmed
        self._flight: list[tuple[int, int, Unit]] = []  # heap (deliver_ns, seq, unit)
        self._seq = 0
        self._busy_until = 0
        self._last_deliver: dict[Hashable, int] = {}

    # -- input -------------------------------------------------------------------------------

    def offer(self, unit: Unit, now: int) -> bool:
        """A unit fully arrived at ``now``; False when a cut link drops it at once."""
        self._confirm(now)
        if self.down_mode == CUT:
            self._drop(unit)
            return False
        if self.down_mode == HOLD:
            self._waiting.append(unit)
            return True
        self._schedule(unit)
        return True

    def _schedule(self, unit: Unit) -> None:
        """FIFO: the transmission starts when the unit is there and the wire is free (after
        ``up`` the wire is busy until the moment the link came back)."""
        start = max(unit.received_ns, self._busy_until)
        unit.departure_ns = start + (0 if unit.eof else self.model.serialisation_ns(unit.size))
        self._busy_until = unit.departure_ns
        self._wire.append(unit)

    # -- time --------------------------------------------------------------------------------

    def advance(self, now: int) -> list[Unit]:
        """Confirm departures up to ``now`` and return the units due by ``now``, in order."""
        self._confirm(now)
        due: list[Unit] = []
        flight = self._flight
        while flight and flight[0][0] <= now:
            unit = heapq.heappop(flight)[2]
            if unit.eof:
                self._last_deliver.pop(unit.conn, None)
            else:
                self.stats.units += 1
                self.stats.bytes += unit.size
            due.append(unit)
        return due

    def _confirm(self, now: int) -> None:
        """Units whose last bit left by ``now`` draw their jitter and are on their way."""
        wire = self._wire
        while wire and wire[0].departure_ns <= now:
            unit = wire.popleft()
            unit.jitter_ns = 0 if unit.draw == NO_DRAW else self.draws[unit.draw].next()
            arrival = unit.departure_ns + self.model.latency_ns + unit.jitter_ns
            deliver = max(arrival, self._last_deliver.get(unit.conn, arrival))
            unit.deliver_ns = deliver
            self._last_deliver[unit.conn] = deliver
            heapq.heappush(self._flight, (deliver, self._seq, unit))
            self._seq += 1

    def next_deadline(self) -> int | None:
        """When ``advance`` has something to do next (None: nothing is scheduled)."""
        times = []
        if self._wire:
            times.append(self._wire[0].departure_ns)
        if self._flight:
            times.append(self._flight[0][0])
        return min(times) if times else None

    # -- faults ------------------------------------------------------------------------------

    def down(self, now: int, mode: str) -> list[Unit]:
        """The link goes down at ``now``; returns the units this drops (``CUT``)."""
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r} (known: {', '.join(FAULT_MODES)})")
        self._confirm(now)  # what departed by now is on its way
        undeparted = list(self._wire) + list(self._waiting)
        self._wire.clear()
        self._waiting.clear()
        self._busy_until = now
        self.down_mode = mode
        if mode == CUT:
            for unit in undeparted:
                self._drop(unit)
            return undeparted
        for unit in undeparted:
            unit.departure_ns = -1
        self._waiting.extend(undeparted)
        return []

    def up(self, now: int) -> None:
        """The link is back at ``now``: held units go out in order, each serialised again."""
        self._confirm(now)
        self.down_mode = None
        self._busy_until = max(self._busy_until, now)
        held = list(self._waiting)
        self._waiting.clear()
        for unit in held:
            self.stats.held_units += 1
            self._schedule(unit)

    def forget(self, conn: Hashable) -> int:
        """Drop every unit of a connection that closed abruptly; returns how many."""
        kept_wire = deque(u for u in self._wire if u.conn != conn)
        kept_waiting = deque(u for u in self._waiting if u.conn != conn)
        kept_flight = [entry for entry in self._flight if entry[2].conn != conn]
        gone = (len(self._wire) - len(kept_wire) + len(self._waiting) - len(kept_waiting)
                + len(self._flight) - len(kept_flight))
        if gone:
            for unit in (u for u in self._wire if u.conn == conn):
                self._drop(unit)
            for unit in (u for u in self._waiting if u.conn == conn):
                self._drop(unit)
            for _, _, unit in (e for e in self._flight if e[2].conn == conn):
                self._drop(unit)
            heapq.heapify(kept_flight)
            self._wire, self._waiting, self._flight = kept_wire, kept_waiting, kept_flight
        self._last_deliver.pop(conn, None)
        return gone

    def pending(self, conn: Hashable) -> bool:
        """Has the connection anything queued, held or in flight?"""
        return (any(u.conn == conn for u in self._wire)
                or any(u.conn == conn for u in self._waiting)
                or any(entry[2].conn == conn for entry in self._flight))

    def _drop(self, unit: Unit) -> None:
        if not unit.eof:
            self.stats.dropped_units += 1
            self.stats.dropped_bytes += unit.size
