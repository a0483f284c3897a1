"""The node protocol without Docker: the server in-process and as a local process, nodes that
die, hang or babble, and a whole run whose gateway answers from a local protocol process."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from xedgesim import registry
from xedgesim.cli import main
from xedgesim.docker.containers import ContainerError, ContainerSpec, RunningContainer
from xedgesim.docker.gateway import ProtocolGatewayNode, RemoteGatewayLogic, protocol_options
from xedgesim.docker.protocol import ProtocolClient, ProtocolError, _Channel
from xedgesim.models.gateway import GatewayLogic
from xedgesim.run import run_to_directory
from xedgesim.scenario import load_scenario_text
from xedgesim.services.protocol import (
    CHUNK_BYTES,
    INBOUND_FIELDS,
    MAX_REPLY_BYTES,
    PROTOCOL,
    LineTooLong,
    decode,
    encode,
    rows_from_arrays,
    serve_connection,
)

S = 1_000_000_000
# XEDGESIM_TEST_PROTOCOL_PYTHON runs the local node under another interpreter, e.g. Debian's
# python3 with its numpy 1.24, as in the gateway image (with PYTHONPATH naming this checkout).
PYTHON = os.environ.get("XEDGESIM_TEST_PROTOCOL_PYTHON", sys.executable)
SERVER = (PYTHON, "-m", "xedgesim.services.protocol")
GATEWAY = {"kind": "gateway", "params": {"aggregate_every_ns": 10 * S}}


# -- helpers -----------------------------------------------------------------------------------


def served(timeout_s: float = 5.0) -> ProtocolClient:
    """A client INIT'd against the real server running in a thread, over a socket pair."""
    ours, theirs = socket.socketpair()
    threading.Thread(target=serve_connection, args=(theirs,), daemon=True).start()
    client = ProtocolClient.over_socket("gw1", ours, timeout_s=timeout_s)
    client.init(**GATEWAY)
    return client


def fake(answer: Callable[[dict, socket.socket], bool], timeout_s: float = 5.0) -> ProtocolClient:
    """A client against a fake node: READY to INIT, then ``answer(request, sock)`` for every
    other request until it returns False."""
    ours, theirs = socket.socketpair()

    def run() -> None:
        with theirs, theirs.makefile("rb") as reader:
            for line in iter(reader.readline, b""):
                request = decode(line)
                if request["type"] == "INIT":
                    theirs.sendall(encode({"type": "READY", "protocol": PROTOCOL}))
                elif not answer(request, theirs):
                    return

    threading.Thread(target=run, daemon=True).start()
    client = ProtocolClient.over_socket("gw1", ours, timeout_s=timeout_s)
    client.init(**GATEWAY)
    return client


def block(rng: np.random.Generator, size: int, first_id: int = 0) -> dict[str, np.ndarray]:
    """A delivered block with awkward floats (no short decimal form) and aggregates in it."""
    values = rng.normal(20.0, 7.0, size) * (1 + rng.random(size) * 1e-9)
    counts = rng.integers(1, 4, size)
    return {
        "id": np.arange(first_id, first_id + size, dtype=np.int64),
        "value": values,
        "vmin": values - rng.random(size) * (counts > 1),
        "vmax": values + rng.random(size) * (counts > 1),
        "n": counts.astype(np.int64),
        "origin_ns": rng.integers(0, 10**12, size).astype(np.int64),
    }


def add(logic: GatewayLogic | RemoteGatewayLogic, rows: dict[str, np.ndarray], t: int) -> None:
    arrays = (rows["value"], rows["vmin"], rows["vmax"], rows["n"], rows["origin_ns"])
    if isinstance(logic, RemoteGatewayLogic):
        logic.add(*arrays, ids=rows["id"], t=t)
    else:
        logic.add(*arrays)


# -- the server: what it answers ---------------------------------------------------------------


