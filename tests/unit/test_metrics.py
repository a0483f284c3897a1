"""Latency histograms (bounded relative error, exact min/max/mean) and the per-node counters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from xedgesim.errors import NodeFailure
from xedgesim.metrics import INT64_MAX, FlowStats, Histogram, NodeCounters, exact_sum
from xedgesim.sim.faults import ALWAYS_REPORTED, CAUSES

QUANTILES = [0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0]


def _histogram(*batches: np.ndarray) -> Histogram:
    histogram = Histogram()
    for batch in batches:
        histogram.add(np.asarray(batch, dtype=np.int64))
    return histogram


def _exponential(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).exponential(2e6, 100_000).astype(np.int64)


def _lognormal(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(15.0, 1.5, 100_000).astype(np.int64)


@pytest.mark.parametrize("data", [_exponential(1), _exponential(2), _lognormal(3), _lognormal(4)],
                         ids=["exp1", "exp2", "lognormal3", "lognormal4"])
def test_quantiles_are_within_one_percent_of_numpy(data: np.ndarray) -> None:
    histogram = _histogram(data)
    for q in QUANTILES:
        expected = float(np.quantile(data, q, method="inverted_cdf"))
        assert histogram.quantile(q) == pytest.approx(expected, rel=0.01), f"q={q}"


@pytest.mark.parametrize("data", [_exponential(5), _lognormal(6)], ids=["exp", "lognormal"])
def test_count_min_max_and_mean_are_exact(data: np.ndarray) -> None:
    histogram = _histogram(data)
    assert histogram.count == len(data)
    assert histogram.min == int(data.min())
    assert histogram.max == int(data.max())
    assert histogram.total == sum(int(v) for v in data)
    assert histogram.total / histogram.count == pytest.approx(float(data.mean()), rel=1e-12)
    # the extreme quantiles are bucket middles clamped into [min, max], not min and max
    assert histogram.min <= histogram.quantile(0.0) <= histogram.min * 1.004
    assert histogram.max / 1.004 <= histogram.quantile(1.0) <= histogram.max


def test_empty_histogram() -> None:
    histogram = Histogram()
    histogram.add(np.array([], dtype=np.int64))
    assert histogram.count == 0
    assert histogram.quantile(0.5) == 0.0
    assert histogram.summary_ms() == {
        "count": 0, "mean": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0,
    }


def test_small_values_are_exact() -> None:
    data = np.arange(128, dtype=np.int64)
    histogram = _histogram(data[::-1])
    for q in np.linspace(0.0, 1.0, 257):
        assert histogram.quantile(float(q)) == float(np.quantile(data, q, method="inverted_cdf"))
    assert histogram.quantile(0.5) == 63.0


def test_values_below_256_are_exact() -> None:
    data = np.arange(0, 256, 3, dtype=np.int64)
    histogram = _histogram(np.repeat(data, 2))
    for q in np.linspace(0.0, 1.0, 101):
        expected = float(np.quantile(np.repeat(data, 2), q, method="inverted_cdf"))
        assert histogram.quantile(float(q)) == expected


_powers = [2**k + d for k in range(7, 63) for d in (-1, 0, 1)]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**62))
@example(2**63 - 1)
@example(2**53 + 1)
def test_one_value_is_within_its_bucket(value: int) -> None:
    """The median of [0, v, top] is v's bucket middle: exact below 256, else < 1/256 off."""
    top = 2**63 - 1
    histogram = _histogram(np.array([0, value, top]))
    found = histogram.quantile(0.5)
    if value < 256:
        assert found == value
    else:
        assert abs(found - value) <= value / 256


def test_values_around_powers_of_two_are_within_their_bucket() -> None:
    for value in _powers:
        found = _histogram(np.array([0, value, 2**63 - 1])).quantile(0.5)
        assert abs(found - value) <= value / 256, value


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(0, 10**10), max_size=50),
    st.lists(st.integers(0, 10**10), max_size=50),
)
def test_two_adds_equal_one(first: list[int], second: list[int]) -> None:
    split = _histogram(np.array(first, dtype=np.int64), np.array(second, dtype=np.int64))
    whole = _histogram(np.array(first + second, dtype=np.int64))
    np.testing.assert_array_equal(split.counts, whole.counts)
    assert (split.count, split.total, split.min, split.max) == (
        whole.count, whole.total, whole.min, whole.max)
    for q in QUANTILES:
        assert split.quantile(q) == whole.quantile(q)
    assert split.summary_ms() == whole.summary_ms()


def test_later_smaller_values_lower_the_min() -> None:
    histogram = _histogram(np.array([500, 900]), np.array([], dtype=np.int64), np.array([7]))
    assert (histogram.min, histogram.max, histogram.count, histogram.total) == (7, 900, 3, 1407)


def test_summary_ms() -> None:
    data = np.arange(1, 101, dtype=np.int64) * 1_000_000  # 1 ms .. 100 ms
    summary = _histogram(data).summary_ms()
    assert list(summary) == ["count", "mean", "p50", "p95", "p99", "max"]
    assert summary["count"] == 100
    assert summary["mean"] == 50.5
    assert summary["max"] == 100.0
    assert summary["p50"] == pytest.approx(50.0, rel=0.004)
    assert summary["p95"] == pytest.approx(95.0, rel=0.004)
    assert summary["p99"] == pytest.approx(99.0, rel=0.004)
    for value in summary.values():
        assert round(value, 3) == value


