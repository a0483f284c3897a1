"""Parity on a staged Pi, with the shipped ``scenarios/fleet_parity.yaml`` (the same file in
all three worlds): ``xedge stage --hosts 1 --scenario`` runs the scenario against the fleet
(the ``workload`` step) and judges the fleet run against a sweep of its simulation (the
``parity`` step); the passing verdict lands in the manifest and the stage's JUnit report, and
``xedge deploy --require-parity`` then accepts the release. The fleet run also agrees with the
simulation calibrated on it; ``xedge verify --scenario`` drives the kept fleet; the same fleet
with the gateway's window set differently by hand (an inventory's ``host_vars``, a drifted
production config) fails the parity step, naming the metric, and records no parity.

The settings rendered from the scenario are checked on that fleet too (the verification
suite found the scenario's own values on the device).

One fleet for the module: staged and kept by the first test, used by the next ones, drifted
by the last, destroyed at the end. Tests run in file order and depend on it.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from tests.e2e.conftest import xedge
from xedgesim.cli import main
from xedgesim.deploy import commands, manifest, scenario_config, secrets, state
from xedgesim.scenario import load_scenario

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "fleet_parity.yaml"


def timed(what: str, command: Any, args: list[str], store: Path) -> Any:
    started = time.monotonic()
    result = xedge(command, args, store)
    print(f"{what}: {time.monotonic() - started:.1f}s, exit {result.exit_code}")
    return result


def simulate(out: Path, *more: str) -> Path:
    """`xedge simulate` of the scenario: the containers world (a real broker and gateway)."""
    started = time.monotonic()
    result = CliRunner().invoke(main, ["simulate", str(SCENARIO), "--out", str(out), *more])
    print(result.output, f"\nsimulate {' '.join(more)}: {time.monotonic() - started:.1f}s")
    assert result.exit_code == 0
    return out


@pytest.fixture(scope="module")
def staged(images: Any, store: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """`xedge stage --hosts 1 --scenario S --keep`: its run directory and its result."""
    from xedgesim.deploy import fleet

    run_dir = tmp_path_factory.mktemp("parity") / "stage"
    try:
        result = timed("stage --hosts 1 --scenario", commands.stage,
                       ["--hosts", "1", "--scenario", str(SCENARIO), "--keep", "--out",
                        str(run_dir), "--no-progress"], store)
        yield run_dir, result
    finally:
        if (run_dir / state.FILE_NAME).is_file():
            fleet.destroy(state.load(run_dir), say=print)


@pytest.fixture(scope="module")
def calibrated(staged: tuple[Path, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scenario calibrated on the fleet run (`xedge calibrate`), simulated."""
    directory = tmp_path_factory.mktemp("sim")
    run_dir, result = staged
    assert result.exit_code == 0, "the kept fleet was not staged"
    links = directory / "links.yaml"
    fitted = CliRunner().invoke(main, ["calibrate", str(run_dir / "fleet-run"), "--scenario",
                                       str(SCENARIO), "-o", str(links)])
    print(fitted.output)
    assert fitted.exit_code == 0
    return simulate(directory / "run", "--network", str(links))


def compare(a: Path, b: Path, report: Path) -> tuple[Any, dict[str, Any]]:
    result = CliRunner().invoke(main, ["compare", str(a), str(b), "--json", str(report)])
    print(result.output)
    return result, json.loads(report.read_text())


def staged_release(run_dir: Path) -> str:
    """The release the stage run recorded (the commands below name it: this machine's images
    may have been rebuilt by now)."""
    return str(json.loads((run_dir / manifest.FILE_NAME).read_text())["release"])


def stored_manifest(store: Path, run_dir: Path) -> dict[str, Any]:
    return json.loads((store / f"{staged_release(run_dir)}.json").read_text())