def test_init_is_answered_ready_in_our_version() -> None:
    ours, theirs = socket.socketpair()
    threading.Thread(target=serve_connection, args=(theirs,), daemon=True).start()
    client = ProtocolClient.over_socket("gw1", ours)
    reply = client.request({"type": "INIT", "protocol": PROTOCOL, "node": "gw1",
                            "kind": "gateway", "params": {"aggregate_every_ns": S}}, "READY")
    assert reply == {"type": "READY", "protocol": PROTOCOL}
    client.shutdown()
    client.close()


def test_the_node_refuses_another_protocol_version() -> None:
    ours, theirs = socket.socketpair()
    threading.Thread(target=serve_connection, args=(theirs,), daemon=True).start()
    client = ProtocolClient.over_socket("gw1", ours)
    with pytest.raises(ProtocolError, match=r"node 'gw1': refused INIT: .*speaks protocol 1, "
                                            r"the coordinator 2"):
        client.request({"type": "INIT", "protocol": 2, "node": "gw1", "kind": "gateway",
                        "params": {"aggregate_every_ns": S}}, "READY")


def test_the_coordinator_refuses_a_node_of_another_version() -> None:
    ours, theirs = socket.socketpair()

    def node() -> None:
        with theirs, theirs.makefile("rb") as reader:
            reader.readline()
            theirs.sendall(encode({"type": "READY", "protocol": 2}))

    threading.Thread(target=node, daemon=True).start()
    client = ProtocolClient.over_socket("gw1", ours)
    with pytest.raises(ProtocolError, match=r"node 'gw1' speaks protocol 2, this coordinator "
                                            r"speaks 1: rebuild its image"):
        client.init(**GATEWAY)


def test_advance_and_flush_give_exactly_what_gateway_logic_gives() -> None:
    rng = np.random.default_rng(5)
    local, remote = GatewayLogic(), RemoteGatewayLogic(served(), clock=lambda: now)
    now, first_id = 0, 0
    for window in range(6):
        for _ in range(int(rng.integers(0, 5))):
            rows = block(rng, int(rng.integers(1, 300)), first_id)
            first_id += len(rows["id"])
            now += 1000
            add(local, rows, now)
            add(remote, rows, now)
        now = (window + 1) * 10 * S
        if window == 3:
            assert remote.reset() == local.reset()
        assert remote.flush() == local.flush()  # dataclass equality: every field, exact floats
    assert remote.flush() is None and local.flush() is None


def test_rows_cross_bit_exactly() -> None:
    tiny, third = 5e-324, 1 / 3
    values = np.array([0.1 + 0.2, -0.0, tiny, 1.7976931348623157e308, third, 2.5])
    rows = rows_from_arrays(
        INBOUND_FIELDS, id=np.arange(6), value=values, vmin=values, vmax=values,
        n=np.ones(6, dtype=np.int64), origin_ns=np.array([2**62, 0, 1, 2, 3, 4]))
    assert decode(encode({"type": "X", "rows": rows}))["rows"] == rows
    client = served()
    client.advance(1, rows[4:5], flush=False)
    outbound = client.advance(2, [], flush=True)
    assert outbound == [{"value": third, "vmin": third, "vmax": third, "n": 1,
                         "origin_ns": 3}]
    assert math.copysign(1, decode(encode({"type": "X", "v": -0.0}))["v"]) == -1


