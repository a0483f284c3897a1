"""``xedge simulate`` for one seed: load, run, write the run directory, all or nothing."""

from __future__ import annotations

from pathlib import Path

from xedgesim.progress import ProgressBar
from xedgesim.report import RecordWriter, write_run
from xedgesim.rundir import RunIdentity, run_directory
from xedgesim.scenario.model import Scenario
from xedgesim.sim.pacing import DEFAULT_MAX_LAG_NS
from xedgesim.simulation import RunResult, simulate


def default_out(scenario: Scenario) -> Path:
    return Path("runs") / f"{scenario.name}-{scenario.seed}"


def run_to_directory(
    scenario: Scenario,
    out: Path,
    *,
    records: bool = False,
    progress: ProgressBar | None = None,
    speed: float = 1.0,
    max_lag_ns: int = DEFAULT_MAX_LAG_NS,
) -> RunResult:
    """Simulate ``scenario`` and replace ``out`` with the results only if the run completes."""
    identity = RunIdentity("run", scenario.name, seed=scenario.seed)
    with run_directory(out, identity) as staging:
        options = {"progress": progress, "log_dir": staging / "logs", "speed": speed,
                   "max_lag_ns": max_lag_ns}
        try:
            if records:
                with open(staging / "records.csv", "w", newline="") as handle:
                    result = simulate(scenario, recorder=RecordWriter(handle), **options)
            else:
                result = simulate(scenario, **options)
        finally:
            if progress is not None:
                progress.close()
        write_run(staging, result)
    return result
