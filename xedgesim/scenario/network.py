"""The ``network:`` section: the default link and per-pair overrides merged over it."""

from __future__ import annotations

import math
from typing import cast

from xedgesim.scenario import limits
from xedgesim.scenario.distributions import read_distribution
from xedgesim.scenario.loss import read_bursty_loss
from xedgesim.scenario.model import (
    LinkOverride,
    LinkSchedule,
    LinkSpec,
    NetworkSpec,
    QueueKind,
)
from xedgesim.scenario.nodes import NodeIndex
from xedgesim.scenario.queues import QUEUE_KINDS, UNLIMITED, queue_problem, read_buffer
from xedgesim.scenario.reader import Reader, label
from xedgesim.scenario.schedule import read_schedule, read_trace
from xedgesim.scenario.yaml_tree import YMap, YNode, YScalar, YSeq

LINK_KEYS = ("latency", "jitter", "loss", "bandwidth", "schedule", "trace",
             "buffer", "queue")
# Keys that say the same thing in two ways: a link (or an overlay) that gives one replaces
# the other it would have inherited.
ALTERNATIVES = {"schedule": "trace", "trace": "schedule"}
END_KEYS = ("between", "from", "to")
_ENTRY_KEYS = LINK_KEYS + END_KEYS


def read_link(reader: Reader, ymap: YMap, context: str, base: LinkSpec) -> LinkSpec:
    """``base`` with the properties given in ``ymap`` put over it (unreadable ones are skipped)."""
    latency, jitter, loss, bandwidth = base.latency_ns, base.jitter, base.loss, base.bandwidth_bps
    gilbert, schedule = base.gilbert, base.schedule
    buffer, queue = base.buffer, base.queue
    node = ymap.get("latency")
    if node is not None:
        given_ns = reader.duration(node, label("latency", context))
        latency = latency if given_ns is None else given_ns
    node = ymap.get("jitter")
    if node is not None:
        drawn = read_distribution(reader, node, label("jitter", context), "duration")
        jitter = jitter if drawn is None else drawn
    node = ymap.get("loss")
    if isinstance(node, YMap):  # a loss model (bursty loss), not one probability
        bursty = read_bursty_loss(reader, node, label("loss", context))
        if bursty is not None:
            loss, gilbert = 0.0, bursty
    elif node is not None:
        given = reader.probability(node, label("loss", context))
        if given is not None:
            loss, gilbert = given, None
    node = ymap.get("bandwidth")
    if node is not None:
        given = reader.bandwidth(node, label("bandwidth", context))
        if given is not None:
            bandwidth = None if given == math.inf else given
    schedule = _read_changes(reader, ymap, context, schedule)
    if gilbert is not None and schedule is not None and schedule.highest_loss is not None:
        reader.report(ymap.get("loss") or ymap, f"{context} has bursty loss ({{gilbert: …}}), "
                      f"which its schedule or trace ({schedule.location}) cannot change",
                      "a schedule changes a loss probability: give 'loss' as one")
        schedule = None  # reported once, here, not again by every link that inherits it
    node = ymap.get("buffer")
    if node is not None:
        limit = read_buffer(reader, node, label("buffer", context))
        if limit is not None:
            buffer = None if limit == UNLIMITED else limit
    node = ymap.get("queue")
    if node is not None:
        kind = reader.choice(node, label("queue", context), QUEUE_KINDS)
        queue = cast(QueueKind, kind) if kind is not None else queue
    spec = LinkSpec(latency, jitter, loss, bandwidth, gilbert, schedule, buffer, queue)
    problem = queue_problem(spec)
    written_here = [key for key in ("buffer", "queue", "bandwidth") if key in ymap]
    # A problem inherited from the default link is reported there, once.
    if problem is not None and (written_here or queue_problem(base) is None):
        where = ymap.entries[written_here[0]].key if written_here else ymap
        reader.report(where, f"{context} {problem}",
                      "give it a 'bandwidth'; a link that inherits them from the default link "
                      "can lift them with 'buffer: unlimited' and 'queue: per_sender'")
    return spec


def _read_changes(reader: Reader, ymap: YMap, context: str,
                  inherited: LinkSchedule | None) -> LinkSchedule | None:
    """The link's ``schedule`` or ``trace`` (one of them), else the one it inherits."""
    if "schedule" in ymap and "trace" in ymap:
        reader.report(ymap.entries["trace"].key, f"{context} gives both 'schedule' and 'trace'",
                      "a trace is a schedule read from a file: give one of them")
        return None
    before = len(reader.problems)
    node = ymap.get("schedule")
    if node is not None:
        schedule = read_schedule(reader, node, context)
    else:
        node = ymap.get("trace")
        if node is None:
            return inherited
        schedule = read_trace(reader, node, context)
    return schedule if len(reader.problems) == before else inherited


