"""Run output files: records.csv survives any topic, JSON is always valid."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from xedgesim.cli import main
from xedgesim.metrics import FlowStats, Histogram
from xedgesim.report import RecordWriter, csv_field, write_json
from xedgesim.sim.faults import CAUSES
from xedgesim.sim.messages import FIELD_NAMES, MessageBatch

HOSTILE_TOPICS = ['a,b\nfake,row/{id}', 'say "hi"', 'cr\rlf\r\n', 'cr\ronly', ',', '"', "",
                  "plain/topic"]


def batch(count: int) -> MessageBatch:
    columns = {name: np.zeros(count, dtype=np.int64) for name in FIELD_NAMES}
    columns["id"] = np.arange(count, dtype=np.int64) + 100
    columns["src"] = np.arange(count, dtype=np.int64) % 2
    columns["topic"] = np.arange(count, dtype=np.int64) % len(HOSTILE_TOPICS)
    columns["first_sent"] = np.arange(count, dtype=np.int64) * 1_000
    columns["arrival"] = columns["first_sent"] + 7
    columns["attempt"] = np.arange(count, dtype=np.int64) % 3
    return MessageBatch(**columns)


def test_records_round_trip_with_hostile_topics() -> None:
    """Issue 8, item 14: an f-string turned 10 messages with such a topic into 21 rows."""
    handle = io.StringIO(newline="")
    writer = RecordWriter(handle)
    writer.start(["s,0", 'q"1'], HOSTILE_TOPICS)
    flow = FlowStats("sensors", "gw")
    messages = batch(10)
    writer.delivered(flow, messages)
    causes = np.ones(10, dtype=np.int64)
    writer.lost(flow, messages, causes)
    rows = list(csv.reader(io.StringIO(handle.getvalue(), newline="")))
    assert rows[0] == list(RecordWriter.HEADER)
    assert len(rows) == 1 + 20
    for row, i in zip(rows[1:11], range(10), strict=True):
        assert row == [str(100 + i), "sensors->gw", ["s,0", 'q"1'][i % 2],
                       HOSTILE_TOPICS[i % len(HOSTILE_TOPICS)], str(i * 1000), str(i * 1000 + 7),
                       "delivered", "", str(i % 3), ""]
    assert all(row[5:8] == ["", "lost", CAUSES[0]] for row in rows[11:])
    assert [row[3] for row in rows[11:]] == [HOSTILE_TOPICS[i % len(HOSTILE_TOPICS)]
                                              for i in range(10)]


def test_records_show_the_wait_in_a_queue_and_the_messages_still_in_flight() -> None:
    """``queue_ns`` only on a flow with a queue (a bandwidth-limited link), empty for an
    attempt that did not start; ``in_flight`` rows have no arrival and no cause."""
    handle = io.StringIO(newline="")
    writer = RecordWriter(handle)
    writer.start(["s0", "s1"], HOSTILE_TOPICS)
    messages = batch(3)
    messages = messages.copy_with(waited=np.array([0, 250, -1]))
    writer.delivered(FlowStats("sensors", "gw", waiting=Histogram()), messages)
    writer.in_flight(FlowStats("sensors", "gw", waiting=Histogram()), messages)
    writer.delivered(FlowStats("sensors", "cloud"), messages)
    rows = list(csv.DictReader(io.StringIO(handle.getvalue(), newline="")))
    assert [row["queue_ns"] for row in rows] == ["0", "250", "", "0", "250", "", "", "", ""]
    assert [(row["status"], row["arrival_ns"], row["cause"]) for row in rows[3:6]] == [
        ("in_flight", "", "")] * 3


def test_records_of_a_run_with_a_hostile_topic_read_back(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("""\
name: hostile
seed: 3
duration: 10s
network:
  default: {latency: 5ms}
nodes:
  - {id: sensors, type: sensor, count: 1, interval: 1s, to: cloud, topic: "a,b\\nfake,row/{id}"}
  - {id: cloud, type: cloud}
