"""``remove_leftovers`` (xedgesim/docker/containers.py) against a fake engine: only runs
provably dead on this host go, unless ``--all``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from xedgesim.docker import containers
from xedgesim.docker.containers import (
    LABEL_BOOT,
    LABEL_MANAGED,
    LABEL_OWNER,
    LABEL_RUN,
    remove_leftovers,
    run_labels,
)

HERE = socket.gethostname()


def dead_pid() -> int:
    """A pid that was this host's and has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


class Thing:
    """A container, network or volume of the fake engine."""

    def __init__(self, engine: FakeEngine, name: str, labels: dict[str, str]) -> None:
        self.engine, self.name, self.labels = engine, name, labels
        self.attrs = {"Labels": labels}
        self.containers: list[Any] = []

    def remove(self, **_options: Any) -> None:
        self.engine.removed.append(self.name)

    def reload(self) -> None:
        pass


class FakeEngine:
    def __init__(self, runs: dict[str, dict[str, str]]) -> None:
        self.removed: list[str] = []
        things = [Thing(self, name, {LABEL_MANAGED: "true", LABEL_RUN: name, **labels})
                  for name, labels in runs.items()]
        listing = SimpleNamespace(list=lambda filters, **_options: [
            thing for thing in things if all(_matches(thing.labels, wanted)
                                             for wanted in filters["label"])])
        self.containers = self.networks = self.volumes = listing


def _matches(labels: dict[str, str], wanted: str) -> bool:
    """The engine's label filter: ``key`` (present) or ``key=value``."""
    key, _, value = wanted.partition("=")
    return key in labels and (not value or labels[key] == value)


def owner(host: str, pid: int) -> dict[str, str]:
    return {LABEL_OWNER: f"{host}:{pid}"}


@pytest.fixture
def engine() -> FakeEngine:
    gone = dead_pid()
    return FakeEngine({
        "mine-dead": owner(HERE, gone),
        "mine-live": owner(HERE, os.getpid()),
        "mine-before-reboot": {**owner(HERE, os.getpid()), LABEL_BOOT: "another-boot"},
        "other-host": owner("ci-runner-7", gone),
        "no-owner": {},
    })


def test_only_runs_dead_on_this_host_are_removed(engine: FakeEngine) -> None:
    removed = remove_leftovers(engine)
    assert sorted(set(engine.removed)) == ["mine-before-reboot", "mine-dead"]
    assert "network mine-dead" in removed and "volume mine-dead" in removed
    assert not any("other-host" in name or "no-owner" in name for name in removed)


def test_all_removes_every_run(engine: FakeEngine) -> None:
    remove_leftovers(engine, include_live=True)
    assert sorted(set(engine.removed)) == ["mine-before-reboot", "mine-dead", "mine-live",
                                           "no-owner", "other-host"]


def test_run_limits_the_clean_to_one_run(engine: FakeEngine) -> None:
    removed = remove_leftovers(engine, include_live=True, run="mine-live")
    assert set(engine.removed) == {"mine-live"}
    assert removed == ["mine-live", "network mine-live", "volume mine-live"]


def test_a_run_labels_its_host_pid_and_boot(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    boot = tmp_path / "boot_id"
    boot.write_text("b007-1d\n")
    monkeypatch.setattr(containers, "BOOT_ID_FILE", str(boot))
    labels = run_labels("r1")
    assert labels[LABEL_OWNER] == f"{HERE}:{os.getpid()}"
    assert labels[LABEL_BOOT] == "b007-1d"
    assert not containers._provably_dead(labels)
    boot.write_text("another-boot\n")
    assert containers._provably_dead(labels)
