"""MQTT topic names and filters (MQTT 3.1.1, section 4.7), shared by the model and the services."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import TYPE_CHECKING, overload

if TYPE_CHECKING:  # numpy only where ids are made: the loader imports this module too
    import numpy as np

    from xedgesim.scenario.model import InstanceIds


def filter_problem(topic_filter: str) -> str | None:
    """Why ``topic_filter`` is not a valid subscription filter, or None when it is."""
    if not topic_filter:
        return "a topic filter cannot be empty"
    levels = topic_filter.split("/")
    for position, level in enumerate(levels):
        if "#" in level and (level != "#" or position != len(levels) - 1):
            return "'#' must be a whole level and the last one (e.g. 'site/#')"
        if "+" in level and level != "+":
            return "'+' must be a whole level (e.g. 'site/+/temp')"
    return None


def topic_problem(topic: str) -> str | None:
    """Why ``topic`` cannot be published to, or None when it can."""
    if not topic:
        return "a topic cannot be empty"
    if "+" in topic or "#" in topic:
        return "a publish topic cannot contain wildcards '+' or '#'; use {id} for the sender's id"
    return None


def matches(topic_filter: str, topic: str) -> bool:
    """Does ``topic`` match ``topic_filter``? ``+`` is one level, ``#`` the rest (even none).

    Topics starting with '$' are not matched by filters starting with a wildcard.
    """
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    for position, level in enumerate(filter_levels):
        if level == "#":
            return True
        if position >= len(topic_levels):
            return False
        if level != "+" and level != topic_levels[position]:
            return False
    return len(filter_levels) == len(topic_levels)


def render(template: str, instance_id: str, index: int) -> str:
    """A publish topic for one instance: ``{id}`` and ``{index}`` filled in."""
    if "{" not in template:
        return template
    return template.replace("{id}", instance_id).replace("{index}", str(index))


class TopicTable:
    """Topic strings interned as small integers, so batches carry ids, not strings.

    A fleet whose topic has a placeholder has one topic per instance: a million sensors would
    be a million strings and a dict of them. Such a fleet gets a *range* of ids instead, the
    ids interning its topics one by one would give, with each name made only when asked (a
    broker matching filters, ``records.csv``). That is only done when no topic of the fleet can
    already be in the table; otherwise its topics are interned one by one, as before.
    """

    def __init__(self) -> None:
        self.names = TopicNames()
        self._ids: dict[str, int] = {}  # topics interned one by one
        self._ranges: list[_FleetTopics] = []

    def intern_all(self, topics: list[str]) -> list[int]:
        """Ids for many topics at once, in order."""
        return [self.intern(topic) for topic in topics]

    def intern(self, topic: str) -> int:
        topic_id = self._ids.get(topic)
        if topic_id is not None:
            return topic_id
        for fleet in self._ranges:
            topic_id = fleet.id_of(topic)
            if topic_id is not None:
                self._ids[topic] = topic_id
                return topic_id
        topic_id = self._ids[topic] = len(self.names)
        self.names.add([topic])
        return topic_id

    def intern_fleet(self, template: str, instances: InstanceIds) -> FleetTopicIds:
        """The topic ids of a node's instances, publishing to ``template`` (see ``render``)."""
        import numpy as np

        if len(instances) == 1 or "{" not in template:
            return FleetTopicIds(self.intern(render(template, instances[0], 0)), ranged=False)
        fleet = _FleetTopics(len(self.names), template, instances)
        if any(not fleet.disjoint(other) for other in self._ranges) or any(
                fleet.id_of(name) is not None for name in self._ids):
            ids = self.intern_all([render(template, name, i) for i, name in enumerate(instances)])
            return FleetTopicIds(np.array(ids, dtype=np.int64), ranged=False)
        self._ranges.append(fleet)
        self.names.add(fleet)
        return FleetTopicIds(fleet.first, ranged=True)


