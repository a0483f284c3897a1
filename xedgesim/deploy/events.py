"""ansible-runner's events turned into facts: what each task did on each host, what failed and
why, and the per-host recap — read from the structured events, never from Ansible's text.

Molecule decides idempotence with a regex over the recap and names culprits by scraping
``TASK [...]`` lines; here every decision reads fields of the ``playbook_on_stats`` and
``runner_on_*`` events that ansible-runner hands over, so it survives any stdout callback
and any change of wording. This module does no I/O: the display and the tests feed it dicts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# result statuses, in the order the display shows them
STATUSES = ("ok", "changed", "failed", "unreachable", "skipped", "ignored")
# actions whose result reports the bytes written on the host (``size``)
COPY_ACTIONS = frozenset({"copy", "ansible.builtin.copy", "ansible.legacy.copy"})
MESSAGE_LIMIT = 300


@dataclass(frozen=True)
class HostStats:
    """One host's line of the play recap, from ``playbook_on_stats``."""

    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0

    @property
    def succeeded(self) -> bool:
        return self.failed == 0 and self.unreachable == 0

    def as_dict(self) -> dict[str, int]:
        return {
            "ok": self.ok, "changed": self.changed, "failed": self.failed,
            "unreachable": self.unreachable, "skipped": self.skipped,
            "rescued": self.rescued, "ignored": self.ignored,
        }


@dataclass(frozen=True)
class Failure:
    """A task that failed on a host (or a host that could not be reached)."""

    host: str
    task: str
    message: str
    unreachable: bool = False

    def line(self) -> str:
        """``host · task · message``: the form every failure is reported in."""
        return f"{self.host} · {self.task} · {self.message}"


@dataclass(frozen=True)
class HostResult:
    """One task's outcome on one host, as it arrives."""

    host: str
    task: str
    status: str  # one of STATUSES


@dataclass(frozen=True)
class TaskStarted:
    play: str
    task: str


@dataclass(frozen=True)
class TaskDone:
    """A task finished on every host it ran on; ``hosts`` maps status -> host names."""

    play: str
    task: str
    hosts: dict[str, tuple[str, ...]]

    def count(self, status: str) -> int:
        return len(self.hosts.get(status, ()))


@dataclass(frozen=True)
class Recap:
    """The ``playbook_on_stats`` event: the run is over."""

    stats: dict[str, HostStats]


Record = TaskStarted | HostResult | Failure | TaskDone | Recap


@dataclass
class EventTracker:
    """Consumes ansible-runner events one at a time; ``handle`` returns what happened, in the
    order a display wants it. The accumulated facts are kept for the result."""

    play: str = ""
    task: str | None = None
    totals: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    changes: list[tuple[str, str]] = field(default_factory=list)  # (host, task) that changed
    stats: dict[str, HostStats] | None = None
    copied_bytes: int = 0
    # what the playbook published with ``set_stats`` (``per_host: false``): ansible-runner
    # puts only the run-wide custom stats in the stats event's ``artifact_data``
    published: dict[str, Any] = field(default_factory=dict)
    _task_hosts: dict[str, list[str]] = field(default_factory=dict)

    def handle(self, event: Mapping[str, Any]) -> list[Record]:
        """The records an event produces (often none)."""
        kind = event.get("event", "")
        data: Mapping[str, Any] = event.get("event_data") or {}
        if kind == "playbook_on_play_start":
            done = self._finish_task()
            self.play = str(data.get("play") or data.get("name") or "")
            return done
        if kind == "playbook_on_task_start":
            done = self._finish_task()
            self.task = task_name(data)
            return [*done, TaskStarted(self.play, self.task)]
        if kind == "playbook_on_stats":
            done = self._finish_task()
            self.stats = stats_from_event(data)
            published = data.get("artifact_data")
            self.published = dict(published) if isinstance(published, Mapping) else {}
            return [*done, Recap(self.stats)]
        status = result_status(kind, data)
        if status is None:
            return []
        return self._result(status, data)

    def _result(self, status: str, data: Mapping[str, Any]) -> list[Record]:
        host = str(data.get("host", "?"))
        task = task_name(data) if data.get("task") else (self.task or "?")
        self.totals[status] += 1
        if status == "changed":
            self.totals["ok"] += 1  # Ansible's recap counts a change as ok too
        self._task_hosts.setdefault(status, []).append(host)
        records: list[Record] = [HostResult(host, task, status)]
        res = data.get("res") or {}
        if status == "changed":
            self.changes.append((host, task))
            if data.get("task_action") in COPY_ACTIONS and isinstance(res.get("size"), int):
                self.copied_bytes += res["size"]
        if status in ("failed", "unreachable"):
            failure = Failure(host, task, failure_message(res), status == "unreachable")
            self.failures.append(failure)
            records.append(failure)
        return records

    def _finish_task(self) -> list[Record]:
        if self.task is None:
            return []
        done = TaskDone(self.play, self.task,
                        {status: tuple(hosts) for status, hosts in self._task_hosts.items()})
        self.task = None
        self._task_hosts = {}
        return [done]


