"""``xedge sweep`` end to end on local processes: tidy tables, determinism against ``xedge
simulate`` of each point, resume from the store, bad input refused before anything runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from xedgesim.cli import main
from xedgesim.sweep.stats import interval

SCENARIO = """\
name: tiny
seed: 7
duration: 3s
network:
  default: {latency: 5ms, jitter: {exponential: 1ms}, loss: 0.05}
nodes:
  - {id: sensors, type: sensor, count: 4, interval: 100ms, to: gw}
  - {id: gw, type: gateway, aggregate_every: 1s, to: cloud}
  - {id: cloud, type: cloud}
"""
GRID = ["--set", "network.default.loss=0,0.2", "--set", "nodes.sensors.count=2,5"]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    return result.exit_code, result.output


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(SCENARIO)
    return path


def test_a_grid_sweep_writes_tidy_tables(scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "grid"
    code, output = invoke("sweep", str(scenario), *GRID, "--seeds", "1..3", "--jobs", "2",
                          "--out", str(out))
    assert code == 0, output
    assert "4 points × 3 seeds = 12 runs (12 run now)" in output
    runs = pq.read_table(out / "runs.parquet").to_pylist()
    assert len(runs) == 12
    assert [(r["point"], r["network.default.loss"], r["nodes.sensors.count"], r["seed"])
            for r in runs[:4]] == [("p0", 0.0, 2, 1), ("p0", 0.0, 2, 2), ("p0", 0.0, 2, 3),
                                   ("p1", 0.0, 5, 1)]
    for row in runs:
        summary = json.loads((out / "summaries" / row["point"] / f"seed-{row['seed']}.json")
                             .read_text())
        assert row["messages.delivered"] == summary["messages"]["delivered"]
        assert row["flows.sensors->gw.latency_ms.p95"] == \
            summary["flows"]["sensors->gw"]["latency_ms"]["p95"]
    points = pq.read_table(out / "points.parquet").to_pylist()
    delivered = [r for r in points if r["metric"] == "messages.delivered"]
    assert [r["point"] for r in delivered] == ["p0", "p1", "p2", "p3"]
    p3 = [r["messages.delivered"] for r in runs if r["point"] == "p3"]
    stats = interval([float(v) for v in p3])
    assert delivered[3]["n"] == 3 and delivered[3]["mean"] == pytest.approx(stats["mean"])
    assert delivered[3]["ci_high"] - delivered[3]["mean"] == pytest.approx(stats["ci95"])
    assert delivered[3]["network.default.loss"] == 0.2
    assert delivered[0]["mean"] > delivered[2]["mean"] * 0  # a number, not null
    csv_header = (out / "points.csv").read_text().splitlines()[0]
    assert csv_header == ("point,network.default.loss,nodes.sensors.count,metric,n,mean,std,"
                          "ci_low,ci_high")
    document = json.loads((out / "sweep.json").read_text())
    assert document["seeds"] == [1, 2, 3] and document["runs"] == 12
    assert document["scenario"]["name"] == "tiny" and len(document["scenario"]["sha256"]) == 64
    assert document["grid"][0] == {"path": "network.default.loss", "values": [0, 0.2],
                                   "from": "--set network.default.loss=0,0.2"}
    marker = json.loads((out / ".xedgesim-run.json").read_text())
    assert marker["kind"] == "sweep" and "runs.parquet" in marker["files"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid", "tiny.yaml"]


def test_dataframe_libraries_read_the_tables(scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "grid"
    assert invoke("sweep", str(scenario), "--set", "duration=1s,2s", "--seeds", "1,2",
                  "--jobs", "1", "--out", str(out))[0] == 0
    for library in ("polars", "pandas"):
        try:
            module = __import__(library)
        except ImportError:
            continue
        frame = module.read_parquet(out / "runs.parquet")
        assert frame.shape[0] == 4 and "messages.delivered" in list(frame.columns)
        assert module.read_csv(out / "points.csv").shape == \
            module.read_parquet(out / "points.parquet").shape
    assert pq.read_table(out / "runs.parquet").schema.field("duration").type == "string"


def test_each_result_is_what_simulate_writes_for_that_point(scenario: Path,
                                                            tmp_path: Path) -> None:
    """Byte for byte, whichever local executor ran it (in process, or worker processes)."""
    for jobs in ("1", "2"):
        assert invoke("sweep", str(scenario), *GRID, "--seeds", "4,9", "--jobs", jobs,
                      "--out", str(tmp_path / f"jobs-{jobs}"))[0] == 0
    for point in ("p0", "p3"):
        for seed in (4, 9):
            run = tmp_path / f"sim-{point}-{seed}"
            code, output = invoke("simulate", str(tmp_path / "jobs-1" / "points" /
                                                  f"{point}.yaml"),
                                  "--seed", str(seed), "--out", str(run), "-q")
            assert code == 0, output
            expected = (run / "summary.json").read_bytes()
            for jobs in ("1", "2"):
                assert (tmp_path / f"jobs-{jobs}" / "summaries" / point /
                        f"seed-{seed}.json").read_bytes() == expected
    for name in ("runs.parquet", "runs.csv", "points.parquet", "points.csv", "sweep.json"):
        assert (tmp_path / "jobs-1" / name).read_bytes() == \
            (tmp_path / "jobs-2" / name).read_bytes()


def test_resume_runs_only_the_missing_runs(scenario: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """An interrupted sweep keeps its finished runs; the same command runs only the others
    and writes what an uninterrupted sweep writes."""
    import xedgesim.sweep.executors as executors
    from xedgesim.interrupts import Interrupted

    out = tmp_path / "grid"
    real = executors.LocalProcesses.run
    ran: list[str] = []

    def stop_after_five(self, tasks, on_result):
        def counted(task, text):
            on_result(task, text)
            ran.append(task.name)
            if len(ran) == 5:
                raise Interrupted(2)
        real(self, tasks, counted)

    monkeypatch.setattr(executors.LocalProcesses, "run", stop_after_five)
    code, output = invoke("sweep", str(scenario), *GRID, "--seeds", "1..3", "--jobs", "1",
                          "--out", str(out))
    assert code == 130
    store = tmp_path / ".grid.xedge-partial"
    assert f"interrupted (SIGINT): 5 of 12 runs are kept in {store}/" in output
    assert sorted(p.name for p in store.iterdir()) == sorted(
        [f"{name}.json" for name in ran] + ["plan.json"])
    assert not out.exists()
    monkeypatch.setattr(executors.LocalProcesses, "run", real)
    ran.clear()
    code, output = invoke("sweep", str(scenario), *GRID, "--seeds", "1..3", "--jobs", "2",
                          "--out", str(out))
    assert code == 0, output
    assert "resuming: 5 of 12 runs were done already" in output
    assert "(7 run now)" in output and not store.exists()
    code, output = invoke("sweep", str(scenario), *GRID, "--seeds", "1..3", "--jobs", "2",
                          "--out", str(tmp_path / "whole"))
    for name in ("runs.parquet", "points.csv", "sweep.json"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()


def test_a_store_of_another_grid_is_started_over(scenario: Path, tmp_path: Path) -> None:
    store = tmp_path / ".grid.xedge-partial"
    store.mkdir()
    (store / "plan.json").write_text('{"plan": "another"}')
    (store / "p0-seed-1.json").write_text("{}")
    code, output = invoke("sweep", str(scenario), "--seeds", "1", "--jobs", "1", "--out",
                          str(tmp_path / "grid"))
    assert code == 0, output
    assert "held an interrupted sweep of another grid" in output
    assert "(1 run now)" in output


def test_a_store_with_foreign_files_is_refused(scenario: Path, tmp_path: Path) -> None:
    store = tmp_path / ".grid.xedge-partial"
    store.mkdir()
    (store / "notes.txt").write_text("mine")
    code, output = invoke("sweep", str(scenario), "--out", str(tmp_path / "grid"))
    assert code == 2
    assert "holds notes.txt, which xedge did not write; nothing was touched" in output
    assert (store / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "nodes.sensor.count=1,2"], "error: --set nodes.sensor.count=1,2: 'nodes' has "
                                          "no entry 'sensor'"),
    (["--set", "network.default.loss=0,2"], "--set network.default.loss=0,2: 'loss' in the "
                                            "default link must be between 0 and 1, found 2"),
    (["--seeds", "5..1"], "error: --seeds: seed range '5..1' is empty"),
    (["--cluster", "udp://x:1"], "error: --cluster 'udp://x:1': expected one of"),
    (["--cluster", "local:0"], "local:N takes 1 to 256 workers"),
    (["--cluster", "local:2", "--jobs", "2"], "--jobs applies to local processes"),
])
def test_bad_input_is_refused_before_anything_runs(scenario: Path, tmp_path: Path,
                                                   args: list[str], message: str) -> None:
    code, output = invoke("sweep", str(scenario), *args, "--out", str(tmp_path / "out"))
    assert code == 2
    assert message in output and "Traceback" not in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]


def test_a_bad_scenario_is_reported_as_validate_does(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SCENARIO.replace("count: 4", "count: -4"))
    code, output = invoke("sweep", str(path), "--out", str(tmp_path / "out"))
    assert code == 2
    assert f"{path}:7:40: 'count' in node 'sensors' must be at least 1" in output
    assert "1 problem, nothing was run" in output


def test_the_simulate_path_imports_neither_dask_nor_pyarrow(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from xedgesim.cli import main\n"
        "result = CliRunner().invoke(main, ['simulate', 'scenarios/quickstart.yaml', '-q',"
        f" '--out', {str(tmp_path / 'run')!r}])\n"
        "assert result.exit_code == 0, result.output\n"
        "result = CliRunner().invoke(main, ['validate', 'scenarios/quickstart.yaml'])\n"
        "assert result.exit_code == 0, result.output\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('dask', 'distributed', 'pyarrow', 'polars', 'pandas'))\n"
        "print(heavy)\n"
    )
    root = Path(__file__).resolve().parents[3]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_failed_run_fails_the_sweep_and_keeps_the_others(scenario: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    import xedgesim.sweep.executors as executors
    from xedgesim.errors import NodeFailure
    from xedgesim.sweep.task import execute

    def two_then_a_failure(self, tasks, on_result):
        for task in tasks[:2]:
            on_result(task, execute(task))
        raise NodeFailure(f"{tasks[2].describe()}: node 'gw': failed on purpose")

    monkeypatch.setattr(executors.LocalProcesses, "run", two_then_a_failure)
    code, output = invoke("sweep", str(scenario), *GRID, "--out", str(tmp_path / "grid"))
    assert code == 1
    assert output.splitlines()[-2:] == [
        "error: point p2, seed 7: node 'gw': failed on purpose",
        f"2 of 4 runs are kept in {tmp_path / '.grid.xedge-partial'}/; the same command runs "
        "only the others"]
    assert not (tmp_path / "grid").exists()


def test_workers_of_other_versions_are_refused() -> None:
    """Their results would not be byte-identical: a sweep on them is refused up front."""
    from xedgesim.sweep.executors import ClusterUnavailable, _check_workers, environment

    class Client:
        def __init__(self, found: dict) -> None:
            self.found = found

        def run(self, function):
            assert function is environment
            return self.found

    here = environment()
    _check_workers(Client({"tcp://127.0.0.1:1": dict(here)}))
    with pytest.raises(ClusterUnavailable, match=r"runs xedgesim 0\.0\.1 with numpy"):
        _check_workers(Client({"tcp://127.0.0.1:1": {**here, "xedgesim": "0.0.1"}}))


def test_task_failures_on_dask_are_reported_as_the_sweep_reports_them() -> None:
    from distributed.scheduler import KilledWorker

    from xedgesim.errors import NodeFailure
    from xedgesim.sweep.executors import _failure
    from xedgesim.sweep.task import Task

    task = Task("p3", 5, "")
    own = NodeFailure("point p3, seed 5: node 'gw': broke")
    assert _failure(task, own) is own
    assert str(_failure(task, KilledWorker("k", "w", 3))) == (
        "point p3, seed 5: its Dask workers died while running it, several times over")
    assert str(_failure(task, MemoryError("out of memory"))) == (
        "point p3, seed 5: MemoryError: out of memory")


def test_a_bad_grid_file_is_refused_with_its_place(scenario: Path, tmp_path: Path) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text("nodes.sensors.count: [2, many]\nnodes.gw.aggregate_every: [1s]\n")
    code, output = invoke("sweep", str(scenario), "--grid", str(grid), "--out",
                          str(tmp_path / "out"))
    assert code == 2 and "Traceback" not in output
    assert f"error: {grid}:1:26: 'count' in node 'sensors'" in output
    assert "(point p1: nodes.sensors.count=many, nodes.gw.aggregate_every=1s)" in output
    assert output.rstrip().endswith("1 problem in the sweep, nothing was run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.yaml", "tiny.yaml"]
