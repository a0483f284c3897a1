"""One task of a sweep, (point, seed): what a worker needs to run it, anywhere.

A task carries its point's whole scenario text, so a worker on another machine needs only
xedgesim, not the user's files; it returns the exact bytes ``xedge simulate`` of that point
with ``--seed`` writes as ``summary.json``. That is what makes a sweep's result the same
whichever executor ran it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
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
        result = simulate(scenario, progress=_stop_when_cancelled())
    except NodeFailure as error:
        raise NodeFailure(f"{task.describe()}: {error}") from None
    return json_text(finite_or_null(result.summary()))


class Cancelled(Exception):
    """The sweep that wanted this task is gone (Ctrl-C): its Dask worker stops running it."""


def _stop_when_cancelled() -> Callable[[int, int], None] | None:
    """On a Dask worker, a check the run makes every quarter second of wall time: a task the
    client cancelled stops there, instead of running on for nobody (a thread cannot be
    killed). Elsewhere (local processes, which are stopped by signals) nothing."""
    if "distributed" not in sys.modules:
        return None
    from distributed import get_worker
    from distributed.worker import thread_state

    try:
        worker = get_worker()
        key = thread_state.key
    except (ValueError, AttributeError):  # not in a worker's task
        return None

    def check(now_ns: int, events: int) -> None:
        state = worker.state.tasks.get(key)
        if state is None or state.state in ("cancelled", "released", "forgotten"):
            raise Cancelled(key)

    return check


@dataclass(frozen=True)
class TaskJob:
    """The local pool's job for sweep tasks (:mod:`xedgesim.sweep.pool`)."""

    def run(self, task: Task) -> str:
        return execute(task)

    def describe(self, task: Task) -> str:
        return task.describe()
