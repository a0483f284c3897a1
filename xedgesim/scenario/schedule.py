"""A link that changes over time: ``schedule:`` (a list in the scenario) or ``trace:`` (a CSV).

Both give the same thing, a ``LinkSchedule``: from each time on, the latency, bandwidth and
loss it gives (docs/scenario.md, "Links that change"; docs/simulation.md says when a message
takes which). A trace's path is relative to the file it is written in, so a scenario and its
traces move together; its cells are written like the scenario's values (``45ms``,
``12.5Mbit``, ``0.01`` or ``1%``), so a trace cannot be misread in the wrong unit, and every
mistake in it is reported at its line and column in the CSV.
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Callable

from xedgesim.scenario import limits
from xedgesim.scenario.csv_rows import Field, located_rows
from xedgesim.scenario.model import LinkSchedule, Location
from xedgesim.scenario.reader import Reader, did_you_mean, label
from xedgesim.scenario.yaml_tree import YNode, YScalar, describe
from xedgesim.units import format_duration

PROPERTIES = ("latency", "bandwidth", "loss")
SCHEDULE_KEYS = ("at", *PROPERTIES)
TRACE_COLUMNS = ("time", *PROPERTIES)
EXAMPLE = "[{at: 30s, latency: 80ms}, {at: 1min, bandwidth: 1Mbit, loss: 0.05}]"
_NOT_SCHEDULED = {"jitter": "'jitter' does not change over time: a schedule changes latency, "
                            "bandwidth and loss, and the link's jitter applies throughout"}
_INTEGER = re.compile(r"[-+]?[0-9]+")


def read_schedule(reader: Reader, node: YNode, context: str) -> LinkSchedule | None:
    """The changes listed under ``schedule`` of the link ``context``; ``None`` after reporting
    (or for an empty list, which leaves the link as it is)."""
    what = label("schedule", context)
    seq = reader.sequence(node, what, EXAMPLE)
    if seq is None:
        return None
    if len(seq.items) > limits.MAX_SCHEDULE_ROWS:
        reader.report(seq, f"{what} has {len(seq.items):,} entries, more than "
                           f"{limits.MAX_SCHEDULE_ROWS:,}", "see 'Limits' in docs/scenario.md")
        return None
    rows = _Rows(reader)
    for position, item in enumerate(seq.items, start=1):
        context = f"entry #{position} of {what}"
        ymap = reader.mapping(item, context, "{at: 30s, latency: 80ms}")
        if ymap is None:
            continue
        reader.check_keys(ymap, SCHEDULE_KEYS, context, _NOT_SCHEDULED)
        at_node = reader.require(ymap, "at", context)
        if not any(key in ymap for key in PROPERTIES):
            reader.report(ymap, f"{context} changes nothing",
                          "give 'latency', 'bandwidth' or 'loss' with 'at'")
            continue
        if at_node is not None:
            rows.add(at_node, label("at", context), {key: (ymap.get(key), label(key, context))
                                                      for key in PROPERTIES})
    return rows.schedule(seq.location) if rows.complete else None


def read_trace(reader: Reader, node: YNode, context: str) -> LinkSchedule | None:
    """The trace file named under ``trace`` of the link ``context``, read once per load
    however many links name it."""
    found = reader.trace(node, label("trace", context))
    if found is None:
        return None
    path, text = found
    if path in reader.files:
        return reader.files[path]  # type: ignore[return-value]
    schedule = _read_csv(reader, text, path, f"the trace of {context}")
    reader.files[path] = schedule
    return schedule


def _read_csv(reader: Reader, text: str, path: str, what: str) -> LinkSchedule | None:
    """``time,latency,bandwidth,loss`` (a header naming ``time`` and any of the others, in any
    order), one change per line; ``#`` starts a comment line, an empty cell keeps a value."""
    rows = _Rows(reader)

    def header(number: int, fields: list[Field]) -> list[str] | None:
        return _header(reader, [_cell(path, number, field) for field in fields], what)

    for number, fields in located_rows(reader, path, text, what, limits.MAX_SCHEDULE_ROWS,
                                       header, "it needs a header, time,latency,bandwidth,"
                                               "loss, and a row per change"):
        by_column = {key: _cell(path, number, field) for key, field in fields.items()}
        time_cell = by_column.pop("time")
        if time_cell.value == "":
            reader.report(time_cell, f"'time' in {what} is missing", "every row needs its time")
            continue
        rows.add(time_cell, f"'time' in {what}",
                 {key: (None if cell.value == "" else cell, f"'{key}' in {what}")
                  for key, cell in by_column.items()})
    return rows.schedule(Location(path, 1, 1)) if rows.complete else None


