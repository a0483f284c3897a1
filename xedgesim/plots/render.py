"""Drawing with matplotlib so that the same data gives the same PNG bytes.

No pyplot (no global figure state, no GUI backend): a ``Figure`` on an Agg canvas. The style
starts from matplotlib's built-in defaults, not the user's matplotlibrc, with the DejaVu Sans
font matplotlib ships; the PNG carries no ``Software`` entry (its version) and Agg writes no
timestamp. matplotlib is imported here and in the figure modules only.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STYLE: dict[str, object] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.formatter.useoffset": False,  # 12,001 is clearer than 1 with "+1.2e4" above
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "svg.hashsalt": "xedgesim",  # for an SVG someone makes from these figures: stable ids
}
WIDTH_IN = 9.0
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22", "#17becf")
LOSS_COLORS = {"random": "#d62728", "link_down": "#9467bd", "partition": "#8c564b",
               "node_down": "#ff7f0e", "battery": "#bcbd22", "overflow": "#17becf"}
FAULT_COLOR = "#7f7f7f"


@contextmanager
def style() -> Iterator[None]:
    """matplotlib's defaults plus ``STYLE``, whatever the user's matplotlibrc says."""
    import matplotlib

    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(STYLE)
        yield


def new_figure(height_in: float, width_in: float = WIDTH_IN) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def render(draw: Callable[[object], list[tuple[str, Figure]]],
           data: object) -> list[tuple[str, bytes]]:
    """``draw(data)``'s figures as ``(file name, PNG bytes)``, drawn and saved in the style."""
    with style():
        return [(name, png_bytes(figure)) for name, figure in draw(data)]
