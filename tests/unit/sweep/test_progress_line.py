"""The sweep's progress line: runs done of the total, and a time left from this session's pace."""

from __future__ import annotations

import io

import pytest

from xedgesim.progress import TaskProgress


def test_the_line_counts_runs_and_estimates_the_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("xedgesim.progress.time.monotonic", lambda: now[0])
    stream = io.StringIO()
    bar = TaskProgress(10, done=4, stream=stream, width=10)  # 4 done before a resume
    now[0] += 30.0
    bar()  # one run in 30 s, 5 left
    assert stream.getvalue().endswith("5/10 runs  ETA 2:30 ")
    now[0] += 3600.0
    bar()
    assert stream.getvalue().endswith("[######....] 6/10 runs  ETA 2:01:00 ")
    bar.close()
    assert stream.getvalue().endswith("\r")


def test_before_any_run_of_this_session_there_is_no_estimate() -> None:
    stream = io.StringIO()
    bar = TaskProgress(3, done=3, stream=stream)
    bar(3)
    assert "3/3 runs  ETA --:--" in stream.getvalue()
