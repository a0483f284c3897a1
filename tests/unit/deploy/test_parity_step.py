"""The stage's ``parity`` step, with no fleet: its "fleet run" is a real ``xedge simulate`` run
directory, and the stage's scenario a pure-Python one, so the step's own sweep and comparison
run for real in virtual time. What it leaves (report, JUnit in the verify report, the record
for the manifest) and what a breach does (the step fails naming the metric, nothing passing
is recorded)."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from click.testing import CliRunner

from xedgesim.cli import main
from xedgesim.deploy import manifest, stage
from xedgesim.deploy.release import ImageRef, Release
from xedgesim.deploy.state import StageState, StepRecord
from xedgesim.deploy.steps import StageContext, parity
from xedgesim.scenario import load_scenario

RELEASE = Release((ImageRef("broker", "amd64", "xedgesim/broker:0.1.0-amd64", "sha256:" + "a" * 64),
                   ImageRef("gateway", "amd64", "xedgesim/gateway:0.1.0-amd64",
                            "sha256:" + "b" * 64)))
SCENARIO = """\
name: parity-unit
seed: 3
duration: 20s
network:
  default: {latency: 2ms, jitter: {exponential: 1ms}, loss: 0}
nodes:
  - {id: sensors, type: sensor, count: 10, interval: 1s, to: broker, topic: "s/{id}", qos: 1}
  - {id: broker, type: broker}
  - {id: gw1, type: gateway, subscribe: {broker: broker, topics: ["s/+"], qos: 1},
     aggregate_every: WINDOW, to: cloud, topic: "agg/{id}"}
  - {id: cloud, type: cloud}
