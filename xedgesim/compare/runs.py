"""Run and sweep directories -> the metrics ``xedge compare`` judges, read defensively.

A run directory (``xedge simulate``, a hybrid run, a fleet run) holds ``summary.json``; a sweep
directory (``xedge simulate --seeds``) holds one directory per seed, each with its own
``summary.json``, and is read as a distribution; so is one point of a grid sweep (``xedge
sweep``), ``summaries/<point>/``, which holds ``seed-<k>.json`` files. A whole grid sweep is
many scenarios, not one distribution: it is refused, saying which points to compare. Either
may come from another machine or another version, so every file is read bounded and every
value is checked before use; a bad one is an error naming the file and the field, never a
traceback.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from xedgesim import bounded
from xedgesim.errors import BadInput

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_SWEEP_RUNS = 10_000
MAX_DIRECTORY_ENTRIES = 100_000
MAX_NAME_CHARS = 200
WINDOWS_FIELD = "aggregation_windows_s"  # summary.json: {gateway group: aggregate_every in s}
QUANTILES = ("p50", "p95", "p99")
_POINT_SUMMARY = re.compile(r"seed-\d{1,20}\.json")  # summaries/<point>/ of a grid sweep


class CompareInputError(BadInput):
    """An input of ``compare`` cannot be used; the message names the file (and field)."""


@dataclass(frozen=True)
class Metric:
    """One measured value and what its tolerance rule needs to know about it."""

    kind: str  # count | rate | ratio | quantile
    value: float
    successes: int = 0  # ratio: the numerator
    trials: int = 0  # ratio: the denominator; quantile: how many samples it summarises
    quantum: float = 1.0  # rate: the amount one message adds (1, or its bytes)


@dataclass(frozen=True)
class Run:
    """A run directory, or a sweep directory (``len(samples) >= 2``) read as a distribution."""

    path: Path
    scenario: str
    mode: str
    seeds: tuple[int | None, ...]
    duration_s: float
    window_s: float | None  # the largest aggregation window the runs record, if they do
    samples: tuple[dict[str, Metric], ...]  # one metric table per run
    files: tuple[Path, ...]  # the summary files read, so outputs never overwrite them
    sweep: bool

    def describe(self) -> str:
        if self.sweep:
            return (f"{self.path} ({self.scenario}, sweep of {len(self.samples)} runs, "
                    f"{self.mode}, {self.duration_s:g}s)")
        return f"{self.path} ({self.scenario}, seed {self.seeds[0]}, {self.mode}, " \
               f"{self.duration_s:g}s)"


def read_run(path: Path) -> Run:
    """A run directory (it has ``summary.json``) or a sweep (``sweep.json`` or seed directories).

    A sweep's runs are found by their ``summary.json`` files one level down, whatever the
    directories are called; hidden directories (a sweep's unfinished staging) are skipped.
    """
    path = Path(path)
    if not path.exists():
        raise CompareInputError(f"{path}: no such run directory")
    if not path.is_dir():
        raise CompareInputError(
            f"{path}: not a directory (give a run directory, which holds summary.json, "
            "or a sweep directory written by 'xedge simulate --seeds')")
    if not (path / "sweep.json").exists() and (path / "summary.json").exists():
        file = path / "summary.json"
        return _run_of(path, [(file, _load_summary(file))], sweep=False)
    if (path / "sweep.json").exists() and (path / "summaries").is_dir():
        raise CompareInputError(_grid_sweep_message(path))
    found = _seed_summaries(path) or _point_summaries(path)
    if not found:
        raise CompareInputError(
            f"{path}: neither a run directory (no summary.json) nor a sweep (no directory in it "
            "holds a summary.json)")
    if len(found) < 2:
        raise CompareInputError(
            f"{path}: a sweep of {len(found)} run gives no prediction interval; it needs at "
            "least 2 (xedge simulate S.yaml --seeds 1..20)")
    return _run_of(path, [(file, _load_summary(file)) for file in found], sweep=True)


def _seed_summaries(path: Path) -> list[Path]:
    found = []
    try:
        with os.scandir(path) as entries:
            for number, entry in enumerate(entries):
                if number >= MAX_DIRECTORY_ENTRIES:
                    raise CompareInputError(
                        f"{path}: more than {MAX_DIRECTORY_ENTRIES:,} entries; not a sweep")
                if entry.name.startswith(".") or not entry.is_dir():
                    continue
                summary = Path(entry.path) / "summary.json"
                if summary.is_file():
                    found.append(summary)
                if len(found) > MAX_SWEEP_RUNS:
                    raise CompareInputError(f"{path}: more than {MAX_SWEEP_RUNS:,} runs")
    except OSError as error:
        raise CompareInputError(f"{path}: cannot read: {error.strerror or error}") from None
    return sorted(found, key=lambda file: _natural_key(file.parent.name))


def _point_summaries(path: Path) -> list[Path]:
    """The ``seed-<k>.json`` summaries of one point of a grid sweep, in seed order."""
    found = []
    for number, file in enumerate(path.glob("seed-*.json")):
        if number >= MAX_SWEEP_RUNS:
            raise CompareInputError(f"{path}: more than {MAX_SWEEP_RUNS:,} runs")
        if _POINT_SUMMARY.fullmatch(file.name) and file.is_file():
            found.append(file)
    return sorted(found, key=lambda file: _natural_key(file.name))


def _grid_sweep_message(path: Path) -> str:
    """Why a grid sweep is refused, and the points that can be compared instead."""
    points = sorted((entry.name for entry in (path / "summaries").iterdir()
                     if entry.is_dir() and not entry.name.startswith(".")), key=_natural_key)
    shown = ", ".join(points[:5]) + (", …" if len(points) > 5 else "")
    first = points[0] if points else "<point>"
    return (f"{path}: a grid sweep (sweep.json has a grid): each of its points is another "
            f"scenario, so it is not one distribution to compare; compare one point at a "
            f"time with a run, e.g. 'xedge compare {path / 'summaries' / first} RUN' (points: "
            f"{shown or 'none'}; their parameters are in {path / 'sweep.json'})")


def _natural_key(name: str) -> list[tuple[int, int | str]]:
    """seed-2 before seed-10."""
    return [(0, int(part)) if part.isdigit() else (1, part)
            for part in re.split(r"(\d+)", name) if part]


def _run_of(path: Path, loaded: list[tuple[Path, dict]], *, sweep: bool) -> Run:
    tables, seeds, windows = [], [], []
    first_file, first = loaded[0]
    for file, summary in loaded:
        check = _Checker(file)
        tables.append(metrics_of(summary, file))
        seeds.append(check.optional_int(summary, "seed"))
        windows.extend(check.windows(summary))
        scenario = check.text(summary, "scenario")
        if scenario != check.text(first, "scenario"):
            raise CompareInputError(
                f"{path}: a sweep's runs must be of one scenario: {first_file} is "
                f"{first['scenario']!r}, {file} is {scenario!r}")
    check = _Checker(first_file)
    return Run(
        path=path,
        scenario=check.text(first, "scenario"),
        mode=check.text(first, "mode"),
        seeds=tuple(seeds),
        duration_s=check.number(first, "duration_s", "duration_s", positive=True),
        window_s=max(windows) if windows else None,
        samples=tuple(tables),
        files=tuple(file for file, _ in loaded),
        sweep=sweep,
    )


def metrics_of(summary: dict, file: Path) -> dict[str, Metric]:
    """Every compared metric of one ``summary.json``, by name, flows then clouds, sorted.

    Names follow the summary's own keys where it has them (``flows.F.delivered``,
    ``flows.F.latency_ms.p95``), so a name found in a report can be looked up in the file.
    """
    check = _Checker(file)
    metrics: dict[str, Metric] = {}
    flows = check.mapping(summary, "flows", "flows")
    for name in sorted(flows):
        where = f"flows.{check.name(name, 'flows')}"
        flow = check.mapping(flows, name, where)
        sent = check.count(flow, "sent", where)
        delivered = check.count(flow, "delivered", where)
        metrics[f"{where}.delivered"] = Metric("count", delivered)
        metrics[f"{where}.delivery_ratio"] = _ratio(delivered, sent)
        lost = check.mapping(flow, "lost", f"{where}.lost")
        for cause in sorted(lost):
            check.name(cause, f"{where}.lost")
            metrics[f"{where}.loss_ratio.{cause}"] = _ratio(
                check.count(lost, cause, f"{where}.lost"), sent)
        latency = check.mapping(flow, "latency_ms", f"{where}.latency_ms")
        samples = check.count(latency, "count", f"{where}.latency_ms")
        for q in QUANTILES:
            metrics[f"{where}.latency_ms.{q}"] = Metric(
                "quantile", check.number(latency, q, f"{where}.latency_ms"), trials=samples)
        throughput = check.mapping(flow, "throughput", f"{where}.throughput")
        per_s = check.number(throughput, "messages_per_s", f"{where}.throughput")
        bytes_per_s = check.number(throughput, "bytes_per_s", f"{where}.throughput")
        metrics[f"{where}.throughput.messages_per_s"] = Metric("rate", per_s)
        metrics[f"{where}.throughput.bytes_per_s"] = Metric(
            "rate", bytes_per_s, quantum=bytes_per_s / per_s if per_s else 1.0)
    ends = check.mapping(summary, "end_to_end_ms", "end_to_end_ms", required=False)
    for cloud in sorted(ends):  # only clouds record end-to-end ages
        where = f"cloud.{check.name(cloud, 'end_to_end_ms')}"
        ages = check.mapping(ends, cloud, f"end_to_end_ms.{cloud}")
        aggregates = check.count(ages, "count", f"end_to_end_ms.{cloud}")
        metrics[f"{where}.aggregates"] = Metric("count", aggregates)
        for q in QUANTILES:
            metrics[f"{where}.end_to_end_ms.{q}"] = Metric(
                "quantile", check.number(ages, q, f"end_to_end_ms.{cloud}"), trials=aggregates)
    return metrics


def _ratio(successes: int, trials: int) -> Metric:
    return Metric("ratio", successes / trials if trials else 0.0, successes, trials)


def _load_summary(file: Path) -> dict:
    data = read_bounded(file, "run summary")
    try:
        summary = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise CompareInputError(f"{file}: not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise CompareInputError(
            f"{file}:{error.lineno}:{error.colno}: invalid JSON: {error.msg}") from None
    except (ValueError, RecursionError) as error:  # NaN, a 5,000-digit number, deep nesting
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise CompareInputError(f"{file}: invalid JSON: {reason}") from None
    if not isinstance(summary, dict):
        raise CompareInputError(f"{file}: expected a JSON object, found {type(summary).__name__}")
    return summary


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def read_bounded(file: Path, what: str, limit: int | None = None) -> bytes:
    """A regular file's bytes, up to ``limit``: a FIFO never hangs us, a device is never read."""
    limit = MAX_FILE_BYTES if limit is None else limit
    try:
        return bounded.read_bounded(file, limit)
    except bounded.Unreadable as error:
        if error.kind in ("directory", "special"):
            raise CompareInputError(f"{file}: the {what} is not a regular file") from None
        if error.kind == "too_large":
            raise CompareInputError(
                f"{file}: the {what} is larger than {limit // 2**20} MiB") from None
        raise CompareInputError(f"{file}: cannot read the {what}: {error.reason}") from None


