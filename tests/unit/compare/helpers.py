"""Crafted run directories: summaries with exactly the numbers a test needs."""

from __future__ import annotations

import json
from pathlib import Path

CAUSES = ("link_down", "node_down", "partition", "random")


def flow(sent: int = 6000, delivered: int | None = None, lost: dict | None = None,
         latency: tuple[float, float, float] = (5.0, 9.0, 12.0), samples: int | None = None,
         duration: float = 60.0, bytes_per_message: int = 64) -> dict:
    delivered = sent if delivered is None else delivered
    causes = dict.fromkeys(CAUSES, 0) | (lost or {})
    p50, p95, p99 = latency
    return {
        "sent": sent,
        "delivered": delivered,
        "lost": causes,
        "delivery_ratio": round(delivered / sent, 6) if sent else None,
        "latency_ms": {"count": delivered if samples is None else samples, "mean": p50,
                       "p50": p50, "p95": p95, "p99": p99, "max": p99},
        "throughput": {"messages_per_s": round(delivered / duration, 3),
                       "bytes_per_s": round(delivered * bytes_per_message / duration, 3)},
    }


def summary(flows: dict | None = None, *, aggregates: int | None = 6,
            ages: tuple[float, float, float] = (10_000.0, 10_500.0, 10_600.0),
            duration: float = 60.0, seed: int = 1, scenario: str = "s",
            windows: dict | None = None) -> dict:
    """A summary.json: by default 100 sensors at 1/s into a gateway, 6 aggregates to a cloud."""
    if flows is None:
        flows = {"sensors->gw": flow(duration=duration),
                 "gw->cloud": flow(6, latency=(20.0, 22.0, 23.0), duration=duration)}
    data = {"scenario": scenario, "seed": seed, "mode": "deterministic", "duration_s": duration,
            "flows": flows, "end_to_end_ms": {}, "nodes": {}}
    if aggregates is not None:
        p50, p95, p99 = ages
        data["end_to_end_ms"]["cloud"] = {"count": aggregates, "mean": p50, "p50": p50,
                                          "p95": p95, "p99": p99, "max": p99}
    if windows is not None:
        data["aggregation_windows_s"] = windows
    return data


def write_run(directory: Path, data: dict | str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    text = data if isinstance(data, str) else json.dumps(data, indent=2)
    (directory / "summary.json").write_text(text)
    return directory


def write_sweep(directory: Path, summaries: list[dict], marker: bool = True) -> Path:
    for data in summaries:
        write_run(directory / f"seed-{data['seed']}", data)
    if marker:
        (directory / "sweep.json").write_text("{}\n")
    return directory
