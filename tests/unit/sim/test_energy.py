"""Energy and battery (``energy:``): exact integer sums, the depletion rules, the outputs, and a
periodic sensor's lifetime against theory."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import numpy as np

from tests.theory import mean_and_half_width
from xedgesim.report import write_node_counters
from xedgesim.scenario import load_scenario_text
from xedgesim.sim.energy import joules_text
from xedgesim.sim.kernel import NEVER
from xedgesim.simulation import simulate

S = 1_000_000_000
PJ_PER_J = 10**12


def _idle(power_pw: int, ns: int) -> int:
    """⌊P × t⌋ in picojoules, in Python integers (the reference for the int64 arithmetic)."""
    return power_pw * ns // S


def _nodes_csv(run) -> list[dict[str, str]]:
    handle = io.StringIO()
    write_node_counters(handle, run.result)
    return list(csv.DictReader(io.StringIO(handle.getvalue())))


def test_energy_is_the_exact_sum_over_transmissions_receptions_and_idle_time(sim) -> None:
    """Every sensor: (first sends + retransmissions) × (per message + per byte × 51 B) + ⌊idle
    × T⌋; the gateway: what it received and sent plus its idle drain. Integers, compared with
    ==, in the account and in the exact decimals of nodes.csv."""
    run = sim.run_yaml("""
        seed: 4
        duration: 37.5s
        network: {default: {latency: 3ms, loss: 0.2}}
        nodes:
          - {id: s, type: sensor, count: 20, interval: 700ms, process: poisson, qos: 1,
             max_retries: 2, retry_interval: 300ms, payload: 51B, to: gw,
             energy: {tx_per_message: 1.7uJ, tx_per_byte: 153.6nJ, idle: 4.5uW}}
          - {id: gw, type: gateway, aggregate_every: 2s, payload: 77B, to: cloud, qos: 1,
             energy: {tx_per_message: 3uJ, tx_per_byte: 1nJ, rx_per_message: 1.5024uJ,
                      rx_per_byte: 150.24nJ, idle: 1.3W}}
          - {id: cloud, type: cloud}
        """)
    until = 37_500_000_000
    transmissions = run.counters("s", "sent") + run.counters("s", "retransmissions")
    assert run.counter("s", "retransmissions") > 0 and run.summary["messages"]["lost"]["random"]
    expected_sensors = [n * (1_700_000 + 51 * 153_600) + _idle(4_500_000, until)
                        for n in transmissions.tolist()]
    received = run.counter("gw", "received")
    gw_sent = run.counter("gw", "sent") + run.counter("gw", "retransmissions")
    expected_gateway = (received * (1_502_400 + 51 * 150_240) + gw_sent * (3_000_000 + 77 * 1_000)
                        + _idle(1_300_000_000_000, until))
    sensors, gateway = run.result.energy["s"], run.result.energy["gw"]
    assert sensors.used(until).tolist() == expected_sensors
    assert gateway.used(until).tolist() == [expected_gateway]
    rows = {row["node"]: row for row in _nodes_csv(run)}
    for index, expected in enumerate(expected_sensors):
        text = rows[f"s-{index:02d}"]["energy_j"]
        assert Decimal(text) * PJ_PER_J == expected and text == joules_text(expected)
        assert rows[f"s-{index:02d}"]["battery_left_j"] == ""
    assert Decimal(rows["gw"]["energy_j"]) * PJ_PER_J == expected_gateway
    assert rows["cloud"]["energy_j"] == ""
    energy = run.summary["energy"]
    assert energy["used_j"] == (sum(expected_sensors) + expected_gateway) / PJ_PER_J
    assert energy["depleted"] == 0 and energy["first_depletion_s"] is None
    assert "battery" not in run.summary["messages"]["lost"]  # no battery, no such cause


_MESSAGE_PJ = 1_536_000 + 64 * 153_600  # the default costs, 64-byte readings: 11.3664 µJ
_IDLE_PW = 4_500_000


def _periodic(battery: str, qos: str = "", loss: float = 0.0, idle: str = "4.5uW",
              interval: str = "1s") -> str:
    return f"""
        duration: 20s
        network: {{default: {{loss: {loss}}}}}
        nodes:
          - {{id: s, type: sensor, interval: {interval}, phase: 0s, to: cloud {qos},
             energy: {{idle: {idle}, battery: {battery}}}}}
          - {{id: cloud, type: cloud}}
        """


def test_a_battery_for_exactly_n_messages_sends_n_and_loses_the_next_at_its_time(sim) -> None:
    """Battery = 7 messages + the idle drain up to 7 s: the readings at 0 … 6 s go out, the
    one at 7 s would overdraw it, so the battery runs out at exactly 7 s and that reading is
    lost as ``battery``; nothing is sent after (12 readings never emitted)."""
    capacity = 7 * _MESSAGE_PJ + _idle(_IDLE_PW, 7 * S)
    run = sim.run_yaml(_periodic(f"{capacity}pJ"))
    flow = run.flow("s->cloud")
    assert (flow["sent"], flow["delivered"], flow["lost"]["battery"]) == (8, 7, 1)
    assert [row.first_sent for row in run.lost] == [7 * S]
    account = run.result.energy["s"]
    assert account.depleted_at.tolist() == [7 * S]
    assert account.used(20 * S).tolist() == [capacity]  # the rest of the battery: exactly 0
    row = _nodes_csv(run)[0]
    assert (row["battery_left_j"], row["depleted_at_s"]) == ("0", "7")
    assert run.summary["energy"]["first_depletion_s"] == 7.0
    assert run.summary["energy"]["nodes"]["s"]["depleted"] == 1


def test_one_picojoule_less_and_the_idle_drain_empties_it_first(sim) -> None:
    """One pJ less: after the seventh reading the idle drain passes what is left at the first
    nanosecond where ⌊idle × t⌋ exceeds it, ⌈(left + 1) × 10^9 / idle⌉ = 7 s exactly; the
    reading at 7 s is then never made (not sent, not lost), and the whole battery is used."""
    capacity = 7 * _MESSAGE_PJ + _idle(_IDLE_PW, 7 * S) - 1
    run = sim.run_yaml(_periodic(f"{capacity}pJ"))
    flow = run.flow("s->cloud")
    assert (flow["sent"], flow["delivered"], flow["lost"]["battery"]) == (7, 7, 0)
    account = run.result.energy["s"]
    left = capacity - 7 * _MESSAGE_PJ
    assert account.depleted_at.tolist() == [-(-(left + 1) * S // _IDLE_PW)] == [7 * S]
    assert account.used(20 * S).tolist() == [capacity]


def test_an_idle_drain_alone_ends_a_node_between_its_messages(sim) -> None:
    """A battery that the idle drain empties while the node waits: its depletion time is
    found when the run ends (no later transmission asks)."""
    capacity = 3 * _MESSAGE_PJ + _idle(_IDLE_PW, 2_500_000_000)
    run = sim.run_yaml(_periodic(f"{capacity}pJ", interval="30s"))
    account = run.result.energy["s"]
    left = capacity - _MESSAGE_PJ  # one reading, at 0 s; the next would be at 30 s
    assert account.depleted_at.tolist() == [-(-(left + 1) * S // _IDLE_PW)]
    assert run.flow("s->cloud")["sent"] == 1
    assert account.used(20 * S).tolist() == [capacity]


def test_retries_of_a_dead_sensor_are_lost_to_the_battery_and_are_no_retransmissions(
        sim) -> None:
    """A link that loses everything, QoS 1, 3 retries a second apart, a battery for exactly
    six transmissions and no idle drain: reading 0 goes at 0, 1, 2, 3 s (then lost at
    random), reading 1 at 10 and 11 s; its retry at 12 s would overdraw the battery, which
    runs out then; reading 2 at 20 s is never made."""
    run = sim.run_yaml(_periodic(f"{6 * _MESSAGE_PJ}pJ", qos=", qos: 1, max_retries: 3",
                                 loss=1.0, idle="0W", interval="10s").replace("20s", "25s"))
    flow = run.flow("s->cloud")
    assert (flow["sent"], flow["retransmissions"]) == (2, 4)
    assert (flow["lost"]["random"], flow["lost"]["battery"]) == (1, 1)
    battery = [row for row in run.lost if row.cause == "battery"]
    assert [(row.first_sent, row.attempt) for row in battery] == [(10 * S, 2)]
    assert run.result.energy["s"].depleted_at.tolist() == [12 * S]
    assert run.result.energy["s"].used(25 * S).tolist() == [6 * _MESSAGE_PJ]


def test_a_periodic_sensor_lives_capacity_over_its_mean_power_within_one_interval(sim) -> None:
    """Theory: a sensor sending E_msg every T with idle power P spends on average P + E_msg/T,
    so a battery C lasts L = C / (P + E_msg/T). The discrete run deviates by less than one
    message's worth of energy, so every sensor's depletion time (50 sensors, random phases)
    is within one interval of L: with C = 2 mJ, P = 4.5 µW, E_msg = 11.3664 µJ and T = 1 s,
    L = 126.05 s. No seeds are needed: the bound is deterministic."""
    run = sim.run_yaml("""
        seed: 3
        duration: 150s
        nodes:
          - {id: s, type: sensor, count: 50, interval: 1s, to: cloud,
             energy: {battery: 2mJ}}
          - {id: cloud, type: cloud}
        """)
    lifetime = 2e9 / (_IDLE_PW + _MESSAGE_PJ / 1.0)  # pJ over pW: seconds
    depleted = run.result.energy["s"].depleted_at
    assert (depleted != NEVER).all()
    error = np.abs(depleted / S - lifetime)
    assert error.max() < 1.0, (lifetime, error.max())
    assert abs(run.summary["energy"]["first_depletion_s"] - lifetime) < 1.0
    # every sensor sent exactly the readings its battery powered, and nothing after
    assert run.counter("s", "sent") == run.flow("s->cloud")["delivered"] + \
        run.flow("s->cloud")["lost"]["battery"]


def test_a_run_with_energy_is_the_same_for_the_same_seed(sim) -> None:
    text = """
        seed: 5
        duration: 20s
        network: {default: {loss: 0.3}}
        nodes:
          - {id: s, type: sensor, count: 10, interval: 200ms, process: poisson, qos: 1,
             to: gw, energy: {battery: 0.3mJ}}
          - {id: gw, type: gateway, to: cloud, energy: {idle: 2W}}
          - {id: cloud, type: cloud}
        """
    first, second = sim.run_yaml(text), sim.run_yaml(text)
    assert first.summary == second.summary
    assert first.summary["energy"]["depleted"] > 0
    assert first.summary["messages"]["lost"]["battery"] > 0
    assert _nodes_csv(first) == _nodes_csv(second)


def test_a_run_without_energy_has_no_energy_outputs(sim) -> None:
    run = sim.run_yaml("""
        duration: 5s
        nodes:
          - {id: s, type: sensor, count: 3, interval: 1s, to: cloud}
          - {id: cloud, type: cloud}
        """)
    assert "energy" not in run.summary
    assert "battery" not in run.summary["messages"]["lost"]
    assert "energy_j" not in _nodes_csv(run)[0]



def test_a_poisson_sensor_lives_as_walds_identity_says() -> None:
    """Theory: with readings at Poisson rate λ, count every reading (the one the battery
    cannot power too) in Ẽ(t) = P·t + E_msg·N(t). Ẽ(t) − (P + λ·E_msg)·t is a martingale, and
    the battery runs out at the first τ with Ẽ(τ) > C: by the idle drain reaching C, or at a
    reading that would pass it, so C ≤ Ẽ(τ) ≤ C + E_msg. Wald's identity (optional stopping)
    then brackets the mean lifetime: C/(P + λ·E_msg) ≤ E[τ] ≤ (C + E_msg)/(P + λ·E_msg),
    here [126.05 s, 126.77 s]. Over 12 seeds of 200 sensors, the 99.9 % Student-t interval of
    the seeds' mean lifetimes must meet that bracket (its half-width is about 0.6 s)."""
    means = []
    for seed in range(1, 13):
        scenario = load_scenario_text(f"""
            seed: {seed}
            duration: 240s
            nodes:
              - {{id: s, type: sensor, count: 200, interval: 1s, process: poisson, to: cloud,
                 energy: {{battery: 2mJ}}}}
              - {{id: cloud, type: cloud}}
            """, "poisson.yaml")
        depleted = simulate(scenario).energy["s"].depleted_at
        assert (depleted != NEVER).all()
        means.append(float(depleted.mean()) / S)
    mean, half = mean_and_half_width(means)
    rate_pw = _IDLE_PW + _MESSAGE_PJ  # P + λ·E_msg with λ = 1/s, in pW
    low, high = 2e9 / rate_pw, (2e9 + _MESSAGE_PJ) / rate_pw
    assert mean + half >= low and mean - half <= high, (mean, half, low, high)
    assert half < 1.0, half  # narrow enough to tell the bracket from, say, C/P


