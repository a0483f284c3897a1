"""Every scenario the repository ships is usable as shipped: ``xedge validate`` accepts each,
and each one that needs no container engine simulates. (The docker ones simulate in the
integration and e2e suites: ``scenarios/fleet_parity.yaml`` in tests/e2e/test_parity.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from xedgesim.cli import main
from xedgesim.scenario import load_scenario

SCENARIOS = sorted((Path(__file__).resolve().parents[3] / "scenarios").glob("*.yaml"))
PURE_PYTHON = [path for path in SCENARIOS
               if all(node.implementation != "docker" for node in load_scenario(path).nodes)]


def test_the_repository_ships_scenarios_of_both_kinds() -> None:
    assert len(SCENARIOS) >= 5 and PURE_PYTHON and set(PURE_PYTHON) != set(SCENARIOS)


def test_every_shipped_scenario_validates() -> None:
    result = CliRunner().invoke(main, ["validate", *map(str, SCENARIOS)])
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok (") == len(SCENARIOS)


@pytest.mark.parametrize("path", PURE_PYTHON, ids=lambda path: path.name)
def test_every_pure_python_scenario_simulates(path: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["simulate", str(path), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == load_scenario(path).name
    assert summary["messages"]["delivered"] > 0
