"""Links that change (``schedule:``, ``trace:``): a change is seen at exactly its time, a queued
message takes the bandwidth of its transmission's start and the latency and loss of its
departure, a trace replays like the same schedule, and a loss schedule 0 → p → 0 loses the
expected fraction (binomial interval over seeds)."""

from __future__ import annotations

import math
import textwrap
from array import array
from pathlib import Path

import numpy as np

from xedgesim.scenario import load_scenario, load_scenario_text
from xedgesim.scenario.model import LinkSchedule, LinkSpec, Location
from xedgesim.sim.schedule import Phases
from xedgesim.simulation import simulate

MS = 1_000_000
S = 1_000_000_000
# The standard normal quantile of a two-sided 99.9 % interval: a deterministic test cannot be
# allowed the 5 % misses of a 95 % interval.
Z_9995 = 3.2905


def _arrivals(run, flow: str) -> dict[int, int]:
    """first send time -> arrival, of one sensor's delivered messages (one instance each)."""
    return {row.first_sent: row.arrival for row in run.delivered_on(flow)}


def test_a_latency_change_is_seen_at_exactly_its_time(sim) -> None:
    """Sensor ``late`` sends 1 ns before each whole second, ``exact`` at each whole second; the
    latency goes from 10 ms to 40 ms at 5 s. Without a bandwidth a message leaves when it is
    sent: the one sent at 5 s − 1 ns has the old latency, the one sent at 5 s the new one."""
    run = sim.run_yaml("""
        duration: 8s
        network:
          default: {latency: 10ms, schedule: [{at: 5s, latency: 40ms}]}
        nodes:
          - {id: exact, type: sensor, interval: 1s, phase: 0s, to: cloud}
          - {id: late, type: sensor, interval: 1s, phase: 999999999ns, to: cloud}
          - {id: cloud, type: cloud}
        """)
    exact, late = _arrivals(run, "exact->cloud"), _arrivals(run, "late->cloud")
    assert late[5 * S - 1] == 5 * S - 1 + 10 * MS
    assert exact[5 * S] == 5 * S + 40 * MS
    assert exact[4 * S] == 4 * S + 10 * MS and late[6 * S - 1] == 6 * S - 1 + 40 * MS
    assert run.network.lookahead == 10 * MS


def test_a_loss_step_loses_exactly_the_messages_sent_while_it_holds(sim) -> None:
    """loss 1 from 3 s, 0 again from 5 s: lost are exactly the sends in [3 s, 5 s)."""
    run = sim.run_yaml("""
        duration: 8s
        network:
          default: {latency: 1ms, schedule: [{at: 3s, loss: 1}, {at: 5s, loss: 0}]}
        nodes:
          - {id: exact, type: sensor, interval: 1s, phase: 0s, to: cloud}
          - {id: late, type: sensor, interval: 1s, phase: 999999999ns, to: cloud}
          - {id: cloud, type: cloud}
        """)
    lost = sorted(row.first_sent for row in run.lost)
    assert lost == [3 * S, 4 * S - 1, 4 * S, 5 * S - 1]
    assert all(row.cause == "random" for row in run.lost)


def _reference(sends: list[int], size: int, phases: list[tuple[int, int, float]]) -> list[int]:
    """Arrivals of one sender's messages, one at a time, by the documented rule: FIFO; the
    transmission takes ⌈size × 8 × 10^9 / bandwidth⌉ at the bandwidth in effect when it starts,
    then the latency in effect when it departs. ``phases``: (from, latency, bandwidth)."""
    def at(time: int) -> tuple[int, int, float]:
        return [phase for phase in phases if phase[0] <= time][-1]

    arrivals, busy = [], 0
    for sent in sends:
        start = max(sent, busy)
        busy = start + math.ceil(size * 8 * S / at(start)[2])
        arrivals.append(busy + at(busy)[1])
    return arrivals


def test_a_queued_message_takes_the_bandwidth_of_its_start_and_the_latency_of_its_departure(
        sim) -> None:
    """One sensor sends 100 B every 10 ms over 100 kbit/s (8 ms each), latency 5 ms; at
    500 ms the bandwidth drops to 50 kbit/s (16 ms each: a queue builds) and the latency goes
    to 30 ms, at 800 ms the bandwidth comes back. Every arrival equals the one-message-at-a-
    time reference, including those sent before a change and started or departed after it."""
    run = sim.run_yaml("""
        duration: 2s
        network:
          default:
            latency: 5ms
            bandwidth: 100kbit
            schedule:
              - {at: 500ms, bandwidth: 50kbit, latency: 30ms}
              - {at: 800ms, bandwidth: 100kbit}
        nodes:
          - {id: s, type: sensor, interval: 10ms, phase: 5ms, payload: 100B, to: cloud}
          - {id: cloud, type: cloud}
        """)
    rows = run.delivered_on("s->cloud")
    sends = [row.first_sent for row in rows]
    expected = _reference(sends, 100, [(0, 5 * MS, 100e3), (500 * MS, 30 * MS, 50e3),
                                       (800 * MS, 30 * MS, 100e3)])
    assert [row.arrival for row in rows] == expected
    # Sent before 500 ms, departed after it: old bandwidth, new latency.
    straddling = [i for i, sent in enumerate(sends) if sent < 500 * MS < expected[i] - 30 * MS]
    assert straddling
    # Queued before 800 ms, started after it at the old bandwidth again.
    assert any(sent < 800 * MS < arrival - 30 * MS - 8 * MS
               for sent, arrival in zip(sends, expected, strict=True))


