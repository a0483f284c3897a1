"""``records.csv`` -> per-flow columns, read bounded and checked row by row.

The file may come from another machine (a fleet run) or be cut short, so it is read like any
user file: through ``xedgesim.bounded`` with a size limit, at most ``MAX_ROWS`` rows, and every
field checked; the first bad one stops the command with ``file:line:col`` and exit 2 (one bad
row means the file is not what it claims to be, and a fit of the rest would be quietly wrong).
The columns are those ``xedge simulate --records`` writes (docs/simulation.md, "Output files").
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xedgesim import bounded
from xedgesim.errors import BadInput
from xedgesim.sim.faults import CAUSES

MAX_FILE_BYTES = 512 * 2**20
MAX_ROWS = 10_000_000
MAX_ATTEMPT = 10_000
MAX_FLOWS = 10_000
REQUIRED = ("flow", "first_sent_ns", "arrival_ns", "status", "cause", "attempt")
DELIVERED, LOST, IN_FLIGHT = "delivered", "lost", "in_flight"
_FIELD = re.compile(r'"(?:[^"]|"")*"|[^,\r\n]*')
_MAX_TIME = 2**62


class RecordsError(BadInput):
    """``records.csv`` cannot be used; the message starts with ``file:line:col``."""


@dataclass
class FlowRecords:
    """The rows of one flow (``sender->receiver``), as columns.

    ``arrival`` is -1 for a lost message; ``cause`` is the index in ``CAUSES`` plus one (0 for
    a delivered message), as the simulator codes it.
    """

    name: str
    sender: str
    receiver: str
    first_sent: np.ndarray
    arrival: np.ndarray
    cause: np.ndarray
    attempt: np.ndarray


@dataclass
class _Columns:
    first_sent: list[int] = field(default_factory=list)
    arrival: list[int] = field(default_factory=list)
    cause: list[int] = field(default_factory=list)
    attempt: list[int] = field(default_factory=list)


def read_records(path: Path, nodes: set[str]) -> tuple[dict[str, FlowRecords], str]:
    """Every flow of ``path`` (all must join two of ``nodes``, the scenario's node ids: else
    the run is not of this scenario), and the file's SHA-256, for the overlay's provenance."""
    data = _bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    text = _text(path, data)
    del data
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise RecordsError(f"{path}:1:1: not CSV: {error}") from None
    if header is None:
        raise RecordsError(f"{path}:1:1: the file is empty; a records file starts with its "
                           f"header ({','.join(REQUIRED)}, ...)")
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise RecordsError(
            f"{path}:1:1: not a records file: no column {', '.join(map(repr, missing))} "
            "(write one with 'xedge simulate S.yaml --records')")
    index = {name: header.index(name) for name in REQUIRED}
    flows: dict[str, tuple[str, str, _Columns]] = {}
    cause_codes = {name: code for code, name in enumerate(CAUSES, start=1)}
    rows = 0
    line = 1
    try:
        for row in reader:
            start_line, line = line + 1, reader.line_num
            rows += 1
            if rows > MAX_ROWS:
                raise RecordsError(f"{path}:{start_line}:1: more than {MAX_ROWS:,} rows; "
                                   "calibrate from a shorter run")
            if len(row) != len(header):
                raise RecordsError(f"{path}:{start_line}:1: {len(row)} fields, the header has "
                                   f"{len(header)}")
            place = _Place(path, start_line, text, row)
            name = row[index["flow"]]
            entry = flows.get(name)
            if entry is None:
                entry = flows[name] = (*_flow_ends(place, index["flow"], name, nodes), _Columns())
                if len(flows) > MAX_FLOWS:
                    raise place.error(index["flow"], f"more than {MAX_FLOWS:,} flows")
            columns = entry[2]
            first_sent = place.integer(index["first_sent_ns"], "first_sent_ns", _MAX_TIME)
            status = row[index["status"]]
            if status == IN_FLIGHT:
                continue  # still travelling when the run ended: its fate says nothing
            if status == DELIVERED:
                arrival = place.integer(index["arrival_ns"], "arrival_ns", _MAX_TIME)
                if arrival < first_sent:
                    raise place.error(index["arrival_ns"],
                                      f"'arrival_ns' {arrival} is before 'first_sent_ns' "
                                      f"{first_sent}")
                if row[index["cause"]]:
                    raise place.error(index["cause"], "a delivered message has no 'cause'")
                cause = 0
            elif status == LOST:
                if row[index["arrival_ns"]]:
                    raise place.error(index["arrival_ns"], "a lost message has no 'arrival_ns'")
                arrival = -1
                cause = cause_codes.get(row[index["cause"]], -1)
                if cause < 0:
                    raise place.error(index["cause"],
                                      f"'cause' must be one of {', '.join(CAUSES)}, found "
                                      f"{_shown(row[index['cause']])}")
            else:
                raise place.error(index["status"], f"'status' must be {DELIVERED}, {LOST} or "
                                                   f"{IN_FLIGHT}, found {_shown(status)}")
            columns.first_sent.append(first_sent)
            columns.arrival.append(arrival)
            columns.cause.append(cause)
            columns.attempt.append(place.integer(index["attempt"], "attempt", MAX_ATTEMPT))
    except csv.Error as error:
        raise RecordsError(f"{path}:{line + 1}:1: not CSV: {error}") from None
    return {
        name: FlowRecords(name, sender, receiver,
                          np.array(c.first_sent, dtype=np.int64),
                          np.array(c.arrival, dtype=np.int64),
                          np.array(c.cause, dtype=np.int8),
                          np.array(c.attempt, dtype=np.int64))
        for name, (sender, receiver, c) in sorted(flows.items())
    }, digest


def _bytes(path: Path) -> bytes:
    try:
        return bounded.read_bounded(path, MAX_FILE_BYTES)
    except bounded.Unreadable as error:
        if error.kind == "too_large":
            raise RecordsError(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB; calibrate "
                               "from a shorter run") from None
        if error.kind in ("directory", "special"):
            raise RecordsError(f"{path}: not a regular file") from None
        raise RecordsError(f"{path}: cannot read the records: {error.reason}") from None


def _text(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise RecordsError(f"{path}:{line}:{column}: not UTF-8 text") from None


def _flow_ends(place: _Place, column: int, name: str, nodes: set[str]) -> tuple[str, str]:
    sender, arrow, receiver = name.partition("->")
    if not arrow or not sender or not receiver:
        raise place.error(column, f"'flow' must be SENDER->RECEIVER, found {_shown(name)}")
    unknown = [end for end in (sender, receiver) if end not in nodes]
    if unknown:
        raise place.error(column, f"the flow {_shown(name)} names {_shown(unknown[0])}, which "
                                  "is not a node of the scenario (is this a run of another "
                                  "scenario?)")
    return sender, receiver


class _Place:
    """Where a row's fields are, for messages: file, line and the column each field starts."""

    def __init__(self, path: Path, line: int, text: str, row: list[str]) -> None:
        self.path, self.line, self.text, self.row = path, line, text, row

    def column(self, field_index: int) -> int:
        """The 1-based character column where field ``field_index`` starts on its line (a
        field after a quoted line break is placed at the start of the row's first line)."""
        lines = self.text.split("\n", self.line)  # only when a message needs it
        text = lines[self.line - 1] if self.line - 1 < len(lines) else ""
        position = 0
        for _ in range(field_index):
            match = _FIELD.match(text, position)
            end = match.end() if match else position
            if end >= len(text) or text[end] != ",":
                return 1
            position = end + 1
        return position + 1

    def error(self, field_index: int, message: str) -> RecordsError:
        return RecordsError(f"{self.path}:{self.line}:{self.column(field_index)}: {message}")

    def integer(self, field_index: int, name: str, maximum: int) -> int:
        text = self.row[field_index]
        if not text.isascii() or not text.isdigit() or len(text) > 20 or int(text) > maximum:
            raise self.error(field_index, f"{name!r} must be a whole number from 0 to "
                                          f"{maximum:,}, found {_shown(text)}")
        return int(text)


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:40]) + "…"
