"""The MQTT broker: routing by topic filter, QoS downgrade, retained messages, QoS 1 re-delivery."""

from __future__ import annotations

import pytest

MS = 1_000_000
S = 1_000_000_000


def _publishers(*topics: str, extra: str = "") -> str:
    """One sensor per topic, each publishing once a second from 0 s to the broker."""
    return "\n".join(
        f'          - {{id: p{i}, type: sensor, interval: 1s, phase: 0s, to: broker, '
        f'topic: "{topic}"{extra}}}'
        for i, topic in enumerate(topics)
    )


def _routing(subscribers: str) -> str:
    return f"""
        duration: 3s
        network:
          default: {{latency: 10ms}}
        nodes:
{_publishers("site/a/temp", "site/b/hum", "other/c", "nobody/here", "site")}
          - {{id: broker, type: broker}}
{subscribers}
        """


def _topics(run, flow: str) -> set[str]:
    return {row.topic for row in run.delivered_on(flow)}


def test_routing_by_plus_and_hash_filters(sim) -> None:
    run = sim.run_yaml(_routing("""
          - {id: temps, type: cloud, subscribe: ["site/+/temp"]}
          - {id: site, type: cloud, subscribe: ["site/#"]}
          - {id: mixed, type: cloud, subscribe: ["other/+", "site/b/+", "site/+"]}
        """))
    assert _topics(run, "broker->temps") == {"site/a/temp"}
    assert _topics(run, "broker->site") == {"site/a/temp", "site/b/hum", "site"}
    assert _topics(run, "broker->mixed") == {"other/c", "site/b/hum"}
    # One copy per subscriber, even when several of its filters match.
    assert run.flow("broker->mixed")["sent"] == 2 * 3
    assert run.counter("broker", "dropped_no_subscriber") == 3  # nobody/here, once a second
    assert run.counter("broker", "forwarded") == 3 * (1 + 3 + 2)
    # A forward is a new hop: it starts when the broker has the message; the origin stays.
    for row in run.delivered_on("broker->site"):
        assert row.first_sent % S == 10 * MS and row.origin % S == 0
        assert row.sender == "broker"


def test_a_hash_subscription_takes_everything(sim) -> None:
    run = sim.run_yaml(_routing('          - {id: all, type: cloud, subscribe: ["#"]}'))
    assert _topics(run, "broker->all") == {
        "site/a/temp", "site/b/hum", "other/c", "nobody/here", "site"}
    assert run.counter("broker", "dropped_no_subscriber") == 0
    assert run.flow("broker->all")["delivered"] == 15


def test_no_subscriber_at_all_drops_everything(sim) -> None:
    run = sim.run_yaml(_routing(""))
    assert run.counter("broker", "dropped_no_subscriber") == 15
    assert run.counter("broker", "received") == 15
    assert [flow["to"] for flow in run.summary["flows"].values()] == ["broker"] * 5


def test_qos_is_the_minimum_of_publish_and_subscription(sim) -> None:
    run = sim.run_yaml(f"""
        duration: 4s
        network:
          default: {{latency: 10ms}}
        nodes:
{_publishers("q/0")}
          - {{id: p1, type: sensor, interval: 1s, phase: 0s, to: broker, topic: "q/1", qos: 1}}
          - {{id: broker, type: broker}}
          - {{id: sub0, type: cloud, subscribe: {{broker: broker, topics: ["q/#"], qos: 0}}}}
          - {{id: sub1, type: cloud, subscribe: {{broker: broker, topics: ["q/#"], qos: 1}}}}
        faults:
          - {{at: 1500ms, action: link_down, link: [broker, sub1], for: 1s}}
          - {{at: 1500ms, action: link_down, link: [broker, sub0], for: 1s}}
        """)
    assert {(r.topic, r.qos) for r in run.sent_on("broker->sub0")} == {("q/0", 0), ("q/1", 0)}
    assert {(r.topic, r.qos) for r in run.sent_on("broker->sub1")} == {("q/0", 0), ("q/1", 1)}
    # The forwards of 2.01 s are cut: only the QoS 1 one is sent again (at 3.01 s).
    assert [(r.topic, r.cause) for r in run.lost_on("broker->sub0")] == [
        ("q/0", "link_down"), ("q/1", "link_down")]
    assert [(r.topic, r.cause) for r in run.lost_on("broker->sub1")] == [("q/0", "link_down")]
    again = [r for r in run.delivered_on("broker->sub1") if r.attempt > 0]
    assert [(r.topic, r.attempt, r.arrival) for r in again] == [("q/1", 1, 3020 * MS)]
    assert run.flow("broker->sub1")["retransmissions"] == 1
    assert run.flow("broker->sub0")["retransmissions"] == 0


