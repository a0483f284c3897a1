"""Service mode: the gateway image's real MQTT service, on the wall clock, behind a real
Mosquitto, agrees with the python_model run of the same scenario within a stated tolerance.

Tolerance, and why: the service's windows run on its own wall clock, started before the run,
so they are not aligned with the model's windows. The readings reaching the cloud can differ
by at most one window's worth (sensors x window / interval) plus the in-flight QoS 1 tail,
and the number of aggregates by at most one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from xedgesim.run import run_to_directory
from xedgesim.scenario import load_scenario_text

pytestmark = pytest.mark.integration

SENSORS, INTERVAL_S, WINDOW_S, DURATION_S = 20, 0.5, 3, 15

SCENARIO = f"""\
name: service-mode
seed: 3
duration: {DURATION_S}s
network:
  default: {{latency: 5ms, jitter: {{exponential: 2ms}}, loss: 0.01}}
nodes:
  - {{id: sensors, type: sensor, count: {SENSORS}, interval: {int(INTERVAL_S * 1000)}ms,
     to: broker, topic: "site/{{id}}/t", qos: 1}}
  - {{id: broker, type: broker%BROKER%}}
  - {{id: gw1, type: gateway%GATEWAY%, subscribe: {{broker: broker, topics: ["site/+/t"], qos: 1}},
     aggregate_every: {WINDOW_S}s, to: broker, topic: "agg/{{id}}", qos: 1}}
  - {{id: cloud, type: cloud, subscribe: {{broker: broker, topics: ["agg/#"], qos: 1}}}}
"""


def run(tmp_path: Path, name: str, broker: str, gateway: str) -> dict:
    text = SCENARIO.replace("%BROKER%", broker).replace("%GATEWAY%", gateway)
    run_to_directory(load_scenario_text(text, f"{name}.yaml"), tmp_path / name)
    return json.loads((tmp_path / name / "summary.json").read_text())


def test_service_mode_agrees_with_the_python_model(tmp_path: Path, docker_client: Any,
                                                   amd64_build: Any) -> None:
    from xedgesim.images.build import build_images

    build_images(("amd64",), ("gateway",), connect=lambda: docker_client)
    model = run(tmp_path, "model", "", "")
    service = run(
        tmp_path, "service",
        ', implementation: docker, image: "xedgesim/broker:latest"',
        ', implementation: docker, image: "xedgesim/gateway:latest", docker: {mode: service}')
    assert model["mode"] == "deterministic" and service["mode"] == "statistical"
    assert service["pacing"]["lag_ms"]["p95"] < 50
    sent = SENSORS * DURATION_S / INTERVAL_S
    assert model["flows"]["sensors->broker"]["sent"] == service["flows"]["sensors->broker"]["sent"]
    assert service["flows"]["sensors->broker"]["sent"] == sent
    one_window = SENSORS * WINDOW_S / INTERVAL_S
    readings_model = model["nodes"]["cloud"]["readings_in"]
    readings_service = service["nodes"]["cloud"]["readings_in"]
    assert readings_model > 0.5 * sent
    assert abs(readings_service - readings_model) <= one_window + 0.02 * sent, (
        readings_model, readings_service)
    aggregates_model = model["end_to_end_ms"]["cloud"]["count"]
    aggregates_service = service["end_to_end_ms"]["cloud"]["count"]
    assert abs(aggregates_service - aggregates_model) <= 1
