"""Links: random loss, latency and jitter, bandwidth queues, and the accounting of every flow.

Every run goes through ``sim.run_yaml``, which also asserts sent = delivered + lost + in_flight
(and that the per-message records agree with it) for every flow.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

MS = 1_000_000
S = 1_000_000_000


def _direct(link: str, *, count: int = 1, interval: str = "1s", phase: str = "0s",
            payload: str = "64B", duration: str = "10s", extra: str = "") -> str:
    """``count`` sensors publishing straight to a cloud over a default link ``{link}``."""
    return f"""
        duration: {duration}
        network:
          default: {{{link}}}
        nodes:
          - {{id: s, type: sensor, count: {count}, interval: {interval}, phase: {phase},
              payload: {payload}, to: cloud{extra}}}
          - {{id: cloud, type: cloud}}
        """


# -- random loss -------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", [0.05, 0.2, 0.5])
def test_random_loss_rate_is_within_binomial_bounds(sim, loss: float) -> None:
    run = sim.run_yaml(_direct(f"latency: 1ms, loss: {loss}", count=50, interval="100ms",
                               phase="random"))
    flow = run.flow("s->cloud")
    n = flow["sent"]
    assert n == 50 * 100
    expected, sd = n * loss, math.sqrt(n * loss * (1 - loss))
    lost = flow["lost"]["random"]
    assert abs(lost - expected) <= 5 * sd, (lost, expected, sd)
    assert {cause: c for cause, c in flow["lost"].items() if cause != "random"} == {
        "link_down": 0, "partition": 0, "node_down": 0}
    assert all(row.cause == "random" for row in run.lost)
    assert flow["in_flight"] == 0
    assert flow["delivered"] == n - lost
    # Every sensor instance has its own loss stream: no instance is spared or singled out.
    per_sensor = run.counters("s", "lost")
    assert per_sensor.sum() == lost
    assert per_sensor.max() <= 100 * loss + 5 * math.sqrt(100 * loss * (1 - loss)) + 1


def test_no_loss_means_every_message_arrives(sim) -> None:
    run = sim.run_yaml(_direct("latency: 3ms", count=5, interval="100ms"))
    flow = run.flow("s->cloud")
    assert flow["sent"] == flow["delivered"] == 500
    assert flow["lost"] == {"random": 0, "link_down": 0, "partition": 0, "node_down": 0}


def test_loss_one_loses_everything_and_qos0_is_not_retried(sim) -> None:
    run = sim.run_yaml(_direct("latency: 3ms, loss: 1.0", count=3, interval="500ms"))
    flow = run.flow("s->cloud")
    assert flow["sent"] == 60
    assert flow["lost"]["random"] == 60
    assert flow["retransmissions"] == 0
    assert all(row.attempt == 0 for row in run.lost)


# -- latency and jitter ------------------------------------------------------------------------


def test_constant_latency_is_exact(sim) -> None:
    run = sim.run_yaml(_direct("latency: 7ms", count=4, interval="200ms", phase="random"))
    delivered = run.delivered_on("s->cloud")
    assert len(delivered) == 4 * 50
    assert {row.latency for row in delivered} == {7 * MS}
    assert run.flow("s->cloud")["latency_ms"]["mean"] == 7.0


def test_constant_jitter_adds_exactly(sim) -> None:
    run = sim.run_yaml(_direct("latency: 5ms, jitter: {constant: 3ms}", count=2, interval="1s"))
    assert {row.latency for row in run.delivered_on("s->cloud")} == {8 * MS}


@pytest.mark.parametrize(
    ("jitter", "mean_ms", "sd_ms", "low_ms", "high_ms"),
    [
        ("{exponential: 2ms}", 2.0, 2.0, 0.0, math.inf),
        ("{uniform: [1ms, 3ms]}", 2.0, 2 / math.sqrt(12), 1.0, 3.0),
        ("{normal: {mean: 4ms, std: 1ms}}", 4.0, 1.0, 0.0, math.inf),
    ],
)
def test_jitter_latency_is_at_least_base_and_mean_is_base_plus_jitter_mean(
    sim, jitter: str, mean_ms: float, sd_ms: float, low_ms: float, high_ms: float
) -> None:
    base_ms = 5
    run = sim.run_yaml(_direct(f"latency: {base_ms}ms, jitter: {jitter}", count=20,
                               interval="100ms", phase="random"))
    latencies = np.array([row.latency for row in run.delivered_on("s->cloud")]) / MS
    n = len(latencies)
    assert n + run.flow("s->cloud")["in_flight"] == 20 * 100  # the last few are still on the way
    assert latencies.min() >= base_ms + low_ms - 1e-6
    assert latencies.max() <= base_ms + high_ms + 1e-6
    tolerance = 6 * sd_ms / math.sqrt(n)
    assert abs(latencies.mean() - (base_ms + mean_ms)) <= tolerance, latencies.mean()
    assert abs(latencies.std() - sd_ms) <= 0.25 * sd_ms
    summary_mean = run.flow("s->cloud")["latency_ms"]["mean"]
    assert summary_mean == pytest.approx(latencies.mean(), abs=0.001)


def test_normal_jitter_truncated_at_zero_never_arrives_early(sim) -> None:
    """A normal jitter centred on zero is conditioned on >= 0 (a half-normal), not clipped."""
    run = sim.run_yaml(_direct("latency: 5ms, jitter: {normal: {mean: 0ms, std: 1ms}}",
                               count=10, interval="100ms"))
    latencies = np.array([row.latency for row in run.delivered_on("s->cloud")])
    assert len(latencies) == 1000
    assert latencies.min() >= 5 * MS
    # Clipping would put half the draws at exactly 5 ms; conditioning puts (almost) none there.
    assert (latencies == 5 * MS).sum() < 10
    # E[X | X >= 0] for N(0, 1 ms) is sqrt(2 / pi) ms = 0.798 ms (sd 0.603 ms, n = 1000).
    assert abs(latencies.mean() / MS - (5 + math.sqrt(2 / math.pi))) < 0.06


def test_link_override_applies_to_its_pair_only_in_both_directions(sim) -> None:
    run = sim.run_yaml("""
        duration: 5s
        network:
          default: {latency: 2ms}
          links:
            - {between: [cloud, a], latency: 30ms}
        nodes:
          - {id: a, type: sensor, interval: 1s, phase: 0s, to: cloud}
          - {id: b, type: sensor, interval: 1s, phase: 0s, to: cloud}
          - {id: cloud, type: cloud}
        """)
    assert {row.latency for row in run.delivered_on("a->cloud")} == {30 * MS}
    assert {row.latency for row in run.delivered_on("b->cloud")} == {2 * MS}


# -- bandwidth ---------------------------------------------------------------------------------


def test_saturated_link_builds_a_fifo_queue(sim) -> None:
    """20 kB every 100 ms over 1 Mbit/s: 160 ms to serialise each, so message k leaves at
    160 (k + 1) ms and its hop latency is exactly 160 + 60 k ms."""
    run = sim.run_yaml(_direct("latency: 0s, bandwidth: 1Mbit", interval="100ms",
                               payload="20kB", duration="2s"))
    flow = run.flow("s->cloud")
    assert flow["sent"] == 20
    delivered = run.delivered_on("s->cloud")
    assert [row.first_sent for row in delivered] == [100 * MS * k for k in range(12)]
    assert [row.latency for row in delivered] == [(160 + 60 * k) * MS for k in range(12)]
    assert [row.arrival for row in delivered] == [160 * MS * (k + 1) for k in range(12)]
    # Messages 12..19 would arrive at 2080 ms and later: still on the link when the run ends.
    assert flow["delivered"] == 12
    assert flow["in_flight"] == 8
    assert sim.pending_in_mailboxes(run.network) == []  # late messages are never queued
    assert flow["latency_ms"]["max"] == 160 + 60 * 11


def test_a_randomly_lost_message_still_took_its_turn_in_the_queue(sim) -> None:
    """The queue comes before random loss: lost messages were serialised too, so a delivered
    message k still leaves at 160 (k + 1) ms."""
    run = sim.run_yaml(_direct("latency: 0s, bandwidth: 1Mbit, loss: 0.5", interval="100ms",
                               payload="20kB", duration="2s"))
    delivered = run.delivered_on("s->cloud")
    assert delivered and run.lost_on("s->cloud")
    assert {row.cause for row in run.lost_on("s->cloud")} == {"random"}
    for row in delivered:
        k = row.first_sent // (100 * MS)
        assert row.arrival == 160 * MS * (k + 1)


def test_unsaturated_link_shows_only_serialisation_delay(sim) -> None:
    """1 kB at 1 Mbit/s takes 8 ms; once a second, nothing ever waits: 5 ms + 8 ms exactly."""
    run = sim.run_yaml(_direct("latency: 5ms, bandwidth: 1Mbit", interval="1s",
                               payload="1kB", count=5))
    delivered = run.delivered_on("s->cloud")
    assert len(delivered) == 50
    # Five sensors send at the same instant, yet each instance has its own queue.
    assert {row.latency for row in delivered} == {13 * MS}


def test_serialisation_time_is_exact_not_rounded_through_float(sim) -> None:
    """7 B at 56 kbit/s is exactly 1 ms: ⌈56 bits × 10^9 / 56000⌉. Through float
    (7 × (8e9 / 56000) = 1000000.0000000001) it came out 1 ns longer."""
    run = sim.run_yaml(_direct("latency: 0s, bandwidth: 56kbit", payload="7B"))
    assert {row.latency for row in run.delivered_on("s->cloud")} == {MS}


def test_a_backlog_past_int64_saturates_and_stays_in_flight(sim) -> None:
    """64 B at 0.00000023 bit/s is 70 years on the wire: alone it passes the load-time check,
    but ten queued back to back would pass 2^63 ns. The queue saturates instead of wrapping:
    every message is in flight at the end, and the link stays busy at the sentinel."""
    from xedgesim.sim.network import SATURATED_NS

    run = sim.run_yaml(_direct("latency: 5ms, bandwidth: 0.00000023bit", payload="64B"))
    flow = run.flow("s->cloud")
    assert (flow["sent"], flow["delivered"], flow["in_flight"]) == (10, 0, 10)
    link = run.network._links[("s", "cloud")]
    assert link._busy_until.tolist() == [SATURATED_NS]


def test_the_int64_backlog_reproducer_runs_through_the_cli(tmp_path) -> None:
    """Issue 8 item 9, as a user met it: exit 0, no traceback, the ten messages in flight."""
    scenario = tmp_path / "slow.yaml"
    scenario.write_text(
        "name: slow\nduration: 10s\nnetwork:\n  default: {latency: 5ms}\n  links:\n"
        "    - {between: [s, cloud], bandwidth: 0.00000023bit}\nnodes:\n"
        "  - {id: s, type: sensor, interval: 1s, payload: 64B, to: cloud}\n"
        "  - {id: cloud, type: cloud}\n")
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "xedgesim", "simulate", str(scenario), "--out", str(out),
         "--quiet", "--no-progress"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")
    messages = json.loads((out / "summary.json").read_text())["messages"]
    assert (messages["sent"], messages["delivered"], messages["in_flight"]) == (10, 0, 10)


def test_a_saturated_queue_with_faults_stays_in_flight(sim) -> None:
    """The same backlog on a link that is cut for a while: the fault check bounds its window
    without overflowing, messages that meet the cut are lost, the rest are in flight."""
    run = sim.run_yaml(_direct("latency: 5ms, bandwidth: 0.00000023bit", payload="64B") + """
        faults:
          - {at: 3500ms, link: [s, cloud], action: link_down, for: 2s}
        """)
    flow = run.flow("s->cloud")
    assert flow["delivered"] == 0
    assert flow["sent"] == sum(flow["lost"].values()) + flow["in_flight"] == 10
    assert flow["lost"]["link_down"] > 0


def test_serialisation_saturates_per_message() -> None:
    """A single message longer than the sentinel counts as the sentinel, in both arithmetic
    paths (int64 and Python integers)."""
    from fractions import Fraction

    from xedgesim.sim.network import SATURATED_NS, Link

    link = Link.__new__(Link)
    for bandwidth in (1e-9, 0.00000023, 3e6):
        ns_per_byte = Fraction(8 * 10**9) / Fraction(bandwidth)
        link._ns_per_byte = (ns_per_byte.numerator, ns_per_byte.denominator)
        size = np.array([1, 64, 2**40], dtype=np.int64)
        expected = [min(math.ceil(int(n) * ns_per_byte), SATURATED_NS) for n in size]
        assert link._serialisation(size).tolist() == expected


def test_shared_broker_queue_shows_growing_queueing_delay(sim) -> None:
    """Ten sensors feed one broker; everything it forwards to the gateway shares one queue on a
    500 kbit/s link (16 ms per 1 kB message) while 100 messages/s come in: forward j leaves at
    1 + 16 (j + 1) ms, so its hop latency is 2 + 16 (j + 1) - 100 (j // 10) ms."""
    run = sim.run_yaml("""
        duration: 2s
        network:
          default: {latency: 1ms}
          links:
            - {between: [broker, gw], latency: 2ms, bandwidth: 500kbit}
        nodes:
          - {id: s, type: sensor, count: 10, interval: 100ms, phase: 0s, payload: 1kB,
             to: broker, topic: "site/{id}/t"}
          - {id: broker, type: broker}
          - {id: gw, type: gateway, subscribe: ["site/+/t"], aggregate_every: 1s,
             to: cloud}
          - {id: cloud, type: cloud}
        """)
    assert run.flow("s->broker")["delivered"] == 200
    assert {row.latency for row in run.delivered_on("s->broker")} == {1 * MS}
    forwards = run.delivered_on("broker->gw")
    assert run.flow("broker->gw")["sent"] == 200
    assert len(forwards) == 124  # arrival 3 + 16 (j + 1) ms < 2000 ms
    expected = [(2 + 16 * (j + 1) - 100 * (j // 10)) * MS for j in range(124)]
    assert [row.latency for row in forwards] == expected
    assert run.flow("broker->gw")["in_flight"] == 76
    first_window = np.mean([r.latency for r in forwards if r.first_sent < 100 * MS])
    later_window = np.mean([r.latency for r in forwards if 1100 * MS <= r.first_sent < 1200 * MS])
    assert later_window > first_window + 600 * MS


def test_qos1_retransmission_queues_in_send_order(sim) -> None:
    """A sensor sends 1 kB (8 ms at 1 Mbit/s) every second from 0.5 s. The message of 0.5 s is
    cut and sent again at 1.2 s; the next message is only sent at 1.5 s. The queue is FIFO by
    send time, so the retransmission leaves at 1.208 s, not behind the later message."""
    run = sim.run_yaml(_direct("latency: 0s, bandwidth: 1Mbit", interval="1s", phase="500ms",
                               payload="1kB", duration="3s",
                               extra=", qos: 1, retry_interval: 700ms")
                       + """
        faults:
          - {at: 400ms, action: link_down, link: [s, cloud], for: 200ms}
        """)
    delivered = run.delivered_on("s->cloud")
    assert [(row.first_sent, row.attempt) for row in delivered] == [
        (500 * MS, 1), (1500 * MS, 0), (2500 * MS, 0)]
    retried, later, _ = delivered
    assert later.arrival == 1508 * MS
    assert retried.arrival == 1208 * MS, (
        f"the retransmission sent at 1.2 s arrived at {retried.arrival / MS} ms, "
        "behind a message sent at 1.5 s")


# -- the end of the run ------------------------------------------------------------------------


def test_messages_arriving_after_the_end_are_in_flight_not_delivered(sim) -> None:
    run = sim.run_yaml(_direct("latency: 300ms", interval="1s", phase="800ms", duration="5s"))
    flow = run.flow("s->cloud")
    assert flow["sent"] == 5
    assert [row.first_sent for row in run.delivered_on("s->cloud")] == [
        (800 + 1000 * k) * MS for k in range(4)]
    assert flow["delivered"] == 4
    assert flow["in_flight"] == 1


def test_a_message_arriving_exactly_at_the_end_is_in_flight(sim) -> None:
    run = sim.run_yaml(_direct("latency: 200ms", interval="1s", phase="800ms", duration="5s"))
    flow = run.flow("s->cloud")
    assert (flow["sent"], flow["delivered"], flow["in_flight"]) == (5, 4, 1)


def test_a_message_that_would_reach_a_dead_receiver_after_the_end_is_in_flight(sim) -> None:
    """The run covers [0, 5 s): a message arriving at 5.1 s is still travelling when it ends,
    whatever would happen to it later."""
    run = sim.run_yaml(_direct("latency: 300ms", interval="1s", phase="800ms", duration="5s")
                       + """
        faults:
          - {at: 5s, node: cloud, action: crash}
        """)
    flow = run.flow("s->cloud")
    assert flow["delivered"] == 4
    assert flow["lost"]["node_down"] == 0, "lost at 5.1 s, after the run ended at 5 s"
    assert flow["in_flight"] == 1


# -- accounting across a mixed scenario ---------------------------------------------------------


def test_accounting_holds_for_every_flow_of_a_busy_faulty_scenario(sim) -> None:
    run = sim.run_yaml("""
        duration: 30s
        seed: 7
        network:
          default: {latency: 5ms, jitter: {exponential: 2ms}, loss: 0.05}
          links:
            - {between: [gw1, cloud], latency: 20ms, bandwidth: 100kbit}
        nodes:
          - {id: sensors, type: sensor, count: 30, interval: 500ms, to: broker,
             topic: "site/{id}/temp", qos: 1, retry_interval: 200ms, max_retries: 3}
          - {id: direct, type: sensor, count: 5, process: poisson, interval: 300ms, to: cloud,
             payload: 2kB}
          - {id: broker, type: broker, retry_interval: 300ms, max_retries: 2}
          - {id: gw1, type: gateway, subscribe: {broker: broker, topics: ["site/#"], qos: 1},
             aggregate_every: 2s, to: cloud, qos: 1}
          - {id: cloud, type: cloud}
        faults:
          - {at: 7s, node: gw1, action: crash, for: 3s}
          - {at: 12s, action: link_down, link: [sensors, broker], for: 1500ms}
          - {at: 16s, node: broker, action: crash}
          - {at: 17200ms, node: broker, action: restart}
          - {at: 20s, action: partition, groups: [[direct], [cloud]], for: 2s}
          - {at: 25s, node: sensors-03, action: crash, for: 2s}
        """)
    names = {flow["from"] + "->" + flow["to"] for flow in run.summary["flows"].values()}
    assert names == {"sensors->broker", "broker->gw1", "gw1->cloud", "direct->cloud"}
    lost = run.summary["messages"]["lost"]
    assert all(lost[cause] > 0 for cause in ("random", "link_down", "partition", "node_down"))
    totals = run.summary["messages"]
    assert totals["sent"] == totals["delivered"] + sum(lost.values()) + totals["in_flight"]


def test_quickstart_accounting(sim) -> None:
    from pathlib import Path

    text = (Path(__file__).parents[3] / "scenarios" / "quickstart.yaml").read_text()
    run = sim.run_yaml(text)
    assert run.flow("sensors->broker")["sent"] == 100 * 60
    assert run.counter("gw1", "crashes") == 1
    assert run.counter("gw1", "restarts") == 1


def test_the_accounting_check_notices_a_message_counted_twice(sim) -> None:
    """The helper every test runs through does check something."""
    run = sim.run_yaml(_direct("latency: 300ms", interval="1s", phase="800ms", duration="5s"))
    sim.check_accounting(run)
    run.stats("s->cloud").lost["random"] += 1  # one message both in flight and lost
    run.summary = run.result.summary()
    with pytest.raises(AssertionError):
        sim.check_accounting(run)