def test_summary_ms_rounds_to_the_microsecond() -> None:
    summary = _histogram(np.array([1_234_567])).summary_ms()
    assert summary == {"count": 1, "mean": 1.235, "p50": 1.235, "p95": 1.235, "p99": 1.235,
                       "max": 1.235}


def test_flow_stats() -> None:
    flow = FlowStats("sensors", "gateway")
    assert flow.name == "sensors->gateway"
    assert list(flow.lost) == list(ALWAYS_REPORTED)
    assert flow.in_flight() == 0
    flow.sent = 100
    flow.delivered = 70
    flow.lost["random"] = 5
    flow.lost["node_down"] = 3
    assert flow.in_flight() == 22
    assert FlowStats("a", "b").lost["random"] == 0  # no shared default
    assert FlowStats("a", "b").latency is not flow.latency


def test_a_loss_to_a_cause_the_run_does_not_report_is_a_bug_not_a_silent_drop() -> None:
    """Outputs list only the run's causes (so older scenarios keep their bytes); a loss to any
    other cause would vanish from every count, so it stops the run instead."""
    flow = FlowStats("a", "b", causes=("random",))
    flow.count_lost(np.array([0, 1]), np.array([1, 1], dtype=np.int8), np.array([0, 1]))
    assert flow.lost == {"random": 2}
    with pytest.raises(ValueError, match="'node_down', a cause its run does not report"):
        flow.count_lost(np.array([2]), np.array([CAUSES.index("node_down") + 1], dtype=np.int8),
                        np.array([2]))


def test_node_counters_with_ints() -> None:
    counters = NodeCounters("n1", 4)
    counters.add("crashes", 2)
    counters.add("crashes", 2)
    counters.add("received", 0, 17)
    counters.add("received", 3, 5)
    np.testing.assert_array_equal(counters.values["crashes"], [0, 0, 2, 0])
    np.testing.assert_array_equal(counters.values["received"], [17, 0, 0, 5])
    assert counters.values["crashes"].dtype == np.int64


def test_node_counters_large_array_takes_the_bincount_path() -> None:
    counters = NodeCounters("n1", 4)
    counters.add("delivered", np.array([0, 0, 1, 3, 3, 3]))  # 6 * 8 > 4
    np.testing.assert_array_equal(counters.values["delivered"], [2, 1, 0, 3])


def test_node_counters_small_array_takes_the_add_at_path() -> None:
    counters = NodeCounters("n1", 1_000)
    counters.add("lost", np.array([5, 5, 999, 5]))  # 4 * 8 <= 1000
    expected = np.zeros(1_000, dtype=np.int64)
    expected[5], expected[999] = 3, 1
    np.testing.assert_array_equal(counters.values["lost"], expected)


def test_node_counters_array_amounts_with_repeats() -> None:
    counters = NodeCounters("n1", 3)
    counters.add("bytes", np.array([0, 2, 0, 0]), np.array([10, 20, 30, 40]))
    counters.add("bytes", np.array([1, 1]), 7)
    np.testing.assert_array_equal(counters.values["bytes"], [80, 14, 20])


@settings(max_examples=100, deadline=None)
@given(
    count=st.integers(1, 40),
    raw=st.lists(st.integers(0, 10_000), max_size=60),
    amount=st.integers(0, 5),
    calls=st.integers(1, 3),
)
def test_node_counters_match_a_loop(count: int, raw: list[int], amount: int, calls: int) -> None:
    local = np.array([i % count for i in raw], dtype=np.int64)
    counters = NodeCounters("n1", count)
    expected = [0] * count
    for _ in range(calls):
        counters.add("n", local, amount)
        for i in local:
            expected[i] += amount
    np.testing.assert_array_equal(counters.values["n"], expected)


def test_exact_sum_does_not_wrap_where_numpy_does() -> None:
    values = np.array([2**62, 2**62, 2**62], dtype=np.int64)
    assert int(values.sum()) < 0  # what numpy does
    assert exact_sum(values) == 3 * 2**62
    assert exact_sum(np.array([5, 0, 7], dtype=np.int64)) == 12
    assert exact_sum(np.array([], dtype=np.int64)) == 0


def test_histogram_total_does_not_wrap() -> None:
    histogram = _histogram([2**62, 2**62], [2**62])
    assert histogram.total == 3 * 2**62
    assert histogram.summary_ms()["mean"] == round(2**62 / 1e6, 3)


@pytest.mark.parametrize(
    ("local", "amount"),
    [(1, INT64_MAX), (np.array([1, 1]), 2**62), (np.array([1, 2]), np.array([INT64_MAX, 1]))],
    ids=["int", "array-repeated", "array-amounts"],
)
def test_a_counter_that_would_wrap_stops_the_run_naming_node_and_counter(local, amount) -> None:
    counters = NodeCounters("g1", 3)
    counters.add("readings_in", np.array([1, 2]), 1)
    with pytest.raises(NodeFailure, match="node 'g1': its counter 'readings_in' would reach"):
        counters.add("readings_in", local, amount)
    np.testing.assert_array_equal(counters.values["readings_in"], [0, 1, 1])  # left as it was


def test_a_counter_can_hold_the_largest_int64() -> None:
    counters = NodeCounters("g1", 2)
    counters.add("n", 0, INT64_MAX)
    counters.add("n", np.array([1, 1]), np.array([2**62, 2**62 - 1]))
    assert counters.values["n"].tolist() == [INT64_MAX, INT64_MAX]
