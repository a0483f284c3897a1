"""``xedge compare`` end to end: exit codes, messages, reports, and runs of the real simulator."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.processes import default_sigint
from xedgesim import atomic
from xedgesim.cli import main
from xedgesim.compare import command
from xedgesim.interrupts import Interrupted

from .helpers import flow, summary, write_run

ROOT = Path(__file__).resolve().parents[3]


def xedge(*args: object):
    return CliRunner().invoke(main, [str(arg) for arg in args])


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Two runs that agree, and one whose sensors lost 30 % of their messages."""
    a = write_run(tmp_path / "a", summary(windows={"gw": 10}))
    b = write_run(tmp_path / "b", summary(seed=2, windows={"gw": 10}))
    lossy = summary({"sensors->gw": flow(6000, 4200, lost={"random": 1800}),
                     "gw->cloud": flow(6, latency=(20.0, 22.0, 23.0))}, windows={"gw": 10})
    return a, b, write_run(tmp_path / "lossy", lossy)


def test_runs_that_agree_exit_0(pair) -> None:
    a, b, _ = pair
    result = xedge("compare", a, b)
    assert result.exit_code == 0, result.output
    assert "window: 10s (from the runs' summary.json)" in result.output
    assert result.output.splitlines()[-1] == \
        "26 metrics: 26 pass, 0 breach, 0 skipped; the runs agree"


def test_a_breach_exits_1_names_the_metric_and_still_writes_both_reports(
        pair, tmp_path: Path) -> None:
    a, _, lossy = pair
    result = xedge("compare", a, lossy, "--junit", tmp_path / "out" / "c.xml",
                   "--json", tmp_path / "out" / "c.json")
    assert result.exit_code == 1, result.output
    assert "BREACH flows.sensors->gw.loss_ratio.random: B - A = +0.3 " in result.output
    suite = ET.parse(tmp_path / "out" / "c.xml").getroot().find("testsuite")
    assert suite is not None and int(suite.get("failures", "")) >= 2
    report = json.loads((tmp_path / "out" / "c.json").read_text())
    assert report["verdict"] == "breach"


def test_quiet_prints_only_the_breaches_and_the_verdict(pair) -> None:
    a, _, lossy = pair
    lines = xedge("compare", a, lossy, "--quiet").output.splitlines()
    assert all(line.startswith("BREACH ") for line in lines[:-1]) and len(lines) >= 3
    assert lines[-1].endswith("the runs DIFFER")


@pytest.mark.parametrize(("args", "message"), [
    (["{a}", "{tmp}/missing"], "error: {tmp}/missing: no such run directory"),
    (["{a}", "{b}", "--tolerance", "{tmp}/t.yaml"],
     "error: {tmp}/t.yaml:2:9: unknown key 'absolut' in the rule for 'x'"),
    (["{a}", "{b}", "--json", "{a}/summary.json"], "that is an input of the comparison"),
    (["{a}", "{b}", "--window", "10"], "Invalid value for '--window': a duration needs a unit"),
    (["{a}", "{b}", "--window", "0s"], "Invalid value for '--window': must be longer than 0"),
])
def test_bad_input_exits_2_with_a_message_and_writes_nothing(
        pair, tmp_path: Path, args: list[str], message: str) -> None:
    a, b, _ = pair
    (tmp_path / "t.yaml").write_text('metrics:\n  "x": {absolut: 1}\n')
    before = (a / "summary.json").read_bytes()
    fill = {"a": a, "b": b, "tmp": tmp_path}
    result = xedge("compare", *[arg.format(**fill) for arg in args],
                   "--junit", tmp_path / "c.xml")
    assert result.exit_code == 2
    assert message.format(**fill) in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "c.xml").exists()
    assert (a / "summary.json").read_bytes() == before


def test_an_unused_pattern_is_noted(pair, tmp_path: Path) -> None:
    a, b, _ = pair
    (tmp_path / "t.yaml").write_text('metrics:\n  "flows.typo.*": {absolute: 1}\n')
    result = xedge("compare", a, b, "--tolerance", tmp_path / "t.yaml")
    assert result.exit_code == 0
    assert f"{tmp_path / 't.yaml'}:2:3: note: 'flows.typo.*' matches no metric" in result.stderr
    assert f"tolerances: {tmp_path / 't.yaml'}, then the defaults" in result.stdout


