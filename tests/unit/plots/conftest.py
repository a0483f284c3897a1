"""A small run with every kind of fault and a bandwidth-limited link, simulated once."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from xedgesim.cli import main

SCENARIO = """\
name: pictures
seed: 3
duration: 8s
network:
  default: {latency: 5ms, jitter: {exponential: 2ms}, loss: 0.02}
  links:
    - {between: [gw1, cloud], latency: 20ms, bandwidth: 20kbit}
nodes:
  - {id: sensors, type: sensor, count: 20, interval: 100ms, to: broker, topic: "s/{id}",
     qos: 1}
  - {id: broker, type: broker}
  - {id: gw1, type: gateway, subscribe: ["s/#"], aggregate_every: 20ms, to: cloud,
     payload: 200B}
  - {id: cloud, type: cloud}
faults:
  - {at: 2s, node: gw1, action: crash, for: 1s}
  - {at: 4s, action: link_down, link: [gw1, cloud], for: 1s}
  - {at: 6s, action: partition, groups: [[sensors], [broker]], for: 500ms}
"""


def invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def simulate(directory: Path, name: str, *extra: str, text: str = SCENARIO) -> Path:
    scenario = directory / f"{name}.yaml"
    scenario.write_text(text)
    out = directory / name
    invoke("simulate", str(scenario), "--out", str(out), "-q", *extra)
    return out


@pytest.fixture(scope="package")
def scenario_text() -> str:
    return SCENARIO


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return simulate(tmp_path, "run")