# -- retained messages -------------------------------------------------------------------------


def _retained(faults: str, *, persistence: str = "true", duration: str = "8s") -> str:
    return f"""
        duration: {duration}
        network:
          default: {{latency: 10ms}}
        nodes:
          - {{id: cfg, type: sensor, interval: 100s, phase: 1s, to: broker, topic: "cfg/x",
              retain: true, value: {{constant: 42}}}}
          - {{id: data, type: sensor, interval: 100s, phase: 1s, to: broker, topic: "data/x"}}
          - {{id: broker, type: broker, persistence: {persistence}}}
          - {{id: cloud, type: cloud, subscribe: ["#"]}}
          - {{id: other, type: cloud, subscribe: ["cfg/+"]}}
        faults:
        {faults}
        """


def _cloud_got(run) -> list[tuple[float, str, int]]:
    return [(r.first_sent / S, r.topic, r.id) for r in run.delivered_on("broker->cloud")]


def test_retained_message_is_delivered_to_a_subscriber_that_restarts(sim) -> None:
    run = sim.run_yaml(_retained("  - {at: 3s, node: cloud, action: crash, for: 2s}"))
    got = _cloud_got(run)
    first_cfg = next(r for r in run.sent_on("cfg->broker"))
    assert got == [(1.01, "cfg/x", first_cfg.id), (1.01, "data/x", got[1][2]),
                   (5.0, "cfg/x", first_cfg.id)]
    again = run.delivered_on("broker->cloud")[-1]
    assert (again.value, again.origin, again.retain, again.arrival) == (
        42.0, 1 * S, True, 5010 * MS)
    assert run.counter("cloud", "readings_in") == 3
    # Only the subscriber that came back gets it again.
    assert [r.first_sent for r in run.delivered_on("broker->other")] == [1010 * MS]


def test_only_the_latest_retained_message_of_a_topic_is_kept(sim) -> None:
    run = sim.run_yaml("""
        duration: 6s
        network:
          default: {latency: 10ms}
        nodes:
          - {id: s, type: sensor, interval: 1s, phase: 500ms, to: broker, topic: "cfg/x",
             retain: true}
          - {id: broker, type: broker}
          - {id: cloud, type: cloud, subscribe: ["cfg/#"]}
        faults:
          - {at: 4600ms, node: cloud, action: crash, for: 400ms}
        """)
    latest = [r for r in run.sent_on("s->broker") if r.first_sent == 4500 * MS]
    resent = [r for r in run.delivered_on("broker->cloud") if r.first_sent == 5 * S]
    assert [(r.id, r.value) for r in resent] == [(m.id, m.value) for m in latest]


