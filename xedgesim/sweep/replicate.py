"""Replications (``xedge simulate --seeds``): one scenario under many seeds, 95 % CIs.

Runs with Docker services in the loop are statistical, and so is any question about a random
process; the honest answer is a mean with a confidence interval over independent seeds. Each
seed is a whole run directory (``seed-<n>/``, what ``xedge compare`` reads as a distribution);
a grid of scenarios is ``xedge sweep`` (:mod:`xedgesim.sweep.grid`), which shares the worker
pool and the statistics.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from xedgesim.errors import NodeFailure
from xedgesim.limits import MAX_JOBS
from xedgesim.report import write_json
from xedgesim.run import run_to_directory
from xedgesim.rundir import OutputError, RunIdentity, run_directory
from xedgesim.scenario.model import Scenario
from xedgesim.sim.pacing import DEFAULT_MAX_LAG_NS
from xedgesim.sweep.pool import STOP_GRACE_CONTAINERS_S, STOP_GRACE_S, run_tasks
from xedgesim.sweep.stats import confidence_intervals


@dataclass(frozen=True)
class _Job:
    """What every seed of a replication shares; a worker gets it once, then seeds one by one."""

    scenario: Scenario
    directory: Path
    records: bool
    speed: float
    max_lag_ns: int = DEFAULT_MAX_LAG_NS

    def run(self, seed: int) -> dict:
        """The summary of one seed; its failure says which seed it was."""
        scenario = replace(self.scenario, seed=seed)
        try:
            return run_to_directory(scenario, self.directory / f"seed-{seed}",
                                    records=self.records, speed=self.speed,
                                    max_lag_ns=self.max_lag_ns).summary()
        except (NodeFailure, OutputError) as error:
            raise type(error)(f"seed {seed}: {error}") from None

    def describe(self, seed: int) -> str:
        return f"seed {seed}"


def sweep(scenario: Scenario, seeds: list[int], out: Path, *, jobs: int | None = None,
          records: bool = False, speed: float = 1.0,
          max_lag_ns: int = DEFAULT_MAX_LAG_NS) -> dict:
    """Run every seed into ``out/seed-<n>/`` and write ``out/sweep.json``; returns its content.

    A paced seed whose p95 lag passes ``max_lag_ns`` is invalid (its own ``summary.json``
    says why); ``sweep.json`` lists the invalid seeds and is ``valid`` only when there are
    none. The sweep is still written whole: its directory shows what happened.

    The sweep is one run directory, written all or nothing: every seed runs inside its staging
    directory, so an error, Ctrl-C or SIGTERM leaves no ``seed-<n>/`` behind. With more than
    one job the seeds run in worker processes, each running seed after seed; with one job
    they run one after another in this process.
    """
    identity = RunIdentity("sweep", scenario.name, seeds=tuple(seeds))
    with run_directory(out, identity) as staging:
        job = _Job(scenario, staging, records, speed, max_lag_ns)
        workers = max(1, min(jobs or os.cpu_count() or 1, len(seeds), MAX_JOBS))
        containers = any(spec.implementation == "docker" for spec in scenario.nodes)
        grace = STOP_GRACE_CONTAINERS_S if containers else STOP_GRACE_S
        summaries = run_tasks(job, seeds, workers, grace)
        invalid = [seed for seed, summary in zip(seeds, summaries, strict=True)
                   if not summary.get("pacing", {}).get("valid", True)]
        result = {
            "scenario": scenario.name,
            "seeds": seeds,
            "valid": not invalid,
            "invalid_seeds": invalid,
            "metrics": confidence_intervals(summaries),
        }
        write_json(staging / "sweep.json", result)
    return result
