"""Run output: the files of a run directory and the terminal summary.

Files of a run directory (written all at once or not at all: :mod:`xedgesim.rundir`):

* ``summary.json`` - everything measured; byte-identical for the same scenario and seed;
* ``nodes.csv``    - counters per node instance; byte-identical too;
* ``records.csv``  - with ``--records``, one row per delivered or lost message; byte-identical;
* ``timeseries.csv`` - per flow and per second: sent, delivered, lost, latency, queue; too;
* ``latency.csv``  - the latency histograms behind the percentiles (flows, end to end); too;
* ``scenario.yaml`` - the scenario file the run was loaded from, for plots and reports;
* ``timing.json``  - wall time and events per second: the only file that differs between runs;
* ``logs/``        - one log file per container node, when the scenario has any;
* ``.xedgesim-run.json`` - the marker: what made the directory and what it holds.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from itertools import repeat
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from xedgesim import atomic
from xedgesim.metrics import FlowStats
from xedgesim.scenario.model import instance_id_format
from xedgesim.sim.energy import joules_text
from xedgesim.sim.faults import ALWAYS_REPORTED, CAUSES, FAULT_CAUSES
from xedgesim.sim.messages import MessageBatch
from xedgesim.simulation import RunResult
from xedgesim.timeseries import write_timeseries
from xedgesim.units import seconds_text


def write_json(path: Path, data: dict) -> None:
    """JSON that every reader accepts: a value that is not a finite number (an undefined
    confidence interval, a rate with no time) is written as ``null``, never ``NaN``."""
    atomic.write_json(path, finite_or_null(data))


def finite_or_null(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_or_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(item) for item in value]
    return value


def write_run(directory: Path, result: RunResult) -> None:
    """Write summary, node counters and timing into ``directory``."""
    write_json(directory / "summary.json", result.summary())
    with open(directory / "nodes.csv", "w", newline="") as handle:
        write_node_counters(handle, result)
    with open(directory / "timeseries.csv", "w", newline="") as handle:
        write_timeseries(handle, result.flows, result.scenario.duration_ns)
    with open(directory / "latency.csv", "w", newline="") as handle:
        write_latency(handle, result)
    copy_scenario(directory, result.scenario.source)
    timing = {
        "wall_s": round(result.wall_s, 6),
        "events_per_s": round(result.events / result.wall_s) if result.wall_s > 0 else None,
    }
    write_json(directory / "timing.json", timing)


def write_node_counters(handle: TextIO, result: RunResult) -> None:
    """One row per node instance; a counter a node does not have is left empty. A run with
    ``energy:`` adds ``ENERGY_COLUMNS`` after the counters.

    Rows are made with one ``%`` format per node rather than a ``csv.writer``: nothing in
    them needs quoting (node ids are letters, digits, ``_.-``; the rest are numbers), and a
    million sensors' rows then cost a third of the time, instance ids included."""
    names = sorted({name for c in result.counters.values() for name in c.values})
    # How a node ran (python_model, docker) is left out on purpose: the same scenario run
    # either way must give the same bytes.
    csv.writer(handle, lineterminator="\n").writerow(
        ["node", "group", "type", *names, *(ENERGY_COLUMNS if result.energy else ())])
    for spec in result.scenario.nodes:
        counters = result.counters[spec.id]
        present = [name for name in names if name in counters.values]
        energy = _energy_columns(result, spec.id, spec.count) if result.energy else []
        row = _row_format(spec.id, spec.type, spec.count,
                          ["%s" if name in counters.values else "" for name in names]
                          + ["%s"] * len(energy))
        # A slice of rows at a time: a million sensors' counters as Python lists would take
        # more memory than the whole run.
        for start in range(0, spec.count, _ROWS_AT_ONCE):
            stop = min(start + _ROWS_AT_ONCE, spec.count)
            columns = [counters.values[name][start:stop].tolist() for name in present]
            columns += [column[start:stop] for column in energy]
            rows = zip(range(start, stop), *columns, strict=True)
            handle.write("".join(map(row.__mod__, rows)))


