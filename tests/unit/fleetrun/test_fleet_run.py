"""The fleet run's driver against an in-memory MQTT world (tests/unit/fleetrun/fakes.py):
what it writes, what it does to the device, what it refuses, and how it stops."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tests.unit.fleetrun.fakes import FakeBroker, FakeDevice, FakeGateway, fake_paho
from xedgesim.compare.runs import read_run
from xedgesim.errors import BadInput, NodeFailure
from xedgesim.fleetrun import writer
from xedgesim.fleetrun.faults import problems
from xedgesim.fleetrun.mqtt import Endpoint, Login
from xedgesim.fleetrun.targets import probe_targets
from xedgesim.fleetrun.workload import HostWorkload
from xedgesim.scenario.loader import load_scenario_text

SCENARIO = """\
name: fleet-unit
seed: 3
duration: 3s
network:
  default: {latency: 5ms, jitter: {exponential: 2ms}, loss: 0.05}
nodes:
  - {id: sensors, type: sensor, count: 5, interval: 1s, to: broker, topic: "site/{id}/temp",
     qos: 1}
  - {id: broker, type: broker, implementation: docker, image: "xedgesim/broker:latest"}
  - {id: gw1, type: gateway, implementation: docker, image: "xedgesim/gateway:latest",
     docker: {mode: service}, subscribe: {broker: broker, topics: ["site/+/temp"], qos: 1},
     aggregate_every: 1s, to: broker, topic: "agg/{id}", qos: 1}
  - {id: cloud, type: cloud, subscribe: {broker: broker, topics: ["agg/#"], qos: 1}}
