"""A sensor's traffic beyond the fixed and periodic: payload sizes drawn from a distribution
(``payload: {exponential: 200B}``) and the arrival processes ``on_off`` and ``trace``
(``process: {on_off: {on_time: 2s, off_time: 8s}}``, ``process: {trace: FILE}``).

The kernel's side is ``xedgesim/models/traffic.py``; the semantics are in docs/simulation.md,
"Arrival processes" and "Payload sizes".
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from xedgesim.scenario import limits
from xedgesim.scenario.csv_rows import Field, located_rows
from xedgesim.scenario.distributions import reach, read_distribution
from xedgesim.scenario.model import Distribution, Location, OnOff, Process, Trace
from xedgesim.scenario.reader import Reader, english_list
from xedgesim.scenario.yaml_tree import YMap, YNode

SIMPLE_PROCESSES = ("periodic", "poisson")  # written alone: process: poisson
ON_OFF_KEYS = ("on_time", "off_time")
TRACE_COLUMNS = ("time_s", "instance")
TRACE_WINDOW_NS = 1_000_000_000
"""A trace's emissions go out one second at a time (a window; it changes no result)."""
_NS_PER_S = Decimal(1_000_000_000)


def read_payload(reader: Reader, node: YNode, what: str,
                 drawn: bool) -> tuple[int, Distribution | None] | None:
    """``(bytes, None)`` for a fixed size, ``(largest, sizes)`` for sizes drawn per message;
    ``drawn`` says whether this node may draw them (a sensor) or has one size (a gateway)."""
    if not isinstance(node, YMap):
        size = reader.size(node, what)
        return None if size is None else (size, None)
    if not drawn:
        reader.report(node, f"{what} must be one size such as '128B', found a mapping",
                      "sizes drawn from a distribution are for sensors; an aggregate has one")
        return None
    sizes = read_distribution(reader, node, what, "size")
    if sizes is None:
        return None
    if sizes.kind == "constant":  # the same as writing the size: no stream, no draws
        if sizes.params[0] <= 0:
            reader.report(node, f"{what} must be greater than zero")
            return None
        return math.ceil(sizes.params[0]), None
    largest = reach(sizes)
    if largest > limits.MAX_DRAWN_PAYLOAD_BYTES:
        reader.report(
            node,
            f"{what} can draw {largest:,.0f} bytes, more than the "
            f"{limits.MAX_DRAWN_PAYLOAD_BYTES:,} bytes of MQTT's largest message",
            "an exponential draws up to 40 means, a normal up to its mean plus 40 standard "
            "deviations; see 'Limits' in docs/scenario.md",
        )
        return None
    return max(1, math.ceil(largest)), sizes


def read_process(reader: Reader, node: YNode, what: str,
                 count: int) -> tuple[Process, OnOff | Trace | None] | None:
    """The arrival process of a sensor with ``count`` instances, and its parameters."""
    if not isinstance(node, YMap):
        choice = reader.choice(node, what, SIMPLE_PROCESSES + tuple(PROCESS_MODELS))
        if choice in PROCESS_MODELS:
            example = ("{on_off: {on_time: 2s, off_time: 8s}}" if choice == "on_off"
                       else "{trace: arrivals.csv}")
            reader.report(node, f"{what}: {choice} takes parameters", f"write {example}")
            return None
        return None if choice is None else (choice, None)  # type: ignore[return-value]
    reader.check_keys(node, PROCESS_MODELS, what)
    given = [entry for entry in node if entry.key.value in PROCESS_MODELS]
    if len(given) != 1:
        if len(given) > 1:
            reader.report(given[1].key, f"{what} gives several processes; give one")
        elif not node.entries:
            reader.report(node, f"{what} must name a process: "
                          f"{english_list(PROCESS_MODELS, 'or')}",
                          f"{english_list(SIMPLE_PROCESSES, 'and')} are written alone")
        return None
    model, value = str(given[0].key.value), given[0].value
    arrivals = PROCESS_MODELS[model](reader, value, f"'{model}' of {what}", count)
    return None if arrivals is None else (model, arrivals)  # type: ignore[return-value]


