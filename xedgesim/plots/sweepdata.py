"""What the sweep figures read: one row per (point, metric) with its mean and 95 % CI.

A grid sweep (``xedge sweep``) writes that table itself (a CSV whose columns are the
parameter paths, then ``metric``, ``mean``, ``ci_low``, ``ci_high``); it is found by its
columns. A replication (``xedge simulate --seeds``) has no parameter: its ``sweep.json``
gives each metric's mean and CI half-width, and each ``seed-<n>/summary.json`` its value
per seed, drawn against the seed.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from xedgesim.errors import BadInput
from xedgesim.plots.rundata import read_json, read_text, require_kind

TABLE_COLUMNS = ("metric", "mean", "ci_low", "ci_high")
NOT_PARAMETERS = {*TABLE_COLUMNS, "n", "std", "ci95", "seeds", "point", "valid", "runs"}
HEADLINE = tuple(re.compile(pattern) for pattern in (
    r"^messages\.(delivered|lost_random|lost_to_faults|retransmissions)$",
    r"^end_to_end_ms\..*\.p95$",
    r"^flows\..*\.latency_ms\.p95$",
    r"^flows\..*\.delivery_ratio$",
))  # in this order of importance
MAX_METRICS = 9


@dataclass
class SweepData:
    directory: Path
    marker: dict
    sweep: dict
    parameters: list[str]
    rows: list[dict]  # parameters' values, metric, mean, ci_low, ci_high
    per_seed: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    table: Path | None = None

    def metrics(self) -> list[str]:
        """The headline metrics present, in a stable order, at most ``MAX_METRICS``."""
        present = sorted({row["metric"] for row in self.rows})
        names = [name for pattern in HEADLINE for name in present if pattern.match(name)]
        return names[:MAX_METRICS]


def read_sweep(directory: Path) -> SweepData:
    directory = Path(directory)
    marker = require_kind(directory, ("sweep",))
    sweep = read_json(directory / "sweep.json")
    table = _find_table(directory)
    if table is not None:
        parameters, rows = _read_table(table)
        return SweepData(directory, marker, sweep, parameters, rows, table=table)
    metrics = sweep.get("metrics")
    if not isinstance(metrics, dict):
        raise BadInput(f"{directory / 'sweep.json'}: no 'metrics': not a sweep of xedge")
    rows = []
    for name, stats in sorted(metrics.items()):
        mean, half = stats.get("mean"), stats.get("ci95")
        if not isinstance(mean, (int, float)):
            continue
        spread = half if isinstance(half, (int, float)) else math.nan
        rows.append({"metric": name, "mean": float(mean), "ci_low": mean - spread,
                     "ci_high": mean + spread})
    data = SweepData(directory, marker, sweep, [], rows)
    wanted = set(data.metrics())
    for seed in sweep.get("seeds", []):
        summary_path = directory / f"seed-{seed}" / "summary.json"
        if not summary_path.is_file():
            continue
        for name, value in _leaves(read_json(summary_path)):
            if name in wanted:
                data.per_seed.setdefault(name, []).append((int(seed), value))
    return data


def _find_table(directory: Path) -> Path | None:
    for path in sorted(directory.glob("*.csv")):
        with open(path, newline="") as handle:
            header = next(csv.reader(handle), [])
        if all(name in header for name in TABLE_COLUMNS):
            return path
    return None


def _read_table(path: Path) -> tuple[list[str], list[dict]]:
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    header = reader.fieldnames or []
    parameters = [name for name in header if name not in NOT_PARAMETERS]
    rows = []
    for row in reader:
        try:
            values = {name: float(row[name]) if row[name] not in ("", None) else math.nan
                      for name in TABLE_COLUMNS[1:]}
        except ValueError:
            raise BadInput(f"{path}:{reader.line_num}: mean, ci_low and ci_high must be "
                           "numbers") from None
        rows.append({**{name: _value(row[name]) for name in parameters},
                     "metric": row["metric"], **values})
    return parameters, rows


def _value(text: str | None) -> float | str:
    try:
        return float(text) if text is not None else ""
    except ValueError:
        return text or ""


def _leaves(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield f"{prefix}{key}", float(value)
