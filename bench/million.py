"""Benchmark: a million sensors in 400 MB (issue 11): peak memory, time and output hashes.

Each size runs ``xedge simulate`` of the sensor-fleet scenario (bench/sensor_fleet.py) in a
fresh child process, measured from outside: wall time, user + system CPU time and peak RSS
(``ru_maxrss`` from wait4, the kernel's high-water mark of the whole process). On a shared
machine wall time is noisy; CPU time is the steadier figure, and the load average is printed
with it. The sha256 of every deterministic output file is printed too, so two versions of the
code can be checked for byte-identical results (``--pythonpath`` runs another checkout).

    python bench/million.py                        # N = 10k, 100k, 1M
    python bench/million.py --sizes 1000000 --records
    python bench/million.py --pythonpath /tmp/old  # the same, with another copy of xedgesim
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sensor_fleet import SCENARIO  # noqa: E402  (the same workload, one definition)

DETERMINISTIC = ("summary.json", "nodes.csv", "records.csv")


def run(command: list[str], env: dict[str, str]) -> dict:
    """Run ``command``; its wall time, CPU time (user + system) and peak RSS in MB."""
    started = time.perf_counter()
    # Started outside the checkout: ``python -m`` puts the working directory first on
    # sys.path, which would shadow --pythonpath.
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, cwd=tempfile.gettempdir())
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed ({os.waitstatus_to_exitcode(status)})")
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "rss_mb": round(usage.ru_maxrss / 1024, 1)}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def bench(n: int, workdir: Path, env: dict[str, str], records: bool, seed: int) -> dict:
    scenario = workdir / f"fleet-{n}.yaml"
    scenario.write_text(SCENARIO.format(n=n))
    out = workdir / f"run-{n}-{seed}"
    command = [sys.executable, "-m", "xedgesim", "simulate", str(scenario), "--out", str(out),
               "--seed", str(seed), "--quiet", "--no-progress"]
    if records:
        command.append("--records")
    row = {"n": n, "seed": seed, "load": round(os.getloadavg()[0], 2), **run(command, env)}
    events = json.loads((out / "summary.json").read_text())["events_processed"]
    row["events"] = events
    row["events_per_s"] = round(events / row["wall_s"])
    row["sha256"] = {name: sha256(out / name)[:16] for name in DETERMINISTIC
                     if (out / name).exists()}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="comma-separated fleet sizes N (default: 10000,100000,1000000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--records", action="store_true", help="write records.csv too")
    parser.add_argument("--pythonpath", help="import xedgesim from this directory instead")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.pythonpath:
        env["PYTHONPATH"] = args.pythonpath
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(size) for size in args.sizes.split(",")):
            row = bench(n, Path(tmp), env, args.records, args.seed)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