def test_processing_on_the_device_is_paid_with_the_first_transmission(sim) -> None:
    """``compute: {at: device, energy}`` on a sensor with ``energy:``: each reading's processing
    costs its battery once, with its first transmission (a retry is not processed again), and
    nodes.csv's ``processing_energy_pj`` is that part of ``energy_j``."""
    run = sim.run_yaml("""
        seed: 9
        duration: 20s
        network: {default: {latency: 3ms, loss: 0.3}}
        nodes:
          - {id: s, type: sensor, count: 6, interval: 1s, qos: 1, retry_interval: 200ms,
             payload: 40B, to: cloud,
             compute: {at: device, time: {constant: 10ms}, energy: 2mJ},
             energy: {tx_per_message: 1uJ, tx_per_byte: 100nJ, idle: 1uW}}
          - {id: cloud, type: cloud}
        """)
    until = 20 * S
    first = run.counters("s", "sent")
    retries = run.counters("s", "retransmissions")
    assert int(retries.sum()) > 0
    message = 1_000_000 + 40 * 100_000
    expected = [f * (message + 2 * 10**9) + r * message + _idle(1_000_000, until)
                for f, r in zip(first.tolist(), retries.tolist(), strict=True)]
    assert run.result.energy["s"].used(until).tolist() == expected
    assert run.counters("s", "processing_energy_pj").tolist() == \
        [f * 2 * 10**9 for f in first.tolist()]


