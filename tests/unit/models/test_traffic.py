"""A sensor's traffic: payload sizes drawn per message, the on/off and trace arrival
processes; each against a plain reference and against queueing theory over seeds."""

from __future__ import annotations

import math
import textwrap
from array import array
from pathlib import Path

import numpy as np
import pytest

from tests.theory import mean_and_half_width
from xedgesim.models.traffic import OnOffArrivals, PayloadSizes, TraceArrivals
from xedgesim.scenario import load_scenario_text
from xedgesim.scenario.model import Distribution, OnOff, Publishing, SensorParams, Trace
from xedgesim.sim.streams import RandomStreams
from xedgesim.simulation import simulate

MS = 1_000_000
S = 1_000_000_000
# Student's t quantile t(0.9995, 9): the two-sided 99.9 % interval of a mean over 10 seeds.
# A deterministic test cannot be allowed the 5 % misses of a 95 % interval.


def _run(text: str):
    """A run without records: the theory tests send a million messages."""
    return simulate(load_scenario_text(textwrap.dedent(text), "test.yaml"))


# -- payload sizes ------------------------------------------------------------------------------


def test_a_constant_payload_is_the_fixed_size_and_draws_nothing(sim) -> None:
    base = """
        seed: 3
        duration: 5s
        network: {default: {latency: 1ms, bandwidth: 100kbit, jitter: {exponential: 1ms}}}
        nodes:
          - {id: s, type: sensor, count: 20, interval: 50ms, to: c, payload: %s}
          - {id: c, type: cloud}
        """
    fixed = sim.run_yaml(base % "200B")
    constant = sim.run_yaml(base % "{constant: 200B}")
    assert fixed.summary == constant.summary
    assert constant.scenario.nodes[0].params.publish.payload_size is None


def test_drawn_sizes_are_whole_bytes_at_least_one_and_reach_the_link(sim) -> None:
    run = sim.run_yaml("""
        seed: 5
        duration: 10s
        network: {default: {bandwidth: 8Mbit}}
        nodes:
          - {id: s, type: sensor, count: 30, interval: 100ms, to: c,
             payload: {normal: {mean: 3B, std: 4B}}}
          - {id: c, type: cloud}
        """)
    sizes = np.array([row.size for row in run.sent])
    assert len(sizes) == 3000 and sizes.min() == 1 and sizes.max() > 10
    for row in run.delivered:
        assert row.latency >= row.size * 1000  # 8 Mbit/s: 1 µs per byte on the wire
    # a normal conditioned on x >= 0 then rounded up: P(size = 1) = P(0 <= x <= 1 | x >= 0)
    low, high = _phi(-0.75), _phi(-0.5)
    expected = (high - low) / (1 - low)
    assert abs(np.mean(sizes == 1) - expected) < 4 * math.sqrt(expected / len(sizes))


def _phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def test_sizes_are_drawn_per_emission_from_the_size_stream() -> None:
    sizes = PayloadSizes(Distribution("uniform", (10.0, 20.0)), RandomStreams(4), "s", 3)
    instances = np.array([0, 2, 2, 1, 0])
    drawn = sizes.draw(instances)
    stream = RandomStreams(4).node("s", "size", 3)
    expected = [math.ceil(10 + 10 * stream.uniform(np.array([i]))[0]) for i in instances]
    assert drawn.tolist() == expected


class _Waits:
    """A recorder (``xedgesim.sim.network.Recorder``) that keeps, per delivered message, its
    first send, its arrival and its size: arrays, not rows, for 100,000s of messages."""

    def __init__(self) -> None:
        self.blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def start(self, instance_ids: list[str], topic_names: list[str]) -> None:
        pass

    def delivered(self, flow, block) -> None:
        self.blocks.append((block.first_sent.copy(), block.arrival.copy(), block.size.copy()))

    def lost(self, flow, batch, causes) -> None:
        raise AssertionError("nothing is lost on this link")

    def in_flight(self, flow, batch) -> None:
        pass  # what the end of the run leaves travelling has no wait to measure

    def waits(self, start: int, end: int, ns_per_byte: int) -> np.ndarray:
        """Time in the queue (latency less serialisation) of messages first sent in
        [start, end)."""
        sent, arrival, size = (np.concatenate(field) for field in zip(*self.blocks, strict=True))
        keep = (sent >= start) & (sent < end)
        return arrival[keep] - sent[keep] - ns_per_byte * size[keep]