def _row_format(node_id: str, node_type: str, count: int, fields: list[str]) -> str:
    """The ``%`` format of one node's rows, fed (instance index, *column values): the
    instance id is made from the index by ``instance_id_format``."""
    return ",".join([instance_id_format(node_id, count), node_id.replace("%", "%%"),
                     node_type.replace("%", "%%"), *fields]) + "\n"


_ROWS_AT_ONCE = 1 << 16
ENERGY_COLUMNS = ("energy_j", "battery_left_j", "depleted_at_s")


def _energy_columns(result: RunResult, node_id: str, count: int) -> list[list[str]]:
    """Energy used, battery left (both exact decimals of joules) and when the battery ran
    out (seconds), per instance; empty where the node has no energy or no battery, or did not
    run out."""
    account = result.energy.get(node_id)
    if account is None:
        return [[""] * count] * len(ENERGY_COLUMNS)
    until = result.scenario.duration_ns
    used = account.used(until).tolist()
    if account.capacity is None:
        return [[joules_text(pj) for pj in used], [""] * count, [""] * count]
    capacity = account.capacity
    return [[joules_text(pj) for pj in used],
            [joules_text(capacity - pj) for pj in used],
            ["" if ns >= until else seconds_text(ns) for ns in account.depleted_at.tolist()]]