@pytest.mark.parametrize(
    ("request_line", "error"),
    [
        (b"{not json\n", "malformed request"),
        (b'["a list"]\n', "malformed request"),
        (b'{"type":"ADVANCE","t":5,"inbound":[],"flush":"yes"}\n', "'flush' must be"),
        (b'{"type":"ADVANCE","t":-1,"inbound":[]}\n', "'t' must be a non-negative integer"),
        (b'{"type":"ADVANCE","t":5,"inbound":[{"id":1}]}\n', "every row needs 'value'"),
        (b'{"type":"ADVANCE","t":5,"inbound":[{"id":1,"value":1.0,"vmin":1.0,"vmax":1.0,'
         b'"n":1.5,"origin_ns":0}]}\n', "'n' must hold integers"),
        (b'{"type":"ADVANCE","t":5,"inbound":[{"id":1,"value":NaN,"vmin":1.0,"vmax":1.0,'
         b'"n":1,"origin_ns":0}]}\n', "NaN is not a finite number"),
        (b'{"type":"JUMP"}\n', "unknown request type"),
        (b'{"type":"INIT","protocol":1,"node":"gw1","kind":"gateway","params":{}}\n',
         "already initialised"),
    ],
)
def test_the_node_answers_error_and_stays_usable(request_line: bytes, error: str) -> None:
    client = served()
    client.advance(5, [], flush=False)
    channel = client._channel
    assert channel is not None
    channel.send(request_line, time.monotonic() + 5)
    reply = decode(channel.read_line(time.monotonic() + 5))
    assert reply["type"] == "ERROR" and error in reply["message"], reply
    assert client.advance(5, [], flush=True) == []


def test_a_non_finite_value_is_not_sent() -> None:
    client = served()
    row = {"id": 1, "value": math.inf, "vmin": 1.0, "vmax": 1.0, "n": 1, "origin_ns": 0}
    with pytest.raises(ProtocolError, match=r"node 'gw1': cannot send ADVANCE at 1s: .*"
                                            r"not JSON compliant"):
        client.advance(S, [row], flush=False)
    assert client.advance(S, [], flush=True) == []  # nothing was sent: still in step


def test_time_never_goes_backwards() -> None:
    client = served()
    client.advance(10, [], flush=False)
    with pytest.raises(ProtocolError, match=r"refused ADVANCE at 0.000000005s: .*t=5 after t=10"):
        client.advance(5, [], flush=False)


def test_advance_before_init_is_refused() -> None:
    ours, theirs = socket.socketpair()
    threading.Thread(target=serve_connection, args=(theirs,), daemon=True).start()
    client = ProtocolClient.over_socket("gw1", ours)
    with pytest.raises(ProtocolError, match="INIT must come first"):
        client.advance(1, [], flush=True)


# -- nodes that fail ---------------------------------------------------------------------------


def test_a_node_that_closes_the_connection() -> None:
    client = fake(lambda request, sock: False)
    with pytest.raises(ProtocolError, match=r"node 'gw1': the connection closed at ADVANCE "
                                            r"at 1s"):
        client.advance(S, [], flush=True)
    with pytest.raises(ProtocolError, match="after the connection was lost"):
        client.advance(2 * S, [], flush=True)


def test_a_node_that_hangs() -> None:
    client = fake(lambda request, sock: time.sleep(5) or False, timeout_s=0.2)
    started = time.monotonic()
    with pytest.raises(ProtocolError, match=r"node 'gw1': no answer to ADVANCE at 2s within "
                                            r"0.2s \(hung\?\)"):
        client.advance(2 * S, [], flush=False)
    assert time.monotonic() - started < 2


def test_a_node_that_sends_garbage() -> None:
    client = fake(lambda request, sock: sock.sendall(b"Traceback (most recent...\n") or True)
    with pytest.raises(ProtocolError, match=r"node 'gw1': malformed JSON in the answer to "
                                            r"CRASH at 3s .*Traceback"):
        client.crash(3 * S)


def test_a_node_that_answers_out_of_step() -> None:
    def wrong_time(request: dict, sock: socket.socket) -> bool:
        sock.sendall(encode({"type": "DONE", "t": request["t"] + 1, "outbound": []}))
        return True

    with pytest.raises(ProtocolError, match=r"node 'gw1': answered for t=6, expected t=5"):
        fake(wrong_time).advance(5, [], flush=False)


def test_a_node_that_sends_a_bad_aggregate() -> None:
    def bad(request: dict, sock: socket.socket) -> bool:
        row = {"value": 1.0, "vmin": 1.0, "vmax": 1.0, "n": 2.5, "origin_ns": 0}
        sock.sendall(encode({"type": "DONE", "t": request["t"], "outbound": [row]}))
        return True

    remote = RemoteGatewayLogic(fake(bad), clock=lambda: 7)
    with pytest.raises(ProtocolError, match=r"node 'gw1': sent an aggregate that is not a "
                                            r"message row: 'n' must hold integers"):
        remote.flush()