def test_stage_with_a_scenario_records_a_passing_parity(staged: tuple[Path, Any],
                                                        store: Path) -> None:
    run_dir, result = staged
    assert result.exit_code == 0, "stage --scenario failed"
    assert "[workload] passed" in result.output and "[parity] passed" in result.output
    fleet_run = run_dir / "fleet-run"
    summary = json.loads((fleet_run / "summary.json").read_text())
    assert summary["mode"] == "fleet" and list(summary["hosts"]) == ["edge-1"]
    assert summary["fleet"]["hosts"]["edge-1"]["sensor_user"] == "sensor"
    assert summary["fleet"]["hosts"]["edge-1"]["broker"].endswith("(TLS)")
    # the verdict: the fleet run lies in the simulated sweep's prediction intervals
    report = json.loads((run_dir / "parity" / "compare.json").read_text())
    print("parity verdicts:", report["counts"])
    assert report["verdict"] == "pass" and report["a"]["sweep"] and report["b"]["mode"] == "fleet"
    assert report["counts"]["breach"] == 0 and report["counts"]["pass"] >= 15
    # the proof travels with the release: the manifest (run copy and store) ...
    document = stored_manifest(store, run_dir)
    assert document == json.loads((run_dir / manifest.FILE_NAME).read_text())
    assert document["scenario"]["sha256"] == manifest.scenario_entry(SCENARIO)["sha256"]
    [record] = document["parity"]
    assert record["verdict"] == "pass" and record["scenario"] == document["scenario"]
    # (paths relative to the run directory, the report's hash and counts: it travels with it)
    assert record["compare_report"] == "parity/compare.json"
    assert record["compare_report_sha256"] == manifest.scenario_entry(
        run_dir / "parity" / "compare.json")["sha256"]
    assert record["counts"] == report["counts"]
    assert record["fleet_run"] == "fleet-run" and record["tolerance"] is None
    # ... and the stage's JUnit report holds one testcase per compared metric
    root = ElementTree.parse(run_dir / "verify" / "junit.xml").getroot()
    [parity] = [s for s in root.iter("testsuite") if s.get("name") == "parity"]
    cases = parity.findall("testcase")
    assert len(cases) == sum(report["counts"].values())
    assert {f"{c.get('classname')}.{c.get('name')}" for c in cases} == \
        {m["metric"] for m in report["metrics"]}
    assert not parity.findall("testcase/failure")
    assert f"JUnit XML:  {run_dir / 'verify' / 'junit.xml'}" in result.output


# the checks of tests/infra/test_config.py that must have run (not skipped) and passed
RENDERED_CHECKS = ("test_gateway_runs_the_fleets_settings", "test_broker_acl_is_the_fleets",
                   "test_gateway_runs_the_scenarios_settings")


def outcomes(junit: Path) -> dict[str, str]:
    """testcase name -> passed | failed | skipped."""
    found = {}
    for case in ElementTree.parse(junit).iter("testcase"):
        kinds = {child.tag for child in case}
        found[case.get("name", "")] = ("failed" if kinds & {"failure", "error"} else
                                       "skipped" if "skipped" in kinds else "passed")
    return found


def test_stage_renders_and_verifies_the_scenarios_settings(staged: tuple[Path, Any]) -> None:
    """The services' settings are rendered from the scenario, converged, and the verification
    suite finds the scenario's own values on the device (the gateway's window, topics and QoS;
    the broker's ACL); the scenario's sensors and cloud have logins of their own."""
    run_dir, result = staged
    plan = scenario_config.plan(load_scenario(SCENARIO), ["edge-1"])
    site = plan.site("edge-1")
    assert ("edge-1: broker broker, gateway gw1 subscribes site/+/temp (qos 1), every 5s -> "
            "agg/gw1") in result.output
    for step in ("[converge] passed", "[idempotence] passed", "[verify] passed"):
        assert step in result.output

    # the overlay the playbooks and the suite read holds what the scenario renders
    recorded = state.load(run_dir)
    overlay = run_dir / "scenario" / "fleet-vars.yml"
    assert str(overlay) in recorded.overlays
    assert yaml.safe_load(overlay.read_text()) == plan.overlay()
    assert site.role_vars["xedgesim_gateway_window_s"] == 5  # the scenario's, not the 10 s default

    # the suite checked the device against them, and none of those checks was skipped
    junit = run_dir / (recorded.results.get("verify") or {}).get("junit", "verify/junit.xml")
    found = outcomes(junit)
    for check in RENDERED_CHECKS:
        ran = {name: outcome for name, outcome in found.items() if name.startswith(check)}
        assert ran and set(ran.values()) == {"passed"}, f"{check}: {ran}"

    # the scenario's sensors and cloud have their own logins, stored like the others
    users = {user.name: user for user in secrets.load_users(Path(recorded.secrets or ""))}
    assert {plan.sensor_user, plan.cloud_user} <= set(users)
    for user in users.values():
        assert user.password not in result.output, f"the password of {user.name} was printed"
        assert user.password not in overlay.read_text(), f"{user.name}'s password in overlay"


def test_the_fleet_run_agrees_with_the_simulation_calibrated_on_it(
        staged: tuple[Path, Any], calibrated: Path, tmp_path: Path) -> None:
    run_dir, _ = staged
    compared, report = compare(calibrated, run_dir / "fleet-run", tmp_path / "compare.json")
    print("calibrated verdicts:", report["counts"])
    assert compared.exit_code == 0, "the fleet run does not agree with the calibrated simulation"
    assert report["counts"]["pass"] >= 15 and report["b"]["mode"] == "fleet"


