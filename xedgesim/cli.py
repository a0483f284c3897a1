"""The ``xedge`` command: thin wrappers that parse options and call one function each.

Every known error is an ``XedgeError`` (xedgesim/errors.py) and is reported in one place,
``LazyGroup.invoke``: ``error: <message>`` on stderr and the error's exit code (1 failed,
2 bad input), no traceback. Nothing here is logic a test would have to drive through the
command line to reach. Command groups that need heavy imports (the docker
SDK, ansible-runner) are loaded only when invoked, so ``xedge --help`` and ``xedge simulate``
stay fast.
"""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path
from typing import NoReturn

import click

from xedgesim import __version__
from xedgesim.errors import EXIT_BAD_INPUT, EXIT_FAILED, BadInput, XedgeError
from xedgesim.limits import MAX_JOBS, MAX_SEED, MAX_SEEDS, MAX_SPEED, MIN_SPEED

LAZY_COMMANDS: dict[str, str] = {
    "images": "xedgesim.images.commands:images",
    "stage": "xedgesim.deploy.commands:stage",
    "deploy": "xedgesim.deploy.commands:deploy",
    "verify": "xedgesim.deploy.commands:verify",
    "releases": "xedgesim.deploy.commands:releases",
    "compare": "xedgesim.compare.command:compare",
    "sweep": "xedgesim.sweep.command:sweep",
    "calibrate": "xedgesim.calibrate.command:calibrate_command",
    "plot": "xedgesim.plots.commands:plot",
    "report": "xedgesim.plots.commands:report",
}


class LazyGroup(click.Group):
    """A group whose heavier subcommands are imported by dotted path on first use, and the one
    place an ``XedgeError`` from any command becomes its message and exit code."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except XedgeError as error:
            click.echo(f"error: {error.message}", err=True)
            ctx.exit(error.exit_code)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS:
            module_name, _, attribute = LAZY_COMMANDS[name].partition(":")
            return getattr(importlib.import_module(module_name), attribute)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="xedge")
def main() -> None:
    """Simulate an edge/IoT system deterministically, then ship the same images to a fleet.

    \b
    Start with:
      xedge simulate scenarios/quickstart.yaml
    """


def _load_or_report(path: Path, after_problems: str = "", network: Path | None = None):
    """The scenario (with the ``network`` overlay merged in), with its notices on stderr; or
    None once every problem is printed."""
    from xedgesim.scenario import ScenarioError, load_scenario

    try:
        scenario = load_scenario(path) if network is None else load_scenario(path, network)
    except ScenarioError as error:
        click.echo(error.report(), err=True)
        count = len(error.problems)
        click.echo(f"{path}: {count} problem{'s' if count != 1 else ''}{after_problems}",
                   err=True)
        return None
    for notice in scenario.notices:
        click.echo(f"{path}: note: {notice}", err=True)
    return scenario


def _load(path: Path, network: Path | None = None):
    """Load a scenario or exit 2 with every problem listed."""
    scenario = _load_or_report(path, ", nothing was run", network)
    if scenario is None:
        sys.exit(EXIT_BAD_INPUT)
    return scenario


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--network", type=click.Path(path_type=Path), metavar="FILE",
              help="A network overlay (xedge calibrate writes one) to check merged into each "
                   "scenario, as simulate --network would run it.")
def validate(files: tuple[Path, ...], network: Path | None) -> None:
    """Check scenario files and report every problem with file:line:col.

    \b
    Examples:
      xedge validate scenarios/quickstart.yaml
      xedge validate scenarios/quickstart.yaml --network links.yaml
    """
    from xedgesim.interrupts import signals_as_interrupt

    failed = False
    with signals_as_interrupt():
        try:
            for path in files:
                scenario = _load_or_report(path, network=network)
                if scenario is None:
                    failed = True
                    continue
                instances = sum(spec.count for spec in scenario.nodes)
                click.echo(f"{path}: ok ({len(scenario.nodes)} nodes, {instances} instances, "
                           f"{scenario.duration_ns / 1e9:g}s)")
        except KeyboardInterrupt as error:
            _interrupted(error, "validation stopped")
    if failed:
        sys.exit(EXIT_BAD_INPUT)


def _interrupted(error: KeyboardInterrupt, what: str) -> NoReturn:
    """One line and the signal's exit status (130 for Ctrl-C, 143 for SIGTERM)."""
    from xedgesim.interrupts import exit_code, signal_name

    click.echo(f"interrupted ({signal_name(error)}): {what}", err=True)
    sys.exit(exit_code(error))


