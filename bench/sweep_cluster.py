"""Benchmark: ``xedge sweep`` of 20 points × 10 seeds of a 10k-sensor scenario, on 1 and 2
workers, local processes and a Dask LocalCluster, each the whole ``xedge`` process timed.

Goal: 2 workers at least 1.8 times as fast as 1 on a 2-core machine. The cluster path's
overhead per task is the difference of the two paths' time per task, each measured as the
slope between a one-run sweep and the full sweep (so the LocalCluster's start-up, a constant,
is reported apart). CPU time and the load average are printed too: on a shared machine the
wall time alone says little.

    python bench/sweep_cluster.py                          # 20 points × 10 seeds, 60 s runs
    python bench/sweep_cluster.py --points 4 --seeds 5     # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCENARIO = """\
name: fleet10k
seed: 1
duration: {duration}
network:
  default: {{latency: 5ms, jitter: {{exponential: 1ms}}, loss: 0.01}}
nodes:
  - {{id: sensors, type: sensor, count: {sensors}, interval: 1s, to: gw}}
  - {{id: gw, type: gateway, aggregate_every: 1s, to: cloud}}
  - {{id: cloud, type: cloud}}
"""


def xedge() -> list[str]:
    return [sys.executable, "-m", "xedgesim"]


def measure(command: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and the children it waited for)."""
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        assert child.stderr is not None
        raise SystemExit(f"{' '.join(command)} failed:\n{child.stderr.read().decode()}")
    return wall, usage.ru_utime + usage.ru_stime


def sweep(directory: Path, points: int, seeds: int, executor: list[str],
          name: str) -> tuple[float, float]:
    losses = ",".join(f"{0.05 * i / max(1, points - 1):.4f}" for i in range(points))
    command = [*xedge(), "sweep", "s.yaml", "--set", f"network.default.loss={losses}",
               "--seeds", f"1..{seeds}", "--out", name, "--no-progress", "-q", *executor]
    return measure(command, directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--sensors", type=int, default=10_000)
    # 60 s, as the sensor-fleet benchmark's 10k scenario: a 10 s run is a 46 ms task, and the
    # speed-up then measures process overhead (1.5-1.7x measured) more than the executors.
    parser.add_argument("--duration", default="60s", help="of the scenario (virtual time)")
    options = parser.parse_args()
    tasks = options.points * options.seeds
    with tempfile.TemporaryDirectory(prefix="xedge-bench-sweep-") as temporary:
        directory = Path(temporary)
        (directory / "s.yaml").write_text(SCENARIO.format(duration=options.duration,
                                                          sensors=options.sensors))
        load_before = os.getloadavg()
        executors = {
            "local": lambda n: ["--jobs", str(n)],
            "dask": lambda n: ["--cluster", f"local:{n}"],
        }
        results: dict[str, dict] = {}
        for path, flags in executors.items():
            for workers in (1, 2):
                key = f"{path}-{workers}"
                one = sweep(directory, 1, 1, flags(workers), f"{key}-one")
                full = sweep(directory, options.points, options.seeds, flags(workers), key)
                results[key] = {"one_run_wall_s": round(one[0], 3),
                                "wall_s": round(full[0], 3), "cpu_s": round(full[1], 3),
                                "per_task_s": round((full[0] - one[0]) / max(1, tasks - 1), 4)}
                print(f"{key:8} {tasks} runs: {full[0]:8.2f} s wall, {full[1]:8.2f} s CPU; "
                      f"a one-run sweep {one[0]:.2f} s", flush=True)
        same = all((directory / key / "runs.parquet").read_bytes() ==
                   (directory / "local-1" / "runs.parquet").read_bytes() for key in results)
    report = {
        "points": options.points, "seeds": options.seeds, "sensors": options.sensors,
        "duration": options.duration, "cpus": os.cpu_count(),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "results": results,
        "speedup_local": round(results["local-1"]["wall_s"] / results["local-2"]["wall_s"], 3),
        "speedup_dask": round(results["dask-1"]["wall_s"] / results["dask-2"]["wall_s"], 3),
        "cluster_overhead_per_task_s": {
            str(n): round(results[f"dask-{n}"]["per_task_s"] - results[f"local-{n}"]["per_task_s"],
                          4) for n in (1, 2)},
        "cluster_startup_s": round(results["dask-1"]["one_run_wall_s"]
                                   - results["local-1"]["one_run_wall_s"], 3),
        "identical_tables": same,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
