"""The proxy's I/O: one thread, one selector, non-blocking sockets, the shaping model in the middle.

Every connection accepted on the listening address gets a connection to ``upstream``; the
bytes of each direction are cut into units (``framing``), handed to that direction's
``Direction`` when they are read, and written to the other side when the model says they are
due. The loop sleeps until the next due time with ``select``, whose timeout has microsecond
resolution (epoll's is a millisecond, which would add half a millisecond on average); a
process with descriptors past ``select``'s limit falls back to the default selector.

Flow control: a direction stops reading from its source while more than ``buffer_bytes`` of
it are queued, held or written-but-not-taken, so a sender faster than the link is slowed by
TCP instead of filling memory. Nagle's algorithm is off on every socket (it would add delay).
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import queue
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from xedgesim.errors import XedgeError
from xedgesim.linkproxy.framing import SEGMENT, SEGMENT_BYTES, Framer
from xedgesim.linkproxy.shaping import (
    CONTROL,
    CUT,
    FAULT_MODES,
    HOLD,
    MAIN,
    NO_DRAW,
    Direction,
    DirectionStats,
    JitterDraws,
    LinkModel,
    LinkStreams,
    Unit,
)

if TYPE_CHECKING:
    from xedgesim.linkproxy.selfcheck import SelfCheck

BUFFER_BYTES = 1 << 20  # per direction and connection
READ_BYTES = 1 << 16
SELECT_FD_LIMIT = 1024  # FD_SETSIZE on Linux and macOS
CALL_TIMEOUT_S = 10.0
# A timer wakes the loop this much early and the rest is spun: a thread woken from select is
# 0.1-0.3 ms late on a busy machine, most of the self-check's 0.5 ms budget.
SPIN_NS = 200_000

UPSTREAM = "upstream"  # client -> upstream
DOWNSTREAM = "downstream"  # upstream -> client


class LinkProxyError(XedgeError):
    """The link proxy cannot run as asked (bad address, failed self-check, loop died)."""

    exit_code = 2


@dataclass
class ProxyStats:
    """What went through the proxy, per direction, and what happened to connections."""

    upstream: DirectionStats = field(default_factory=DirectionStats)
    downstream: DirectionStats = field(default_factory=DirectionStats)
    accepted: int = 0
    open: int = 0
    cut: int = 0  # closed by a CUT
    refused: int = 0  # accepted and closed at once while the link was cut
    failed: int = 0  # upstream unreachable, or reset by an endpoint


@dataclass
class TraceEntry:
    """One delivered unit, for the self-check: where its last byte is in the direction's
    stream of that connection, when the model said to deliver it, when it was written."""

    direction: str
    conn: int
    end_offset: int
    received_ns: int
    deliver_ns: int
    written_ns: int


class _Leg:
    """One direction of one connection."""

    __slots__ = (
        "eof_due",
        "framer",
        "name",
        "offset",
        "out",
        "pending_trace",
        "queued",
        "read_eof",
        "write_closed",
        "written_offset",
    )

    def __init__(self, name: str, framer: Framer) -> None:
        self.name = name
        self.framer = framer
        self.out = bytearray()  # due for the destination, not yet taken by it
        self.queued = 0  # bytes read and not yet written
        self.read_eof = False
        self.eof_due = False  # the FIN is due once ``out`` is written
        self.write_closed = False
        self.offset = 0  # bytes read from the source so far
        self.written_offset = 0  # bytes delivered (appended to ``out``)
        self.pending_trace: list[tuple[int, Unit]] = []


class _Conn:
    __slots__ = ("client", "closed", "connected", "doomed", "id", "legs", "upstream")

    def __init__(self, cid: int, client: socket.socket, upstream: socket.socket,
                 framing: str, segment_bytes: int) -> None:
        self.id = cid
        self.client = client
        self.upstream = upstream
        self.connected = False
        self.legs = {UPSTREAM: _Leg(UPSTREAM, Framer(framing, segment_bytes)),
                     DOWNSTREAM: _Leg(DOWNSTREAM, Framer(framing, segment_bytes))}
        self.doomed = False  # cut: close once what was in flight is written
        self.closed = False

    def source(self, leg: str) -> socket.socket:
        return self.client if leg == UPSTREAM else self.upstream

    def dest(self, leg: str) -> socket.socket:
        return self.upstream if leg == UPSTREAM else self.client


class _Engine:
    """The loop; everything in it runs on the proxy's thread."""

    def __init__(self, model: LinkModel, upstream: tuple[str, int], listener: socket.socket,
                 streams: LinkStreams, framing: str, fault_mode: str, buffer_bytes: int,
                 segment_bytes: int, trace: list[TraceEntry] | None) -> None:
        self.model = model
        self.upstream = upstream
        self.listener = listener
        self.framing = framing
        self.fault_mode = fault_mode
        self.buffer_bytes = buffer_bytes
        self.segment_bytes = segment_bytes
        self.trace = trace
        self.directions = {
            UPSTREAM: self._direction(model, streams, *streams.upstream()),
            DOWNSTREAM: self._direction(model, streams, *streams.downstream()),
        }
        self.stats = ProxyStats(self.directions[UPSTREAM].stats,
                                self.directions[DOWNSTREAM].stats)
        self.conns: dict[int, _Conn] = {}
        self._owner: dict[socket.socket, tuple[_Conn, str]] = {}
        self._ids = itertools.count(1)
        self.calls: queue.SimpleQueue[tuple[Callable[[], Any], list[Any], threading.Event]] = \
            queue.SimpleQueue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector: selectors.BaseSelector = selectors.SelectSelector()
        self._interest: dict[socket.socket, int] = {}
        self._set_interest(listener, selectors.EVENT_READ)
        self._set_interest(self._wake_r, selectors.EVENT_READ)
        self.running = True
        self.error: BaseException | None = None

    @staticmethod
    def _direction(model: LinkModel, streams: LinkStreams, name: str,
                   instance: int) -> Direction:
        draws = {MAIN: JitterDraws(streams.seed, name, instance, model.jitter),
                 CONTROL: JitterDraws(streams.seed, name + ":control", instance, model.jitter)}
        return Direction(model, draws)

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        try:
            while self.running:
                deadline = self._deadline()
                timeout = None
                if deadline is not None:
                    timeout = max(0.0, (deadline - SPIN_NS - time.monotonic_ns()) / 1e9)
                events = self.selector.select(timeout)
                for key, mask in events:
                    self._ready(key.fileobj, mask)  # type: ignore[arg-type]
                if not events and deadline is not None:
                    while time.monotonic_ns() < deadline:  # the last stretch: no wake-up late
                        pass
                self._deliver(time.monotonic_ns())
        except BaseException as error:  # the caller learns of it at its next call
            self.error = error
        finally:
            self._shutdown()

    def _deadline(self) -> int | None:
        times = [t for d in self.directions.values() if (t := d.next_deadline()) is not None]
        return min(times) if times else None

    def _ready(self, sock: socket.socket, mask: int) -> None:
        if sock is self.listener:
            self._accept()
        elif sock is self._wake_r:
            with contextlib.suppress(BlockingIOError):
                self._wake_r.recv(4096)
            while True:
                try:
                    action, result, done = self.calls.get_nowait()
                except queue.Empty:
                    break
                try:
                    result.append(action())
                except Exception as error:
                    result.append(error)
                done.set()
        else:
            conn, leg_of_source = self._owner[sock]
            if conn.closed:
                return
            if mask & selectors.EVENT_WRITE:
                self._writable(conn, sock)
            if mask & selectors.EVENT_READ and not conn.closed:
                self._read(conn, leg_of_source)

    # -- connections -------------------------------------------------------------------------

    def _accept(self) -> None:
        try:
            client, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        self.stats.accepted += 1
        client.setblocking(False)
        if any(d.down_mode == CUT for d in self.directions.values()):
            self.stats.refused += 1
            _reset(client)
            return
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        upstream = socket.socket(_family(self.upstream[0]), socket.SOCK_STREAM)
        upstream.setblocking(False)
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Conn(next(self._ids), client, upstream, self.framing, self.segment_bytes)
        self.conns[conn.id] = conn
        self.stats.open += 1
        self._owner[client] = (conn, UPSTREAM)
        self._owner[upstream] = (conn, DOWNSTREAM)
        code = upstream.connect_ex(self.upstream)
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            self._abort(conn)
            return
        self._refresh(conn)

    def _writable(self, conn: _Conn, sock: socket.socket) -> None:
        if sock is conn.upstream and not conn.connected:
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                self._abort(conn)
                return
            conn.connected = True
        leg = UPSTREAM if sock is conn.upstream else DOWNSTREAM
        self._flush(conn, conn.legs[leg])

    def _read(self, conn: _Conn, name: str) -> None:
        leg = conn.legs[name]
        try:
            data = conn.source(name).recv(READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._abort(conn)
            return
        now = time.monotonic_ns()
        direction = self.directions[name]
        if not data:
            leg.read_eof = True
            for piece, draw in leg.framer.finish():
                self._offer(conn, leg, direction, piece, draw, now)
            direction.offer(Unit(conn.id, 0, now, NO_DRAW, eof=True), now)
        else:
            for piece, draw in leg.framer.feed(data):
                self._offer(conn, leg, direction, piece, draw, now)
        self._refresh(conn)

    def _offer(self, conn: _Conn, leg: _Leg, direction: Direction, data: bytes, draw: int,
               now: int) -> None:
        leg.offset += len(data)
        if direction.offer(Unit(conn.id, len(data), now, draw, data), now):
            leg.queued += len(data)

    def _deliver(self, now: int) -> None:
        for name, direction in self.directions.items():
            due = direction.advance(now)
            touched: dict[int, _Conn] = {}
            for unit in due:
                conn = self.conns.get(unit.conn)
                if conn is None or conn.closed:
                    continue
                leg = conn.legs[name]
                if unit.eof:
                    leg.eof_due = True
                else:
                    leg.out += unit.data
                    leg.written_offset += unit.size
                    if self.trace is not None:
                        leg.pending_trace.append((leg.written_offset, unit))
                touched[conn.id] = conn
            for conn in touched.values():
                self._flush(conn, conn.legs[name])
        for conn in [c for c in self.conns.values() if c.doomed]:
            self._close_if_drained(conn)

    def _flush(self, conn: _Conn, leg: _Leg) -> None:
        if conn.closed:
            return
        if leg.name == UPSTREAM and not conn.connected:
            self._refresh(conn)
            return
        dest = conn.dest(leg.name)
        if leg.out:
            try:
                sent = dest.send(leg.out)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._abort(conn)
                return
            if sent:
                del leg.out[:sent]
                leg.queued -= sent
                if self.trace is not None:
                    self._traced(conn, leg, sent)
        if not leg.out and leg.eof_due and not leg.write_closed:
            leg.write_closed = True
            with contextlib.suppress(OSError):
                dest.shutdown(socket.SHUT_WR)
        if all(leg.write_closed for leg in conn.legs.values()):
            self._close(conn)
            return
        self._refresh(conn)

    def _traced(self, conn: _Conn, leg: _Leg, sent: int) -> None:
        now = time.monotonic_ns()
        taken = leg.written_offset - len(leg.out)
        while leg.pending_trace and leg.pending_trace[0][0] <= taken:
            end, unit = leg.pending_trace.pop(0)
            assert self.trace is not None
            self.trace.append(TraceEntry(leg.name, conn.id, end, unit.received_ns,
                                         unit.deliver_ns, now))

    def _refresh(self, conn: _Conn) -> None:
        """Read interest while a source may send and its direction has room; write interest
        while there is something to write (or the upstream connection is being made)."""
        if conn.closed:
            return
        for sock, reads, writes in ((conn.client, UPSTREAM, DOWNSTREAM),
                                    (conn.upstream, DOWNSTREAM, UPSTREAM)):
            reading, writing = conn.legs[reads], conn.legs[writes]
            events = 0
            if not reading.read_eof and not conn.doomed and reading.queued < self.buffer_bytes:
                events |= selectors.EVENT_READ
            if writing.out or (sock is conn.upstream and not conn.connected):
                events |= selectors.EVENT_WRITE
            self._set_interest(sock, events)

    def _set_interest(self, sock: socket.socket, events: int) -> None:
        before = self._interest.get(sock, 0)
        if events == before:
            return
        if isinstance(self.selector, selectors.SelectSelector) and \
                sock.fileno() >= SELECT_FD_LIMIT:
            self._leave_select()
        if before and events:
            self.selector.modify(sock, events)
        elif events:
            self.selector.register(sock, events)
        else:
            self.selector.unregister(sock)
        if events:
            self._interest[sock] = events
        else:
            self._interest.pop(sock, None)

    def _leave_select(self) -> None:
        """A descriptor past select's limit: move every registration to the default selector
        (its timeouts are coarser; the self-check measured the select one)."""
        old, self.selector = self.selector, selectors.DefaultSelector()
        for sock, events in self._interest.items():
            old.unregister(sock)
            self.selector.register(sock, events)
        old.close()

    def _close_if_drained(self, conn: _Conn) -> None:
        if conn.closed:
            return
        if any(d.pending(conn.id) for d in self.directions.values()):
            return
        if any(leg.out for leg in conn.legs.values()):
            return
        self.stats.cut += 1
        self._close(conn)

    def _close(self, conn: _Conn, reset: bool = False) -> None:
        if conn.closed:
            return
        conn.closed = True
        self.stats.open -= 1
        for sock in (conn.client, conn.upstream):
            self._set_interest(sock, 0)
            self._owner.pop(sock, None)
            if reset:
                _reset(sock)
            else:
                sock.close()
        for direction in self.directions.values():
            direction.forget(conn.id)
        self.conns.pop(conn.id, None)

    def _abort(self, conn: _Conn) -> None:
        """An endpoint reset the connection or upstream cannot be reached: reset both sides."""
        self.stats.failed += 1
        self._close(conn, reset=True)

    # -- control -----------------------------------------------------------------------------

    def down(self, mode: str) -> None:
        now = time.monotonic_ns()
        self._deliver(now)
        for direction in self.directions.values():
            direction.down(now, mode)
        if mode == CUT:
            for conn in list(self.conns.values()):
                conn.doomed = True
                self._refresh(conn)
                self._close_if_drained(conn)

    def up(self) -> None:
        now = time.monotonic_ns()
        self._deliver(now)
        for direction in self.directions.values():
            direction.up(now)

    def snapshot(self) -> ProxyStats:
        return replace(self.stats, upstream=replace(self.stats.upstream),
                       downstream=replace(self.stats.downstream))

    def stop(self) -> None:
        self.running = False

    def wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")

    def _shutdown(self) -> None:
        for conn in list(self.conns.values()):
            self._close(conn)
        for sock in list(self._interest):
            with contextlib.suppress(Exception):
                self.selector.unregister(sock)
        self.selector.close()
        for sock in (self.listener, self._wake_r, self._wake_w):
            sock.close()


class Proxy:
    """A running link proxy: connect to ``address`` to reach ``upstream`` through the link.

    Thread-safe; ``down``/``up`` return once the loop has applied them, so what crossed
    before and after can be counted exactly. Use as a context manager, or call ``close``.
    """

    def __init__(self, engine: _Engine, thread: threading.Thread, model: LinkModel,
                 upstream: tuple[str, int], check: SelfCheck | None = None) -> None:
        self._engine = engine
        self._thread = thread
        self.model = model
        self.upstream = upstream
        self.fault_mode = engine.fault_mode
        self.address: tuple[str, int] = engine.listener.getsockname()[:2]
        self.check = check  # the SelfCheck report, when one ran

    def down(self, mode: str | None = None) -> None:
        """The link goes down now: ``hold`` (bytes wait for ``up``) or ``cut`` (connections
        are closed, what had not departed is dropped); default: the proxy's ``fault_mode``."""
        mode = self.fault_mode if mode is None else mode
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r} (known: {', '.join(FAULT_MODES)})")
        self._call(lambda: self._engine.down(mode))

    def up(self) -> None:
        """The link is back now: held bytes go out, new connections are accepted again."""
        self._call(self._engine.up)

    @property
    def is_down(self) -> bool:
        return self._engine.directions[UPSTREAM].down_mode is not None

    def stats(self) -> ProxyStats:
        return self._call(self._engine.snapshot)

    def close(self) -> None:
        """Close the listener and every connection; idempotent."""
        if self._thread.is_alive():
            with contextlib.suppress(LinkProxyError):
                self._call(self._engine.stop)
            self._thread.join(CALL_TIMEOUT_S)

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, action: Callable[[], Any]) -> Any:
        engine = self._engine
        if not self._thread.is_alive():
            raise LinkProxyError(f"the link proxy at {_where(self.address)} is not running"
                                 + (f": {engine.error}" if engine.error else ""))
        result: list[Any] = []
        done = threading.Event()
        engine.calls.put((action, result, done))
        engine.wake()
        if not done.wait(CALL_TIMEOUT_S):
            raise LinkProxyError(f"the link proxy at {_where(self.address)} did not answer "
                                 f"within {CALL_TIMEOUT_S:g}s"
                                 + (f": {engine.error}" if engine.error else ""))
        if isinstance(result[0], Exception):
            raise result[0]
        return result[0]


