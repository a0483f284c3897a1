"""``xedge sweep``: the grid's points × seeds run on an executor, kept as they finish, then
written as one directory (all or nothing, :mod:`xedgesim.rundir`).

Layout of the sweep's directory:

* ``sweep.json``, ``runs.parquet``/``.csv``, ``points.parquet``/``.csv`` (:mod:`.tables`);
* ``points/<id>.yaml`` — each point's whole scenario;
* ``summaries/<id>/seed-<k>.json`` — each run's ``summary.json``, byte for byte what
  ``xedge simulate points/<id>.yaml --seed k`` writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from xedgesim import __version__
from xedgesim.errors import XedgeError
from xedgesim.progress import TaskProgress
from xedgesim.rundir import RunIdentity, check_target, run_directory
from xedgesim.sweep.executors import Executor
from xedgesim.sweep.grid import Grid, Parameter, build_points, identity
from xedgesim.sweep.store import Store
from xedgesim.sweep.tables import metrics_of, write_tables
from xedgesim.sweep.task import Task


@dataclass
class Outcome:
    document: dict  # sweep.json
    ran: int  # tasks run now (the rest came from the store of an interrupted run)


def run_sweep(scenario_file: Path, parameters: list[Parameter], seeds: list[int], out: Path,
              executor: Executor, *, progress: bool = False,
              note: Callable[[str], None] = lambda text: None) -> Outcome:
    """Check everything, run the tasks not already in the store, write ``out``.

    Ctrl-C or SIGTERM stop the executor (its workers, or the cluster's tasks) and leave the
    finished tasks in the store; the ``Interrupted`` raised then carries ``partial``: (done,
    total, store path), or ``None`` when nothing was kept.
    """
    grid = build_points(scenario_file, parameters, len(seeds))
    points = grid.points
    check_target(out)
    tasks = [Task(point.id, seed, point.text) for point in points for seed in seeds]
    plan = identity(points, seeds, grid.sha256, __version__)
    store = Store(out, plan, [task.name for task in tasks]).open()
    if store.note:
        note(store.note)
    missing = [task for task in tasks if task.name not in store.done]
    if len(missing) < len(tasks):
        note(f"resuming: {len(tasks) - len(missing)} of {len(tasks)} runs were done already "
             f"({store.path})")
    bar = TaskProgress(len(tasks), done=len(tasks) - len(missing)) if progress else None

    def finished(task: Task, text: str) -> None:
        store.put(task.name, text)
        if bar is not None:
            bar()

    try:
        if missing:
            executor.run(missing, finished)
        document = _write(out, grid, parameters, seeds, store, scenario_file)
    except KeyboardInterrupt as error:
        store.abandon()
        error.partial = (len(store.done), len(tasks), store.path) if store.done else None
        raise
    except XedgeError as error:  # a run failed: the others' results stay for a rerun
        store.abandon()
        if store.done:
            error.note = (f"{len(store.done)} of {len(tasks)} runs are kept in {store.path}/; "
                          "the same command runs only the others")
        raise
    finally:
        if bar is not None:
            bar.close()
    store.remove()
    return Outcome(document, len(missing))



def _write(out: Path, grid: Grid, parameters: list[Parameter], seeds: list[int], store: Store,
           scenario_file: Path) -> dict:
    """The sweep's directory from the store, all or nothing; returns ``sweep.json``. Its files
    are plain writes: the directory as a whole is renamed into place once complete."""
    identity_of_run = RunIdentity("sweep", grid.scenario, seeds=tuple(seeds))
    with run_directory(out, identity_of_run) as staging:
        metrics = {}
        (staging / "points").mkdir()
        (staging / "summaries").mkdir()
        for point in grid.points:
            (staging / point.file).write_text(point.text, encoding="utf-8")
            (staging / "summaries" / point.id).mkdir()
            for seed in seeds:
                text = store.get(f"{point.id}-seed-{seed}")
                (staging / "summaries" / point.id / f"seed-{seed}.json").write_text(
                    text, encoding="utf-8")
                metrics[point.id, seed] = metrics_of(text)
        scenario = {"name": grid.scenario, "file": str(scenario_file), "sha256": grid.sha256}
        return write_tables(staging, parameters, grid.points, seeds, metrics, scenario)
