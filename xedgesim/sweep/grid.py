"""The grid of a sweep: values put into the scenario as the user wrote it, and its points.

A parameter is a path into the scenario file and the values it takes, from ``--set
PATH=V1,V2`` or from a grid file (``PATH: [V1, V2]``, one per line). Paths name what the user
wrote: mapping keys (``network.default.loss``), nodes by id (``nodes.sensors.count``), links by
their two ends in either order (``network.links[gw1,cloud].latency``) and any list entry by its
index (``faults.0.at``); brackets are needed only where an id has a dot in it.

Values are typed by YAML as in a scenario (``0.01``, ``100``, ``5ms``, ``{exponential: 2ms}``)
and put into the parsed tree with their own location, so the loader, which checks each point
exactly as ``xedge validate`` checks a file, reports a bad value at its place in the grid
file, or names the ``--set`` option it came from. Every problem of every point is reported
before anything runs (exit 2).

The points are the cartesian product of the parameters, the first varying slowest. Each point
is a whole scenario text (``points/<id>.yaml`` in the sweep's directory): ``xedge simulate``
of it with ``--seed k`` gives the same ``summary.json`` as the sweep's (point, k) task.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

import yaml

from xedgesim.bounded import Unreadable, read_bounded
from xedgesim.errors import BadInput
from xedgesim.limits import MAX_GRID_BYTES, MAX_GRID_PARAMETERS, MAX_SWEEP_TASKS
from xedgesim.scenario import Location, Problem, ScenarioError, load_scenario_text
from xedgesim.scenario.legacy import LEGACY_MARKER
from xedgesim.scenario.limits import MAX_FILE_BYTES
from xedgesim.scenario.loader import load_scenario, load_scenario_tree
from xedgesim.scenario.model import Trace
from xedgesim.scenario.network import link_traces
from xedgesim.scenario.yaml_tree import YEntry, YInvalid, YMap, YNode, YScalar, YSeq, parse_yaml

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
Step = str | int  # a mapping key or a list index


class GridError(BadInput):
    """The grid cannot be used: every problem found, each with its place, nothing run."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems) + f"\n{len(problems)} problem"
                         f"{'s' if len(problems) != 1 else ''} in the sweep, nothing was run")


@dataclass(frozen=True)
class Parameter:
    """One swept value: its path, where it was given, and the values it takes."""

    path: str
    where: Location  # the grid file's key, or the option (line 0: shown as the option text)
    values: tuple[YNode, ...]

    def plain_values(self) -> list[object]:
        return [plain(value) for value in self.values]


@dataclass(frozen=True)
class Point:
    """One scenario of the grid: its id, its parameter values, its whole text."""

    id: str
    parameters: dict[str, object]
    text: str

    @property
    def file(self) -> str:
        return f"points/{self.id}.yaml"


def option_parameter(option: str) -> Parameter:
    """``PATH=V1,V2,…`` of ``--set`` -> a parameter whose values are located at the option."""
    where = Location(f"--set {option}", 0, 0)
    path, equals, values = option.partition("=")
    path = path.strip()
    if not equals or not path:
        raise GridError([f"{where}: expected PATH=VALUE[,VALUE…], e.g. "
                         "network.default.loss=0,0.01"])
    if not values.strip():
        raise GridError([f"{where}: no value after '='"])
    root, problems = parse_yaml(f"[{values}]", where.file)
    if problems or not isinstance(root, YSeq):
        detail = f" ({problems[0].message})" if problems else ""
        raise GridError([f"{where}: the values are not YAML separated by commas{detail}"])
    for item in root.items:
        _relocate(item, where)
    return Parameter(path, where, tuple(root.items))