class _Checker:
    """Typed access to a summary's fields; a wrong one raises an error naming file and field."""

    def __init__(self, file: Path) -> None:
        self.file = file

    def _fail(self, field: str, expected: str, found: object) -> CompareInputError:
        shown = repr(found) if len(repr(found)) <= 60 else type(found).__name__
        return CompareInputError(f"{self.file}: {field}: expected {expected}, found {shown}")

    def mapping(self, tree: dict, key: str, field: str, *, required: bool = True) -> dict:
        if key not in tree and not required:
            return {}
        value = tree.get(key)
        if not isinstance(value, dict):
            raise self._fail(field, "an object", value)
        return value

    def count(self, tree: dict, key: str, where: str) -> int:
        value = tree.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
            raise self._fail(f"{where}.{key}", "a count (a whole number >= 0)", value)
        return value

    def number(self, tree: dict, key: str, where: str, *, positive: bool = False) -> float:
        value = tree.get(key)
        field = key if where == key else f"{where}.{key}"
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise self._fail(field, "a positive number" if positive else "a number >= 0", value)
        return float(value)

    def optional_int(self, tree: dict, key: str) -> int | None:
        value = tree.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, "a whole number", value)
        return value

    def text(self, tree: dict, key: str) -> str:
        value = tree.get(key)
        if not isinstance(value, str) or not _printable(value):
            raise self._fail(key, f"a name of at most {MAX_NAME_CHARS} printable characters",
                             value)
        return value

    def name(self, value: str, where: str) -> str:
        if not _printable(value):
            raise self._fail(f"{where}", f"names of at most {MAX_NAME_CHARS} printable "
                             "characters", value)
        return value

    def windows(self, summary: dict) -> list[float]:
        windows = self.mapping(summary, WINDOWS_FIELD, WINDOWS_FIELD, required=False)
        return [self.number(windows, self.name(group, WINDOWS_FIELD), WINDOWS_FIELD,
                            positive=True) for group in windows]


def _printable(text: str) -> bool:
    return 0 < len(text) <= MAX_NAME_CHARS and text.isprintable()
