"""The ``faults:`` list, and a replay of it that finds faults which cannot happen.

A restart of a node that is up, or a ``link_up`` of a link that is not down, is almost always a
mistake in the times; replaying the schedule (including the recoveries that ``for:`` schedules)
finds them before a long run does.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from typing import cast

from xedgesim.scenario import limits
from xedgesim.scenario.model import FaultAction, FaultSpec
from xedgesim.scenario.network import read_pair, resolve_pair
from xedgesim.scenario.nodes import NodeIndex
from xedgesim.scenario.reader import Reader, label
from xedgesim.scenario.yaml_tree import YMap, YNode
from xedgesim.units import format_duration


@dataclass(frozen=True)
class Action:
    """One fault action: the key naming what it acts on, and the action it ends, if any.

    The table below is the only list of actions: the loader's choices, ``for:`` (which
    schedules the recovery of an action that has one) and the timeline
    (``xedgesim/sim/faults.py``, by target) all derive from it.
    """

    name: str
    target: str  # "node", "link" or "groups": the key it takes, read by TARGET_READERS
    ends: str | None = None  # a recovery: the action whose effect it ends
    target_optional: bool = False  # without its target it acts on every one (heal)


ACTION_TABLE: tuple[Action, ...] = (
    Action("crash", "node"),
    Action("restart", "node", ends="crash"),
    Action("link_down", "link"),
    Action("link_up", "link", ends="link_down"),
    Action("partition", "groups"),
    Action("heal", "groups", ends="partition", target_optional=True),
)
ACTIONS = tuple(action.name for action in ACTION_TABLE)
RECOVERY = {action.ends: action.name for action in ACTION_TABLE if action.ends}
TARGET = {action.name: action.target for action in ACTION_TABLE}
_BY_NAME = {action.name: action for action in ACTION_TABLE}
TARGET_KEYS = tuple(dict.fromkeys(action.target for action in ACTION_TABLE))
FAULT_KEYS = ("at", "action", *TARGET_KEYS, "for")


def read_faults(
    reader: Reader, node: YNode, index: NodeIndex, duration_ns: int | None
) -> list[FaultSpec]:
    seq = reader.sequence(node, "'faults'", "[{at: 30s, node: gw1, action: crash}]")
    if seq is None:
        return []
    if len(seq.items) > limits.MAX_FAULTS:
        reader.report(
            seq,
            f"'faults' has {len(seq.items):,} entries, more than {limits.MAX_FAULTS:,}",
            "see 'Limits' in docs/scenario.md",
        )
        return []
    faults = []
    for position, item in enumerate(seq.items, start=1):
        fault = _read_fault(reader, item, f"fault #{position}", index, duration_ns)
        if fault is not None:
            faults.append(fault)
    _replay(reader, faults)
    return faults


def _read_fault(
    reader: Reader, item: YNode, context: str, index: NodeIndex, duration_ns: int | None
) -> FaultSpec | None:
    ymap = reader.mapping(item, context, "at: 30s, node: gw1, action: crash")
    if ymap is None:
        return None
    before = len(reader.problems)
    reader.check_keys(ymap, FAULT_KEYS, context)
    at_node, action_node = (
        reader.require(ymap, "at", context),
        reader.require(ymap, "action", context),
    )
    at = None if at_node is None else reader.duration(at_node, label("at", context))
    if at is not None and at_node is not None and duration_ns is not None and at > duration_ns:
        reader.report(
            at_node,
            f"{context} happens at {format_duration(at)}, "
            f"after the scenario ends ({format_duration(duration_ns)})",
            "'at' must be within [0, duration]",
        )
    action = None
    if action_node is not None:
        action = reader.choice(action_node, label("action", context), ACTIONS)
    if action is None:
        return None
    target_key = TARGET[action]
    for key in TARGET_KEYS:
        if key != target_key and key in ymap:
            reader.report(
                ymap.entries[key].key,
                f"'{key}' is not used by a {action} fault",
                f"a {action} fault takes '{target_key}'",
            )
    fault = _target(
        reader, ymap, FaultSpec(0, cast(FaultAction, action), ymap.location), context, index
    )
    recovery_ns = None
    for_node = ymap.get("for")
    if for_node is not None:
        if action in RECOVERY:
            recovery_ns = reader.duration(for_node, label("for", context), positive=True)
        else:
            undo = next(down for down, up in RECOVERY.items() if up == action)
            reader.report(
                ymap.entries["for"].key,
                f"'for' is not used by a {action} fault",
                f"'for' on a {undo} fault schedules the {action}",
            )
    if len(reader.problems) > before or at is None or fault is None:
        return None
    return replace(fault, at_ns=at, duration_ns=recovery_ns)


def _target(
    reader: Reader, ymap: YMap, fault: FaultSpec, context: str, index: NodeIndex
) -> FaultSpec | None:
    """``fault`` with the node, link or groups it acts on, or ``None`` if they are unreadable."""
    key = TARGET[fault.action]
    if _BY_NAME[fault.action].target_optional and key not in ymap:
        return fault  # e.g. a heal of every partition
    node = reader.require(ymap, key, context)
    if node is None:
        return None
    return TARGET_READERS[key](reader, node, label(key, context), context, fault, index)


def _node_target(reader: Reader, node: YNode, what: str, context: str, fault: FaultSpec,
                 index: NodeIndex) -> FaultSpec | None:
    name = index.resolve(reader, node, what, instances=True)
    return None if name is None else replace(fault, node=name)


def _link_target(reader: Reader, node: YNode, what: str, context: str, fault: FaultSpec,
                 index: NodeIndex) -> FaultSpec | None:
    pair = read_pair(reader, node, what)
    link = None
    if pair is not None:
        link = resolve_pair(reader, pair, (what, what), f"the link of {context}", index)
    return None if link is None else replace(fault, link=link)


def _groups_target(reader: Reader, node: YNode, what: str, context: str, fault: FaultSpec,
                   index: NodeIndex) -> FaultSpec | None:
    groups = _groups(reader, node, what, index)
    return None if groups is None else replace(fault, groups=groups)


def _groups(
    reader: Reader, node: YNode, what: str, index: NodeIndex
) -> tuple[tuple[str, ...], ...] | None:
    seq = reader.sequence(node, what, "[[sensors, gw1], [cloud]]")
    if seq is None:
        return None
    if len(seq.items) < 2:
        reader.report(seq, f"{what} must list at least two groups, found {len(seq.items)}")
        return None
    groups: list[tuple[str, ...]] = []
    seen: dict[str, int] = {}
    ok = True
    for number, item in enumerate(seq.items, start=1):
        group = reader.sequence(item, f"group {number} of {what}", "[gw1, cloud]")
        if group is None:
            ok = False
            continue
        if not group.items:
            reader.report(group, f"group {number} of {what} is empty")
            ok = False
        names = []
        for member in group.items:
            name = index.resolve(reader, member, f"group {number} of {what}")
            if name is None:
                ok = False
            elif name in seen:
                reader.report(
                    member, f"'{name}' is in group {seen[name]} and group {number} of {what}"
                )
                ok = False
            else:
                seen[name] = number
                names.append(name)
        groups.append(tuple(names))
    return tuple(groups) if ok else None


TARGET_READERS = {"node": _node_target, "link": _link_target, "groups": _groups_target}


# -- replay ------------------------------------------------------------------------------------


@dataclass
class _Down:
    since: int
    until: int | None  # when its 'for:' brings it back, if it has one
    fault: FaultSpec


@dataclass
class _State:
    down: dict[Hashable, _Down] = field(default_factory=dict)  # node id or link pair
    partitions: dict[frozenset[frozenset[str]], _Down] = field(default_factory=dict)


def _replay(reader: Reader, faults: list[FaultSpec]) -> None:
    """Walk the faults in time order, as the kernel will, and report those that cannot happen.

    At equal times the recoveries scheduled by ``for:`` come first, then restarts, link_ups and
    heals, then crashes, link_downs and partitions; so a restart never undoes a crash of the same
    instant, and a node restarted by ``for:`` at 35s may crash again at 35s.
    """
    steps: list[tuple[int, int, int, FaultSpec, bool]] = []
    for order, fault in enumerate(faults):
        steps.append((fault.at_ns, 2 if fault.action in RECOVERY else 1, order, fault, False))
        if fault.duration_ns is not None:
            steps.append((fault.at_ns + fault.duration_ns, 0, order, fault, True))
    steps.sort(key=lambda step: step[:3])
    state = _State()
    for time, _, _, fault, automatic in steps:
        if TARGET[fault.action] == "groups":
            _partition_step(reader, state, time, fault, automatic)
        else:
            _down_step(reader, state, time, fault, automatic)


def _when(ns: int) -> str:
    return format_duration(ns) if ns else "0s"


def _scheduled(reader: Reader, fault: FaultSpec, what: str, time: int, down: _Down) -> None:
    """An explicit recovery of something a ``for:`` already brings back: the kernel keeps the
    ``for:``, so the explicit one would silently do nothing."""
    assert down.until is not None
    reader.report(
        fault.location,
        f"{what} at {_when(time)}, but the {down.fault.action} at line "
        f"{down.fault.location.line} already ends at {_when(down.until)} by its 'for'",
        f"remove this {fault.action} or the 'for' of that {down.fault.action}",
    )


def _down_step(reader: Reader, state: _State, time: int, fault: FaultSpec, automatic: bool) -> None:
    if fault.node is not None:
        key: Hashable = fault.node
        name = f"node '{fault.node}'"
    elif fault.link is not None:
        key = frozenset(fault.link)
        name = f"the link {fault.link[0]}–{fault.link[1]}"
    else:
        return
    current = state.down.get(key)
    if automatic:
        if current is not None and current.fault is fault:
            del state.down[key]
    elif fault.action in RECOVERY:
        if current is not None:
            reader.report(
                fault.location,
                f"{fault.action} of {name} at {_when(time)}, but it is already down "
                f"(since {_when(current.since)})",
            )
        else:
            until = None if fault.duration_ns is None else time + fault.duration_ns
            state.down[key] = _Down(time, until, fault)
    elif current is None:
        reader.report(
            fault.location, f"{fault.action} of {name} at {_when(time)}, but it is not down then"
        )
    elif current.until is not None:
        _scheduled(reader, fault, f"{fault.action} of {name}", time, current)
    else:
        del state.down[key]


def _partition_step(
    reader: Reader, state: _State, time: int, fault: FaultSpec, automatic: bool
) -> None:
    key = _groups_key(fault)
    if automatic:
        current = state.partitions.get(key)
        if current is not None and current.fault is fault:
            del state.partitions[key]
        return
    if fault.action == "partition":
        current = state.partitions.get(key)
        if current is not None:
            reader.report(
                fault.location,
                f"partition at {_when(time)}, but the same partition is in effect "
                f"(since {_when(current.since)})",
            )
        else:
            until = None if fault.duration_ns is None else time + fault.duration_ns
            state.partitions[key] = _Down(time, until, fault)
        return
    if fault.groups:
        matching = [key] if key in state.partitions else []
    else:
        matching = list(state.partitions)
    if not matching:
        which = "no partition with these groups" if fault.groups else "no partition"
        reader.report(fault.location, f"heal at {_when(time)}, but {which} is in effect then")
    entries = [state.partitions[each] for each in matching]
    scheduled = [entry for entry in entries if entry.until is not None]
    if scheduled:  # one message names the first; the others are the same mistake
        _scheduled(reader, fault, "heal", time, scheduled[0])
    for each in matching:
        if state.partitions[each].until is None:
            del state.partitions[each]


def _groups_key(fault: FaultSpec) -> frozenset[frozenset[str]]:
    """A partition's groups in any order, each group's members in any order."""
    return frozenset(frozenset(group) for group in fault.groups or ())