_SLOW_MESSAGE_PJ = 1_536_000 + 100 * 153_600  # the default costs, 100-byte readings


def _buffered(energy: str, compute: str = "") -> str:
    """A reading a second into a link that takes 2.5 s to serialise one (100 B at 320 bit/s)
    and holds one message: of the readings at 0, 1, 2, 3 … s the buffer admits those at 0, 3,
    6 … s (each finds the one before gone, at 2.5, 5.5 … s) and refuses the others."""
    return f"""
        duration: 20s
        network: {{default: {{bandwidth: 320bit, buffer: 1}}}}
        nodes:
          - {{id: s, type: sensor, interval: 1s, phase: 0s, payload: 100B, to: cloud,
             energy: {energy} {compute}}}
          - {{id: cloud, type: cloud}}
        """


def test_a_message_a_full_buffer_refuses_costs_no_transmission(sim) -> None:
    """Of 20 readings a full buffer refuses 13 (``overflow``): they never go on air, so the
    sensor pays for the 7 it transmitted and its idle drain, exactly (20 transmissions' worth
    if the refused ones were charged). Processed on the device, every reading costs its
    processing, refused or not: it was processed before the buffer refused it."""
    run = sim.run_yaml(_buffered("{idle: 4.5uW}"))
    flow = run.flow("s->cloud")
    assert (flow["sent"], flow["lost"]["overflow"]) == (20, 13)
    radio = 7 * _SLOW_MESSAGE_PJ + _idle(_IDLE_PW, 20 * S)
    assert run.result.energy["s"].used(20 * S).tolist() == [radio]
    run = sim.run_yaml(_buffered(
        "{idle: 4.5uW}", ", compute: {at: device, time: {constant: 10ms}, energy: 2mJ}"))
    assert run.flow("s->cloud")["lost"]["overflow"] == 13
    assert run.result.energy["s"].used(20 * S).tolist() == [radio + 20 * 2 * 10**9]


