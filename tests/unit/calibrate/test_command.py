"""``xedge calibrate`` end to end: the closed loop on a simulated run, and bad input.

The loop of issue 10: simulate a scenario whose links are known, with records -> calibrate ->
simulate with the overlay -> ``compare`` against the source run passes. The calibrated side is
several seeds (compare's sweep: a single seed says little about a tail, docs/parity.md), and a
deliberately wrong overlay shows the comparison would catch a bad calibration.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from xedgesim.cli import main
from xedgesim.scenario import load_scenario

MS = 1_000_000
SCENARIO = """\
name: known-links
seed: 1
duration: 10s
network:
  default: {latency: 5ms, jitter: {exponential: 2ms}, loss: 0.01}
  links:
    - {between: [sensors, broker], latency: 3ms, jitter: {exponential: 1500us}, loss: 0.02}
    - {between: [gw1, cloud], latency: 20ms, jitter: {exponential: 4ms}, loss: 0,
       bandwidth: 1Mbit}
nodes:
  - {id: sensors, type: sensor, count: 10, interval: 50ms, to: broker,
     topic: "site/{id}/temp", qos: 1}
  - {id: broker, type: broker}
  - {id: gw1, type: gateway, subscribe: {broker: broker, topics: ["site/+/temp"], qos: 1},
     aggregate_every: 200ms, to: cloud, topic: "agg/{id}"}
  - {id: cloud, type: cloud}
"""
# (latency, exponential jitter mean, loss) of each link, as the scenario above sets them.
TRUE = {("sensors", "broker"): (3 * MS, 1.5 * MS, 0.02),
        ("broker", "gw1"): (5 * MS, 2 * MS, 0.01),
        ("gw1", "cloud"): (20 * MS, 4 * MS, 0.0)}


def xedge(*args: object):
    return CliRunner().invoke(main, [str(arg) for arg in args])


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated run of the scenario with records: the run to calibrate from."""
    root = tmp_path_factory.mktemp("calibrate")
    (root / "known.yaml").write_text(SCENARIO)
    result = xedge("simulate", root / "known.yaml", "--records", "--out", root / "source", "-q")
    assert result.exit_code == 0, result.output
    return root


def calibrated(root: Path) -> dict:
    result = xedge("calibrate", root / "source", "--scenario", root / "known.yaml",
                   "-o", root / "links.yaml", "--json", root / "fit.json")
    assert result.exit_code == 0, result.output
    assert "3 of 3 links fitted" in result.output
    return json.loads((root / "fit.json").read_text())


def test_calibration_recovers_the_links_the_run_was_simulated_with(source: Path) -> None:
    report = calibrated(source)
    overlay = yaml.safe_load((source / "links.yaml").read_text())
    written = {tuple(link["between"]): link for link in overlay["network"]["links"]}
    assert set(written) == set(TRUE)
    for link in report["links"]:
        latency, scale, loss = TRUE[tuple(link["link"])]
        delay = link["delay"]
        chosen = delay["candidates"][0]
        assert delay["chosen"] == "shifted_exponential" and chosen["ks_p"] > 0.01, delay
        n = chosen["n"]
        # Within four standard errors: the scale's is scale/√n, the location's scale/n.
        assert abs(chosen["params_ns"]["scale"] - scale) < 4 * scale / math.sqrt(n), link
        assert abs(delay["latency_ns"] - latency) < 4 * scale / n + 1, link
        low, high = link["loss"]["wilson_95"]
        assert low <= loss <= high, link
    # gw1-cloud's aggregates (128 B, a gateway's default payload) spend 128 × 8 / 1 Mbit/s =
    # 1.024 ms on the wire, which the kept bandwidth adds again: not in the fitted latency.
    (cloud,) = [link for link in report["links"] if link["link"] == ["gw1", "cloud"]]
    assert cloud["flows"][0]["serialisation_ns"] == 1_024_000
    # 50 aggregates cannot tell a loss of 0 from one of a few per cent: not written, so the
    # scenario's loss stays; its latency and jitter are.
    assert cloud["loss"]["trials"] < 100 and set(written[("gw1", "cloud")]) == \
        {"between", "latency", "jitter"}


def test_the_overlay_reads_back_as_exactly_what_was_fitted(source: Path) -> None:
    report = calibrated(source)
    scenario = load_scenario(source / "known.yaml", source / "links.yaml")
    specs = {frozenset((link.a, link.b)): link.spec for link in scenario.network.links}
    for link in report["links"]:
        spec = specs[frozenset(link["link"])]
        assert spec.latency_ns == link["delay"]["latency_ns"]
        assert spec.jitter.kind == "exponential"
        assert spec.jitter.params[0] == round(link["delay"]["candidates"][0]["params_ns"]["scale"])
        if "loss" in link["written"]:
            assert spec.loss == pytest.approx(link["loss"]["p"], rel=1e-5)
    assert specs[frozenset(("gw1", "cloud"))].bandwidth_bps == 1e6  # kept from the scenario


