"""Delivered and lost messages per second, one panel per flow, fault windows shaded.

From ``timeseries.csv``: deliveries by arrival second (a line), losses by cause stacked as
bars in the second of the attempt that lost them; a grey band for each fault of the scenario,
so a dip can be read against its cause; a dashed line where a warmup ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from xedgesim.plots.render import COLORS, FAULT_COLOR, LOSS_COLORS, new_figure
from xedgesim.plots.rundata import RunData
from xedgesim.sim.faults import CAUSES

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_PANELS = 12


def draw(data: RunData) -> list[tuple[str, Figure]]:
    flows = list(data.series)[:MAX_PANELS]
    figure = new_figure(1.0 + 2.0 * max(1, len(flows)))
    panels = figure.subplots(max(1, len(flows)), 1, sharex=True, squeeze=False)[:, 0]
    for number, (axes, flow) in enumerate(zip(panels, flows, strict=False)):
        columns = data.series[flow]
        t = columns["t_s"]
        width = float(t[1] - t[0]) if len(t) > 1 else 1.0
        shade_faults(axes, data, legend=number == 0)
        mark_warmup(axes, data, legend=number == 0)
        delivered = columns["delivered"]
        axes.step(np.append(t, t[-1] + width), np.append(delivered, delivered[-1]),
                  where="post", color=COLORS[0], label="delivered")
        unit = "s" if width == 1 else f"{width:g} s"
        axes.set_ylabel(f"delivered / {unit}", color=COLORS[0])
        axes.set_ylim(0, max(1.0, float(np.nanmax(delivered))) * 1.1)
        # Losses are often a hundredth of the traffic: their own scale, on the right.
        lost_axes = axes.twinx()
        lost_axes.grid(False)
        bottom = np.zeros(len(t))
        for cause in CAUSES:
            lost = columns.get(f"lost_{cause}")
            if lost is not None and lost.any():
                lost_axes.bar(t, lost, width=width, bottom=bottom, align="edge", alpha=0.8,
                              color=LOSS_COLORS[cause], label=f"lost: {cause}")
                bottom += lost
        lost_axes.set_ylim(0, max(1.0, float(bottom.max())) * 1.1)
        lost_axes.set_ylabel(f"lost / {unit}", color=LOSS_COLORS["random"])
        lost_axes.spines["right"].set_visible(True)
        axes.set_title(flow, loc="left")
        handles, labels = axes.get_legend_handles_labels()
        more, more_labels = lost_axes.get_legend_handles_labels()
        axes.legend(handles + more, labels + more_labels, loc="upper left",
                    bbox_to_anchor=(1.06, 1.0))
    panels[-1].set_xlabel("virtual time (s)")
    panels[-1].set_xlim(0, data.duration_s)
    if len(data.series) > MAX_PANELS:
        figure.suptitle(f"the first {MAX_PANELS} of {len(data.series)} flows")
    elif not flows:
        panels[0].text(0.5, 0.5, "no flows", ha="center", va="center",
                       transform=panels[0].transAxes)
    return [("delivery.png", figure)]


def shade_faults(axes: Axes, data: RunData, *, legend: bool) -> None:
    for number, window in enumerate(data.faults):
        axes.axvspan(window.start_s, window.end_s, color=FAULT_COLOR, alpha=0.18, lw=0,
                     label=("fault: " + window.label) if legend and number < 4 else None)


def mark_warmup(axes: Axes, data: RunData, *, legend: bool) -> None:
    """A dashed line where the scenario's warmup ends: the series cover the whole run, the
    summary only what was sent after it (docs/simulation.md, "Steady state: warmup")."""
    if data.warmup_s:
        axes.axvline(data.warmup_s, color=FAULT_COLOR, linestyle="--", linewidth=1.2,
                     label="warmup ends" if legend else None)
