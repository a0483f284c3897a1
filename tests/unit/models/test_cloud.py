"""The cloud sink: end-to-end latency is arrival minus the origin of the oldest reading."""

from __future__ import annotations

import numpy as np

MS = 1_000_000
S = 1_000_000_000


def test_direct_end_to_end_latency_is_the_hop_latency(sim) -> None:
    run = sim.run_yaml("""
        duration: 5s
        network:
          default: {latency: 12ms, jitter: {uniform: [0ms, 4ms]}}
        nodes:
          - {id: s, type: sensor, count: 5, interval: 100ms, to: cloud}
          - {id: cloud, type: cloud}
        """)
    delivered = run.delivered_on("s->cloud")
    ages = np.array([row.arrival - row.origin for row in delivered])
    histogram = run.end_to_end("cloud")
    assert histogram.count == len(delivered) == run.counter("cloud", "readings_in")
    assert (histogram.min, histogram.max, histogram.total) == (
        ages.min(), ages.max(), ages.sum())
    assert histogram.min >= 12 * MS and histogram.max <= 16 * MS
    summary = run.summary["end_to_end_ms"]["cloud"]
    assert summary["count"] == len(delivered)
    assert summary["mean"] == round(ages.mean() / MS, 3)


def test_end_to_end_through_a_gateway_counts_from_the_oldest_reading(sim) -> None:
    """Readings at 0..4 s are aggregated at 5 s and reach the cloud at 5.02 s: the oldest is
    5.02 s old, though the newest is only 1.02 s old."""
    run = sim.run_yaml("""
        duration: 16s
        network:
          default: {latency: 10ms}
          links:
            - {between: [gw, cloud], latency: 20ms}
        nodes:
          - {id: s, type: sensor, count: 3, interval: 1s, phase: 0s, to: gw}
          - {id: gw, type: gateway, aggregate_every: 5s, to: cloud}
          - {id: cloud, type: cloud}
        """)
    histogram = run.end_to_end("cloud")
    assert histogram.count == 3  # one per aggregate, at 5, 10 and 15 s
    assert (histogram.min, histogram.max, histogram.total) == (5020 * MS, 5020 * MS,
                                                               3 * 5020 * MS)
    assert run.counter("cloud", "readings_in") == 3 * 15
    assert [(row.origin, row.arrival) for row in run.delivered_on("gw->cloud")] == [
        (0, 5020 * MS), (5 * S, 10020 * MS), (10 * S, 15020 * MS)]


def test_end_to_end_through_a_broker_keeps_the_origin_across_hops(sim) -> None:
    run = sim.run_yaml("""
        duration: 5s
        network:
          default: {latency: 7ms}
          links:
            - {between: [broker, cloud], latency: 30ms}
        nodes:
          - {id: s, type: sensor, interval: 1s, phase: 250ms, to: broker, topic: "t/{id}"}
          - {id: broker, type: broker}
          - {id: cloud, type: cloud, subscribe: ["t/+"]}
        """)
    histogram = run.end_to_end("cloud")
    assert histogram.count == 5
    assert (histogram.min, histogram.max) == (37 * MS, 37 * MS)
    # The hop latency of the last leg alone is 30 ms.
    assert {row.latency for row in run.delivered_on("broker->cloud")} == {30 * MS}


def test_end_to_end_includes_the_time_spent_waiting_for_retries(sim) -> None:
    run = sim.run_yaml("""
        duration: 5s
        network:
          default: {latency: 5ms}
        nodes:
          - {id: s, type: sensor, interval: 100s, phase: 1s, to: cloud, qos: 1,
             retry_interval: 300ms}
          - {id: cloud, type: cloud}
        faults:
          - {at: 900ms, action: link_down, link: [s, cloud], for: 500ms}
        """)
    # Sent at 1 s, 1.3 s (both cut), 1.6 s: arrives at 1.605 s.
    [row] = run.delivered_on("s->cloud")
    assert (row.attempt, row.arrival) == (2, 1605 * MS)
    assert run.end_to_end("cloud").max == 605 * MS


def test_a_cloud_that_receives_nothing_reports_an_empty_histogram(sim) -> None:
    run = sim.run_yaml("""
        duration: 2s
        nodes:
          - {id: s, type: sensor, interval: 1s, to: cloud}
          - {id: cloud, type: cloud}
          - {id: idle, type: cloud}
        """)
    assert run.summary["end_to_end_ms"]["idle"]["count"] == 0
    assert run.counter("idle", "readings_in") == 0
