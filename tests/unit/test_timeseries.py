"""timeseries.csv: per flow and per second, the same messages records.csv and summary.json
count, deterministic, bounded in rows; and FlowSeries on its own."""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from xedgesim.cli import main
from xedgesim.metrics import Histogram, bucket_index
from xedgesim.sim.faults import ALWAYS_REPORTED, CAUSES
from xedgesim.timeseries import MAX_ROWS, NS_PER_S, FlowSeries, columns, step_ns

RETRY_NS = 700_000_000
SCENARIO = """\
name: series
seed: 5
duration: 12500ms
network:
  default: {latency: 5ms, jitter: {exponential: 3ms}, loss: 0.03}
  links:
    - {between: [gw1, cloud], latency: 20ms, bandwidth: 20kbit}
nodes:
  - {id: sensors, type: sensor, count: 40, interval: 100ms, process: poisson, to: broker,
     topic: "s/{id}", qos: 1, retry_interval: 700ms, max_retries: 2}
  - {id: broker, type: broker, retry_interval: 700ms, max_retries: 2}
  - {id: gw1, type: gateway, subscribe: {broker: broker, topics: ["s/#"], qos: 1},
     aggregate_every: 50ms, to: cloud, qos: 1, retry_interval: 700ms, max_retries: 2,
     payload: 100B}
  - {id: cloud, type: cloud}
faults:
  - {at: 3s, node: gw1, action: crash, for: 1500ms}
  - {at: 6s, action: link_down, link: [gw1, cloud], for: 2s}
  - {at: 9s, action: partition, groups: [[sensors], [broker]], for: 1s}
"""


def simulate(tmp_path: Path, name: str, text: str = SCENARIO, *extra: str) -> Path:
    scenario = tmp_path / f"{name}.yaml"
    scenario.write_text(text)
    out = tmp_path / name
    result = CliRunner().invoke(main, ["simulate", str(scenario), "--out", str(out), "-q",
                                       *extra])
    assert result.exit_code == 0, result.output
    return out


