"""The coordinator side of the node protocol: one request, one reply, with a deadline.

A node that runs in a container (or a local process) answers every request of the coordinator
before virtual time moves on (docs/protocol.md). Whatever goes wrong on the other side — the
process died, it stopped answering, it wrote something that is not the protocol — becomes a
``ProtocolError`` naming the node and saying what happened, so the run stops with one clear
line instead of hanging or showing a traceback.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any

from xedgesim.errors import NodeFailure
from xedgesim.services.protocol import (
    ADVANCE,
    BYE,
    CHUNK_BYTES,
    CRASH,
    DONE,
    ERROR,
    INIT,
    MAX_REPLY_BYTES,
    MAX_REQUEST_BYTES,
    PROTOCOL,
    READY,
    SHUTDOWN,
    LineReader,
    LineTooLong,
    Message,
    Row,
    brief,
    decode,
    encode,
)

DEFAULT_TIMEOUT_S = 10.0  # per request; a node's ``docker: {timeout: ...}`` overrides it
CONNECT_TIMEOUT_S = 30.0  # until a starting container answers INIT
RETRY_PAUSE_S = 0.05
MESSAGE_CHARS = 500  # of a node's ERROR message, in our error

# What is known about the node's process, for error messages; the argument says whether the
# connection closed (then the process is probably ending: worth waiting a moment for its exit).
Diagnose = Callable[[bool], str]


class ProtocolError(NodeFailure):
    """A protocol node died, hung or broke the protocol; the message names the node."""


class ConnectionClosed(ProtocolError):
    """The node closed the connection (or its process ended)."""


class _Channel:
    """A byte stream cut into lines, every read and write bounded by a deadline, every line
    by ``MAX_REPLY_BYTES`` (a node that streams without a newline is cut off there)."""

    def __init__(self) -> None:
        self._deadline = 0.0
        self._reader = LineReader(lambda: self._receive(self._deadline), MAX_REPLY_BYTES)

    def send(self, data: bytes, deadline: float) -> None:
        raise NotImplementedError

    def _receive(self, deadline: float) -> bytes:
        """Some bytes; b'' at the end of the stream; TimeoutError past the deadline."""
        raise NotImplementedError

    def close(self, patience_s: float = 2.0) -> None:
        raise NotImplementedError

    def read_line(self, deadline: float) -> bytes:
        """One line; EOFError at the end, TimeoutError past the deadline, LineTooLong."""
        self._deadline = deadline
        return self._reader.read_line()


class _SocketChannel(_Channel):
    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            # Every request waits for its reply: Nagle's algorithm would only add delay.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, data: bytes, deadline: float) -> None:
        self.sock.settimeout(_remaining(deadline))
        self.sock.sendall(data)

    def _receive(self, deadline: float) -> bytes:
        self.sock.settimeout(_remaining(deadline))
        return self.sock.recv(CHUNK_BYTES)

    def close(self, patience_s: float = 2.0) -> None:
        self.sock.close()


class _PipeChannel(_Channel):
    """A local process's stdin and stdout."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        super().__init__()
        assert process.stdin is not None and process.stdout is not None
        self.process = process
        self._out, self._in = process.stdin.fileno(), process.stdout.fileno()
        os.set_blocking(self._out, False)
        os.set_blocking(self._in, False)

    def send(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._out, view):]
            except BlockingIOError:
                if not select.select([], [self._out], [], _remaining(deadline))[1]:
                    raise TimeoutError from None

    def _receive(self, deadline: float) -> bytes:
        while True:
            try:
                return os.read(self._in, CHUNK_BYTES)
            except BlockingIOError:
                if not select.select([self._in], [], [], _remaining(deadline))[0]:
                    raise TimeoutError from None

    def close(self, patience_s: float = 2.0) -> None:
        """Close its stdin (a healthy node then ends) and wait; kill it when out of patience."""
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        try:
            self.process.wait(timeout=patience_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


class ProtocolClient:
    """Requests to one protocol node; every failure is a ``ProtocolError`` naming it.

    ``diagnose`` is asked, when something fails, what is known about the node's process (a
    container's exit code and last log lines), so the error says why and not only that.
    """

    def __init__(self, node: str, channel: _Channel, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 diagnose: Diagnose | None = None) -> None:
        self.node = node
        self.timeout_s = timeout_s
        self.diagnose = diagnose
        self._channel: _Channel | None = channel
        self.broken = False  # after an error nothing more is sent: the stream is out of step

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        node: str,
        address: tuple[str, int],
        *,
        kind: str,
        params: dict[str, Any],
        timeout_s: float = DEFAULT_TIMEOUT_S,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        diagnose: Diagnose | None = None,
        alive: Callable[[], bool] | None = None,
    ) -> ProtocolClient:
        """Connect to a node that may still be starting, and INIT it.

        A published port accepts before the process in the container listens (docker-proxy
        takes the connection and then drops it), so a connection that is refused, or closed
        before READY, is tried again until ``connect_timeout_s``, unless ``alive`` says the
        process is gone.
        """
        host, port = address
        deadline = time.monotonic() + connect_timeout_s
        while True:
            failure: str
            try:
                sock = socket.create_connection(address, timeout=max(0.1, min(
                    timeout_s, deadline - time.monotonic())))
            except OSError as error:
                failure = f"nothing answers at {host}:{port} ({error.strerror or error})"
            else:
                # No diagnosis while retrying: a closed connection is expected until it listens.
                client = cls(node, _SocketChannel(sock), timeout_s=timeout_s)
                try:
                    client.init(kind, params)
                except ConnectionClosed:
                    client.close()
                    failure = f"{host}:{port} closed every connection before READY"
                except ProtocolError as error:
                    client.close()
                    raise ProtocolError(_with_diagnosis(str(error), diagnose, False)) from None
                else:
                    client.diagnose = diagnose
                    return client
            if time.monotonic() + RETRY_PAUSE_S > deadline or (alive is not None and not alive()):
                raise ProtocolError(_with_diagnosis(
                    f"node {node!r}: cannot reach its protocol server: {failure} "
                    f"(tried for {connect_timeout_s:g}s)", diagnose, True))
            time.sleep(RETRY_PAUSE_S)

    @classmethod
    def spawn(
        cls,
        node: str,
        argv: Sequence[str],
        *,
        kind: str,
        params: dict[str, Any],
        timeout_s: float = DEFAULT_TIMEOUT_S,
        env: dict[str, str] | None = None,
    ) -> ProtocolClient:
        """Start a local process that speaks the protocol on stdin/stdout, and INIT it.

        Its stderr is inherited: a local node's log goes where the coordinator's goes.
        """
        try:
            process = subprocess.Popen(list(argv), stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, env=env)
        except OSError as error:
            raise ProtocolError(f"node {node!r}: cannot start {argv[0]}: {error}") from None

        def diagnose(closed: bool) -> str:
            try:
                code = process.wait(timeout=1 if closed else 0)
            except subprocess.TimeoutExpired:
                return "its process is still running"
            return f"its process exited with code {code}"

        client = cls(node, _PipeChannel(process), timeout_s=timeout_s, diagnose=diagnose)
        try:
            client.init(kind, params)
        except ProtocolError:
            client.close()
            raise
        return client

    @classmethod
    def over_socket(cls, node: str, sock: socket.socket, *,
                    timeout_s: float = DEFAULT_TIMEOUT_S) -> ProtocolClient:
        """A client on a socket that is already connected (tests, in-process servers)."""
        return cls(node, _SocketChannel(sock), timeout_s=timeout_s)

    # -- requests ----------------------------------------------------------------------------

    def init(self, kind: str, params: dict[str, Any]) -> None:
        """INIT; the node must answer READY in our protocol version."""
        # The first answer comes after the node's imports, which a busy machine slows down:
        # the per-request timeout is for hangs in the run, not for a slow start.
        reply = self.request(
            {"type": INIT, "protocol": PROTOCOL, "node": self.node, "kind": kind,
             "params": params}, READY, timeout_s=max(self.timeout_s, CONNECT_TIMEOUT_S))
        if reply.get("protocol") != PROTOCOL:
            self.broken = True
            raise ProtocolError(
                f"node {self.node!r} speaks protocol {brief(reply.get('protocol'))}, this "
                f"coordinator speaks {PROTOCOL}: rebuild its image (xedge images build)")

    def advance(self, t: int, inbound: list[Row], flush: bool) -> list[Row]:
        """Messages delivered up to ``t`` and, with ``flush``, the window end at ``t``."""
        reply = self.request({"type": ADVANCE, "t": t, "inbound": inbound, "flush": flush}, DONE)
        return self._outbound(reply, t)

    def crash(self, t: int) -> int:
        """The node loses its volatile state at ``t``; returns what it discarded."""
        reply = self.request({"type": CRASH, "t": t}, DONE)
        self._outbound(reply, t)
        discarded = reply.get("discarded")
        if not isinstance(discarded, int) or isinstance(discarded, bool) or discarded < 0:
            raise self.failure(
                f"answered CRASH without a count 'discarded' ({brief(discarded)})")
        return discarded

    def shutdown(self) -> None:
        """SHUTDOWN; the node answers BYE and ends."""
        self.request({"type": SHUTDOWN}, BYE)

    def close(self) -> None:
        """Close the connection; a local process that broke the protocol is killed at once."""
        if self._channel is not None:
            channel, self._channel = self._channel, None
            channel.close(patience_s=0 if self.broken else 2.0)

    def request(self, message: Message, expect: str, timeout_s: float | None = None) -> Message:
        """Send ``message`` and return the reply of type ``expect``, or raise ProtocolError."""
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        what = message["type"] + (f" at {virtual_time(message['t'])}" if "t" in message
                                  else "")
        if self.broken or self._channel is None:
            raise ProtocolError(f"node {self.node!r}: {what} after the connection was lost")
        try:
            data = encode(message)
        except ValueError as error:  # a NaN or an infinity: JSON cannot carry it
            raise ProtocolError(f"node {self.node!r}: cannot send {what}: {error}") from None
        if len(data) - 1 > MAX_REQUEST_BYTES:  # the node would refuse it and end the session
            raise ProtocolError(
                f"node {self.node!r}: cannot send {what}: {len(data) - 1:,} bytes, over the "
                f"protocol's limit of {MAX_REQUEST_BYTES >> 20} MiB per request")
        deadline = time.monotonic() + timeout_s
        try:
            self._channel.send(data, deadline)
            line = self._channel.read_line(deadline)
        except LineTooLong as error:
            raise self.failure(f"answered {what} with {error}") from None
        except TimeoutError:
            raise self.failure(
                f"no answer to {what} within {timeout_s:g}s (hung?)") from None
        except (EOFError, OSError) as error:
            detail = "" if isinstance(error, EOFError) else f" ({error})"
            raise self.failure(f"the connection closed at {what}{detail}",
                              ConnectionClosed) from None
        try:
            reply = decode(line)
        except ValueError as error:
            raise self.failure(f"malformed JSON in the answer to {what} ({error}): "
                              f"{line[:120]!r}") from None
        if reply["type"] == ERROR:
            message = reply.get("message", "(no message)")
            text = message if isinstance(message, str) else brief(message)
            raise self.failure(f"refused {what}: {text[:MESSAGE_CHARS]}")
        if reply["type"] != expect:
            raise self.failure(f"answered {what} with {brief(reply['type'])}, expected {expect}")
        return reply

    def _outbound(self, reply: Message, t: int) -> list[Row]:
        if reply.get("t") != t:
            raise self.failure(f"answered for t={brief(reply.get('t'))}, expected t={t}")
        outbound = reply.get("outbound")
        if not isinstance(outbound, list) or not all(isinstance(r, dict) for r in outbound):
            raise self.failure(f"sent 'outbound' that is not a list of rows: {brief(outbound)}")
        return outbound

    def failure(self, what: str, kind: type[ProtocolError] = ProtocolError) -> ProtocolError:
        """The error to raise for a broken exchange, naming the node; also marks the client
        broken, since the stream is out of step and nothing more may be sent on it."""
        self.broken = True
        closed = issubclass(kind, ConnectionClosed)
        return kind(_with_diagnosis(f"node {self.node!r}: {what}", self.diagnose, closed))


def virtual_time(t: int) -> str:
    """Nanoseconds as exact seconds for messages: 1480563061 -> '1.480563061s', 10**10 -> '10s'."""
    seconds, rest = divmod(t, 1_000_000_000)
    return f"{seconds}.{rest:09d}".rstrip("0").rstrip(".") + "s"


def _with_diagnosis(message: str, diagnose: Diagnose | None, closed: bool) -> str:
    if diagnose is None:
        return message
    try:
        known = diagnose(closed)
    except Exception as error:  # a diagnosis is a courtesy: never mask the real error
        known = f"(no diagnosis: {error})"
    return f"{message}; {known}" if known else message