def test_a_full_buffer_does_not_drain_the_battery(sim) -> None:
    """A battery for three transmissions and the idle drain up to 9 s: the readings at 0, 3
    and 6 s go on air, those the buffer refuses in between cost nothing, and the one at 9 s,
    which the buffer admits, is the one the battery cannot power: it runs out at 9 s (at 3 s
    if refused readings were charged)."""
    capacity = 3 * _SLOW_MESSAGE_PJ + _idle(_IDLE_PW, 9 * S)
    run = sim.run_yaml(_buffered(f"{{idle: 4.5uW, battery: {capacity}pJ}}"))
    flow = run.flow("s->cloud")
    assert (flow["sent"], flow["delivered"]) == (10, 3)
    assert (flow["lost"]["overflow"], flow["lost"]["battery"]) == (6, 1)
    account = run.result.energy["s"]
    assert account.depleted_at.tolist() == [9 * S]
    assert account.used(20 * S).tolist() == [capacity]


def test_energy_counts_what_a_shared_buffer_lets_on_air(sim) -> None:
    """Poisson sensors sharing a link with a byte buffer: each instance pays, exactly, for
    its readings less those the buffer refused (QoS 0: each refusal is one ``overflow``
    loss), plus its idle drain."""
    run = sim.run_yaml("""
        seed: 6
        duration: 30s
        network: {default: {bandwidth: 8kbit, queue: shared, buffer: 300B}}
        nodes:
          - {id: s, type: sensor, count: 12, interval: 1s, process: poisson,
             payload: {uniform: [20B, 120B]}, to: cloud, energy: {idle: 4.5uW}}
          - {id: cloud, type: cloud}
        """)
    until = 30 * S
    assert run.flow("s->cloud")["lost"]["overflow"] > 0
    refused = {(row.sender, row.id) for row in run.lost if row.cause == "overflow"}
    expected = [_idle(_IDLE_PW, until)] * 12
    for row in run.sent_on("s->cloud"):
        if (row.sender, row.id) not in refused:
            expected[int(row.sender.rsplit("-", 1)[1])] += 1_536_000 + row.size * 153_600
    assert run.result.energy["s"].used(until).tolist() == expected