def read_grid(path: Path) -> list[Parameter]:
    """A grid file (``PATH: [values]`` or ``PATH: value`` per line) -> its parameters."""
    name = str(path)
    try:
        data = read_bounded(path, MAX_GRID_BYTES)
    except Unreadable as error:
        reason = {"directory": "it is a directory", "special": "it is not a regular file",
                  "too_large": f"it is larger than {MAX_GRID_BYTES // 1024} KiB"}
        raise GridError([f"{name}: cannot read the grid: "
                         f"{reason.get(error.kind, error.reason)}"]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise GridError([f"{name}: the grid is not UTF-8 text"]) from None
    root, problems = parse_yaml(text, name)
    if problems:
        raise GridError([str(problem) for problem in problems])
    if not isinstance(root, YMap) or not root.entries:
        where = root.location if root is not None else Location(name, 1, 1)
        raise GridError([f"{where}: a grid is a mapping of scenario paths to lists of values, "
                         "e.g. 'network.default.loss: [0, 0.01]'"])
    parameters = []
    for entry in root:
        if not isinstance(entry.key.value, str):
            raise GridError([f"{entry.key.location}: a grid key is a path into the scenario, "
                             f"found {entry.key.text!r}"])
        value = entry.value
        values = tuple(value.items) if isinstance(value, YSeq) else (value,)
        if not values:
            raise GridError([f"{value.location}: '{entry.key.value}' has no values"])
        parameters.append(Parameter(entry.key.value, entry.key.location, values))
    return parameters


@dataclass(frozen=True)
class Grid:
    points: list[Point]
    scenario: str  # its name
    sha256: str  # of the scenario file's bytes


def build_points(scenario_file: Path, parameters: list[Parameter], seeds: int) -> Grid:
    """Every point of the grid, each checked as ``xedge validate`` checks a file. Raises
    ``GridError`` with every problem (``ScenarioError`` for the scenario itself) before
    anything runs."""
    name = str(scenario_file)
    base = load_scenario(scenario_file)  # the scenario alone, reported as validate would
    traced = [spec for spec in base.nodes if isinstance(getattr(spec.params, "arrivals", None),
                                                         Trace)]
    if traced:  # a point runs from its text alone, anywhere: a trace is another file
        raise GridError([f"{spec.location}: node '{spec.id}' replays a trace file, and a sweep "
                         "runs each point from its scenario text alone (use xedge simulate "
                         "--seeds)" for spec in traced])
    data = read_bounded(scenario_file, MAX_FILE_BYTES)  # the loader read it just now
    digest = hashlib.sha256(data).hexdigest()
    root, _ = parse_yaml(data.decode("utf-8-sig"), name)
    assert isinstance(root, YMap)  # it loaded
    _check_sizes(parameters, seeds)
    problems: list[str] = []
    steps = []
    for parameter in parameters:
        try:
            steps.append(resolve(root, parameter.path))
        except LookupError as error:
            problems.append(f"{parameter.where}: {error}")
    problems += _overlaps(parameters)
    if problems:
        raise GridError(problems)
    points = []
    width = len(str(max(0, _count(parameters) - 1)))
    for number, combination in enumerate(itertools.product(*(p.values for p in parameters))):
        tree: YNode = root
        for keys, value in zip(steps, combination, strict=True):
            tree = _with(tree, keys, value)
        values = {p.path: plain(v) for p, v in zip(parameters, combination, strict=True)}
        point_id = f"p{number:0{width}d}"
        shown = ", ".join(f"{path}={_show(value)}" for path, value in values.items())
        try:
            scenario = load_scenario_tree(tree, name)
        except ScenarioError as error:
            problems += [f"{problem} (point {point_id}: {shown})" for problem in error.problems]
            continue
        assert isinstance(tree, YMap)  # it loaded
        traces = link_traces(tree)
        if traces:  # as for a node's trace above: the points would not carry the file
            problems += [f"{node.location}: a link replays a trace file, and a sweep runs each "
                         "point from its scenario text alone (write its changes as a "
                         "'schedule:', or use xedge simulate --seeds)" for node in traces]
            continue
        document = plain(tree)
        assert isinstance(document, dict)
        if "name" not in document and LEGACY_MARKER not in document:
            # the name came from the file name: keep it, not points/<id>
            document = {"name": scenario.name, **document}
        text = f"# {base.name}, point {point_id} of a sweep: {shown or 'no parameters'}\n"
        text += yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
        try:
            load_scenario_text(text, point_id)
        except ScenarioError as error:  # the text does not say what the tree said: a bug
            raise AssertionError(f"point {point_id} does not load back: {error}") from None
        points.append(Point(point_id, values, text))
    if problems:
        raise GridError(_unique(problems))
    return Grid(points, base.name, digest)


def resolve(root: YNode, path: str) -> list[Step]:
    """The keys and indexes ``path`` walks in ``root``; ``LookupError`` says where it fails.

    The last key may be missing from its mapping (it is added; the loader judges it)."""
    steps: list[Step] = []
    node: YNode | None = root
    rest = path
    walked = "the scenario"
    while True:
        if isinstance(node, YMap):
            match = _KEY.match(rest)
            if not match:
                raise LookupError(f"expected a key of {walked} at {rest[:40]!r}")
            key = match[0]
            rest = rest[len(key):]
            if key == "seed" and not steps:
                raise LookupError("the seed is not a parameter: give the seeds with --seeds")
            if key not in node.entries and rest:
                known = ", ".join(str(k) for k in node.entries) or "nothing"
                raise LookupError(f"{walked} has no '{key}' (it has: {known})")
            steps.append(key)
            node = node.get(key)
            walked = f"'{'.'.join(str(s) for s in steps)}'"
        elif isinstance(node, YSeq):
            index, rest = _select(node, rest, walked)
            steps.append(index)
            node = node.items[index]
            walked = f"{walked}[{_label(node) or index}]"
        else:
            raise LookupError(f"{walked} is a single value: the path cannot go below it "
                              f"(left: {rest[:40]!r})")
        if not rest:
            return steps
        if rest.startswith("."):
            rest = rest[1:]
        elif not rest.startswith("["):
            raise LookupError(f"expected '.' or '[' after {walked}, found {rest[:40]!r}")
        if not rest:
            raise LookupError(f"the path ends with '.' after {walked}")
        if node is None:
            raise LookupError(f"{walked} is not in the scenario: the path cannot go below it")


def _select(seq: YSeq, rest: str, walked: str) -> tuple[int, str]:
    """The entry of a list that ``rest`` starts with: ``[selector]``, or an index, a node id
    or ``a,b`` (a link's ends) followed by '.' or the end of the path."""
    labels: dict[str, list[int]] = {}
    for index, item in enumerate(seq.items):
        for label in _labels(item, index):
            labels.setdefault(label, []).append(index)
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise LookupError(f"'[' without ']' after {walked}")
        wanted, rest = rest[1:end].replace(" ", ""), rest[end + 1:]
    else:
        candidates = [label for label in labels
                      if rest == label or rest.startswith(label + ".")]
        if not candidates:
            wanted, _, _ = rest.partition(".")
        else:
            wanted = max(candidates, key=len)
        rest = rest[len(wanted):]
    found = labels.get(wanted, [])
    if len(found) != 1:
        shown = ", ".join(label for label in labels if not label.isdigit())
        if not found:
            return _missing(seq, wanted, walked, shown)
        raise LookupError(f"{walked} has {len(found)} entries named {wanted!r}: use the index")
    return found[0], rest


def _missing(seq: YSeq, wanted: str, walked: str, shown: str) -> tuple[int, str]:
    if wanted.isdigit():
        raise LookupError(f"{walked} has {len(seq.items)} entries (0 to {len(seq.items) - 1}), "
                          f"not {wanted}")
    raise LookupError(f"{walked} has no entry {wanted!r}"
                      f"{f' (it has: {shown})' if shown else ''}")


def _labels(item: YNode, index: int) -> list[str]:
    """How an entry of a list can be named: its index, its id, a link's ends either way."""
    labels = [str(index)]
    if not isinstance(item, YMap):
        return labels
    label = _label(item)
    if label:
        labels.append(label)
        a, _, b = label.partition(",")
        if b:
            labels.append(f"{b},{a}")
    return labels


def _label(item: YNode) -> str | None:
    if not isinstance(item, YMap):
        return None
    ident = item.get("id")
    if isinstance(ident, YScalar) and isinstance(ident.value, (str, int)):
        return str(ident.value)
    ends = item.get("between")
    if isinstance(ends, YSeq) and len(ends.items) == 2 and \
            all(isinstance(end, YScalar) for end in ends.items):
        return ",".join(str(end.value) for end in ends.items)  # type: ignore[attr-defined]
    a, b = item.get("from"), item.get("to")
    if isinstance(a, YScalar) and isinstance(b, YScalar) and "action" not in item:
        return f"{a.value},{b.value}"
    return None


def _with(node: YNode | None, keys: list[Step], value: YNode) -> YNode:
    """``node`` with ``value`` at ``keys``: copies along the path, shares everything else."""
    if not keys:
        return value
    step, rest = keys[0], keys[1:]
    if isinstance(node, YMap):
        entries: dict[Hashable, YEntry] = dict(node.entries)
        old = entries.get(step)
        key = old.key if old is not None else YScalar(value.location, step, str(step), True)
        entries[step] = YEntry(key, _with(old.value if old else None, rest, value))
        return YMap(node.location, entries)
    assert isinstance(node, YSeq) and isinstance(step, int)
    items = list(node.items)
    items[step] = _with(items[step], rest, value)
    return YSeq(node.location, items)


def plain(node: YNode | None) -> object:
    """A tree as plain Python data (what ``yaml.safe_dump`` writes back)."""
    if isinstance(node, YMap):
        return {entry.key.value: plain(entry.value) for entry in node}
    if isinstance(node, YSeq):
        return [plain(item) for item in node.items]
    if isinstance(node, YScalar):
        return node.value
    assert node is None or isinstance(node, YInvalid)
    return None


def _relocate(node: YNode, where: Location) -> None:
    node.location = where
    if isinstance(node, YSeq):
        for item in node.items:
            _relocate(item, where)
    elif isinstance(node, YMap):
        for entry in node:
            entry.key.location = where
            _relocate(entry.value, where)


def _check_sizes(parameters: list[Parameter], seeds: int) -> None:
    if len(parameters) > MAX_GRID_PARAMETERS:
        raise GridError([f"{parameters[MAX_GRID_PARAMETERS].where}: a sweep has at most "
                         f"{MAX_GRID_PARAMETERS} parameters"])
    tasks = _count(parameters) * seeds
    if tasks > MAX_SWEEP_TASKS:
        sizes = " × ".join(str(len(p.values)) for p in parameters)
        raise GridError([f"the sweep is {sizes or 1} points × {seeds:,} seeds = {tasks:,} runs; "
                         f"at most {MAX_SWEEP_TASKS:,} (see 'Grid paths' in docs/experiments.md)"])


def _count(parameters: list[Parameter]) -> int:
    count = 1
    for parameter in parameters:
        count *= len(parameter.values)
        if count > MAX_SWEEP_TASKS:  # a product of many lists stays a small number here
            return MAX_SWEEP_TASKS + 1
    return count


def _overlaps(parameters: list[Parameter]) -> list[str]:
    """A value set twice, or inside another parameter's value, has no single meaning."""
    problems = []
    for i, first in enumerate(parameters):
        for second in parameters[i + 1:]:
            if first.path == second.path or second.path.startswith(first.path + ".") \
                    or first.path.startswith(second.path + "."):
                problems.append(f"{second.where}: '{second.path}' overlaps '{first.path}' "
                                f"({first.where}): give each value once")
    return problems


def _show(value: object) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix(
        "\n...").removesuffix(" ...")


def _unique(lines: list[str]) -> list[str]:
    return list(dict.fromkeys(lines))


def identity(points: list[Point], seeds: list[int], digest: str, version: str) -> str:
    """A hash of what the sweep computes: a store of finished tasks is reused only for it."""
    hasher = hashlib.sha256(f"{version}\n{digest}\n{seeds}\n".encode())
    for point in points:
        hasher.update(f"{point.id}\n{point.text}\n".encode())
    return hasher.hexdigest()


__all__ = ["GridError", "Parameter", "Point", "Problem", "build_points", "option_parameter",
           "read_grid", "resolve"]
