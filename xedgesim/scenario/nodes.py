"""The ``nodes:`` list: ids, types, implementations and each type's parameters.

Nodes are read in two passes. The first reads only what other parts of the file refer to (id,
type, count), so that ``to:``, links, subscriptions and faults can be checked against every node
whatever its position in the file; the second reads each node's own parameters.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from xedgesim import registry
from xedgesim.models.topics import filter_problem, topic_problem
from xedgesim.scenario import limits
from xedgesim.scenario.distributions import read_distribution
from xedgesim.scenario.docker_options import read_docker_options
from xedgesim.scenario.energy import read_energy
from xedgesim.scenario.failures import read_failures
from xedgesim.scenario.model import (
    BrokerParams,
    Buffer,
    CloudParams,
    Distribution,
    GatewayParams,
    NodeParams,
    NodeSpec,
    OnOff,
    Process,
    Publishing,
    SensorParams,
    Subscription,
    Trace,
    instance_id,
)
from xedgesim.scenario.queues import read_buffer
from xedgesim.scenario.reader import Reader, did_you_mean, english_list, label
from xedgesim.scenario.service import read_compute, read_service
from xedgesim.scenario.traffic import TRACE_WINDOW_NS, read_payload, read_process
from xedgesim.scenario.yaml_tree import YInvalid, YMap, YNode, YScalar, YSeq, describe

COMMON_KEYS = ("id", "type", "implementation", "image", "docker", "failures")
PUBLISH_KEYS = ("to", "topic", "qos", "retain", "payload", "retry_interval", "max_retries",
                "buffer")
CONTAINER_IMPLEMENTATION = "docker"
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
PLACEHOLDERS = ("{id}", "{index}")
DEFAULT_VALUE = Distribution("normal", (20.0, 2.0))
_NS_PER_S = 1_000_000_000


@dataclass
class NodeDraft:
    """What the first pass learnt about one entry of ``nodes:``."""

    ymap: YMap
    position: int  # 1-based place in the list, for nodes without a usable id
    id: str | None = None
    type: str | None = None
    count: int | None = 1

    @property
    def context(self) -> str:
        return f"node '{self.id}'" if self.id is not None else f"node #{self.position}"

    def instance_name(self, index: int) -> str:
        """The id of instance ``index`` of a fleet (``count > 1``): ``sensors-07``."""
        return instance_id(self.id or "", self.count or 1, index)

    def owns_instance(self, index_text: str) -> bool:
        """Whether ``<id>-<index_text>`` is one of this fleet's instances."""
        count = self.count or 1
        return (
            count > 1
            and index_text.isascii()
            and index_text.isdigit()
            and len(index_text) == len(str(count - 1))
            and int(index_text) < count
        )