""")
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["simulate", str(path), "--records", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with open(out / "records.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10
    assert {row["topic"] for row in rows} == {"a,b\nfake,row/sensors"}
    assert {row["status"] for row in rows} == {"delivered"}


def test_json_is_always_valid(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    write_json(path, {"a": float("nan"), "b": [float("inf"), 1.5], "c": {"d": -float("inf")}})

    def refuse(constant: str) -> None:
        raise AssertionError(constant)

    assert json.loads(path.read_text(), parse_constant=refuse) == {
        "a": None, "b": [None, 1.5], "c": {"d": None}}


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_any_text_is_one_field_that_reads_back(texts: list[str]) -> None:
    line = ",".join(["1", *(csv_field(text) for text in texts), "2"]) + "\n"
    assert next(csv.reader(io.StringIO(line, newline=""))) == ["1", *texts, "2"]


def test_nodes_csv_is_what_a_csv_writer_writes() -> None:
    """``nodes.csv`` rows are made by ``%`` formats, not ``csv.writer``: read back and written
    again by the csv module, the file is unchanged (nothing needed quoting), and the instance
    ids are the ones the scenario names (a fleet's padded ids, a single node's own id), with
    counters a node lacks and energy columns in their places."""
    from xedgesim.report import write_node_counters
    from xedgesim.scenario import load_scenario_text
    from xedgesim.simulation import simulate

    scenario = load_scenario_text("""
        seed: 3
        duration: 5s
        nodes:
          - {id: probes, type: sensor, count: 11, interval: 1s, to: gw,
             energy: {battery: 1J}}
          - {id: gw, type: gateway, aggregate_every: 2s, to: cloud}
          - {id: cloud, type: cloud}
    """.replace("\n        ", "\n"))
    result = simulate(scenario)
    handle = io.StringIO()
    write_node_counters(handle, result)
    written = handle.getvalue()
    rows = list(csv.reader(io.StringIO(written)))
    again = io.StringIO()
    csv.writer(again, lineterminator="\n").writerows(rows)
    assert again.getvalue() == written
    header, *body = rows
    assert [row[0] for row in body] == [*(f"probes-{i:02d}" for i in range(11)), "gw", "cloud"]
    assert {len(row) for row in body} == {len(header)}
    gateway = dict(zip(header, body[11], strict=True))
    assert gateway["group"] == "gw" and gateway["energy_j"] == ""
    sensor = dict(zip(header, body[0], strict=True))
    assert sensor["group"] == "probes" and sensor["aggregates_sent"] == ""
    assert int(sensor["sent"]) == 5 and sensor["energy_j"] and sensor["battery_left_j"]


def test_the_summary_table_gives_losses_to_a_full_buffer_their_own_place(tmp_path: Path) -> None:
    """A buffer's ``overflow`` losses are neither random nor faults: the table shows them
    after those (readings at 0 … 19 s into a link that serialises one in 2.5 s and holds
    one: 13 refused), and a crash's ``node_down`` losses stay faults."""
    path = tmp_path / "s.yaml"
    path.write_text("""\
name: full
duration: 20s
network: {default: {bandwidth: 320bit, buffer: 1}}
faults:
  - {at: 9500ms, node: s, action: crash, for: 2s}
nodes:
  - {id: s, type: sensor, interval: 1s, phase: 0s, payload: 100B, to: cloud}
  - {id: cloud, type: cloud}
""")
    result = CliRunner().invoke(main, ["simulate", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    header, _, row = result.output.splitlines()[:3]
    assert "lost (rand/fault/overflow)" in header
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    lost = summary["flows"]["s->cloud"]["lost"]
    assert (lost["node_down"], lost["overflow"]) == (1, 11), lost
    assert row.split()[3] == "0/1/11"
    assert ", 1 lost to faults, 11 lost to overflow, " in result.output
