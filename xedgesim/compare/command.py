"""``xedge compare``: parse options, call ``run_compare``, map its outcome to an exit code."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from xedgesim import units
from xedgesim.compare.report import (
    check_outputs,
    format_table,
    json_bytes,
    junit_xml,
    write_whole,
)
from xedgesim.compare.runs import read_run
from xedgesim.compare.tolerances import Tolerances, load_tolerances
from xedgesim.compare.verdicts import Comparison
from xedgesim.compare.verdicts import compare as judge
from xedgesim.interrupts import exit_code, signal_name, signals_as_interrupt

EXIT_BREACH = 1


def run_compare(run_a: Path, run_b: Path, *, tolerance: Path | None = None,
                window_s: float | None = None, junit: Path | None = None,
                json_path: Path | None = None,
                written: list[Path] | None = None) -> tuple[Comparison, list[str]]:
    """Read both runs, judge them, write the requested reports; (comparison, notes).

    Every input is read and every output checked before anything is written, so bad input
    leaves no report behind; a breach still writes both. ``written`` collects each report as
    it lands, for the message when a signal stops the command between the two.
    """
    a, b = read_run(run_a), read_run(run_b)
    tolerances = load_tolerances(tolerance) if tolerance is not None else Tolerances()
    check_outputs({"--junit": junit, "--json": json_path},
                  [*a.files, *b.files, *([tolerance] if tolerance else [])])
    comparison = judge(a, b, tolerances, window_s)
    notes = [f"{rule.where}: note: {rule.pattern!r} matches no metric"
             for rule in tolerances.unused()]
    written = [] if written is None else written
    for option, path, render in (("--junit", junit, junit_xml), ("--json", json_path, json_bytes)):
        if path is not None:
            write_whole(path, render(comparison), option)
            written.append(path)
    return comparison, notes


def _window(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        ns = units.parse_duration(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    if ns <= 0:
        raise click.BadParameter("must be longer than 0")
    return ns / units.NS_PER_S


@click.command()
@click.argument("run_a", type=click.Path(path_type=Path))
@click.argument("run_b", type=click.Path(path_type=Path))
@click.option("--tolerance", type=click.Path(path_type=Path), metavar="FILE",
              help="YAML overrides per metric (globs), see docs/parity.md.")
@click.option("--window", callback=_window, metavar="DURATION",
              help="The aggregation window counts are allowed to differ by, e.g. 10s "
                   "[default: the largest the runs record].")
@click.option("--junit", type=click.Path(path_type=Path), metavar="FILE",
              help="Write JUnit XML, one testcase per metric.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), metavar="FILE",
              help="Write the verdicts and their numbers as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the breaches and the last line.")
def compare(run_a: Path, run_b: Path, tolerance: Path | None, window: float | None,
            junit: Path | None, json_path: Path | None, quiet: bool) -> None:
    """Compare two runs metric by metric; exit 1 on any breach, 2 on bad input.

    A run is a run directory (summary.json) or a sweep directory (xedge simulate --seeds, or
    one point of xedge sweep: SWEEP/summaries/<point>), which is judged as a distribution: is
    the other run inside its 99% prediction interval?

    \b
    Examples:
      xedge compare runs/quickstart-1 runs/quickstart-2 --window 10s
      xedge compare runs/qs-sweep runs/fleet --junit compare.xml --json compare.json
    """
    written: list[Path] = []
    with signals_as_interrupt():
        try:
            comparison, notes = run_compare(run_a, run_b, tolerance=tolerance, window_s=window,
                                            junit=junit, json_path=json_path, written=written)
        except KeyboardInterrupt as error:
            done = f"{' and '.join(map(str, written))} written whole, nothing else" if written \
                else "no report was written"
            click.echo(f"interrupted ({signal_name(error)}): {done}", err=True)
            sys.exit(exit_code(error))
    for note in notes:
        click.echo(note, err=True)
    lines = format_table(comparison).splitlines()
    if quiet:
        lines = [line for line in lines[:-1] if line.startswith("BREACH")] + lines[-1:]
    click.echo("\n".join(lines))
    if not comparison.passed:
        sys.exit(EXIT_BREACH)