def serve(
    model: LinkModel,
    upstream: tuple[str, int],
    listen: tuple[str, int] = ("127.0.0.1", 0),
    *,
    streams: LinkStreams | None = None,
    framing: str = SEGMENT,
    fault_mode: str = HOLD,
    buffer_bytes: int = BUFFER_BYTES,
    segment_bytes: int = SEGMENT_BYTES,
    trace: list[TraceEntry] | None = None,
) -> Proxy:
    """Start a proxy without a self-check (``xedgesim.linkproxy.start`` runs one first)."""
    if fault_mode not in FAULT_MODES:
        raise ValueError(f"unknown fault mode {fault_mode!r} (known: {', '.join(FAULT_MODES)})")
    if buffer_bytes < 1:
        raise ValueError(f"buffer_bytes must be >= 1, found {buffer_bytes}")
    Framer(framing, segment_bytes)  # checks both
    listener = socket.socket(_family(listen[0]), socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(listen)
        listener.listen(128)
        listener.setblocking(False)
    except OSError as error:
        listener.close()
        raise LinkProxyError(f"the link proxy cannot listen on {_where(listen)}: "
                             f"{error.strerror or error}") from None
    engine = _Engine(model, upstream, listener, streams or LinkStreams(), framing, fault_mode,
                     buffer_bytes, segment_bytes, trace)
    thread = threading.Thread(target=engine.run, name=f"linkproxy-{_where(upstream)}",
                              daemon=True)
    thread.start()
    return Proxy(engine, thread, model, upstream)


def _reset(sock: socket.socket) -> None:
    """Close with RST: what a cut connection looks like to the endpoint."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _where(address: tuple[str, int]) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
