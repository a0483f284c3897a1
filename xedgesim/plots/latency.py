"""Latency CDF per flow: the share of a flow's deliveries at or below each latency.

Drawn from ``latency.csv``, the histogram behind the summary's percentiles (under 0.8 %
relative error): hop latency per flow, solid; end-to-end latency at each cloud node, dashed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from xedgesim.plots.render import COLORS, new_figure
from xedgesim.plots.rundata import RunData

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def draw(data: RunData) -> list[tuple[str, Figure]]:
    curves = [(key, rows) for key, rows in data.latency.items() if len(rows)]
    figure = new_figure(4.2)
    axes = figure.add_subplot()
    highest = 0.0
    lowest = np.inf
    for number, ((kind, name), rows) in enumerate(curves):
        low_ms, high_ms, count = rows[:, 0] / 1e6, rows[:, 1] / 1e6, rows[:, 2]
        share = np.cumsum(count) / count.sum()
        x = np.concatenate([[low_ms[0]], high_ms])
        y = np.concatenate([[0.0], share])
        label = name if kind == "hop" else f"end to end at {name}"
        axes.step(x, y, where="post", color=COLORS[number % len(COLORS)],
                  linestyle="-" if kind == "hop" else "--", label=label)
        highest, lowest = max(highest, float(high_ms[-1])), min(lowest, float(low_ms[0]))
    if curves and lowest > 0 and highest / lowest > 100:
        axes.set_xscale("log")
    axes.set_xlabel("latency (ms)")
    axes.set_ylabel("share of delivered messages")
    axes.set_ylim(0, 1.02)
    axes.set_title(f"{data.summary['scenario']} (seed {data.summary['seed']}): latency CDF")
    if curves:
        axes.legend(loc="lower right")
    else:
        axes.text(0.5, 0.5, "nothing was delivered", ha="center", va="center",
                  transform=axes.transAxes)
    return [("latency_cdf.png", figure)]