def write_latency(handle: TextIO, result: RunResult) -> None:
    """Every non-empty latency bucket: per flow (hop latency) and per cloud node (end to
    end), ``[low_ns, high_ns)`` and how many messages fell in it."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(["kind", "name", "low_ns", "high_ns", "count"])
    for flow in result.flows:
        writer.writerows(("hop", flow.name, *bucket) for bucket in flow.latency.buckets())
    for node, histogram in result.end_to_end.items():
        writer.writerows(("end_to_end", node, *bucket) for bucket in histogram.buckets())


def copy_scenario(directory: Path, source: str) -> None:
    """The scenario file as it is now (``scenario.yaml``), when ``source`` names one: what a
    report shows and where plots find the fault windows."""
    from xedgesim.bounded import Unreadable, read_bounded
    from xedgesim.scenario.limits import MAX_FILE_BYTES

    try:
        data = read_bounded(source, MAX_FILE_BYTES)
    except Unreadable:
        return
    (directory / "scenario.yaml").write_bytes(data)


class RecordWriter:
    """Per-message rows, written as messages are delivered or lost (``--records``).

    A topic is any MQTT topic, commas, quotes and line breaks included, and must come back from
    a CSV reader as the one field it is. Each distinct text (instance id, topic, flow name) is
    quoted once by the csv module and the rows are then joined as plain strings: rows are the
    hot path of a large run, and numbers never need quoting.
    """

    HEADER = ("message_id", "flow", "sender", "topic", "first_sent_ns", "arrival_ns", "status",
              "cause", "attempt", "queue_ns")

    def __init__(self, handle: TextIO) -> None:
        self.handle = handle
        self.instance_ids: list[str] = []
        self.topic_names: list[str] = []
        self._topic_fields: list[str] = []
        handle.write(",".join(self.HEADER) + "\n")

    def start(self, instance_ids: list[str], topic_names: list[str]) -> None:
        self.instance_ids = [csv_field(name) for name in instance_ids]
        self.topic_names = topic_names  # the run's live table: topics appear as they are used

    def delivered(self, flow: FlowStats, block: MessageBatch) -> None:
        self._write(flow, block, block.arrival.tolist(), repeat("delivered"), repeat(""))

    def lost(self, flow: FlowStats, batch: MessageBatch, causes: np.ndarray) -> None:
        names = [CAUSES[c - 1] for c in causes.tolist()]
        self._write(flow, batch, repeat(""), repeat("lost"), names)

    def in_flight(self, flow: FlowStats, batch: MessageBatch) -> None:
        self._write(flow, batch, repeat(""), repeat("in_flight"), repeat(""))

    def _write(self, flow: FlowStats, batch: MessageBatch, arrival: Iterable,
               status: Iterable, cause: Iterable) -> None:
        ids, topics, name = self.instance_ids, self._topics(), csv_field(flow.name)
        # The wait in the link's FIFO: only a bandwidth-limited link has one, and only an
        # attempt whose transmission started has waited for it.
        waited: Iterable = repeat("") if flow.waiting is None else (
            "" if w < 0 else w for w in batch.waited.tolist())
        self.handle.writelines(
            f"{m},{name},{ids[s]},{topics[t]},{f},{a},{st},{c},{n},{w}\n"
            for m, s, t, f, a, st, c, n, w in zip(
                batch.id.tolist(), batch.src.tolist(), batch.topic.tolist(),
                batch.first_sent.tolist(), arrival, status, cause, batch.attempt.tolist(),
                waited,
                strict=False,  # status, cause and waited may be endless repeats of one value
            )
        )

    def _topics(self) -> list[str]:
        """The topic table quoted, extended as the run adds topics."""
        fields, names = self._topic_fields, self.topic_names
        fields.extend(csv_field(topic) for topic in names[len(fields):])
        return fields


def csv_field(text: str) -> str:
    """``text`` as one field of a CSV row, exactly as the csv module writes it."""
    if not text:
        return ""
    buffer = io.StringIO()
    # "\r\n" so that a field holding either line-break character is quoted (Python 3.11's
    # writer quotes only for the characters of its own line terminator).
    csv.writer(buffer, lineterminator="\r\n").writerow([text])
    return buffer.getvalue()[:-2]


def format_summary(result: RunResult, out: Path | None) -> str:
    """The human summary table printed after a run."""
    summary = result.summary()
    messages = summary["messages"]
    # The causes a model feature adds (a battery, a buffer) have a place of their own after
    # random and fault losses, in the runs that report them.
    added = [cause for cause in CAUSES
             if cause not in ALWAYS_REPORTED and cause in messages["lost"]]
    rows = [("flow", "sent", "delivered", f"lost ({'/'.join(['rand', 'fault', *added])})",
             "in flight", "p50 ms", "p95 ms", "p99 ms", "max ms", "msg/s")]
    for name, flow in summary["flows"].items():
        lost = flow["lost"]
        counts = [lost["random"], sum(lost[cause] for cause in FAULT_CAUSES),
                  *(lost[cause] for cause in added)]
        latency = flow["latency_ms"]
        rows.append((name, f"{flow['sent']:,}", f"{flow['delivered']:,}",
                     "/".join(f"{count:,}" for count in counts), f"{flow['in_flight']:,}",
                     f"{latency['p50']:.3f}", f"{latency['p95']:.3f}", f"{latency['p99']:.3f}",
                     f"{latency['max']:.3f}", f"{flow['throughput']['messages_per_s']:,.1f}"))
    for node, latency in summary["end_to_end_ms"].items():
        rows.append((f"end-to-end at {node}", "", f"{latency['count']:,}", "", "",
                     f"{latency['p50']:.3f}", f"{latency['p95']:.3f}", f"{latency['p99']:.3f}",
                     f"{latency['max']:.3f}", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                  for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    rate = result.events / result.wall_s if result.wall_s > 0 else 0.0
    lines.append("")
    lines.append(
        f"{summary['scenario']} (seed {summary['seed']}, {summary['duration_s']:g}s virtual): "
        f"{messages['delivered']:,} delivered, {messages['lost_random']:,} lost at random, "
        f"{messages['lost_to_faults']:,} lost to faults, "
        + "".join(f"{messages['lost'][cause]:,} lost to {cause}, " for cause in added)
        + f"{messages['retransmissions']:,} retransmissions"
    )
    if "energy" in summary:
        energy = summary["energy"]
        first = energy["first_depletion_s"]
        lines.append(f"energy: {energy['used_j']:,.6g} J used, {energy['depleted']:,} "
                     "batteries ran out" + ("" if first is None else f", the first at {first:g}s"))
    lines.append(f"{result.events:,} events in {result.wall_s:.2f}s wall ({rate:,.0f} events/s)")
    if result.pacing is not None:
        lag = result.pacing["lag_ms"]
        lines.append(
            f"paced at {result.pacing['speed']:g}x real time with wall-clock services: lag p95 "
            f"{lag['p95']:.3f} ms, max {lag['max']:.3f} ms; a statistical run (use --seeds)")
    if out is not None:
        lines.append(f"results in {out}/")
    return "\n".join(lines)
