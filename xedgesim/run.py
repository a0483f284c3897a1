"""``xedge simulate`` for one seed: load, run, write the run directory, all or nothing."""

from __future__ import annotations

from pathlib import Path

from xedgesim.progress import ProgressBar
from xedgesim.report import RecordWriter, run_directory, write_run
from xedgesim.scenario.model import Scenario
from xedgesim.simulation import RunResult, simulate


def default_out(scenario: Scenario) -> Path:
    return Path("runs") / f"{scenario.name}-{scenario.seed}"


def run_to_directory(
    scenario: Scenario, out: Path, *, records: bool = False, progress: ProgressBar | None = None
) -> RunResult:
    """Simulate ``scenario`` and replace ``out`` with the results only if the run completes."""
    with run_directory(out) as staging:
        if records:
            with open(staging / "records.csv", "w") as handle:
                recorder = RecordWriter(handle)
                result = simulate(scenario, recorder=recorder, progress=progress)
        else:
            result = simulate(scenario, progress=progress)
        if progress is not None:
            progress.close()
        write_run(staging, result)
    return result
