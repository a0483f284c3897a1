"""One task of a sweep, (point, seed): what a worker needs to run it, anywhere.

A task carries its point's whole scenario text, so a worker on another machine needs only
xedgesim, not the user's files; it returns the exact bytes ``xedge simulate`` of that point
with ``--seed`` writes as ``summary.json``. That is what makes a sweep's result the same
whichever executor ran it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from xedgesim.errors import NodeFailure


@dataclass(frozen=True)
class Task:
    point: str
    seed: int
    text: str  # the point's scenario

    @property
    def name(self) -> str:
        """The task's name, also its file in the store: ``<point>-seed-<k>``."""
        return f"{self.point}-seed-{self.seed}"

    def describe(self) -> str:
        return f"point {self.point}, seed {self.seed}"


def execute(task: Task) -> str:
    """The ``summary.json`` text of one task; a node's failure names the task."""
    from xedgesim.atomic import json_text
    from xedgesim.report import finite_or_null
    from xedgesim.scenario import load_scenario_text
    from xedgesim.simulation import simulate

    scenario = replace(load_scenario_text(task.text, f"points/{task.point}.yaml"),
                       seed=task.seed)
    try:
        result = simulate(scenario)
    except NodeFailure as error:
        raise NodeFailure(f"{task.describe()}: {error}") from None
    return json_text(finite_or_null(result.summary()))


@dataclass(frozen=True)
class TaskJob:
    """The local pool's job for sweep tasks (:mod:`xedgesim.sweep.pool`)."""

    def run(self, task: Task) -> str:
        return execute(task)

    def describe(self, task: Task) -> str:
        return task.describe()
