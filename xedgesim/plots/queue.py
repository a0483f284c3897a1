"""Queue length over time on the bandwidth-limited links.

From ``timeseries.csv``'s ``queue`` column (messages handed to the link and not yet gone at
the end of each second, all sender instances): a line that keeps rising is a link too slow
for its load. No figure when no link of the run has a bandwidth limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from xedgesim.plots.delivery import mark_warmup, shade_faults
from xedgesim.plots.render import COLORS, new_figure
from xedgesim.plots.rundata import RunData

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def draw(data: RunData) -> list[tuple[str, Figure]]:
    limited = [flow for flow, columns in data.series.items()
               if not np.isnan(columns["queue"]).all()]
    if not limited:
        return []
    figure = new_figure(3.8)
    axes = figure.add_subplot()
    shade_faults(axes, data, legend=True)
    mark_warmup(axes, data, legend=True)
    for number, flow in enumerate(limited):
        columns = data.series[flow]
        end = columns["t_s"] + (columns["t_s"][1] - columns["t_s"][0]
                                if len(columns["t_s"]) > 1 else 1.0)
        axes.plot(np.minimum(end, data.duration_s), columns["queue"], marker=".",
                  color=COLORS[number % len(COLORS)], label=flow)
    axes.set_xlabel("virtual time (s), at the end of each second")
    axes.set_ylabel("messages queued or on the wire")
    axes.set_xlim(0, data.duration_s)
    highest = max(float(np.nanmax(data.series[flow]["queue"])) for flow in limited)
    axes.set_ylim(0, max(1.0, highest) * 1.1)
    axes.set_title(f"{data.summary['scenario']}: queue of bandwidth-limited links", loc="left")
    axes.legend(loc="upper left")
    return [("queue.png", figure)]
