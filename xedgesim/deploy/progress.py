"""The live view of a playbook run: one rewritten line on a terminal, one line per task in a log.

On a terminal the line shows the step, the last host and task, and the running ok / changed /
failed / unreachable counters, so a long converge visibly moves. Without a terminal (CI, a
pipe) rewriting lines would make a mess, so each finished task gets one line saying how many
hosts it changed. Failures always get a line of their own, as ``host · task · message``.
"""

from __future__ import annotations

import shutil
import sys
from collections import Counter
from typing import TextIO

from xedgesim.deploy.events import Failure, HostResult, Record, TaskDone, TaskStarted


def counters(totals: Counter[str]) -> str:
    """``ok 12 · changed 3 · failed 0 · unreachable 0``."""
    return " · ".join(f"{name} {totals[name]}" for name in ("ok", "changed", "failed",
                                                             "unreachable"))


class PlaybookProgress:
    """Receives the tracker's records for one playbook run and draws them."""

    def __init__(self, label: str, stream: TextIO | None = None, live: bool | None = None,
                 indent: str = "  ") -> None:
        self.label = label
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self.indent = indent
        self.totals: Counter[str] = Counter()
        self._drawn = False

    def __call__(self, record: Record) -> None:
        if isinstance(record, Failure):
            kind = "UNREACHABLE" if record.unreachable else "FAILED"
            self._line(f"{self.indent}{self.label}: {kind} {record.line()}")
        elif isinstance(record, HostResult):
            self.totals[record.status] += 1
            if record.status == "changed":
                self.totals["ok"] += 1
            if self.live:
                self._draw(f"{record.host} · {record.task}")
        elif isinstance(record, TaskStarted) and self.live:
            self._draw(record.task)
        elif isinstance(record, TaskDone) and not self.live:
            self._line(self._task_line(record))

    def _task_line(self, done: TaskDone) -> str:
        parts = [f"{status} {done.count(status)}" for status in
                 ("ok", "changed", "failed", "unreachable", "skipped", "ignored")
                 if done.count(status)]
        changed = done.hosts.get("changed", ())
        where = f" ({', '.join(changed)})" if changed and len(changed) <= 4 else ""
        summary = " · ".join(parts) if parts else "no hosts"
        return f"{self.indent}{self.label}: {done.task} · {summary}{where}"

    def _draw(self, what: str) -> None:
        width = shutil.get_terminal_size((100, 20)).columns - 1
        text = f"{self.indent}{self.label} · {what} · {counters(self.totals)}"
        if len(text) > width:
            keep = width - len(counters(self.totals)) - len(self.label) - len(self.indent) - 8
            what = what[: max(keep, 10)] + "…"
            text = f"{self.indent}{self.label} · {what} · {counters(self.totals)}"[:width]
        self.stream.write("\r\x1b[2K" + text)
        self.stream.flush()
        self._drawn = True

    def _line(self, text: str) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[2K")
            self._drawn = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Clear the live line, so the step's own summary line follows cleanly."""
        if self._drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._drawn = False
