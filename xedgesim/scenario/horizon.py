"""Refuse scenarios whose times would leave the kernel's int64 nanoseconds.

Each value is bounded on its own when it is read, but the kernel adds them: a message sent just
before the end of the run arrives ``latency + jitter + size / bandwidth`` later, a retry one
``retry_interval`` later, a sensor's next reading one ``interval`` later. A 1 GiB payload over a
``1bit`` link is 272 years on the wire; with a long run that wraps int64 and the kernel sees
time go backwards. So every such sum is checked here, with the place to fix it.

Jitter drawn from an unbounded distribution is counted at the largest draw the kernel's
sampler can make (``distributions.reach``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from xedgesim.scenario import limits
from xedgesim.scenario.distributions import REACH, reach
from xedgesim.scenario.model import (
    BrokerParams,
    Distribution,
    FaultSpec,
    GatewayParams,
    LinkSpec,
    Location,
    NodeSpec,
    OnOff,
    SensorParams,
)
from xedgesim.scenario.reader import Reader
from xedgesim.units import format_duration


def jitter_bound_ns(jitter: Distribution | None) -> float:
    """The largest jitter the kernel can draw from ``jitter``, in nanoseconds."""
    return 0.0 if jitter is None else reach(jitter)


def hop_bound_ns(spec: LinkSpec, payload_bytes: int) -> float:
    """The longest one message of ``payload_bytes`` can take over a link, queueing aside: at
    the highest latency and the slowest bandwidth it ever has, when it has a schedule."""
    serialisation = 0.0
    bandwidth = spec.slowest_bandwidth_bps()
    if bandwidth:
        serialisation = math.ceil(payload_bytes * 8e9 / bandwidth)
    return spec.highest_latency_ns() + jitter_bound_ns(spec.jitter) + serialisation


def check_horizon(
    reader: Reader,
    duration: tuple[int, Location],
    links: Iterable[tuple[LinkSpec, Location, str]],
    nodes: Iterable[NodeSpec],
    faults: Iterable[FaultSpec],
) -> None:
    """Report each link, node key and fault that could take a time past ``MAX_TIME_NS``."""
    duration_ns, duration_at = duration
    if duration_ns >= limits.MAX_DURATION_NS:
        reader.report(
            duration_at,
            f"'duration' in the scenario must be below 2^61 ns (about 73 years), found "
            f"{_span(duration_ns)}",
            _HINT,
        )
        return
    nodes = list(nodes)
    payload = max((_payload(spec) for spec in nodes), default=0)
    for spec, location, context in links:
        hop = hop_bound_ns(spec, payload)
        if duration_ns + hop >= limits.MAX_TIME_NS:
            worst = "" if spec.schedule is None else "slowest "  # over its schedule
            reader.report(
                location,
                f"a message can take {_span(hop)} on {context} ({payload:,} bytes at its "
                f"{worst}bandwidth, plus {worst and 'highest '}latency and the largest "
                f"jitter){_PAST}",
                _HINT,
            )
    for spec in nodes:
        for key, value in _delays(spec):
            if duration_ns + value >= limits.MAX_TIME_NS:
                reader.report(
                    spec.location, f"'{key}' of node '{spec.id}' is {_span(value)}{_PAST}", _HINT
                )
    for fault in faults:
        if fault.duration_ns is not None and duration_ns + fault.duration_ns >= limits.MAX_TIME_NS:
            reader.report(
                fault.location,
                f"'for' of this {fault.action} is {_span(fault.duration_ns)}{_PAST}",
                _HINT,
            )


_HINT = "see 'Limits' in docs/scenario.md"
_PAST = ": added to a time in the run, that passes the simulator's limit of 2^62 ns (146 years)"


def _span(ns: float) -> str:
    if ns >= 1e17:
        return f"{ns / 1e9 / 86400 / 365.25:,.0f} years"
    return format_duration(int(ns)) if ns else "0s"


def _payload(spec: NodeSpec) -> int:
    publish = getattr(spec.params, "publish", None)
    return 0 if publish is None else publish.payload_bytes


def _delays(spec: NodeSpec) -> list[tuple[str, int]]:
    """The node's durations that the kernel adds to a time within the run."""
    params = spec.params
    delays: list[tuple[str, int]] = []
    if isinstance(params, SensorParams):
        # a Poisson gap is exponential: as long as the sampler can draw one
        gap = REACH["exponential"] if params.process == "poisson" else 1
        delays.append(("interval", gap * params.interval_ns))
    if isinstance(params, SensorParams) and isinstance(params.arrivals, OnOff):
        # an off period, an on period and a gap, each as long as the sampler can draw it
        longest = REACH["exponential"] * (params.arrivals.on_ns + params.arrivals.off_ns
                                          + params.interval_ns)
        delays.append(("process", longest))
    if isinstance(params, GatewayParams):
        delays.append(("aggregate_every", params.aggregate_every_ns))
    if isinstance(params, BrokerParams):
        delays.append(("retry_interval", params.retry_interval_ns))
    publish = getattr(params, "publish", None)
    if publish is not None:
        delays.append(("retry_interval", publish.retry_interval_ns))
    # One draw of a processing time: a queue of them saturates instead (xedgesim/sim/service.py)
    if spec.service is not None:
        delays.append(("time' of 'service", math.ceil(reach(spec.service.time))))
    compute = getattr(params, "compute", None)
    if compute is not None:
        delays.append(("time' of 'compute", math.ceil(reach(compute.time))))
    return delays
