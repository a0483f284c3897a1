"""Pictures of a run or a sweep: ``xedge plot`` (PNGs) and ``xedge report`` (one HTML file).

Each kind of figure is one module with a ``draw(data) -> list[Figure]`` function, registered
by dotted path in ``FIGURES``; matplotlib is imported only when a figure is drawn, never by
``xedge simulate``. Figures are the same pixels for the same run: the Agg renderer, the DejaVu
fonts matplotlib ships, a fixed style that ignores the user's matplotlibrc, and PNGs without
a timestamp or software version (:mod:`xedgesim.plots.render`).

* ``rundata``  - what a run directory holds, read for the figures (and the HTML report);
* ``sweepdata`` - a sweep's points: parameters, metric, mean and 95 % CI;
* ``latency``, ``delivery``, ``queue`` - the run figures; ``sweep`` - the sweep figures;
* ``render`` - the style and the PNG bytes; ``output`` - every figure of a directory, into
  its ``plots/``; ``html`` - the self-contained report; ``commands`` - the two commands.
"""

from __future__ import annotations

from typing import NamedTuple


class FigureKind(NamedTuple):
    """One kind of figure: what it is drawn from (``run`` or ``sweep``) and where its code is."""

    source: str
    draw: str  # "module:function"
    title: str


FIGURES: dict[str, FigureKind] = {
    "latency_cdf": FigureKind("run", "xedgesim.plots.latency:draw",
                              "Latency CDF per flow"),
    "delivery": FigureKind("run", "xedgesim.plots.delivery:draw",
                           "Delivered and lost per second"),
    "queue": FigureKind("run", "xedgesim.plots.queue:draw",
                        "Queue length of bandwidth-limited links"),
    "sweep": FigureKind("sweep", "xedgesim.plots.sweep:draw",
                        "Metrics against the swept parameters"),
}