def test_mm1_waiting_time_with_exponential_sizes() -> None:
    """M/M/1: 500 Poisson sensors (mean gap 2 ms, λ = 500/s), each with its own FIFO on an
    8 Mbit/s link (exactly 1 µs per byte, no propagation delay), sizes exponential with mean
    m = 1000 B: ρ ≈ 0.5.

    Rounding, accounted exactly: a size is ⌈X⌉ with X exponential, a geometric variable on
    {1, 2, …} with p = 1 − e^(−1/m), so the service time T = S µs has E[S] = 1/p and
    E[S²] = (2 − p)/p². The queue is then M/G/1 and Pollaczek–Khinchine gives the exact mean
    wait W = λ E[T²] / (2 (1 − ρ)), ρ = λ E[T]; with m = 1000 it differs from the M/M/1
    W = ρ / (μ − λ), μ = 1/E[T], by under 0.1 % (asserted), far inside the interval.

    Per seed, the wait of each message (its latency less its own serialisation) is averaged
    over those first sent in [0.1 s, 0.45 s) of a 0.5 s run, ~90,000 messages: the queues
    start empty, and 0.1 s is eight relaxation times 1 / (μ (1 − √ρ)²) ≈ 12 ms of M/M/1 (a
    bias below 1e-3); the last 50 ms are left out so that no counted message is still queued
    at the end (a wait of 50 ms has probability ρ e^(−(μ−λ) 50 ms) ≈ 1e-11). A seed's mean
    varies by about 1.5 %; the exact W must lie in the 99.9 % Student-t interval over 10
    seeds."""
    m, lam = 1000.0, 500.0
    means = []
    for seed in range(1, 11):
        scenario = load_scenario_text(textwrap.dedent(f"""
            seed: {seed}
            duration: 500ms
            network: {{default: {{bandwidth: 8Mbit}}}}
            nodes:
              - {{id: s, type: sensor, count: 500, interval: 2ms, process: poisson, to: c,
                  payload: {{exponential: {m:g}B}}}}
              - {{id: c, type: cloud}}
            """), "test.yaml")
        recorder = _Waits()
        simulate(scenario, recorder=recorder)
        means.append(float(recorder.waits(100 * MS, 450 * MS, 1000).mean()) / S)
    p = 1 - math.exp(-1 / m)
    mean_t = 1e-6 / p
    mean_t2 = 1e-12 * (2 - p) / p**2
    rho = lam * mean_t
    expected = lam * mean_t2 / (2 * (1 - rho))
    mm1 = rho / (1 / mean_t - lam)
    assert abs(expected - mm1) / mm1 < 1e-3
    mean, half = mean_and_half_width(means)
    assert abs(mean - expected) <= half, (mean, half, expected)
    assert half < 0.05 * expected  # narrow enough to tell M/M/1 from M/D/1 (half the wait)


# -- on/off arrivals --------------------------------------------------------------------------


def _on_off_params(phase: str | int = "random") -> SensorParams:
    publish = Publishing("c", "{id}/data")
    return SensorParams(publish, 100 * MS, "on_off", phase, arrivals=OnOff(2 * S, 8 * S))


