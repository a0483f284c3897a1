"""The progress line: silent for short runs, then a bar with virtual time and events."""

from __future__ import annotations

import io

from xedgesim.progress import ProgressBar


def test_quiet_during_the_delay() -> None:
    stream = io.StringIO()
    bar = ProgressBar(10_000_000_000, stream=stream, delay_s=60)
    bar(5_000_000_000, 1000)
    bar.close()
    assert stream.getvalue() == ""


def test_shows_fraction_virtual_time_and_events_then_clears() -> None:
    stream = io.StringIO()
    bar = ProgressBar(10_000_000_000, stream=stream, delay_s=0, width=10)
    bar(2_500_000_000, 12_345)
    text = stream.getvalue()
    assert text.startswith("\r[##........]")
    assert "25.0%" in text and "2.5s/10s virtual" in text and "12,345 events" in text
    bar.close()
    assert stream.getvalue().endswith("\r")


def test_no_time_elapsed_is_no_division_by_zero(monkeypatch) -> None:
    import xedgesim.progress

    monkeypatch.setattr(xedgesim.progress.time, "monotonic", lambda: 100.0)
    stream = io.StringIO()
    bar = ProgressBar(0, stream=stream, delay_s=0, width=10)
    bar(0, 5)
    assert "100.0%" in stream.getvalue() and "5 events  0/s" in stream.getvalue()