class NodeIndex:
    """Resolves names written elsewhere in the file to nodes, with did-you-mean hints.

    Instance ids are recognised by their shape (``<fleet id>-<index>``), never listed: a fleet
    of ten million would otherwise cost ten million strings before anything was checked.
    """

    def __init__(self, drafts: Sequence[NodeDraft]) -> None:
        self.drafts = list(drafts)
        self.by_id: dict[str, NodeDraft] = {}
        for draft in drafts:
            if draft.id is not None:
                self.by_id.setdefault(draft.id, draft)
        self._of_type: dict[str, list[str]] = {}

    def instance_owner(self, name: str) -> NodeDraft | None:
        """The fleet that ``name`` is an instance of, if any."""
        fleet_id, dash, index_text = name.rpartition("-")
        fleet = self.by_id.get(fleet_id) if dash else None
        return fleet if fleet is not None and fleet.owns_instance(index_text) else None

    def ids_of_type(self, node_type: str) -> list[str]:
        """Computed once per type: every subscription asks for the brokers."""
        if not self._of_type:
            for draft in self.by_id.values():
                if draft.id and draft.type:
                    self._of_type.setdefault(draft.type, []).append(draft.id)
        return self._of_type.get(node_type, [])

    def resolve(
        self,
        reader: Reader,
        node: YNode,
        what: str,
        types: Collection[str] | None = None,
        instances: bool = False,
    ) -> str | None:
        """The node id ``node`` names, or ``None`` after reporting why it names none.

        ``types`` restricts which node types may be named; a node whose own type could not be
        read is accepted, since its type was reported already. With ``instances`` one instance
        of a group (``sensors-03``) may be named too.
        """
        name = reader.string(node, what)
        if name is None:
            return None
        draft = self.by_id.get(name)
        if draft is None:
            owner = self.instance_owner(name)
            if owner is not None and instances:
                return name
            if owner is not None:
                reader.report(
                    node,
                    f"{what} names '{name}', one instance of node '{owner.id}'",
                    f"links, faults and destinations name whole nodes: write '{owner.id}'",
                )
            else:
                hint = did_you_mean(name, self.by_id)
                if hint is None and 0 < len(self.by_id) <= 12:
                    hint = f"known nodes: {', '.join(self.by_id)}"
                reader.report(node, f"{what} names an unknown node '{name}'", hint)
            return None
        if types is not None and draft.type is not None and draft.type not in types:
            reader.report(
                node,
                f"{what} names '{name}', which is a {draft.type}; "
                f"it must be a {english_list(types, 'or')}",
            )
            return None
        return name


def read_drafts(reader: Reader, nodes: YSeq) -> list[NodeDraft]:
    """First pass: id, type and count of every node, plus duplicate and clashing ids."""
    drafts: list[NodeDraft] = []
    first_seen: dict[str, YNode] = {}
    for position, item in enumerate(nodes.items, start=1):
        ymap = reader.mapping(item, f"node #{position}", "id: ..., type: ...")
        if ymap is None:
            continue
        draft = NodeDraft(ymap, position)
        id_node = reader.require(ymap, "id", f"node #{position}")
        if id_node is not None:
            draft.id = reader.string(id_node, label("id", f"node #{position}"))
        if draft.id is not None and id_node is not None:
            if not ID_PATTERN.fullmatch(draft.id):
                reader.report(
                    id_node,
                    f"node id '{draft.id}' may contain only letters, digits, '_', '.' and '-', "
                    "and must start with a letter or digit",
                    "ids become topic levels, file names and container names",
                )
            if draft.id in first_seen:
                line = first_seen[draft.id].location.line
                reader.report(
                    id_node, f"duplicate node id '{draft.id}'", f"first used at line {line}"
                )
            else:
                first_seen[draft.id] = id_node
        type_node = reader.require(ymap, "type", draft.context)
        if type_node is not None:
            draft.type = reader.choice(type_node, label("type", draft.context),
                                       tuple(NODE_TYPE_TABLE))
        count_node = ymap.get("count")
        if count_node is not None and (draft.type is None
                                       or "count" in NODE_TYPE_TABLE[draft.type].keys):
            draft.count = reader.integer(
                count_node, label("count", draft.context), minimum=1, maximum=limits.MAX_COUNT
            )
        drafts.append(draft)
    _check_instance_clashes(reader, drafts)
    _check_totals(reader, drafts)
    return drafts


def _check_instance_clashes(reader: Reader, drafts: list[NodeDraft]) -> None:
    """``sensors`` with ``count: 3`` makes ``sensors-0..2``: no node may be named like those.

    Two groups can never make the same instance id (the part after the last '-' is the
    index), so only node ids need checking against instance ids.
    """
    index = NodeIndex(drafts)
    for other in drafts:
        fleet = None if other.id is None else index.instance_owner(other.id)
        if fleet is not None:
            count = fleet.count or 1
            reader.report(
                other.ymap.get("id") or other.ymap,
                f"node id '{other.id}' clashes with an instance of node '{fleet.id}'",
                f"count {count} makes {fleet.instance_name(0)} … {fleet.instance_name(count - 1)}",
            )


