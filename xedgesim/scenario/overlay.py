"""A network overlay (``xedge simulate S.yaml --network links.yaml``): a file holding only a
``network:`` section, merged key by key into the scenario's before the scenario is read.

The merge happens on the position trees, not on the typed result, so the merged section is
read, defaulted and checked exactly as if it had been written in the scenario, and every
problem points at the file and line where its value was written (the overlay's or the
scenario's). The rules (docs/scenario.md, "Network overlays"):

* a key of the overlay's ``default`` replaces that key of the scenario's ``default``;
* an overlay link for a pair the scenario has a link for replaces the keys it gives in that
  link (the pair may be written either way round, with ``between`` or ``from``/``to``);
* an overlay link for another pair is added;
* keys neither gives come, as always, from the merged ``default``.

``xedge calibrate`` writes such files; a hand-written one works the same way.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Hashable
from dataclasses import dataclass

from xedgesim.scenario.errors import ScenarioError
from xedgesim.scenario.model import Location
from xedgesim.scenario.network import ALTERNATIVES, END_KEYS
from xedgesim.scenario.reader import Reader
from xedgesim.scenario.yaml_tree import YEntry, YMap, YNode, YScalar, YSeq, parse_yaml, read_source

TOP_KEYS = ("network",)


@dataclass(frozen=True)
class Overlay:
    """A read overlay: its ``network:`` entry, and where it came from (for the run's summary)."""

    path: str
    sha256: str
    network: YEntry

    def provenance(self) -> dict[str, str]:
        return {"path": self.path, "sha256": self.sha256}

    def apply(self, top: YMap) -> YMap:
        """``top`` (a scenario's top-level mapping) with the overlay merged into its network."""
        entries = dict(top.entries)
        base = top.entries.get("network")
        if base is None:
            entries["network"] = self.network
        elif isinstance(base.value, YMap) and isinstance(self.network.value, YMap):
            entries["network"] = YEntry(base.key, merge_network(base.value, self.network.value))
        else:  # one of them is not a mapping: reading reports the overlay's (or both)
            entries["network"] = YEntry(base.key, self.network.value)
        return YMap(top.location, entries)


def read_overlay(path: str | os.PathLike[str]) -> Overlay:
    """Read and shape-check an overlay file; ``ScenarioError`` (located) when it is unusable.

    Only its shape is checked here (a mapping with a ``network:`` mapping); the values are
    checked when the merged section is read with the scenario, where node names resolve.
    """
    filename = os.fspath(path)
    data, text = read_source(filename, "the network overlay")
    root, problems = parse_yaml(text, filename)
    reader = Reader()
    reader.problems.extend(problems)
    if root is None and not problems:
        reader.report(Location(filename, 1, 1), "the network overlay is empty",
                      "it holds one key, network: {default: {...}, links: [...]}")
    top = None if root is None else reader.mapping(root, "a network overlay",
                                                   "network: {links: [...]}")
    entry = None
    if top is not None:
        reader.check_keys(top, TOP_KEYS, "a network overlay")
        entry = top.entries.get("network")
        if entry is None and not reader.problems:
            reader.report(top, "a network overlay needs a 'network:' section",
                          "network: {links: [{between: [a, b], latency: 5ms}]}")
        elif entry is not None:
            reader.mapping(entry.value, "'network' in the overlay",
                           "default: {...}, links: [...]")
    if reader.problems or entry is None:
        raise ScenarioError(reader.problems)
    return Overlay(filename, hashlib.sha256(data).hexdigest(), entry)


def merge_network(base: YMap, over: YMap) -> YMap:
    """The scenario's ``network`` mapping with the overlay's merged in (rules: module doc)."""
    entries = dict(base.entries)
    for key, entry in over.entries.items():
        mine = entries.get(key)
        if key == "default" and mine is not None and isinstance(mine.value, YMap) \
                and isinstance(entry.value, YMap):
            merged = _replaced(mine.value.entries, entry.value.entries)
            entries[key] = YEntry(mine.key, YMap(mine.value.location, merged))
        elif key == "links" and mine is not None and isinstance(mine.value, YSeq) \
                and isinstance(entry.value, YSeq):
            entries[key] = YEntry(mine.key, _merge_links(mine.value, entry.value))
        else:
            entries[key] = entry
    return YMap(base.location, entries)


def _merge_links(base: YSeq, over: YSeq) -> YSeq:
    items = list(base.items)
    where = {}
    for position, item in enumerate(items):
        pair = _pair(item)
        if pair is not None:
            where.setdefault(pair, position)
    for item in over.items:
        pair = _pair(item)
        position = where.pop(pair, None) if pair is not None else None
        if position is None:  # a new pair, or one already merged once: reading decides
            items.append(item)
            continue
        mine = items[position]
        assert isinstance(mine, YMap) and isinstance(item, YMap)  # _pair saw mappings
        ends = {key: entry for key, entry in mine.entries.items() if key not in END_KEYS}
        items[position] = YMap(item.location, _replaced(ends, item.entries))
    return YSeq(base.location, items)


def _replaced(base: dict[Hashable, YEntry], over: dict[Hashable, YEntry]) -> dict[Hashable, YEntry]:
    """``base`` with the keys of ``over`` put over it; a key of ``over`` also removes its
    alternative (a ``trace`` replaces a ``schedule``, and the other way round)."""
    merged = {key: entry for key, entry in base.items()
              if not isinstance(key, str) or ALTERNATIVES.get(key) not in over}
    merged.update(over)
    return merged


def _pair(item: YNode) -> frozenset[str] | None:
    """The two node names of a link entry written plainly, or ``None`` (then it is not merged
    with anything, and reading the merged section reports what is wrong with it)."""
    if not isinstance(item, YMap):
        return None
    between = item.get("between")
    if between is not None:
        if not isinstance(between, YSeq) or len(between.items) != 2:
            return None
        ends = between.items
    else:
        first, second = item.get("from"), item.get("to")
        if first is None or second is None:
            return None
        ends = [first, second]
    names = [end.value for end in ends if isinstance(end, YScalar) and isinstance(end.value, str)]
    return frozenset(names) if len(names) == 2 and names[0] != names[1] else None
