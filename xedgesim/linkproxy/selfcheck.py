"""The self-check: before a proxy shapes real traffic, measure one against its own model.

A timer that fires late, a loop that cannot keep up with the bandwidth, a machine too busy to
schedule the proxy's thread: each makes the proxy a different link than the scenario says,
and nothing downstream would notice. So ``start`` first runs a proxy with the same link model
(on streams of its own: the real link's draws stay untouched) to a local sink, and compares:

* **delay**: small MQTT PUBLISH packets, one every ``gap`` (never queued behind each other),
  each timestamped when sent and when its last byte reached the sink. The *intended* delay of
  a packet is the model's (latency, jitter draw, serialisation: from when the proxy read it
  to when the model says to deliver it); the *measured* one is what the endpoints see, from
  the send to the arrival, so it includes everything the proxy adds (reading, scheduling,
  writing, two loopback hops). Pass: the median of (measured - intended), packet by packet,
  is at most 5 % of the intended median or 0.5 ms, whichever is larger. Paired, because the
  intended delay of every packet is known: comparing two medians of a hundred draws each
  would add their sampling noise to what is measured.
* **throughput** (links with a bandwidth): about 0.4 s worth of packets written at once, so
  the link is saturated; the rate at the sink between the first and the last packet against
  the rate the model gives a saturated link for the same units (its bandwidth, less any
  ``overhead_bytes``). A proxy that cannot read or write that fast misses. Pass: within 5 %.

A proxy that misses either, three times in a row, is not used: ``SelfCheckFailed`` (exit 2)
says which and by how much. A passing result is remembered per (model, framing) for the life
of the process.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from dataclasses import dataclass, replace

import numpy as np

from xedgesim.linkproxy.framing import SEGMENT, SEGMENT_BYTES
from xedgesim.linkproxy.proxy import UPSTREAM, LinkProxyError, TraceEntry, serve
from xedgesim.linkproxy.shaping import LinkModel, LinkStreams

DELAY_TOLERANCE = 0.05
DELAY_FLOOR_NS = 500_000
THROUGHPUT_TOLERANCE = 0.05
DELAY_PACKET = 64
DELAY_WINDOW_NS = 300_000_000  # the delay probe sends for about this long
MIN_GAP_NS = 2_000_000
BULK_NS = 400_000_000  # the throughput probe carries about this long's worth of bytes
MAX_BULK_BYTES = 16 << 20  # at most ~0.5 s for a proxy that carries 300 Mbit/s
ATTEMPTS = 3  # a passing check takes 0.3-0.8 s; a moment of contention gets two more chances
CHECK_STREAMS = LinkStreams(seed=0, client="selfcheck-client", server="selfcheck-sink")

_passed: dict[tuple[LinkModel, str, int], SelfCheck] = {}


class SelfCheckFailed(LinkProxyError):
    """The proxy did not meet its own model on this machine, now."""


@dataclass(frozen=True)
class SelfCheck:
    """What the self-check measured (times in ms, rates in bit/s)."""

    packets: int
    intended_p50_ms: float
    measured_p50_ms: float
    tolerance_ms: float
    lateness_p50_ms: float  # measured minus intended delay, per packet
    lateness_p99_ms: float
    intended_bps: float | None  # None: no bandwidth to check
    measured_bps: float | None
    seconds: float
    attempts: int = 1  # how many runs ``require`` needed to pass

    @property
    def delay_ok(self) -> bool:
        return abs(self.lateness_p50_ms) <= self.tolerance_ms

    @property
    def throughput_ok(self) -> bool:
        if self.intended_bps is None or self.measured_bps is None:
            return True
        return abs(self.measured_bps / self.intended_bps - 1) <= THROUGHPUT_TOLERANCE

    @property
    def passed(self) -> bool:
        return self.delay_ok and self.throughput_ok

    def describe(self) -> str:
        text = (f"p50 delay {self.measured_p50_ms:.3f} ms measured vs {self.intended_p50_ms:.3f} "
                f"ms intended (tolerance {self.tolerance_ms:.3f} ms; lateness p50 "
                f"{self.lateness_p50_ms:.3f} ms, p99 {self.lateness_p99_ms:.3f} ms; "
                f"{self.packets} packets)")
        if self.intended_bps is not None and self.measured_bps is not None:
            text += (f"; throughput {self.measured_bps / 1e6:.3f} Mbit/s measured vs "
                     f"{self.intended_bps / 1e6:.3f} Mbit/s intended "
                     f"({100 * (self.measured_bps / self.intended_bps - 1):+.1f} %)")
        return text + f"; took {self.seconds:.2f}s"

    def to_dict(self) -> dict[str, float | int | bool | None]:
        return {"packets": self.packets, "intended_p50_ms": round(self.intended_p50_ms, 4),
                "measured_p50_ms": round(self.measured_p50_ms, 4),
                "tolerance_ms": round(self.tolerance_ms, 4),
                "lateness_p50_ms": round(self.lateness_p50_ms, 4),
                "lateness_p99_ms": round(self.lateness_p99_ms, 4),
                "intended_bps": self.intended_bps, "measured_bps": self.measured_bps,
                "seconds": round(self.seconds, 3), "attempts": self.attempts,
                "passed": self.passed}


def require(model: LinkModel, framing: str = SEGMENT,
            segment_bytes: int = SEGMENT_BYTES) -> SelfCheck:
    """The self-check's passing result (remembered), or ``SelfCheckFailed``."""
    key = (model, framing, segment_bytes)
    if key in _passed:
        return _passed[key]
    attempts = 0
    while attempts < ATTEMPTS:
        attempts += 1
        report = self_check(model, framing, segment_bytes)
        if report.passed:
            break
    if not report.passed:
        raise SelfCheckFailed(
            f"the link proxy misses its model on this machine ({ATTEMPTS} attempts; the "
            f"last: {report.describe()}); refusing "
            "to shape traffic with it (a busy machine, or a bandwidth beyond what the proxy "
            "can carry: see 'Self-check' in docs/link-emulation.md)")
    _passed[key] = replace(report, attempts=attempts)
    return _passed[key]


