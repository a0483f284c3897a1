"""Scenario file -> ``Scenario``, or one ``ScenarioError`` listing every problem in it."""

from __future__ import annotations

import contextlib
import gc
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from xedgesim.scenario import limits
from xedgesim.scenario.energy import check_idle_drain
from xedgesim.scenario.errors import Problem, ScenarioError
from xedgesim.scenario.faults import read_faults
from xedgesim.scenario.horizon import check_horizon
from xedgesim.scenario.legacy import LEGACY_MARKER, convert_legacy
from xedgesim.scenario.model import LinkSpec, Location, NetworkSpec, Scenario
from xedgesim.scenario.network import read_network
from xedgesim.scenario.nodes import NodeDraft, NodeIndex, build_node, read_drafts
from xedgesim.scenario.overlay import Overlay, read_overlay
from xedgesim.scenario.placement import fleet_problems, read_placement
from xedgesim.scenario.queues import publish_buffer_problems
from xedgesim.scenario.reader import Reader, label
from xedgesim.scenario.yaml_tree import YMap, YNode, parse_yaml, read_source
from xedgesim.units import format_duration

TOP_KEYS = ("name", "seed", "duration", "warmup", "network", "nodes", "faults", "placement")
DEFAULT_SEED = 1
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_NOT_NAME = re.compile(r"[^A-Za-z0-9._-]+|\.\.+")


def load_scenario(path: str | os.PathLike[str],
                  network: str | os.PathLike[str] | None = None) -> Scenario:
    """Read and check a scenario file; raise ``ScenarioError`` with all its problems.

    ``network`` names a network overlay merged into the scenario's ``network:`` section
    (``xedge simulate --network``, xedgesim/scenario/overlay.py).
    """
    filename = os.fspath(path)
    overlay = None if network is None else read_overlay(network)
    _, text = read_source(filename, "the scenario")
    return load_scenario_text(text, filename, overlay)


def load_scenario_text(text: str, filename: str = "<scenario>",
                       overlay: Overlay | None = None) -> Scenario:
    """Like ``load_scenario`` for text already in memory; ``filename`` is used in locations."""
    with _collector_paused():
        return _load_text(text, filename, overlay)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Loading builds a million small objects and no cycles: without the cyclic collector
    walking them every few hundred allocations, a 100,000-link file loads in half the time."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def load_scenario_tree(root: YNode, filename: str, overlay: Overlay | None = None) -> Scenario:
    """Like ``load_scenario_text`` for a tree already parsed (and perhaps edited: a sweep puts
    its values in, located where the user wrote them, so problems point there)."""
    with _collector_paused():
        return _load_tree(root, [], filename, overlay)


def _load_text(text: str, filename: str, overlay: Overlay | None = None) -> Scenario:
    root, problems = parse_yaml(text, filename)
    return _load_tree(root, problems, filename, overlay)


def _load_tree(root: YNode | None, problems: list[Problem], filename: str,
               overlay: Overlay | None = None) -> Scenario:
    reader = Reader()
    reader.problems.extend(problems)
    if root is None:
        if not problems:
            reader.report(
                Location(filename, 1, 1),
                "the scenario is empty",
                "a scenario needs at least 'duration:' and 'nodes:'; see docs/scenario.md",
            )
        raise ScenarioError(reader.problems)
    top = reader.mapping(root, "a scenario", "duration: 60s, nodes: [...]")
    if top is None:
        raise ScenarioError(reader.problems)
    if LEGACY_MARKER in top:
        top = convert_legacy(reader, top)
    if overlay is not None:
        top = overlay.apply(top)
    scenario = _read_scenario(reader, top, filename)
    if reader.problems or scenario is None:
        raise ScenarioError(reader.problems)
    if overlay is not None:
        scenario = replace(scenario, network_overlay=overlay.provenance())
    return scenario