def simulate_seeds(root: Path, overlay: Path, name: str, seeds: range) -> Path:
    """One run per seed under ``root/name``: a sweep as ``compare`` reads one."""
    for seed in seeds:
        result = xedge("simulate", root / "known.yaml", "--network", overlay, "--seed", seed,
                       "--out", root / name / f"seed-{seed}", "-q")
        assert result.exit_code == 0, result.output
    return root / name


@pytest.mark.slow
def test_the_loop_closes_simulating_the_calibrated_links_agrees_with_the_source(
        source: Path) -> None:
    calibrated(source)
    sweep = simulate_seeds(source, source / "links.yaml", "calibrated", range(2, 8))
    summary = json.loads((sweep / "seed-2" / "summary.json").read_text())
    assert summary["network_overlay"]["path"] == str(source / "links.yaml")
    result = xedge("compare", sweep, source / "source", "--json", source / "verdict.json")
    assert result.exit_code == 0, result.output
    verdict = json.loads((source / "verdict.json").read_text())
    assert verdict["verdict"] == "pass" and verdict["counts"]["breach"] == 0
    # The same seed as the source draws the same random numbers: a single run agrees too.
    single = simulate_seeds(source, source / "links.yaml", "same-seed", range(1, 2))
    result = xedge("compare", source / "source", single / "seed-1")
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_a_wrong_calibration_is_caught_by_the_same_comparison(source: Path) -> None:
    # sensors-broker twice as slow as measured: compare must name that flow's latency.
    wrong = source / "wrong.yaml"
    wrong.write_text("network:\n  links:\n"
                     "    - {between: [sensors, broker], latency: 6ms}\n")
    sweep = simulate_seeds(source, wrong, "wrong", range(2, 5))
    result = xedge("compare", sweep, source / "source", "-q")
    assert result.exit_code == 1, result.output
    assert "BREACH flows.sensors->broker.latency_ms.p50" in result.output


def test_bad_records_are_a_located_error_and_nothing_is_written(tmp_path: Path,
                                                                source: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_bytes((source / "source" / "summary.json").read_bytes())
    lines = (source / "source" / "records.csv").read_text().splitlines()
    lines[3] = lines[3].replace(",delivered,", ",arrived,")
    (run / "records.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "links.yaml"
    result = xedge("calibrate", run, "--scenario", source / "known.yaml", "-o", out)
    assert result.exit_code == 2
    assert f"error: {run / 'records.csv'}:4:" in result.output
    assert "'status' must be delivered, lost or in_flight, found 'arrived'" in result.output
    assert not out.exists() and "Traceback" not in result.output


@pytest.mark.parametrize("case", ["no records", "no run", "out is a directory", "out is input",
                                  "bad scenario", "scheduled link"])
def test_bad_input_exits_2_with_one_message(tmp_path: Path, source: Path, case: str) -> None:
    run, scenario, out = source / "source", source / "known.yaml", tmp_path / "links.yaml"
    expected = {"no records": "records.csv: no such file; calibration needs per-message records",
                "no run": "no such run directory",
                "out is a directory": "is a directory; give a file name",
                "out is input": "that is an input",
                "bad scenario": "bad.yaml:1:1:",
                "scheduled link": "the link sensors–broker changes over time (a schedule or "
                                  "trace); calibration fits one latency"}[case]
    if case == "no records":
        run = tmp_path / "bare"
        run.mkdir()
        (run / "summary.json").write_bytes((source / "source" / "summary.json").read_bytes())
    elif case == "no run":
        run = tmp_path / "nothing"
    elif case == "out is a directory":
        out = tmp_path
    elif case == "out is input":
        out = run / "records.csv"
    elif case == "scheduled link":
        scenario = tmp_path / "scheduled.yaml"
        scenario.write_text(SCENARIO.replace("loss: 0.02}", "loss: 0.02,\n"
                                             "       schedule: [{at: 5s, latency: 9ms}]}"))
        expected = f"{scenario}:8:18: {expected}"
    else:
        scenario = tmp_path / "bad.yaml"
        scenario.write_text("[1, 2]\n")
    before = (source / "source" / "records.csv").read_bytes()
    result = xedge("calibrate", run, "--scenario", scenario, "-o", out)
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output
    assert (source / "source" / "records.csv").read_bytes() == before
    assert out == tmp_path or not out.exists() or case == "out is input"
