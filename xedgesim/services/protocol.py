"""The node side of the node protocol: model logic driven in lockstep over JSON lines.

A container that runs our own node code does not keep its own time: the coordinator sends it
every block of messages and every window end, at the virtual time they happen, and waits for
the answer. That keeps a run with containers deterministic. The format is in docs/protocol.md;
this module owns the constants and the encoding, so the coordinator side
(``xedgesim.docker.protocol``) spells every field the same way.

    python3 -m xedgesim.services.protocol --listen 0.0.0.0:7100   # in the gateway image
    python3 -m xedgesim.services.protocol --stdio                 # a local process

The logic is ``xedgesim.models.gateway.GatewayLogic`` itself, fed the same blocks in the same
order as the in-process ``GatewayNode``, so both give the same bits. It runs on Debian's
python3-numpy (1.24) as well as on the coordinator's numpy.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

import numpy as np

from xedgesim.models.gateway import Aggregate, GatewayLogic
from xedgesim.services.payload import brief

PROTOCOL = 1
DEFAULT_PORT = 7100

# Bounds on what either side reads, so a peer that babbles cannot grow the reader's memory or
# hold it forever (docs/protocol.md, "Limits"). A request carries a whole delivered block (about
# 120 bytes a row: 64 MiB is half a million messages); a reply carries at most one aggregate.
MAX_REQUEST_BYTES = 64 << 20  # one request line, read by the node
MAX_REPLY_BYTES = 1 << 20  # one reply line, read by the coordinator
CHUNK_BYTES = 1 << 16  # lines are read in chunks of at most this
HANDSHAKE_TIMEOUT_S = 5.0  # a new connection must send its INIT line within this
REQUEST_TIMEOUT_S = 10.0  # once a request line has begun, each chunk of it within this

# Message types, coordinator -> node and node -> coordinator.
INIT, ADVANCE, CRASH, SHUTDOWN = "INIT", "ADVANCE", "CRASH", "SHUTDOWN"
READY, DONE, BYE, ERROR = "READY", "DONE", "BYE", "ERROR"

# A message row: the MessageBatch fields the node logic reads, spelled as in the MQTT payload
# (xedgesim.services.payload). Outbound rows have no id: the coordinator numbers what it sends.
INT_FIELDS = ("id", "n", "origin_ns")
INBOUND_FIELDS = ("id", "value", "vmin", "vmax", "n", "origin_ns")
OUTBOUND_FIELDS = ("value", "vmin", "vmax", "n", "origin_ns")

Message = dict[str, Any]
Row = dict[str, Any]

# Compact separators; floats are written by float.__repr__, the shortest text that reads back
# as the same double, so a value crosses the protocol bit-exactly. NaN and infinities have no
# JSON spelling and are refused both ways, as in the MQTT payload.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a finite number")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


class ProtocolViolation(ValueError):
    """A request this node cannot follow; answered with ERROR, the connection stays usable."""


class LineTooLong(ValueError):
    """The peer sent more than the limit without ending the line; the stream is out of step."""


def encode(message: Message) -> bytes:
    """One message as one line of UTF-8 JSON; ValueError for a non-finite float."""
    return (_ENCODER.encode(message) + "\n").encode()


def decode(line: bytes) -> Message:
    """One line back into a message; ValueError if it is not a JSON object with a type.

    JSON nested deeper than Python's recursion limit is a ValueError too: a peer's bytes must
    never end the reader with a RecursionError.
    """
    try:
        message = _DECODER.decode(line.decode())
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ValueError("not a JSON object with a string 'type'")
    return message


class LineReader:
    """Cuts a byte stream into lines of at most ``limit`` bytes.

    ``receive`` gives the next chunk (at most ``CHUNK_BYTES``; b'' at the end of the stream),
    so the buffer never holds more than ``limit + CHUNK_BYTES``, whatever the peer sends.
    """

    def __init__(self, receive: Callable[[], bytes], limit: int) -> None:
        self.receive = receive
        self.limit = limit
        self._buffer = bytearray()

    @property
    def pending(self) -> bool:
        """Whether part of a line has arrived (so the rest is due)."""
        return bool(self._buffer)

    def read_line(self) -> bytes:
        """The next line without its newline; EOFError at the end, LineTooLong past the limit."""
        buffer, scanned = self._buffer, 0
        while True:
            end = buffer.find(b"\n", scanned)
            if end > self.limit or (end < 0 and len(buffer) > self.limit):
                raise LineTooLong(f"a line longer than {_size(self.limit)} (the protocol's "
                                  "limit)")
            if end >= 0:
                line = bytes(buffer[:end])
                del buffer[: end + 1]
                return line
            scanned = len(buffer)
            chunk = self.receive()
            if not chunk:
                raise EOFError
            buffer += chunk


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 and limit % (1 << 20) == 0 \
        else f"{limit:,} bytes"


def rows_from_arrays(fields: Iterable[str], **columns: np.ndarray) -> list[Row]:
    """Rows from numpy columns; ``tolist`` gives plain ints and floats, exact in JSON."""
    names = tuple(fields)
    lists = [columns[name].tolist() for name in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*lists, strict=True)]


def arrays_from_rows(rows: object, fields: Iterable[str]) -> dict[str, np.ndarray]:
    """Numpy columns from rows, refusing what would be converted silently (1.5 as a count).

    Integers become int64 and floats float64, as in a MessageBatch; a float field also takes
    an integer (20 for 20.0), which is exact below 2**53.
    """
    if not isinstance(rows, list):
        raise ProtocolViolation(f"messages must be a list of rows, found {_kind(rows)}")
    columns: dict[str, np.ndarray] = {}
    for name in fields:
        try:
            values = [row[name] for row in rows]
        except (KeyError, TypeError):
            raise ProtocolViolation(
                f"every row needs '{name}' (rows have {', '.join(fields)})") from None
        if not values:
            dtype = np.int64 if name in INT_FIELDS else np.float64
            columns[name] = np.zeros(0, dtype=dtype)
            continue
        try:
            array = np.array(values)
        except (ValueError, OverflowError):  # ragged or too deep: not a number per row
            array = np.array([], dtype=object)
        allowed = "i" if name in INT_FIELDS else "if"
        if array.dtype.kind not in allowed or array.shape != (len(values),):
            expected = "integers" if name in INT_FIELDS else "numbers"
            raise ProtocolViolation(f"'{name}' must hold {expected}, found {brief(values[:3])}")
        columns[name] = array.astype(np.int64 if name in INT_FIELDS else np.float64, copy=False)
    return columns


def aggregate_row(aggregate: Aggregate) -> Row:
    """A gateway's aggregate as the outbound row the coordinator turns into a message."""
    return {
        "value": float(aggregate.mean),
        "vmin": float(aggregate.minimum),
        "vmax": float(aggregate.maximum),
        "n": int(aggregate.count),
        "origin_ns": int(aggregate.oldest_origin_ns),
    }