def _reference_on_off(seed: int, count: int, until: int,
                      phase: str | int = "random") -> list[list[int]]:
    """One instance at a time, one draw at a time, from the same streams."""
    streams = RandomStreams(seed)
    gaps, on, off = (streams.node("s", name, count) for name in ("gaps", "on", "off"))

    def draw(stream, instance: int, mean: float) -> int:
        return round(-mean * math.log1p(-stream.uniform(np.array([instance]))[0]))

    first = streams.node("s", "phase", count).uniform(np.arange(count))
    out = []
    for i in range(count):
        start = phase  # an on period starts at the fixed phase
        if phase == "random":  # stationary: on with probability 2 / (2 + 8)
            start = 0 if first[i] < 0.2 else draw(off, i, 8e9)
        on_end = start + draw(on, i, 2e9)
        t = start + draw(gaps, i, 1e8)
        times = []
        while True:
            while t >= on_end:
                start = on_end + draw(off, i, 8e9)
                on_end = start + draw(on, i, 2e9)
                t = start + draw(gaps, i, 1e8)
            if t >= until:
                break
            times.append(t)
            t += draw(gaps, i, 1e8)
        out.append(times)
    return out


def _collect(arrivals, count: int, ends: list[int]) -> list[list[int]]:
    out: list[list[int]] = [[] for _ in range(count)]
    last = -1
    for end in ends:
        instances, times = arrivals.due(end)
        keys = list(zip(times.tolist(), instances.tolist(), strict=True))
        assert keys == sorted(keys) and (not keys or keys[0][0] >= last)
        last = keys[-1][0] if keys else last
        for instance, time in zip(instances.tolist(), times.tolist(), strict=True):
            out[instance].append(time)
    return out


@pytest.mark.parametrize("phase", ["random", 3 * S])
def test_on_off_is_the_one_instance_walk_however_the_windows_fall(phase) -> None:
    count, until = 12, 120 * S
    expected = _reference_on_off(7, count, until, phase)
    assert sum(map(len, expected)) > 500
    for ends in ([until], list(range(100 * MS, until + 1, 100 * MS)),
                 [S, 1 * S + 1, 37 * S, 90 * S, until]):
        arrivals = OnOffArrivals(OnOff(2 * S, 8 * S), _on_off_params(phase), RandomStreams(7),
                                 "s", count)
        assert _collect(arrivals, count, ends) == expected


def test_on_off_mean_rate_and_index_of_dispersion_match_theory() -> None:
    """An interrupted Poisson process (IPP, the MMPP-2 with one silent state): on periods
    exponential with mean a = 2 s, off periods with mean b = 8 s, rate λ = 10/s while on
    (interval 100 ms), started in its stationary state (phase: random).

    Mean: P(on) = a / (a + b), so E[N(t)] = λ a t / (a + b) (2 readings/s), exactly.
    Dispersion: the rate X(t) ∈ {0, λ} has Cov(X(0), X(u)) = λ² p (1 − p) e^(−cu) with
    p = a/(a + b) and c = 1/a + 1/b, and for a doubly stochastic Poisson process
    Var N(t) = E N(t) + ∫∫ Cov = λ p t + 2 λ² p (1 − p) (t/c − (1 − e^(−ct))/c²), so
    IDC(t) = Var N(t) / E N(t) = 1 + (2 λ (1 − p) / c) (1 − (1 − e^(−ct)) / (ct)),
    = 1 + 2 λ a b² / (a + b)² for t → ∞ (26.6 here; 26.19 at t = 100 s). This is the MMPP-2
    IDC of Fischer & Meier-Hellstern, "The Markov-modulated Poisson process (MMPP) cookbook",
    Performance Evaluation 18 (1993), with λ2 = 0.

    Per seed, the counts of 2,000 instances over 100 s (drawn by the sensor's own generator,
    which the test below shows is what a run emits) give the mean rate and IDC = s² / mean (a
    ratio estimator, biased by O(1/2000), far inside the interval); both theories must lie in
    the 99.9 % Student-t interval over 10 seeds."""
    a, b, lam, t, count = 2.0, 8.0, 10.0, 100.0, 2000
    rates, idcs = [], []
    for seed in range(1, 11):
        arrivals = OnOffArrivals(OnOff(int(a * S), int(b * S)), _on_off_params(),
                                 RandomStreams(seed), "s", count)
        instances, _ = arrivals.due(int(t * S))
        counts = np.bincount(instances, minlength=count).astype(float)
        rates.append(counts.mean() / t)
        idcs.append(counts.var(ddof=1) / counts.mean())
    p, c = a / (a + b), 1 / a + 1 / b
    expected_rate = lam * p
    expected_idc = 1 + 2 * lam * (1 - p) / c * (1 - (1 - math.exp(-c * t)) / (c * t))
    mean, half = mean_and_half_width(rates)
    assert abs(mean - expected_rate) <= half, (mean, half, expected_rate)
    assert half < 0.03 * expected_rate
    mean, half = mean_and_half_width(idcs)
    assert abs(mean - expected_idc) <= half, (mean, half, expected_idc)
    assert half < 0.1 * expected_idc  # a Poisson process has 1


