"""records.csv read bounded and checked: every bad row is one located error, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from xedgesim.calibrate import records
from xedgesim.calibrate.records import RecordsError, read_records

HEADER = "message_id,flow,sender,topic,first_sent_ns,arrival_ns,status,cause,attempt\n"
NODES = {"sensors", "broker", "gw1", "cloud"}


def write(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "records.csv"
    path.write_text(header + "".join(row + "\n" for row in rows))
    return path


def test_rows_become_columns_per_flow(tmp_path: Path) -> None:
    path = write(tmp_path,
                 '0,sensors->broker,sensors-1,"a,b",100,5100,delivered,,0',
                 "1,sensors->broker,sensors-2,t,200,,lost,random,5",
                 "2,broker->gw1,broker,t,5100,9000,delivered,,1")
    flows, digest = read_records(path, NODES)
    assert list(flows) == ["broker->gw1", "sensors->broker"] and len(digest) == 64
    s = flows["sensors->broker"]
    assert (s.sender, s.receiver) == ("sensors", "broker")
    assert s.first_sent.tolist() == [100, 200] and s.arrival.tolist() == [5100, -1]
    assert s.cause.tolist() == [0, 1] and s.attempt.tolist() == [0, 5]


def test_in_flight_rows_and_the_queue_column_are_read_and_left_out(tmp_path: Path) -> None:
    """A run's records have ``queue_ns`` and rows of messages still travelling at its end;
    a fit leaves those out (their fate is unknown)."""
    path = write(tmp_path,
                 "0,sensors->broker,sensors-1,t,100,5100,delivered,,0,40",
                 "1,sensors->broker,sensors-2,t,200,,in_flight,,0,",
                 header=HEADER.rstrip("\n") + ",queue_ns\n")
    flows, _ = read_records(path, NODES)
    assert flows["sensors->broker"].first_sent.tolist() == [100]


@pytest.mark.parametrize(("row", "where", "message"), [
    # the column is where the bad field starts, counted past the quoted topic with its comma
    ('0,sensors->broker,s,"a,b",1x0,5100,delivered,,0', ":2:27:", "'first_sent_ns' must be"),
    ("0,sensors->broker,s,t,100,50,delivered,,0", ":2:27:", "is before 'first_sent_ns'"),
    ("0,sensors->broker,s,t,100,200,delivered,random,0", ":2:41:", "has no 'cause'"),
    ("0,sensors->broker,s,t,100,200,lost,random,0", ":2:27:", "a lost message has no"),
    ("0,sensors->broker,s,t,100,,lost,cosmic,0", ":2:33:", "'cause' must be one of"),
    ("0,sensors->broker,s,t,100,,gone,,0", ":2:28:",
     "'status' must be delivered, lost or in_flight"),
    ("0,sensors->broker,s,t,100,200,delivered,,-1", ":2:42:", "'attempt' must be"),
    ("0,sensors=>broker,s,t,100,200,delivered,,0", ":2:3:", "SENDER->RECEIVER"),
    ("0,sensors->bruker,s,t,100,200,delivered,,0", ":2:3:", "not a node of the scenario"),
    ("0,sensors->broker,s,t,100,200,delivered", ":2:1:", "7 fields, the header has 9"),
])
def test_a_bad_row_is_named_by_line_and_column(tmp_path: Path, row: str, where: str,
                                                message: str) -> None:
    path = write(tmp_path, row)
    with pytest.raises(RecordsError) as caught:
        read_records(path, NODES)
    assert str(caught.value).startswith(f"{path}{where}"), str(caught.value)
    assert message in str(caught.value)


def test_a_topic_with_a_line_break_keeps_later_rows_on_their_own_lines(tmp_path: Path) -> None:
    path = write(tmp_path, '0,sensors->broker,s,"two\nlines",100,200,delivered,,0',
                 "1,sensors->broker,s,t,100,x,delivered,,0")
    with pytest.raises(RecordsError, match=r"records\.csv:4:27: 'arrival_ns'"):
        read_records(path, NODES)


@pytest.mark.parametrize(("text", "message"), [
    ("", "the file is empty"),
    ("flow,status\n", "no column 'first_sent_ns', 'arrival_ns', 'cause', 'attempt'"),
])
def test_a_file_that_is_not_records_is_refused_at_its_first_line(tmp_path: Path, text: str,
                                                                  message: str) -> None:
    path = tmp_path / "records.csv"
    path.write_text(text)
    with pytest.raises(RecordsError, match=f"records.csv:1:1: .*{message}"):
        read_records(path, NODES)


def test_bounds_on_size_and_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, *["0,sensors->broker,s,t,100,200,delivered,,0"] * 3)
    monkeypatch.setattr(records, "MAX_ROWS", 2)
    with pytest.raises(RecordsError, match=r"records\.csv:4:1: more than 2 rows"):
        read_records(path, NODES)
    monkeypatch.setattr(records, "MAX_FILE_BYTES", 100)
    with pytest.raises(RecordsError, match="larger than 0 MiB"):
        read_records(path, NODES)


def test_what_is_not_a_readable_text_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RecordsError, match="not a regular file"):
        read_records(tmp_path, NODES)
    with pytest.raises(RecordsError, match="No such file"):
        read_records(tmp_path / "nothing.csv", NODES)
    path = tmp_path / "records.csv"
    path.write_bytes(HEADER.encode() + b"0,sensors->broker,\xff,t,1,2,delivered,,0\n")
    with pytest.raises(RecordsError, match=r"records\.csv:2:19: not UTF-8 text"):
        read_records(path, NODES)