def _header(reader: Reader, cells: list[YScalar], what: str) -> list[str] | None:
    names = [str(cell.value) for cell in cells]
    fine = True
    for cell, name in zip(cells, names, strict=True):
        if name not in TRACE_COLUMNS:
            reader.report(cell, f"unknown column {name!r} in {what} (columns: "
                                f"{', '.join(TRACE_COLUMNS)})", did_you_mean(name, TRACE_COLUMNS))
            fine = False
        elif names.count(name) > 1:
            reader.report(cell, f"column {name!r} is given twice in {what}")
            return None
    if fine and ("time" not in names or len(names) < 2):
        reader.report(cells[0], f"the header of {what} must name 'time' and at least one of "
                                f"{', '.join(PROPERTIES)}, found {','.join(names)!r}",
                      "time,latency,bandwidth,loss")
        fine = False
    return names if fine else None


def _cell(path: str, line_number: int, field: Field) -> YScalar:
    """A cell typed as a YAML plain scalar would be (so the readers' messages are the
    scenario's: a bare number, a wrong unit) and located."""
    column, text = field
    return YScalar(Location(path, line_number, column + 1), _typed(text), text, True)


def _typed(text: str) -> object:
    if _INTEGER.fullmatch(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


class _Rows:
    """Changes read so far, in columns; checks that times increase."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self._before = len(reader.problems)
        self.at: list[int] = []
        self.columns: dict[str, list[float]] = {key: [] for key in PROPERTIES}  # NaN: not given
        self._readers: dict[str, Callable[[YNode, str], float | None]] = {
            "latency": reader.duration, "bandwidth": reader.bandwidth, "loss": reader.probability}

    @property
    def count(self) -> int:
        return len(self.at)

    @property
    def complete(self) -> bool:
        """Was every change read without a problem?"""
        return len(self.reader.problems) == self._before

    def add(self, time_node: YNode, time_what: str,
            values: dict[str, tuple[YNode | None, str]]) -> None:
        at = self.reader.duration(time_node, time_what)
        if at is not None and self.at and at <= self.at[-1]:
            self.reader.report(time_node, f"{time_what} must be later than the one before "
                                          f"({format_duration(self.at[-1])}), found "
                                          f"{describe(time_node)}",
                               "changes are listed in the order they happen")
            at = None
        read = {key: math.nan for key in PROPERTIES}
        for key, (node, what) in values.items():
            if node is not None:
                value = self._readers[key](node, what)
                read[key] = math.nan if value is None else value
        if at is None:
            return
        self.at.append(at)
        for key in PROPERTIES:
            self.columns[key].append(read[key])

    def schedule(self, location: Location) -> LinkSchedule | None:
        if not self.at:
            return None
        # Latencies stay Python integers until here: a float would round those above 2^53 ns.
        latency = [-1 if math.isnan(value) else int(value) for value in self.columns["latency"]]
        return LinkSchedule(
            at_ns=array("q", self.at),
            latency_ns=array("q", latency),
            bandwidth_bps=array("d", self.columns["bandwidth"]),
            loss=array("d", self.columns["loss"]),
            location=location,
        )