def row_aggregate(row: Row) -> Aggregate:
    """The inverse of ``aggregate_row``."""
    return Aggregate(count=row["n"], mean=row["value"], minimum=row["vmin"],
                     maximum=row["vmax"], oldest_origin_ns=row["origin_ns"])


# -- node sessions -----------------------------------------------------------------------------


class GatewaySession:
    """A gateway after INIT: ``GatewayLogic`` fed exactly as ``GatewayNode`` feeds it.

    An ADVANCE's inbound rows are one delivered block: one ``logic.add`` call, as in
    ``GatewayNode.receive``, because the running sum is rounded once per block; then, when
    ``flush`` is set, ``logic.flush`` as at ``GatewayNode``'s window end.
    """

    kind = "gateway"

    def __init__(self, node: str, params: dict[str, Any]) -> None:
        every = params.get("aggregate_every_ns")
        if not _is_int(every) or every <= 0:
            raise ProtocolViolation(
                "gateway params need a positive integer 'aggregate_every_ns', found "
                f"{brief(every)}")
        self.node = node
        self.aggregate_every_ns = int(every)
        self.logic = GatewayLogic()

    def advance(self, inbound: object, flush: bool) -> list[Row]:
        columns = arrays_from_rows(inbound, INBOUND_FIELDS)
        if len(columns["id"]):
            self.logic.add(columns["value"], columns["vmin"], columns["vmax"], columns["n"],
                           columns["origin_ns"])
        if not flush:
            return []
        aggregate = self.logic.flush()
        return [] if aggregate is None else [aggregate_row(aggregate)]

    def crash(self) -> int:
        return self.logic.reset()


