"""A gateway in the real gateway image, driven over the node protocol: the same bytes as the
python model, and a node that dies, babbles or hangs stops the run and leaves nothing."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from xedgesim.cli import main
from xedgesim.docker import containers
from xedgesim.docker.containers import LABEL_MANAGED, LABEL_RUN
from xedgesim.docker.gateway import ProtocolGatewayNode
from xedgesim.docker.protocol import ProtocolClient
from xedgesim.run import run_to_directory
from xedgesim.scenario import load_scenario_text
from xedgesim.services.protocol import decode

pytestmark = pytest.mark.integration

IMAGE = "xedgesim/gateway:latest"
SCENARIO = """\
name: protocol-nodes
seed: 5
duration: 30s
network:
  default: {latency: 5ms, jitter: {exponential: 2ms}, loss: 0.03}
  links:
    - {between: [gw1, cloud], latency: 20ms, bandwidth: 1Mbit}
nodes:
  - {id: sensors, type: sensor, count: 40, interval: 500ms, to: gw1}
  - {id: gw1, type: gateway, %GATEWAY% aggregate_every: 2s, to: cloud, qos: 1}
  - {id: cloud, type: cloud}
faults:
  - {at: 7s, node: gw1, action: crash, for: 2s}
  - {at: 15500ms, node: gw1, action: crash, for: 1s}
"""
COMPARED = ("summary.json", "nodes.csv", "records.csv")

# A node that follows the protocol until its third ADVANCE, then misbehaves as told. It runs
# in the gateway image (python3, standard library only) in place of the real server.
FAKE_NODE = """\
import json, os, socket, sys, time
how = sys.argv[1]
server = socket.create_server(("0.0.0.0", 7100))
advances = 0
while True:
    connection, _ = server.accept()
    for line in connection.makefile("rb"):
        request = json.loads(line)
        if request["type"] == "INIT":
            reply = {"type": "READY", "protocol": 1}
        else:
            advances += 1
            if advances == 3:
                print(f"fake node: {how} now", file=sys.stderr, flush=True)
                if how == "dies":
                    os._exit(3)
                if how == "hangs":
                    time.sleep(3600)
                if how == "streams":  # without ever ending the line
                    while True:
                        connection.sendall(b"x" * 65536)
                if how == "nests":
                    connection.sendall(b"[" * 200000 + b"\\n")
                    continue
                connection.sendall(b"<html>502 Bad Gateway</html>\\n")
                continue
            reply = {"type": "DONE", "t": request["t"], "outbound": []}
        connection.sendall(json.dumps(reply).encode() + b"\\n")
"""


@pytest.fixture(scope="session")
def gateway_image(docker_client: Any) -> str:
    """The gateway image for amd64 (seconds when it is already built)."""
    from xedgesim.images.build import build_images

    build_images(("amd64",), ("gateway",), connect=lambda: docker_client)
    return IMAGE


@pytest.fixture
def run_id(monkeypatch: pytest.MonkeyPatch) -> str:
    """The id the next run's container session gets, so the test can look for its leftovers."""
    chosen = containers.new_run_id()
    monkeypatch.setattr(containers, "new_run_id", lambda: chosen)
    return chosen


def leftovers(docker_client: Any, run_id: str) -> list[str]:
    label = {"label": [f"{LABEL_MANAGED}=true", f"{LABEL_RUN}={run_id}"]}
    return [c.name for c in docker_client.containers.list(all=True, filters=label)] + [
        n.name for n in docker_client.networks.list(filters=label)]


def scenario_text(gateway: str) -> str:
    return SCENARIO.replace("%GATEWAY%", gateway)


def comparable(path: Path) -> bytes:
    """A run file's bytes, all of them: how a node ran is not part of what it measured."""
    return path.read_bytes()


