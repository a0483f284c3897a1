"""Gateways: the aggregation logic on its own, then the node in a run (windows, crashes, chains)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xedgesim.errors import NodeFailure
from xedgesim.models.gateway import Aggregate, GatewayLogic, exact_sum_of_floats

MS = 1_000_000
S = 1_000_000_000


def _add(logic: GatewayLogic, means, minimums, maximums, counts, origins) -> None:
    logic.add(np.array(means, dtype=float), np.array(minimums, dtype=float),
              np.array(maximums, dtype=float), np.array(counts, dtype=np.int64),
              np.array(origins, dtype=np.int64))


# -- GatewayLogic ------------------------------------------------------------------------------


def test_logic_mean_is_weighted_by_the_readings_behind_each_input() -> None:
    logic = GatewayLogic()
    _add(logic, [1.0, 4.0], [0.5, 2.0], [1.5, 9.0], [1, 3], [50, 20])
    assert logic.flush() == Aggregate(count=4, mean=3.25, minimum=0.5, maximum=9.0,
                                      oldest_origin_ns=20)


def test_logic_accumulates_across_calls() -> None:
    logic = GatewayLogic()
    _add(logic, [10.0], [10.0], [10.0], [1], [300])
    _add(logic, [20.0, 30.0], [15.0, -2.0], [25.0, 31.0], [2, 1], [200, 400])
    _add(logic, [0.0], [0.0], [0.0], [4], [250])
    aggregate = logic.flush()
    assert aggregate is not None
    assert aggregate.count == 8
    assert aggregate.mean == pytest.approx((10 + 40 + 30 + 0) / 8)
    assert (aggregate.minimum, aggregate.maximum) == (-2.0, 31.0)
    assert aggregate.oldest_origin_ns == 200


def test_logic_of_single_readings() -> None:
    logic = GatewayLogic()
    values = [3.0, -1.0, 8.0]
    _add(logic, values, values, values, [1, 1, 1], [7, 5, 9])
    assert logic.flush() == Aggregate(3, 10.0 / 3, -1.0, 8.0, 5)


def test_logic_oldest_origin_can_be_zero() -> None:
    logic = GatewayLogic()
    _add(logic, [1.0], [1.0], [1.0], [1], [0])
    _add(logic, [1.0], [1.0], [1.0], [1], [10])
    aggregate = logic.flush()
    assert aggregate is not None and aggregate.oldest_origin_ns == 0


def test_logic_flush_starts_a_new_window() -> None:
    logic = GatewayLogic()
    _add(logic, [5.0], [5.0], [5.0], [2], [100])
    assert logic.flush() == Aggregate(2, 5.0, 5.0, 5.0, 100)
    assert logic.flush() is None
    _add(logic, [7.0], [6.0], [8.0], [1], [900])
    assert logic.flush() == Aggregate(1, 7.0, 6.0, 8.0, 900)  # nothing left of the old window


def test_logic_empty_window_and_empty_input() -> None:
    logic = GatewayLogic()
    assert logic.flush() is None
    _add(logic, [], [], [], [], [])
    assert logic.flush() is None
    assert logic.count == 0


def test_logic_refuses_a_count_that_would_not_fit_in_a_message() -> None:
    logic = GatewayLogic()
    _add(logic, [1.0], [1.0], [1.0], [2**62], [0])
    with pytest.raises(OverflowError, match="feed back on themselves"):
        _add(logic, [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [2**61, 2**61], [0, 0])
    assert logic.count == 2**62  # the window is left as it was


@pytest.mark.parametrize("counts", [[1, 1], [1, 2]], ids=["sum", "product"])
def test_logic_refuses_a_sum_beyond_the_largest_float(counts) -> None:
    logic = GatewayLogic()
    with pytest.raises(OverflowError, match="not a finite number"):
        _add(logic, [1.7e308, 1.7e308], [0, 0], [0, 0], counts, [0, 0])
    assert logic.count == 0 and logic.total == 0.0


def test_logic_reset_reports_how_many_readings_it_discards() -> None:
    logic = GatewayLogic()
    assert logic.reset() == 0
    _add(logic, [1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [3, 4], [1, 2])
    assert logic.reset() == 7
    assert logic.flush() is None


# -- GatewayNode -------------------------------------------------------------------------------


def _gateway(sensor: str, gateway: str, *, latency: str = "10ms", duration: str = "21s",
             faults: str = "", cloud_latency: str = "20ms") -> str:
    text = f"""
        duration: {duration}
        network:
          default: {{latency: {latency}}}
          links:
            - {{between: [gw, cloud], latency: {cloud_latency}}}
        nodes:
          - {{id: s, type: sensor, to: gw, {sensor}}}
          - {{id: gw, type: gateway, to: cloud, {gateway}}}
          - {{id: cloud, type: cloud}}
        """
    if faults:
        text = text.rstrip(" ") + "        faults:\n          " + faults.strip() + "\n"
    return text


def test_one_aggregate_per_window_summarises_its_readings(sim) -> None:
    run = sim.run_yaml(_gateway("count: 4, interval: 1s, phase: 0s",
                                "aggregate_every: 5s"))
    aggregates = run.sent_on("gw->cloud")
    assert [a.first_sent for a in aggregates] == [5 * S, 10 * S, 15 * S, 20 * S]
    readings = run.sent_on("s->gw")
    for k, aggregate in enumerate(aggregates):
        window = [r for r in readings if 5 * S * k <= r.first_sent < 5 * S * (k + 1)]
        values = [r.value for r in window]
        assert aggregate.n == len(window) == 20
        assert aggregate.value == pytest.approx(np.mean(values))
        assert (aggregate.vmin, aggregate.vmax) == (min(values), max(values))
        assert aggregate.origin == 5 * S * k
        assert (aggregate.topic, aggregate.size, aggregate.sender) == ("agg/gw", 128, "gw")
    assert run.counter("gw", "aggregates_sent") == 4
    assert run.counter("gw", "readings_in") == 84  # and the 4 readings of 20 s, at 20.01 s
    assert run.counter("cloud", "readings_in") == 80
    assert [a.n for a in run.delivered_on("gw->cloud")] == [20, 20, 20, 20]


def test_a_reading_arriving_exactly_at_a_window_end_belongs_to_the_next_window(sim) -> None:
    """Readings sent at k + 0.5 s arrive at k + 1 s: the one arriving at 5 s opens the window
    [5 s, 10 s), it does not close [0 s, 5 s)."""
    run = sim.run_yaml(_gateway("interval: 1s, phase: 500ms", "aggregate_every: 5s",
                                latency="500ms"))
    aggregates = run.sent_on("gw->cloud")
    assert [(a.n, a.origin) for a in aggregates] == [
        (4, 500 * MS), (5, 4500 * MS), (5, 9500 * MS), (5, 14500 * MS)]


def test_zero_latency_boundary(sim) -> None:
    run = sim.run_yaml(_gateway("interval: 1s, phase: 0s", "aggregate_every: 5s",
                                latency="0s"))
    assert [(a.n, a.origin) for a in run.sent_on("gw->cloud")] == [
        (5, 0), (5, 5 * S), (5, 10 * S), (5, 15 * S)]


def test_empty_windows_send_nothing(sim) -> None:
    run = sim.run_yaml(_gateway("interval: 100s, phase: 6s", "aggregate_every: 5s",
                                duration="16s"))
    assert [(a.first_sent, a.n) for a in run.sent_on("gw->cloud")] == [(10 * S, 1)]
    assert run.counter("gw", "aggregates_sent") == 1
    assert run.counter("gw", "empty_windows") == 2


def test_a_crash_discards_the_current_window(sim) -> None:
    """Down during [13.5 s, 16.5 s): the readings of 10..13 s are discarded, those arriving at
    14.01..16.01 s are lost, and the window ending at 20 s holds only 17..19 s."""
    run = sim.run_yaml(_gateway("interval: 1s, phase: 0s", "aggregate_every: 10s",
                                faults="- {at: 13500ms, node: gw, action: crash, for: 3s}"))
    assert run.counter("gw", "readings_discarded_on_crash") == 4
    assert [(r.first_sent / S, r.cause) for r in run.lost_on("s->gw")] == [
        (14, "node_down"), (15, "node_down"), (16, "node_down")]
    assert [(a.first_sent, a.n, a.origin) for a in run.sent_on("gw->cloud")] == [
        (10 * S, 10, 0), (20 * S, 3, 17 * S)]
    assert run.counter("gw", "crashes") == 1


def test_no_aggregate_is_sent_while_down(sim) -> None:
    run = sim.run_yaml(_gateway("interval: 1s, phase: 0s", "aggregate_every: 10s",
                                faults="- {at: 8s, node: gw, action: crash, for: 4s}"))
    assert run.counter("gw", "readings_discarded_on_crash") == 8
    assert [(a.first_sent, a.n, a.origin) for a in run.sent_on("gw->cloud")] == [
        (20 * S, 8, 12 * S)]
    assert run.counter("gw", "empty_windows") == 0
    assert run.counter("gw", "aggregates_sent") == 1


def test_a_crash_at_a_window_end_wins_over_the_window(sim) -> None:
    """Faults run first: a crash at 10 s discards the window [0, 10 s) before it is flushed."""
    run = sim.run_yaml(_gateway("interval: 1s, phase: 0s", "aggregate_every: 10s",
                                faults="- {at: 10s, node: gw, action: crash, for: 500ms}"))
    assert run.counter("gw", "readings_discarded_on_crash") == 10
    assert [(a.first_sent, a.n) for a in run.sent_on("gw->cloud")] == [(20 * S, 9)]
    assert [r.first_sent / S for r in run.lost_on("s->gw")] == [10]


def test_gateways_can_be_chained(sim) -> None:
    run = sim.run_yaml("""
        duration: 12s
        network:
          default: {latency: 10ms}
        nodes:
          - {id: s, type: sensor, count: 2, interval: 1s, phase: 0s, to: gw1,
             value: {uniform: [0, 100]}}
          - {id: gw1, type: gateway, aggregate_every: 2s, to: gw2}
          - {id: gw2, type: gateway, aggregate_every: 10s, to: cloud}
          - {id: cloud, type: cloud}
        """)
    first_level = run.sent_on("gw1->gw2")
    assert [(a.first_sent / S, a.n) for a in first_level] == [
        (2, 4), (4, 4), (6, 4), (8, 4), (10, 4)]
    [top] = run.delivered_on("gw2->cloud")
    readings = [r.value for r in run.sent_on("s->gw1") if r.first_sent < 8 * S]
    assert top.n == 16  # the four aggregates that reached gw2 before 10 s
    assert top.value == pytest.approx(np.mean(readings))
    assert (top.vmin, top.vmax) == (min(readings), max(readings))
    assert top.origin == 0
    assert top.arrival == 10010 * MS
    assert run.end_to_end("cloud").max == 10010 * MS
    assert run.counter("gw2", "readings_in") == 5 * 4  # counts readings, not messages
    assert run.counter("cloud", "readings_in") == 16


def test_gateways_republishing_each_other_through_a_broker_stop_the_run_naming_a_node(
    sim,
) -> None:
    """Each window both gateways count the readings behind the other's aggregate too: the count
    doubles every second. It used to wrap to -102 at 100 s and the run ended as a success."""
    with pytest.raises(NodeFailure, match=r"'g[12]'.*feed back on themselves"):
        sim.run_yaml("""
            duration: 100s
            nodes:
              - {id: s, type: sensor, interval: 1s, to: broker, topic: "t/{id}"}
              - {id: broker, type: broker}
              - {id: g1, type: gateway, subscribe: {broker: broker, topics: ["#"]},
                 aggregate_every: 1s, to: broker, topic: "a/{id}"}
              - {id: g2, type: gateway, subscribe: {broker: broker, topics: ["#"]},
                 aggregate_every: 1s, to: broker, topic: "b/{id}"}
              - {id: cloud, type: cloud, subscribe: {broker: broker, topics: ["#"]}}
            """)


def test_a_window_sum_beyond_the_largest_float_stops_the_run_naming_the_gateway(sim) -> None:
    """Readings of 1e299 are accepted at load; two gateways republishing each other double the
    readings behind a window until their sum passes 1.8e308 (about 2^31 of them): an error
    naming the gateway, well before the count itself would wrap (it used to die in fsum)."""
    with pytest.raises(NodeFailure, match=r"^node 'g[12]' at .* not a finite number"):
        sim.run_yaml("""
            duration: 100s
            nodes:
              - {id: s, type: sensor, interval: 1s, to: broker, topic: "t/{id}",
                 value: {constant: 1e299}}
              - {id: broker, type: broker}
              - {id: g1, type: gateway, subscribe: {broker: broker, topics: ["#"]},
                 aggregate_every: 1s, to: broker, topic: "a/{id}"}
              - {id: g2, type: gateway, subscribe: {broker: broker, topics: ["#"]},
                 aggregate_every: 1s, to: broker, topic: "b/{id}"}
            """)


@settings(deadline=None, max_examples=300)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=60),
       st.sampled_from([1.0, 1e-3, 20.0, 1e12, 1e300]))
def test_the_fast_exact_sum_is_fsum(values: list[float], scale: float) -> None:
    """The gateway's sum of a block is fsum's correctly rounded sum, bit for bit, whatever the
    magnitudes (the fast path covers readings of similar size, fsum the rest)."""
    for block in (np.array(values), np.array(values) % scale + scale):
        try:
            expected: float | str = math.fsum(block.tolist())
        except OverflowError:
            expected = "overflow"
        try:
            found: float | str = exact_sum_of_floats(block)
        except OverflowError:
            found = "overflow"
        assert str(found) == str(expected)