def test_a_node_that_streams_without_newline_is_cut_off_at_the_limit() -> None:
    sent = [0]

    def stream(request: dict, sock: socket.socket) -> bool:
        chunk = b"x" * 65536
        with contextlib.suppress(OSError):  # until the coordinator gives up and closes
            while True:
                sock.sendall(chunk)
                sent[0] += len(chunk)
        return False

    client = fake(stream, timeout_s=30)
    started = time.monotonic()
    with pytest.raises(ProtocolError, match=r"node 'gw1': answered ADVANCE at 1s with a line "
                                            r"longer than 1 MiB \(the protocol's limit\)"):
        client.advance(S, [], flush=True)
    assert time.monotonic() - started < 10  # the limit, not the timeout, stopped it
    client.close()
    assert sent[0] < 8 << 20  # read in chunks and cut off: not the whole stream


def test_the_line_reader_holds_at_most_the_limit_and_a_chunk() -> None:
    taken = [0]

    class Endless(_Channel):
        def _receive(self, deadline: float) -> bytes:
            taken[0] += CHUNK_BYTES
            return b"{" * CHUNK_BYTES

    with pytest.raises(LineTooLong):
        Endless().read_line(time.monotonic() + 5)
    assert taken[0] <= MAX_REPLY_BYTES + 2 * CHUNK_BYTES


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("[" * 200_000, r"malformed JSON in the answer to ADVANCE at 1s \(nested too deeply\)"),
        ('{"type":"DONE","t":1000000000,"outbound":' + "[" * 200_000,
         r"malformed JSON in the answer to ADVANCE at 1s \(nested too deeply\)"),
        ('{"type":"DONE","t":' + "[" * 500 + "]" * 500 + ',"outbound":[]}',
         r"answered for t=\[\[\[\[\.\.\.\]\]\]\], expected t=1000000000"),
        ('{"type":"DONE","t":1000000000,"outbound":' + "[" * 500 + "]" * 500 + "}",
         r"sent 'outbound' that is not a list of rows: \[\[\[\[\.\.\.\]\]\]\]"),
        ('{"type":"DONE","t":1000000000,"outbound":[{"value":' + "[" * 500 + "]" * 500 +
         ',"vmin":1,"vmax":1,"n":1,"origin_ns":0}]}',
         r"sent an aggregate that is not a message row: 'value' must hold numbers"),
        ('{"type":"ERROR","message":' + "[" * 500 + "]" * 500 + "}",
         r"refused ADVANCE at 1s: \[\[\[\[\.\.\.\]\]\]\]"),
        ('{"type":' + '"DONE' + "E" * 5000 + '"}', r"answered ADVANCE at 1s with 'DONEEE.*\.\.\."),
    ],
    ids=["deep", "deep-outbound", "deep-t", "deep-rows", "deep-value", "deep-error",
         "long-type"],
)
def test_a_node_that_sends_hostile_json_is_a_protocol_error(reply: str, error: str) -> None:
    def hostile(request: dict, sock: socket.socket) -> bool:
        sock.sendall(reply.encode() + b"\n")
        return True

    remote = RemoteGatewayLogic(fake(hostile), clock=lambda: S)
    with pytest.raises(ProtocolError, match="node 'gw1': " + error) as caught:
        remote.flush()
    assert len(str(caught.value)) < 1000


def test_a_request_over_the_nodes_limit_is_not_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    from xedgesim.docker import protocol as coordinator

    client = served()
    monkeypatch.setattr(coordinator, "MAX_REQUEST_BYTES", 4096)
    rows = rows_from_arrays(INBOUND_FIELDS, **block(np.random.default_rng(2), 100))
    with pytest.raises(ProtocolError, match=r"node 'gw1': cannot send ADVANCE at 1s: [\d,]+ "
                                            r"bytes, over the protocol's limit"):
        client.advance(S, rows, flush=False)
    assert client.advance(S, [], flush=True) == []  # nothing was sent: still in step