"""
CRASH = "faults:\n  - {at: 1s, node: gw1, action: crash, for: 1s}\n"
PROBE_TOPIC = "site/xedgesim-probe/temp"


def world(hosts: tuple[str, ...] = ("edge-1",), text: str = SCENARIO + CRASH):
    scenario = load_scenario_text(text, "fleet-unit.yaml")
    broker = FakeBroker({"probe": "pw"})
    devices, hosts_list = [], []
    for host in hosts:
        FakeGateway(broker, "site/+/temp", f"agg/{host}")
        device = FakeDevice(host, broker, {"XEDGESIM_PUBLISH_TOPIC": f"agg/{host}",
                                           "XEDGESIM_WINDOW": "1s", "XEDGESIM_PASSWORD": "x"})
        devices.append(device)
        hosts_list.append((host, Endpoint("127.0.0.1", 1883, False), device))
    targets = probe_targets(scenario, hosts_list, {"probe": Login("probe", "pw")}, "probe",
                            PROBE_TOPIC)
    return scenario, broker, devices, targets


def test_a_fleet_run_writes_the_simulation_schema_marked_fleet(tmp_path: Path) -> None:
    scenario, broker, devices, targets = world()
    said: list[str] = []
    done = writer.run(scenario, targets, tmp_path / "run", speed=10.0, say=said.append,
                      mqtt_module=fake_paho(broker))
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["mode"] == "fleet" and done.summary == summary
    # the gateway's hop is the device's own: what the model gives it is said and recorded
    assert summary["fleet"]["device_hops"] == {"gw1-broker": ["latency", "jitter", "loss"]}
    assert any(line.startswith("  note: gw1-broker runs on the device, for real: the "
                               "model's latency, jitter, loss for it is not imposed")
               for line in said)
    assert set(summary["flows"]) == {"sensors->broker", "broker->cloud"}
    sent = summary["flows"]["sensors->broker"]["sent"]
    assert sent == 15  # 5 sensors at 1 Hz for 3 s
    assert summary["flows"]["sensors->broker"]["delivered"] + \
        summary["flows"]["sensors->broker"]["in_flight"] + \
        sum(summary["flows"]["sensors->broker"]["lost"].values()) == sent
    # every reading the model delivered was published, on the probe's topic
    published = [topic for client, topic in broker.published if client.endswith("-sensors")]
    assert len(published) == summary["nodes"]["broker"]["published"] and \
        set(published) == {PROBE_TOPIC}
    assert summary["end_to_end_ms"]["cloud"]["count"] == \
        summary["flows"]["broker->cloud"]["delivered"] > 0
    assert summary["hosts"]["edge-1"]["flows"] == summary["flows"]
    assert summary["fleet"]["hosts"]["edge-1"]["gateways"]["gw1"]["forward_topic"] == \
        "agg/edge-1"
    assert "pw" not in (tmp_path / "run" / "summary.json").read_text()
    header = (tmp_path / "run" / "records.csv").read_text().splitlines()[0]
    assert header.startswith("message_id,flow,sender,topic")
    nodes = (tmp_path / "run" / "nodes.csv").read_text().splitlines()
    assert nodes[0].startswith("node,group,type") and len(nodes) == 1 + 5 + 3
    series = (tmp_path / "run" / "timeseries.csv").read_text().splitlines()
    assert series[0].startswith("flow,t_s,sent,delivered") and len(series) == 1 + 2 * 3
    # compare reads it as a run
    run = read_run(tmp_path / "run")
    assert run.mode == "fleet" and "flows.sensors->broker.delivered" in run.samples[0]
    assert read_run(tmp_path / "run" / "hosts" / "edge-1").mode == "fleet"
    # the crash was realised on the device, and the restart
    assert devices[0].calls == ["stop xedgesim-gateway", "start xedgesim-gateway"]
    faults = summary["fleet"]["hosts"]["edge-1"]["faults"]
    assert [(f["action"], f["at_s"], f["error"]) for f in faults] == [("stop", 1.0, None),
                                                                     ("start", 2.0, None)]


def test_hosts_are_sites_whose_counts_add_up(tmp_path: Path) -> None:
    scenario, broker, _, targets = world(("edge-1", "edge-2"), SCENARIO)
    writer.run(scenario, targets, tmp_path / "run", speed=10.0, say=lambda _: None,
               mqtt_module=fake_paho(broker))
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    per_host = [summary["hosts"][h]["flows"]["sensors->broker"]["sent"]
                for h in ("edge-1", "edge-2")]
    assert per_host == [15, 15] and summary["flows"]["sensors->broker"]["sent"] == 30
    records = (tmp_path / "run" / "records.csv").read_text().splitlines()
    parts = [(tmp_path / "run" / "hosts" / h / "records.csv").read_text().splitlines()
             for h in ("edge-1", "edge-2")]
    assert len(records) == len(parts[0]) + len(parts[1]) - 1
    sent = [sum(int(line.split(",")[2]) for line in lines[1:] if line.startswith("sensors"))
            for lines in ((tmp_path / "run" / where / "timeseries.csv").read_text().splitlines()
                          for where in ("hosts/edge-1", "hosts/edge-2", "."))]
    assert sent == [15, 15, 30]


def test_a_foreign_message_is_counted_and_left_out(tmp_path: Path) -> None:
    scenario, broker, _, targets = world(text=SCENARIO)
    paho = fake_paho(broker)
    probe = paho.Client(2, "someone-else")
    probe.username_pw_set("probe", "pw")
    timer = threading.Timer(0.1, lambda: broker.route(
        "probe", "agg/edge-1", b'{"id":0,"value":1,"vmin":1,"vmax":1,"n":1,"origin_ns":5}', 1))
    timer.start()
    writer.run(scenario, targets, tmp_path / "run", speed=10.0, say=lambda _: None,
               mqtt_module=paho)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["fleet"]["hosts"]["edge-1"]["bridged"]["foreign"] == 1
    assert summary["end_to_end_ms"]["cloud"]["max"] < 1000  # its age would be ~1.8e12 ms


def test_a_fault_the_device_cannot_apply_fails_the_run_and_writes_nothing(
        tmp_path: Path) -> None:
    scenario, broker, devices, targets = world()
    devices[0].fail = True
    with pytest.raises(NodeFailure, match=r"(?s)could not apply its faults.*the engine is gone"):
        writer.run(scenario, targets, tmp_path / "run", speed=10.0, say=lambda _: None,
                   mqtt_module=fake_paho(broker))
    assert not (tmp_path / "run").exists()


def test_a_refused_login_names_the_user_not_the_password(tmp_path: Path) -> None:
    scenario, broker, _, targets = world()
    broker.users = {"probe": "other"}
    with pytest.raises(NodeFailure) as raised:
        writer.run(scenario, targets, tmp_path / "run", speed=10.0, say=lambda _: None,
                   mqtt_module=fake_paho(broker))
    assert "'probe'" in str(raised.value) and "pw" not in str(raised.value)
    assert not (tmp_path / "run").exists()


def test_stopping_a_workload_restarts_what_it_stopped(tmp_path: Path) -> None:
    """Ctrl-C mid-crash: the run's thread stops at once, the gateway is started again."""
    scenario, broker, devices, targets = world(text=SCENARIO.replace("3s", "60s") + CRASH)
    workload = HostWorkload(scenario, targets[0], run_id="t", base_ns=0,
                            speed=1.0, mqtt_module=fake_paho(broker))
    outcome: list[BaseException] = []

    def drive() -> None:
        try:
            workload.run()
        except BaseException as error:  # the Stopped the test expects
            outcome.append(error)

    with workload:
        thread = threading.Thread(target=drive)
        thread.start()
        thread.join(1.5)  # past the crash at 1 s, before the restart at 2 s
        workload.stop()
        thread.join(5)
        assert not thread.is_alive()
    assert type(outcome[0]).__name__ == "Stopped"
    assert devices[0].calls[0] == "stop xedgesim-gateway"
    assert devices[0].calls[-1] == "start xedgesim-gateway" and broker.gateway_up


