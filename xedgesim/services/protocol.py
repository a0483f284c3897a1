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
import json
import signal
import socket
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

import numpy as np

from xedgesim.models.gateway import Aggregate, GatewayLogic

PROTOCOL = 1
DEFAULT_PORT = 7100

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


def encode(message: Message) -> bytes:
    """One message as one line of UTF-8 JSON; ValueError for a non-finite float."""
    return (_ENCODER.encode(message) + "\n").encode()


def decode(line: bytes) -> Message:
    """One line back into a message; ValueError if it is not a JSON object with a type."""
    message = _DECODER.decode(line.decode())
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ValueError("not a JSON object with a string 'type'")
    return message


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
        array = np.array(values)
        allowed = "i" if name in INT_FIELDS else "if"
        if array.dtype.kind not in allowed:
            expected = "integers" if name in INT_FIELDS else "numbers"
            raise ProtocolViolation(f"'{name}' must hold {expected}, found {values[:3]!r}")
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
                f"gateway params need a positive integer 'aggregate_every_ns', found {every!r}")
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
        """The reply line to one request line; never raises on bad input."""
        try:
            message = decode(line)
        except ValueError as error:
            return encode({"type": ERROR, "message": f"malformed request ({error}): "
                                                     f"{line[:80]!r}"})
        try:
            return encode(self._dispatch(message))
        except ProtocolViolation as error:
            return encode({"type": ERROR, "message": f"{message['type']}: {error}"})
        except Exception as error:  # a bug must reach the coordinator as ERROR, not a hang
            print(f"xedgesim protocol: {message['type']} failed: {error!r}", file=sys.stderr)
            return encode({"type": ERROR, "message": f"{message['type']} failed: {error!r}"})

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
            raise ProtocolViolation(f"'t' must be a non-negative integer (ns), found {t!r}")
        if t < self.t:
            raise ProtocolViolation(f"time went backwards: t={t} after t={self.t}")
        if kind == CRASH:
            self.t = t
            return {"type": DONE, "t": t, "outbound": [], "discarded": self.session.crash()}
        flush = message.get("flush", False)
        if not isinstance(flush, bool):
            raise ProtocolViolation(f"'flush' must be true or false, found {flush!r}")
        outbound = self.session.advance(message.get("inbound", []), flush)
        self.t = t  # only now: a refused request changes nothing
        return {"type": DONE, "t": t, "outbound": outbound}

    def _init(self, message: Message) -> Message:
        version = message.get("protocol")
        if version != PROTOCOL:
            raise ProtocolViolation(
                f"this node speaks protocol {PROTOCOL}, the coordinator {version!r}")
        if self.session is not None:
            raise ProtocolViolation(f"already initialised as node {self.session.node!r}")
        node, kind = message.get("node"), message.get("kind")
        if not isinstance(node, str) or not node:
            raise ProtocolViolation(f"'node' must be a node id, found {node!r}")
        if kind not in SESSIONS:
            raise ProtocolViolation(f"unknown kind {kind!r} (known: {', '.join(SESSIONS)})")
        params = message.get("params", {})
        if not isinstance(params, dict):
            raise ProtocolViolation(f"'params' must be an object, found {_kind(params)}")
        self.session = SESSIONS[kind](node, params)
        print(f"xedgesim protocol: node {node!r} ({kind}) initialised", file=sys.stderr,
              flush=True)
        return {"type": READY, "protocol": PROTOCOL}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value: object) -> str:
    return type(value).__name__


# -- transports --------------------------------------------------------------------------------


def serve_lines(lines: Iterator[bytes], write: Callable[[bytes], None]) -> bool:
    """Answer request lines until SHUTDOWN (returns True) or the end of input (False)."""
    handler = Handler()
    for line in lines:
        if not line.strip():
            continue
        write(handler.handle(line))
        if handler.finished:
            return True
    return False


def serve_stdio(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """One session over a pipe pair: for running the node as a local process."""

    def write(reply: bytes) -> None:
        stdout.write(reply)
        stdout.flush()

    serve_lines(iter(stdin.readline, b""), write)


def serve_connection(connection: socket.socket) -> bool:
    """One session over a connected socket; True once SHUTDOWN was answered."""
    if connection.family in (socket.AF_INET, socket.AF_INET6):
        # Replies are small and each waits for the next request: never hold one back (Nagle).
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with connection, connection.makefile("rb") as reader:
        try:
            return serve_lines(iter(reader.readline, b""), connection.sendall)
        except (ConnectionError, TimeoutError):
            return False


def serve_tcp(host: str, port: int, announce: BinaryIO | None = None) -> None:
    """Serve one connection after another until one ends with SHUTDOWN.

    Connections that close without SHUTDOWN are forgotten with their state: a readiness probe
    (the container session's, docker-proxy's) opens and closes one before the coordinator
    connects, and a coordinator that lost its connection starts again with INIT.
    """
    with socket.create_server((host, port)) as server:
        bound = server.getsockname()
        out = announce or sys.stderr.buffer
        out.write(f"xedgesim protocol {PROTOCOL}: listening on {bound[0]}:{bound[1]}\n".encode())
        out.flush()
        while True:
            connection, _ = server.accept()
            if serve_connection(connection):
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
