"""What the figures and the report read from a run directory.

Only files xedge wrote: ``summary.json``, ``timeseries.csv``, ``latency.csv`` and
``scenario.yaml`` (for the fault windows). A run written before these files existed, or a
directory that is not a run, is refused with a sentence saying what to do.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xedgesim.bounded import Unreadable, read_bounded
from xedgesim.errors import BadInput
from xedgesim.rundir import read_marker

MAX_FILE_BYTES = 1024 * 1024 * 1024
"""Largest run file read for a figure (a 100,000-row time series of many flows is far below)."""
NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class FaultWindow:
    start_s: float
    end_s: float  # the run's end when the fault never ends
    label: str


@dataclass
class RunData:
    directory: Path
    marker: dict
    summary: dict
    series: dict[str, dict[str, np.ndarray]]  # flow -> column -> values (NaN: empty field)
    latency: dict[tuple[str, str], np.ndarray]  # (kind, name) -> rows of (low, high, count)
    faults: list[FaultWindow]
    scenario_text: str | None
    notes: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return float(self.summary["duration_s"])

    @property
    def warmup_s(self) -> float:
        """The scenario's warmup (0 without one: older runs and runs without ``warmup:``)."""
        return float(self.summary.get("warmup_s", 0.0))


def require_kind(directory: Path, kinds: tuple[str, ...]) -> dict:
    """The marker of an xedge run or sweep directory, or a clear refusal."""
    directory = Path(directory)
    if not directory.is_dir():
        raise BadInput(f"{directory} is not a directory: give a run or sweep directory "
                       "(xedge simulate --out)")
    marker = read_marker(directory)
    if marker is None:
        raise BadInput(f"{directory} is not an xedge run directory (it has no valid "
                       ".xedgesim-run.json): give the --out of xedge simulate")
    if marker["kind"] not in kinds:
        raise BadInput(f"{directory} is a run of `xedge {marker['kind']}`; pictures are drawn "
                       f"from runs of xedge simulate or a sweep")
    return marker


def read_text(path: Path) -> str:
    try:
        return read_bounded(path, MAX_FILE_BYTES).decode("utf-8")
    except Unreadable as error:
        if error.kind == "unreadable" and not path.exists():
            raise BadInput(f"{path} is missing: the run was written by an older xedge or "
                           "not by xedge simulate; run the scenario again") from None
        raise BadInput(f"cannot read {path}: {error.reason or error.kind}") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path} is not UTF-8 text") from None


def read_json(path: Path) -> dict:
    try:
        document = json.loads(read_text(path))
    except ValueError as error:
        raise BadInput(f"{path}: not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise BadInput(f"{path}: expected a JSON object")
    return document


def read_run(directory: Path) -> RunData:
    directory = Path(directory)
    marker = require_kind(directory, ("run",))
    summary = read_json(directory / "summary.json")
    if not isinstance(summary.get("flows"), dict) or "duration_s" not in summary:
        raise BadInput(f"{directory / 'summary.json'}: not the summary of an xedge run")
    data = RunData(directory, marker, summary, _series(directory / "timeseries.csv"),
                   _latency(directory / "latency.csv"), [], None)
    scenario = directory / "scenario.yaml"
    if scenario.is_file():
        data.scenario_text = read_text(scenario)
        data.faults = _fault_windows(data, scenario)
    else:
        data.notes.append("no scenario.yaml in the run: fault windows are not shaded")
    return data


def _rows(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    missing = [name for name in columns if name not in (reader.fieldnames or [])]
    if missing:
        raise BadInput(f"{path}:1: missing column(s) {', '.join(missing)}")
    return [(reader.line_num, row) for row in reader]


def _number(path: Path, line: int, text: str | None) -> float:
    if text is None:
        raise BadInput(f"{path}:{line}: the row is too short")
    if text == "":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise BadInput(f"{path}:{line}: {text!r} is not a number") from None


def _series(path: Path) -> dict[str, dict[str, np.ndarray]]:
    from xedgesim.sim.faults import CAUSES
    from xedgesim.timeseries import columns as required

    rows = _rows(path, required())
    present = set(rows[0][1]) if rows else set()
    # A cause a feature adds (overflow, battery) has a column only in the runs that use it.
    numeric = required(cause for cause in CAUSES if f"lost_{cause}" in present)[1:]
    columns: dict[str, dict[str, list[float]]] = {}
    for line, row in rows:
        flow = columns.setdefault(row["flow"], {name: [] for name in numeric})
        for name in numeric:
            flow[name].append(_number(path, line, row[name]))
    return {flow: {name: np.array(values) for name, values in table.items()}
            for flow, table in columns.items()}


def _latency(path: Path) -> dict[tuple[str, str], np.ndarray]:
    found: dict[tuple[str, str], list[list[float]]] = {}
    for line, row in _rows(path, ("kind", "name", "low_ns", "high_ns", "count")):
        values = [_number(path, line, row[name]) for name in ("low_ns", "high_ns", "count")]
        found.setdefault((row["kind"], row["name"]), []).append(values)
    return {key: np.array(rows) for key, rows in found.items()}


def _fault_windows(data: RunData, scenario: Path) -> list[FaultWindow]:
    """Each fault's window, as the run's fault timeline computed it."""
    from xedgesim.scenario import ScenarioError
    from xedgesim.scenario.legacy import LEGACY_MARKER
    from xedgesim.scenario.loader import load_scenario_tree
    from xedgesim.scenario.yaml_tree import YMap, parse_yaml
    from xedgesim.sim.faults import FaultTimeline
    from xedgesim.sim.topology import Topology

    root, _ = parse_yaml(data.scenario_text or "", str(scenario))
    if isinstance(root, YMap) and LEGACY_MARKER not in root:
        # The faults need the nodes only, and a link's trace is named relative to where the
        # scenario was, not to this copy of it.
        root = YMap(root.location, {key: entry for key, entry in root.entries.items()
                                    if key != "network"})
    try:
        loaded = load_scenario_tree(root, str(scenario))
    except ScenarioError as error:
        data.notes.append(f"{scenario} does not load ({len(error.problems)} problem(s)): "
                          "fault windows are not shaded")
        return []
    timeline = FaultTimeline(loaded.faults, Topology(loaded))
    end = data.duration_s

    def window(start: int, stop: int, label: str) -> FaultWindow:
        return FaultWindow(start / NS_PER_S, min(stop / NS_PER_S, end), label)

    windows = [window(o.start, o.end, f"{group} down") for group, outages
               in timeline.node_outages.items() for o in outages]
    windows += [window(start, stop, f"link {'–'.join(sorted(pair))} down")
                for pair, spans in timeline.link_outages.items() for start, stop in spans]
    windows += [window(p.start, p.end, "partition") for p in timeline.partitions]
    return sorted((w for w in windows if w.start_s < end),
                  key=lambda w: (w.start_s, w.end_s, w.label))