def test_device_hops_name_only_what_the_gateways_link_is_given() -> None:
    """The gateway's own link decides (an override, else the default); a hop the model gives
    nothing is not mentioned."""
    from xedgesim.fleetrun.targets import device_hops

    quiet = SCENARIO.replace("{latency: 5ms, jitter: {exponential: 2ms}, loss: 0.05}",
                             "{latency: 5ms}\n  links:\n    - {between: [gw1, broker], "
                             "latency: 0ms}")
    assert device_hops(load_scenario_text(quiet, "s.yaml")) == {}
    shaped = SCENARIO.replace("{latency: 5ms, jitter: {exponential: 2ms}, loss: 0.05}",
                              "{latency: 0ms}\n  links:\n    - {between: [broker, gw1], "
                              "bandwidth: 1Mbps, buffer: 4}")
    assert device_hops(load_scenario_text(shaped, "s.yaml")) == {
        "gw1-broker": ["bandwidth", "buffer"]}


def test_a_broker_crash_is_refused_with_its_place() -> None:
    scenario = load_scenario_text(
        SCENARIO + "faults:\n  - {at: 1s, node: broker, action: crash, for: 1s}\n", "s.yaml")
    found = problems(scenario)
    assert len(found) == 1 and found[0].startswith("s.yaml:15:5: ") and \
        "is the host's broker" in found[0]
    with pytest.raises(BadInput) as raised:
        writer.check(scenario, 1)
    assert raised.value.exit_code == 2


def test_faults_the_models_or_the_device_apply_are_accepted() -> None:
    scenario = load_scenario_text(SCENARIO + "faults:\n"
                                  "  - {at: 1s, link: [sensors, broker], action: link_down, "
                                  "for: 1s}\n  - {at: 1s, node: cloud, action: crash, for: 1s}\n"
                                  "  - {at: 1s, node: gw1, action: crash}\n"
                                  "  - {at: 1s, link: [broker, gw1], action: link_down}\n"
                                  "  - {at: 1s, groups: [[sensors, broker], [gw1, cloud]], "
                                  "action: partition}\n", "s.yaml")
    assert problems(scenario) == []


def test_a_cut_between_gateway_and_broker_disconnects_the_gateway_for_its_window(
        tmp_path: Path) -> None:
    """A link fault and an overlapping partition are one window on the device (merged), the
    gateway's container is put back on its networks when it ends, and each action is in the
    summary with its scenario time."""
    text = SCENARIO + ("faults:\n  - {at: 1s, link: [broker, gw1], action: link_down, for: 1s}\n"
                       "  - {at: 1500ms, groups: [[sensors, broker], [gw1, cloud]], "
                       "action: partition}\n  - {at: 2500ms, action: heal}\n")
    scenario, broker, devices, targets = world(text=text)
    done = writer.run(scenario, targets, tmp_path / "run", speed=10.0, say=lambda _: None,
                      mqtt_module=fake_paho(broker))
    assert devices[0].calls == ["isolate xedgesim-gateway", "rejoin xedgesim-gateway xedgesim"]
    faults = done.summary["fleet"]["hosts"]["edge-1"]["faults"]
    assert [(f["action"], f["at_s"], f["error"]) for f in faults] == [
        ("disconnect", 1.0, None), ("connect", 2.5, None)]
    assert broker.gateway_up


def test_a_cut_still_open_at_the_end_is_mended_when_the_run_ends(tmp_path: Path) -> None:
    text = SCENARIO + "faults:\n  - {at: 2s, link: [gw1, broker], action: link_down}\n"
    scenario, broker, devices, targets = world(text=text)
    done = writer.run(scenario, targets, tmp_path / "run", speed=10.0, say=lambda _: None,
                      mqtt_module=fake_paho(broker))
    assert devices[0].calls == ["isolate xedgesim-gateway", "rejoin xedgesim-gateway xedgesim"]
    faults = done.summary["fleet"]["hosts"]["edge-1"]["faults"]
    assert [(f["action"], f["at_s"]) for f in faults] == [("disconnect", 2.0), ("connect", -1.0)]


def test_the_duration_is_bounded() -> None:
    scenario = load_scenario_text(SCENARIO, "s.yaml")
    assert writer.with_duration(scenario, 2_000_000_000).duration_ns == 2_000_000_000
    with pytest.raises(BadInput, match="at most 1h"):
        writer.with_duration(scenario, writer.MAX_DURATION_NS + 1)
    long = load_scenario_text(SCENARIO.replace("duration: 3s", "duration: 2h"), "s.yaml")
    with pytest.raises(BadInput, match=r"s.yaml: the scenario lasts 2h.*give --duration"):
        writer.with_duration(long, None)
