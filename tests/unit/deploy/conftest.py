"""Fakes shaped like what ansible-runner really hands over (recorded from a deploy whose
canary failed its health gate and was rolled back)."""

from __future__ import annotations

from typing import Any

import pytest

PLAY = "Deploy an xedgesim release, canary first"


def play_start() -> dict[str, Any]:
    return {"event": "playbook_on_play_start", "event_data": {"play": PLAY, "name": PLAY}}


def task_start(task: str, role: str | None = None) -> dict[str, Any]:
    data = {"task": task, "play": PLAY, "name": f"{role} : {task}" if role else task}
    if role:
        data["role"] = role
    return {"event": "playbook_on_task_start", "event_data": data}


def result(kind: str, host: str, task: str, role: str | None = None, **res: Any) -> dict:
    data: dict[str, Any] = {"host": host, "task": task, "play": PLAY, "res": res,
                            "task_action": res.pop("_action", "ansible.builtin.command")}
    if role:
        data["role"] = role
    if kind == "runner_on_failed":
        data["ignore_errors"] = res.pop("_ignore", None)
    return {"event": kind, "event_data": data}


def stats(**fields: dict[str, int]) -> dict[str, Any]:
    return {"event": "playbook_on_stats", "event_data": fields}


@pytest.fixture
def failed_canary_events() -> list[dict[str, Any]]:
    """edge-1 (the canary) changes its gateway, fails the health gate, is rolled back and
    stops the deployment; edge-2 is never reached."""
    gate = "Check the containers are healthy and run the release's images"
    return [
        {"event": "playbook_on_start", "event_data": {}},
        play_start(),
        task_start("Copy the image's archive: gateway", "image_release"),
        {"event": "runner_on_start", "event_data": {"host": "edge-1"}},
        result("runner_on_ok", "edge-1", "Copy the image's archive: gateway", "image_release",
               changed=True, size=176_000_000, _action="ansible.builtin.copy"),
        task_start("Run the gateway container", "edge_gateway"),
        result("runner_on_ok", "edge-1", "Run the gateway container", "edge_gateway",
               changed=True),
        task_start("Install packages", "docker_engine"),
        result("runner_on_skipped", "edge-1", "Install packages", "docker_engine"),
        task_start(gate, "health_gate"),
        result("runner_on_failed", "edge-1", gate, "health_gate",
               msg="edge-1: xedgesim-gateway is restarting and unhealthy (restarted 3 times)"),
        task_start("Stop the deployment"),
        result("runner_on_failed", "edge-1", "Stop the deployment",
               msg="edge-1 failed at the gate; rolled back to release r0a85bf317083. "
                   "Later batches were not deployed."),
        stats(ok={"edge-1": 65}, changed={"edge-1": 11}, failures={"edge-1": 1}, dark={},
              rescued={"edge-1": 1}, processed={"edge-1": 1}, skipped={"edge-1": 18}),
    ]


@pytest.fixture
def make() -> Any:
    """The event builders, for tests that need their own event streams."""
    from types import SimpleNamespace

    return SimpleNamespace(play_start=play_start, task_start=task_start, result=result,
                           stats=stats)
