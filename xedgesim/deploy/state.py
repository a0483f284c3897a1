"""The state file of a stage run: which steps ran and how, and what the fleet is made of.

Like Molecule's state file, it is what lets each step run alone against a kept fleet
(``xedge stage --out runs/stage-… --step verify``): the step finds the inventory, the secrets
file (by path only), the release and the fleet's containers here. It is rewritten atomically
after every change, so a run killed at any moment leaves a readable record of what exists.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xedgesim import atomic
from xedgesim.deploy.errors import UsageError

FILE_NAME = "state.json"
STEPS = ("create", "converge", "idempotence", "verify", "workload", "parity", "destroy")


@dataclass
class StepRecord:
    status: str  # running | passed | failed | interrupted | skipped
    started: float
    seconds: float | None = None
    summary: str = ""


@dataclass
class StageState:
    run_dir: str
    run_id: str
    hosts: int
    arch: str
    local_fleet: bool  # False: staged onto an existing inventory
    inventory: str = ""
    overlays: list[str] = field(default_factory=list)
    secrets: str | None = None  # a path; the values are never here
    release: dict[str, Any] | None = None  # {arch: {name: {tag, id}}}
    scenario: str | None = None  # --scenario: the workload step runs it against the fleet
    tolerance: str | None = None  # --tolerance: the parity step's compare tolerance file
    # --scenario and --tolerance as the user wrote them (the two above are absolute, so a later
    # --step finds the files from any directory): what the manifest's parity record shows
    as_written: dict[str, str] = field(default_factory=dict)
    parity_seeds: int = 3  # --parity-seeds: seeds of the simulation the parity step runs
    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    steps: dict[str, StepRecord] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)  # per step, JSON-ready

    @property
    def path(self) -> Path:
        return Path(self.run_dir) / FILE_NAME

    def save(self) -> None:
        atomic.write_json(self.path, asdict(self), mode=0o600)

    def begin(self, step: str) -> None:
        self.steps[step] = StepRecord("running", time.time())
        self.save()

    def end(self, step: str, status: str, summary: str = "") -> StepRecord:
        record = self.steps.get(step) or StepRecord(status, time.time())
        record.status = status
        record.seconds = round(time.time() - record.started, 3)
        record.summary = summary
        self.steps[step] = record
        self.save()
        return record

    def ran(self, step: str) -> bool:
        record = self.steps.get(step)
        return record is not None and record.status == "passed"

    @property
    def fleet_exists(self) -> bool:
        return bool(self.containers)


def load(run_dir: Path) -> StageState:
    """The state of an earlier stage run, or UsageError when ``run_dir`` is not one."""
    path = run_dir / FILE_NAME
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{run_dir} is not a stage run (no {FILE_NAME})") from None
    except (OSError, ValueError) as error:
        raise UsageError(f"{path} is unreadable: {error}") from None
    steps = {name: StepRecord(**record) for name, record in data.pop("steps", {}).items()}
    return StageState(**data, steps=steps)