def test_verify_runs_the_scenario_against_the_kept_fleet(staged: tuple[Path, Any], store: Path,
                                                         tmp_path: Path) -> None:
    run_dir, result = staged
    assert result.exit_code == 0, "the kept fleet was not staged"
    out = tmp_path / "verify"
    verified = timed("verify --scenario --duration 20s", commands.verify,
                     ["--inventory", str(run_dir / "inventory" / "hosts.yml"),
                      "--release", staged_release(run_dir), "--scenario",
                      str(SCENARIO), "--duration", "20s", "--no-restart-broker",
                      "--out", str(out)], store)
    assert verified.exit_code == 0
    summary = json.loads((out / "fleet-run" / "summary.json").read_text())
    assert summary["mode"] == "fleet" and summary["duration_s"] == 20
    assert summary["flows"]["sensors->broker"]["delivered"] >= 300
    assert summary["end_to_end_ms"]["cloud"]["count"] >= 2


def test_deploy_requires_the_recorded_parity(staged: tuple[Path, Any], store: Path,
                                             tmp_path: Path) -> None:
    run_dir, result = staged
    assert result.exit_code == 0, "the kept fleet was not staged"
    inventory = str(run_dir / "inventory" / "hosts.yml")
    release_id = staged_release(run_dir)  # not this machine's images: they may be rebuilt since
    edited = tmp_path / "fleet_parity.yaml"  # one line more: other bytes, no proof
    edited.write_text(SCENARIO.read_text() + "# edited\n")
    refused = timed("deploy --require-parity (edited scenario)", commands.deploy,
                    ["--inventory", inventory, "--release", release_id, "--scenario",
                     str(edited), "--require-parity", "--out", str(tmp_path / "refused"),
                     "--no-progress"], store)
    assert refused.exit_code == 2
    assert "has no passing parity for the scenario" in refused.output
    assert not (tmp_path / "refused").exists()
    deployed = timed("deploy --scenario --require-parity", commands.deploy,
                     ["--inventory", inventory, "--release", release_id, "--scenario",
                      str(SCENARIO), "--require-parity", "--no-verify", "--out",
                      str(tmp_path / "deploy"), "--no-progress"], store)
    assert deployed.exit_code == 0
    assert f"deployed {release_id}" in deployed.output


def test_a_drifted_gateway_window_fails_parity_and_names_the_metric(
        staged: tuple[Path, Any], store: Path) -> None:
    run_dir, result = staged
    assert result.exit_code == 0, "the kept fleet was not staged"
    before = stored_manifest(store, run_dir)
    window = int(yaml.safe_load((run_dir / "scenario" / "fleet-vars.yml").read_text())
                 ["edge"]["hosts"]["edge-1"]["xedgesim_gateway_window_s"])
    drifted = 2 if window != 2 else 3
    host_vars = run_dir / "inventory" / "host_vars"
    host_vars.mkdir(exist_ok=True)
    (host_vars / "edge-1.yml").write_text(
        f"# changed by hand on the device's inventory: the drift parity must catch\n"
        f"xedgesim_gateway_window_s: {drifted}\n")
    again = timed("converge + workload + parity with the drift", commands.stage,
                  ["--out", str(run_dir), "--step", "converge", "--step", "workload",
                   "--step", "parity", "--no-progress"], store)
    assert again.exit_code == 1
    assert "[parity] FAILED" in again.output and "BREACH cloud.cloud.aggregates" in again.output
    summary = json.loads((run_dir / "fleet-run" / "summary.json").read_text())
    assert summary["fleet"]["hosts"]["edge-1"]["gateways"]["gw1"]["window"] == f"{drifted}s"
    report = json.loads((run_dir / "parity" / "compare.json").read_text())
    print("drifted verdicts:", report["counts"])
    breached = {m["metric"] for m in report["metrics"] if m["verdict"] == "breach"}
    assert report["verdict"] == "breach" and "cloud.cloud.aggregates" in breached
    root = ElementTree.parse(run_dir / "verify" / "junit.xml").getroot()
    [parity] = [s for s in root.iter("testsuite") if s.get("name") == "parity"]
    failed = {c.get("name") for c in parity.findall("testcase") if c.find("failure") is not None}
    assert "aggregates" in failed
    assert stored_manifest(store, run_dir)["parity"] == before["parity"]  # no breach recorded
