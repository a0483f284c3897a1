"""Which part of each record is the link's: delays, loss trials, what is left out and why."""

from __future__ import annotations

import numpy as np

from xedgesim.calibrate.records import FlowRecords
from xedgesim.calibrate.samples import link_samples
from xedgesim.scenario import load_scenario_text

MS, S = 1_000_000, 1_000_000_000
SCENARIO = """
duration: 60s
network:
  default: {latency: 5ms}
  links:
    - {between: [gw1, sensors], latency: 2ms, bandwidth: 1Mbit}
nodes:
  - {id: sensors, type: sensor, count: 2, interval: 1s, to: gw1, topic: "t/{id}", qos: 1,
     retry_interval: 1s, max_retries: 3}
  - {id: gw1, type: gateway, aggregate_every: 10s, to: cloud, topic: agg}
  - {id: cloud, type: cloud}
faults:
  - {at: 30s, node: gw1, action: crash, for: 2s}
"""


def flow(rows: list[tuple[int, int, int, int]], name: str = "sensors->gw1") -> FlowRecords:
    """(first_sent, arrival or -1, cause code, attempt) per message."""
    sender, _, receiver = name.partition("->")
    columns = list(zip(*rows, strict=True))
    return FlowRecords(name, sender, receiver, np.array(columns[0], np.int64),
                       np.array(columns[1], np.int64), np.array(columns[2], np.int8),
                       np.array(columns[3], np.int64))


def samples(rows, size: float = 125.0):
    scenario = load_scenario_text(SCENARIO, "s.yaml")
    (link,) = link_samples({"sensors->gw1": flow(rows)}, scenario, {"sensors->gw1": size},
                           scenario.duration_ns)
    return link


def test_delays_are_first_attempts_less_the_serialisation_the_overlay_keeps() -> None:
    # 125 B at 1 Mbit/s is 1 ms on the wire: the scenario's bandwidth adds it, so the fit must not.
    link = samples([(1 * S, 1 * S + 4 * MS, 0, 0), (2 * S, 2 * S + 3 * MS, 0, 0),
                    (3 * S, 4 * S + 9 * MS, 0, 1)])
    assert (link.a, link.b) == ("gw1", "sensors")  # as the scenario writes the link
    assert link.delays_ns.tolist() == [3 * MS, 2 * MS]
    (share,) = link.flows
    assert share.serialisation_ns == 1 * MS
    assert share.left_out == {"retransmitted (delay)": 1}


def test_each_attempt_is_a_trial_and_each_failed_one_a_failure() -> None:
    link = samples([(1 * S, 1 * S + 3 * MS, 0, 0),       # 1 trial, no failure
                    (2 * S, 4 * S + 3 * MS, 0, 2),       # 3 trials, 2 failures
                    (3 * S, -1, 1, 3)])                  # lost at random after 4: 4 failures
    assert (link.trials, link.failures) == (8, 6)


def test_messages_near_a_fault_or_the_end_do_not_count_as_random_loss() -> None:
    # gw1 is down from 30 s to 32 s (and, allowing for a slow restart, one retry interval
    # more): messages retried across it, or lost to it, say nothing about random loss. Sent
    # less than max_retries × retry_interval + the longest delay before the end (60 s), a
    # message's fate may still be open, and only the lucky ones would be in the records.
    link = samples([(10 * S, 10 * S + 3 * MS, 0, 0),
                    (29_500 * MS, 32_500 * MS + 3 * MS, 0, 3),   # retried across the crash
                    (31 * S, -1, 4, 0),                           # lost to it
                    (32_900 * MS, 32_900 * MS + 3 * MS, 0, 0),    # within the restart margin
                    (34 * S, 34 * S + 3 * MS, 0, 0),
                    (57 * S, 57 * S + 3 * MS, 0, 0)])             # too late to be decided
    assert (link.trials, link.failures) == (2, 0)
    (share,) = link.flows
    assert share.left_out == {"retransmitted (delay)": 1, "during a fault (loss)": 3,
                              "too late to be decided (loss)": 1}
    assert len(link.delays_ns) == 4  # every first-attempt delivery: faults do not delay them


def test_both_directions_of_a_link_are_pooled_and_other_links_kept_apart() -> None:
    scenario = load_scenario_text(SCENARIO, "s.yaml")
    flows = {"sensors->gw1": flow([(1 * S, 1 * S + 3 * MS, 0, 0)]),
             "gw1->sensors": flow([(2 * S, 2 * S + 4 * MS, 0, 0)], "gw1->sensors"),
             "gw1->cloud": flow([(3 * S, 3 * S + 5 * MS, 0, 0)], "gw1->cloud")}
    links = link_samples(flows, scenario, {}, scenario.duration_ns)
    assert [(link.a, link.b, len(link.flows)) for link in links] == [
        ("gw1", "sensors", 2), ("gw1", "cloud", 1)]
    assert links[0].delays_ns.tolist() == [3 * MS, 4 * MS]  # no size known: nothing subtracted
    assert scenario.network.between("cloud", "gw1").latency_ns == 5 * MS
