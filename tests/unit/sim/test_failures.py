"""Random failure and repair (``failures: {mtbf, mttr}``): the down intervals, their queries,
and steady-state availability against theory."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tests.theory import mean_and_half_width
from xedgesim.scenario.model import Failures
from xedgesim.sim.failures import RandomOutages
from xedgesim.sim.kernel import NEVER
from xedgesim.sim.streams import RandomStreams

S = 1_000_000_000
# Student's t quantile t(0.9995, dof): the two-sided 99.9 % interval of a mean over seeds.
# A deterministic test cannot be allowed the 5 % misses of a 95 % interval.


FAILURES = Failures(20 * S, 5 * S)


def _outages(count: int = 30, until: int = 500 * S, seed: int = 3) -> RandomOutages:
    return RandomOutages(FAILURES, count, until, RandomStreams(seed), "s")


def _brute_intervals(outages: RandomOutages, instance: int) -> list[tuple[int, int]]:
    rows = np.flatnonzero(outages.instance == instance)
    return list(zip(outages.start[rows].tolist(), outages.end[rows].tolist(), strict=True))


def test_intervals_are_disjoint_in_order_and_inside_the_run() -> None:
    outages = _outages()
    until = 500 * S
    for instance in range(30):
        intervals = _brute_intervals(outages, instance)
        assert intervals, instance  # 500 s at an MTBF of 20 s: every instance fails
        for (start, end), (following, _) in itertools.pairwise(intervals):
            assert start < end < following
        assert all(0 <= start < until and end <= until + 1 for start, end in intervals)


def test_the_vector_queries_agree_with_a_walk_over_the_intervals() -> None:
    outages = _outages()
    rng = np.random.default_rng(7)
    local = rng.integers(0, 30, 4000)
    start = rng.integers(-S, 510 * S, 4000)
    end = start + rng.integers(0, 30 * S, 4000)
    down = outages.down(local, start)
    during = outages.down_during(local, start, end)
    first = outages.first_crash(local, start, end, NEVER)
    for i in range(len(local)):
        intervals = _brute_intervals(outages, int(local[i]))
        a, b = int(start[i]), int(end[i])
        assert down[i] == any(s <= a < e for s, e in intervals)
        assert during[i] == (a < b and any(s < b and a < e for s, e in intervals))
        inside = [s for s, _ in intervals if a < s < b]
        assert first[i] == (min(inside) if inside else NEVER)


def test_each_instance_has_its_own_stream_and_the_seed_decides() -> None:
    small, large = _outages(count=5), _outages(count=50)
    for instance in range(5):
        assert _brute_intervals(small, instance) == _brute_intervals(large, instance)
    again, other = _outages(), _outages(seed=4)
    assert np.array_equal(_outages().start, again.start)
    assert not np.array_equal(again.start[:10], other.start[:10])


def _expected_unavailability(mtbf: float, mttr: float, duration: float) -> float:
    """Time-averaged probability of being down over [0, T] for an alternating renewal process
    with exponential up (rate l = 1/MTBF) and down (rate m = 1/MTTR) times that starts up:
    P(down at t) = (1 - A)(1 - exp(-(l + m) t)) with A = MTBF / (MTBF + MTTR), so the average
    over [0, T] is (1 - A)(1 - (1 - exp(-cT)) / (cT)), c = l + m. For cT large it is 1 - A."""
    c = 1 / mtbf + 1 / mttr
    return mttr / (mtbf + mttr) * (1 - (1 - math.exp(-c * duration)) / (c * duration))


def test_the_fraction_of_time_down_is_the_theoretical_unavailability() -> None:
    """Time down over 2,000 instances per seed, 12 seeds: the expected unavailability
    (transient from the up start included, see ``_expected_unavailability``) lies inside the
    99.9 % Student-t interval of the seeds' means."""
    mtbf, mttr, until = 30 * S, 10 * S, 1000 * S
    fractions = []
    for seed in range(1, 13):
        outages = RandomOutages(Failures(mtbf, mttr), 2000, until, RandomStreams(seed), "s")
        down = np.minimum(outages.end, until) - outages.start
        fractions.append(int(down.sum()) / (2000 * until))
    mean, half = mean_and_half_width(fractions)
    expected = _expected_unavailability(mtbf, mttr, until)
    assert abs(mean - expected) <= half, (mean, half, expected)
    assert half < 0.004  # the interval is narrow enough to mean something


def test_sensors_with_random_failures_emit_with_the_theoretical_availability(sim) -> None:
    """End to end: a periodic sensor with a random phase samples its up/down state uniformly
    in time, and emits nothing while down (``suppressed_while_down``). Over 12 seeds of 200
    sensors for 300 s (MTBF 30 s, MTTR 10 s: A = 0.75), the suppressed fraction's 99.9 %
    Student-t interval contains the expected unavailability over [0, T] (0.2438: the
    stationary 0.25 less the transient of starting up)."""
    fractions = []
    for seed in range(1, 13):
        run = sim.run_yaml(f"""
            seed: {seed}
            duration: 300s
            nodes:
              - {{id: s, type: sensor, count: 200, interval: 1s, to: cloud,
                  failures: {{mtbf: 30s, mttr: 10s}}}}
              - {{id: cloud, type: cloud}}
            """, check=False)  # counters only; accounting is checked by the tests below
        suppressed = run.counter("s", "suppressed_while_down")
        assert run.counter("s", "sent") + suppressed == 200 * 300
        fractions.append(suppressed / (200 * 300))
    mean, half = mean_and_half_width(fractions)
    expected = _expected_unavailability(30.0, 10.0, 300.0)
    assert abs(mean - expected) <= half, (mean, half, expected)
    assert half < 0.015


def test_a_failing_gateway_crashes_restarts_and_loses_what_reaches_it_while_down(sim) -> None:
    run = sim.run_yaml("""
        seed: 2
        duration: 150s
        network: {default: {latency: 1ms}}
        nodes:
          - {id: s, type: sensor, count: 10, interval: 200ms, to: gw, qos: 1, max_retries: 0}
          - {id: gw, type: gateway, aggregate_every: 1s, failures: {mtbf: 15s, mttr: 2s}}
        """)
    outages = run.network.timeline.random_outages["gw"]
    assert run.counter("gw", "crashes") == len(outages) > 5
    assert run.counter("gw", "restarts") == int((outages.end < 150 * S).sum())
    lost = run.flow("s->gw")["lost"]["node_down"]
    assert lost > 0
    # Every message lost to the gateway arrived while it was down, and none that arrived then
    # was delivered.
    for row in run.lost:
        assert outages.down(np.array([0]), np.array([row.first_sent + S // 1000]))[0]
    for row in run.delivered[:2000]:
        assert not outages.down(np.array([0]), np.array([row.arrival]))[0]


@pytest.mark.parametrize("count", [1, 3])
def test_a_run_with_failures_is_the_same_for_the_same_seed(sim, count: int) -> None:
    text = f"""
        seed: 9
        duration: 40s
        nodes:
          - {{id: s, type: sensor, count: {count}, interval: 250ms, to: gw, qos: 1,
              failures: {{mtbf: 10s, mttr: 1s}}}}
          - {{id: gw, type: gateway, to: cloud, failures: {{mtbf: 15s, mttr: 3s}}}}
          - {{id: cloud, type: cloud}}
        """
    assert sim.run_yaml(text).summary == sim.run_yaml(text).summary
