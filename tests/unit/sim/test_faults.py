"""Faults (cut links, partitions, crashes and restarts) and QoS 1 retransmission.

The scenarios are deterministic (fixed phases, constant latencies), so most expectations are
exact: which message is lost, with which cause, on which attempt it finally arrives.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

MS = 1_000_000
S = 1_000_000_000


def _one_sensor(faults: str, *, latency: str = "10ms", publish: str = "", duration: str = "10s",
                interval: str = "1s", phase: str = "0s") -> str:
    """Sensor ``s`` -> ``cloud`` once per ``interval`` from ``phase``, with ``faults``."""
    return f"""
        duration: {duration}
        network:
          default: {{latency: {latency}}}
        nodes:
          - {{id: s, type: sensor, interval: {interval}, phase: {phase}, to: cloud{publish}}}
          - {{id: cloud, type: cloud}}
        faults:
        {faults}
        """


def _seconds(rows) -> list[float]:
    return [row.first_sent / S for row in rows]


# -- link_down ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "faults",
    [
        "  - {at: 3s, action: link_down, link: [s, cloud], for: 3s}",
        "  - {at: 3s, action: link_down, link: [cloud, s]}\n"
        "          - {at: 6s, action: link_up, link: [s, cloud]}",
    ],
    ids=["for", "link_up"],
)
def test_link_down_loses_what_is_sent_while_it_lasts(sim, faults: str) -> None:
    run = sim.run_yaml(_one_sensor(faults))
    # Cut during [3 s, 6 s): the sends at 3, 4 and 5 s; the one at 6 s goes through.
    assert _seconds(run.lost_on("s->cloud")) == [3, 4, 5]
    assert {row.cause for row in run.lost_on("s->cloud")} == {"link_down"}
    assert _seconds(run.delivered_on("s->cloud")) == [0, 1, 2, 6, 7, 8, 9]
    assert run.flow("s->cloud")["lost"] == {
        "random": 0, "link_down": 3, "partition": 0, "node_down": 0}


def test_link_down_decides_at_send_time_not_at_arrival(sim) -> None:
    """A message sent just before the cut and arriving during it still arrives."""
    run = sim.run_yaml(_one_sensor("  - {at: 2500ms, action: link_down, link: [s, cloud], "
                                   "for: 1s}", latency="800ms"))
    assert _seconds(run.lost_on("s->cloud")) == [3]
    assert 2 in _seconds(run.delivered_on("s->cloud"))


@pytest.mark.parametrize(
    "faults",
    [
        "  - {at: 3s, action: link_down, link: [s, cloud], for: 2500ms}",
        "  - {at: 3s, action: link_down, link: [s, cloud]}\n"
        "          - {at: 5500ms, action: link_up, link: [s, cloud]}",
    ],
    ids=["for", "link_up"],
)
def test_qos1_messages_cut_by_link_down_are_retried_and_delivered_after_it(sim, faults) -> None:
    run = sim.run_yaml(_one_sensor(faults, publish=", qos: 1, retry_interval: 1s, max_retries: 5"))
    flow = run.flow("s->cloud")
    assert flow["sent"] == flow["delivered"] == 10
    assert sum(flow["lost"].values()) == 0
    by_send = {row.first_sent // S: row for row in run.delivered_on("s->cloud")}
    # 3 s: cut at 3, 4, 5 s, through at 6 s; 4 s: cut at 4, 5 s; 5 s: cut at 5 s.
    assert [(by_send[t].attempt, by_send[t].arrival) for t in (3, 4, 5)] == [
        (3, 6010 * MS), (2, 6010 * MS), (1, 6010 * MS)]
    assert all(by_send[t].attempt == 0 for t in (0, 1, 2, 6, 7, 8, 9))
    assert flow["retransmissions"] == 3 + 2 + 1
    assert run.counter("s", "retransmissions") == 6
    # The hop latency counts from the first attempt.
    assert by_send[3].latency == 3010 * MS


# -- partition ---------------------------------------------------------------------------------


_PARTITION_NODES = """
        duration: 10s
        network:
          default: {latency: 10ms}
        nodes:
          - {id: s, type: sensor, interval: 1s, phase: 0s, to: broker, topic: "t/{id}"}
          - {id: s2, type: sensor, interval: 1s, phase: 0s, to: cloud}
          - {id: s3, type: sensor, interval: 1s, phase: 0s, to: gw}
          - {id: broker, type: broker}
          - {id: gw, type: gateway, aggregate_every: 1s}
          - {id: cloud, type: cloud, subscribe: ["t/#"]}
        faults:
        """


@pytest.mark.parametrize(
    "faults",
    [
        "  - {at: 2s, action: partition, groups: [[s, broker], [cloud, gw]], for: 3s}",
        "  - {at: 2s, action: partition, groups: [[s, broker], [cloud, gw]]}\n"
        "          - {at: 5s, action: heal}",
        "  - {at: 2s, action: partition, groups: [[s, broker], [cloud, gw]]}\n"
        "          - {at: 5s, action: heal, groups: [[gw, cloud], [broker, s]]}",
    ],
    ids=["for", "heal-all", "heal-groups"],
)
def test_partition_cuts_only_links_between_its_groups(sim, faults: str) -> None:
    run = sim.run_yaml(_PARTITION_NODES + faults)
    # s -> broker: same side, never cut.
    assert run.flow("s->broker")["delivered"] == 10
    # broker -> cloud: across the cut during [2 s, 5 s); the broker forwards at 10 ms past.
    assert _seconds(run.lost_on("broker->cloud")) == [2.01, 3.01, 4.01]
    assert {row.cause for row in run.lost_on("broker->cloud")} == {"partition"}
    assert run.flow("broker->cloud")["delivered"] == 7
    # s2 and s3 are in no group: their links are not cut, though they reach the other side.
    assert run.flow("s2->cloud")["delivered"] == 10
    assert run.flow("s3->gw")["delivered"] == 10


def test_a_heal_of_one_partition_leaves_another_in_place(sim) -> None:
    run = sim.run_yaml("""
        duration: 8s
        network:
          default: {latency: 10ms}
        nodes:
          - {id: a, type: sensor, interval: 1s, phase: 0s, to: c1}
          - {id: b, type: sensor, interval: 1s, phase: 0s, to: c2}
          - {id: c1, type: cloud}
          - {id: c2, type: cloud}
        faults:
          - {at: 1s, action: partition, groups: [[a], [c1]]}
          - {at: 2s, action: partition, groups: [[b], [c2]]}
          - {at: 3s, action: heal, groups: [[b], [c2]]}
          - {at: 5s, action: heal, groups: [[a], [c1]]}
        """)
    assert _seconds(run.lost_on("b->c2")) == [2]
    assert _seconds(run.lost_on("a->c1")) == [1, 2, 3, 4], (
        "the heal of the partition b|c2 at 3 s also ended the partition a|c1 (healed at 5 s)")


# -- crash and restart -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "faults",
    [
        "  - {at: 3s, node: cloud, action: crash, for: 2s}",
        "  - {at: 3s, node: cloud, action: crash}\n"
        "          - {at: 5s, node: cloud, action: restart}",
    ],
    ids=["for", "restart"],
)
def test_a_crashed_receiver_loses_what_arrives_while_down(sim, faults: str) -> None:
    run = sim.run_yaml(_one_sensor(faults, latency="500ms"))
    assert _seconds(run.lost_on("s->cloud")) == [3, 4]  # arriving at 3.5 s and 4.5 s
    assert {row.cause for row in run.lost_on("s->cloud")} == {"node_down"}
    assert _seconds(run.delivered_on("s->cloud")) == [0, 1, 2, 5, 6, 7, 8, 9]
    assert run.counter("cloud", "crashes") == 1
    assert run.counter("cloud", "restarts") == 1


def test_a_crash_at_t_wins_over_a_delivery_at_t_and_a_restart_at_t_does_too(sim) -> None:
    """Faults run before deliveries at the same instant: the message arriving at 3 s (the
    crash) is lost, the one arriving at 5 s (the restart) is delivered."""
    run = sim.run_yaml(_one_sensor("  - {at: 3s, node: cloud, action: crash, for: 2s}",
                                   latency="1s"))
    lost = run.lost_on("s->cloud")
    assert [(row.first_sent / S, row.cause) for row in lost] == [(2, "node_down"),
                                                                  (3, "node_down")]
    assert [row.arrival / S for row in run.delivered_on("s->cloud")] == [1, 2, 5, 6, 7, 8, 9]


def test_a_crashed_sensor_emits_nothing_while_down(sim) -> None:
    run = sim.run_yaml("""
        duration: 10s
        nodes:
          - {id: s, type: sensor, count: 3, interval: 1s, phase: 0s, to: cloud}
          - {id: cloud, type: cloud}
        faults:
          - {at: 3s, node: s-1, action: crash}
          - {at: 6s, node: s-1, action: restart}
        """)
    assert list(run.counters("s", "sent")) == [10, 7, 10]
    assert list(run.counters("s", "suppressed_while_down")) == [0, 3, 0]
    sent_by_s1 = [row.first_sent / S for row in run.sent_on("s->cloud") if row.sender == "s-1"]
    assert sent_by_s1 == [0, 1, 2, 6, 7, 8, 9]
    assert list(run.counters("s", "crashes")) == [0, 1, 0]
    assert list(run.counters("s", "restarts")) == [0, 1, 0]
    assert run.flow("s->cloud")["lost"]["node_down"] == 0


def test_a_crash_of_a_whole_fleet_silences_every_sensor(sim) -> None:
    run = sim.run_yaml("""
        duration: 10s
        nodes:
          - {id: s, type: sensor, count: 4, interval: 500ms, phase: random, to: cloud}
          - {id: cloud, type: cloud}
        faults:
          - {at: 2s, node: s, action: crash, for: 5s}
        """)
    assert list(run.counters("s", "suppressed_while_down")) == [10] * 4
    assert list(run.counters("s", "sent")) == [10] * 4
    assert not [row for row in run.sent_on("s->cloud") if 2 * S <= row.first_sent < 7 * S]
    assert list(run.counters("s", "crashes")) == [1] * 4


# -- QoS 1 -------------------------------------------------------------------------------------


def test_qos1_with_heavy_loss_almost_always_gets_through(sim) -> None:
    """Loss 0.5, ten retries: a message is lost with probability 0.5^11 and is sent again
    min(G, 10) times, G geometric: E = 1 - 0.5^10 retransmissions per message."""
    run = sim.run_yaml("""
        duration: 10s
        network:
          default: {latency: 1ms, loss: 0.5}
        nodes:
          - {id: s, type: sensor, count: 20, interval: 100ms, phase: 0s, to: cloud, qos: 1,
             retry_interval: 1ms, max_retries: 10}
          - {id: cloud, type: cloud}
        """)
    flow = run.flow("s->cloud")
    n = flow["sent"]
    assert n == 2000
    assert flow["in_flight"] == 0  # the last retry of the last message is due at 9.91 s
    lost = sum(flow["lost"].values())
    assert lost == flow["lost"]["random"]
    assert lost <= 8  # expected 0.98
    assert all(row.attempt == 10 for row in run.lost)
    expected = n * (1 - 0.5**10)
    sd = math.sqrt(n * 2.0)  # the variance of min(G, 10) is just under 2
    assert abs(flow["retransmissions"] - expected) <= 5 * sd
    # Every retransmission is accounted for by the attempt a message finally ended on.
    attempts = [row.attempt for row in run.delivered + run.lost]
    assert flow["retransmissions"] == sum(attempts)
    first_try = sum(1 for a in attempts if a == 0) / n
    assert abs(first_try - 0.5) <= 5 * math.sqrt(0.25 / n)
    # Each attempt costs exactly one retry interval (plus the 1 ms hop).
    assert {row.latency - row.attempt * MS for row in run.delivered} == {1 * MS}


@pytest.mark.parametrize(
    ("faults", "last_cause"),
    [
        ("  - {at: 500ms, action: link_down, link: [s, cloud], for: 1s}\n"
         "          - {at: 1800ms, node: cloud, action: crash}", "node_down"),
        ("  - {at: 500ms, node: cloud, action: crash, for: 1s}\n"
         "          - {at: 1800ms, action: link_down, link: [s, cloud]}", "link_down"),
    ],
    ids=["cut-then-down", "down-then-cut"],
)
def test_qos1_retries_exhausted_lose_the_message_with_its_last_cause(
    sim, faults: str, last_cause: str
) -> None:
    run = sim.run_yaml(_one_sensor(
        faults, interval="100s", phase="1s", duration="5s",
        publish=", qos: 1, retry_interval: 1s, max_retries: 2"))
    flow = run.flow("s->cloud")
    assert (flow["sent"], flow["delivered"], flow["in_flight"]) == (1, 0, 0)
    assert flow["retransmissions"] == 2
    [lost] = run.lost_on("s->cloud")
    assert (lost.cause, lost.attempt, lost.sent) == (last_cause, 2, 3 * S)
    assert flow["lost"][last_cause] == 1


@pytest.mark.parametrize(
    ("crash", "duration"),
    [
        ("{at: 1500ms, node: s, action: crash, for: 5s}", "5s"),
        ("{at: 1200ms, node: s, action: crash, for: 300ms}", "5s"),
        ("{at: 1500ms, node: s, action: crash}", "1800ms"),
    ],
    ids=["down-when-due", "back-up-before-due", "crashed-before-the-end-retry-due-after"],
)
def test_qos1_sender_crash_between_an_attempt_and_its_retry_loses_it_as_node_down(
    sim, crash: str, duration: str
) -> None:
    """The message cut at 1 s waits for its retry at 2 s in the sender's memory; a crash in
    between wipes it, even if the sender is back when it falls due or it falls due after the
    end (its fate is decided inside the run)."""
    run = sim.run_yaml(_one_sensor(
        "  - {at: 500ms, action: link_down, link: [s, cloud], for: 1s}\n"
        f"          - {crash}",
        interval="100s", phase="1s", duration=duration,
        publish=", qos: 1, retry_interval: 1s, max_retries: 5"))
    flow = run.flow("s->cloud")
    assert (flow["sent"], flow["retransmissions"], flow["in_flight"]) == (1, 0, 0)
    [lost] = run.lost_on("s->cloud")
    assert (lost.cause, lost.sent) == ("node_down", 2 * S)
    assert flow["lost"] == {"random": 0, "link_down": 0, "partition": 0, "node_down": 1}
    assert run.counter("s", "lost") == 1


def test_qos1_retry_due_after_the_end_leaves_the_message_in_flight(sim) -> None:
    """Every first attempt is cut; a retry due at or after the end (1.5 s) never happens, so
    its message is in flight, not retransmitted, and not lost."""
    run = sim.run_yaml("""
        duration: 1500ms
        seed: 3
        nodes:
          - {id: s, type: sensor, count: 20, interval: 1s, phase: random, to: cloud, qos: 1,
             retry_interval: 1s, max_retries: 1}
          - {id: cloud, type: cloud}
        faults:
          - {at: 0s, action: link_down, link: [s, cloud], for: 1h}
        """)
    first = run.sent_on("s->cloud")
    retried_in_time = [row for row in first if row.first_sent + S < 1500 * MS]
    retried_late = [row for row in first if row.first_sent + S >= 1500 * MS]
    assert retried_in_time and retried_late  # the seed puts phases on both sides of 0.5 s
    flow = run.flow("s->cloud")
    assert all(row.sent < 1500 * MS for row in run.lost), "a retransmission after the end"
    assert flow["retransmissions"] == len(retried_in_time)
    assert flow["lost"]["link_down"] == len(retried_in_time)
    assert flow["in_flight"] == len(retried_late)


# -- a queue meets a fault ---------------------------------------------------------------------


def _saturated(faults: str, publish: str = "") -> str:
    """ρ = 2: a sensor sends 2.5 kB every 10 ms over 1 Mbit/s (20 ms each), so message k is
    sent at 10 k ms and, with nothing in the way, is transmitted over [20 k, 20 (k + 1)) ms."""
    return f"""
        duration: 40s
        network:
          default: {{latency: 0s, bandwidth: 1Mbit}}
        nodes:
          - {{id: s, type: sensor, interval: 10ms, phase: 0s, payload: 2500B, to: cloud{publish}}}
          - {{id: cloud, type: cloud}}
        faults:
          - {faults}
        """


def test_a_crashed_sender_loses_its_backlog_and_sends_nothing_while_down(sim) -> None:
    """The crash at 20.005 s interrupts message 1000 (on the wire since 20 s) and loses the
    backlog queued behind it (messages 1001..2000): nothing leaves the sender until it is back
    at 30.005 s, and then the queue starts empty."""
    run = sim.run_yaml(_saturated("{at: 20005ms, node: s, action: crash, for: 10s}"))
    delivered = run.delivered_on("s->cloud")
    during = [row for row in delivered if 20005 * MS < row.arrival < 30005 * MS]
    assert during == [], f"{len(during)} messages left a crashed sender"
    lost = run.lost_on("s->cloud")
    assert {row.cause for row in lost} == {"node_down"}
    assert [row.first_sent // (10 * MS) for row in lost] == list(range(1000, 2001))
    assert run.counter("s", "suppressed_while_down") == 1000  # 20.01 s .. 30 s
    # Back up with an empty queue: the first message sent after the restart leaves at once.
    after = [row for row in delivered if row.first_sent >= 30005 * MS]
    assert after[0].first_sent == 30010 * MS and after[0].latency == 20 * MS
    assert run.flow("s->cloud")["lost"] == {
        "random": 0, "link_down": 0, "partition": 0, "node_down": 1001}


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        ("{at: 20005ms, action: link_down, link: [s, cloud], for: 10s}", "link_down"),
        ("{at: 20005ms, action: partition, groups: [[s], [cloud]], for: 10s}", "partition"),
    ],
    ids=["link_down", "partition"],
)
def test_nothing_crosses_a_cut_link_not_even_what_was_queued_before_the_cut(
    sim, fault: str, cause: str
) -> None:
    """The cut interrupts message 1000 and loses the backlog queued before it (1001..2000) and
    everything sent while it lasts (2001..3000); the queue is empty when the link comes back."""
    run = sim.run_yaml(_saturated(fault))
    delivered = run.delivered_on("s->cloud")
    assert [row for row in delivered if 20005 * MS < row.arrival < 30005 * MS] == []
    lost = run.lost_on("s->cloud")
    assert {row.cause for row in lost} == {cause}
    assert [row.first_sent // (10 * MS) for row in lost] == list(range(1000, 3001))
    after = [row for row in delivered if row.first_sent >= 30005 * MS]
    assert after[0].first_sent == 30010 * MS and after[0].latency == 20 * MS


def test_qos1_backlog_cut_by_a_link_down_is_sent_again_after_it(sim) -> None:
    """What a cut loses from the queue is a failed attempt like any other: retried, in order."""
    run = sim.run_yaml("""
        duration: 3s
        network:
          default: {latency: 0s, bandwidth: 1Mbit}
        nodes:
          - {id: s, type: sensor, interval: 100ms, phase: 0s, payload: 20kB, to: cloud, qos: 1,
             retry_interval: 1s, max_retries: 3}
          - {id: cloud, type: cloud}
        faults:
          - {at: 500ms, action: link_down, link: [s, cloud], for: 100ms}
        """)
    # 160 ms each: message 3 is on the wire over [480, 640) ms when the link goes down; 4 and 5
    # are queued, 5 is sent at the cut. All three are cut, then retried a second after sending.
    retried = sorted((row.first_sent // (100 * MS), row.attempt)
                     for row in run.delivered_on("s->cloud") if row.attempt)
    assert retried == [(3, 1), (4, 1), (5, 1)]
    assert run.flow("s->cloud")["retransmissions"] == 3


def test_a_whole_fleet_down_with_qos1_retries_waiting_does_not_break_the_run(sim) -> None:
    """Every sensor down: an emission window with nothing to send, while retries wait."""
    run = sim.run_yaml("""
        duration: 5s
        network:
          default: {latency: 1ms, loss: 1}
        nodes:
          - {id: s, type: sensor, count: 3, interval: 100ms, phase: 0s, to: cloud, qos: 1,
             retry_interval: 50ms}
          - {id: cloud, type: cloud}
        faults:
          - {at: 2s, node: s, action: crash, for: 1s}
        """)
    assert run.counter("s", "suppressed_while_down") == 30
    # Sent at 1.8 s and 1.9 s, retried every 50 ms: the crash forgets their retries.
    assert run.flow("s->cloud")["lost"]["node_down"] == 3 * 2


def _disjoint(draws: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(gap, length) pairs in ms -> disjoint [start, end) intervals in ms, in order."""
    out, at = [], 0
    for gap, length in draws:
        start = at + gap
        out.append((start, start + length))
        at = start + length
    return out


