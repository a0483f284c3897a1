"""Benchmark: ``xedge simulate`` against idiomatic SimPy on the "sensor fleet" workload.

Both run as child processes, one at a time, measured the same way from outside: wall time from
process start to exit (so xedge's scenario loading and metric writing are included; SimPy's
figure is its env.run() alone, which favours SimPy), CPU time (user + system, the steadier
figure on a shared machine) and peak RSS from the kernel (wait4). SimPy is left out above
``--simpy-max`` sensors (a million SimPy processes take minutes and gigabytes).

    python bench/sensor_fleet.py                 # N = 1k, 10k, 100k
    python bench/sensor_fleet.py --sizes 10000   # one size
    python bench/sensor_fleet.py --sizes 10000,100000,1000000   # the issue's 1M in 400 MB
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

HERE = Path(__file__).resolve().parent

SCENARIO = """\
name: sensor-fleet-{n}
seed: 42
duration: 60s
network:
  default: {{latency: 5ms, jitter: {{exponential: 2ms}}, loss: 0.01}}
  links:
    - {{between: [gw1, cloud], latency: 20ms}}
nodes:
  - {{id: sensors, type: sensor, count: {n}, interval: 1s, to: gw1}}
  - {{id: gw1, type: gateway, aggregate_every: 10s, to: cloud}}
  - {{id: cloud, type: cloud}}
"""


def measure(command: list[str]) -> tuple[float, float, str, float]:
    """Run a command; return (wall seconds, peak RSS in MB, stdout, CPU seconds)."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=out)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit code {child.returncode}")
    return wall, usage.ru_maxrss / 1024, text, usage.ru_utime + usage.ru_stime


def bench_xedge(n: int, workdir: Path) -> dict:
    scenario = workdir / f"fleet-{n}.yaml"
    scenario.write_text(SCENARIO.format(n=n))
    out = workdir / f"run-{n}"
    wall, rss, _, cpu = measure([sys.executable, "-m", "xedgesim", "simulate", str(scenario),
                                 "--out", str(out), "--quiet", "--no-progress"])
    summary = json.loads((out / "summary.json").read_text())
    return {"events": summary["events_processed"], "wall_s": wall, "cpu_s": cpu, "rss_mb": rss}


def bench_simpy(n: int) -> dict:
    wall, rss, text, cpu = measure([sys.executable, str(HERE / "simpy_fleet.py"), str(n)])
    result = json.loads(text)
    return {"events": result["events"], "wall_s": result["wall_s"], "process_s": wall,
            "cpu_s": cpu, "rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000",
                        help="comma-separated fleet sizes N (default: 1000,10000,100000)")
    parser.add_argument("--simpy-max", type=int, default=100_000,
                        help="largest N also run with SimPy (default: 100000)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            xedge = bench_xedge(n, Path(tmp))
            x_rate = xedge["events"] / xedge["wall_s"]
            line = (f"N={n:>9,}: xedge {xedge['events']:>11,} events in {xedge['wall_s']:6.2f}s "
                    f"(CPU {xedge['cpu_s']:6.2f}s) = {x_rate:>11,.0f}/s, "
                    f"{xedge['rss_mb']:5.0f} MB")
            if n > args.simpy_max:
                rows.append((n, xedge, None, x_rate, None))
                print(line, flush=True)
                continue
            simpy = bench_simpy(n)
            s_rate = simpy["events"] / simpy["wall_s"]
            rows.append((n, xedge, simpy, x_rate, s_rate))
            print(f"{line} | SimPy {simpy['events']:>11,} events in {simpy['wall_s']:6.2f}s = "
                  f"{s_rate:>9,.0f}/s, {simpy['rss_mb']:5.0f} MB | ratio {x_rate / s_rate:5.1f}x "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
    print(json.dumps([{"n": n, "xedge": x, "simpy": s,
                       "ratio": round(xr / sr, 2) if sr else None}
                      for n, x, s, xr, sr in rows], indent=2))


if __name__ == "__main__":
    main()
