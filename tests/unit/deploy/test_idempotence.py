"""xedgesim/deploy/steps/idempotence.py: the verdict from stats, change events, containers."""

from __future__ import annotations

from xedgesim.deploy.events import EventTracker, HostStats
from xedgesim.deploy.steps.idempotence import decide

QUIET = {"edge-1": HostStats(ok=40, changed=0), "edge-2": HostStats(ok=40, changed=0)}


def test_no_change_and_no_restart_passes() -> None:
    verdict = decide(QUIET, [], [])
    assert verdict.passed
    assert verdict.summary() == "changed=0 on every host; no container restarted"


def test_a_change_on_one_host_fails_and_names_the_tasks(make) -> None:
    tracker = EventTracker()
    for event in (make.task_start("Write the broker's ACL", "mqtt_broker"),
                  make.result("runner_on_ok", "edge-2", "Write the broker's ACL",
                              "mqtt_broker", changed=True),
                  make.result("runner_on_ok", "edge-1", "Write the broker's ACL",
                              "mqtt_broker", changed=False),
                  make.stats(ok={"edge-1": 40, "edge-2": 40}, changed={"edge-2": 1},
                             processed={"edge-1": 1, "edge-2": 1})):
        tracker.handle(event)
    assert tracker.stats is not None
    verdict = decide(tracker.stats, tracker.changes, [])
    assert not verdict.passed
    assert verdict.changed == {"edge-2": 1}
    assert verdict.culprits == ("edge-2 · mqtt_broker : Write the broker's ACL",)
    assert "edge-2 changed=1" in verdict.summary()


def test_a_restarted_container_fails_even_with_changed_zero() -> None:
    verdict = decide(QUIET, [], ["edge-1 · xedgesim-broker · restarted"])
    assert not verdict.passed and verdict.changed == {}
    assert "edge-1 · xedgesim-broker · restarted" in verdict.summary()


def test_a_second_converge_that_failed_is_not_idempotent() -> None:
    verdict = decide(QUIET, [], [], run_passed=False, problem="idempotence: stage.yml failed")
    assert not verdict.passed and verdict.summary() == "idempotence: stage.yml failed"
    assert not decide({}, [], []).passed  # no recap: nothing was proven