SESSIONS: dict[str, Callable[[str, dict[str, Any]], GatewaySession]] = {
    "gateway": GatewaySession,
}


class Handler:
    """One connection's state: answers each request with exactly one reply, in order."""

    def __init__(self) -> None:
        self.session: GatewaySession | None = None
        self.t = 0
        self.finished = False  # set once BYE was sent

    def handle(self, line: bytes) -> bytes:
        """The reply line to one request line; never raises, whatever the line holds.

        A request that cannot be followed is answered ERROR; so is a bug (or a MemoryError),
        which must reach the coordinator as an answer, not end the server or hang the run.
        """
        try:
            return self._reply(line)
        except Exception as error:
            with contextlib.suppress(Exception):
                print(f"xedgesim protocol: a request failed: {type(error).__name__}",
                      file=sys.stderr, flush=True)
            return _FAILED

    def _reply(self, line: bytes) -> bytes:
        try:
            message = decode(line)
        except ValueError as error:
            return encode({"type": ERROR, "message": f"malformed request ({error}): "
                                                     f"{line[:80]!r}"})
        kind = message["type"][:40]  # a string (decode checked), maybe a long one
        try:
            return encode(self._dispatch(message))
        except ProtocolViolation as error:
            return encode({"type": ERROR, "message": f"{kind}: {error}"})
        except Exception as error:  # a bug must reach the coordinator as ERROR, not a hang
            print(f"xedgesim protocol: {kind} failed: {error!r}", file=sys.stderr, flush=True)
            return encode({"type": ERROR, "message": f"{kind} failed: {brief(error)}"})

    def _dispatch(self, message: Message) -> Message:
        kind = message["type"]
        if kind == INIT:
            return self._init(message)
        if kind == SHUTDOWN:
            self.finished = True
            return {"type": BYE}
        if kind not in (ADVANCE, CRASH):
            raise ProtocolViolation(
                f"unknown request type (known: {INIT}, {ADVANCE}, {CRASH}, {SHUTDOWN})")
        if self.session is None:
            raise ProtocolViolation(f"{INIT} must come first")
        t = message.get("t")
        if not _is_int(t) or t < 0:
            raise ProtocolViolation(
                f"'t' must be a non-negative integer (ns), found {brief(t)}")
        if t < self.t:
            raise ProtocolViolation(f"time went backwards: t={t} after t={self.t}")
        if kind == CRASH:
            self.t = t
            return {"type": DONE, "t": t, "outbound": [], "discarded": self.session.crash()}
        flush = message.get("flush", False)
        if not isinstance(flush, bool):
            raise ProtocolViolation(f"'flush' must be true or false, found {brief(flush)}")
        outbound = self.session.advance(message.get("inbound", []), flush)
        self.t = t  # only now: a refused request changes nothing
        return {"type": DONE, "t": t, "outbound": outbound}

    def _init(self, message: Message) -> Message:
        version = message.get("protocol")
        if version != PROTOCOL:
            raise ProtocolViolation(
                f"this node speaks protocol {PROTOCOL}, the coordinator {brief(version)}: "
                "rebuild its image (xedge images build)")
        if self.session is not None:
            raise ProtocolViolation(f"already initialised as node {self.session.node!r}")
        node, kind = message.get("node"), message.get("kind")
        if not isinstance(node, str) or not node:
            raise ProtocolViolation(f"'node' must be a node id, found {brief(node)}")
        if not isinstance(kind, str) or kind not in SESSIONS:
            raise ProtocolViolation(
                f"unknown kind {brief(kind)} (known: {', '.join(SESSIONS)})")
        params = message.get("params", {})
        if not isinstance(params, dict):
            raise ProtocolViolation(f"'params' must be an object, found {_kind(params)}")
        self.session = SESSIONS[kind](node, params)
        print(f"xedgesim protocol: node {node!r} ({kind}) initialised", file=sys.stderr,
              flush=True)
        return {"type": READY, "protocol": PROTOCOL}


# The answer when even building an ERROR failed (a bug, or no memory left): fixed bytes.
_FAILED = encode({"type": ERROR, "message": "the node failed to answer; see its log"})


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value: object) -> str:
    return type(value).__name__