def _check_totals(reader: Reader, drafts: list[NodeDraft]) -> None:
    """The sum of the counts is what the run allocates per instance: bounded like one count."""
    total = 0
    for draft in drafts:
        total += draft.count or 0
        if total > limits.MAX_INSTANCES:
            reader.report(
                draft.ymap.get("count") or draft.ymap,
                f"with {draft.context} the scenario has more than "
                f"{limits.MAX_INSTANCES:,} instances",
                "see 'Limits' in docs/scenario.md",
            )
            return


def build_node(reader: Reader, draft: NodeDraft, index: NodeIndex) -> NodeSpec | None:
    """Second pass: the node's keys, implementation and parameters."""
    ymap, context = draft.ymap, draft.context
    allowed, elsewhere = _keys_of(draft.type)
    reader.check_keys(ymap, allowed, context, elsewhere)
    implementation = _implementation(reader, draft)
    image, docker = _container(reader, draft, implementation)
    failures_node = ymap.get("failures")
    failures = None if failures_node is None else read_failures(reader, failures_node, context)
    energy_node = ymap.get("energy")
    service_node = ymap.get("service")
    service = None if service_node is None else read_service(reader, service_node, context)
    if draft.type is None or draft.id is None:
        return None
    kind = NODE_TYPE_TABLE[draft.type]
    energy = None if energy_node is None else read_energy(reader, energy_node, context,
                                                          draft.type, kind.receives)
    params = kind.read(reader, draft, index)
    if params is None or implementation is None or (failures_node is not None and failures is None):
        return None
    if (energy_node is not None and energy is None) or (service_node is not None
                                                         and service is None):
        return None
    return NodeSpec(
        id=draft.id,
        type=draft.type,
        implementation=implementation,
        params=params,
        location=ymap.location,
        count=draft.count or 1,
        image=image,
        docker=docker,
        failures=failures,
        energy=energy,
        service=service,
    )


@functools.cache
def _keys_of(node_type: str | None) -> tuple[frozenset[str], dict[str, str]]:
    """The keys a node of ``node_type`` takes, and a message for each key of another type.

    Computed once per type: a file of 100,000 nodes would otherwise build them 100,000 times.
    """
    allowed = set(COMMON_KEYS)
    if node_type is not None:
        allowed.update(TYPE_KEYS[node_type])
    else:
        allowed.update(key for keys in TYPE_KEYS.values() for key in keys)
    elsewhere = {
        key: f"'{key}' is not a key of a {node_type} node; it belongs to "
        + english_list([kind for kind, keys in TYPE_KEYS.items() if key in keys])
        for keys in TYPE_KEYS.values()
        for key in keys
        if key not in allowed
    }
    return frozenset(allowed), elsewhere


def _implementation(reader: Reader, draft: NodeDraft) -> str | None:
    node = draft.ymap.get("implementation")
    if node is None:
        return registry.DEFAULT_IMPLEMENTATION
    name = reader.string(node, label("implementation", draft.context))
    if name is None or draft.type is None:
        return name
    available = registry.implementations(draft.type)
    if name not in available:
        every = {impl for _, impl in registry.NODE_CLASSES} - {name}  # a typo, not another type's
        hint = did_you_mean(name, every) or f"available: {', '.join(available) or 'none'}"
        reader.report(
            node, f"implementation '{name}' is not available for {draft.type} nodes", hint
        )
        return None
    return name