def read_network(reader: Reader, node: YNode, index: NodeIndex) -> NetworkSpec:
    ymap = reader.mapping(node, "'network'", "default: {...}, links: [...]")
    if ymap is None:
        return NetworkSpec()
    reader.check_keys(ymap, ("default", "links"), "'network'")
    default = LinkSpec()
    default_node = ymap.get("default")
    if default_node is not None:
        default_map = reader.mapping(default_node, "the default link", "latency: 5ms, loss: 0.01")
        if default_map is not None:
            reader.check_keys(default_map, LINK_KEYS, "the default link")
            default = read_link(reader, default_map, "the default link", default)
    links: list[LinkOverride] = []
    links_node = ymap.get("links")
    if links_node is not None:
        seq = reader.sequence(links_node, "'links' in 'network'", "[{between: [a, b], ...}]")
        if seq is not None and len(seq.items) > limits.MAX_LINKS:
            reader.report(
                seq,
                f"'links' in 'network' has {len(seq.items):,} entries, more than "
                f"{limits.MAX_LINKS:,}",
                "see 'Limits' in docs/scenario.md",
            )
            seq = None
        seen: dict[frozenset[str], LinkOverride] = {}
        for position, item in enumerate(seq.items if seq is not None else [], start=1):
            link = _read_link(reader, item, position, index, default, seen)
            if link is not None:
                links.append(link)
    return NetworkSpec(default, tuple(links))


def _read_link(
    reader: Reader,
    item: YNode,
    position: int,
    index: NodeIndex,
    default: LinkSpec,
    earlier: dict[frozenset[str], LinkOverride],
) -> LinkOverride | None:
    """One entry of ``links``; ``earlier`` maps each pair read so far to its link."""
    ymap = item if type(item) is YMap else reader.mapping(
        item, f"link #{position}", "between: [a, b], latency: 20ms"
    )
    if ymap is None:
        return None
    before = len(reader.problems)
    ends = _known_pair(ymap, index) or _ends(reader, ymap, f"link #{position}", index)
    context = f"the link {ends[0]}–{ends[1]}" if ends is not None else f"link #{position}"
    reader.check_keys(ymap, _ENTRY_KEYS, context)
    spec = read_link(reader, ymap, context, default)
    pair = None if ends is None else frozenset(ends)
    if pair is not None:
        other = earlier.get(pair)
        if other is not None:
            reader.report(
                ymap,
                f"{context} is given twice",
                f"first at line {other.location.line}; a link covers both directions",
            )
            return None
    if ends is None or pair is None or len(reader.problems) > before:
        return None
    link = LinkOverride(ends[0], ends[1], spec, ymap.location)
    earlier[pair] = link
    return link


def _known_pair(ymap: YMap, index: NodeIndex) -> tuple[str, str] | None:
    """``between: [a, b]`` naming two different known nodes, the common case, read without
    making any of the messages ``_ends`` could need; ``None`` leaves the rest to ``_ends``."""
    between = ymap.entries.get("between")
    if between is None or "from" in ymap or "to" in ymap:
        return None
    seq = between.value
    if type(seq) is not YSeq or len(seq.items) != 2:
        return None
    first, second = seq.items
    if type(first) is not YScalar or type(second) is not YScalar:
        return None
    a, b = first.value, second.value
    if type(a) is not str or type(b) is not str or a == b:
        return None
    known = index.by_id
    return (a, b) if a in known and b in known else None


def _ends(reader: Reader, ymap: YMap, context: str, index: NodeIndex) -> tuple[str, str] | None:
    """The two nodes of a link, written ``between: [a, b]`` or ``from: a, to: b``."""
    if "between" in ymap:
        for key in ("from", "to"):
            if key in ymap:
                reader.report(
                    ymap.entries[key].key,
                    f"{context} gives both 'between' and '{key}'",
                    "use either between: [a, b] or from: a, to: b",
                )
                return None
        what = label("between", context)
        nodes = read_pair(reader, ymap.entries["between"].value, what)
        if nodes is None:
            return None
        whats = (what, what)
    else:
        if "from" not in ymap and "to" not in ymap:
            reader.report(ymap, f"{context} does not say which nodes it joins", "between: [a, b]")
            return None
        first, second = reader.require(ymap, "from", context), reader.require(ymap, "to", context)
        if first is None or second is None:
            return None
        nodes = (first, second)
        whats = (label("from", context), label("to", context))
    return resolve_pair(reader, nodes, whats, context, index)


def read_pair(reader: Reader, node: YNode, what: str) -> tuple[YNode, YNode] | None:
    seq = reader.sequence(node, what, "[gw1, cloud]")
    if seq is None:
        return None
    if len(seq.items) != 2:
        reader.report(seq, f"{what} must name exactly two nodes, found {len(seq.items)}")
        return None
    return seq.items[0], seq.items[1]


def resolve_pair(
    reader: Reader,
    nodes: tuple[YNode, YNode],
    whats: tuple[str, str],
    context: str,
    index: NodeIndex,
) -> tuple[str, str] | None:
    """Both ends resolved to node ids, and not the same node twice."""
    first = index.resolve(reader, nodes[0], whats[0])
    second = index.resolve(reader, nodes[1], whats[1])
    if first is None or second is None:
        return None
    if first == second:
        where = nodes[1] if isinstance(nodes[1], YScalar) else nodes[0]
        reader.report(where, f"{context} joins node '{first}' to itself")
        return None
    return first, second


def link_traces(top: YMap) -> list[YNode]:
    """The ``trace`` values of the default link and of every link of a scenario's top-level
    mapping, where they are written (a sweep refuses them: its points carry no other file)."""
    network = top.get("network")
    if not isinstance(network, YMap):
        return []
    links = [network.get("default")]
    listed = network.get("links")
    if isinstance(listed, YSeq):
        links += listed.items
    return [link.entries["trace"].value for link in links
            if isinstance(link, YMap) and "trace" in link]