def positive_duration(ctx: click.Context, param: click.Parameter,
                       value: str | None) -> int | None:
    """A duration option in nanoseconds, above zero; bad input names the option (exit 2).
    Shared by every command with a duration option (simulate's ``--max-lag``, verify's
    ``--duration``), so they word a mistake the same way."""
    from xedgesim.units import UnitError, parse_duration

    if value is None:
        return None
    try:
        ns = parse_duration(value)
    except UnitError as error:
        raise click.BadParameter(str(error)) from None
    if ns <= 0:
        raise click.BadParameter(f"must be above 0, found {value!r}")
    return ns


class _Speed(click.ParamType):
    """A finite speed factor within the documented bounds: ``nan`` and ``inf`` are refused
    (``inf`` would silently turn pacing off, ``nan`` would compare false everywhere)."""

    name = "float"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not (math.isfinite(number) and MIN_SPEED <= number <= MAX_SPEED):
            self.fail(f"{value} is not a speed factor between {MIN_SPEED:g} and {MAX_SPEED:g} "
                      "(virtual seconds per wall second)", param, ctx)
        return number


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path),
              help="Run directory [default: runs/<scenario>-<seed>/, or runs/<scenario>-sweep/]. "
                   "An existing one is replaced only if xedge made it.")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), help="Override the scenario's seed.")
@click.option("--seeds", "seed_spec", metavar="SPEC",
              help=f"Replicate over seeds, e.g. 1..20 or 1,4,9 (at most {MAX_SEEDS:,}); "
                   "reports mean and 95% CI.")
@click.option("--jobs", type=click.IntRange(1, MAX_JOBS),
              help=f"Worker processes for --seeds (1..{MAX_JOBS}) [default: one per CPU].")
@click.option("--records", is_flag=True, help="Also write records.csv, one row per message.")
@click.option("--quiet", "-q", is_flag=True, help="Print no summary table.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar for long runs [default: when stderr is a terminal].")
@click.option("--speed", type=_Speed(), default=1.0, show_default=True,
              help="With wall-clock services (a docker broker): virtual seconds per wall second.")
@click.option("--max-lag", "max_lag_ns", metavar="DURATION", callback=positive_duration,
              help="With wall-clock services: the bound on the p95 lag; a run past it is "
                   "written, marked invalid, and exits 1 [default: 100ms].")
@click.option("--network", type=click.Path(path_type=Path), metavar="FILE",
              help="A network overlay (xedge calibrate writes one) merged into the scenario's "
                   "network: section.")
def simulate(file: Path, out: Path | None, seed: int | None, seed_spec: str | None,
             jobs: int | None, records: bool, quiet: bool, progress: bool | None,
             speed: float, max_lag_ns: int | None, network: Path | None) -> None:
    """Run a scenario under the virtual-time coordinator and write its metrics.

    Ctrl-C and SIGTERM stop the run (and a sweep's workers) and write nothing: exit 130/143.

    \b
    Examples:
      xedge simulate scenarios/quickstart.yaml
      xedge simulate scenarios/quickstart.yaml --seeds 1..20 --out runs/qs-sweep
    """
    from xedgesim.interrupts import signals_as_interrupt

    if seed_spec is not None and seed is not None:
        _usage("--seed and --seeds cannot be used together: --seeds gives every seed to run")
    if seed_spec is None and jobs is not None:
        _usage("--jobs applies to --seeds only: a single run is one process")
    if seed_spec is not None and progress:
        _usage("--progress applies to a single run: a sweep prints its result at the end")
    with signals_as_interrupt():
        try:
            _simulate(file, out, seed, seed_spec, jobs, records, quiet, progress, speed,
                      max_lag_ns, network)
        except KeyboardInterrupt as error:
            kept = getattr(error, "kept", None)
            _interrupted(error, f"{kept}/ was already complete and is kept" if kept
                         else "nothing was written")