def self_check(model: LinkModel, framing: str = SEGMENT,
               segment_bytes: int = SEGMENT_BYTES) -> SelfCheck:
    """Measure a proxy with ``model`` against the model; never raises for a miss."""
    started = time.perf_counter()
    trace: list[TraceEntry] = []
    with _Sink() as sink, serve(model, sink.address, streams=CHECK_STREAMS, framing=framing,
                                segment_bytes=segment_bytes, trace=trace) as proxy:
        gap = max(MIN_GAP_NS, 3 * model.serialisation_ns(DELAY_PACKET) // 2)
        count = int(min(100, max(20, DELAY_WINDOW_NS // gap)))
        sent = send_spaced(proxy.address, publish_packet(DELAY_PACKET), count, gap)
        arrived = sink.wait(1, count, _patience_s(model, count, gap))
        received, planned, _ = _delivery(trace, 1, DELAY_PACKET, count)
        intended = planned - received  # the model's delay: from the proxy's read to delivery
        measured = arrived - sent  # what the endpoints see: everything the proxy adds
        late = measured - intended
        intended_bps = measured_bps = None
        if model.bandwidth_bps is not None:
            size, packets = _bulk_shape(model)
            _send_bulk(proxy.address, publish_packet(size), packets)
            bulk = sink.wait(2, packets, _patience_s(model, packets, 0, size))
            _, _, ends = _delivery(trace, 2, size, packets)
            bits = 8 * int(ends[-1] - ends[0])  # what crossed between the first and last unit
            # A sender faster than the link keeps it busy: the model then delivers at its
            # bandwidth, whatever the proxy manages to read (a proxy too slow to read misses).
            span = [e.end_offset for e in trace if e.direction == UPSTREAM and e.conn == 2
                    and ends[0] <= e.end_offset <= ends[-1]]
            busy_ns = sum(model.serialisation_ns(b - a) for a, b in itertools.pairwise(span))
            intended_bps = bits / (busy_ns / 1e9)
            measured_bps = bits / max((bulk[-1] - bulk[0]) / 1e9, 1e-9)
    p50 = float(np.median(intended))
    return SelfCheck(
        packets=count,
        intended_p50_ms=p50 / 1e6,
        measured_p50_ms=float(np.median(measured)) / 1e6,
        tolerance_ms=max(DELAY_TOLERANCE * p50, DELAY_FLOOR_NS) / 1e6,
        lateness_p50_ms=float(np.percentile(late, 50)) / 1e6,
        lateness_p99_ms=float(np.percentile(late, 99)) / 1e6,
        intended_bps=intended_bps,
        measured_bps=measured_bps,
        seconds=time.perf_counter() - started,
    )


def publish_packet(size: int) -> bytes:
    """An MQTT PUBLISH (QoS 0, topic ``c``) of exactly ``size`` bytes, 5 <= size <= 2 MiB.

    Sizes just past a length-field boundary (130, 16387) have no packet: one more length
    byte makes the remaining length fit the shorter field.
    """
    for length_bytes in (1, 2, 3):
        remaining = size - 1 - length_bytes
        if remaining < 128 ** length_bytes and remaining >= 3:
            encoded = bytearray()
            value = remaining
            while True:
                byte, value = value & 0x7F, value >> 7
                encoded.append(byte | (0x80 if value else 0))
                if not value:
                    break
            if len(encoded) == length_bytes:
                return bytes([0x30]) + bytes(encoded) + b"\x00\x01c" + b"x" * (remaining - 3)
    raise ValueError(f"no PUBLISH packet of {size} bytes")


def _bulk_shape(model: LinkModel) -> tuple[int, int]:
    """Packet size and count for the throughput probe: ~BULK_NS worth, 40+ packets."""
    assert model.bandwidth_bps is not None
    total = int(min(MAX_BULK_BYTES, model.bandwidth_bps / 8 * BULK_NS / 1e9))
    size = max(64, min(16_000, total // 50))
    if size == 130:  # the one size in range no PUBLISH has (see ``publish_packet``)
        size = 131
    return size, max(40, total // size)


def _patience_s(model: LinkModel, packets: int, gap_ns: int, size: int = DELAY_PACKET) -> float:
    jitter_reach = 0.0
    if model.jitter is not None:
        from xedgesim.scenario.distributions import reach

        jitter_reach = min(reach(model.jitter), 10e9)
    span = packets * (gap_ns + model.serialisation_ns(size)) + model.latency_ns + jitter_reach
    return 5.0 + span / 1e9


def _delivery(trace: list[TraceEntry], conn: int, size: int,
              count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """When the proxy read each packet of connection ``conn``, when the model said to deliver
    it, and where its unit ends in the stream: those of the unit holding its last byte."""
    entries = [e for e in trace if e.direction == UPSTREAM and e.conn == conn]
    ends = np.array([e.end_offset for e in entries], dtype=np.int64)
    unit = np.searchsorted(ends, size * np.arange(1, count + 1, dtype=np.int64), side="left")
    received = np.array([e.received_ns for e in entries], dtype=np.int64)[unit]
    return (received, np.array([e.deliver_ns for e in entries], dtype=np.int64)[unit],
            ends[unit])


def send_spaced(address: tuple[str, int], packet: bytes, count: int,
                gap_ns: int) -> np.ndarray:
    """Send ``packet`` ``count`` times, one every ``gap_ns`` (on a schedule: a late send does
    not push the later ones), then end the connection and wait for the peer to end it too;
    returns when each send began (monotonic ns). Also the load of bench/link_proxy.py."""
    sent = np.empty(count, dtype=np.int64)
    with socket.create_connection(address, timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        first = time.monotonic_ns()
        for k in range(count):
            due = first + k * gap_ns
            while (left := due - time.monotonic_ns()) > 0:
                time.sleep(left / 1e9)
            sent[k] = time.monotonic_ns()
            sock.sendall(packet)
        sock.shutdown(socket.SHUT_WR)
        sock.recv(1)  # the end travels through the proxy too: wait for the sink's close
    return sent


def _send_bulk(address: tuple[str, int], packet: bytes, count: int) -> None:
    with socket.create_connection(address, timeout=60) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(packet * count)
        sock.shutdown(socket.SHUT_WR)
        sock.recv(1)


class _Sink:
    """A local server that timestamps when each fixed-size packet's last byte arrives; one
    connection at a time, numbered from 1 in the order they come."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self._stopping = False
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._arrivals: dict[int, list[tuple[int, int]]] = {}
        self._done: dict[int, threading.Event] = {}
        self._thread = threading.Thread(target=self._serve, name="linkproxy-selfcheck-sink",
                                        daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        number = 0
        while not self._stopping:
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            number += 1
            arrivals = self._arrivals.setdefault(number, [])
            done = self._done.setdefault(number, threading.Event())
            received = 0
            with conn:
                while chunk := conn.recv(1 << 16):
                    now = time.monotonic_ns()
                    received += len(chunk)
                    arrivals.append((received, now))
            done.set()

    def wait(self, number: int, count: int, timeout_s: float) -> np.ndarray:
        """Arrival times of the ``count`` packets of connection ``number``."""
        deadline = time.monotonic() + timeout_s
        while number not in self._done:
            if time.monotonic() > deadline:
                raise SelfCheckFailed("the link proxy's self-check got no connection through "
                                      "the proxy")
            time.sleep(0.001)
        if not self._done[number].wait(max(0.0, deadline - time.monotonic())):
            raise SelfCheckFailed(f"the link proxy's self-check did not see its packets "
                                  f"through the proxy within {timeout_s:.1f}s")
        chunks = self._arrivals[number]
        totals = np.array([c[0] for c in chunks], dtype=np.int64)
        times = np.array([c[1] for c in chunks], dtype=np.int64)
        if len(totals) == 0 or totals[-1] % count:
            raise SelfCheckFailed("the link proxy's self-check lost bytes through the proxy")
        size = int(totals[-1]) // count
        last_bytes = size * np.arange(1, count + 1, dtype=np.int64)
        return times[np.searchsorted(totals, last_bytes, side="left")]

    def __enter__(self) -> _Sink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping = True
        self._thread.join(2)
        self._listener.close()