@pytest.mark.parametrize("bridge", [True, False], ids=["bridge", "published-port"])
def test_a_protocol_gateway_gives_the_bytes_of_the_python_model(
        tmp_path: Path, docker_client: Any, gateway_image: str, run_id: str,
        monkeypatch: pytest.MonkeyPatch, bridge: bool) -> None:
    addresses = []
    connect = ProtocolGatewayNode.connect

    def noted_connect(self: ProtocolGatewayNode) -> Any:
        client = connect(self)
        addresses.append(self.address)
        return client

    monkeypatch.setattr(ProtocolGatewayNode, "connect", noted_connect)
    monkeypatch.setattr(ProtocolGatewayNode, "prefer_bridge", bridge)
    model = load_scenario_text(scenario_text(""), "model.yaml")
    docker = load_scenario_text(
        scenario_text(f'implementation: docker, image: "{gateway_image}",'), "docker.yaml")
    run_to_directory(model, tmp_path / "model", records=True)
    run_to_directory(docker, tmp_path / "docker", records=True)

    for name in COMPARED:
        assert comparable(tmp_path / "model" / name) == comparable(tmp_path / "docker" / name), \
            name
    summary = json.loads((tmp_path / "docker" / "summary.json").read_text())
    assert summary["mode"] == "deterministic"
    gateway = summary["nodes"]["gw1"]
    assert gateway["aggregates_sent"] >= 10 and gateway["readings_discarded_on_crash"] > 0
    assert summary["flows"]["sensors->gw1"]["lost"]["random"] > 0
    assert "listening on 0.0.0.0:7100" in (tmp_path / "docker" / "logs" / "gw1.log").read_text()
    assert leftovers(docker_client, run_id) == []
    [(host, port)] = addresses
    assert (host == "127.0.0.1") != bridge and (port == 7100) == bridge


@pytest.mark.parametrize(
    ("how", "error"),
    [
        ("dies", r"error: node 'gw1': the connection closed at ADVANCE at [\d.]+s; its "
                 r"container exited with code 3; last log lines:\nfake node: dies now"),
        ("babbles", r"error: node 'gw1': malformed JSON in the answer to ADVANCE at [\d.]+s "
                    r".*502 Bad Gateway"),
        ("hangs", r"error: node 'gw1': no answer to ADVANCE at [\d.]+s within 1s \(hung\?\); "
                  r"its container is running; last log lines:\nfake node: hangs now"),
        ("streams", r"error: node 'gw1': answered ADVANCE at [\d.]+s with a line longer than "
                    r"1 MiB \(the protocol's limit\)"),
        ("nests", r"error: node 'gw1': malformed JSON in the answer to ADVANCE at [\d.]+s "
                  r"\(nested too deeply\)"),
    ],
)
def test_a_failing_protocol_node_stops_the_run_and_leaves_nothing(
        tmp_path: Path, docker_client: Any, gateway_image: str, run_id: str,
        monkeypatch: pytest.MonkeyPatch, how: str, error: str) -> None:
    monkeypatch.setattr(ProtocolGatewayNode, "command", ("python3", "-c", FAKE_NODE, how))
    path = tmp_path / "failing.yaml"
    path.write_text(scenario_text(
        f'implementation: docker, image: "{gateway_image}", docker: {{timeout: 1s}},'))
    out = tmp_path / "run"

    result = CliRunner().invoke(main, ["simulate", str(path), "--out", str(out), "-q",
                                       "--no-progress"])

    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert re.search(error, result.output), result.output
    assert not out.exists()
    assert leftovers(docker_client, run_id) == []


def test_the_gateway_server_survives_silent_and_hostile_clients(
        gateway_image: str, launch: Any, wait_healthy: Any) -> None:
    """The node server in the real image: a client that says nothing is dropped after the
    handshake timeout instead of holding the server, and JSON nested past Python's recursion
    limit is answered ERROR without ending the session."""
    container = launch(gateway_image, "protocol", command=list(ProtocolGatewayNode.command))
    wait_healthy(container, 60)
    container.reload()
    # The container's own address, as a run connects (no docker-proxy, which would dial the
    # server in its own time): the silent client is certainly the first one served.
    address = (container.attrs["NetworkSettings"]["IPAddress"], 7100)
    silent = socket.create_connection(address)
    try:
        client = ProtocolClient.connect(
            "gw1", address, kind="gateway",
            params={"aggregate_every_ns": 10**9}, connect_timeout_s=30)
        channel = client._channel
        assert channel is not None
        channel.send(b"[" * 200_000 + b"\n", time.monotonic() + 10)
        reply = decode(channel.read_line(time.monotonic() + 10))
        assert reply["type"] == "ERROR" and "nested too deeply" in reply["message"], reply
        assert client.advance(10**9, [], flush=True) == []
        client.shutdown()
        client.close()
    finally:
        silent.close()
    assert container.wait(timeout=10)["StatusCode"] == 0
    assert "connection dropped: timed out" in container.logs().decode()
