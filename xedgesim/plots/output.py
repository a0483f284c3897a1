"""Draw every figure of a run or a sweep, and put them in its ``plots/`` folder.

The figures are drawn in memory first; the run's marker then lists them (so the directory
stays one xedge made, which a later run may replace) and each PNG is written whole.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from xedgesim import atomic
from xedgesim.errors import BadInput
from xedgesim.plots import FIGURES
from xedgesim.plots.render import render
from xedgesim.plots.rundata import RunData, read_run, require_kind
from xedgesim.plots.sweepdata import SweepData, read_sweep
from xedgesim.rundir import record_outputs

PLOTS = "plots"


def read(directory: Path) -> RunData | SweepData:
    """A run's or a sweep's data, by the kind its marker names."""
    marker = require_kind(directory, ("run", "sweep"))
    return read_run(directory) if marker["kind"] == "run" else read_sweep(directory)


def draw_all(data: RunData | SweepData) -> list[tuple[str, str, bytes]]:
    """``(figure kind, file name, PNG)`` of every figure ``data`` has, in ``FIGURES`` order."""
    source = "run" if isinstance(data, RunData) else "sweep"
    images = []
    for kind, figure in FIGURES.items():
        if figure.source != source:
            continue
        module, _, function = figure.draw.partition(":")
        draw = getattr(importlib.import_module(module), function)
        images += [(kind, name, png) for name, png in render(draw, data)]
    return images


def write_plots(directory: Path) -> tuple[RunData | SweepData, list[Path]]:
    directory = Path(directory)
    data = read(directory)
    images = draw_all(data)
    folder = directory / PLOTS
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise BadInput(f"{folder} exists and is not a directory xedge made: move it away")
    record_outputs(directory, [f"{PLOTS}/{name}" for _, name, _ in images])
    folder.mkdir(exist_ok=True)
    return data, [atomic.write_bytes(folder / name, png) for _, name, png in images]
