"""xedgesim/deploy/events.py: runner events -> per-task records, failures, recap."""

from __future__ import annotations

from typing import Any

from xedgesim.deploy.events import (
    EventTracker,
    Failure,
    HostResult,
    Recap,
    TaskDone,
    TaskStarted,
    failure_message,
    stats_from_event,
    task_name,
)


def feed(events: list[dict[str, Any]]) -> tuple[EventTracker, list[Any]]:
    tracker = EventTracker()
    records = [record for event in events for record in tracker.handle(event)]
    return tracker, records


def test_failed_canary_gives_failures_changes_and_recap(failed_canary_events) -> None:
    tracker, records = feed(failed_canary_events)
    assert [f.line() for f in tracker.failures] == [
        "edge-1 · health_gate : Check the containers are healthy and run the release's images · "
        "edge-1: xedgesim-gateway is restarting and unhealthy (restarted 3 times)",
        "edge-1 · Stop the deployment · edge-1 failed at the gate; rolled back to release "
        "r0a85bf317083. Later batches were not deployed.",
    ]
    assert tracker.changes == [("edge-1", "image_release : Copy the image's archive: gateway"),
                               ("edge-1", "edge_gateway : Run the gateway container")]
    assert tracker.copied_bytes == 176_000_000
    assert tracker.stats is not None
    canary = tracker.stats["edge-1"]
    assert (canary.ok, canary.changed, canary.failed, canary.rescued) == (65, 11, 1, 1)
    assert not canary.succeeded
    assert isinstance(records[-1], Recap)


def test_records_come_in_display_order(failed_canary_events) -> None:
    _, records = feed(failed_canary_events[:7])
    kinds = [type(record) for record in records]
    assert kinds == [TaskStarted, HostResult, TaskDone, TaskStarted, HostResult]
    done = records[2]
    assert done.task == "image_release : Copy the image's archive: gateway"
    assert done.hosts == {"changed": ("edge-1",)}


def test_task_name_with_and_without_role() -> None:
    assert task_name({"task": "Run it", "role": "edge_gateway"}) == "edge_gateway : Run it"
    assert task_name({"task": "Stop the deployment"}) == "Stop the deployment"
    assert task_name({"name": "r : t", "role": "r"}) == "r : t"


def test_stats_cover_every_host_seen_in_any_field() -> None:
    found = stats_from_event({"ok": {"a": 3}, "dark": {"b": 1}, "processed": {"a": 1, "b": 1,
                                                                             "c": 1}})
    assert sorted(found) == ["a", "b", "c"]
    assert found["b"].unreachable == 1 and not found["b"].succeeded
    assert found["c"].succeeded and found["c"].ok == 0


def test_failure_message_prefers_msg_then_output_tail() -> None:
    assert failure_message({"msg": "boom"}) == "boom"
    assert failure_message({"msg": "MODULE FAILURE\nSee stdout/stderr",
                            "module_stderr": "Traceback\nKeyError: 'x'"}) \
        == "Traceback / KeyError: 'x'"
    assert failure_message({"stderr": "a\nb\nc\nd"}) == "b / c / d"
    assert failure_message({"rc": 3}) == "failed with return code 3"
    assert failure_message({"censored": "the output has been hidden"}) == \
        "output hidden by no_log"
    assert failure_message({"results": [{"failed": False}, {"failed": True, "msg": "item"}]}) \
        == "item"
    assert len(failure_message({"msg": "x" * 1000})) == 300


def test_unreachable_is_a_failure_flagged_unreachable() -> None:
    tracker, records = feed([
        {"event": "playbook_on_task_start", "event_data": {"task": "ping"}},
        {"event": "runner_on_unreachable",
         "event_data": {"host": "pi", "task": "ping", "res": {"msg": "ssh: timed out"}}},
    ])
    failure = next(r for r in records if isinstance(r, Failure))
    assert failure.unreachable and failure.line() == "pi · ping · ssh: timed out"
    assert tracker.totals["unreachable"] == 1


def test_ignored_failures_and_loop_items_are_not_counted_as_failures() -> None:
    tracker, _ = feed([
        {"event": "playbook_on_task_start", "event_data": {"task": "probe"}},
        {"event": "runner_item_on_failed", "event_data": {"host": "a", "res": {"msg": "x"}}},
        {"event": "runner_on_failed",
         "event_data": {"host": "a", "task": "probe", "ignore_errors": True,
                        "res": {"msg": "tolerated"}}},
    ])
    assert tracker.failures == []
    assert tracker.totals["ignored"] == 1 and tracker.totals["failed"] == 0