def test_an_on_off_sensor_emits_what_its_generator_draws(sim) -> None:
    run = sim.run_yaml("""
        seed: 4
        duration: 30s
        nodes:
          - {id: s, type: sensor, count: 40, interval: 100ms, to: c,
             process: {on_off: {on_time: 2s, off_time: 8s}}}
          - {id: c, type: cloud}
        """)
    arrivals = OnOffArrivals(OnOff(2 * S, 8 * S), _on_off_params(), RandomStreams(4), "s", 40)
    instances, times = arrivals.due(30 * S)
    sent = [(int(row.sender[2:]), row.first_sent) for row in run.sent_on("s->c")]
    assert sorted(sent) == sorted(zip(instances.tolist(), times.tolist(), strict=True))
    assert list(run.counters("s", "sent")) == np.bincount(instances, minlength=40).tolist()


# -- traces ----------------------------------------------------------------------------------


def _trace(times_ns: list[int], instances: list[int] | None = None) -> Trace:
    return Trace("t.csv", array("q", times_ns), None if instances is None
                 else array("q", instances))


def test_a_trace_without_instances_is_replayed_by_every_instance() -> None:
    arrivals = TraceArrivals(_trace([0, 5, 5, 20]), 3)
    instances, times = arrivals.due(10)
    assert instances.tolist() == [0, 1, 2, 0, 0, 1, 1, 2, 2]
    assert times.tolist() == [0, 0, 0, 5, 5, 5, 5, 5, 5]
    assert [a.tolist() for a in arrivals.due(20)] == [[], []]
    instances, times = arrivals.due(21)
    assert instances.tolist() == [0, 1, 2] and times.tolist() == [20] * 3


def test_a_trace_with_instances_emits_each_row_once() -> None:
    arrivals = TraceArrivals(_trace([0, 5, 5, 9], [2, 1, 0, 1]), 3)
    instances, times = arrivals.due(100)
    assert instances.tolist() == [2, 0, 1, 1] and times.tolist() == [0, 5, 5, 9]


def test_a_trace_scenario_emits_at_the_trace_times(sim, tmp_path: Path) -> None:
    (tmp_path / "arrivals.csv").write_text(
        "# capture of 3 devices\ntime_s,instance\n0,0\n0.25,2\n0.25,1\n\n1.000000001,0\n"
        "2.5,1\n30,2\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(textwrap.dedent("""
        seed: 2
        duration: 10s
        nodes:
          - {id: s, type: sensor, count: 3, to: c, process: {trace: arrivals.csv}}
          - {id: c, type: cloud}
        faults:
          - {at: 2s, node: s-1, action: crash, for: 1s}
        """))
    from xedgesim.scenario import load_scenario

    run = sim.run_scenario(load_scenario(scenario))
    sent = [(row.sender, row.first_sent) for row in run.sent_on("s->c")]
    assert sent == [("s-0", 0), ("s-1", 250 * MS), ("s-2", 250 * MS), ("s-0", S + 1)]
    assert run.counter("s", "suppressed_while_down") == 1  # s-1 at 2.5 s; 30 s is after the end
