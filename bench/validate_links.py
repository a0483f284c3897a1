"""Benchmark: ``xedge validate`` of scenarios with many links, the whole process timed.

Every check of the loader must be linear in the size of the file: a quadratic one (the
duplicate-link check once took 12 s for 10k links) shows here as a time that grows 100-fold
from 10k to 100k links. Goal: 100k links in under 5 s.

    python bench/validate_links.py                   # 10k and 100k links
    python bench/validate_links.py --sizes 1000000   # one size
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def scenario_text(links: int) -> str:
    """``links`` distinct pairs among just enough cloud nodes, one link per line."""
    nodes = math.ceil((1 + math.sqrt(1 + 8 * links)) / 2)
    lines = ["name: links", "duration: 10s", "nodes:"]
    lines += [f"  - {{id: n{i}, type: cloud}}" for i in range(nodes)]
    lines += ["network:", "  default: {latency: 5ms}", "  links:"]
    written = 0
    for a in range(nodes):
        for b in range(a + 1, nodes):
            if written == links:
                break
            lines.append(f"    - {{between: [n{a}, n{b}], latency: {1 + written % 50}ms}}")
            written += 1
    return "\n".join(lines) + "\n"


def measure(command: list[str]) -> tuple[float, float, float]:
    """Run a command that must succeed; return (wall seconds, CPU seconds, peak RSS in MB).

    CPU (user + system) is reported too: on a shared machine it says more than the wall time."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000",
                        help="comma-separated numbers of links (default: 10000,100000)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for links in (int(size) for size in args.sizes.split(",")):
            path = Path(tmp) / f"links-{links}.yaml"
            path.write_text(scenario_text(links), encoding="utf-8")
            wall, cpu, rss = measure([sys.executable, "-m", "xedgesim", "validate", str(path)])
            size_mb = path.stat().st_size / 1e6
            print(f"{links:>9,} links ({size_mb:5.1f} MB): validate in {wall:6.2f}s "
                  f"(CPU {cpu:5.2f}s), peak RSS {rss:6.0f} MB, load {os.getloadavg()[0]:.1f}",
                  file=sys.stderr)
            rows.append({"links": links, "file_mb": round(size_mb, 2), "wall_s": round(wall, 3),
                         "cpu_s": round(cpu, 3), "rss_mb": round(rss)})
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
