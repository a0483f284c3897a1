"""The node side of the node protocol (xedgesim/services/protocol.py) against hostile input:
deep nesting, endless lines, silent clients. Nothing a client sends may end the server."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xedgesim.services import protocol
from xedgesim.services.protocol import (
    CHUNK_BYTES,
    MAX_REQUEST_BYTES,
    PROTOCOL,
    GatewaySession,
    Handler,
    LineReader,
    LineTooLong,
    decode,
    encode,
    serve_connection,
    serve_stdio,
    serve_tcp,
)

S = 1_000_000_000
INIT = encode({"type": "INIT", "protocol": PROTOCOL, "node": "gw1", "kind": "gateway",
               "params": {"aggregate_every_ns": S}})
DEEP = 200_000  # far past Python's recursion limit


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def answer(handler: Handler, line: bytes | str) -> dict:
    reply = handler.handle(line.encode() if isinstance(line, str) else line)
    assert reply.endswith(b"\n") and reply.count(b"\n") == 1
    return decode(reply)


def initialised() -> Handler:
    handler = Handler()
    assert answer(handler, INIT)["type"] == "READY"
    return handler


# -- Handler.handle never raises -----------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        nested(DEEP),
        '{"type":"ADVANCE","t":5,"inbound":' + nested(DEEP) + "}",
        '{"type":' + nested(DEEP, '"x"') + "}",
        '{"type":"ADVANCE","t":' + nested(500) + ',"inbound":[]}',
        '{"type":"ADVANCE","t":5,"flush":' + nested(500) + "}",
        '{"type":"ADVANCE","t":5,"inbound":[{"id":' + nested(500) + "}]}",
        '{"type":"ADVANCE","t":5,"inbound":' + nested(500, "{}") + "}",
        '{"type":"INIT","protocol":' + nested(500) + "}",
        '{"type":"ADVANCE","t":1' + "0" * 5000 + "}",
        b'{"type":"\xff"}',
    ],
    ids=["deep-line", "deep-inbound", "deep-type", "deep-t", "deep-flush", "deep-field",
         "deep-rows", "deep-protocol", "huge-int", "not-utf8"],
)
def test_hostile_requests_are_answered_error_and_the_session_goes_on(line: str | bytes) -> None:
    handler = initialised()

    reply = answer(handler, line)

    assert reply["type"] == "ERROR", reply
    assert len(reply["message"]) < 1000
    assert answer(handler, '{"type":"ADVANCE","t":7,"inbound":[],"flush":true}') == \
        {"type": "DONE", "t": 7, "outbound": []}


def test_an_init_of_a_hostile_kind_is_refused() -> None:
    reply = answer(Handler(), '{"type":"INIT","protocol":1,"node":"gw1","kind":[]}')

    assert reply["type"] == "ERROR" and "unknown kind []" in reply["message"]


@pytest.mark.parametrize("failure", [RecursionError, MemoryError, KeyError, TypeError])
def test_a_failure_inside_the_node_is_answered_error(
        monkeypatch: pytest.MonkeyPatch, failure: type[BaseException]) -> None:
    def broken(self: GatewaySession, inbound: object, flush: bool) -> list:
        raise failure("deep inside")

    handler = initialised()
    monkeypatch.setattr(GatewaySession, "advance", broken)

    reply = answer(handler, '{"type":"ADVANCE","t":5,"inbound":[],"flush":true}')

    assert reply["type"] == "ERROR" and "ADVANCE failed" in reply["message"]


def test_even_a_failing_error_answer_is_an_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_memory(message: dict) -> bytes:
        raise MemoryError

    handler = initialised()
    monkeypatch.setattr(protocol, "encode", no_memory)

    reply = answer(handler, '{"type":"ADVANCE","t":5,"inbound":[],"flush":true}')

    assert reply["type"] == "ERROR" and "see its log" in reply["message"]


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=300),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                              lambda inner: st.lists(inner, max_size=3)
                              | st.dictionaries(st.sampled_from(
                                  ["type", "t", "inbound", "flush", "protocol", "node", "kind",
                                   "params", "id", "value", "n"]), inner, max_size=4),
                              max_leaves=30).map(lambda tree: json.dumps(tree).encode())))
def test_no_request_makes_the_handler_raise(line: bytes) -> None:
    handler = initialised()

    reply = decode(handler.handle(line))

    assert reply["type"] in ("DONE", "ERROR", "READY", "BYE")


def test_the_refusal_of_another_version_says_to_rebuild() -> None:
    reply = answer(Handler(), '{"type":"INIT","protocol":2,"node":"gw1","kind":"gateway"}')

    assert reply["message"] == ("INIT: this node speaks protocol 1, the coordinator 2: rebuild "
                                "its image (xedge images build)")


# -- lines are bounded -------------------------------------------------------------------------


def endless(counter: list[int]):
    """A stream that never ends a line, counting what was taken from it."""

    def receive() -> bytes:
        counter[0] += CHUNK_BYTES
        return b"x" * CHUNK_BYTES

    return receive


def test_a_line_without_end_stops_at_the_limit_with_bounded_memory() -> None:
    taken = [0]
    reader = LineReader(endless(taken), limit=1 << 20)

    with pytest.raises(LineTooLong, match="longer than 1 MiB"):
        reader.read_line()

    assert taken[0] <= (1 << 20) + 2 * CHUNK_BYTES


def test_a_line_at_the_limit_passes_and_one_byte_more_does_not() -> None:
    data = io.BytesIO(b"a" * 100 + b"\n" + b"b" * 101 + b"\n")
    reader = LineReader(lambda: data.read1(7), limit=100)

    assert reader.read_line() == b"a" * 100
    with pytest.raises(LineTooLong):
        reader.read_line()


def test_a_request_over_the_limit_is_refused_and_ends_the_session() -> None:
    stdin = io.BytesIO(INIT + b"[" * (MAX_REQUEST_BYTES + 10) + b"\n" + INIT)
    stdout = io.BytesIO()

    serve_stdio(stdin, stdout)

    replies = [decode(line) for line in stdout.getvalue().splitlines()]
    assert [r["type"] for r in replies] == ["READY", "ERROR"]
    assert "longer than 64 MiB" in replies[1]["message"]
    assert stdin.tell() <= len(INIT) + MAX_REQUEST_BYTES + 2 * CHUNK_BYTES


# -- silent clients ----------------------------------------------------------------------------


def served_in_thread(sock: socket.socket, **timeouts: float) -> list[bool]:
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(serve_connection(sock, **timeouts)),
                              daemon=True)
    thread.start()
    thread.join(5)
    assert not thread.is_alive(), "the server is still held by the client"
    return result


def test_a_silent_client_is_dropped_after_the_handshake_timeout() -> None:
    ours, theirs = socket.socketpair()
    started = time.monotonic()

    assert served_in_thread(theirs, handshake_timeout_s=0.3) == [False]

    assert 0.25 < time.monotonic() - started < 3
    assert ours.recv(10) == b""  # closed
    ours.close()


def test_a_client_that_never_finishes_its_request_is_dropped() -> None:
    ours, theirs = socket.socketpair()
    ours.sendall(INIT + b'{"type":"ADVANCE","t":')

    assert served_in_thread(theirs, request_timeout_s=0.3) == [False]

    assert decode(ours.makefile("rb").readline())["type"] == "READY"
    ours.close()


def test_an_initialised_session_may_be_idle() -> None:
    ours, theirs = socket.socketpair()
    thread = threading.Thread(target=serve_connection, args=(theirs,),
                              kwargs={"handshake_timeout_s": 0.2, "request_timeout_s": 0.2},
                              daemon=True)
    thread.start()
    reader = ours.makefile("rb")
    ours.sendall(INIT)
    assert decode(reader.readline())["type"] == "READY"
    time.sleep(0.6)  # idle past both timeouts: the coordinator waits for the wall clock
    ours.sendall(b'{"type":"SHUTDOWN"}\n')
    assert decode(reader.readline())["type"] == "BYE"
    thread.join(5)
    assert not thread.is_alive()


@pytest.fixture
def server() -> Iterator[int]:
    """serve_tcp in a thread on a free port, with a short handshake timeout; yields the port."""
    ready = threading.Event()

    class Announce(io.BytesIO):
        def flush(self) -> None:
            ready.set()

    announce = Announce()
    thread = threading.Thread(target=serve_tcp, args=("127.0.0.1", 0, announce),
                              kwargs={"handshake_timeout_s": 0.5}, daemon=True)
    thread.start()
    assert ready.wait(5)
    yield int(announce.getvalue().decode().rsplit(":", 1)[1])
    thread.join(5)
    assert not thread.is_alive()


def test_a_silent_client_does_not_block_the_next_one(server: int) -> None:
    silent = socket.create_connection(("127.0.0.1", server))
    try:
        client = socket.create_connection(("127.0.0.1", server), timeout=5)
        reader = client.makefile("rb")
        client.sendall(INIT)
        assert decode(reader.readline())["type"] == "READY"  # after the silent one was dropped
        client.sendall(b"[" * DEEP + b"\n")
        assert decode(reader.readline())["type"] == "ERROR"
        client.sendall(b'{"type":"SHUTDOWN"}\n')
        assert decode(reader.readline())["type"] == "BYE"
        client.close()
    finally:
        silent.close()
