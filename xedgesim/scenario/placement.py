"""``placement:``: which inventory hosts run which of the scenario's brokers and gateways.

A scenario says what runs; an inventory says where the devices are. To stage or deploy a
scenario the two must meet, and the mapping is written down rather than guessed::

    placement:
      "*": [broker, gw1]        # every host of the inventory: one site per Pi (the default)
      edge-9: [broker2, gw2]    # this host runs another site

A host name maps to the brokers and gateways it runs; ``"*"`` stands for every host not named.
Without the section every broker and gateway is placed on every host (``default_placement``),
and ``xedge stage``/``xedge deploy`` take ``--place HOST=NODE[,NODE]`` to override it.

What a fleet cannot realise is refused with the place that asks for it (``fleet_problems``): a
model (``python_model``) or the lockstep gateway on a host, two brokers or two gateways on one
host, a gateway whose broker is elsewhere. The section's own shape is checked at load, like the
rest of the file; the host names are checked against an inventory only when there is one
(``host_problems``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from xedgesim.scenario.errors import Problem
from xedgesim.scenario.model import GatewayParams, Location, NodeSpec
from xedgesim.scenario.reader import Reader, did_you_mean, label
from xedgesim.scenario.yaml_tree import YNode, YScalar

ALL_HOSTS = "*"
PLACED_TYPES = ("broker", "gateway")
# A host name becomes topic levels and client ids on the device (the mqtt_broker role refuses
# the same characters).
HOST_PATTERN = re.compile(r"[^\s\x00-\x1f\x7f#+/:]{1,255}")
FLEET_IMPLEMENTATION = "docker"
FLEET_GATEWAY_MODE = "service"


@dataclass(frozen=True)
class Placed:
    """One node id written under a host, with where it was written (None: from the CLI)."""

    node: str
    location: Location | None = None


@dataclass(frozen=True)
class PlacementEntry:
    """The nodes one host (or ``"*"``: every host not named) runs."""

    host: str
    nodes: tuple[Placed, ...]
    location: Location | None = None


@dataclass(frozen=True)
class Placement:
    """Hosts -> nodes; ``origin`` says where it came from, for messages."""

    entries: tuple[PlacementEntry, ...]
    origin: str = "'placement'"

    def for_host(self, host: str) -> PlacementEntry | None:
        """The entry of ``host``: its own, else the ``"*"`` one, else none."""
        fallback = None
        for entry in self.entries:
            if entry.host == host:
                return entry
            if entry.host == ALL_HOSTS:
                fallback = entry
        return fallback


def default_placement(nodes: Sequence[NodeSpec]) -> Placement:
    """Every broker and gateway on every host: one site per Pi."""
    placed = tuple(Placed(spec.id, spec.location) for spec in nodes
                   if spec.type in PLACED_TYPES)
    return Placement((PlacementEntry(ALL_HOSTS, placed),), "the default placement (every "
                     "broker and gateway on every host)")


def read_placement(reader: Reader, node: YNode, known: Iterable[str]) -> Placement | None:
    """The ``placement:`` section, its shape checked (the node ids against ``known``); what
    a fleet cannot realise is checked once the nodes are built (``fleet_problems``)."""
    ymap = reader.mapping(node, "'placement'", "{edge-1: [broker, gw1]} or {'*': [broker, gw1]}")
    if ymap is None:
        return None
    ids = set(known)
    entries = []
    for entry in ymap:
        host = entry.key.value
        if not isinstance(host, str) or not HOST_PATTERN.fullmatch(host):
            reader.report(entry.key, f"host {entry.key.text!r} in 'placement' is not a host "
                          "name", "an inventory host name, or '*' for every host; no white "
                          "space, '#', '+', '/' or ':'")
            continue
        context = f"host '{host}' in 'placement'"
        items = [entry.value] if isinstance(entry.value, YScalar) else None
        if items is None:
            seq = reader.sequence(entry.value, label(host, "'placement'"), "[broker, gw1]")
            if seq is None:
                continue
            items = seq.items
        if not items:
            reader.report(entry.value, f"{context} lists no node",
                          "a host runs a broker and its gateway; leave out a host that runs "
                          "none")
            continue
        placed: list[Placed] = []
        for item in items:
            name = reader.string(item, f"a node of {context}")
            if name is None:
                continue
            if name not in ids:
                hint = did_you_mean(name, ids)
                reader.report(item, f"{context} names an unknown node '{name}'", hint)
                continue
            if any(p.node == name for p in placed):
                reader.report(item, f"{context} names '{name}' twice")
                continue
            placed.append(Placed(name, item.location))
        entries.append(PlacementEntry(host, tuple(placed), entry.key.location))
    if not entries and not reader.problems:
        reader.report(ymap, "'placement' is empty", "leave it out to place every broker and "
                      "gateway on every host")
    return Placement(tuple(entries))


def from_options(options: Sequence[str]) -> Placement:
    """``--place HOST=NODE[,NODE]`` (repeatable) as a Placement; a malformed one is a
    ValueError naming it."""
    entries: list[PlacementEntry] = []
    for option in options:
        host, equals, names = option.partition("=")
        nodes = tuple(Placed(name.strip()) for name in names.split(",") if name.strip())
        if not equals or not HOST_PATTERN.fullmatch(host) or not nodes:
            raise ValueError(f"--place {option!r}: expected HOST=NODE[,NODE], e.g. "
                             "edge-1=broker,gw1 or '*=broker,gw1'")
        if any(entry.host == host for entry in entries):
            raise ValueError(f"--place {option!r}: host {host!r} is placed twice")
        entries.append(PlacementEntry(host, nodes))
    return Placement(tuple(entries), "--place")


def fleet_problems(nodes: Sequence[NodeSpec], placement: Placement,
                   where: Location | None = None) -> list[Problem]:
    """What a fleet cannot realise of ``placement``: each problem at the place that asks for
    it (the node id under its host, else the node's own definition). ``where`` locates
    problems of a placement that was not written in the file (the default, ``--place``)."""
    by_id = {spec.id: spec for spec in nodes}
    problems: list[Problem] = []
    reported: set[str] = set()
    placed_anywhere: set[str] = set()
    for entry in placement.entries:
        host = "every host" if entry.host == ALL_HOSTS else f"host '{entry.host}'"
        brokers: list[tuple[NodeSpec, Placed]] = []
        gateways: list[tuple[NodeSpec, Placed]] = []
        for placed in entry.nodes:
            spec = by_id.get(placed.node)
            at = placed.location or where
            if spec is None:
                problems.append(Problem(at, f"{placement.origin} names an unknown node "
                                        f"'{placed.node}'", did_you_mean(placed.node, by_id)))
                continue
            placed_anywhere.add(spec.id)
            if spec.type not in PLACED_TYPES:
                problems.append(Problem(at, f"{placement.origin} places the {spec.type} "
                                        f"'{spec.id}' on {host}", "sensors and the cloud are "
                                        "driven from this machine, not run on hosts"))
                continue
            if spec.id not in reported:
                found = implementation_problem(spec)
                if found is not None:
                    reported.add(spec.id)
                    problems.append(found)
            (brokers if spec.type == "broker" else gateways).append((spec, placed))
        if len(brokers) > 1:
            names = ", ".join(f"'{spec.id}'" for spec, _ in brokers)
            problems.append(Problem(brokers[1][1].location or where,
                                    f"{placement.origin} places two brokers on {host} "
                                    f"({names})", "a host runs one broker: place the others "
                                    "on other hosts"))
        if len(gateways) > 1:
            names = ", ".join(f"'{spec.id}'" for spec, _ in gateways)
            problems.append(Problem(gateways[1][1].location or where,
                                    f"{placement.origin} places two gateways on {host} "
                                    f"({names})", "the edge_gateway role runs one gateway per "
                                    "host"))
        broker = brokers[0][0].id if brokers else None
        for spec, placed in gateways:
            wanted = gateway_broker(spec)
            if broker is None:
                problems.append(Problem(placed.location or where,
                                        f"{placement.origin} places gateway '{spec.id}' on "
                                        f"{host}, which runs no broker",
                                        "a gateway talks to the broker of its own host: place "
                                        + (f"'{wanted}'" if wanted else "a broker")
                                        + " there too"))
            elif wanted is not None and wanted != broker:
                problems.append(Problem(placed.location or where,
                                        f"gateway '{spec.id}' subscribes at broker "
                                        f"'{wanted}', but {host} runs broker '{broker}'",
                                        "a gateway talks to the broker of its own host"))
    for spec in nodes:
        if spec.type in PLACED_TYPES and spec.id not in placed_anywhere:
            problems.append(Problem(spec.location, f"{spec.type} '{spec.id}' is placed on no "
                                    f"host by {placement.origin}",
                                    "add it under a host (or '*') in 'placement'"))
    return problems


def implementation_problem(spec: NodeSpec) -> Problem | None:
    """Why ``spec`` cannot run on a host, or None: a host runs the broker image and the
    gateway's MQTT service, not a model of them."""
    if spec.implementation != FLEET_IMPLEMENTATION:
        image = f"xedgesim/{spec.type}"
        mode = ", docker: {mode: service}" if spec.type == "gateway" else ""
        return Problem(spec.location, f"{spec.type} '{spec.id}' runs as {spec.implementation}, "
                       "a model of the simulation, and cannot be placed on a host",
                       f"a host runs the {spec.type} image: write implementation: docker, "
                       f"image: {image}:…{mode}")
    if spec.type == "gateway" and spec.docker.get("mode", "protocol") != FLEET_GATEWAY_MODE:
        return Problem(spec.location, f"gateway '{spec.id}' speaks the lockstep protocol, which "
                       "only the simulator drives, and cannot be placed on a host",
                       "on a host the gateway is the MQTT service: docker: {mode: service}")
    return None


def gateway_broker(spec: NodeSpec) -> str | None:
    """The broker a gateway talks to, when the scenario names one."""
    params = spec.params
    if not isinstance(params, GatewayParams):
        return None
    if params.subscription is not None:
        return params.subscription.broker
    return None


def host_problems(placement: Placement, hosts: Sequence[str],
                  where: Location | None = None) -> list[Problem]:
    """Hosts the placement names that the inventory lacks, and inventory hosts it gives no
    place (every host runs the roles, so every host needs a site)."""
    problems = []
    known = set(hosts)
    for entry in placement.entries:
        if entry.host != ALL_HOSTS and entry.host not in known:
            problems.append(Problem(entry.location or where,
                                    f"{placement.origin} names host '{entry.host}', which the "
                                    "inventory does not have",
                                    did_you_mean(entry.host, known)
                                    or f"the inventory's hosts: {', '.join(hosts)}"))
    unplaced = [host for host in hosts if placement.for_host(host) is None]
    if unplaced:
        first = placement.entries[0].location if placement.entries else None
        problems.append(Problem(first or where,
                                f"{placement.origin} gives no site to host(s) "
                                f"{', '.join(unplaced)}",
                                "every host of the inventory runs a broker and a gateway: "
                                "name them, or add '*'"))
    return problems