def rows(out: Path) -> list[dict[str, str]]:
    with open(out / "timeseries.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == columns()
        return list(reader)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate(tmp_path_factory.mktemp("series"), "a", SCENARIO, "--records")


def test_written_recorded_in_the_marker_and_byte_identical(run: Path, tmp_path: Path) -> None:
    again = simulate(tmp_path, "b")
    for name in ("timeseries.csv", "latency.csv"):
        assert (run / name).read_bytes() == (again / name).read_bytes(), name
    marker = json.loads((run / ".xedgesim-run.json").read_text())
    assert "timeseries.csv" in marker["files"]
    other = simulate(tmp_path, "c", SCENARIO.replace("seed: 5", "seed: 6"))
    assert (run / "timeseries.csv").read_bytes() != (other / "timeseries.csv").read_bytes()


def test_one_row_per_flow_and_second_adding_up_to_the_summary(run: Path) -> None:
    summary = json.loads((run / "summary.json").read_text())
    series = rows(run)
    by_flow: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in series:
        by_flow[row["flow"]].append(row)
    assert list(by_flow) == list(summary["flows"])  # the summary's order
    for name, flow in summary["flows"].items():
        assert [int(r["t_s"]) for r in by_flow[name]] == list(range(13))  # 12.5 s: 13 rows
        assert sum(int(r["sent"]) for r in by_flow[name]) == flow["sent"]
        assert sum(int(r["delivered"]) for r in by_flow[name]) == flow["delivered"]
        for cause in ALWAYS_REPORTED:  # this scenario has no cause of a model feature
            assert sum(int(r[f"lost_{cause}"]) for r in by_flow[name]) == flow["lost"][cause]
    assert all(summary["flows"][name]["lost"][cause] > 0 for name, cause in [
        ("sensors->broker", "random"), ("sensors->broker", "partition"),
        ("broker->gw1", "node_down"), ("gw1->cloud", "link_down")])


def test_seconds_hold_what_records_csv_says_happened_in_them(run: Path) -> None:
    """Delivered and latency by arrival, losses at the attempt that lost them."""
    delivered: Counter = Counter()
    lost: Counter = Counter()
    latencies: dict[tuple[str, int], list[int]] = defaultdict(list)
    with open(run / "records.csv", newline="") as handle:
        for record in csv.DictReader(handle):
            flow = record["flow"]
            if record["status"] == "in_flight":
                continue
            if record["status"] == "delivered":
                arrival = int(record["arrival_ns"])
                second = arrival // NS_PER_S
                delivered[flow, second] += 1
                latencies[flow, second].append(arrival - int(record["first_sent_ns"]))
            else:
                attempt_at = int(record["first_sent_ns"]) + int(record["attempt"]) * RETRY_NS
                lost[flow, min(attempt_at // NS_PER_S, 12), record["cause"]] += 1
    checked = 0
    for row in rows(run):
        key = (row["flow"], int(row["t_s"]))
        assert int(row["delivered"]) == delivered[key], key
        for cause in ALWAYS_REPORTED:
            assert int(row[f"lost_{cause}"]) == lost[(*key, cause)], (key, cause)
        if not latencies[key]:
            assert row["latency_p50_ms"] == row["latency_p95_ms"] == ""
            continue
        histogram = Histogram()
        histogram.add(np.array(latencies[key], dtype=np.int64))
        assert float(row["latency_p50_ms"]) == round(histogram.quantile(0.5) / 1e6, 3)
        assert float(row["latency_p95_ms"]) == round(histogram.quantile(0.95) / 1e6, 3)
        checked += 1
    assert checked > 30


def test_queue_only_on_the_bandwidth_limited_link_and_never_negative(run: Path) -> None:
    for row in rows(run):
        if row["flow"] == "gw1->cloud":
            assert int(row["queue"]) >= 0
        else:
            assert row["queue"] == ""


def test_a_saturated_link_shows_a_growing_queue(tmp_path: Path) -> None:
    """100 messages a second into a link that serialises 50: 50 more waiting every second."""
    out = simulate(tmp_path, "slow", """\
name: slow
seed: 1
duration: 5s
network:
  default: {latency: 1ms, bandwidth: 40kbit}
nodes:
  - {id: s, type: sensor, interval: 10ms, phase: 0s, payload: 100B, to: c}
  - {id: c, type: cloud}
""")
    (flow,) = {row["flow"] for row in rows(out)}
    series = rows(out)
    assert [int(r["sent"]) for r in series] == [100] * 5
    # Serialised back to back, 20 ms each: the k-th leaves the link at 20k ms and arrives
    # 1 ms later; the one leaving at exactly 1 s is still on the link at the end of second 0.
    assert [int(r["delivered"]) for r in series] == [49, 50, 50, 50, 50]
    assert [int(r["queue"]) for r in series] == [51, 101, 151, 201, 251]
    assert flow == "s->c"


def test_step_stays_one_second_up_to_max_rows_then_grows() -> None:
    assert step_ns(1) == NS_PER_S
    assert step_ns(MAX_ROWS * NS_PER_S) == NS_PER_S
    assert step_ns(MAX_ROWS * NS_PER_S + 1) == 2 * NS_PER_S
    year = 365 * 86_400 * NS_PER_S
    series = FlowSeries(year)
    assert series.rows <= MAX_ROWS
    assert series.step_ns % NS_PER_S == 0


def test_flow_series_splits_unsorted_arrivals_by_second_and_clamps_late_losses() -> None:
    series = FlowSeries(3 * NS_PER_S, queue=True)
    arrival = np.array([2_100_000_000, 100, 1_500_000_000, 200, 2_000_000_000], dtype=np.int64)
    latency = np.array([5, 10, 20, 30, 40], dtype=np.int64) * 1_000_000
    series.count_delivered(arrival, latency, bucket_index(latency))
    series.count_lost(np.array([0, 5 * NS_PER_S], dtype=np.int64), np.array([1, 4], np.int8))
    series.count_sent(np.array([0, 1, NS_PER_S], dtype=np.int64))
    series.count_queue(np.array([0, 0, 1], dtype=np.int64),
                       np.array([10, 2 * NS_PER_S, 2**62], dtype=np.int64))
    series.close()
    assert series.delivered.tolist() == [2, 1, 2]
    for second, values in enumerate([[10, 30], [20], [5, 40]]):
        histogram = Histogram()
        histogram.add(np.array(values, dtype=np.int64) * 1_000_000)
        assert series.p50[second] == histogram.quantile(0.5)
        assert series.p95[second] == histogram.quantile(0.95)
    assert series.p50[1] == series.p95[1] == 20e6  # one value: exact
    assert series.lost[:, 0].tolist() == [int(cause == "random") for cause in CAUSES]
    assert series.lost[:, 2].tolist() == [int(cause == "node_down") for cause in CAUSES]
    assert series.sent.tolist() == [2, 1, 0]
    assert series.queue().tolist() == [2, 2, 1]  # the saturated one never leaves
    assert series.late == 0


def test_latency_csv_holds_each_flow_s_histogram(run: Path) -> None:
    """Counts add up to the deliveries; the buckets hold the summary's exact max."""
    summary = json.loads((run / "summary.json").read_text())
    counts: Counter = Counter()
    highest: dict[str, int] = {}
    with open(run / "latency.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            low, high = int(row["low_ns"]), int(row["high_ns"])
            assert low < high
            counts[row["kind"], row["name"]] += int(row["count"])
            highest[row["name"]] = high
    for name, flow in summary["flows"].items():
        assert counts["hop", name] == flow["delivered"]
        assert highest[name] / 1e6 >= flow["latency_ms"]["max"]
    for node, latency in summary["end_to_end_ms"].items():
        assert counts["end_to_end", node] == latency["count"]
