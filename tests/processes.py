"""Processes, as the tests that signal them need: a child that really sees Ctrl-C, and who is
still alive below a process or in a session, read from /proc (Linux)."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path


def default_sigint() -> None:
    """In a child about to be signalled (``preexec_fn``): SIGINT back to its default. A suite
    run from a background job inherits SIGINT ignored, and the child would never see it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _live() -> dict[int, tuple[int, int]]:
    """Every live (not zombie) process: pid -> (parent pid, session id)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rpartition(")")[2].split()
            if fields[0] != "Z":
                found[int(stat.parent.name)] = (int(fields[1]), int(fields[3]))
    return found


def children(pid: int) -> list[int]:
    """Live child processes of ``pid``."""
    return [child for child, (parent, _) in _live().items() if parent == pid]


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (its children first, then theirs)."""
    live = _live()
    found, frontier = [], [pid]
    while frontier:
        frontier = [child for child, (parent, _) in live.items() if parent in frontier]
        found += frontier
    return found


def session(sid: int) -> list[int]:
    """Live processes of the session ``sid`` (a command and everything it started)."""
    return [pid for pid, (_, in_session) in _live().items() if in_session == sid]
