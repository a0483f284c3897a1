"""The ``xedge`` command line: exit codes, messages, and what lands on disk."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.processes import default_sigint
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


def test_validate_checks_a_network_overlay_merged_into_the_scenario(tmp_path: Path) -> None:
    """What simulate --network would run is what validate --network checks: a good overlay
    passes, a bad one is reported at its own file and line."""
    scenario = write(tmp_path, SMALL)
    good = write(tmp_path, "network: {default: {latency: 9ms}}\n", "good.yaml")
    result = CliRunner().invoke(main, ["validate", str(scenario), "--network", str(good)])
    assert result.exit_code == 0 and "ok (3 nodes" in result.output, result.output
    bad = write(tmp_path, "network:\n  default: {latency: -1ms}\n", "bad.yaml")
    result = CliRunner().invoke(main, ["validate", str(scenario), "--network", str(bad)])
    assert result.exit_code == 2 and f"{bad}:2:" in result.output, result.output
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
        ".xedgesim-run.json", "latency.csv", "nodes.csv", "records.csv", "scenario.yaml",
        "summary.json", "timeseries.csv", "timing.json"]
    summary = json.loads((out / "summary.json").read_text())
    flow = summary["flows"]["sensors->gw"]
    assert flow["sent"] == 20 * 10
    assert flow["sent"] == flow["delivered"] + sum(flow["lost"].values()) + flow["in_flight"]
    assert "sensors->gw" in result.output and "events in" in result.output
    records = (out / "records.csv").read_text().splitlines()
    delivered = sum(f["delivered"] for f in summary["flows"].values())
    lost = summary["messages"]["lost_random"] + summary["messages"]["lost_to_faults"]
    assert len(records) - 1 == delivered + lost + summary["messages"]["in_flight"]
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
    assert f"run directory {out} exists and is not from an xedge run" in result.output
    assert "nothing was touched" in result.output
    assert (out / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious", "s.yaml"]


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
        ".xedgesim-run.json", "seed-1", "seed-2", "seed-3", "seed-4", "sweep.json"]
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


def test_a_file_of_the_user_inside_a_look_alike_run_is_never_deleted(tmp_path: Path) -> None:
    """A directory whose entries merely have run-like names is not a run (issue 8, item 1)."""
    out = tmp_path / "out"
    (out / "logs").mkdir(parents=True)
    (out / "logs" / "app.log").write_text("x\n")
    result = CliRunner().invoke(main, ["simulate", str(write(tmp_path, SMALL)), "--out", str(out)])
    assert result.exit_code == 2
    assert f"run directory {out} exists and is not from an xedge run" in result.output
    assert (out / "logs" / "app.log").read_text() == "x\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "s.yaml"]


def test_a_file_added_to_an_earlier_run_is_never_deleted(tmp_path: Path) -> None:
    out = tmp_path / "run"
    path = write(tmp_path, SMALL)
    assert CliRunner().invoke(main, ["simulate", str(path), "--out", str(out), "-q"]).exit_code == 0
    (out / "notes.txt").write_text("my notes")
    result = CliRunner().invoke(main, ["simulate", str(path), "--out", str(out), "-q"])
    assert result.exit_code == 2
    assert "holds notes.txt, which xedge did not write" in result.output
    assert (out / "notes.txt").read_text() == "my notes"


def test_a_sweep_refuses_a_directory_with_a_foreign_seed_directory(tmp_path: Path) -> None:
    """Before: seed-1 and seed-2 were written, then a foreign seed-3 stopped the sweep."""
    out = tmp_path / "sweep"
    (out / "seed-3").mkdir(parents=True)
    (out / "seed-3" / "mine.txt").write_text("mine")
    result = CliRunner().invoke(main, ["simulate", str(write(tmp_path, SMALL)), "--seeds", "1..4",
                                       "--jobs", "1", "--out", str(out)])
    assert result.exit_code == 2
    assert "not from an xedge run" in result.output
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "seed-3", "seed-3/mine.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml", "sweep"]


def test_a_sweep_replaces_an_earlier_sweep_and_only_that(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    path = write(tmp_path, SMALL)
    args = ["simulate", str(path), "--seeds", "1..3", "--jobs", "1", "--out", str(out), "-q"]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert CliRunner().invoke(main, [*args[:3], "1,2", *args[4:]]).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        ".xedgesim-run.json", "seed-1", "seed-2", "sweep.json"]
    (out / "seed-2" / "plot.png").write_bytes(b"png")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "holds seed-2, which holds plot.png, which xedge did not write" in result.output
    assert (out / "seed-2" / "plot.png").read_bytes() == b"png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml", "sweep"]


def test_out_that_cannot_be_a_run_directory_is_a_message(tmp_path: Path, monkeypatch) -> None:
    """Issue 8, item 3: '.' gave EBUSY and left a '..old.*' directory; the others tracebacks."""
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, SMALL)
    (tmp_path / "file.txt").write_text("a file")
    cases = {
        ".": "is a directory itself",
        "..": "is a directory itself",
        str(tmp_path): "is the current directory or one above it",
        "/proc/xedge-run": "under /proc, a system pseudo-filesystem",
        "/sys/xedge-run": "under /sys, a system pseudo-filesystem",
        "file.txt/run": "is below file.txt, which is a file, not a directory",
        "file.txt": "exists and is not a directory",
        "x" * 240: "is too long",
    }
    for out, message in cases.items():
        result = CliRunner().invoke(main, ["simulate", str(path), "--out", out, "-q"])
        assert result.exit_code == 2, (out, result.output)
        assert message in result.output, (out, result.output)
        assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "s.yaml"]
    assert (tmp_path / "file.txt").read_text() == "a file"


def test_an_unwritable_place_is_a_message(tmp_path: Path, monkeypatch) -> None:
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access",  # root may write anywhere: the check is what is tested
                        lambda p, mode: False if Path(p) == locked else real_access(p, mode))
    result = CliRunner().invoke(main, ["simulate", str(write(tmp_path, SMALL)),
                                       "--out", str(locked / "a" / "run")])
    assert result.exit_code == 2
    assert f"cannot write in {locked} (permission denied)" in result.output
    assert list(locked.iterdir()) == []


def test_an_unwritable_place_found_while_creating_it_is_a_message(tmp_path: Path,
                                                                  monkeypatch) -> None:
    real_mkdir = Path.mkdir

    def refusing_mkdir(self: Path, *args, **kwargs) -> None:
        if self.name == "b":
            raise PermissionError(13, "Permission denied", str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refusing_mkdir)
    result = CliRunner().invoke(main, ["simulate", str(write(tmp_path, SMALL)),
                                       "--out", str(tmp_path / "a" / "b" / "run")])
    assert result.exit_code == 2
    assert f"cannot create {tmp_path / 'a' / 'b'}: Permission denied" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]  # 'a' removed again


def test_a_failed_run_removes_the_parents_it_created(tmp_path: Path, monkeypatch) -> None:
    import xedgesim.run

    def failing(*args, **kwargs):
        from xedgesim.errors import NodeFailure

        raise NodeFailure("node 'gw': failed on purpose")

    monkeypatch.setattr(xedgesim.run, "simulate", failing)
    result = CliRunner().invoke(main, ["simulate", str(write(tmp_path, SMALL)),
                                       "--out", str(tmp_path / "runs" / "deep" / "run")])
    assert result.exit_code == 1
    assert "failed on purpose" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


OPTION_ERRORS = [
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**63)], "--seed"),
    (["--speed", "nan"], "--speed"),
    (["--speed", "inf"], "--speed"),
    (["--speed", "0"], "--speed"),
    (["--speed", "-1"], "--speed"),
    (["--speed", "1e-9"], "--speed"),
    (["--speed", "fast"], "--speed"),
    (["--seeds", "1..4", "--jobs", "0"], "--jobs"),
    (["--seeds", "1..4", "--jobs", "10000"], "--jobs"),
    (["--seeds", "20..1"], "low..high"),
    (["--seeds", "1..1000000000000"], "at most 10,000"),
    (["--seeds", "1..5000,6000..12000"], "at most 10,000"),
    (["--seeds", f"{2**63}"], "out of range"),
    (["--seeds", "9" * 30], "expected seeds like"),
    (["--seeds", "-3"], "expected seeds like"),
    (["--seeds", ""], "expected seeds like"),
    (["--seeds", "1..3", "--seed", "99"], "--seed and --seeds cannot be used together"),
    (["--jobs", "2"], "--jobs applies to --seeds only"),
    (["--seeds", "1..3", "--progress"], "--progress applies to a single run"),
]


def test_every_option_of_simulate_is_checked(tmp_path: Path, monkeypatch) -> None:
    """Issue 8, item 11 and 21: each bad option is exit 2 naming it, and nothing is written."""
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, SMALL)
    for options, message in OPTION_ERRORS:
        result = CliRunner().invoke(main, ["simulate", str(path), *options])
        assert result.exit_code == 2, (options, result.output)
        assert message in result.output, (options, result.output)
        assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_the_largest_seed_runs(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["simulate", str(write(tmp_path, SMALL)), "--seed",
                                       str(2**63 - 1), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text())["seed"] == 2**63 - 1


def test_a_sweep_of_one_seed_writes_valid_json(tmp_path: Path) -> None:
    """Issue 8, item 11: '--seeds 5' wrote NaN for the undefined CI: not JSON."""
    out = tmp_path / "sweep"
    result = CliRunner().invoke(main, ["simulate", str(write(tmp_path, SMALL)), "--seeds", "5",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = (out / "sweep.json").read_text()
    assert "NaN" not in text

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in sweep.json")

    sweep = json.loads(text, parse_constant=refuse)
    delivered = sweep["metrics"]["messages.delivered"]
    assert delivered["n"] == 1 and delivered["ci95"] is None and delivered["std"] is None
    assert "n/a (one seed)" in result.output


LONG = SMALL.replace("duration: 5s", "duration: 1h").replace("count: 20", "count: 500")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_a_pure_python_run_and_leaves_nothing(tmp_path: Path, signum: int) -> None:
    """Issue 8, item 5: SIGTERM exited 143 with no message and left .out.XXXX/records.csv."""
    write(tmp_path, LONG)
    child = subprocess.Popen(
        [sys.executable, "-m", "xedgesim", "simulate", "s.yaml", "--records", "--out", "out"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
        preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size for p in tmp_path.glob(".out.*/records.csv")):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the run never started writing records"
            time.sleep(0.05)
        started = time.monotonic()
        child.send_signal(signum)
        _, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert time.monotonic() - started < 2
    assert child.returncode == 128 + signum
    assert stderr == f"interrupted ({signal.Signals(signum).name}): nothing was written\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_validate_is_one_line_not_a_traceback(tmp_path: Path, monkeypatch,
                                                               signum: int,
                                                               sigint_handled: None) -> None:
    import os

    import xedgesim.scenario

    def slow_load(path):
        os.kill(os.getpid(), signum)
        raise AssertionError("the signal should have stopped validate")

    monkeypatch.setattr(xedgesim.scenario, "load_scenario", slow_load)
    result = CliRunner().invoke(main, ["validate", str(write(tmp_path, SMALL))])
    assert result.exit_code == 128 + signum
    assert result.output == f"interrupted ({signal.Signals(signum).name}): validation stopped\n"


TINY = SMALL.replace("duration: 5s", "duration: 1s").replace("count: 20", "count: 2")
OUTS = [None, ".", "..", "run", "a/b/run", "file.txt", "file.txt/x", "/proc/xedge", "/sys/x",
        "run/..", "../outside", "runs", "x" * 240, "a\\b", " "]
SEED_SPECS = [None, "1..3", "3..1", "1,2", "5", "", "x", "1..", "1..100000", "-1", "1, 2",
              "9" * 25, "1..2,2..3", f"{2**63 - 1}"]


@settings(max_examples=40, deadline=10_000,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(out=st.sampled_from(OUTS), seed=st.none() | st.integers(-5, 2**64),
       seeds=st.sampled_from(SEED_SPECS), jobs=st.none() | st.integers(-1, 300),
       speed=st.sampled_from([None, "nan", "inf", "-inf", "0", "1e-9", "1", "1e7", "fast"]),
       records=st.booleans())
def test_any_options_give_a_result_or_a_message_and_write_only_the_run(
        tmp_path: Path, monkeypatch, out, seed, seeds, jobs, speed, records) -> None:
    """No traceback, no hang, no write outside the chosen run directory, whatever the options."""
    import shutil

    root = tmp_path / "fuzz"
    shutil.rmtree(root, ignore_errors=True)
    work = root / "work"
    work.mkdir(parents=True)
    write(work, TINY)
    (work / "file.txt").write_text("a file")
    monkeypatch.chdir(work)
    args = ["simulate", "s.yaml", "-q"]
    for name, value in (("--out", out), ("--seed", seed), ("--seeds", seeds), ("--jobs", jobs),
                        ("--speed", speed)):
        if value is not None:
            args += [name, str(value)]
    if records:
        args.append("--records")
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (0, 2), (args, result.output, result.exception)
    assert "Traceback" not in result.output
    changed = [p for p in root.rglob("*") if before.get(p) != p.stat().st_mtime_ns]
    if result.exit_code == 2:
        assert changed == [], (args, changed)
        return
    written = (work / out).resolve() if out else (work / "runs").resolve()
    assert all(p.resolve() == written or written in p.resolve().parents
               or p.resolve() in written.parents for p in changed), (args, changed)