# -- local processes ---------------------------------------------------------------------------


def test_a_local_process_over_stdio() -> None:
    client = ProtocolClient.spawn("gw1", [*SERVER, "--stdio"], **GATEWAY)
    rows = rows_from_arrays(INBOUND_FIELDS, **block(np.random.default_rng(1), 50))
    assert client.advance(S, rows, flush=False) == []
    [aggregate] = client.advance(10 * S, [], flush=True)
    assert aggregate["n"] == sum(row["n"] for row in rows)
    client.shutdown()
    channel = client._channel
    client.close()
    assert channel is not None and channel.process.returncode == 0  # type: ignore[attr-defined]


def test_a_local_process_that_dies_is_named_with_its_exit_code() -> None:
    client = ProtocolClient.spawn("gw1", [*SERVER, "--stdio"], **GATEWAY)
    client._channel.process.kill()  # type: ignore[union-attr]
    with pytest.raises(ProtocolError, match=r"node 'gw1': the connection closed at ADVANCE "
                                            r"at 1s.*its process exited with code -9"):
        client.advance(S, [], flush=True)
    client.close()


@pytest.fixture
def tcp_server() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    process = subprocess.Popen([*SERVER, "--listen", "127.0.0.1:0"], stderr=subprocess.PIPE)
    assert process.stderr is not None
    announced = process.stderr.readline().decode()
    port = int(announced.rsplit(":", 1)[1])
    try:
        yield process, port
    finally:
        process.kill()
        process.wait()


def test_a_tcp_server_outlives_probes_and_ends_with_shutdown(
        tcp_server: tuple[subprocess.Popen[bytes], int]) -> None:
    process, port = tcp_server
    for _ in range(2):  # readiness probes: connect, then close without a word
        socket.create_connection(("127.0.0.1", port)).close()
    client = ProtocolClient.connect("gw1", ("127.0.0.1", port), **GATEWAY)
    assert client.advance(S, [], flush=True) == []
    client.shutdown()
    client.close()
    assert process.wait(timeout=5) == 0


def test_connect_gives_up_naming_the_node() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]  # bound, never listening: refused
        with pytest.raises(ProtocolError, match=r"node 'gw1': cannot reach its protocol "
                                                r"server: nothing answers at 127.0.0.1:\d+"):
            ProtocolClient.connect("gw1", ("127.0.0.1", port), connect_timeout_s=0.3,
                                   **GATEWAY)


def test_connect_stops_retrying_when_the_process_is_gone() -> None:
    started = time.monotonic()
    with pytest.raises(ProtocolError, match="cannot reach"):
        ProtocolClient.connect("gw1", ("127.0.0.1", 9), alive=lambda: False, **GATEWAY)
    assert time.monotonic() - started < 5


# -- the node's docker options -----------------------------------------------------------------


def node_spec(docker: dict) -> object:
    options = f"docker: {json.dumps(docker)}," if docker else ""
    return load_scenario_text(scenario_text(docker=True, options=options), "test.yaml").node("gw1")