def task_name(data: Mapping[str, Any]) -> str:
    """``role : task`` as Ansible prints it, or the task alone."""
    task = str(data.get("task") or data.get("name") or "?").strip()
    role = data.get("role")
    return f"{role} : {task}" if role and not task.startswith(f"{role} :") else task


def result_status(kind: str, data: Mapping[str, Any]) -> str | None:
    """The status of a per-host result event, or None for any other event.

    Loop items (``runner_item_on_*``) are not counted: the task's own result follows them.
    """
    if kind == "runner_on_ok":
        res = data.get("res") or {}
        return "changed" if res.get("changed") else "ok"
    if kind == "runner_on_failed":
        return "ignored" if data.get("ignore_errors") else "failed"
    if kind == "runner_on_unreachable":
        return "unreachable"
    if kind == "runner_on_skipped":
        return "skipped"
    return None


def stats_from_event(data: Mapping[str, Any]) -> dict[str, HostStats]:
    """Per-host recap from ``playbook_on_stats`` data (each field maps host -> count)."""

    def counts(key: str) -> Mapping[str, int]:
        value = data.get(key) or {}
        return value if isinstance(value, Mapping) else {}

    fields = {
        "ok": "ok", "changed": "changed", "failed": "failures", "unreachable": "dark",
        "skipped": "skipped", "rescued": "rescued", "ignored": "ignored",
    }
    hosts = sorted({host for key in (*fields.values(), "processed") for host in counts(key)})
    return {
        host: HostStats(**{name: int(counts(key).get(host, 0)) for name, key in fields.items()})
        for host in hosts
    }


def failure_message(res: Mapping[str, Any]) -> str:
    """The most useful short text of a failed result: ``msg``, else the tail of stderr or
    stdout, else the first failed loop item's message."""
    if res.get("censored"):
        return "output hidden by no_log"
    candidates: list[Any] = []
    msg = res.get("msg")
    if isinstance(msg, str) and msg.startswith("MODULE FAILURE"):
        candidates += [res.get("module_stderr"), res.get("module_stdout")]
    candidates += [msg, res.get("stderr"), res.get("stdout"), res.get("reason")]
    for item in res.get("results") or ():
        if isinstance(item, Mapping) and item.get("failed"):
            candidates.append(failure_message(item))
            break
    for text in candidates:
        if isinstance(text, str) and text.strip():
            return shorten(text)
        if text and not isinstance(text, str):
            return shorten(str(text))
    rc = res.get("rc")
    return f"failed with return code {rc}" if rc is not None else "failed (no message)"


def shorten(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """The last meaningful lines of ``text`` on one line, at most ``limit`` characters."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    joined = " / ".join(lines[-3:]) if len(lines) > 3 else " / ".join(lines)
    return joined if len(joined) <= limit else joined[: limit - 1] + "…"
