"""The original xEdgeSim scenario layout, converted to the current one.

Files of the original project (``simulation: {duration_s, seed, time_quantum_us}``, ``nodes`` with
``port`` and ``config``, one-way ``network.links`` in microseconds) still load: they are rewritten
into a tree of the current layout whose values keep their original positions, so every later
check points at the line the user actually wrote. What has no meaning here is kept out of the
result and explained in ``Scenario.notices`` instead of failing.

What the original did, and how it maps (from rekrevs/xedgesim, ``sim/config/scenario.py`` and the
node models): sensors sampled ``normal(20, 2)`` once a second starting at t=1s and sent 64-byte
messages to the node ``gateway``; gateways aggregated every 5 s; without a ``network`` section, or
with ``model: direct``, delivery was instant and lossless; ``model: latency`` used
``default_latency_us`` (10 ms unless given) for pairs without a link.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Hashable
from dataclasses import dataclass, field
from fractions import Fraction

from xedgesim.scenario.docker_options import default_options
from xedgesim.scenario.model import Location
from xedgesim.scenario.reader import Reader, label
from xedgesim.scenario.yaml_tree import YEntry, YInvalid, YMap, YNode, YScalar, YSeq

LEGACY_MARKER = "simulation"
CONVERTED = "converted from the original xEdgeSim scenario layout"

LEGACY_TYPES = {
    "sensor": "sensor",
    "sensor_model": "sensor",
    "gateway": "gateway",
    "gateway_model": "gateway",
    "mqtt_broker": "broker",
    "broker": "broker",
    "cloud_service": "cloud",
    "cloud": "cloud",
}
RENODE_KEYS = ("platform", "firmware", "monitor_port", "working_dir", "seed")
NODE_KEYS = ("id", "type", "implementation", "port", "docker", "config", *RENODE_KEYS)
TOP_KEYS = ("simulation", "network", "nodes", "ml_inference")
CURRENT_ONLY = ("name", "seed", "duration", "warmup", "faults")
ORIGINAL_SENSOR_INTERVAL_NS = 1_000_000_000
ORIGINAL_GATEWAY_AGGREGATE = "5s"
ORIGINAL_DEFAULT_LATENCY_US = 10_000
_RATE = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*(Hz|kHz|MHz)\s*")
_RATE_FACTORS = {"Hz": 1.0, "kHz": 1e3, "MHz": 1e6}
MAX_NS = 2**62  # about 146 years
_DOCKER_IGNORED = {
    "build_context": "images are built by 'xedge images build'",
    "ports": "containers are reached on the run's network; no port is published",
    "volumes": "a container node keeps no state between runs",
}
_IGNORED_CONFIG = "it has no meaning for a {type} in xedgesim"
_Entries = dict[Hashable, YEntry]


def convert_legacy(reader: Reader, top: YMap) -> YMap:
    """Rewrite an original-layout document as a current-layout tree; problems go to ``reader``."""
    reader.notices.append(CONVERTED)
    return _Converter(reader).convert(top)


def _scalar(at: YNode | Location, value: object) -> YScalar:
    location = at.location if isinstance(at, YNode) else at
    return YScalar(location, value, str(value), True)


def _ns(at: YNode, ns: int) -> YScalar:
    """A duration the current layout reads exactly: integer nanoseconds."""
    return _scalar(at, f"{ns}ns")


def _scaled_ns(reader: Reader, node: YNode, value: float, ns_per_unit: int, what: str) -> YNode:
    """``value`` in a unit of ``ns_per_unit`` nanoseconds, or ``YInvalid`` if absurdly large.

    Computed from the digits as written, not the float, so that large values stay exact."""
    if value * ns_per_unit > MAX_NS:
        reader.report(node, f"{what} is too large")
        return YInvalid(node.location)
    written = node.value if isinstance(node, YScalar) else None
    exact = Fraction(written if isinstance(written, int) else value)  # ints are exact already
    if isinstance(written, float) and isinstance(node, YScalar) and len(node.text) <= 64:
        # a form Fraction does not read (YAML 1.1's 1:30.5 sexagesimal) keeps the float
        with contextlib.suppress(ValueError):
            exact = Fraction(node.text.replace("_", ""))
    ns = round(exact * ns_per_unit)
    if ns > MAX_NS:
        reader.report(node, f"{what} is too large")
        return YInvalid(node.location)
    return _ns(node, ns)


def _entry(key: str, key_at: YNode, value: YNode) -> YEntry:
    return YEntry(_scalar(key_at, key), value)


@dataclass
class _Node:
    """An original node entry and what the converter learnt about it."""

    ymap: YMap
    position: int
    id: str | None
    type: str | None  # current type name
    out: _Entries = field(default_factory=dict)

    @property
    def context(self) -> str:
        return f"node '{self.id}'" if self.id is not None else f"node #{self.position}"


class _Converter:
    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.ignored: dict[tuple[str, str], list[Location]] = {}
        self.sends: dict[str, list[str]] = {}  # src -> dst, from the original one-way links

    def ignore(self, at: YNode, what: str, reason: str) -> None:
        self.ignored.setdefault((what, reason), []).append(at.location)

    def convert(self, top: YMap) -> YMap:
        reader = self.reader
        current = {
            key: f"'{key}' is not part of the original xEdgeSim layout, which this file uses "
            f"(it has 'simulation:')"
            for key in CURRENT_ONLY
        }
        reader.check_keys(top, TOP_KEYS, "the original scenario layout", current)
        out: _Entries = {}
        simulation = top.entries[LEGACY_MARKER]
        self._simulation(simulation, out)
        if "ml_inference" in top:
            self.ignore(
                top.entries["ml_inference"].key, "'ml_inference'", "ML placement is not modelled"
            )
        nodes = self._node_headers(top)
        if "network" in top:
            entry = top.entries["network"]
            network = self._network(entry.value)
            if network is not None:
                out["network"] = _entry("network", entry.key, network)
        else:
            reader.notice(
                top,
                "no 'network' section: delivery is instant and lossless (latency 0, loss 0), "
                "as in the original",
            )
        if "nodes" in top:
            entry = top.entries["nodes"]
            converted: YNode = entry.value
            if nodes is not None and isinstance(entry.value, YSeq):
                by_map = {id(node.ymap): node for node in nodes}
                items = [
                    self._node(by_map[id(item)], nodes) if id(item) in by_map else item
                    for item in entry.value.items
                ]
                converted = YSeq(entry.value.location, items)
            out["nodes"] = _entry("nodes", entry.key, converted)
        self._notices()
        return YMap(top.location, out)

    def _notices(self) -> None:
        for (what, reason), locations in self.ignored.items():
            times = f" ({len(locations)} times)" if len(locations) > 1 else ""
            self.reader.notice(locations[0], f"{what} is ignored{times}: {reason}")

    # -- simulation: -----------------------------------------------------------------------

    def _simulation(self, entry: YEntry, out: _Entries) -> None:
        reader = self.reader
        sim = reader.mapping(entry.value, "'simulation'", "duration_s: 10, seed: 42")
        if sim is None:
            out["duration"] = _entry("duration", entry.key, YInvalid(entry.value.location))
            return
        context = "'simulation'"
        reader.check_keys(sim, ("duration_s", "seed", "time_quantum_us"), context)
        duration = reader.require(sim, "duration_s", context)
        converted: YNode = YInvalid(sim.location)
        if duration is not None:
            seconds = reader.number(duration, label("duration_s", context))
            if seconds is not None and seconds <= 0:
                reader.report(duration, f"'duration_s' in {context} must be greater than zero")
            elif seconds is not None:
                what = label("duration_s", context)
                converted = _scaled_ns(reader, duration, seconds, 1_000_000_000, what)
        out["duration"] = _entry("duration", duration or sim, converted)
        if "seed" in sim:
            seed_entry = sim.entries["seed"]
            out["seed"] = _entry("seed", seed_entry.key, seed_entry.value)
        if "time_quantum_us" in sim:
            quantum = sim.entries["time_quantum_us"]
            reader.number(quantum.value, label("time_quantum_us", context), minimum=1)
            self.ignore(
                quantum.key,
                "'time_quantum_us'",
                "xedgesim is event-driven and keeps time to the nanosecond, with no time step",
            )

    # -- network: ---------------------------------------------------------------------------

    def _network(self, node: YNode) -> YNode | None:
        reader = self.reader
        context = "'network'"
        net = reader.mapping(node, context, "model: latency, default_latency_us: 10000")
        if net is None:
            return None
        reader.check_keys(
            net, ("model", "default_latency_us", "default_loss_rate", "links"), context
        )
        model = "direct"
        if "model" in net:
            model = (
                reader.choice(
                    net.entries["model"].value, label("model", context), ("direct", "latency")
                )
                or "latency"
            )
        links = self._links(net.get("links"), model == "latency")
        if model == "direct":
            message = (
                "network model 'direct' becomes a default link without latency or loss, "
                "as in the original"
            )
            if any(key in net for key in ("default_latency_us", "default_loss_rate", "links")):
                message += "; the latencies and loss rates given here are not used"
            reader.notice(net.entries["model"].key if "model" in net else net, message)
            return None
        default: _Entries = {}
        latency_entry = net.entries.get("default_latency_us")
        if latency_entry is not None:
            default["latency"] = _entry(
                "latency",
                latency_entry.key,
                self._micros(latency_entry.value, label("default_latency_us", context)),
            )
        else:
            default["latency"] = _entry(
                "latency", net, _ns(net, ORIGINAL_DEFAULT_LATENCY_US * 1000)
            )
        loss_entry = net.entries.get("default_loss_rate")
        if loss_entry is not None:
            default["loss"] = _entry(
                "loss",
                loss_entry.key,
                self._loss(loss_entry.value, label("default_loss_rate", context)),
            )
        out: _Entries = {"default": _entry("default", net, YMap(net.location, default))}
        if links is not None:
            out["links"] = _entry("links", net.entries["links"].key, links)
        return YMap(net.location, out)

    def _micros(self, node: YNode, what: str) -> YNode:
        micros = self.reader.number(node, what, minimum=0)
        if micros is None:
            return YInvalid(node.location)
        return _scaled_ns(self.reader, node, micros, 1_000, what)

    def _loss(self, node: YNode, what: str) -> YNode:
        loss = self.reader.probability(node, what)
        return YInvalid(node.location) if loss is None else _scalar(node, loss)

    def _links(self, node: YNode | None, used: bool) -> YSeq | None:
        """Record who sends to whom; convert the one-way links to two-way ones if ``used``."""
        if node is None:
            return None
        reader = self.reader
        seq = reader.sequence(node, "'links' in 'network'", "[{src: a, dst: b, latency_us: 500}]")
        if seq is None:
            return None
        converted: list[YNode] = []
        seen: dict[frozenset[object], tuple[YMap, object, object]] = {}
        one_way = False
        for position, item in enumerate(seq.items, start=1):
            context = f"link #{position}"
            link = reader.mapping(item, context, "src: a, dst: b, latency_us: 500")
            if link is None:
                continue
            reader.check_keys(link, ("src", "dst", "latency_us", "loss_rate"), context)
            src, dst = reader.require(link, "src", context), reader.require(link, "dst", context)
            if src is None or dst is None:
                continue
            if isinstance(src, YScalar) and isinstance(dst, YScalar):
                self.sends.setdefault(str(src.value), []).append(str(dst.value))
            if not used:
                continue
            out: _Entries = {"between": _entry("between", link, YSeq(link.location, [src, dst]))}
            latency = link.entries.get("latency_us")
            if latency is not None:
                out["latency"] = _entry(
                    "latency",
                    latency.key,
                    self._micros(latency.value, label("latency_us", context)),
                )
            loss = link.entries.get("loss_rate")
            if loss is not None:
                out["loss"] = _entry(
                    "loss", loss.key, self._loss(loss.value, label("loss_rate", context))
                )
            pair = frozenset((getattr(src, "value", None), getattr(dst, "value", None)))
            values = (self._value(out.get("latency")), self._value(out.get("loss")))
            earlier = seen.get(pair)
            if earlier is None:
                seen[pair] = (link, *values)
                converted.append(YMap(link.location, out))
                one_way = True
            elif (earlier[1], earlier[2]) != values:
                reader.report(
                    link,
                    f"{context} and the link at line {earlier[0].location.line} join the same "
                    "two nodes with different settings",
                    "xedgesim links work the same in both directions: make them equal or drop one",
                )
        if one_way:
            self.ignore(seq, "the direction of original links", "each link now applies both ways")
        return YSeq(seq.location, converted)

    @staticmethod
    def _value(entry: YEntry | None) -> object:
        return entry.value.value if entry is not None and isinstance(entry.value, YScalar) else None

    # -- nodes: -----------------------------------------------------------------------------

    def _node_headers(self, top: YMap) -> list[_Node] | None:
        """Ids and current types of every node, needed to tell where sensors send."""
        node = top.get("nodes")
        if node is None:
            return None
        if not isinstance(node, YSeq):
            return None  # reported by the current-layout checks
        nodes = []
        for position, item in enumerate(node.items, start=1):
            if not isinstance(item, YMap):
                continue  # reported by the current-layout checks
            id_node, type_node = item.get("id"), item.get("type")
            node_id = id_node.value if isinstance(id_node, YScalar) else None
            kind = type_node.value if isinstance(type_node, YScalar) else None
            nodes.append(
                _Node(
                    item,
                    position,
                    node_id if isinstance(node_id, str) else None,
                    LEGACY_TYPES.get(kind) if isinstance(kind, str) else None,
                )
            )
        return nodes

    def _node(self, node: _Node, nodes: list[_Node]) -> YNode:
        reader, ymap, context = self.reader, node.ymap, node.context
        reader.check_keys(ymap, NODE_KEYS, context)
        for key in ("id", "implementation"):
            if key in ymap:
                node.out[key] = ymap.entries[key]
        type_entry = ymap.entries.get("type")
        if type_entry is not None:
            node.out["type"] = YEntry(type_entry.key, self._type(type_entry.value, context))
        implementation = self._implementation(node)
        if "port" in ymap:
            self.ignore(
                ymap.entries["port"].key,
                "'port'",
                "xedgesim runs Python models in-process and connects to containers itself",
            )
        for key in RENODE_KEYS:
            if key in ymap:
                self.ignore(ymap.entries[key].key, f"'{key}'", "only Renode nodes used it")
        self._docker(node, implementation)
        config = ymap.get("config")
        config_map = None
        if config is not None:
            config_map = reader.mapping(config, label("config", context), "sample_rate_hz: 10")
        if node.type == "sensor":
            self._sensor(node, config_map, nodes)
        elif node.type == "gateway":
            self._gateway(node, config_map, nodes)
        elif config_map is not None and node.type is not None:
            for entry in config_map:
                self._ignore_config(entry, node.type)
        return YMap(ymap.location, node.out)

    def _type(self, value: YNode, context: str) -> YNode:
        if isinstance(value, YScalar) and value.value in LEGACY_TYPES:
            return _scalar(value, LEGACY_TYPES[str(value.value)])
        if isinstance(value, YScalar) and value.value == "renode":
            self.reader.report(
                value,
                f"{context} has type 'renode' (firmware emulated in Renode), "
                "which xedgesim does not support",
                "use type: sensor, which runs as a Python model",
            )
            return YInvalid(value.location)
        self.reader.choice(value, label("type", context), list(LEGACY_TYPES))
        return YInvalid(value.location)

    def _implementation(self, node: _Node) -> str:
        entry = node.ymap.entries.get("implementation")
        if entry is None:
            return "python_model"
        value = entry.value
        if isinstance(value, YScalar) and value.value == "renode_inprocess":
            self.reader.report(
                value,
                f"{node.context} uses implementation 'renode_inprocess', "
                "which xedgesim does not support",
                "use implementation: python_model",
            )
            node.out["implementation"] = YEntry(entry.key, YInvalid(value.location))
        return str(value.value) if isinstance(value, YScalar) else ""

    def _docker(self, node: _Node, implementation: str) -> None:
        entry = node.ymap.entries.get("docker")
        if implementation != "docker":
            if entry is not None:
                self.ignore(
                    entry.key,
                    "'docker' of a node that is not implementation: docker",
                    "the original used it only for docker nodes",
                )
            return
        docker = None
        if entry is not None:
            docker = self.reader.mapping(entry.value, label("docker", node.context), "image: ...")
        image = None if docker is None else docker.entries.get("image")
        if image is not None:
            node.out["image"] = image
        elif docker is not None or entry is None:
            self.reader.report(
                docker or node.ymap,
                f"{node.context} runs in docker and needs an image",
                "docker: {image: xedgesim/gateway}",
            )
        if image is None:
            node.out["image"] = _entry("image", node.ymap, YInvalid(node.ymap.location))
        if docker is not None and entry is not None:
            read = default_options(node.type or "")
            rest = {key: value for key, value in docker.entries.items() if key in read}
            for key, value in docker.entries.items():
                if key != "image" and key not in read:
                    reason = _DOCKER_IGNORED.get(str(key), "the container node does not read it")
                    self.ignore(value.key, f"'docker: {value.key.text}'", reason)
            if rest:
                node.out["docker"] = YEntry(entry.key, YMap(docker.location, rest))

    def _ignore_config(self, entry: YEntry, node_type: str) -> None:
        self.ignore(
            entry.key, f"config key '{entry.key.text}'", _IGNORED_CONFIG.format(type=node_type)
        )

    def _sensor(self, node: _Node, config: YMap | None, nodes: list[_Node]) -> None:
        interval_ns: int | None = ORIGINAL_SENSOR_INTERVAL_NS
        where: YNode = node.ymap
        entries = dict(config.entries) if config is not None else {}
        context = f"the config of {node.context}"
        rates = [entries.pop(key) for key in ("sample_rate_hz", "sample_rate") if key in entries]
        report = entries.pop("report_interval", None)
        if report is not None:
            where = report.key
            what = label("report_interval", context)
            interval_ns = self._seconds_or_duration(report.value, what)
        elif rates:
            where = rates[0].key
            interval_ns = self._rate(rates[0].value, label(rates[0].key.text, context))
        for rate in rates[1:] if report is None else rates:
            self.ignore(
                rate.key,
                f"'{rate.key.text}' next to '{where.text if isinstance(where, YScalar) else ''}'",
                "a sensor publishes one reading per interval",
            )
        interval: YNode = (
            YInvalid(where.location) if interval_ns is None else _ns(where, interval_ns)
        )
        node.out["interval"] = _entry("interval", where, interval)
        node.out["phase"] = _entry("phase", where, interval)  # first reading one interval in
        size = entries.pop("packet_size", None)
        if size is not None:
            count = self.reader.integer(size.value, label("packet_size", context), minimum=1)
            payload = (
                YInvalid(size.value.location) if count is None else _scalar(size.value, f"{count}B")
            )
            node.out["payload"] = _entry("payload", size.key, payload)
        seed = entries.pop("seed", None)
        if seed is not None:
            self.ignore(
                seed.key, "per-node 'seed'", "every random stream derives from the scenario seed"
            )
        for entry in entries.values():
            self._ignore_config(entry, "sensor")
        target = self._destination(node, nodes)
        node.out["to"] = _entry("to", node.ymap, target)

    def _seconds_or_duration(self, node: YNode, what: str) -> int | None:
        if (
            isinstance(node, YScalar)
            and isinstance(node.value, (int, float))
            and not isinstance(node.value, bool)
        ):
            seconds = self.reader.number(node, what)
            if seconds is None:
                return None
            if not 0 < seconds * 1e9 <= MAX_NS:
                self.reader.report(node, f"{what} must be a positive number of seconds")
                return None
            return round(seconds * 1e9)
        return self.reader.duration(node, what, positive=True)

    def _rate(self, node: YNode, what: str) -> int | None:
        hertz = None
        if isinstance(node, YScalar) and isinstance(node.value, str):
            match = _RATE.fullmatch(node.value)
            if match is not None:
                hertz = float(match[1]) * _RATE_FACTORS[match[2]]
            else:
                self.reader.report(
                    node, f"{what} must be a rate such as 10 or '10Hz', found {node.text!r}"
                )
                return None
        else:
            hertz = self.reader.number(node, what)
        if hertz is None:
            return None
        if hertz <= 0 or round(1e9 / hertz) < 1:
            self.reader.report(node, f"{what} must be a rate between 0 and 1 GHz")
            return None
        return round(1e9 / hertz)

    def _destination(self, node: _Node, nodes: list[_Node]) -> YNode:
        """Where an original sensor sends: its link, else node 'gateway', else the only gateway."""
        types = {other.id: other.type for other in nodes if other.id is not None}
        receivers = ("gateway", "broker", "cloud")
        linked = [dst for dst in self.sends.get(node.id or "", []) if types.get(dst) in receivers]
        gateways = [other.id for other in nodes if other.type == "gateway" and other.id]
        if len(set(linked)) == 1:
            return _scalar(node.ymap, linked[0])
        if not linked and types.get("gateway") == "gateway":
            return _scalar(node.ymap, "gateway")
        if not linked and len(gateways) == 1:
            return _scalar(node.ymap, gateways[0])
        if node.id is not None and all(other.type is not None for other in nodes):
            self.reader.report(
                node.ymap,
                f"cannot tell where sensor '{node.id}' sends its readings",
                f"add a link {{src: {node.id}, dst: <gateway id>}} under network.links",
            )
        return YInvalid(node.ymap.location)

    def _gateway(self, node: _Node, config: YMap | None, nodes: list[_Node]) -> None:
        node.out["aggregate_every"] = _entry(
            "aggregate_every", node.ymap, _scalar(node.ymap, ORIGINAL_GATEWAY_AGGREGATE)
        )
        entries = dict(config.entries) if config is not None else {}
        forward = entries.pop("forward_to_cloud", None)
        if forward is not None:
            wanted = self.reader.boolean(
                forward.value, label("forward_to_cloud", f"the config of {node.context}")
            )
            if wanted:
                target = self._upstream(nodes)
                if target is None:
                    self.ignore(
                        forward.key,
                        "'forward_to_cloud'",
                        "the scenario has no cloud or broker node to forward to",
                    )
                else:
                    node.out["to"] = _entry("to", forward.key, _scalar(forward.value, target))
        for entry in entries.values():
            self._ignore_config(entry, "gateway")

    @staticmethod
    def _upstream(nodes: list[_Node]) -> str | None:
        for kind in ("cloud", "broker"):
            found = [node.id for node in nodes if node.type == kind and node.id]
            if len(found) == 1:
                return found[0]
        return None
