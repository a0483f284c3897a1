"""A sweep on a real Dask cluster: a scheduler and two workers on 127.0.0.1, one killed
mid-sweep; its tasks run again on the other, and the results are those of local processes.

No Docker needed. Without dask[distributed] the test skips, except under CI=true, where the
package (a dependency in pyproject.toml) must be there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ci import require_dask
from tests.processes import default_sigint

SCENARIO = """\
name: dask-sweep
seed: 1
duration: 1min
network:
  default: {latency: 5ms, jitter: {exponential: 1ms}, loss: 0.05}
nodes:
  - {id: sensors, type: sensor, count: 40, interval: 100ms, to: gw}
  - {id: gw, type: gateway, aggregate_every: 1s, to: cloud}
  - {id: cloud, type: cloud}
"""
GRID = ["--set", "network.default.loss=0,0.1", "--set", "nodes.sensors.count=20,40",
        "--seeds", "1..4"]
STARTUP_S = 120


def dask_command() -> Path:
    require_dask()
    found = Path(sys.executable).with_name("dask")
    if not found.exists():
        found = Path(shutil.which("dask") or "dask")
    return found


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """(scheduler address, [worker A, worker B]): real processes, loopback only, no nanny
    (a killed worker stays dead), stopped after the test whatever happens."""
    dask = dask_command()
    info = tmp_path / "scheduler.json"
    processes: list[subprocess.Popen] = []
    logs = tmp_path / "dask-logs"
    logs.mkdir()

    def start(name: str, *args: str) -> subprocess.Popen:
        process = subprocess.Popen([str(dask), *args], stdout=subprocess.DEVNULL,
                                   stderr=(logs / f"{name}.log").open("w"),
                                   start_new_session=True, preexec_fn=default_sigint)
        processes.append(process)
        return process

    try:
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0",
              "--no-dashboard", "--scheduler-file", str(info))
        deadline = time.monotonic() + STARTUP_S
        while not info.exists() or not info.read_text().strip():
            assert time.monotonic() < deadline, (logs / "scheduler.log").read_text()
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        workers = [start(f"worker-{n}", "worker", address, "--host", "127.0.0.1",
                         "--nthreads", "1", "--no-nanny", "--no-dashboard")
                   for n in range(2)]
        _wait_for_workers(address, 2, deadline)
        yield address, workers
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_for_workers(address: str, count: int, deadline: float) -> None:
    from distributed import Client

    with Client(address, timeout=STARTUP_S, set_as_default=False) as client:
        client.wait_for_workers(count, timeout=max(1.0, deadline - time.monotonic()))


def test_a_worker_killed_mid_sweep_changes_nothing(tmp_path: Path, cluster) -> None:
    address, workers = cluster
    (tmp_path / "s.yaml").write_text(SCENARIO)
    command = [sys.executable, "-m", "xedgesim", "sweep", "s.yaml", *GRID]
    local = subprocess.run([*command, "--jobs", "2", "--out", "local"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=900)
    assert local.returncode == 0, local.stderr

    sweep = subprocess.Popen([*command, "--cluster", address, "--out", "dask"], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True, preexec_fn=default_sigint)
    store = tmp_path / ".dask.xedge-partial"
    try:
        deadline = time.monotonic() + 600
        while not list(store.glob("p*-seed-*.json")):
            assert sweep.poll() is None, sweep.communicate()
            assert time.monotonic() < deadline, "no task finished"
            time.sleep(0.05)
        kept = len(list(store.glob("p*-seed-*.json")))
        assert kept < 16, "the sweep finished before a worker could be killed"
        os.killpg(workers[0].pid, signal.SIGKILL)  # mid-sweep: it is running a task
        stdout, stderr = sweep.communicate(timeout=900)
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
    assert workers[0].wait(timeout=10) == -signal.SIGKILL
    assert workers[1].poll() is None  # the other carried on
    assert sweep.returncode == 0, stderr
    assert "16 runs (16 run now)" in stdout and "Traceback" not in stderr
    for name in ("runs.parquet", "runs.csv", "points.parquet", "points.csv", "sweep.json"):
        assert (tmp_path / "dask" / name).read_bytes() == \
            (tmp_path / "local" / name).read_bytes(), name
    local_summaries = sorted((tmp_path / "local" / "summaries").rglob("*.json"))
    assert len(local_summaries) == 16
    for path in local_summaries:
        twin = tmp_path / "dask" / path.relative_to(tmp_path / "local")
        assert twin.read_bytes() == path.read_bytes()


def _executing(client) -> int:
    counts = client.run(lambda dask_worker: dask_worker.state.executing_count)
    return sum(counts.values())


def test_ctrl_c_stops_the_tasks_running_on_the_cluster(tmp_path: Path, cluster) -> None:
    """A thread cannot be killed: a cancelled task stops at its next check (every 0.25 s)."""
    from distributed import Client

    address, _ = cluster
    (tmp_path / "s.yaml").write_text(SCENARIO.replace("duration: 1min", "duration: 30min"))
    sweep = subprocess.Popen([sys.executable, "-m", "xedgesim", "sweep", "s.yaml", "--seeds",
                              "1..4", "--cluster", address, "--out", "out"], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True, preexec_fn=default_sigint)
    with Client(address, timeout=STARTUP_S, set_as_default=False) as client:
        try:
            deadline = time.monotonic() + 600
            while _executing(client) < 2:
                assert sweep.poll() is None, sweep.communicate()
                assert time.monotonic() < deadline, "the workers never both ran a task"
                time.sleep(0.1)
            started = time.monotonic()
            os.killpg(sweep.pid, signal.SIGINT)
            _, stderr = sweep.communicate(timeout=60)
            stopped = time.monotonic() - started
        finally:
            if sweep.poll() is None:
                os.killpg(sweep.pid, signal.SIGKILL)
        assert sweep.returncode == 130, stderr
        assert stopped < 2, f"the sweep stopped after {stopped:.1f}s"
        assert stderr.splitlines()[-1] == "interrupted (SIGINT): nothing was written"
        while _executing(client) and time.monotonic() - started < 2:
            time.sleep(0.05)
        assert _executing(client) == 0, "the cluster still runs the sweep's tasks"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dask-logs", "s.yaml",
                                                          "scheduler.json"]