def test_a_trace_replays_like_the_same_schedule(sim, tmp_path: Path) -> None:
    """A trace file and a schedule giving the same changes run to the same summary."""
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "t.csv").write_text(
        "# a step down and back\ntime,latency,bandwidth,loss\n"
        "2s,40ms,20kbit,0.2\n4s,,,0\n6s,10ms,unlimited,\n")
    body = """
        seed: 3
        duration: 8s
        network:
          default: {{latency: 10ms, {network}}}
        nodes:
          - {{id: s, type: sensor, count: 20, interval: 100ms, to: cloud}}
          - {{id: cloud, type: cloud}}
        """
    scenario = tmp_path / "s.yaml"
    scenario.write_text(body.format(network="trace: traces/t.csv"))
    traced = sim.run_scenario(load_scenario(scenario))
    scheduled = sim.run_yaml(body.format(network="""schedule: [
        {at: 2s, latency: 40ms, bandwidth: 20kbit, loss: 0.2}, {at: 4s, loss: 0},
        {at: 6s, latency: 10ms, bandwidth: unlimited}]"""))
    assert traced.summary["flows"] == scheduled.summary["flows"]
    assert traced.flow("s->cloud")["lost"]["random"] > 0


def test_a_loss_pulse_loses_the_binomial_fraction_of_what_is_sent_during_it() -> None:
    """loss 0, then p = 0.2 over [10 s, 20 s), then 0 again; 200 sensors send every 100 ms
    for 30 s, 8 seeds. Each sensor sends exactly 100 messages in the pulse, whatever its
    phase. Theory: each of them is lost independently with probability p (one uniform of the
    link's loss stream each), none outside the pulse (the step test shows the edges exact);
    so the lost count over the n = 8 × 200 × 100 transmissions of the pulse is Binomial(n, p)
    and its fraction lies within p ± z √(p(1 − p)/n), z the 99.9 % normal quantile
    (n p = 32,000: the normal approximation is exact far below this tolerance)."""
    p, lost, n = 0.2, 0, 8 * 200 * 100
    for seed in range(1, 9):
        scenario = load_scenario_text(textwrap.dedent(f"""
            seed: {seed}
            duration: 30s
            network:
              default: {{latency: 1ms, schedule: [{{at: 10s, loss: {p}}}, {{at: 20s, loss: 0}}]}}
            nodes:
              - {{id: s, type: sensor, count: 200, interval: 100ms, to: cloud}}
              - {{id: cloud, type: cloud}}
            """), "pulse.yaml")
        flow = simulate(scenario).summary()["flows"]["s->cloud"]
        assert flow["sent"] == 200 * 300
        lost += flow["lost"]["random"]
    half = Z_9995 * math.sqrt(p * (1 - p) / n)
    assert abs(lost / n - p) <= half, (lost / n, half)


def test_phases_carry_each_property_until_a_change_gives_it() -> None:
    schedule = LinkSchedule(
        at_ns=array("q", [0, 5, 9]), latency_ns=array("q", [-1, 7, -1]),
        bandwidth_bps=array("d", [1e3, math.nan, math.inf]),
        loss=array("d", [math.nan, 0.5, math.nan]), location=Location("s.yaml", 1, 1))
    phases = Phases(LinkSpec(latency_ns=3, loss=0.1, bandwidth_bps=None, schedule=schedule))
    found = phases.at(np.array([0, 4, 5, 8, 9, 10**15]))
    assert phases.latency_ns[found].tolist() == [3, 3, 7, 7, 7, 7]
    assert phases.loss[found].tolist() == [0.1, 0.1, 0.5, 0.5, 0.5, 0.5]
    took = phases.serialisation(np.array([1, 1, 1]), np.array([0, 6, 9]),
                                lambda size, exact: size * exact[0] // exact[1])
    assert took.tolist() == [8_000_000, 8_000_000, 0]  # 1 B at 1 kbit/s, then unlimited
