"""xedgesim/deploy/snapshot.py: docker inspect -> states, and what changed between two."""

from __future__ import annotations

import json

from xedgesim.deploy.snapshot import ContainerState, parse_inspect, restarted


def inspect(name: str, cid: str = "c1", started: str = "T1", restarts: int = 0) -> dict:
    return {"Name": f"/{name}", "Id": cid, "Image": "sha256:i", "RestartCount": restarts,
            "State": {"StartedAt": started, "Running": True}}


def test_parse_inspect() -> None:
    found = parse_inspect(json.dumps([inspect("xedgesim-broker")]))
    assert found == {"xedgesim-broker": ContainerState("c1", "sha256:i", "T1", 0, True)}
    assert parse_inspect("  \n") == {}


def test_restarted_names_every_kind_of_disturbance() -> None:
    before = {"edge-1": parse_inspect(json.dumps([
        inspect("same"), inspect("bounced"), inspect("replaced"), inspect("gone"),
        inspect("crashed")]))}
    after = {"edge-1": parse_inspect(json.dumps([
        inspect("same"), inspect("bounced", started="T2"), inspect("replaced", cid="c2"),
        inspect("crashed", restarts=1), inspect("new")]))}
    assert restarted(before, after) == [
        "edge-1 · bounced · restarted", "edge-1 · crashed · restarted",
        "edge-1 · gone · removed", "edge-1 · new · created", "edge-1 · replaced · recreated",
    ]
    assert restarted(before, before) == []
