"""A fleet run against a real broker and a real gateway container (a site on this machine's
engine): it writes the simulation's schema, realises a gateway crash on the engine, and
``xedge compare`` against ``xedge simulate`` of the same scenario gives its verdicts."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.integration.test_gateway_container import (  # noqa: F401 (network is a fixture)
    BROKER,
    GATEWAY,
    HEALTHY_WITHIN,
    host_port,
    make_passwd,
    network,
    start_broker,
)
from xedgesim.cli import main
from xedgesim.deploy.device import SERVICE_LABEL
from xedgesim.deploy.scenario_config import plan
from xedgesim.errors import NodeFailure
from xedgesim.fleetrun import writer
from xedgesim.fleetrun.device import EngineDevice, SshDevice
from xedgesim.fleetrun.mqtt import Endpoint, Login
from xedgesim.fleetrun.targets import plan_targets
from xedgesim.images import naming
from xedgesim.scenario import load_scenario

pytestmark = pytest.mark.integration

SCENARIO = f"""\
name: fleet-integration
seed: 11
duration: 16s
network:
  default: {{latency: 2ms, jitter: {{exponential: 1ms}}, loss: 0}}
nodes:
  - {{id: sensors, type: sensor, count: 10, interval: 1s, to: broker, topic: "site/{{id}}/temp",
     qos: 1}}
  - {{id: broker, type: broker, implementation: docker, image: "{BROKER}"}}
  - {{id: gw1, type: gateway, implementation: docker, image: "{GATEWAY}",
     docker: {{mode: service}}, subscribe: {{broker: broker, topics: ["site/+/temp"], qos: 1}},
     aggregate_every: 2s, to: broker, topic: "agg/{{id}}", qos: 1}}
  - {{id: cloud, type: cloud, subscribe: {{broker: broker, topics: ["agg/#"], qos: 1}}}}
