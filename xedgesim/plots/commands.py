"""``xedge plot`` and ``xedge report``: thin wrappers; matplotlib is imported when they run."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("directory", type=click.Path(path_type=Path))
def plot(directory: Path) -> None:
    """Draw a run's or a sweep's figures as PNGs in DIRECTORY/plots/.

    A run: latency CDF per flow, delivered and lost per second (fault windows shaded), queue
    length of bandwidth-limited links. A sweep: each metric's mean and 95 % CI against each
    swept parameter. The same run gives the same PNG bytes.

    \b
    Examples:
      xedge plot runs/quickstart-42
      xedge plot runs/quickstart-sweep
    """
    from xedgesim.interrupts import signals_as_interrupt
    from xedgesim.plots.output import write_plots

    with signals_as_interrupt():
        try:
            data, paths = write_plots(directory)
        except KeyboardInterrupt as error:
            _interrupted(error)
    for note in getattr(data, "notes", []):
        click.echo(f"note: {note}", err=True)
    for path in paths:
        click.echo(str(path))


@click.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path),
              help="The HTML file to write [default: DIRECTORY/report.html].")
def report(directory: Path, out: Path | None) -> None:
    """Write one self-contained HTML report of a run or a sweep (opens offline).

    Figures embedded, the summary table, the scenario and where the results come from.

    \b
    Examples:
      xedge report runs/quickstart-42
      xedge report runs/quickstart-sweep --out qs.html
    """
    from xedgesim import atomic
    from xedgesim.errors import BadInput
    from xedgesim.interrupts import signals_as_interrupt
    from xedgesim.plots.html import default_path, render_report
    from xedgesim.plots.output import draw_all, read
    from xedgesim.rundir import record_outputs

    target = out if out is not None else default_path(directory)
    with signals_as_interrupt():
        try:
            data = read(directory)
            if target.is_dir() or target.is_symlink():
                raise BadInput(f"--out {target} is a directory or a symbolic link: give the "
                               "name of an HTML file")
            if not target.parent.is_dir():
                raise BadInput(f"--out {target}: {target.parent} is not a directory")
            text = render_report(data, draw_all(data))
            inside = _inside(Path(directory), target)
            if inside is not None:
                record_outputs(Path(directory), [inside])
            atomic.write_text(target, text)
        except KeyboardInterrupt as error:
            _interrupted(error)
    for note in getattr(data, "notes", []):
        click.echo(f"note: {note}", err=True)
    click.echo(str(target))


def _inside(directory: Path, target: Path) -> str | None:
    """``target``'s name relative to the run ``directory`` when it is in it, else None."""
    try:
        relative = target.resolve().relative_to(directory.resolve())
    except (ValueError, OSError):
        return None
    return relative.as_posix()


def _interrupted(error: KeyboardInterrupt) -> None:
    import sys

    from xedgesim.interrupts import exit_code, signal_name

    click.echo(f"interrupted ({signal_name(error)}): nothing more was written", err=True)
    sys.exit(exit_code(error))