def _container(
    reader: Reader, draft: NodeDraft, implementation: str | None
) -> tuple[str | None, dict[str, object]]:
    """``image`` and the checked ``docker:`` options, which only a container node may have."""
    ymap, context = draft.ymap, draft.context
    image_node, docker_node = ymap.get("image"), ymap.get("docker")
    if implementation is not None and implementation != CONTAINER_IMPLEMENTATION:
        for key in ("image", "docker"):
            if key in ymap:
                reader.report(
                    ymap.entries[key].key,
                    f"'{key}' in {context} is only used with implementation: docker",
                    f"this node runs as {implementation}",
                )
        return None, {}
    image = None
    if image_node is not None:
        image = reader.string(image_node, label("image", context))
    elif implementation == CONTAINER_IMPLEMENTATION:
        reader.report(
            ymap,
            f"{context} runs in docker and needs 'image'",
            "e.g. image: xedgesim/broker (a locally built image)",
        )
    docker: dict[str, object] = {}
    if docker_node is not None:
        docker_map = reader.mapping(docker_node, label("docker", context), "timeout: 5s")
        if docker_map is not None and draft.type is not None and implementation is not None:
            docker = read_docker_options(reader, docker_map, draft.type, context)
    return image, docker


# -- parameters by type ------------------------------------------------------------------------


def _sensor(reader: Reader, draft: NodeDraft, index: NodeIndex) -> SensorParams | None:
    ymap, context = draft.ymap, draft.context
    before = len(reader.problems)
    process_node = ymap.get("process")
    process: tuple[Process, OnOff | Trace | None] | None = ("periodic", None)
    if process_node is not None:
        process = read_process(reader, process_node, label("process", context), draft.count or 1)
    interval: int | None = TRACE_WINDOW_NS
    if isinstance(process_node, YMap) and "trace" in process_node:  # even a trace not read
        _refuse_with_trace(reader, ymap, context)
    else:
        interval_node = reader.require(ymap, "interval", context)
        interval = None
        if interval_node is not None:
            interval = reader.duration(interval_node, label("interval", context), positive=True)
    phase = _phase(reader, ymap.get("phase"), label("phase", context))
    value_node = ymap.get("value")
    value: Distribution | None = DEFAULT_VALUE
    if value_node is not None:
        value = read_distribution(reader, value_node, label("value", context), "number")
    publish = _publishing(reader, draft, index, "{id}/data", 64, required=True)
    compute_node = ymap.get("compute")
    compute = None if compute_node is None else read_compute(reader, compute_node, context)
    if len(reader.problems) > before or publish is None or interval is None or value is None:
        return None
    if process is None or phase is None or (compute_node is not None and compute is None):
        return None
    if compute is not None and compute.at == "gateway" and compute_node is not None:
        receiver = index.by_id[publish.to].type
        if receiver is not None and receiver not in EDGE_TYPES:
            reader.report(ymap.entries["compute"].key,
                          f"'compute' in {context} is at the gateway, but its 'to' is a "
                          f"{receiver} ('{publish.to}')",
                          f"the gateway is the node it publishes to: a "
                          f"{english_list(EDGE_TYPES, 'or')}")
            return None
    return SensorParams(publish, interval, process[0], phase, value, process[1], compute)


def _refuse_with_trace(reader: Reader, ymap: YMap, context: str) -> None:
    """A trace gives every emission time: an ``interval`` or ``phase`` would mean nothing."""
    for key in ("interval", "phase"):
        if key in ymap:
            reader.report(ymap.entries[key].key,
                          f"'{key}' in {context} has no effect with a trace",
                          "the trace gives every emission time")


def _phase(reader: Reader, node: YNode | None, what: str) -> Literal["random"] | int | None:
    if node is None:
        return "random"
    if isinstance(node, YScalar) and node.value == "random":
        return "random"
    text = node.value if isinstance(node, YScalar) else None
    if isinstance(text, str) and not any(char.isdigit() for char in text):
        reader.report(
            node,
            f"{what} must be 'random' or a duration such as '0s', found {text!r}",
            did_you_mean(text, ["random"]),
        )
        return None
    return reader.duration(node, what)


