"""xedgesim/deploy/progress.py: one line per task without a terminal, one live line with."""

from __future__ import annotations

import io

from xedgesim.deploy.events import EventTracker
from xedgesim.deploy.progress import PlaybookProgress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def drive(events, stream) -> PlaybookProgress:
    tracker = EventTracker()
    display = PlaybookProgress("deploy", stream=stream)
    for event in events:
        for record in tracker.handle(event):
            display(record)
    display.close()
    return display


def test_log_gets_one_line_per_task_and_one_per_failure(failed_canary_events) -> None:
    out = io.StringIO()
    drive(failed_canary_events, out)
    lines = out.getvalue().splitlines()
    assert lines[0] == ("  deploy: image_release : Copy the image's archive: gateway · changed 1 "
                        "(edge-1)")
    assert "  deploy: docker_engine : Install packages · skipped 1" in lines
    failures = [line for line in lines if "FAILED" in line]
    assert failures[0].startswith("  deploy: FAILED edge-1 · health_gate : Check the containers")
    assert len(failures) == 2
    assert "\r" not in out.getvalue()


def test_terminal_gets_a_rewritten_line_with_counters(failed_canary_events) -> None:
    out = Tty()
    display = drive(failed_canary_events, out)
    text = out.getvalue()
    assert "\r\x1b[2K" in text
    assert "ok 2 · changed 2 · failed 2 · unreachable 0" in text
    assert "deploy: FAILED edge-1" in text  # failures still get whole lines
    assert display.totals["skipped"] == 1
    assert text.endswith(("\n", "\r\x1b[2K"))  # no live line is left behind


def test_close_clears_a_drawn_line(make) -> None:
    out = Tty()
    display = PlaybookProgress("converge", stream=out)
    tracker = EventTracker()
    for event in (make.task_start("Run it", "r"), make.result("runner_on_ok", "h", "Run it")):
        for record in tracker.handle(event):
            display(record)
    display.close()
    assert out.getvalue().endswith("ok 1 · changed 0 · failed 0 · unreachable 0\r\x1b[2K")