def _on_off(reader: Reader, node: YNode, what: str, count: int) -> OnOff | None:
    ymap = reader.mapping(node, what, "{on_time: 2s, off_time: 8s}")
    if ymap is None:
        return None
    bare = [entry.key for entry in ymap
            if isinstance(entry.key.value, bool) and entry.key.text in ("on", "off")]
    for key_node in bare:
        reader.report(key_node, f"unknown key '{key_node.text}' in {what}",
                      f"write {key_node.text}_time: YAML reads a bare on or off as true or false")
    reader.check_keys(ymap, (*ON_OFF_KEYS, True, False), what)
    on_ns, off_ns = reader.positive_durations(
        ymap, ON_OFF_KEYS, what, reported={f"{node.text}_time" for node in bare})
    if on_ns is None or off_ns is None:
        return None
    return OnOff(on_ns, off_ns)


def _trace(reader: Reader, node: YNode, what: str, count: int) -> Trace | None:
    """The trace file named by ``node``, relative to the scenario's directory, read whole."""
    found = reader.trace(node, what)
    if found is None:
        return None
    path, text = found
    return _trace_rows(reader, path, text, count)


def _trace_rows(reader: Reader, path: str, text: str, count: int) -> Trace | None:
    """Header ``time_s[,instance]`` (either order), then one row per emission; ``#`` lines
    and blank lines are skipped. Every problem is located ``file:line:column``."""
    before = len(reader.problems)
    times, instances = array("q"), array("q")
    columns: list[str] = []
    last_ns, last_line = 0, 0

    def header(number: int, fields: list[Field]) -> list[str] | None:
        names = _header(reader, path, number, fields)
        columns.extend(names or ())
        return names

    for number, row in located_rows(reader, path, text, "the trace", limits.MAX_TRACE_ROWS,
                                    header, "a trace starts with the header time_s (or "
                                            "time_s,instance)"):
        time_ns = _time(reader, path, number, row["time_s"])
        instance = 0
        if "instance" in row:
            instance = _instance(reader, path, number, row["instance"], count)
        if time_ns is None or instance is None:
            continue
        if time_ns < last_ns:
            reader.report(Location(path, number, row["time_s"][0] + 1),
                          f"the trace goes back in time: {row['time_s'][1]} s after "
                          f"{last_ns / 1e9:g} s at line {last_line}",
                          "rows are emissions in time order")
            continue
        last_ns, last_line = time_ns, number
        times.append(time_ns)
        instances.append(instance)
    if len(reader.problems) > before:
        return None
    return Trace(path, times, instances if "instance" in columns else None)


def _header(reader: Reader, path: str, number: int, fields: list[Field]) -> list[str] | None:
    names = [text for _, text in fields]
    problem = None
    if "time_s" not in names:
        problem = "has no column 'time_s'"
    for column, name in fields:
        if name not in TRACE_COLUMNS or names.count(name) > 1:
            which = "a second" if name in TRACE_COLUMNS else "an unknown"
            reader.report(Location(path, number, column + 1),
                          f"the trace's header has {which} column '{name}'",
                          f"the columns are {english_list(TRACE_COLUMNS)}")
            return None
    if problem is not None:
        reader.report(Location(path, number, 1), f"the trace's header {problem}",
                      "the first row names the columns: time_s (or time_s,instance)")
        return None
    return names


def _time(reader: Reader, path: str, number: int, field: Field) -> int | None:
    """Seconds as a decimal number, read exactly and rounded to the nearest nanosecond."""
    column, text = field
    try:
        seconds = Decimal(text)
    except InvalidOperation:
        seconds = Decimal("NaN")
    if not seconds.is_finite() or seconds < 0 or seconds * _NS_PER_S >= limits.MAX_DURATION_NS:
        reader.report(Location(path, number, column + 1),
                      f"'time_s' of the trace must be a number of seconds from 0 to below "
                      f"2^61 ns, found {text!r}")
        return None
    return int((seconds * _NS_PER_S).to_integral_value())


def _instance(reader: Reader, path: str, number: int, field: Field, count: int) -> int | None:
    column, text = field
    if not (text.isascii() and text.isdigit()) or len(text) > 18 or int(text) >= count:
        reader.report(Location(path, number, column + 1),
                      f"'instance' of the trace must be a whole number from 0 to {count - 1} "
                      f"(the sensor's count is {count}), found {text!r}")
        return None
    return int(text)


# The processes that take parameters (process: {<name>: …}), each with the reader of them;
# the kernel's side of each is in xedgesim/models/traffic.py (``arrivals_of``).
PROCESS_MODELS: dict[str, Callable[[Reader, YNode, str, int], OnOff | Trace | None]] = {
    "on_off": _on_off,
    "trace": _trace,
}