"""
CRASH = "faults:\n  - {at: 3s, node: gw1, action: crash, for: 2s}\n"
PASSWORD = "fleet-s3cret-91c2"
# Both runs are paced on the wall clock; on a machine shared with other suites (load 30+) the
# coordinator's p95 lag passes the default 100 ms, which says nothing about the schema or the
# comparison this test is about: it allows 1 s, and prints the lag.
MAX_LAG_NS = 1_000_000_000


@dataclass
class Site:
    """A broker and a gateway container standing for one host, and the targets of a fleet run
    of ``path`` against them."""

    path: Path
    gateway: Any
    targets: list[Any]


@pytest.fixture
def site(
    amd64_build: Any, docker_client: Any, launch: Callable[..., Any], network: Any,  # noqa: F811
    containers: list[Any], wait_healthy: Callable[[Any, float], float], tmp_path: Path,
) -> Callable[[str], Site]:
    def make(text: str) -> Site:
        path = tmp_path / "fleet-integration.yaml"
        path.write_text(text)
        scenario = load_scenario(path)
        passwd = make_passwd(launch, tmp_path, "device", PASSWORD)
        secret = tmp_path / "gateway-password"
        secret.write_text(PASSWORD + "\n")
        broker = start_broker(launch, network,
                              environment={"XEDGESIM_BROKER_PROFILE": "production"},
                              volumes={str(passwd): {"bind": "/etc/mosquitto/passwd",
                                                     "mode": "ro"}})
        wait_healthy(broker, HEALTHY_WITHIN)
        name = uuid.uuid4().hex[:8]
        labels = {naming.LABEL_MANAGED: "true", "org.xedgesim.test": "integration",
                  SERVICE_LABEL: "gateway", "org.xedgesim.test-site": name}
        gateway = docker_client.containers.run(
            GATEWAY, detach=True, name=f"xedgesim-test-gateway-{name}", labels=labels,
            network=network.name,
            volumes={str(secret): {"bind": "/run/secrets/mqtt", "mode": "ro"}},
            environment={"XEDGESIM_BROKER": f"{broker.name}:1883",
                         "XEDGESIM_SUBSCRIBE": "site/+/temp",
                         "XEDGESIM_PUBLISH_TOPIC": "agg/gw1", "XEDGESIM_WINDOW": "2s",
                         "XEDGESIM_QOS": "1", "XEDGESIM_USERNAME": "device",
                         "XEDGESIM_PASSWORD_FILE": "/run/secrets/mqtt",
                         "XEDGESIM_CLIENT_ID": f"gw-{name}"})
        containers.append(gateway)
        wait_healthy(gateway, HEALTHY_WITHIN)
        device = EngineDevice("site-1", docker_client, {"org.xedgesim.test-site": name})
        login = Login("device", PASSWORD)
        targets = plan_targets(scenario, plan(scenario, ["site-1"]),
                               [("site-1", Endpoint("127.0.0.1", host_port(broker), tls=False),
                                 device)], login, login)
        return Site(path, gateway, targets)

    return make


def test_a_fleet_run_of_a_real_site_compares_with_its_simulation(
        site: Callable[[str], Site], tmp_path: Path) -> None:
    made = site(SCENARIO + CRASH)
    path, gateway, targets = made.path, made.gateway, made.targets
    scenario = load_scenario(path)
    started = time.monotonic()
    done = writer.run(scenario, targets, tmp_path / "fleet", say=print, max_lag_ns=MAX_LAG_NS)
    print(f"fleet run: {time.monotonic() - started:.1f}s wall, lag {done.summary['pacing']}")

    summary = json.loads((tmp_path / "fleet" / "summary.json").read_text())
    assert summary["mode"] == "fleet" and done.valid
    assert sorted(summary["flows"]) == ["broker->cloud", "sensors->broker"]
    inbound = summary["flows"]["sensors->broker"]
    assert inbound["sent"] == 160 and summary["nodes"]["broker"]["published"] == \
        inbound["delivered"]
    assert summary["nodes"]["cloud"]["readings_in"] < inbound["delivered"]  # the crash cost
    faults = summary["fleet"]["hosts"]["site-1"]["faults"]
    assert [(f["action"], f["at_s"], f["error"]) for f in faults] == [
        ("stop", 3.0, None), ("start", 5.0, None)]
    # aggregates came before the crash; the container was stopped and started again (its
    # service may take seconds to come back on a busy machine: 8 s at a load of 36)
    arrivals = [int(line.split(",")[5]) for line in
                (tmp_path / "fleet" / "records.csv").read_text().splitlines()[1:]
                if ",broker->cloud," in line and ",delivered," in line]
    assert arrivals and min(arrivals) < 3e9, arrivals
    log = gateway.logs().decode(errors="replace")
    assert log.count("gateway starting:") == 2
    gateway.reload()
    assert gateway.status == "running" and gateway.attrs["State"]["StartedAt"] > \
        gateway.attrs["Created"]
    assert PASSWORD not in "".join(p.read_text() for p in (tmp_path / "fleet").rglob("*.json"))

    runner = CliRunner()
    simulated = runner.invoke(main, ["simulate", str(path), "--out", str(tmp_path / "sim"),
                                     "--max-lag", "1s"])
    print(simulated.output)
    assert simulated.exit_code == 0
    compared = runner.invoke(main, ["compare", str(tmp_path / "sim"), str(tmp_path / "fleet"),
                                    "--json", str(tmp_path / "compare.json")])
    print(compared.output)
    assert compared.exit_code in (0, 1)
    report = json.loads((tmp_path / "compare.json").read_text())
    verdicts = {m["metric"]: m["verdict"] for m in report["metrics"]}
    print("compare verdicts:", report["counts"])
    assert report["b"]["mode"] == "fleet" and len(verdicts) >= 15
    # the network model is the same code on both sides: what it decides agrees
    for metric in ("flows.sensors->broker.delivery_ratio", "flows.sensors->broker.delivered",
                   "flows.sensors->broker.latency_ms.p50"):
        assert verdicts[metric] == "pass", metric


def test_a_cut_between_gateway_and_broker_disconnects_the_container_and_holds_qos1(
        site: Callable[[str], Site], tmp_path: Path) -> None:
    """``link_down [gw1, broker]`` for 4 s: the gateway's container leaves its network and
    comes back. Nothing reaches the cloud during the cut; the QoS 1 readings the broker kept
    meanwhile reach it afterwards, late (docs/parity.md, "Faults on a fleet": a cut this short
    is carried over by TCP, a longer one by the gateway's persistent session)."""
    made = site(SCENARIO + "faults:\n  - {at: 3s, link: [gw1, broker], action: link_down, "
                "for: 4s}\n")
    scenario = load_scenario(made.path)
    done = writer.run(scenario, made.targets, tmp_path / "fleet", say=print,
                      max_lag_ns=MAX_LAG_NS)
    summary = done.summary
    print("faults:", summary["fleet"]["hosts"]["site-1"]["faults"])
    faults = summary["fleet"]["hosts"]["site-1"]["faults"]
    assert [(f["action"], f["at_s"], f["error"]) for f in faults] == [
        ("disconnect", 3.0, None), ("connect", 7.0, None)]
    made.gateway.reload()
    assert made.gateway.status == "running" and made.gateway.attrs["NetworkSettings"]["Networks"]
    print(made.gateway.logs().decode(errors="replace")[-3000:])
    arrivals = [int(line.split(",")[5]) for line in
                (tmp_path / "fleet" / "records.csv").read_text().splitlines()[1:]
                if ",broker->cloud," in line and ",delivered," in line]
    assert min(arrivals) < 3e9 and max(arrivals) > 7e9, arrivals
    assert not [a for a in arrivals if 3.5e9 < a < 7e9], arrivals  # the cut held
    delivered = summary["flows"]["sensors->broker"]["delivered"]
    readings = summary["nodes"]["cloud"]["readings_in"]
    print(f"readings at the broker {delivered}, in the cloud's aggregates {readings}")
    # Held, not lost: at most the last window (2 s of 10 sensors) and one more in flight
    # are missing at the cloud when the run ends; a lost 4 s cut would miss 40 more.
    assert readings >= delivered - 40, (readings, delivered)


def test_the_ssh_device_drives_the_engine_with_the_docker_cli(
        site: Callable[[str], Site], network: Any) -> None:  # noqa: F811
    """``SshDevice`` runs the very ``docker`` commands a fleet run sends over SSH; with
    ``ansible_connection: local`` they run here, against this engine's containers."""
    gateway = site(SCENARIO).gateway
    device = SshDevice("local", {"ansible_connection": "local"})
    assert device.isolate(gateway.name) == [network.name]
    gateway.reload()
    assert not gateway.attrs["NetworkSettings"]["Networks"]
    device.rejoin(gateway.name, [network.name])
    gateway.reload()
    assert list(gateway.attrs["NetworkSettings"]["Networks"]) == [network.name]
    device.stop(gateway.name)
    gateway.reload()
    assert gateway.status == "exited"
    device.start(gateway.name)
    gateway.reload()
    assert gateway.status == "running"
    with pytest.raises(NodeFailure, match="local: `docker network connect"):
        device.rejoin(gateway.name, ["xedgesim-no-such-network"])