@pytest.mark.parametrize(("persistence", "copies"), [("true", 2), ("false", 1)])
def test_retained_messages_survive_a_broker_restart_only_with_persistence(
    sim, persistence: str, copies: int
) -> None:
    run = sim.run_yaml(_retained("  - {at: 3s, node: broker, action: crash, for: 2s}",
                                 persistence=persistence))
    cfg = [(t, topic) for t, topic, _ in _cloud_got(run) if topic == "cfg/x"]
    assert cfg == [(1.01, "cfg/x"), (5.0, "cfg/x")][:copies]
    assert [t for t, topic, _ in _cloud_got(run) if topic == "data/x"] == [1.01]
    # When the broker comes back, every matching subscriber gets the retained messages.
    other = [r.first_sent / S for r in run.delivered_on("broker->other")]
    assert other == [1.01, 5.0][:copies]
    assert run.counter("broker", "crashes") == 1
    assert run.counter("broker", "restarts") == 1


def test_a_subscriber_back_while_the_broker_is_down_gets_retained_when_the_broker_is_back(
    sim,
) -> None:
    run = sim.run_yaml(_retained(
        "  - {at: 2s, node: cloud, action: crash, for: 1s}\n"
        "          - {at: 2500ms, node: broker, action: crash, for: 1500ms}"))
    assert [(t, topic) for t, topic, _ in _cloud_got(run)] == [
        (1.01, "cfg/x"), (1.01, "data/x"), (4.0, "cfg/x")]


# -- QoS 1 while the subscriber is away ----------------------------------------------------------


def _away(qos: int) -> str:
    return f"""
        duration: 6s
        network:
          default: {{latency: 10ms}}
        nodes:
          - {{id: s, type: sensor, interval: 100s, phase: 2s, to: broker, topic: "a", qos: 1}}
          - {{id: broker, type: broker, retry_interval: 1s, max_retries: 5}}
          - {{id: cloud, type: cloud, subscribe: {{broker: broker, topics: ["a"], qos: {qos}}}}}
        faults:
          - {{at: 1500ms, node: cloud, action: crash, for: 1700ms}}
        """


def test_a_qos1_message_published_while_the_subscriber_is_down_arrives_when_it_is_back(
    sim,
) -> None:
    run = sim.run_yaml(_away(1))
    # Forwarded at 2.01 s and again at 3.01 s (arriving at 2.02 and 3.02 s: still down until
    # 3.2 s), then at 4.01 s: delivered at 4.02 s.
    [row] = run.delivered_on("broker->cloud")
    assert (row.attempt, row.first_sent, row.arrival) == (2, 2010 * MS, 4020 * MS)
    assert run.flow("broker->cloud")["retransmissions"] == 2
    assert run.counter("broker", "retransmissions") == 2
    assert run.end_to_end("cloud").max == 2020 * MS


def test_a_qos0_subscription_loses_what_is_published_while_it_is_down(sim) -> None:
    run = sim.run_yaml(_away(0))
    assert [r.cause for r in run.lost_on("broker->cloud")] == ["node_down"]
    assert run.flow("broker->cloud")["delivered"] == 0


def test_messages_to_a_crashed_broker_are_lost_and_its_own_retries_die_with_it(sim) -> None:
    run = sim.run_yaml("""
        duration: 6s
        network:
          default: {latency: 10ms}
        nodes:
          - {id: s, type: sensor, interval: 1s, phase: 0s, to: broker, topic: "a", qos: 1,
             max_retries: 0}
          - {id: broker, type: broker, retry_interval: 1s}
          - {id: cloud, type: cloud, subscribe: {broker: broker, topics: ["a"], qos: 1}}
        faults:
          - {at: 1500ms, action: link_down, link: [broker, cloud], for: 1s}
          - {at: 2500ms, node: broker, action: crash, for: 2s}
        """)
    # 2 s: forwarded at 2.01 s into the cut; its retry at 3.01 s finds the broker down.
    assert [(r.first_sent, r.cause) for r in run.lost_on("broker->cloud")] == [
        (2010 * MS, "node_down")]
    # 3 s and 4 s: they reach a broker that is down.
    assert [(r.first_sent / S, r.cause) for r in run.lost_on("s->broker")] == [
        (3, "node_down"), (4, "node_down")]
    assert run.flow("broker->cloud")["retransmissions"] == 0
