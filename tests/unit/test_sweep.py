"""Sweeps: seed specs bounded, statistics that are valid JSON, one directory written all or
nothing, and every worker stopped by Ctrl-C or SIGTERM to the parent or to its group."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import children, default_sigint
from xedgesim.limits import MAX_SEED, MAX_SEEDS
from xedgesim.scenario import load_scenario, load_scenario_text
from xedgesim.simulation import simulate
from xedgesim.sweep import confidence_intervals, format_sweep, parse_seeds, sweep
from xedgesim.sweep.stats import summary_metrics, t95

LONG = """\
name: long
seed: 1
duration: 1h
network:
  default: {latency: 5ms, jitter: {exponential: 1ms}, loss: 0.05}
nodes:
  - {id: sensors, type: sensor, count: 200, interval: 100ms, to: gw}
  - {id: gw, type: gateway, aggregate_every: 1s, to: cloud}
  - {id: cloud, type: cloud}
"""

SHORT = LONG.replace("duration: 1h", "duration: 2s").replace("count: 200", "count: 5")


def test_seed_specs() -> None:
    assert parse_seeds("1..3,10, 2") == [1, 2, 3, 10]
    assert parse_seeds(f"{MAX_SEED}") == [MAX_SEED]
    assert len(parse_seeds(f"1..{MAX_SEEDS}")) == MAX_SEEDS


@pytest.mark.parametrize(("spec", "message"), [
    ("20..1", "empty: write it low..high"),
    (f"0..{MAX_SEEDS}", f"at most {MAX_SEEDS:,}"),
    ("1..1000000000000", f"at most {MAX_SEEDS:,}"),
    (",".join(f"{i * 10}..{i * 10 + 9}" for i in range(2000)), f"at most {MAX_SEEDS:,}"),
    (f"{MAX_SEED + 1}", "out of range"),
    ("1" * 25, "expected seeds like"),
    ("1..", "expected seeds like"),
    ("a", "expected seeds like"),
])
def test_bad_seed_specs_are_refused_before_allocating(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_seeds(spec)


def test_one_value_has_no_spread_and_json_stays_valid() -> None:
    stats = confidence_intervals([{"messages": {"delivered": 7}}])
    assert stats == {"messages.delivered": {"n": 1, "mean": 7.0, "std": None, "ci95": None}}
    line = format_sweep({"scenario": "s", "seeds": [5], "metrics": stats})
    assert "7.000 ± n/a (one seed)" in line


def test_the_metrics_are_every_measurement_of_a_summary_and_its_totals() -> None:
    """A sweep's tables and a replication's statistics hold every number a summary measures
    (retransmissions among them), the loss totals it leaves to the reader and the overall
    delivery ratio, but not the settings it repeats (the same for every seed)."""
    qos = "to: gw, qos: 1, max_retries: 1, retry_interval: 100ms}"
    text = (SHORT.replace("to: gw}", qos)
            .replace("loss: 0.05", "loss: 0.3") + "warmup: 500ms\n")
    summary = simulate(load_scenario_text(text, "s.yaml")).summary()
    metrics = summary_metrics(summary)
    settings = {"seed", "duration_s", "warmup_s", "aggregation_windows_s.gw"}
    assert set(metrics) - {"messages.lost", "messages.delivery_ratio", "flows.sensors->gw.lost",
                           "flows.gw->cloud.lost"} == set(_leaves(summary)) - settings
    assert metrics["messages.retransmissions"] == summary["messages"]["retransmissions"] > 0
    assert metrics["flows.sensors->gw.retransmissions"] > 0
    messages = summary["messages"]
    assert metrics["messages.lost"] == sum(messages["lost"].values()) > 0
    assert metrics["messages.delivery_ratio"] == round(messages["delivered"] / messages["sent"], 6)
    assert metrics["flows.gw->cloud.lost"] == sum(summary["flows"]["gw->cloud"]["lost"].values())
    assert confidence_intervals([summary])["messages.lost"]["mean"] == metrics["messages.lost"]


def _leaves(tree: dict, prefix: str = "") -> list[str]:
    paths = []
    for key, value in tree.items():
        if isinstance(value, dict):
            paths += _leaves(value, f"{prefix}{key}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            paths.append(f"{prefix}{key}")
    return paths


def test_intervals_of_several_values() -> None:
    stats = confidence_intervals([{"x": v} for v in (1.0, 2.0, 3.0)])["x"]
    assert stats["mean"] == 2.0 and stats["std"] == 1.0
    assert math.isclose(stats["ci95"], 4.302653 / math.sqrt(3), rel_tol=1e-6)


def test_the_t_quantile_is_exact_past_thirty_degrees_of_freedom() -> None:
    """Published two-sided 95 % values (NIST/SEMATECH e-Handbook, table 1.3.6.7.2); the normal's
    1.96 in their place made intervals of 32 to a few hundred seeds too narrow."""
    for df, published in ((1, 12.706), (10, 2.228), (30, 2.042), (40, 2.021), (100, 1.984)):
        assert round(t95(df), 3) == published, df


def test_a_sweep_is_one_run_directory(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SHORT)
    out = tmp_path / "sweep"
    result = sweep(load_scenario(path), [1, 2], out, jobs=2)
    assert result["seeds"] == [1, 2]
    marker = json.loads((out / ".xedgesim-run.json").read_text())
    assert marker["kind"] == "sweep" and marker["seeds"] == [1, 2]
    assert marker["runs"] == ["seed-1", "seed-2"] and marker["files"] == ["sweep.json"]
    for seed in (1, 2):
        inner = json.loads((out / f"seed-{seed}" / ".xedgesim-run.json").read_text())
        assert inner["kind"] == "run" and inner["seed"] == seed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml", "sweep"]


def test_a_sweep_judges_each_seed_by_its_max_lag(tmp_path: Path, monkeypatch) -> None:
    """``max_lag_ns`` reaches every seed's run, in this process and in workers; a seed judged
    invalid is listed in sweep.json, which is then not valid (a deterministic seed always is)."""
    import xedgesim.sweep.replicate

    path = tmp_path / "s.yaml"
    path.write_text(SHORT)
    real = xedgesim.sweep.replicate.run_to_directory

    def seed_2_lags(scenario, out, **options):
        assert options["max_lag_ns"] == 7_000_000
        result = real(scenario, out, **options)
        if scenario.seed == 2:  # as a paced run past its bound would report it
            result.pacing = {"speed": 1.0, "lag_ms": {}, "max_lag_ms": 7.0, "valid": False}
        return result

    monkeypatch.setattr(xedgesim.sweep.replicate, "run_to_directory", seed_2_lags)
    for jobs in (1, 2):
        result = sweep(load_scenario(path), [1, 2, 3], tmp_path / f"sweep-{jobs}", jobs=jobs,
                       max_lag_ns=7_000_000)
        written = json.loads((tmp_path / f"sweep-{jobs}" / "sweep.json").read_text())
        assert written["valid"] is result["valid"] is False
        assert written["invalid_seeds"] == [2]
    monkeypatch.undo()
    result = sweep(load_scenario(path), [1, 2], tmp_path / "sweep-det", jobs=1)
    assert result["valid"] is True and result["invalid_seeds"] == []


def test_a_failing_seed_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    """All or nothing: before, seeds finished before the failure stayed as seed-N/."""
    import xedgesim.sweep.replicate
    from xedgesim.errors import NodeFailure

    path = tmp_path / "s.yaml"
    path.write_text(SHORT)
    real = xedgesim.sweep.replicate.run_to_directory

    def fail_on_seed_3(scenario, out, **options):
        if scenario.seed == 3:
            raise NodeFailure("node 'gw': failed on purpose")
        return real(scenario, out, **options)

    monkeypatch.setattr(xedgesim.sweep.replicate, "run_to_directory", fail_on_seed_3)
    for jobs in (1, 2):
        with pytest.raises(NodeFailure, match="seed 3: node 'gw': failed on purpose"):
            sweep(load_scenario(path), [1, 2, 3, 4], tmp_path / "sweep", jobs=jobs)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_an_interrupted_sweep_keeps_no_seed_and_says_so(tmp_path: Path, monkeypatch) -> None:
    """Issue 8, item 21: 'interrupted: nothing was written' while seed-1/ stayed behind."""
    from click.testing import CliRunner

    import xedgesim.sweep.replicate
    from xedgesim.cli import main

    (tmp_path / "s.yaml").write_text(SHORT)
    real = xedgesim.sweep.replicate.run_to_directory

    def interrupted_on_seed_2(scenario, out, **options):
        if scenario.seed == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(scenario, out, **options)

    monkeypatch.setattr(xedgesim.sweep.replicate, "run_to_directory", interrupted_on_seed_2)
    result = CliRunner().invoke(main, ["simulate", str(tmp_path / "s.yaml"), "--seeds", "1..3",
                                       "--jobs", "1", "--out", str(tmp_path / "out")])
    assert result.exit_code == 143
    assert result.output == "interrupted (SIGTERM): nothing was written\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


# -- signals, with real processes ---------------------------------------------------------------


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_sweep(directory: Path) -> tuple[subprocess.Popen, list[int]]:
    """``xedge simulate long.yaml --seeds 1..6 --jobs 2`` in its own session, once both
    workers are running a seed; (the process, its workers' pids)."""
    (directory / "long.yaml").write_text(LONG)
    child = subprocess.Popen(
        [sys.executable, "-m", "xedgesim", "simulate", "long.yaml", "--seeds", "1..6", "--jobs",
         "2", "--out", "out"], cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True, preexec_fn=default_sigint)
    deadline = time.monotonic() + 60
    while True:
        workers = children(child.pid)
        if len(workers) == 2 and len(list(directory.glob(".out.xedge-new-*/.seed-*"))) == 2:
            return child, workers
        if child.poll() is not None or time.monotonic() > deadline:
            os.killpg(child.pid, signal.SIGKILL)
            raise AssertionError(f"the workers never started: {child.communicate()}")
        time.sleep(0.05)


def stop(child: subprocess.Popen, signum: int, group: bool) -> tuple[float, str]:
    """Signal the child (or its whole process group); (seconds until it exited, stderr)."""
    started = time.monotonic()
    if group:
        os.killpg(child.pid, signum)
    else:
        child.send_signal(signum)
    try:
        _, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    return time.monotonic() - started, stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the workers")
@pytest.mark.parametrize("group", [False, True], ids=["parent", "group"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_every_worker_and_leaves_nothing(tmp_path: Path, signum: int,
                                                        group: bool) -> None:
    """Issue 8, item 4: Ctrl-C to the group ran on for 40 s and left .seed-N.*; SIGTERM to the
    parent orphaned the workers."""
    child, workers = start_sweep(tmp_path)
    seconds, stderr = stop(child, signum, group)
    assert child.returncode == 128 + signum, stderr
    assert seconds < 2, f"stopped after {seconds:.1f}s"
    assert stderr == f"interrupted ({signal.Signals(signum).name}): nothing was written\n"
    assert [pid for pid in workers if alive(pid)] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.yaml"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the workers")
def test_a_killed_worker_stops_the_sweep(tmp_path: Path) -> None:
    child, workers = start_sweep(tmp_path)
    os.kill(workers[0], signal.SIGKILL)
    try:
        _, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    assert child.returncode == 1
    assert "its worker process was killed by signal 9" in stderr and "Traceback" not in stderr
    assert [pid for pid in workers if alive(pid)] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.yaml"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's parent-death signal")
def test_workers_do_not_outlive_a_parent_killed_outright(tmp_path: Path) -> None:
    child, workers = start_sweep(tmp_path)
    child.kill()
    child.communicate(timeout=30)
    deadline = time.monotonic() + 2
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in workers if alive(pid)] == []