class FleetTopicIds:
    """What ``intern_fleet`` gives: ``of(local)`` maps instance indices to their topic ids."""

    def __init__(self, ids: int | np.ndarray, ranged: bool) -> None:
        self._ids, self._ranged = ids, ranged

    def of(self, local: np.ndarray) -> np.ndarray:
        import numpy as np

        ids = self._ids
        if isinstance(ids, np.ndarray):
            return ids[local]
        if self._ranged:
            return local + ids
        return np.broadcast_to(np.array([ids], dtype=np.int64), (len(local),))


class _FleetTopics(Sequence[str]):
    """The topics of one fleet: ``template`` rendered for each instance, ids from ``first``.

    ``{id}`` and ``{index}`` both tell the instances apart, so the fleet's topics are distinct.
    """

    def __init__(self, first: int, template: str, instances: InstanceIds) -> None:
        self.first, self.template, self.instances = first, template, instances
        at_id, at_index = template.find("{id}"), template.find("{index}")
        self._by_id = at_index == -1 or -1 < at_id < at_index  # which placeholder comes first
        head = template[:at_id if self._by_id else at_index]
        # What every topic of the fleet starts and ends with.
        self._head = head + f"{instances.node_id}-" if self._by_id else head
        self._tail = template[template.rindex("}") + 1:]

    def __len__(self) -> int:
        return len(self.instances)

    def __getitem__(self, index):  # type: ignore[no-untyped-def, override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return render(self.template, self.instances[index], index % len(self))

    def id_of(self, topic: str) -> int | None:
        """The id of ``topic`` if it is one of this fleet's, else None.

        The first placeholder starts right after the template's literal beginning: an instance
        id there has a fixed length, an index is one of the numbers its digits begin with.
        """
        if not topic.startswith(self._head) or not topic.endswith(self._tail):
            return None
        count = len(self.instances)
        width = len(str(count - 1))
        rest = topic[len(self._head):]
        if self._by_id:
            digits = rest[:width]
            candidates = [int(digits)] if digits.isascii() and digits.isdigit() else []
        else:
            run = len(rest) - len(rest.lstrip("0123456789"))
            candidates = [int(rest[:k]) for k in range(1, min(run, width) + 1)
                          if k == 1 or rest[0] != "0"]
        for index in candidates:
            if index < count and self[index] == topic:
                return self.first + index
        return None

    def disjoint(self, other: _FleetTopics) -> bool:
        """Can no topic of this fleet be one of ``other``'s? True only when sure: the same
        template with ``{id}`` alone (the instance ids of a scenario all differ), or beginnings
        or ends that differ."""
        if self.template == other.template and "{index}" not in self.template:
            return True
        heads, tails = (self._head, other._head), (self._tail, other._tail)
        return not (heads[0].startswith(heads[1]) or heads[1].startswith(heads[0])) or not (
            tails[0].endswith(tails[1]) or tails[1].endswith(tails[0]))


class LazyNames(Sequence[str]):
    """A sequence of names made when asked, by index: subclasses give ``__len__`` and
    ``_name(index)`` for ``0 <= index < len``; this class does negative indexes, bounds and
    slices once for all of them (instance ids, topic tables)."""

    def _name(self, index: int) -> str:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        length = len(self)
        if isinstance(index, slice):
            return [self._name(i) for i in range(*index.indices(length))]
        if not -length <= index < length:
            raise IndexError(index)
        return self._name(index % length)


class TopicNames(LazyNames):
    """The table's names by id: topics interned one by one, and fleets' ranges made on demand."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._parts: list[Sequence[str]] = []
        self._length = 0

    def add(self, names: Sequence[str]) -> None:
        if self._parts and isinstance(self._parts[-1], list) and isinstance(names, list):
            self._parts[-1].extend(names)
        else:
            self._starts.append(self._length)
            self._parts.append(names)
        self._length += len(names)

    def __len__(self) -> int:
        return self._length

    def _name(self, index: int) -> str:
        part = bisect.bisect_right(self._starts, index) - 1
        return self._parts[part][index - self._starts[part]]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]