def _gateway(reader: Reader, draft: NodeDraft, index: NodeIndex) -> GatewayParams | None:
    ymap, context = draft.ymap, draft.context
    before = len(reader.problems)
    every_node = ymap.get("aggregate_every")
    every: int | None = 10 * _NS_PER_S
    if every_node is not None:
        every = reader.duration(every_node, label("aggregate_every", context), positive=True)
    publish = _publishing(reader, draft, index, "agg/{id}", 128, required=False)
    subscription = _subscription(reader, draft, index)
    if len(reader.problems) > before or every is None:
        return None
    if publish is None:
        reader.notice(ymap, f"gateway '{draft.id}' has no 'to': its aggregates are not sent on")
    return GatewayParams(publish, every, subscription)


def _broker(reader: Reader, draft: NodeDraft, index: NodeIndex) -> BrokerParams | None:
    ymap, context = draft.ymap, draft.context
    persistence_node = ymap.get("persistence")
    persistence: bool | None = True
    if persistence_node is not None:
        persistence = reader.boolean(persistence_node, label("persistence", context))
    retry_interval, max_retries = _retries(reader, ymap, context)
    if persistence is None or retry_interval is None or max_retries is None:
        return None
    return BrokerParams(persistence, retry_interval, max_retries)


def _cloud(reader: Reader, draft: NodeDraft, index: NodeIndex) -> CloudParams | None:
    before = len(reader.problems)
    subscription = _subscription(reader, draft, index)
    return None if len(reader.problems) > before else CloudParams(subscription)


@dataclass(frozen=True)
class NodeType:
    """One node type: the keys it takes beyond ``COMMON_KEYS``, the reader of its parameters,
    and what the run does with it.

    ``NODE_TYPE_TABLE`` is the one list of types: the loader's choices, the keys of each type,
    what may be published to, and the run's special cases (which nodes get a mailbox, which
    start first) derive from it. The code that runs a type is registered in
    ``xedgesim/registry.py`` (by type and implementation), its parameters are a dataclass of
    ``xedgesim/scenario/model.py``.
    """

    name: str
    keys: tuple[str, ...]
    read: Callable[[Reader, NodeDraft, NodeIndex], NodeParams | None]
    receives: bool = True  # others may send to it ('to:'), so it gets a mailbox
    starts_first: bool = False  # built before the others (services connect to it)


NODE_TYPE_TABLE: dict[str, NodeType] = {kind.name: kind for kind in (
    NodeType("sensor", ("count", "interval", "process", "phase", "value", "compute", "energy",
                        *PUBLISH_KEYS), _sensor, receives=False),
    NodeType("gateway", ("aggregate_every", "subscribe", "service", "energy", *PUBLISH_KEYS),
             _gateway),
    NodeType("broker", ("persistence", "retry_interval", "max_retries", "service"), _broker,
             starts_first=True),
    NodeType("cloud", ("subscribe", "service"), _cloud),
)}
TYPE_KEYS: dict[str, tuple[str, ...]] = {name: kind.keys for name, kind in NODE_TYPE_TABLE.items()}
RECEIVERS = tuple(name for name, kind in NODE_TYPE_TABLE.items() if kind.receives)
EDGE_TYPES = ("gateway", "broker")  # what a sensor's 'compute: {at: gateway}' may publish to


# -- publishing and subscribing ----------------------------------------------------------------


def _retries(reader: Reader, ymap: YMap, context: str) -> tuple[int | None, int | None]:
    interval_node, retries_node = ymap.get("retry_interval"), ymap.get("max_retries")
    interval: int | None = _NS_PER_S
    retries: int | None = 5
    if interval_node is not None:
        interval = reader.duration(interval_node, label("retry_interval", context), positive=True)
    if retries_node is not None:
        retries = reader.integer(retries_node, label("max_retries", context), minimum=0)
    return interval, retries