def test_compare_is_listed_and_loads_no_docker_or_ansible_code() -> None:
    assert "compare" in xedge("--help").output
    code = ("import sys; from xedgesim.cli import main; "
            "assert 'xedgesim.compare' not in sys.modules; "
            "from xedgesim.compare.command import compare; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('docker', 'ansible_runner')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def simulate(tmp_path: Path, scenario: Path, out: str, *options: str) -> Path:
    result = xedge("simulate", scenario, "--out", tmp_path / out, "--quiet", *options)
    assert result.exit_code == 0, result.output
    return tmp_path / out


def test_two_seeds_of_the_quickstart_agree(tmp_path: Path) -> None:
    quickstart = ROOT / "scenarios" / "quickstart.yaml"
    one = simulate(tmp_path, quickstart, "seed-1", "--seed", "1")
    other = simulate(tmp_path, quickstart, "seed-42", "--seed", "42")
    result = xedge("compare", one, other, "--window", "10s")
    assert result.exit_code == 0, result.output


def test_the_quickstart_and_a_lossier_copy_differ(tmp_path: Path) -> None:
    quickstart = ROOT / "scenarios" / "quickstart.yaml"
    text = quickstart.read_text()
    assert "loss: 0.01}" in text
    lossy = tmp_path / "lossy.yaml"
    lossy.write_text(text.replace("loss: 0.01}", "loss: 0.3}"))
    base = simulate(tmp_path, quickstart, "base")
    changed = simulate(tmp_path, lossy, "lossy")
    result = xedge("compare", base, changed, "--window", "10s")
    assert result.exit_code == 1, result.output
    assert "BREACH flows.sensors->broker.delivery_ratio" in result.output \
        or "BREACH flows.broker->gw1.loss_ratio.random" in result.output, result.output


def test_a_run_lies_in_its_own_sweeps_prediction_interval(tmp_path: Path) -> None:
    quickstart = ROOT / "scenarios" / "quickstart.yaml"
    sweep = simulate(tmp_path, quickstart, "sweep", "--seeds", "1..3", "--jobs", "1")
    run = simulate(tmp_path, quickstart, "run", "--seed", "42")
    result = xedge("compare", sweep, run, "--window", "10s")
    assert result.exit_code == 0, result.output
    assert "sweep of 3 runs" in result.output


def test_a_signal_between_the_reports_keeps_the_whole_one_and_says_so(
        pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(comparison):
        raise Interrupted(signal.SIGTERM)

    a, b, _ = pair
    monkeypatch.setattr(command, "json_bytes", interrupted)
    result = xedge("compare", a, b, "--junit", tmp_path / "c.xml", "--json", tmp_path / "c.json")
    assert result.exit_code == 143
    assert f"interrupted (SIGTERM): {tmp_path / 'c.xml'} written whole, nothing else" \
        in result.stderr
    ET.parse(tmp_path / "c.xml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c.xml", "lossy"]


def test_a_signal_while_a_report_is_written_leaves_no_part_of_it(
        pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(source, target):
        raise Interrupted(signal.SIGINT)

    a, b, _ = pair
    monkeypatch.setattr(atomic.os, "replace", interrupted)
    result = xedge("compare", a, b, "--json", tmp_path / "out" / "c.json")
    assert result.exit_code == 130
    assert "interrupted (SIGINT): no report was written" in result.stderr
    assert list((tmp_path / "out").iterdir()) == []


SLOW_COMPARE = """
import pathlib, sys, time
import xedgesim.compare.command as command
def slow(*args, **kwargs):
    pathlib.Path(sys.argv[1]).touch()
    time.sleep(60)
command.judge = slow
from xedgesim.cli import main
main(["compare", *sys.argv[2:]])
"""


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_real_signal_stops_compare_promptly(pair, tmp_path: Path, signum: int,
                                              code: int) -> None:
    a, b, _ = pair
    ready = tmp_path / "ready"
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW_COMPARE, str(ready), str(a), str(b), "--json",
         str(tmp_path / "c.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert child.poll() is None and time.monotonic() < deadline, child.communicate()
            time.sleep(0.05)
        child.send_signal(signum)
        _, stderr = child.communicate(timeout=5)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == code, stderr
    assert "no report was written" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "c.json").exists()


def test_a_grid_sweep_exits_2_and_its_point_is_judged_against_a_run(pair,
                                                                    tmp_path: Path) -> None:
    a, b, _ = pair
    grid = tmp_path / "grid"
    (grid / "summaries" / "p0").mkdir(parents=True)
    for seed in (1, 2, 3):
        (grid / "summaries" / "p0" / f"seed-{seed}.json").write_text(
            json.dumps(summary(seed=seed, windows={"gw": 10})))
    (grid / "sweep.json").write_text('{"grid": []}\n')
    refused = xedge("compare", grid, a)
    assert refused.exit_code == 2
    assert refused.output.startswith(f"error: {grid}: a grid sweep (sweep.json has a grid)")
    judged = xedge("compare", grid / "summaries" / "p0", b)
    assert judged.exit_code == 0, judged.output
    assert "sweep of 3 runs" in judged.output