# -- transports --------------------------------------------------------------------------------


def serve_lines(reader: LineReader, write: Callable[[bytes], None],
                handler: Handler | None = None) -> bool:
    """Answer request lines until SHUTDOWN (returns True) or the end of input (False).

    A line over the limit is answered ERROR and ends the session: the rest of it would be read
    as requests.
    """
    handler = handler or Handler()
    while True:
        try:
            line = reader.read_line()
        except EOFError:
            return False
        except LineTooLong as error:
            write(encode({"type": ERROR, "message": f"request refused: {error}"}))
            return False
        if not line.strip():
            continue
        write(handler.handle(line))
        if handler.finished:
            return True


def serve_stdio(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """One session over a pipe pair: for running the node as a local process."""

    def write(reply: bytes) -> None:
        stdout.write(reply)
        stdout.flush()

    serve_lines(LineReader(lambda: stdin.read1(CHUNK_BYTES), MAX_REQUEST_BYTES), write)


def serve_connection(connection: socket.socket,
                     handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S,
                     request_timeout_s: float = REQUEST_TIMEOUT_S) -> bool:
    """One session over a connected socket; True once SHUTDOWN was answered.

    The node serves one connection at a time, so a client that says nothing must not hold it:
    a session must be initialised (INIT answered READY) within ``handshake_timeout_s``, and
    once a request has begun, each chunk of it is due within ``request_timeout_s``. Between
    requests an initialised session may be idle as long as the coordinator likes (a paced run
    waits for the wall clock); TCP keepalive notices a coordinator that vanished.
    """
    if connection.family in (socket.AF_INET, socket.AF_INET6):
        # Replies are small and each waits for the next request: never hold one back (Nagle).
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    handshake_deadline = time.monotonic() + handshake_timeout_s
    handler = Handler()

    def receive() -> bytes:
        if handler.session is None:
            timeout: float | None = handshake_deadline - time.monotonic()
            if timeout <= 0:
                raise TimeoutError
        else:
            timeout = request_timeout_s if reader.pending else None
        connection.settimeout(timeout)
        return connection.recv(CHUNK_BYTES)

    def write(reply: bytes) -> None:
        connection.settimeout(request_timeout_s)  # a client that stops reading is gone
        connection.sendall(reply)

    reader = LineReader(receive, MAX_REQUEST_BYTES)
    with connection:
        try:
            return serve_lines(reader, write, handler)
        except OSError as error:  # closed, reset, or silent past its timeout
            with contextlib.suppress(Exception):
                print(f"xedgesim protocol: connection dropped: {str(error) or 'timed out'}",
                      file=sys.stderr, flush=True)
            return False


def serve_tcp(host: str, port: int, announce: BinaryIO | None = None,
              handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S) -> None:
    """Serve one connection after another until one ends with SHUTDOWN.

    Connections that close without SHUTDOWN are forgotten with their state: a readiness probe
    (the container session's, docker-proxy's) opens and closes one before the coordinator
    connects, and a coordinator that lost its connection starts again with INIT. A connection
    that stays silent is dropped after its timeout (``serve_connection``).
    """
    with socket.create_server((host, port)) as server:
        bound = server.getsockname()
        out = announce or sys.stderr.buffer
        out.write(f"xedgesim protocol {PROTOCOL}: listening on {bound[0]}:{bound[1]}\n".encode())
        out.flush()
        while True:
            connection, _ = server.accept()
            if serve_connection(connection, handshake_timeout_s):
                return


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, e.g. 0.0.0.0:{DEFAULT_PORT}")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m xedgesim.services.protocol",
        description="Run node logic driven by the xedgesim coordinator (docs/protocol.md).",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--listen", type=_address, metavar="HOST:PORT",
                       help=f"serve over TCP (port 0: any free port), e.g. 0.0.0.0:{DEFAULT_PORT}")
    where.add_argument("--stdio", action="store_true", help="serve one session on stdin/stdout")
    options = parser.parse_args(argv)
    # As PID 1 in a container, Python would ignore SIGTERM; stop promptly instead.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        if options.stdio:
            serve_stdio(sys.stdin.buffer, sys.stdout.buffer)
        else:
            serve_tcp(*options.listen)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