def read_qos(reader: Reader, node: YNode, what: str) -> int | None:
    """MQTT QoS 0 or 1; QoS 2 gets its own message since it is a real MQTT level we lack."""
    if isinstance(node, YScalar) and node.value == 2 and not isinstance(node.value, bool):
        reader.report(
            node, f"{what}: QoS 2 is not supported", "use 0 for at most once or 1 for at least once"
        )
        return None
    qos = reader.integer(node, what)
    if qos is not None and qos not in (0, 1):
        reader.report(node, f"{what} must be 0 or 1, found {qos}")
        return None
    return qos


def _publishing(
    reader: Reader,
    draft: NodeDraft,
    index: NodeIndex,
    default_topic: str,
    default_payload: int,
    required: bool,
) -> Publishing | None:
    ymap, context = draft.ymap, draft.context
    to_node = ymap.get("to")
    if to_node is None:
        if required:
            reader.require(ymap, "to", context)
            return None
        for key in PUBLISH_KEYS:
            if key in ymap:
                reader.report(
                    ymap.entries[key].key,
                    f"'{key}' in {context} has no effect without 'to'",
                    "add 'to: <node id>' to say where this node publishes",
                )
        return None
    target = None
    if isinstance(to_node, YScalar) and to_node.value == draft.id and draft.id is not None:
        reader.report(to_node, f"'to' in {context} names the node itself")
    else:
        target = index.resolve(reader, to_node, label("to", context), RECEIVERS)
    topic: str | None = default_topic
    topic_node = ymap.get("topic")
    if topic_node is not None:
        topic = reader.string(topic_node, label("topic", context))
        problem = None if topic is None else _template_problem(topic)
        if problem is not None and topic is not None:
            reader.report(topic_node, f"invalid topic {_shown(topic)} in {context}: {problem}")
            topic = None
        elif topic is not None:
            topic = _topic_table_fits(reader, draft, topic_node, topic)
    qos_node, retain_node, payload_node = ymap.get("qos"), ymap.get("retain"), ymap.get("payload")
    qos = 0 if qos_node is None else read_qos(reader, qos_node, label("qos", context))
    retain = False if retain_node is None else reader.boolean(retain_node, label("retain", context))
    payload: tuple[int, Distribution | None] | None = (default_payload, None)
    if payload_node is not None:
        payload = read_payload(reader, payload_node, label("payload", context),
                               drawn=draft.type == "sensor")
    retry_interval, max_retries = _retries(reader, ymap, context)
    buffer_node = ymap.get("buffer")
    buffer = None if buffer_node is None else read_buffer(reader, buffer_node,
                                                          label("buffer", context))
    if target is None or topic is None or qos is None or retain is None or payload is None:
        return None
    if retry_interval is None or max_retries is None:
        return None
    if buffer_node is not None and buffer is None:
        return None
    return Publishing(target, topic, qos, retain, payload[0], retry_interval, max_retries,
                      payload[1], buffer if isinstance(buffer, Buffer) else None)  # unlimited: none


def _subscription(reader: Reader, draft: NodeDraft, index: NodeIndex) -> Subscription | None:
    node = draft.ymap.get("subscribe")
    if node is None or isinstance(node, YInvalid):
        return None
    what = label("subscribe", draft.context)
    broker_node: YNode | None = None
    qos: int | None = 0
    if isinstance(node, YSeq):
        topics_node: YNode | None = node
    elif isinstance(node, YMap):
        reader.check_keys(node, ("broker", "topics", "qos"), what)
        broker_node = node.get("broker")
        topics_node = reader.require(node, "topics", what)
        if "qos" in node:
            qos = read_qos(reader, node.entries["qos"].value, f"'qos' of {what}")
    else:
        reader.report(
            node,
            f"{what} must be a list of topic filters or a mapping {{broker, topics, qos}}, "
            f"found {describe(node)}",
            "e.g. subscribe: ['site/+/temp']",
        )
        return None
    if broker_node is not None:
        broker = index.resolve(reader, broker_node, f"'broker' of {what}", ("broker",))
    else:
        broker = _only_broker(reader, node, what, index)
    topics = None if topics_node is None else _filters(reader, topics_node, what)
    if broker is None or topics is None or qos is None:
        return None
    return Subscription(broker, topics, qos)


