"""Sensor fleets: emission counts and times, Poisson processes, readings and topics."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from xedgesim.errors import NodeFailure
from xedgesim.scenario.model import Distribution

MS = 1_000_000
S = 1_000_000_000


def _fleet(sensor: str, *, duration: str = "10s", seed: int = 1) -> str:
    return f"""
        duration: {duration}
        seed: {seed}
        nodes:
          - {{id: s, type: sensor, to: cloud, {sensor}}}
          - {{id: cloud, type: cloud}}
        """


def _times_by_sensor(run) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for row in run.sent_on("s->cloud"):
        out.setdefault(row.sender, []).append(row.first_sent)
    return out


# -- periodic ----------------------------------------------------------------------------------


def test_periodic_with_fixed_phase_emits_exactly_duration_over_interval(sim) -> None:
    run = sim.run_yaml(_fleet("count: 7, interval: 250ms, phase: 0s"))
    assert run.flow("s->cloud")["sent"] == 7 * 40
    assert list(run.counters("s", "sent")) == [40] * 7
    times = _times_by_sensor(run)
    assert sorted(times) == [f"s-{i}" for i in range(7)]
    for emitted in times.values():
        assert emitted == [250 * MS * k for k in range(40)]


def test_periodic_with_a_nonzero_fixed_phase(sim) -> None:
    run = sim.run_yaml(_fleet("count: 2, interval: 1s, phase: 300ms", duration="5s"))
    for emitted in _times_by_sensor(run).values():
        assert emitted == [(300 + 1000 * k) * MS for k in range(5)]


def test_periodic_with_random_phase_emits_once_per_interval(sim) -> None:
    run = sim.run_yaml(_fleet("count: 50, interval: 1s"))  # phase: random is the default
    times = _times_by_sensor(run)
    assert len(times) == 50
    phases = []
    for emitted in times.values():
        assert len(emitted) == 10  # the duration is a multiple of the interval
        assert 0 <= emitted[0] < S
        assert np.all(np.diff(emitted) == S)
        phases.append(emitted[0])
    assert len(set(phases)) == 50  # each instance draws its own phase
    assert 0.25 * S < np.mean(phases) < 0.75 * S


def test_periodic_random_phase_count_when_the_duration_is_not_a_multiple(sim) -> None:
    run = sim.run_yaml(_fleet("count: 40, interval: 1s", duration="10500ms"))
    times = _times_by_sensor(run)
    early = [t for t in times.values() if t[0] < 500 * MS]
    late = [t for t in times.values() if t[0] >= 500 * MS]
    assert early and late
    assert all(len(t) == 11 for t in early)
    assert all(len(t) == 10 for t in late)
    assert run.flow("s->cloud")["sent"] == 11 * len(early) + 10 * len(late)


def test_a_bigger_fleet_does_not_change_the_first_sensors(sim) -> None:
    small = sim.run_yaml(_fleet("count: 3, interval: 1s", duration="3s"))
    big = sim.run_yaml(_fleet("count: 4, interval: 1s", duration="3s"))

    def by_sensor(run):
        return {(r.sender, r.first_sent): r.value for r in run.sent_on("s->cloud")}

    # Instance ids s-0..s-2 are the same in both (one digit); their phases and values too.
    small_rows, big_rows = by_sensor(small), by_sensor(big)
    assert small_rows == {k: v for k, v in big_rows.items() if k[0] != "s-3"}


def test_same_seed_same_run_and_another_seed_another(sim) -> None:
    def values(seed: int):
        run = sim.run_yaml(_fleet("count: 3, interval: 1s", duration="3s", seed=seed))
        return [(r.sender, r.first_sent, r.value) for r in run.sent_on("s->cloud")]

    assert values(5) == values(5)
    assert values(5) != values(6)


# -- Poisson -----------------------------------------------------------------------------------


def test_poisson_count_is_close_to_duration_over_interval(sim) -> None:
    run = sim.run_yaml(_fleet("count: 50, interval: 100ms, process: poisson, phase: 0s"))
    expected = 50 * 100
    sent = run.flow("s->cloud")["sent"]
    # 5 sd; whether the first reading is at the phase or one gap later moves it by <= 50.
    assert abs(sent - expected) <= 5 * math.sqrt(expected), sent
    times = _times_by_sensor(run)
    # Exponential inter-arrival times, mean 100 ms, coefficient of variation 1 (gaps seen
    # inside a finite run are slightly biased short: about 1 % here).
    gaps = np.concatenate([np.diff(t) for t in times.values()]) / MS
    assert abs(gaps.mean() - 100) < 5
    assert abs(gaps.std() / gaps.mean() - 1.0) < 0.1
    assert gaps.min() >= 0


@pytest.mark.parametrize("phase", ["300ms", "random"])
def test_poisson_first_reading_is_at_the_phase(sim, phase: str) -> None:
    """docs/scenario.md: a fixed ``phase`` is the first reading; ``random`` starts a Poisson
    sensor in its steady state, its first reading one exponential gap after 0."""
    run = sim.run_yaml(_fleet(f"count: 200, interval: 1s, process: poisson, phase: {phase}",
                              duration="5s"))
    first = np.array([t[0] for t in _times_by_sensor(run).values()])
    if phase == "random":
        # Exponential with mean 1 s: P(first >= 1 s) = 1/e, so about 74 of 200.
        late = int((first >= S).sum())
        assert 45 <= late <= 105, f"{late} of {len(first)} first readings after 1 s"
        assert 0.8 * S <= first.mean() <= 1.2 * S
    else:
        assert set(first.tolist()) == {300 * MS}, (
            f"first readings from {first.min() / MS:.1f} to {first.max() / MS:.1f} ms")


# -- readings ----------------------------------------------------------------------------------


def test_readings_of_a_constant_value(sim) -> None:
    run = sim.run_yaml(_fleet("count: 3, interval: 1s, value: {constant: 7.5}", duration="3s"))
    rows = run.sent_on("s->cloud")
    assert len(rows) == 9
    assert {(r.value, r.vmin, r.vmax, r.n) for r in rows} == {(7.5, 7.5, 7.5, 1)}
    assert all(r.origin == r.first_sent == r.sent for r in rows)


@pytest.mark.parametrize(
    ("value", "mean", "sd", "low", "high"),
    [
        ("{uniform: [10, 20]}", 15.0, 10 / math.sqrt(12), 10.0, 20.0),
        ("{normal: {mean: 21.5, std: 1.5}}", 21.5, 1.5, -math.inf, math.inf),
        ("{exponential: 4}", 4.0, 4.0, 0.0, math.inf),
    ],
)
def test_readings_follow_the_value_distribution(sim, value, mean, sd, low, high) -> None:
    run = sim.run_yaml(_fleet(f"count: 20, interval: 100ms, value: {value}"))
    values = np.array([r.value for r in run.sent_on("s->cloud")])
    assert len(values) == 2000
    assert values.min() >= low and values.max() <= high
    assert abs(values.mean() - mean) <= 6 * sd / math.sqrt(len(values))
    assert abs(values.std() - sd) <= 0.1 * sd


def test_default_readings_are_normal_20_2(sim) -> None:
    run = sim.run_yaml(_fleet("count: 20, interval: 100ms"))
    values = np.array([r.value for r in run.sent_on("s->cloud")])
    assert abs(values.mean() - 20.0) < 0.3
    assert abs(values.std() - 2.0) < 0.2


# -- topics and message fields -----------------------------------------------------------------


def test_topic_template_renders_id_and_index(sim) -> None:
    run = sim.run_yaml(_fleet('count: 12, interval: 1s, topic: "site/{id}/t{index}"',
                              duration="1s"))
    topics = {r.sender: r.topic for r in run.sent_on("s->cloud")}
    assert topics == {f"s-{i:02d}": f"site/s-{i:02d}/t{i}" for i in range(12)}


def test_topic_of_a_single_sensor_and_the_default_topic(sim) -> None:
    run = sim.run_yaml("""
        duration: 1s
        nodes:
          - {id: a, type: sensor, interval: 1s, to: cloud, topic: "x/{id}/{index}"}
          - {id: b, type: sensor, interval: 1s, to: cloud}
          - {id: cloud, type: cloud}
        """)
    assert {r.topic for r in run.sent_on("a->cloud")} == {"x/a/0"}
    assert {r.topic for r in run.sent_on("b->cloud")} == {"b/data"}


def test_payload_qos_and_retain_are_carried_by_every_message(sim) -> None:
    run = sim.run_yaml(_fleet("count: 2, interval: 1s, payload: 2KiB, qos: 1, retain: true",
                              duration="2s"))
    rows = run.sent_on("s->cloud")
    assert len(rows) == 4
    assert {(r.size, r.qos, r.retain, r.attempt) for r in rows} == {(2048, 1, True, 0)}
    assert run.flow("s->cloud")["throughput"]["bytes_per_s"] == 4 * 2048 / 2
    assert len({r.id for r in rows}) == 4


def test_a_reading_that_is_not_a_finite_number_stops_the_run_naming_the_sensor(sim) -> None:
    """The loader refuses distributions that reach that far; the fleet does not rely on it."""
    scenario = sim.load("""
        duration: 10s
        nodes:
          - {id: s, type: sensor, count: 3, interval: 1s, phase: 0s, to: cloud}
          - {id: cloud, type: cloud}
        """)
    sensor = scenario.nodes[0]
    hostile = replace(sensor, params=replace(sensor.params, value=Distribution("constant",
                                                                               (math.inf,))))
    scenario = replace(scenario, nodes=(hostile, *scenario.nodes[1:]))
    with pytest.raises(NodeFailure, match=r"^node 's' at 0 s: .* inf, not a finite number"):
        sim.run_scenario(scenario)
