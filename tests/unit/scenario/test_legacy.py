"""Files of the original xEdgeSim layout load, converted, with notices; errors keep their lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from xedgesim import registry
from xedgesim.scenario import load_scenario
from xedgesim.scenario.legacy import CONVERTED
from xedgesim.scenario.model import LinkSpec, NetworkSpec

from .helpers import load, one, problems

REPO = Path(__file__).resolve().parents[3]
MS = 1_000_000
S = 1_000_000_000

M0_BASELINE = """\
simulation:
  duration_s: 10
  seed: 42
  time_quantum_us: 1000  # 1ms time steps

nodes:
  - id: sensor1
    type: sensor_model
    port: 5001

  - id: sensor2
    type: sensor_model
    port: 5002

  - id: gateway
    type: gateway_model
    port: 5004
"""


def test_the_example_file_loads() -> None:
    scenario = load_scenario(REPO / "scenarios" / "legacy_example.yaml")
    assert scenario.notices[0] == CONVERTED
    assert scenario.name == "legacy_example"
    assert scenario.seed == 42 and scenario.duration_ns == 10 * S
    assert scenario.network.default == LinkSpec(latency_ns=10 * MS, loss=0.0)
    assert [
        (link.a, link.b, link.spec.latency_ns, link.spec.loss) for link in scenario.network.links
    ] == [
        ("sensor1", "gateway", 5 * MS, 0.0),
        ("sensor2", "gateway", 5 * MS, 0.01),
        ("gateway", "cloud1", 50 * MS, 0.0),
    ]
    assert [(node.id, node.type) for node in scenario.nodes] == [
        ("sensor1", "sensor"),
        ("sensor2", "sensor"),
        ("gateway", "gateway"),
        ("broker1", "broker"),
        ("cloud1", "cloud"),
    ]
    sensor1 = scenario.node("sensor1").params
    assert sensor1.interval_ns == 100 * MS  # sample_rate_hz: 10  # type: ignore[union-attr]
    assert sensor1.publish.to == "gateway"  # type: ignore[union-attr]
    gateway = scenario.node("gateway").params
    assert gateway.publish.to == "cloud1"  # forward_to_cloud  # type: ignore[union-attr]
    assert gateway.aggregate_every_ns == 5 * S  # type: ignore[union-attr]
    notices = "\n".join(scenario.notices)
    assert "line 10: 'time_quantum_us' is ignored" in notices
    assert "'port' is ignored (5 times)" in notices
    assert "config key 'sensor_type' is ignored" in notices


def test_original_m0_baseline() -> None:
    scenario = load(M0_BASELINE)
    assert scenario.network == NetworkSpec()  # no network: the original delivered instantly
    sensor = scenario.node("sensor1")
    assert sensor.type == "sensor" and sensor.implementation == "python_model"
    params = sensor.params
    assert params.interval_ns == S and params.phase == S  # type: ignore[union-attr]
    assert params.publish.to == "gateway" and params.publish.payload_bytes == 64  # type: ignore[union-attr]
    assert scenario.node("gateway").params.publish is None  # type: ignore[union-attr]
    assert scenario.notices[0] == CONVERTED
    assert any("'port' is ignored (3 times)" in notice for notice in scenario.notices)
    assert scenario.notices[1] == (  # the reference promises it; it never used to appear
        "line 1: no 'network' section: delivery is instant and lossless (latency 0, loss 0), "
        "as in the original"
    )


def test_direct_model_is_explained_and_its_links_still_route() -> None:
    text = M0_BASELINE.replace("  - id: gateway", "  - id: gw").replace(
        "nodes:",
        "network:\n  model: direct\n  links: [{src: sensor1, dst: gw}]\nnodes:",
    )
    scenario = load(text)
    assert scenario.network == NetworkSpec()
    assert scenario.node("sensor1").params.publish.to == "gw"  # type: ignore[union-attr]
    assert any(
        "network model 'direct' becomes a default link without latency" in n
        for n in scenario.notices
    )


def test_latency_model_default_is_the_original_10ms() -> None:
    scenario = load(M0_BASELINE + "network:\n  model: latency\n")
    assert scenario.network.default.latency_ns == 10 * MS


def test_sensor_config_keys_map_and_unknown_ones_are_notices() -> None:
    text = M0_BASELINE.replace(
        "    port: 5001\n",
        "    port: 5001\n    config: {report_interval: 2s, sample_rate: 1000Hz, packet_size: 32, "
        "tx_power: 0dBm, seed: 3}\n",
    ).replace("    port: 5002\n", "    port: 5002\n    config: {report_interval: 0.5}\n")
    scenario = load(text)
    first = scenario.node("sensor1").params
    assert first.interval_ns == 2 * S and first.publish.payload_bytes == 32  # type: ignore[union-attr]
    assert scenario.node("sensor2").params.interval_ns == S // 2  # type: ignore[union-attr]
    notices = "\n".join(scenario.notices)
    assert "'sample_rate' next to 'report_interval' is ignored" in notices
    assert "config key 'tx_power' is ignored: it has no meaning for a sensor" in notices
    assert (
        "per-node 'seed' is ignored: every random stream derives from the scenario seed" in notices
    )


def test_sample_rate_as_text() -> None:
    text = M0_BASELINE.replace(
        "    port: 5001\n", "    port: 5001\n    config: {sample_rate: 2kHz}\n"
    )
    assert load(text).node("sensor1").params.interval_ns == 500_000  # type: ignore[union-attr]


def test_forward_to_cloud_uses_the_only_broker_without_a_cloud() -> None:
    text = (
        M0_BASELINE.replace(
            "    port: 5004\n", "    port: 5004\n    config: {forward_to_cloud: true}\n"
        )
        + "  - {id: broker1, type: mqtt_broker, port: 5003}\n"
    )
    assert load(text).node("gateway").params.publish.to == "broker1"  # type: ignore[union-attr]


def test_docker_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.NODE_CLASSES, ("broker", "docker"), "tests:NoSuchClass")
    text = M0_BASELINE + (
        "  - id: broker1\n"
        "    type: mqtt_broker\n"
        "    implementation: docker\n"
        "    port: 5003\n"
        "    docker:\n"
        "      image: xedgesim/mosquitto:latest\n"
        "      build_context: containers/mqtt-broker\n"
        "      ports:\n"
        "        1883: 1883\n"
    )
    scenario = load(text)
    broker = scenario.node("broker1")
    assert broker.implementation == "docker" and broker.image == "xedgesim/mosquitto:latest"
    assert broker.docker == {}  # what no container node reads is a notice, not an option
    assert "line 24: 'docker: build_context' is ignored: images are built by 'xedge images " \
        "build'" in scenario.notices
    assert any(notice.startswith("line 25: 'docker: ports' is ignored") for notice in
               scenario.notices)


def test_ml_inference_is_a_notice() -> None:
    scenario = load(M0_BASELINE + "ml_inference:\n  placement: edge\n")
    assert any("'ml_inference' is ignored" in notice for notice in scenario.notices)


# -- errors point at the original lines --------------------------------------------------------


def test_missing_duration_s() -> None:
    problem = one(M0_BASELINE.replace("  duration_s: 10\n", ""))
    assert str(problem) == "s.yaml:2:3: missing required key 'duration_s' in 'simulation'"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "'duration_s' in 'simulation' must be greater than zero"),
        ("ten", "'duration_s' in 'simulation' must be a number, found 'ten'"),
        ("1e300", "'duration_s' in 'simulation' is too large"),
    ],
)
def test_bad_duration_s(value: str, message: str) -> None:
    problem = one(M0_BASELINE.replace("duration_s: 10", f"duration_s: {value}"))
    assert problem.message == message
    assert problem.location is not None and (problem.location.line, problem.location.column) == (
        2,
        15,
    )


def test_unknown_key_in_simulation() -> None:
    problem = one(M0_BASELINE.replace("  seed: 42\n", "  sed: 42\n"))
    assert str(problem) == "s.yaml:3:3: unknown key 'sed' in 'simulation' (did you mean 'seed'?)"


def test_current_layout_key_in_an_original_file() -> None:
    problem = one(M0_BASELINE + "faults: []\n")
    assert problem.message.startswith("'faults' is not part of the original xEdgeSim layout")


def test_bad_link_values_point_at_them() -> None:
    text = M0_BASELINE + (
        "network:\n"
        "  model: latency\n"
        "  links:\n"
        "    - {src: sensor1, dst: gateway, latency_us: -5, loss_rate: 2}\n"
    )
    found = problems(text)
    assert [(p.location.line, p.message) for p in found if p.location] == [
        (21, "'latency_us' in link #1 must be at least 0, found -5"),
        (21, "'loss_rate' in link #1 must be between 0 and 1, found 2"),
    ]


def test_two_directions_with_different_settings() -> None:
    text = M0_BASELINE + (
        "network:\n"
        "  model: latency\n"
        "  links:\n"
        "    - {src: sensor1, dst: gateway, latency_us: 500}\n"
        "    - {src: gateway, dst: sensor1, latency_us: 900}\n"
    )
    problem = one(text)
    assert problem.message == (
        "link #2 and the link at line 21 join the same two nodes with different settings"
    )
    assert problem.location is not None and problem.location.line == 22


def test_two_equal_directions_become_one_link() -> None:
    text = M0_BASELINE + (
        "network:\n"
        "  model: latency\n"
        "  links:\n"
        "    - {src: sensor1, dst: gateway, latency_us: 500}\n"
        "    - {src: gateway, dst: sensor1, latency_us: 500}\n"
    )
    assert len(load(text).network.links) == 1


def test_unknown_node_in_an_original_link() -> None:
    text = M0_BASELINE + "network:\n  model: latency\n  links: [{src: sensor1, dst: gatway}]\n"
    problem = one(text)
    assert problem.message == "'between' in link #1 names an unknown node 'gatway'"
    assert problem.hint == "did you mean 'gateway'?"
    assert problem.location is not None and problem.location.line == 20


def test_unknown_original_node_type() -> None:
    problem = one(M0_BASELINE.replace("type: gateway_model", "type: gateway_modle"))
    assert problem.hint == "did you mean 'gateway_model'?"
    assert problem.location is not None and problem.location.line == 16


def test_renode_nodes_are_not_supported() -> None:
    found = problems(
        M0_BASELINE
        + "  - {id: dev, type: renode, implementation: renode_inprocess, firmware: x.elf}\n"
    )
    assert [p.message for p in found] == [
        "node 'dev' has type 'renode' (firmware emulated in Renode), which xedgesim does not "
        "support",
        "node 'dev' uses implementation 'renode_inprocess', which xedgesim does not support",
    ]


def test_docker_node_without_image(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.NODE_CLASSES, ("broker", "docker"), "tests:NoSuchClass")
    problem = one(M0_BASELINE + "  - {id: b, type: mqtt_broker, implementation: docker}\n")
    assert problem.message == "node 'b' runs in docker and needs an image"


def test_sensor_without_a_destination() -> None:
    text = M0_BASELINE.replace("  - id: gateway", "  - id: gw1") + (
        "  - {id: gw2, type: gateway}\n"
    )
    found = problems(text)
    assert [p.message for p in found] == [
        "cannot tell where sensor 'sensor1' sends its readings",
        "cannot tell where sensor 'sensor2' sends its readings",
    ]
    assert found[0].hint == "add a link {src: sensor1, dst: <gateway id>} under network.links"


def test_duplicate_ids_in_an_original_file() -> None:
    problem = one(M0_BASELINE.replace("id: sensor2", "id: sensor1"))
    assert problem.message == "duplicate node id 'sensor1'"
    assert problem.location is not None and problem.location.line == 11


def test_bad_config_values_are_errors() -> None:
    text = M0_BASELINE.replace(
        "    port: 5001\n", "    port: 5001\n    config: {sample_rate_hz: 0}\n"
    )
    assert one(text).message == (
        "'sample_rate_hz' in the config of node 'sensor1' must be a rate between 0 and 1 GHz"
    )


def test_duration_s_is_converted_exactly() -> None:
    """Seconds times 1e9 through a float lost the last digits of long durations."""
    text = M0_BASELINE.replace("duration_s: 10", "duration_s: 2305843009.213693951")
    assert load(text).duration_ns == 2**61 - 1
    assert load(M0_BASELINE.replace("duration_s: 10", "duration_s: 017")).duration_ns == 15 * S