"""
VERIFY_JUNIT = ('<?xml version="1.0"?><testsuites><testsuite name="verify" tests="1" '
                'failures="0" errors="0" skipped="0"><testcase classname="test_x" '
                'name="test_a[ansible://edge-1]"/></testsuite></testsuites>')


def scenario_file(directory: Path, window: str = "5s") -> Path:
    path = directory / f"parity-{window}.yaml"
    path.write_text(SCENARIO.replace("WINDOW", window))
    return path


def fleet_run(run_dir: Path, scenario: Path, seed: int) -> Path:
    """A run directory standing in for the workload step's fleet run."""
    out = run_dir / "fleet-run"
    result = CliRunner().invoke(main, ["simulate", str(scenario), "--seed", str(seed),
                                       "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


def context(tmp_path: Path, scenario: Path | None, *, workload: bool = True,
            tolerance: Path | None = None) -> StageContext:
    run_dir = tmp_path / "stage"
    (run_dir / "verify").mkdir(parents=True)
    (run_dir / "verify" / "junit.xml").write_text(VERIFY_JUNIT)
    run_state = StageState(run_dir=str(run_dir), run_id="t", hosts=1, arch="amd64",
                           local_fleet=True, release=RELEASE.to_dict()["images"],
                           scenario=str(scenario) if scenario else None,
                           tolerance=str(tolerance) if tolerance else None, parity_seeds=3)
    if workload:
        run_state.steps["workload"] = StepRecord("passed", time.time(), 1.0)
        run_state.results["workload"] = {"run": "fleet-run"}
    return StageContext(run_state, tmp_path, say=lambda line: None)


def parity_suites(run_dir: Path) -> list[ElementTree.Element]:
    root = ElementTree.parse(run_dir / "verify" / "junit.xml").getroot()
    return [s for s in root.iter("testsuite") if s.get("name") == parity.SUITE_NAME]


def test_a_fleet_run_within_the_simulation_passes_and_leaves_its_proof(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    scenario = scenario_file(tmp_path)
    ctx = context(tmp_path, scenario)
    ctx.state.as_written["scenario"] = scenario.name  # `--scenario parity-5s.yaml`
    fleet_run(ctx.run_dir, scenario, seed=99)  # a seed the sweep (3, 4, 5) does not have
    outcome = parity.execute(ctx)
    assert outcome.passed, outcome.summary
    assert "0 breach" in outcome.summary and "against 3 simulated seeds" in outcome.summary
    results = ctx.state.results["parity"]
    assert results["verdict"] == "pass" and results["seeds"] == [3, 4, 5]
    report = json.loads((ctx.run_dir / "parity" / "compare.json").read_text())
    assert report["a"]["sweep"] and report["a"]["seeds"] == [3, 4, 5]
    assert report["counts"] == results["counts"] and report["counts"]["breach"] == 0
    assert sorted(p.name for p in (ctx.run_dir / "parity" / "simulation").iterdir()
                  if not p.name.startswith(".")) == \
        ["seed-3", "seed-4", "seed-5", "sweep.json"]
    # the record the manifest gets: this scenario's bytes, as the user named it; this report
    # (its hash and counts) and the runs, relative to the run directory; default tolerances
    [record] = stage.parity_of(ctx.state)
    assert record.passed and record.tolerance_sha256 is None
    assert record.scenario_sha256 == manifest.scenario_entry(scenario)["sha256"]
    assert record.scenario_path == "parity-5s.yaml"
    assert (record.fleet_run, record.compare_report, record.simulation_run) == (
        "fleet-run", "parity/compare.json", "parity/simulation")
    assert record.compare_report_sha256 == manifest.scenario_entry(
        ctx.run_dir / "parity" / "compare.json")["sha256"]
    assert record.counts == report["counts"]
    document = manifest.build(RELEASE, manifest.Verification(True, 1, 0, 0, 0, "verify/j.xml"),
                              stage={}, scenario=scenario, parity=stage.parity_of(ctx.state))
    assert document["parity"] == [record.as_dict()]
    # the verify report gained one testcase per metric, beside its own
    [suite] = parity_suites(ctx.run_dir)
    assert len(suite.findall("testcase")) == sum(report["counts"].values())
    root = ElementTree.parse(ctx.run_dir / "verify" / "junit.xml").getroot()
    assert root.find("testsuite[@name='verify']/testcase") is not None
    assert (ctx.run_dir / "parity" / "junit.xml").is_file()


def test_judged_again_the_step_starts_over_and_keeps_one_parity_suite(tmp_path: Path) -> None:
    scenario = scenario_file(tmp_path)
    ctx = context(tmp_path, scenario)
    fleet_run(ctx.run_dir, scenario, seed=99)
    assert parity.execute(ctx).passed
    stray = ctx.run_dir / "parity" / "stray"
    stray.mkdir()
    assert parity.execute(ctx).passed
    assert not stray.exists() and len(parity_suites(ctx.run_dir)) == 1
    assert len(ctx.state.results["parity"]["records"]) == 1


def test_a_drifted_window_breaches_names_the_metric_and_records_no_pass(tmp_path: Path) -> None:
    scenario = scenario_file(tmp_path)
    ctx = context(tmp_path, scenario)
    fleet_run(ctx.run_dir, scenario_file(tmp_path, "2s"), seed=3)  # what the devices ran
    outcome = parity.execute(ctx)
    assert not outcome.passed
    assert "PARITY BREACHED" in outcome.summary
    assert "\n  BREACH cloud.cloud.aggregates: " in outcome.summary
    assert "cloud.cloud.aggregates" in ctx.state.results["parity"]["breaches"]
    assert ctx.state.results["parity"]["verdict"] == "breach"
    assert stage.parity_of(ctx.state) == []  # the manifest gets no passing parity
    [suite] = parity_suites(ctx.run_dir)
    failed = {c.get("name") for c in suite.findall("testcase") if c.find("failure") is not None}
    assert "aggregates" in failed and suite.get("failures") == str(len(failed))


def test_the_tolerance_file_decides_and_is_hashed_into_the_record(tmp_path: Path) -> None:
    scenario = scenario_file(tmp_path)
    tolerance = tmp_path / "parity.yaml"
    tolerance.write_text('metrics:\n  "cloud.*": {ignore: true}\n  "flows.gw1->cloud.*": '
                         '{ignore: true}\n')
    ctx = context(tmp_path, scenario, tolerance=tolerance)
    fleet_run(ctx.run_dir, scenario_file(tmp_path, "2s"), seed=3)
    outcome = parity.execute(ctx)
    assert outcome.passed, outcome.summary  # what breached above is ignored here
    [record] = stage.parity_of(ctx.state)
    assert record.tolerance_sha256 == manifest.scenario_entry(tolerance)["sha256"]
    assert record.tolerance_path == str(tolerance)  # as the state has it: none written
    # written relative, but run from another directory now: the state's absolute path
    assert parity.as_written(tolerance, "parity.yaml") == tolerance
    assert parity.as_written(tolerance, str(tolerance)) == tolerance


def test_without_a_fleet_run_there_is_no_verdict(tmp_path: Path) -> None:
    ctx = context(tmp_path, scenario_file(tmp_path), workload=False)
    outcome = parity.execute(ctx)
    assert not outcome.passed and "the workload step has not passed" in outcome.summary
    assert "parity" not in ctx.state.results
    skipped = parity.execute(context(tmp_path / "none", None))
    assert skipped.passed and skipped.skipped


def test_the_simulation_runs_the_release_being_staged(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parity.platform, "machine", lambda: "x86_64")
    scenario = load_scenario(Path(__file__).resolve().parents[3] / "scenarios"
                             / "fleet_parity.yaml")
    images = {node.id: node.image for node in parity.with_release_images(scenario,
                                                                         RELEASE).nodes}
    assert images == {"sensors": None, "broker": "sha256:" + "a" * 64,  # by id, not by tag
                      "gw1": "sha256:" + "b" * 64, "cloud": None}
    monkeypatch.setattr(parity.platform, "machine", lambda: "riscv64")
    kept = parity.with_release_images(scenario, RELEASE)
    assert [n.image for n in kept.nodes] == [n.image for n in scenario.nodes]


def test_a_bad_tolerance_file_is_refused_before_anything_is_staged(tmp_path: Path) -> None:
    from xedgesim.errors import XedgeError

    tolerance = tmp_path / "parity.yaml"
    tolerance.write_text("metrics:\n  \"flows.*\": {relatve: 0.2}\n")
    out = tmp_path / "stage"
    options = stage.StageOptions(hosts=1, out=out, store=tmp_path / "store",
                                 scenario=Path(__file__).resolve().parents[3] / "scenarios"
                                 / "fleet_parity.yaml", tolerance=tolerance)
    with pytest.raises(XedgeError) as refused:
        stage.stage(options, say=lambda line: None)
    assert refused.value.exit_code == 2 and "parity.yaml:2:" in str(refused.value)
    assert not out.exists()
