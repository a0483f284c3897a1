"""The typed scenario: what the loader produces and everything downstream consumes.

All times are integer nanoseconds, sizes bytes, bandwidths bits per second. Every object that
came from the file keeps its ``Location`` so later checks can still point at a line.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Literal, NamedTuple

from xedgesim.models.topics import LazyNames

if TYPE_CHECKING:
    from xedgesim.scenario.placement import Placement

DistributionKind = str  # a name of KIND_TABLE, xedgesim/scenario/distributions.py
NodeType = str  # a name of NODE_TYPE_TABLE, xedgesim/scenario/nodes.py
FaultAction = str  # a name of ACTION_TABLE, xedgesim/scenario/faults.py
QueueKind = Literal["per_sender", "shared"]


class Location(NamedTuple):
    """A place in a scenario file, 1-based like editors show it.

    Line 0 stands for the file as a whole (it cannot be read, or is too large), so that such a
    problem still starts with the file name, like every other. A tuple, not a dataclass: every
    value of a file gets one, and a frozen dataclass costs several times more to make.
    """

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        if self.line == 0:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Distribution:
    """A named distribution.

    ``params`` by kind: constant ``(value,)``, exponential ``(mean,)``, normal ``(mean, std)``,
    uniform ``(low, high)``. For latencies the values are nanoseconds and a normal draw is
    truncated at zero (redrawn, not clipped); for payload sizes they are bytes.
    """

    kind: DistributionKind
    params: tuple[float, ...]


@dataclass(frozen=True)
class Gilbert:
    """Bursty loss (Gilbert–Elliott): a good and a bad state per sender instance, which go
    bad with probability ``p`` and good again with probability ``r`` after each transmission,
    and lose a transmission with probability ``loss_good`` or ``loss_bad``
    (xedgesim/sim/loss.py)."""

    p: float
    r: float
    loss_bad: float = 1.0
    loss_good: float = 0.0


@dataclass(frozen=True, eq=False)
class LinkSchedule:
    """Changes of a link's properties at given times (``schedule:`` or ``trace:``).

    Row ``i`` sets, from ``at_ns[i]`` on (strictly increasing), each property it gives and
    leaves the others as they were: -1 in ``latency_ns``, NaN in ``bandwidth_bps`` and ``loss``
    mean "not given"; a bandwidth of ``inf`` is unlimited. Typed arrays (int64 ``'q'``, double
    ``'d'``), not objects: a trace may have a million rows, and loading a scenario imports no
    numpy (xedgesim/sim/schedule.py reads them as numpy arrays without a copy).
    """

    at_ns: array[int]
    latency_ns: array[int]
    bandwidth_bps: array[float]
    loss: array[float]
    location: Location  # where it was given: the ``schedule`` or ``trace`` key's value

    @cached_property
    def latency_range_ns(self) -> tuple[int, int] | None:
        """The lowest and highest latency a change gives (``None``: none gives one)."""
        given = [value for value in self.latency_ns if value >= 0]
        return (min(given), max(given)) if given else None

    @cached_property
    def slowest_bandwidth_bps(self) -> float | None:
        """The smallest bandwidth a change gives (``inf``: only unlimited ones)."""
        return min((value for value in self.bandwidth_bps if not math.isnan(value)),
                   default=None)

    @cached_property
    def highest_loss(self) -> float | None:
        """The largest loss a change gives (``None``: the schedule does not change loss)."""
        return max((value for value in self.loss if not math.isnan(value)), default=None)


@dataclass(frozen=True)
class Buffer:
    """A finite FIFO (drop-tail): at most ``messages`` messages, or ``size_bytes`` bytes, in
    it at once, the one being serialised included (docs/simulation.md, "Finite buffers")."""

    messages: int | None = None
    size_bytes: int | None = None
    location: Location | None = field(default=None, compare=False)  # where it was written


@dataclass(frozen=True)
class LinkSpec:
    """Properties of one direction of a link; each direction has a FIFO queue per sender
    instance, or one for all of them (``queue: shared``)."""

    latency_ns: int = 0
    jitter: Distribution | None = None
    loss: float = 0.0  # independent loss; 0 when ``gilbert`` gives the loss
    bandwidth_bps: float | None = None  # None: unlimited, no serialisation delay
    gilbert: Gilbert | None = None  # bursty loss instead of ``loss``
    schedule: LinkSchedule | None = None  # changes of latency, bandwidth and loss over time
    buffer: Buffer | None = None  # None: the queue never overflows
    queue: QueueKind = "per_sender"

    def lowest_latency_ns(self) -> int:
        """The smallest latency the link ever has (its own, or one its schedule sets)."""
        scheduled = None if self.schedule is None else self.schedule.latency_range_ns
        return self.latency_ns if scheduled is None else min(self.latency_ns, scheduled[0])

    def highest_latency_ns(self) -> int:
        scheduled = None if self.schedule is None else self.schedule.latency_range_ns
        return self.latency_ns if scheduled is None else max(self.latency_ns, scheduled[1])

    def slowest_bandwidth_bps(self) -> float | None:
        """The smallest bandwidth the link ever has; ``None`` when it is always unlimited."""
        given = [] if self.bandwidth_bps is None else [self.bandwidth_bps]
        if self.schedule is not None and self.schedule.slowest_bandwidth_bps is not None:
            given.append(self.schedule.slowest_bandwidth_bps)
        slowest = min(given, default=math.inf)
        return None if slowest == math.inf else slowest

    def ever_lossy(self) -> bool:
        """Does the link ever lose messages independently (``loss`` > 0, now or scheduled)?"""
        scheduled = None if self.schedule is None else self.schedule.highest_loss
        return self.loss > 0 or (scheduled is not None and scheduled > 0)


@dataclass(frozen=True)
class LinkOverride:
    """A link between two scenario ids (a group id covers all its instances), both directions."""

    a: str
    b: str
    spec: LinkSpec  # already merged over the default link
    location: Location


@dataclass(frozen=True)
class NetworkSpec:
    default: LinkSpec = LinkSpec()
    links: tuple[LinkOverride, ...] = ()

    def between(self, a: str, b: str) -> LinkSpec:
        """The link joining nodes ``a`` and ``b`` (either way round): an override, or the
        default."""
        override = self.override(a, b)
        return self.default if override is None else override.spec

    def override(self, a: str, b: str) -> LinkOverride | None:
        """The link written for nodes ``a`` and ``b`` (either way round), if one is."""
        for override in self.links:
            if {override.a, override.b} == {a, b}:
                return override
        return None


@dataclass(frozen=True)
class Publishing:
    """How a node sends: where to, on which topic, with which MQTT delivery guarantee.

    ``topic`` is a template: ``{id}`` becomes the instance id, ``{index}`` its index in the group.
    QoS 1 messages lost on a hop are retransmitted every ``retry_interval_ns`` up to
    ``max_retries`` times.
    """

    to: str
    topic: str
    qos: int = 0
    retain: bool = False
    payload_bytes: int = 64  # the size of every message; with ``payload_size``, the largest
    retry_interval_ns: int = 1_000_000_000
    max_retries: int = 5
    # A sensor's sizes drawn per message, in bytes (``payload: {exponential: 200B}``), rounded
    # up to whole bytes, at least 1 (xedgesim/models/traffic.py); None: ``payload_bytes``.
    payload_size: Distribution | None = None
    buffer: Buffer | None = None  # the node's publish queue: its FIFO on the link to ``to``


@dataclass(frozen=True)
class Subscription:
    """Topic filters (MQTT ``+``/``#``) a node subscribes to at ``broker``."""

    broker: str
    topics: tuple[str, ...]
    qos: int = 0


@dataclass(frozen=True)
class OnOff:
    """An on/off (interrupted Poisson) arrival process: exponential on periods with mean
    ``on_ns`` and off periods with mean ``off_ns``; while on, Poisson arrivals with mean gap
    ``interval`` (docs/simulation.md, "Arrival processes")."""

    on_ns: int
    off_ns: int


@dataclass(frozen=True)
class Trace:
    """Emission times replayed from a CSV file (docs/scenario.md, "Traces").

    ``times_ns`` in file order (never decreasing); ``instances`` the fleet index of each row,
    or None when every instance replays every row. Arrays of int64, not tuples: a trace of a
    million rows stays 8 MB.
    """

    path: str  # as resolved from the scenario's directory, for messages
    times_ns: array = field(hash=False)
    instances: array | None = field(default=None, hash=False)


Process = Literal["periodic", "poisson", "on_off", "trace"]


@dataclass(frozen=True)
class Service:
    """Processing before a node handles a message (``service:``): a FIFO queue in front of
    ``servers`` identical servers, each message taking a draw of ``time`` (nanoseconds,
    truncated at zero) of one of them (xedgesim/sim/service.py)."""

    time: Distribution
    servers: int = 1


Tier = Literal["device", "gateway", "cloud"]


@dataclass(frozen=True)
class Compute:
    """Where a sensor's readings are processed (``compute:``) and what one processing step
    costs: a draw of ``time`` (nanoseconds, truncated at zero) and ``energy_pj`` picojoules.
    ``device``: on the sensor before it sends; ``gateway``: by the node it publishes to;
    ``cloud``: by each cloud node it reaches (docs/simulation.md, "Inference placement")."""

    at: Tier
    time: Distribution
    energy_pj: int = 0


@dataclass(frozen=True)
class SensorParams:
    publish: Publishing
    interval_ns: int  # with a trace, the length of an emission window (none is written)
    process: Process = "periodic"
    phase: Literal["random"] | int = "random"  # "random": first emission uniform in [0, interval)
    value: Distribution = Distribution("normal", (20.0, 2.0))
    arrivals: OnOff | Trace | None = None  # the parameters of an on_off or trace process
    compute: Compute | None = None  # inference placement: processed on the device or further on


@dataclass(frozen=True)
class GatewayParams:
    publish: Publishing | None  # None: a gateway that only collects (a dead end, reported)
    aggregate_every_ns: int = 10_000_000_000
    subscription: Subscription | None = None


@dataclass(frozen=True)
class BrokerParams:
    persistence: bool = True  # retained messages survive a crash
    retry_interval_ns: int = 1_000_000_000
    max_retries: int = 5


@dataclass(frozen=True)
class CloudParams:
    subscription: Subscription | None = None


NodeParams = SensorParams | GatewayParams | BrokerParams | CloudParams


@dataclass(frozen=True)
class Failures:
    """Random failure and repair of every instance of a node (``failures:``): up times are
    exponential with mean ``mtbf_ns``, repairs exponential with mean ``mttr_ns``."""

    mtbf_ns: int
    mttr_ns: int


@dataclass(frozen=True)
class Energy:
    """What a node's radio and sleep cost (``energy:``), in whole picojoules and picowatts,
    and its battery (xedgesim/sim/energy.py). ``battery_pj`` None: unlimited, energy is
    still counted."""

    tx_per_message_pj: int
    tx_per_byte_pj: int
    rx_per_message_pj: int
    rx_per_byte_pj: int
    idle_pw: int
    battery_pj: int | None
    location: Location  # of the ``energy:`` mapping, for checks made after the node is read


@dataclass(frozen=True)
class NodeSpec:
    """One entry of ``nodes:``; ``count > 1`` expands to instances ``<id>-<index>``."""

    id: str
    type: NodeType
    implementation: str
    params: NodeParams
    location: Location
    count: int = 1
    image: str | None = None  # for implementation: docker
    docker: dict[str, object] = field(default_factory=dict)  # checked: scenario.docker_options
    failures: Failures | None = None  # random failure and repair (xedgesim/sim/failures.py)
    energy: Energy | None = None  # energy and battery (xedgesim/sim/energy.py)
    service: Service | None = None  # processing queue before the node handles a message

    @property
    def instance_ids(self) -> InstanceIds:
        return InstanceIds(self.id, self.count)


def instance_id(node_id: str, count: int, index: int) -> str:
    """The id of instance ``index`` of a node with ``count`` instances: the node's own id when
    it has one, else ``<id>-<index>`` with the index zero-padded to the widest (``sensors-07``)."""
    return instance_id_format(node_id, count) % index


def instance_id_format(node_id: str, count: int) -> str:
    """``instance_id`` as a ``%`` format of the index, for making ids of many instances in one
    go (``nodes.csv``): ``%.0s`` takes a single instance's index and prints nothing."""
    literal = node_id.replace("%", "%%")
    if count == 1:
        return f"{literal}%.0s"
    return f"{literal}-%0{len(str(count - 1))}d"


class InstanceIds(LazyNames):
    """The instance ids of one node, each made when asked.

    A fleet of a million sensors would otherwise hold a million strings (and a dict to find
    them) for the whole run, though only faults, ``nodes.csv`` and ``records.csv`` name them.
    """

    def __init__(self, node_id: str, count: int) -> None:
        self.node_id = node_id
        self.count = count

    def __len__(self) -> int:
        return self.count

    def _name(self, index: int) -> str:
        return instance_id(self.node_id, self.count, index)

    def __iter__(self) -> Iterator[str]:
        yield from map(instance_id_format(self.node_id, self.count).__mod__, range(self.count))

    def index(self, value: object, start: int = 0, stop: int | None = None) -> int:
        """Where ``value`` is, found from its shape (``ValueError`` when it is none of these)."""
        if value == self.node_id and self.count == 1:
            found = 0
        else:
            prefix, _, digits = str(value).rpartition("-")
            width = len(str(self.count - 1))
            if (self.count == 1 or prefix != self.node_id or len(digits) != width
                    or not (digits.isascii() and digits.isdigit()) or int(digits) >= self.count):
                raise ValueError(f"{value!r} is not an instance of {self.node_id!r}")
            found = int(digits)
        if not start <= found < (self.count if stop is None else stop):
            raise ValueError(f"{value!r} is not in the range searched")
        return found

    def __contains__(self, value: object) -> bool:
        try:
            self.index(value)
        except ValueError:
            return False
        return True


@dataclass(frozen=True)
class FaultSpec:
    """A scheduled fault.

    ``crash``/``restart`` use ``node``; ``link_down``/``link_up`` use ``link`` (two ids, both
    directions); ``partition``/``heal`` use ``groups`` (two or more lists of ids: links between
    different groups are cut). ``duration_ns`` (from ``for:``) schedules the matching recovery.
    """

    at_ns: int
    action: FaultAction
    location: Location
    node: str | None = None
    link: tuple[str, str] | None = None
    groups: tuple[tuple[str, ...], ...] | None = None
    duration_ns: int | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    seed: int
    duration_ns: int
    network: NetworkSpec
    nodes: tuple[NodeSpec, ...]
    faults: tuple[FaultSpec, ...]
    source: str
    notices: tuple[str, ...] = ()  # e.g. "converted from the original xEdgeSim layout"
    placement: Placement | None = None  # where a fleet runs the nodes (scenario/placement.py)
    # path and sha256 of the --network overlay merged into 'network' (scenario/overlay.py)
    network_overlay: dict[str, str] | None = None
    # metrics leave out the messages first sent before this (docs/simulation.md, "Steady state")
    warmup_ns: int = 0

    def node(self, node_id: str) -> NodeSpec:
        for spec in self.nodes:
            if spec.id == node_id:
                return spec
        raise KeyError(node_id)
