"""The ``xedge`` command line: exit codes, messages, and what lands on disk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from xedgesim.cli import main

SMALL = """\
name: small
seed: 3
duration: 5s
network:
  default: {latency: 5ms, jitter: {exponential: 1ms}, loss: 0.05}
nodes:
  - {id: sensors, type: sensor, count: 20, interval: 500ms, to: gw}
  - {id: gw, type: gateway, aggregate_every: 1s, to: cloud}
  - {id: cloud, type: cloud}
"""

BROKEN = """\
name: broken
duration: 5s
network:
  default: {latncy: 5ms, loss: 1.5}
nodes:
  - {id: sensors, type: sensor, interval: 5, to: gw9}
  - {id: sensors, type: cloud}
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_validate_ok(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(write(tmp_path, SMALL))])
    assert result.exit_code == 0, result.output
    assert "ok (3 nodes, 22 instances, 5s)" in result.output


def test_validate_reports_every_problem_with_location_and_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith(str(path))]
    assert len(lines) >= 5, result.output  # latncy, loss, unit, unknown gw9, duplicate id
    assert f"{path}:4:" in result.output
    assert "did you mean 'latency'" in result.output
    assert "Traceback" not in result.output


def test_simulate_with_bad_scenario_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["simulate", str(write(tmp_path, BROKEN)), "--out", str(out)])
    assert result.exit_code == 2
    assert "nothing was run" in result.output
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_simulate_writes_run_directory_and_table(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main, ["simulate", str(write(tmp_path, SMALL)), "--out", str(out), "--records"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "nodes.csv", "records.csv", "summary.json", "timing.json"]
    summary = json.loads((out / "summary.json").read_text())
    flow = summary["flows"]["sensors->gw"]
    assert flow["sent"] == 20 * 10
    assert flow["sent"] == flow["delivered"] + sum(flow["lost"].values()) + flow["in_flight"]
    assert "sensors->gw" in result.output and "events in" in result.output
    records = (out / "records.csv").read_text().splitlines()
    delivered = sum(f["delivered"] for f in summary["flows"].values())
    lost = summary["messages"]["lost_random"] + summary["messages"]["lost_to_faults"]
    assert len(records) - 1 == delivered + lost
    nodes = (out / "nodes.csv").read_text().splitlines()
    assert len(nodes) == 1 + 22
    assert nodes[0].startswith("node,group,type,")


def test_default_out_is_runs_name_seed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, SMALL)
    result = CliRunner().invoke(main, ["simulate", str(path), "--quiet", "--seed", "9"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "runs/small-9/summary.json").read_text())["seed"] == 9


def test_refuses_to_replace_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    result = CliRunner().invoke(main, ["simulate", str(write(tmp_path, SMALL)), "--out", str(out)])
    assert result.exit_code == 2
    assert "not from a run" in result.output
    assert (out / "thesis.tex").read_text() == "years of work"


def test_rerun_replaces_an_earlier_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    path = write(tmp_path, SMALL)
    for _ in range(2):
        result = CliRunner().invoke(main, ["simulate", str(path), "--out", str(out), "-q"])
        assert result.exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "s.yaml"]


def test_seeds_sweep_reports_confidence_intervals(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    result = CliRunner().invoke(
        main, ["simulate", str(write(tmp_path, SMALL)), "--seeds", "1..4", "--jobs", "2",
               "--out", str(out)])
    assert result.exit_code == 0, result.output
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["seeds"] == [1, 2, 3, 4]
    delivered = sweep["metrics"]["messages.delivered"]
    assert delivered["n"] == 4 and delivered["ci95"] > 0
    assert sorted(p.name for p in out.iterdir()) == [
        "seed-1", "seed-2", "seed-3", "seed-4", "sweep.json"]
    assert "±" in result.output


def test_bad_seed_spec_is_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["simulate", str(write(tmp_path, SMALL)), "--seeds", "5..1"])
    assert result.exit_code == 2
    assert "low..high" in result.output


def test_real_entry_point_prints_no_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN)
    done = subprocess.run([sys.executable, "-m", "xedgesim", "simulate", str(path)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"{path}:" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_missing_file_is_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "nope.yaml" in result.output


def test_pure_simulation_does_not_import_docker_or_ansible(tmp_path: Path) -> None:
    path = write(tmp_path, SMALL)
    code = (
        "import sys\n"
        "from xedgesim.cli import main\n"
        f"try:\n    main(['simulate', {str(path)!r}, '--out', {str(tmp_path / 'r')!r}, '-q'])\n"
        "except SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('docker', 'ansible_runner', 'paho', 'simpy')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr
