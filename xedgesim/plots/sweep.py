"""A sweep's metrics against its parameters: one figure per swept parameter.

One panel per headline metric: the mean against the parameter's values, with its 95 %
confidence band, one line per value (or combination of values) of the other parameters. A
replication over seeds only has no parameter: each metric per seed, its mean and CI band.
"""

from __future__ import annotations

import math
import re
from itertools import groupby
from typing import TYPE_CHECKING

import numpy as np

from xedgesim.plots.render import COLORS, new_figure
from xedgesim.plots.sweepdata import SweepData

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

COLUMNS = 3


def draw(data: SweepData) -> list[tuple[str, Figure]]:
    metrics = data.metrics()
    if not data.parameters:
        return [("sweep_seeds.png", _seeds(data, metrics))]
    return [(f"sweep_{_slug(name)}.png", _against(data, name, metrics))
            for name in data.parameters]


def _panels(count: int, title: str) -> tuple[Figure, list[Axes]]:
    count = max(1, count)
    rows = math.ceil(count / COLUMNS)
    columns = min(COLUMNS, count)
    figure = new_figure(0.6 + 2.6 * rows, 3.2 * columns)
    grid = figure.subplots(rows, columns, squeeze=False)
    panels = [axes for row in grid for axes in row]
    for axes in panels[count:]:
        axes.set_visible(False)
    figure.suptitle(title)
    return figure, panels[:count]


def _seeds(data: SweepData, metrics: list[str]) -> Figure:
    seeds = data.sweep.get("seeds", [])
    from matplotlib.ticker import MaxNLocator

    figure, panels = _panels(len(metrics),
                             f"{data.sweep.get('scenario', '')}: {len(seeds)} seeds, "
                             "mean and 95 % CI")
    by_metric = {row["metric"]: row for row in data.rows}
    for axes, metric in zip(panels, metrics, strict=False):
        row = by_metric[metric]
        values = sorted(data.per_seed.get(metric, []))
        if values:
            axes.plot([s for s, _ in values], [v for _, v in values], "o", color=COLORS[0],
                      markersize=3, label="per seed")
        axes.axhline(row["mean"], color=COLORS[1], label="mean")
        if not math.isnan(row["ci_low"]):
            axes.axhspan(row["ci_low"], row["ci_high"], color=COLORS[1], alpha=0.2,
                         label="95 % CI")
        axes.set_title(metric, fontsize=8)
        axes.set_xlabel("seed")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if panels and metrics:
        panels[0].legend(loc="best")
    return figure


def _against(data: SweepData, parameter: str, metrics: list[str]) -> Figure:
    others = [name for name in data.parameters if name != parameter]
    figure, panels = _panels(len(metrics), f"against {parameter}, mean and 95 % CI")
    values = sorted({row[parameter] for row in data.rows}, key=_order)
    numeric = all(isinstance(v, float) for v in values)
    for axes, metric in zip(panels, metrics, strict=False):
        rows = sorted((r for r in data.rows if r["metric"] == metric),
                      key=lambda r: ([_order(r[n]) for n in others], _order(r[parameter])))
        for number, (key, group) in enumerate(
                groupby(rows, key=lambda r: tuple(r[n] for n in others))):
            line = list(group)
            x = np.array([r[parameter] if numeric else values.index(r[parameter])
                          for r in line], dtype=float)
            color = COLORS[number % len(COLORS)]
            label = ", ".join(f"{n}={_text(v)}" for n, v in zip(others, key, strict=True))
            axes.plot(x, [r["mean"] for r in line], "o-", color=color, markersize=3,
                      label=label or None)
            axes.fill_between(x, [r["ci_low"] for r in line], [r["ci_high"] for r in line],
                              color=color, alpha=0.2, lw=0)
        if not numeric:
            axes.set_xticks(range(len(values)), [_text(v) for v in values])
        elif values[0] > 0 and values[-1] / values[0] >= 100:  # 100, 1000, 10000 sensors
            axes.set_xscale("log")
        axes.set_title(metric, fontsize=8)
        axes.set_xlabel(parameter)
    if others and panels:
        panels[0].legend(loc="best", title=None)
    return figure


def _order(value: float | str) -> tuple[int, float, str]:
    return (0, value, "") if isinstance(value, float) else (1, 0.0, str(value))


def _text(value: float | str) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:80] or "parameter"
