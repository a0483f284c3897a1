"""Seeds and statistics shared by replications and grid sweeps: seed specs, 95 % CIs."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from functools import cache

from xedgesim.compare.stats import t_quantile
from xedgesim.limits import MAX_SEED, MAX_SEEDS
from xedgesim.sim.pacing import NS_PER_MS

# Settings a summary repeats, not measurements: the same for every seed of a scenario.
NOT_METRICS = {"seed", "duration_s", "warmup_s"}
NOT_METRIC_PREFIXES = ("aggregation_windows_s.",)
_PART = re.compile(r"(\d{1,20})(?:\s*\.\.\s*(\d{1,20}))?")


def parse_seeds(text: str) -> list[int]:
    """'1..20' (inclusive), '1,5,9' or a mix like '1..3,10' -> sorted distinct seeds.

    Bounded before anything is allocated: at most ``MAX_SEEDS`` seeds, each ≤ ``MAX_SEED``.
    """
    ranges = []
    for part in text.split(","):
        part = part.strip()
        match = _PART.fullmatch(part)
        if not match:
            raise ValueError(f"expected seeds like '1..20' or '1,2,7', found {part[:40]!r}")
        low = int(match[1])
        high = int(match[2]) if match[2] is not None else low
        if low > high:
            raise ValueError(f"seed range {part!r} is empty: write it low..high")
        if high > MAX_SEED:
            raise ValueError(f"seed {high} is out of range: seeds are 0..{MAX_SEED}")
        if high - low + 1 > MAX_SEEDS:
            raise ValueError(f"{part!r} is {high - low + 1:,} seeds; a sweep has at most "
                             f"{MAX_SEEDS:,}")
        ranges.append((low, high))
    if sum(high - low + 1 for low, high in ranges) > MAX_SEEDS * 2:
        raise ValueError(f"more than {MAX_SEEDS:,} seeds; a sweep has at most {MAX_SEEDS:,}")
    seeds = sorted({seed for low, high in ranges for seed in range(low, high + 1)})
    if len(seeds) > MAX_SEEDS:
        raise ValueError(f"{len(seeds):,} seeds; a sweep has at most {MAX_SEEDS:,}")
    return seeds


@cache
def t95(df: int) -> float:
    """The two-sided 95 % Student t quantile for ``df`` degrees of freedom (df ≥ 1), exact at
    every df (a table that fell back to the normal's 1.96 past 30 made the intervals of 32 to
    a few hundred seeds up to 4 % too narrow)."""
    return t_quantile(0.95, df)


def interval(values: list[float]) -> dict[str, float | None]:
    """n, mean, sample standard deviation and 95 % CI half-width of ``values``; with one
    value there is no spread to measure, and the deviation and CI are ``None``."""
    n = len(values)
    mean = math.fsum(values) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    half = t95(n - 1) * std / math.sqrt(n) if std is not None else None
    return {"n": n, "mean": mean, "std": std, "ci95": half}


def confidence_intervals(summaries: list[dict]) -> dict[str, dict[str, float | None]]:
    """Mean, sample standard deviation and 95 % CI half-width of every metric."""
    columns: dict[str, list[float]] = {}
    for summary in summaries:
        for key, value in summary_metrics(summary).items():
            columns.setdefault(key, []).append(float(value))
    return {key: interval(values) for key, values in sorted(columns.items())}


def summary_metrics(summary: dict) -> dict[str, int | float]:
    """Every measurement of a ``summary.json`` by its dotted path, plus the totals it leaves
    to the reader: ``messages.lost`` and each ``flows.<flow>.lost`` (all causes) and
    ``messages.delivery_ratio``. A ratio of means is not the mean of the runs' ratios, so
    these are worked out per run, where a sweep's statistics can average them."""
    metrics = dict(numeric_leaves(summary))
    messages = summary.get("messages")
    if isinstance(messages, dict):
        _add_total_lost(metrics, "messages", messages)
        sent, delivered = messages.get("sent"), messages.get("delivered")
        if isinstance(sent, int) and isinstance(delivered, int) and sent > 0:
            metrics["messages.delivery_ratio"] = round(delivered / sent, 6)
    flows = summary.get("flows")
    for name, flow in (flows.items() if isinstance(flows, dict) else ()):
        if isinstance(flow, dict):
            _add_total_lost(metrics, f"flows.{name}", flow)
    return metrics


def _add_total_lost(metrics: dict[str, int | float], path: str, counts: dict) -> None:
    lost = counts.get("lost")
    if isinstance(lost, dict) and all(type(n) is int for n in lost.values()):
        metrics[f"{path}.lost"] = sum(lost.values())


def numeric_leaves(tree: dict, prefix: str = "") -> Iterator[tuple[str, int | float]]:
    """Every number of a summary with its dotted path (``flows.a->b.latency_ms.p95``), except
    the settings it repeats (``NOT_METRICS``: seed, duration, warmup, aggregation windows)."""
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from numeric_leaves(value, path + ".")
        elif isinstance(value, (int, float)) and not isinstance(value, bool) \
                and path not in NOT_METRICS and not path.startswith(NOT_METRIC_PREFIXES):
            yield path, value


def invalid_sweep_message(result: dict, max_lag_ns: int) -> str:
    """What ``xedge simulate --seeds`` says about a sweep with invalid seeds."""
    seeds = ", ".join(str(seed) for seed in result["invalid_seeds"])
    return (f"the sweep is invalid: the p95 lag of seed(s) {seeds} passed --max-lag "
            f"{max_lag_ns / NS_PER_MS:g} ms (the coordinator could not keep up; try a lower "
            "--speed, fewer --jobs or a smaller scenario)")


HEADLINE = re.compile(
    r"^(messages\.(delivered|lost_random|lost_to_faults|retransmissions)"
    r"|flows\..*\.(delivered|latency_ms\.(p50|p95|p99))|end_to_end_ms\..*\.(p50|p95))$"
)
"""The metrics a sweep prints on the terminal; its files hold every metric."""


def format_sweep(result: dict) -> str:
    """The headline metrics of a sweep as 'mean ± ci95' lines."""
    rows = [(k, v) for k, v in result["metrics"].items() if HEADLINE.match(k)]
    width = max((len(k) for k, _ in rows), default=10)
    lines = [f"{result['scenario']}: {len(result['seeds'])} seeds, mean ± 95% CI"]
    lines += [f"  {k.ljust(width)}  {v['mean']:14,.3f} ± "
              f"{'n/a (one seed)' if v['ci95'] is None else format(v['ci95'], ',.3f')}"
              for k, v in rows]
    return "\n".join(lines)
