"""Replications: the same scenario under many seeds, in parallel processes, with 95 % CIs.

Runs with Docker services in the loop are statistical, and so is any question about a random
process; the honest answer is a mean with a confidence interval over independent seeds.
"""

from __future__ import annotations

import json
import math
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from xedgesim.run import run_to_directory
from xedgesim.scenario.model import Scenario

# Two-sided 95 % Student t quantiles by degrees of freedom; beyond 30 the normal's 1.96 is
# within 2 % and is used.
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
_NOT_METRICS = {"seed", "duration_s"}


def parse_seeds(text: str) -> list[int]:
    """'1..20' (inclusive), '1,5,9' or a mix like '1..3,10' -> sorted distinct seeds."""
    seeds: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d+)\s*\.\.\s*(\d+)", part)
        if match:
            low, high = int(match[1]), int(match[2])
            if low > high:
                raise ValueError(f"seed range {part!r} is empty: write it low..high")
            seeds.update(range(low, high + 1))
        elif part.isdigit():
            seeds.add(int(part))
        else:
            raise ValueError(f"expected seeds like '1..20' or '1,2,7', found {part!r}")
    return sorted(seeds)


def t95(df: int) -> float:
    return _T95[df - 1] if df <= len(_T95) else 1.96


def _run_one(job: tuple[Scenario, Path, bool, float]) -> dict:
    scenario, out, records, speed = job
    return run_to_directory(scenario, out, records=records, speed=speed).summary()


def sweep(scenario: Scenario, seeds: list[int], out: Path, *, jobs: int | None = None,
          records: bool = False, speed: float = 1.0) -> dict:
    """Run every seed into ``out/seed-<n>/`` and write ``out/sweep.json``; returns its content."""
    out.mkdir(parents=True, exist_ok=True)
    work = [(replace(scenario, seed=seed), out / f"seed-{seed}", records, speed)
            for seed in seeds]
    workers = max(1, min(jobs or os.cpu_count() or 1, len(work)))
    if workers == 1:
        summaries = [_run_one(job) for job in work]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            summaries = list(pool.map(_run_one, work))
    result = {
        "scenario": scenario.name,
        "seeds": seeds,
        "metrics": confidence_intervals(summaries),
    }
    (out / "sweep.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return result


def confidence_intervals(summaries: list[dict]) -> dict[str, dict[str, float]]:
    """Mean, sample standard deviation and 95 % CI half-width of every numeric metric."""
    columns: dict[str, list[float]] = {}
    for summary in summaries:
        for key, value in _numeric_leaves(summary):
            columns.setdefault(key, []).append(value)
    stats = {}
    for key, values in sorted(columns.items()):
        n = len(values)
        mean = math.fsum(values) / n
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
        half = t95(n - 1) * std / math.sqrt(n) if n > 1 else float("nan")
        stats[key] = {"n": n, "mean": mean, "std": std, "ci95": half}
    return stats


def _numeric_leaves(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _numeric_leaves(value, path + ".")
        elif isinstance(value, (int, float)) and not isinstance(value, bool) \
                and path not in _NOT_METRICS:
            yield path, float(value)


def format_sweep(result: dict) -> str:
    """The headline metrics of a sweep as 'mean ± ci95' lines."""
    wanted = re.compile(
        r"^(messages\.(delivered|lost_random|lost_to_faults|retransmissions)"
        r"|flows\..*\.(delivered|latency_ms\.(p50|p95|p99))|end_to_end_ms\..*\.(p50|p95))$"
    )
    rows = [(k, v) for k, v in result["metrics"].items() if wanted.match(k)]
    width = max((len(k) for k, _ in rows), default=10)
    lines = [f"{result['scenario']}: {len(result['seeds'])} seeds, mean ± 95% CI"]
    lines += [f"  {k.ljust(width)}  {v['mean']:14,.3f} ± {v['ci95']:,.3f}" for k, v in rows]
    return "\n".join(lines)