def _only_broker(reader: Reader, node: YNode, what: str, index: NodeIndex) -> str | None:
    brokers = index.ids_of_type("broker")
    if len(brokers) == 1:
        return brokers[0]
    if not brokers:
        reader.report(
            node,
            f"{what} needs a broker, and the scenario has none",
            "add a node with type: broker",
        )
    else:
        reader.report(
            node,
            f"{what} does not say which broker, and the scenario has {len(brokers)} "
            f"({', '.join(brokers)})",
            f"write subscribe: {{broker: {brokers[0]}, topics: [...]}}",
        )
    return None


def _filters(reader: Reader, node: YNode, what: str) -> tuple[str, ...] | None:
    seq = reader.sequence(node, f"the topics of {what}", "['site/+/temp']")
    if seq is None:
        return None
    if not seq.items:
        reader.report(seq, f"{what} lists no topics")
        return None
    topics = []
    for item in seq.items:
        text = reader.string(item, f"a topic filter of {what}")
        problem = None if text is None else _topic_bytes_problem(text) or filter_problem(text)
        if problem is not None and text is not None:
            reader.report(item, f"invalid topic filter {_shown(text)} in {what}: {problem}")
        elif text is not None:
            topics.append(text)
    return tuple(topics) if len(topics) == len(seq.items) else None


def _shown(topic: str) -> str:
    """A topic quoted for a message, cut short: a 60 kB topic is not repeated whole."""
    return f"'{topic}'" if len(topic) <= 80 else f"'{topic[:80]}…'"


def _topic_bytes_problem(topic: str) -> str | None:
    size = len(topic.encode("utf-8", "surrogatepass"))
    if size > limits.MAX_TOPIC_BYTES:
        return f"it is {size:,} bytes long, more than MQTT's {limits.MAX_TOPIC_BYTES:,}"
    return None


def _topic_table_fits(reader: Reader, draft: NodeDraft, node: YNode, topic: str) -> str | None:
    """``topic``, unless the topics of all its instances written out pass the bound.

    A run keeps one topic string per instance; a long template with ``{id}`` in a large fleet
    would be gigabytes before the first event.
    """
    count = draft.count or 1
    width = len(str(count - 1)) if count > 1 else 0
    instance_bytes = len((draft.id or "").encode()) + (1 + width if count > 1 else 0)
    per_instance = (
        len(topic.encode("utf-8", "surrogatepass"))
        + topic.count("{id}") * max(instance_bytes - 4, 0)
        + topic.count("{index}") * max(width - 7, 0)
    )
    if count * per_instance > limits.MAX_TOPIC_TABLE_BYTES:
        reader.report(
            node,
            f"the topics of the {count:,} instances of {draft.context} take "
            f"{count * per_instance / 2**20:,.0f} MiB, more than "
            f"{limits.MAX_TOPIC_TABLE_BYTES // 2**20} MiB",
            "use a shorter topic or fewer instances; see 'Limits' in docs/scenario.md",
        )
        return None
    return topic


def _template_problem(topic: str) -> str | None:
    """MQTT's rules for a publish topic, plus ours for the placeholders it may contain."""
    problem = _topic_bytes_problem(topic) or topic_problem(topic)
    if problem is not None:
        return problem
    if topic.startswith("$"):
        return "topics starting with '$' are reserved for the broker itself ($SYS)"
    rest = topic
    for placeholder in PLACEHOLDERS:
        rest = rest.replace(placeholder, "")
    if "{" in rest or "}" in rest:
        return "the only placeholders are {id} (the instance id) and {index} (its number)"
    return None
