"""Records -> what each link did: one-way delays, and loss trials with their failures.

Each row of ``records.csv`` is one message on one hop (``flow`` = ``sender->receiver``), its
``first_sent_ns`` the moment the hop's sender first handed it to the link (a gateway's aggregate
is sent when its window closes, a broker's forward when the publish arrived: aggregation and
broker time are never inside a hop), ``arrival_ns`` when the receiver got it. What is the link's:

* **delay**: ``arrival − first_sent`` of messages delivered at their first attempt (a retried
  message also waited ``attempt × retry_interval`` in its sender, which is not the link), minus
  the serialisation the scenario's ``bandwidth`` adds to a message of the flow's mean size
  (``bytes_per_s / messages_per_s`` of ``summary.json``): the overlay keeps that bandwidth, so
  the fitted latency must not count it twice. Queueing behind other messages is assumed small
  (the report shows each flow's utilisation of the bandwidth).
* **loss**: every transmission attempt is a Bernoulli trial. A message delivered at attempt k
  is k failures and one success; one lost at random after attempt k is k + 1 failures. Messages
  whose attempts overlap a fault of the scenario that touches the link (either end down, the
  link cut, a partition across it; each fault's span extended by one retry interval, as a
  fleet's restarts are not instantaneous) are left out, since their failures are not the
  link's random loss; so are messages sent too late for their fate to be decided inside the
  run (they would be the ones still in flight, and only the lucky ones recorded).

Both directions of a link share one specification in the scenario, so their samples are pooled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from xedgesim.calibrate.records import FlowRecords
from xedgesim.compare.runs import CompareInputError
from xedgesim.scenario.model import BrokerParams, LinkSpec, Publishing, Scenario
from xedgesim.sim.faults import RANDOM, FaultTimeline
from xedgesim.sim.kernel import NEVER
from xedgesim.sim.topology import Topology


@dataclass
class FlowShare:
    """What one flow contributed, for the report."""

    name: str
    delays: int  # first-attempt deliveries used as delay samples
    trials: int
    failures: int
    serialisation_ns: int
    utilisation: float | None  # of the link's bandwidth, when it has one
    left_out: dict[str, int] = field(default_factory=dict)  # reason -> messages


@dataclass
class LinkSamples:
    """One scenario link (both directions), its current specification and its samples."""

    a: str
    b: str
    spec: LinkSpec
    delays_ns: np.ndarray
    trials: int
    failures: int
    flows: list[FlowShare]


def link_samples(flows: Mapping[str, FlowRecords], scenario: Scenario,
                 bytes_per_message: Mapping[str, float], duration_ns: int) -> list[LinkSamples]:
    """Per link of the scenario that carried messages in the run, in the order first seen."""
    topology = Topology(scenario)
    timeline = FaultTimeline(scenario.faults, topology)
    links: dict[frozenset[str], LinkSamples] = {}
    delays: dict[frozenset[str], list[np.ndarray]] = {}
    for flow in flows.values():
        pair = frozenset((flow.sender, flow.receiver))
        spec = scenario.network.between(flow.sender, flow.receiver)
        if spec.schedule is not None:
            raise CompareInputError(
                f"{spec.schedule.location}: the link {flow.sender}–{flow.receiver} changes over "
                "time (a schedule or trace); calibration fits one latency, jitter and loss per "
                "link, which it does not have: calibrate a run without its schedule")
        if pair not in links:
            written = scenario.network.override(flow.sender, flow.receiver)
            a, b = (flow.sender, flow.receiver) if written is None else (written.a, written.b)
            links[pair] = LinkSamples(a, b, spec, np.empty(0, np.int64), 0, 0, [])
            delays[pair] = []
        share, flow_delays = _flow_share(flow, scenario, spec, timeline,
                                         bytes_per_message.get(flow.name), duration_ns)
        link = links[pair]
        link.flows.append(share)
        link.trials += share.trials
        link.failures += share.failures
        delays[pair].append(flow_delays)
    for pair, link in links.items():
        link.delays_ns = np.concatenate(delays[pair]) if delays[pair] else link.delays_ns
    return list(links.values())


def retry_policy(scenario: Scenario, sender: str) -> tuple[int, int]:
    """(retry interval in ns, max retries) of what ``sender`` sends on its hops."""
    params = scenario.node(sender).params
    if isinstance(params, BrokerParams):
        return params.retry_interval_ns, params.max_retries
    publish = getattr(params, "publish", None) or Publishing(to="", topic="")
    return publish.retry_interval_ns, publish.max_retries


def _flow_share(flow: FlowRecords, scenario: Scenario, spec: LinkSpec, timeline: FaultTimeline,
                size: float | None, duration_ns: int) -> tuple[FlowShare, np.ndarray]:
    retry_ns, max_retries = retry_policy(scenario, flow.sender)
    serialisation = 0
    utilisation = None
    if spec.bandwidth_bps and size:
        serialisation = math.ceil(size * 8 * 1e9 / spec.bandwidth_bps)
        delivered = int((flow.cause == 0).sum())
        utilisation = delivered * size * 8 / (duration_ns / 1e9) / spec.bandwidth_bps
    delivered = flow.cause == 0
    first = delivered & (flow.attempt == 0)
    delays = flow.arrival[first] - flow.first_sent[first] - serialisation
    hop = flow.arrival[delivered] - flow.first_sent[delivered] - flow.attempt[delivered] * retry_ns
    longest = int(hop.max()) if len(hop) else 0
    # When the last attempt of a message sent at t has arrived: t + attempts × interval + delay.
    ends = flow.first_sent + flow.attempt * retry_ns + longest + 1
    disturbed = _overlaps_fault(timeline, flow.sender, flow.receiver, flow.first_sent, ends,
                                retry_ns)
    retries_seen = bool(len(flow.attempt)) and int(flow.attempt.max()) > 0
    horizon = (max_retries * retry_ns if retries_seen else 0) + longest
    late = flow.first_sent + horizon >= duration_ns
    counted = ~disturbed & ~late & ((flow.cause == 0) | (flow.cause == RANDOM))
    faulted = ~disturbed & ~late & ~((flow.cause == 0) | (flow.cause == RANDOM))
    attempts = flow.attempt[counted]
    trials = int(attempts.sum()) + int(counted.sum())
    failures = int(attempts.sum()) + int((flow.cause[counted] == RANDOM).sum())
    left_out = {"retransmitted (delay)": int((delivered & (flow.attempt > 0)).sum()),
                "during a fault (loss)": int(disturbed.sum()),
                "lost to a fault outside the schedule (loss)": int(faulted.sum()),
                "too late to be decided (loss)": int((late & ~disturbed).sum())}
    share = FlowShare(flow.name, len(delays), trials, failures, serialisation, utilisation,
                      {reason: n for reason, n in left_out.items() if n})
    return share, delays


def _overlaps_fault(timeline: FaultTimeline, sender: str, receiver: str, start: np.ndarray,
                    end: np.ndarray, margin: int) -> np.ndarray:
    """For each [start, end): does it overlap a span in which a fault touches the link?"""
    spans = [(o.start, o.end) for group in (sender, receiver)
             for o in timeline.node_outages.get(group, ())]
    spans += timeline.link_outages.get(frozenset((sender, receiver)), [])
    spans += [(p.start, p.end) for p in timeline.partitions
              if p.side.get(sender, -1) != p.side.get(receiver, -1)
              and sender in p.side and receiver in p.side]
    hit = np.zeros(len(start), dtype=bool)
    for low, high in spans:
        high = min(high + margin, NEVER)
        hit |= (start < high) & (low < end)
    return hit
