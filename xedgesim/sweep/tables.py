"""A sweep's results as tidy tables that pandas and polars read directly, and ``sweep.json``.

* ``runs.parquet`` / ``runs.csv`` — one row per (point, seed): ``point``, one column per
  parameter named by its path (``network.default.loss``), ``seed``, then every measurement of
  the run's ``summary.json`` named by its dotted path (``messages.delivered``,
  ``flows.sensors->gw1.latency_ms.p95``) and the totals it leaves out (``summary_metrics``);
* ``points.parquet`` / ``points.csv`` — one row per (point, metric): ``point``, the parameter
  columns, ``metric``, ``n`` (seeds), ``mean``, ``std``, ``ci_low``, ``ci_high`` (the 95 %
  Student-t interval of the mean; empty with one seed);
* ``sweep.json`` — the grid, the points, the seeds and provenance (xedgesim version, the
  scenario's file and SHA-256).

A parameter column holds numbers when every value is a number, else text (``5ms``). Rows are
in point order, then seed order; the files depend only on the results, never on the executor,
the order tasks finished in, or whether the sweep was resumed.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import yaml

from xedgesim import __version__, atomic
from xedgesim.sweep.grid import Parameter, Point
from xedgesim.sweep.stats import interval, summary_metrics

Column = list[object]


def write_tables(directory: Path, parameters: list[Parameter], points: list[Point],
                 seeds: list[int], metrics: dict[tuple[str, int], dict[str, int | float]],
                 scenario: dict) -> dict:
    """Write the tables and ``sweep.json`` into ``directory``; returns ``sweep.json``.

    ``metrics`` holds the numbers of each (point, seed)'s summary (:func:`metrics_of`)."""
    params = [parameter.path for parameter in parameters]
    runs = _runs_table(params, points, seeds, metrics)
    per_point = _points_table(params, points, seeds, metrics)
    _write(directory / "runs", runs)
    _write(directory / "points", per_point)
    document = {
        "xedgesim_version": __version__,
        "scenario": scenario,
        "seeds": seeds,
        "grid": [{"path": p.path, "from": str(p.where), "values": p.plain_values()}
                 for p in parameters],
        "points": [{"id": point.id, "file": point.file, "parameters": point.parameters}
                   for point in points],
        "runs": len(points) * len(seeds),
        "tables": {"runs": ["runs.parquet", "runs.csv"],
                   "points": ["points.parquet", "points.csv"]},
    }
    atomic.write_json(directory / "sweep.json", document)
    return document


def metrics_of(summary_text: str) -> dict[str, int | float]:
    """Every measurement of a ``summary.json`` text by its dotted path (``summary_metrics``)."""
    return summary_metrics(json.loads(summary_text))


def _runs_table(params: list[str], points: list[Point], seeds: list[int],
                measured: dict[tuple[str, int], dict[str, int | float]]) -> dict[str, Column]:
    rows = []
    metrics: dict[str, None] = {}
    for point in points:
        for seed in seeds:
            values = measured[point.id, seed]
            metrics.update(dict.fromkeys(values))
            rows.append((point, seed, values))
    table: dict[str, Column] = {"point": [point.id for point, _, _ in rows]}
    for path in params:
        table[path] = _parameter_column([point.parameters[path] for point, _, _ in rows])
    table["seed"] = [seed for _, seed, _ in rows]
    for metric in sorted(metrics):
        if metric in table:
            continue
        table[metric] = [values.get(metric) for _, _, values in rows]
    return table


def _points_table(params: list[str], points: list[Point], seeds: list[int],
                  measured: dict[tuple[str, int], dict[str, int | float]]) -> dict[str, Column]:
    rows = []
    for point in points:
        samples: dict[str, list[float]] = {}
        for seed in seeds:
            for metric, value in measured[point.id, seed].items():
                samples.setdefault(metric, []).append(float(value))
        for metric in sorted(samples):
            stats = interval(samples[metric])
            half = stats["ci95"]
            mean = stats["mean"]
            assert mean is not None
            rows.append((point, metric, stats["n"], mean, stats["std"],
                         None if half is None else mean - half,
                         None if half is None else mean + half))
    table: dict[str, Column] = {"point": [row[0].id for row in rows]}
    for path in params:
        table[path] = _parameter_column([row[0].parameters[path] for row in rows])
    for number, name in enumerate(("metric", "n", "mean", "std", "ci_low", "ci_high"), 1):
        table[name] = [row[number] for row in rows]
    return table


def _parameter_column(values: list[object]) -> Column:
    """Numbers stay numbers; a column with anything else is text, written as in YAML."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return values
    return [v if isinstance(v, str) else _yaml_text(v) for v in values]


def _yaml_text(value: object) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return text.removesuffix("...").strip()


def _write(stem: Path, table: dict[str, Column]) -> None:
    """``stem``.csv and ``stem``.parquet, each written whole."""
    atomic.write_text(stem.with_suffix(".csv"), _csv(table))
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {name: pa.array(values, type=_arrow_type(values, pa)) for name, values in
              table.items()}
    with atomic.replacing(stem.with_suffix(".parquet")) as stream:
        pq.write_table(pa.table(arrays), stream)


def _arrow_type(values: Column, pa: Any) -> Any:  # pyarrow is imported only to write
    present = [v for v in values if v is not None]
    if all(isinstance(v, str) for v in present) and present:
        return pa.string()
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.int64()
    return pa.float64()


def _csv(table: dict[str, Column]) -> str:
    """RFC 4180 CSV; an empty field is a missing value, floats as Python writes them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = list(table)
    writer.writerow(names)
    for row in zip(*(table[name] for name in names), strict=True):
        writer.writerow(["" if value is None else value for value in row])
    return buffer.getvalue()
