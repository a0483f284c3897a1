"""Finished tasks kept on disk as they arrive, so an interrupted sweep resumes where it was.

The store is a hidden directory next to the sweep's: ``.<name>.xedge-partial/``, holding
``plan.json`` (the hash of what the sweep computes: scenario, points, seeds, xedgesim
version) and one ``<point>-seed-<k>.json`` per finished task (its ``summary.json`` text),
each written whole (:mod:`xedgesim.atomic`). The sweep's own directory is still written all or
nothing (:mod:`xedgesim.rundir`) once every task is done, and the store is removed then. So an
earlier sweep in that place stays untouched until the new one is complete, and after Ctrl-C
only complete results are on disk.

The same command finds the store by name and runs only the tasks missing from it; a store of
another plan (the grid or the scenario changed) is emptied first. A store that holds anything
xedge did not write is refused, like a run directory.
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import suppress
from pathlib import Path

from xedgesim import atomic
from xedgesim.bounded import Unreadable, read_bounded
from xedgesim.interrupts import deferred
from xedgesim.rundir import OutputError

PLAN = "plan.json"
MAX_SUMMARY_BYTES = 256 * 1024 * 1024


def store_path(out: Path) -> Path:
    return out.parent / f".{out.name}.xedge-partial"


class Store:
    """The finished tasks of one plan; ``names`` are the tasks the plan has."""

    def __init__(self, out: Path, plan: str, names: list[str]) -> None:
        self.path = store_path(out)
        self.plan = plan
        self.names = set(names)
        self.done: set[str] = set()
        self.created = False
        self.note = ""

    def open(self) -> Store:
        """Create the store, or take up the one left by an interrupted run of this plan."""
        path = self.path
        if not os.path.lexists(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir()
            self.created = True
            atomic.write_json(path / PLAN, {"plan": self.plan})
            return self
        if path.is_symlink() or not path.is_dir():
            raise OutputError(f"{path} is not a directory xedge made for an interrupted sweep; "
                              "nothing was touched: move it away")
        plan = self._read_plan()
        entries = sorted(os.listdir(path))
        ours = [name for name in entries if name == PLAN or _is_task_file(name)
                or _is_partial(name)]
        foreign = sorted(set(entries) - set(ours))
        if plan is None or foreign:
            what = f"holds {foreign[0]}, which" if foreign else f"has no valid {PLAN}: it"
            raise OutputError(f"{path} {what} xedge did not write; nothing was touched: move "
                              "it away")
        for name in entries:
            if _is_partial(name):  # a write cut short by SIGKILL
                (path / name).unlink()
        if plan != self.plan:
            for name in entries:
                if _is_task_file(name):
                    (path / name).unlink()
            atomic.write_json(path / PLAN, {"plan": self.plan})
            self.note = (f"{path} held an interrupted sweep of another grid, scenario or "
                         "seeds: it was started over")
            return self
        self.done = {name[:-5] for name in entries if _is_task_file(name)} & self.names
        return self

    def _read_plan(self) -> str | None:
        try:
            document = json.loads(read_bounded(self.path / PLAN, 4096))
        except (Unreadable, ValueError):
            return None
        plan = document.get("plan") if isinstance(document, dict) else None
        return plan if isinstance(plan, str) else None

    def put(self, name: str, text: str) -> None:
        atomic.write_text(self.path / f"{name}.json", text)
        self.done.add(name)

    def get(self, name: str) -> str:
        try:
            return read_bounded(self.path / f"{name}.json", MAX_SUMMARY_BYTES).decode()
        except Unreadable as error:
            raise OutputError(f"cannot read {self.path / name}.json: {error.reason or error.kind}"
                              ) from None

    def remove(self) -> None:
        with deferred():
            shutil.rmtree(self.path, ignore_errors=True)

    def abandon(self) -> None:
        """After an interrupt: a store this run made and that holds nothing goes."""
        if self.created and not self.done:
            with deferred(), suppress(OSError):
                for name in os.listdir(self.path):
                    (self.path / name).unlink()
                self.path.rmdir()


def _is_task_file(name: str) -> bool:
    return name.endswith(".json") and "-seed-" in name and not name.startswith(".")


def _is_partial(name: str) -> bool:
    return name.startswith(".") and name.endswith(".part")