def test_options_default_and_timeout() -> None:
    assert protocol_options(node_spec({})) == (10.0, {})  # type: ignore[arg-type]
    spec = node_spec({"timeout": "5s", "mode": "protocol", "environment": {"A": 1}})
    assert protocol_options(spec) == (5.0, {"A": "1"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("docker", "error"),
    [
        ({"timeout": 5}, r"node 'gw1': docker timeout: .*needs a unit"),
        ({"timeout": "0s"}, r"node 'gw1': docker timeout must be above 0"),
        ({"mode": "lockstep"}, r"node 'gw1': docker mode 'lockstep' is not run by"),
        ({"timout": "5s"}, r"node 'gw1': unknown docker option 'timout'"),
    ],
)
def test_bad_options_name_the_node(docker: dict, error: str) -> None:
    with pytest.raises(ContainerError, match=error):
        # the loader refuses these (tests/unit/scenario/test_nodes.py); the node checks again
        protocol_options(dataclasses.replace(node_spec({}), docker=docker))  # type: ignore


# -- a whole run -------------------------------------------------------------------------------

GATEWAY_SCENARIO = """\
name: protocol
seed: 3
duration: 40s
network:
  default: {latency: 5ms, jitter: {exponential: 2ms}, loss: 0.05}
  links:
    - {between: [gw1, cloud], latency: 20ms, bandwidth: 1Mbit}
nodes:
  - {id: sensors, type: sensor, count: 30, interval: 250ms, to: gw1}
  - {id: gw1, type: gateway, %IMPLEMENTATION% %DOCKER% aggregate_every: 2s, to: cloud,
     qos: 1}
  - {id: cloud, type: cloud}
faults:
  - {at: 9s, node: gw1, action: crash, for: 3s}
  - {at: 21500ms, node: gw1, action: crash}
  - {at: 26s, node: gw1, action: restart}
"""
DOCKER = 'implementation: docker, image: "xedgesim/gateway:latest",'
COMPARED = ("summary.json", "nodes.csv", "records.csv")


def comparable(path: Path) -> bytes:
    """A run file's bytes, all of them: how a node ran is not part of what it measured."""
    return path.read_bytes()


def scenario_text(docker: bool, options: str = "") -> str:
    return (GATEWAY_SCENARIO.replace("%IMPLEMENTATION%", DOCKER if docker else "")
            .replace("%DOCKER%", options))


@pytest.fixture
def local_protocol_nodes(monkeypatch: pytest.MonkeyPatch) -> list[ProtocolClient]:
    """Docker gateways answer from a local protocol process instead of a container."""
    registry_key = ("gateway", "docker")
    if registry_key not in registry.NODE_CLASSES:
        monkeypatch.setitem(registry.NODE_CLASSES, registry_key,
                            "xedgesim.docker.gateway:ProtocolGatewayNode")
    clients: list[ProtocolClient] = []

    def connect(self: ProtocolGatewayNode) -> ProtocolClient:
        client = ProtocolClient.spawn(self.id, [*SERVER, "--stdio"], kind="gateway",
                                      params=self.init_params(), timeout_s=self.timeout_s)
        clients.append(client)
        return client

    monkeypatch.setattr(ProtocolGatewayNode, "connect", connect)
    return clients


def test_a_run_through_a_protocol_process_gives_the_same_bytes(
        tmp_path: Path, local_protocol_nodes: list[ProtocolClient]) -> None:
    model = load_scenario_text(scenario_text(docker=False), "model.yaml")
    remote = load_scenario_text(scenario_text(docker=True), "remote.yaml")
    run_to_directory(model, tmp_path / "model", records=True)
    result = run_to_directory(remote, tmp_path / "remote", records=True)
    for name in COMPARED:
        assert comparable(tmp_path / "model" / name) == comparable(tmp_path / "remote" / name), \
            name
    counters = result.summary()["nodes"]["gw1"]
    assert counters["aggregates_sent"] > 10 and counters["readings_discarded_on_crash"] > 0
    [client] = local_protocol_nodes
    assert client._channel is None  # stopped: SHUTDOWN answered, process gone


def test_a_node_dying_mid_run_stops_the_run_with_its_name(
        tmp_path: Path, local_protocol_nodes: list[ProtocolClient],
        monkeypatch: pytest.MonkeyPatch) -> None:
    flush = RemoteGatewayLogic.flush

    def dying_flush(self: RemoteGatewayLogic):
        if self.clock() >= 6 * S:
            self.client._channel.process.kill()  # type: ignore[union-attr]
        return flush(self)

    monkeypatch.setattr(RemoteGatewayLogic, "flush", dying_flush)
    scenario = tmp_path / "remote.yaml"
    scenario.write_text(scenario_text(docker=True))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["simulate", str(scenario), "--out", str(out), "-q"])
    assert result.exit_code == 1, result.output
    assert "error: node 'gw1': the connection closed at ADVANCE at 6s" in result.output
    assert "exited with code -9" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_a_hanging_node_stops_the_run_after_its_timeout(
        tmp_path: Path, local_protocol_nodes: list[ProtocolClient],
        monkeypatch: pytest.MonkeyPatch) -> None:
    flush = RemoteGatewayLogic.flush

    def hanging_flush(self: RemoteGatewayLogic):
        self.client._channel.process.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
        return flush(self)

    monkeypatch.setattr(RemoteGatewayLogic, "flush", hanging_flush)
    scenario = load_scenario_text(scenario_text(docker=True, options="docker: {timeout: 300ms},"),
                                  "remote.yaml")
    started = time.monotonic()
    with pytest.raises(ProtocolError, match=r"node 'gw1': no answer to ADVANCE at 2s within "
                                            r"0.3s \(hung\?\); its process is still running"):
        run_to_directory(scenario, tmp_path / "out")
    assert time.monotonic() - started < 10
    assert not (tmp_path / "out").exists()
    [client] = local_protocol_nodes
    assert client._channel is None