def _simulate(file: Path, out: Path | None, seed: int | None, seed_spec: str | None,
              jobs: int | None, records: bool, quiet: bool, progress: bool | None,
              speed: float, max_lag_ns: int | None, network: Path | None = None) -> None:
    from dataclasses import replace

    from xedgesim.errors import NodeFailure
    from xedgesim.report import format_summary
    from xedgesim.run import default_out, run_to_directory
    from xedgesim.sim.pacing import DEFAULT_MAX_LAG_NS, invalid_message

    seeds = _parse_seeds(seed_spec) if seed_spec is not None else None
    scenario = _load(file, network)
    if seed is not None:
        scenario = replace(scenario, seed=seed)
    try:
        if seeds is not None:
            _sweep(scenario, seeds, out, jobs, records, quiet, speed,
                   max_lag_ns or DEFAULT_MAX_LAG_NS)
            return
        out = out or default_out(scenario)
        show_progress = sys.stderr.isatty() if progress is None else progress
        bar = None
        if show_progress:
            from xedgesim.progress import ProgressBar

            bar = ProgressBar(scenario.duration_ns)
        result = run_to_directory(scenario, out, records=records, progress=bar, speed=speed,
                                  max_lag_ns=max_lag_ns or DEFAULT_MAX_LAG_NS)
    except NodeFailure as error:
        error.note = "the run stopped; no container is left and nothing was written"
        raise
    if not quiet:
        click.echo(format_summary(result, out))
    if result.pacing is not None and not result.pacing["valid"]:
        click.echo(f"error: {invalid_message(result.pacing)}; results in {out}/", err=True)
        sys.exit(EXIT_FAILED)


def _usage(message: str) -> NoReturn:
    raise BadInput(message)


def _parse_seeds(spec: str) -> list[int]:
    from xedgesim.sweep import parse_seeds

    try:
        return parse_seeds(spec)
    except ValueError as error:
        _usage(f"--seeds: {error}")


@main.command()
@click.option("--all", "include_live", is_flag=True,
              help="Also remove runs that are still going or not provably dead (another "
                   "host's).")
@click.option("--run", "run_id", metavar="ID",
              help="Only this run's containers, networks and volumes (its run label).")
def clean(include_live: bool, run_id: str | None) -> None:
    """Remove containers and networks left by this machine's runs that were killed outright.

    Runs remove their own containers on success, on failure and on Ctrl-C; this is for a run
    killed with SIGKILL or a machine that lost power. Runs still going are spared, and so are
    runs labelled with another hostname (another job sharing the Docker socket).
    """
    from xedgesim.docker.containers import remove_leftovers

    removed = remove_leftovers(include_live=include_live, run=run_id)
    for name in removed:
        click.echo(f"removed {name}")
    click.echo(f"{len(removed)} leftover{'s' if len(removed) != 1 else ''} removed")


def _sweep(scenario, seeds: list[int], out: Path | None, jobs: int | None, records: bool,
           quiet: bool, speed: float, max_lag_ns: int) -> None:
    from xedgesim.sweep import format_sweep, invalid_sweep_message, sweep

    out = out or Path("runs") / f"{scenario.name}-sweep"
    result = sweep(scenario, seeds, out, jobs=jobs, records=records, speed=speed,
                   max_lag_ns=max_lag_ns)
    if not quiet:
        click.echo(format_sweep(result))
        click.echo(f"results in {out}/ (sweep.json, one directory per seed)")
    if not result["valid"]:
        click.echo(f"error: {invalid_sweep_message(result, max_lag_ns)}; results in {out}/",
                   err=True)
        sys.exit(EXIT_FAILED)