def _reference(sends: list[int], serialisation: int, crashes, cuts, until: int):
    """The rules of docs/simulation.md, one message at a time: {send time: fate}."""
    def inside(t, spans):
        return any(a <= t < b for a, b in spans)

    fates, busy = {}, 0
    for sent in sends:
        if inside(sent, crashes):
            continue  # a sensor that is down emits nothing
        start = max(sent, busy)
        if start >= until:
            fates[sent] = "in_flight"
        elif inside(start, crashes):
            fates[sent] = "node_down"
        elif inside(start, cuts):
            fates[sent] = "link_down"
        else:
            end = start + serialisation
            hits = [(a, 0, "node_down") for a, _ in crashes if start < a < end]
            hits += [(a, 1, "link_down") for a, _ in cuts if start < a < end]
            if hits:
                busy, _, cause = min(hits)  # a crash wins a tie
                fates[sent] = cause if busy < until else "in_flight"
                continue
            busy = end
            fates[sent] = "delivered" if end < until else "in_flight"
    return fates


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    crashes=st.lists(st.tuples(st.integers(1, 800), st.integers(1, 600)), max_size=3),
    cuts=st.lists(st.tuples(st.integers(1, 800), st.integers(1, 600)), max_size=3),
    interval=st.sampled_from([7, 10, 20, 35]),
)
@example(crashes=[(1, 1)], cuts=[(1, 1)], interval=7)  # a crash and a cut at the same instant
@example(crashes=[(100, 300)], cuts=[(50, 500)], interval=10)  # a crash inside a cut
@example(crashes=[], cuts=[(1, 1), (598, 600), (800, 2)], interval=7)  # a cut at the end
def test_a_queue_under_random_faults_agrees_with_one_message_at_a_time(
    sim, crashes, cuts, interval: int
) -> None:
    """1 kB over 400 kbit/s is 20 ms: ρ from 0.57 to 2.9. Every message's fate equals what the
    rules give when applied to one message at a time."""
    crash_ms = [(a, b) for a, b in _disjoint(crashes) if a <= 2000]  # 'at' within the run
    cut_ms = [(a, b) for a, b in _disjoint(cuts) if a <= 2000]
    faults = [f"{{at: {a}ms, node: s, action: crash, for: {b - a}ms}}" for a, b in crash_ms]
    faults += [f"{{at: {a}ms, action: link_down, link: [s, cloud], for: {b - a}ms}}"
               for a, b in cut_ms]
    run = sim.run_yaml(f"""
        duration: 2s
        network:
          default: {{latency: 0s, bandwidth: 400kbit}}
        nodes:
          - {{id: s, type: sensor, interval: {interval}ms, phase: 0s, payload: 1kB, to: cloud}}
          - {{id: cloud, type: cloud}}
        faults: [{", ".join(faults)}]
        """)
    fates = {row.first_sent: "delivered" for row in run.delivered_on("s->cloud")}
    fates |= {row.first_sent: row.cause for row in run.lost_on("s->cloud")}
    fates |= {row.sent: "in_flight" for row in run.sent_on("s->cloud")
              if row.sent not in fates}
    expected = _reference([k * interval * MS for k in range(2000 // interval + 1)
                           if k * interval < 2000], 20 * MS,
                          [(a * MS, b * MS) for a, b in crash_ms],
                          [(a * MS, b * MS) for a, b in cut_ms], 2 * S)
    assert fates == expected


def test_a_crash_of_one_sensor_of_a_fleet_loses_only_its_own_backlog(sim) -> None:
    run = sim.run_yaml("""
        duration: 10s
        network:
          default: {latency: 0s, bandwidth: 1Mbit}
        nodes:
          - {id: s, type: sensor, count: 3, interval: 10ms, phase: 0s, payload: 2500B, to: cloud}
          - {id: cloud, type: cloud}
        faults:
          - {at: 5005ms, node: s-1, action: crash, for: 2s}
        """)
    lost = run.lost_on("s->cloud")
    assert {row.sender for row in lost} == {"s-1"}
    assert [row.first_sent // (10 * MS) for row in lost] == list(range(250, 501))
    delivered = run.delivered_on("s->cloud")
    for other in ("s-0", "s-2"):
        # Undisturbed, ρ = 2: message k leaves at 20 (k + 1) ms, up to the end of the run.
        assert [row.arrival for row in delivered if row.sender == other] == [
            20 * MS * (k + 1) for k in range(499)]
    assert list(run.counters("s", "lost")) == [0, 251, 0]
