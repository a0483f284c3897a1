"""Parity on a staged Pi: ``xedge stage --hosts 1 --scenario`` runs the scenario against the
fleet (the ``workload`` step), and ``xedge compare`` of that fleet run with ``xedge simulate``
of the same scenario passes; the same fleet with the gateway's window set differently by hand
(an inventory's ``host_vars``, a drifted production config) fails parity, naming the metric.

One fleet for the module: staged and kept by the first test, re-converged with the drift by
the second, destroyed at the end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner

from tests.e2e.conftest import xedge
from xedgesim.cli import main
from xedgesim.deploy import commands, state

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "fleet_parity.yaml"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scenarios/fleet_parity.yaml, as a file both worlds run. `xedge simulate` runs a
    service-mode gateway only when it publishes through its broker, so a gateway that sends
    straight to the cloud is sent through the broker in this copy (the fleet does exactly
    that either way: the gateway publishes on its broker, the cloud subscribes)."""
    document = yaml.safe_load(SCENARIO.read_text())
    for node in document["nodes"]:
        if node["type"] == "gateway" and node.get("to") == "cloud":
            node["to"] = "broker"
    path = tmp_path_factory.mktemp("scenario") / "fleet_parity.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def simulate(scenario: Path, out: Path, *more: str) -> Path:
    """`xedge simulate` of the scenario: the containers world (a real broker and gateway)."""
    started = time.monotonic()
    result = CliRunner().invoke(main, ["simulate", str(scenario), "--out", str(out), *more])
    print(result.output, f"\nsimulate {' '.join(more)}: {time.monotonic() - started:.1f}s")
    assert result.exit_code == 0
    return out


@pytest.fixture(scope="module")
def simulated(scenario: Path, staged: tuple[Path, Any],
              tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The simulation the fleet run must agree with: the scenario calibrated on the fleet run
    (`xedge calibrate`, its links fitted from the fleet's records) when this version has it,
    else the scenario as written."""
    directory = tmp_path_factory.mktemp("sim")
    run_dir, result = staged
    fleet_run = run_dir / "fleet-run"
    if result.exit_code != 0 or "calibrate" not in main.list_commands(click.Context(main)):
        return simulate(scenario, directory / "run")
    links = directory / "links.yaml"
    calibrated = CliRunner().invoke(main, ["calibrate", str(fleet_run), "--scenario",
                                           str(scenario), "-o", str(links)])
    print(calibrated.output)
    assert calibrated.exit_code == 0
    return simulate(scenario, directory / "run", "--network", str(links))


@pytest.fixture(scope="module")
def staged(scenario: Path, images: Any, store: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """`xedge stage --hosts 1 --scenario S --keep`: its run directory and its result."""
    from xedgesim.deploy import fleet

    run_dir = tmp_path_factory.mktemp("parity") / "stage"
    try:
        started = time.monotonic()
        result = xedge(commands.stage, ["--hosts", "1", "--scenario", str(scenario), "--keep",
                                        "--out", str(run_dir), "--no-progress"], store)
        print(f"stage --hosts 1 --scenario: {time.monotonic() - started:.1f}s")
        yield run_dir, result
    finally:
        if (run_dir / state.FILE_NAME).is_file():
            fleet.destroy(state.load(run_dir), say=print)


def compare(a: Path, b: Path, report: Path) -> tuple[Any, dict[str, Any]]:
    result = CliRunner().invoke(main, ["compare", str(a), str(b), "--json", str(report)])
    print(result.output)
    return result, json.loads(report.read_text())


def test_a_staged_fleet_run_agrees_with_the_simulation(staged: tuple[Path, Any],
                                                       simulated: Path, tmp_path: Path) -> None:
    """Against the calibrated simulation when `xedge calibrate` exists (see `simulated`)."""
    run_dir, result = staged
    assert result.exit_code == 0, "stage --scenario failed"
    assert "[workload] passed" in result.output
    fleet_run = run_dir / "fleet-run"
    summary = json.loads((fleet_run / "summary.json").read_text())
    assert summary["mode"] == "fleet" and list(summary["hosts"]) == ["edge-1"]
    assert summary["fleet"]["hosts"]["edge-1"]["sensor_user"] == "sensor"
    assert summary["fleet"]["hosts"]["edge-1"]["broker"].endswith("(TLS)")
    assert (fleet_run / "records.csv").is_file() and (fleet_run / "nodes.csv").is_file()
    compared, report = compare(simulated, fleet_run, tmp_path / "compare.json")
    print("verdicts:", report["counts"])
    assert compared.exit_code == 0, "the fleet run does not agree with the simulation"
    assert report["counts"]["pass"] >= 15 and report["b"]["mode"] == "fleet"


def test_a_drifted_gateway_window_fails_parity_and_names_the_metric(
        staged: tuple[Path, Any], simulated: Path, store: Path, tmp_path: Path) -> None:
    run_dir, result = staged
    assert result.exit_code == 0, "the kept fleet was not staged"
    window = int(yaml.safe_load((run_dir / "scenario" / "fleet-vars.yml").read_text())
                 ["edge"]["hosts"]["edge-1"]["xedgesim_gateway_window_s"])
    drifted = 2 if window != 2 else 3
    host_vars = run_dir / "inventory" / "host_vars"
    host_vars.mkdir(exist_ok=True)
    (host_vars / "edge-1.yml").write_text(
        f"# changed by hand on the device's inventory: the drift parity must catch\n"
        f"xedgesim_gateway_window_s: {drifted}\n")
    started = time.monotonic()
    again = xedge(commands.stage, ["--out", str(run_dir), "--step", "converge", "--step",
                                   "workload", "--no-progress"], store)
    print(f"converge + workload with the drift: {time.monotonic() - started:.1f}s")
    assert again.exit_code == 0
    summary = json.loads((run_dir / "fleet-run" / "summary.json").read_text())
    assert summary["fleet"]["hosts"]["edge-1"]["gateways"]["gw1"]["window"] == f"{drifted}s"
    compared, report = compare(simulated, run_dir / "fleet-run", tmp_path / "compare.json")
    print("verdicts:", report["counts"])
    assert compared.exit_code == 1
    breached = {m["metric"] for m in report["metrics"] if m["verdict"] == "breach"}
    assert "cloud.cloud.aggregates" in breached
    assert "BREACH cloud.cloud.aggregates" in compared.output
