"""Step ``destroy`` (xedgesim/deploy/steps/destroy.py) against a fake engine: it removes only
what carries this run's labels, whatever the state file names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker
import pytest

from xedgesim.deploy import state
from xedgesim.deploy.steps import StageContext
from xedgesim.deploy.steps import destroy as destroy_step
from xedgesim.docker.containers import LABEL_MANAGED, LABEL_RUN

RUN = "stage-r1"


class Thing:
    def __init__(self, engine: FakeEngine, name: str, labels: dict[str, str]) -> None:
        self.engine, self.name, self.labels = engine, name, labels
        self.attrs = {"Labels": labels}

    def logs(self, **_options: Any) -> bytes:
        return b"log\n"

    def remove(self, **_options: Any) -> None:
        self.engine.things.pop(self.name)
        self.engine.removed.append(self.name)


class Collection:
    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine

    def get(self, name: str) -> Thing:
        try:
            return self.engine.things[name]
        except KeyError:
            raise docker.errors.NotFound(name) from None


class FakeEngine:
    def __init__(self, things: dict[str, dict[str, str]]) -> None:
        self.things = {name: Thing(self, name, labels) for name, labels in things.items()}
        self.removed: list[str] = []
        self.containers = self.volumes = Collection(self)


def ours() -> dict[str, str]:
    return {LABEL_MANAGED: "true", LABEL_RUN: RUN}


@pytest.fixture
def fleet_state(tmp_path: Path) -> state.StageState:
    recorded = state.StageState(
        run_dir=str(tmp_path), run_id=RUN, hosts=3, arch="amd64", local_fleet=True,
        containers=["edge-1", "edge-2", "edge-3", "gone"],
        volumes=["edge-1-docker", "edge-2-docker"])
    recorded.save()
    return recorded


def test_destroy_removes_only_what_carries_this_runs_labels(fleet_state: state.StageState,
                                                           tmp_path: Path) -> None:
    engine = FakeEngine({
        "edge-1": ours(), "edge-1-docker": ours(),
        "edge-2": {LABEL_MANAGED: "true", LABEL_RUN: "another-run"},  # the name was reused
        "edge-2-docker": {"com.example.team": "db"},  # not xedgesim's at all
        "edge-3": {LABEL_MANAGED: "true"},
    })
    outcome = destroy_step.execute(StageContext(fleet_state, tmp_path, say=lambda _: None,
                                                client=engine))
    assert sorted(engine.removed) == ["edge-1", "edge-1-docker"]
    assert sorted(engine.things) == ["edge-2", "edge-2-docker", "edge-3"]
    assert not outcome.passed
    assert "container edge-2 (org.xedgesim.run=another-run)" in outcome.summary
    assert "volume edge-2-docker (not made by xedgesim)" in outcome.summary
    assert "container edge-3 (no org.xedgesim.run label)" in outcome.summary
    saved = state.load(tmp_path)
    assert saved.containers == [] and saved.volumes == []


def test_destroy_of_an_owned_fleet_passes(fleet_state: state.StageState, tmp_path: Path) -> None:
    engine = FakeEngine({name: ours() for name in ("edge-1", "edge-2", "edge-3", "edge-1-docker",
                                                   "edge-2-docker")})
    outcome = destroy_step.execute(StageContext(fleet_state, tmp_path, say=lambda _: None,
                                                client=engine))
    assert outcome.passed, outcome.summary
    assert engine.things == {}
    assert (tmp_path / "logs" / "edge-1.log").read_bytes() == b"log\n"