def _read_scenario(reader: Reader, top: YMap, filename: str) -> Scenario | None:
    context = "the scenario"
    reader.check_keys(top, TOP_KEYS, context)
    name: str | None = slug(Path(filename).stem)
    if "name" in top:
        name = _read_name(reader, top.entries["name"].value)
    seed: int | None = DEFAULT_SEED
    if "seed" in top:
        seed = reader.integer(top.entries["seed"].value, label("seed", context), minimum=0)
    duration_node = reader.require(top, "duration", context)
    duration = None
    if duration_node is not None:
        duration = reader.duration(duration_node, label("duration", context), positive=True)
    warmup = _read_warmup(reader, top, duration)
    drafts = _read_nodes(reader, top)
    index = NodeIndex(drafts or [])
    specs = [build_node(reader, draft, index) for draft in drafts or []]
    network = NetworkSpec()
    if "network" in top:
        network = read_network(reader, top.entries["network"].value, index)
    faults = []
    if "faults" in top:
        faults = read_faults(reader, top.entries["faults"].value, index, duration)
    placement = None
    if "placement" in top:
        placement = read_placement(reader, top.entries["placement"].value, index.by_id)
    if name is None or seed is None or duration is None or warmup is None or not drafts:
        return None
    built = [spec for spec in specs if spec is not None]
    if len(built) != len(specs):
        return None
    assert duration_node is not None  # a duration was read from it
    where = (duration, duration_node.location)
    check_horizon(reader, where, _links(top, network), built, faults)
    check_idle_drain(reader, duration, built)
    publish_buffer_problems(reader, network, built)
    if placement is not None:
        reader.problems.extend(fleet_problems(built, placement))
    return Scenario(
        name=name,
        seed=seed,
        duration_ns=duration,
        warmup_ns=warmup,
        network=network,
        nodes=tuple(built),
        faults=tuple(faults),
        source=filename,
        notices=tuple(reader.notices),
        placement=placement,
    )


def _read_warmup(reader: Reader, top: YMap, duration_ns: int | None) -> int | None:
    """The warmup in ns (0 when not given), or None after a problem: metrics leave out what is
    sent before it, so it must leave some of the run to measure."""
    node = top.get("warmup")
    if node is None:
        return 0
    what = label("warmup", "the scenario")
    warmup = reader.duration(node, what)
    if warmup is not None and duration_ns is not None and warmup >= duration_ns:
        reader.report(node, f"{what} must be shorter than 'duration' "
                            f"({format_duration(duration_ns)}), found {format_duration(warmup)}",
                      "messages sent before the warmup ends are left out of the metrics, so "
                      "nothing would be measured")
        return None
    return warmup


def slug(text: str) -> str:
    """``text`` made a safe name: runs of other characters become '-', at most 64 characters."""
    words = _NOT_NAME.split(text)
    made = "-".join(word for word in words if word and word.strip("."))[: limits.MAX_NAME_CHARS]
    return made.strip("-._") or "scenario"


def _read_name(reader: Reader, node: YNode) -> str | None:
    """The scenario's name, which becomes a directory name: one safe path component."""
    what = label("name", "the scenario")
    name = reader.string(node, what)
    if name is None:
        return None
    if NAME_PATTERN.fullmatch(name) and ".." not in name and len(name) <= limits.MAX_NAME_CHARS:
        return name
    shown = name if len(name) <= 40 else name[:40] + "…"
    reader.report(
        node,
        f"{what} must be at most {limits.MAX_NAME_CHARS} letters, digits, '_', '.' and '-', "
        f"start with a letter or digit and not contain '..', found {shown!r}",
        f"it names the run's directory; did you mean '{slug(name)}'?",
    )
    return None


def _links(top: YMap, network: NetworkSpec) -> list[tuple[LinkSpec, Location, str]]:
    """Every link with the place it was written, for checks made after reading."""
    network_node = top.get("network")
    default_node = network_node.get("default") if isinstance(network_node, YMap) else None
    default_at = (default_node or network_node or top).location
    links = [(network.default, default_at, "the default link")]
    links += [(link.spec, link.location, f"the link {link.a}–{link.b}") for link in network.links]
    return links


def _read_nodes(reader: Reader, top: YMap) -> list[NodeDraft] | None:
    """The first-pass drafts, or ``None`` when there is no usable, non-empty ``nodes:`` list."""
    node = reader.require(top, "nodes", "the scenario")
    if node is None:
        return None
    seq = reader.sequence(node, "'nodes'", "[{id: s1, type: sensor, ...}]")
    if seq is None:
        return None
    if not seq.items:
        reader.report(seq, "'nodes' is empty", "a scenario needs at least one node")
        return None
    if len(seq.items) > limits.MAX_NODES:
        reader.report(
            seq,
            f"'nodes' has {len(seq.items):,} entries, more than {limits.MAX_NODES:,}",
            "a fleet of identical nodes is one entry with 'count'; see 'Limits' in "
            "docs/scenario.md",
        )
        return None
    return read_drafts(reader, seq)