class FakeContainer:
    """What ProtocolGatewayNode reads of a docker SDK container."""

    def __init__(self, ip: str, network: str) -> None:
        self.attrs = {"NetworkSettings": {"Networks": {network: {"IPAddress": ip}}},
                      "State": {"Status": "running"}}
        self.status = "running"

    def reload(self) -> None:
        pass

    def logs(self, **options: object) -> bytes:
        return b""


class FakeSession:
    """A container session whose one 'container' is a local protocol server."""

    network_name = "xedgesim-fake"

    def __init__(self, bridge_ip: str, published_port: int, started: list[ContainerSpec]) -> None:
        self.bridge_ip, self.published_port, self.started = bridge_ip, published_port, started

    def __enter__(self) -> FakeSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def start(self, spec: ContainerSpec) -> RunningContainer:
        self.started.append(spec)
        container = FakeContainer(self.bridge_ip, self.network_name)
        return RunningContainer(spec.node, container, {port: self.published_port
                                                        for port in spec.ports})


@pytest.mark.parametrize("bridge_routable", [True, False])
def test_the_node_prefers_the_bridge_and_falls_back_to_the_published_port(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        tcp_server: tuple[subprocess.Popen[bytes], int], bridge_routable: bool) -> None:
    process, port = tcp_server
    # On the 'bridge' the node listens on its own port; 127.0.0.2 has no listener: refused.
    bridge_ip = "127.0.0.1" if bridge_routable else "127.0.0.2"
    monkeypatch.setattr(ProtocolGatewayNode, "port", port)
    monkeypatch.setattr("xedgesim.docker.gateway.BRIDGE_TRY_S", 0.2)
    monkeypatch.setattr("xedgesim.docker.containers.ContainerSession",
                        lambda run_id, **options: FakeSession(bridge_ip, port, started))
    addresses = []
    connect = ProtocolGatewayNode.connect

    def noted_connect(self: ProtocolGatewayNode) -> ProtocolClient:
        client = connect(self)
        addresses.append(self.address)
        return client

    monkeypatch.setattr(ProtocolGatewayNode, "connect", noted_connect)
    started: list[ContainerSpec] = []
    run_to_directory(load_scenario_text(scenario_text(docker=True), "remote.yaml"),
                     tmp_path / "run")
    [spec] = started
    assert spec.command == ["python3", "-m", "xedgesim.services.protocol", "--listen",
                            "0.0.0.0:7100"]
    assert spec.image == "xedgesim/gateway:latest" and spec.ports == (port,)
    assert addresses == [(bridge_ip if bridge_routable else "127.0.0.1", port)]
    assert process.wait(timeout=5) == 0  # SHUTDOWN at the end of the run
