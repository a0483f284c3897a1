"""``xedge sweep``: a grid of scenario values × seeds, on local processes or a Dask cluster."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from xedgesim.limits import MAX_GRID_PARAMETERS, MAX_JOBS, MAX_SWEEP_TASKS


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--set", "settings", metavar="PATH=V1,V2,…", multiple=True,
              help="A parameter: a path into the scenario and its values, e.g. "
                   "network.default.loss=0,0.01 or nodes.sensors.count=100,1000. Repeatable "
                   f"(at most {MAX_GRID_PARAMETERS}); the grid is every combination.")
@click.option("--grid", "grid_file", type=click.Path(path_type=Path), metavar="FILE",
              help="Parameters from a YAML file, one 'PATH: [values]' per line.")
@click.option("--seeds", "seed_spec", metavar="SPEC",
              help=f"Seeds of every point, e.g. 1..10 or 1,4,9 [default: the scenario's]. "
                   f"Points × seeds is at most {MAX_SWEEP_TASKS:,}.")
@click.option("--out", type=click.Path(path_type=Path),
              help="Sweep directory [default: runs/<scenario>-grid/]. An interrupted sweep "
                   "there is resumed; a finished one is replaced only if xedge made it.")
@click.option("--jobs", type=click.IntRange(1, MAX_JOBS),
              help=f"Local worker processes (1..{MAX_JOBS}) [default: one per CPU].")
@click.option("--cluster", metavar="ADDRESS",
              help="Run on Dask: tcp://HOST:8786 (a running scheduler) or local:N (a "
                   "LocalCluster of N workers, started for the sweep).")
@click.option("--progress/--no-progress", default=None,
              help="Progress line with runs done and ETA [default: when stderr is a terminal].")
@click.option("--quiet", "-q", is_flag=True, help="Print no summary.")
def sweep(file: Path, settings: tuple[str, ...], grid_file: Path | None, seed_spec: str | None,
          out: Path | None, jobs: int | None, cluster: str | None, progress: bool | None,
          quiet: bool) -> None:
    """Run a scenario over a grid of values and seeds; write tidy tables of the results.

    Every point is checked as `xedge validate` checks a file before anything runs. Ctrl-C
    stops every worker and keeps the finished runs: the same command resumes.

    \b
    Examples:
      xedge sweep scenarios/quickstart.yaml --set network.default.loss=0,0.01,0.05 --seeds 1..10
      xedge sweep S.yaml --grid grid.yaml --cluster tcp://10.0.0.5:8786 --out runs/grid
    """
    from xedgesim.interrupts import signals_as_interrupt

    with signals_as_interrupt():
        try:
            _sweep(file, settings, grid_file, seed_spec, out, jobs, cluster, progress, quiet)
        except KeyboardInterrupt as error:
            from xedgesim.interrupts import exit_code, signal_name

            partial = getattr(error, "partial", None)
            if partial is None:
                what = "nothing was written"
            else:
                done, total, where = partial
                what = (f"{done} of {total} runs are kept in {where}/; the same command "
                        "resumes the sweep")
            click.echo(f"interrupted ({signal_name(error)}): {what}", err=True)
            sys.exit(exit_code(error))


def _sweep(file: Path, settings: tuple[str, ...], grid_file: Path | None,
           seed_spec: str | None, out: Path | None, jobs: int | None, cluster: str | None,
           progress: bool | None, quiet: bool) -> None:
    from xedgesim.errors import BadInput
    from xedgesim.scenario import ScenarioError, load_scenario
    from xedgesim.sweep.executors import executor_for
    from xedgesim.sweep.grid import option_parameter, read_grid
    from xedgesim.sweep.runner import run_sweep
    from xedgesim.sweep.stats import parse_seeds

    executor = executor_for(cluster, jobs)
    parameters = [option_parameter(setting) for setting in settings]
    if grid_file is not None:
        parameters += read_grid(grid_file)
    try:
        scenario = load_scenario(file)
    except ScenarioError as error:
        count = len(error.problems)
        raise BadInput(f"{error.report()}\n{file}: {count} problem{'s' if count != 1 else ''}"
                       ", nothing was run") from None
    if seed_spec is not None:
        try:
            seeds = parse_seeds(seed_spec)
        except ValueError as error:
            raise BadInput(f"--seeds: {error}") from None
    else:
        seeds = [scenario.seed]
    out = out or Path("runs") / f"{scenario.name}-grid"
    show = sys.stderr.isatty() if progress is None else progress
    if not quiet:
        click.echo(f"sweep of {file}: {_size(parameters)} point(s) × {len(seeds)} seed(s) on "
                   f"{executor.describe()}", err=True)
    outcome = run_sweep(file, parameters, seeds, out, executor, progress=show,
                        note=lambda text: click.echo(f"note: {text}", err=True))
    if not quiet:
        document = outcome.document
        click.echo(f"{len(document['points'])} points × {len(seeds)} seeds = "
                   f"{document['runs']} runs ({outcome.ran} run now); results in {out}/ "
                   "(runs.parquet, points.parquet, their .csv, sweep.json)")


def _size(parameters: list) -> int:
    count = 1
    for parameter in parameters:
        count *= len(parameter.values)
    return count
