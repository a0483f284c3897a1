"""One playbook run through ansible-runner, with the guarantees every caller needs.

* Each run gets its own absolute private data dir under the run directory
  (``<run>/ansible/<NN>-<name>/``), so artifacts of a converge and of the idempotence converge
  never mix, and everything a run did stays with the run.
* Secrets never pass through ansible-runner's ``env/`` files or environment: runner writes its
  whole environment into ``artifacts/<ident>/command``. Non-secret extra vars are given as a
  dict; secret vars only as ``-e @file`` on the command line, naming a 0600 file. The ``env/``
  files are suppressed, and the ``command`` artifact keeps only the variables this module set.
* Events are streamed to a live display and folded into per-host stats and failures as
  ``host · task · message`` (``events.py``); the recap comes from runner's structured stats.
* Ctrl-C and SIGTERM set a flag that ansible-runner polls (``cancel_callback``); runner stops
  the playbook and records the run as canceled, and the caller gets ``Interrupted``.
"""

from __future__ import annotations

import importlib
import json
import os
import shlex
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

from xedgesim.deploy import paths
from xedgesim.deploy.errors import DeployError, Interrupted
from xedgesim.deploy.events import EventTracker, Failure, HostStats, Record, stats_from_event

# how often (s) ansible-runner asks whether to cancel: bounds the Ctrl-C reaction time
CANCEL_POLL_S = 0.5
# the variables (besides ANSIBLE_*/RUNNER_*) a ``command`` artifact may keep
KEPT_ENV = frozenset({"PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV"})


@dataclass(frozen=True)
class PlaybookResult:
    """What a playbook run did, per host, and where its artifacts are."""

    name: str
    playbook: Path
    status: str  # successful | failed | canceled | timeout
    rc: int
    hosts: dict[str, HostStats]
    failures: tuple[Failure, ...]
    changes: tuple[tuple[str, str], ...]  # (host, task) that reported a change
    artifact_dir: Path
    seconds: float
    copied_bytes: int = 0
    output_tail: str = ""  # Ansible's last output lines, kept when it produced no recap
    check: bool = False

    @property
    def passed(self) -> bool:
        """The playbook ran to its recap and no host failed or was unreachable."""
        return (self.status == "successful" and bool(self.hosts)
                and all(stats.succeeded for stats in self.hosts.values()))

    @property
    def failed_hosts(self) -> list[str]:
        return sorted(h for h, stats in self.hosts.items() if not stats.succeeded)

    @property
    def changed_hosts(self) -> list[str]:
        return sorted(h for h, stats in self.hosts.items() if stats.changed)

    def recap(self) -> str:
        """``host ok=N changed=N failed=N unreachable=N`` per host, one line each."""
        if not self.hosts:
            return "no recap (the playbook stopped before any host ran)"
        width = max(len(host) for host in self.hosts)
        return "\n".join(
            f"{host:<{width}}  ok={s.ok} changed={s.changed} failed={s.failed} "
            f"unreachable={s.unreachable}" + (f" rescued={s.rescued}" if s.rescued else "")
            for host, s in sorted(self.hosts.items())
        )

    def problem(self) -> str:
        """Why the run did not pass, for an error message; empty when it passed."""
        if self.passed:
            return ""
        lines = [f"{self.name}: {self.playbook.name} {self.status} (rc {self.rc})"]
        lines += [f"  {failure.line()}" for failure in self.failures]
        if not self.hosts and self.output_tail:
            lines.append("  ansible-playbook said:")
            lines += [f"    {line}" for line in self.output_tail.splitlines()]
        lines.append(f"  artifacts: {self.artifact_dir}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "playbook": str(self.playbook),
            "status": self.status,
            "rc": self.rc,
            "check": self.check,
            "seconds": round(self.seconds, 3),
            "hosts": {host: stats.as_dict() for host, stats in sorted(self.hosts.items())},
            "failures": [failure.line() for failure in self.failures],
            "changes": [f"{host} · {task}" for host, task in self.changes],
            "copied_bytes": self.copied_bytes,
            "artifacts": str(self.artifact_dir),
        }


@dataclass
class PlaybookRun:
    """Everything one run needs; ``secret_vars`` are files holding secrets (``-e @file``)."""

    playbook: Path
    inventories: tuple[Path, ...]  # in order: a later source overrides an earlier one
    run_dir: Path
    name: str
    extravars: Mapping[str, Any] = field(default_factory=dict)
    secret_vars: tuple[Path, ...] = ()
    check: bool = False
    limit: str | None = None
    project_dir: Path | None = None


def run_playbook(
    run: PlaybookRun,
    progress: Callable[[Record], None] | None = None,
    runner_api: ModuleType | Any = None,
) -> PlaybookResult:
    """Run ``run.playbook`` to its end (or until Ctrl-C) and return what it did.

    Raises Interrupted after a cancelled run (its artifacts are kept) and DeployError when
    ansible-runner itself cannot start.
    """
    if runner_api is None:
        runner_api = importlib.import_module("ansible_runner")
    project_dir = (run.project_dir or paths.project_root()).resolve()
    private = private_data_dir(run.run_dir, run.name)
    for secret in run.secret_vars:
        check_secret_file(secret)
    envvars = environment(private, project_dir)
    tracker = EventTracker()

    def on_event(event: dict[str, Any]) -> bool:
        for record in tracker.handle(event):
            if progress is not None:
                progress(record)
        return True  # keep every event as an artifact

    started = time.monotonic()
    with cancel_on_signals() as cancelled:
        try:
            result = runner_api.run(
                private_data_dir=str(private),
                project_dir=str(project_dir),
                playbook=str(run.playbook.resolve()),
                inventory=[str(path.resolve()) for path in run.inventories],
                extravars=dict(run.extravars),
                cmdline=command_line(run),
                limit=run.limit,
                envvars=envvars,
                ident=run.name,
                quiet=True,
                suppress_env_files=True,
                settings={"pexpect_timeout": CANCEL_POLL_S},
                event_handler=on_event,
                cancel_callback=cancelled.is_set,
            )
        except Exception as error:  # runner's own failures: a missing binary, a bad config
            raise DeployError(f"{run.name}: ansible-runner could not run {run.playbook}: "
                              f"{error}") from error
    seconds = time.monotonic() - started
    artifact_dir = Path(result.config.artifact_dir)
    redact_command_artifact(artifact_dir, envvars)
    stats = structured_stats(result) or tracker.stats or {}
    outcome = PlaybookResult(
        name=run.name,
        playbook=run.playbook,
        status=str(result.status),
        rc=int(result.rc if result.rc is not None else -1),
        hosts=stats,
        failures=tuple(tracker.failures),
        changes=tuple(tracker.changes),
        artifact_dir=artifact_dir,
        seconds=seconds,
        copied_bytes=tracker.copied_bytes,
        output_tail="" if stats else output_tail(artifact_dir),
        check=run.check,
    )
    if outcome.status == "canceled" or cancelled.is_set():
        raise Interrupted(f"{run.name}: cancelled; the playbook was stopped, artifacts in "
                          f"{artifact_dir}")
    return outcome


def private_data_dir(run_dir: Path, name: str) -> Path:
    """``<run>/ansible/<NN>-<name>``: absolute, new, private (0700), numbered in run order."""
    base = (run_dir / "ansible").resolve()
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    number = 1 + sum(1 for entry in base.iterdir() if entry.is_dir())
    while True:
        path = base / f"{number:02d}-{name}"
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            number += 1
            continue
        return path


def environment(private: Path, project_dir: Path) -> dict[str, str]:
    """The variables set for ansible-playbook: configuration only, never a secret.

    ansible-runner turns host key checking off unless told otherwise; it stays on here
    (staging inventories carry their own known_hosts), unless the user's environment says.
    """
    env = {
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_LOCAL_TEMP": str(private / "tmp"),
        "ANSIBLE_HOST_KEY_CHECKING": os.environ.get("ANSIBLE_HOST_KEY_CHECKING", "True"),
    }
    config = paths.ansible_config(project_dir)
    if config is not None and "ANSIBLE_CONFIG" not in os.environ:
        env["ANSIBLE_CONFIG"] = str(config)
    return env


def command_line(run: PlaybookRun) -> str:
    """ansible-playbook options: secret vars files by path (``-e @file``), check mode."""
    parts = []
    for secret in run.secret_vars:
        parts += ["-e", f"@{secret.resolve()}"]
    if run.check:
        parts.append("--check")
    return shlex.join(parts)


def check_secret_file(path: Path) -> None:
    """A secrets file must exist and be readable by its owner only (ansible-vault files too)."""
    try:
        mode = path.stat().st_mode
    except OSError as error:
        raise DeployError(f"secrets file {path}: {error.strerror or error}") from None
    if mode & 0o077:
        raise DeployError(f"secrets file {path} is readable by others (mode {mode & 0o777:o}); "
                          f"run: chmod 600 {shlex.quote(str(path))}")


@contextmanager
def cancel_on_signals() -> Iterator[threading.Event]:
    """An event set by Ctrl-C or SIGTERM while the block runs; the previous handlers are put
    back after it. Off the main thread signals cannot be caught, so the event only exists."""
    cancelled = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield cancelled
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        cancelled.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield cancelled
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def structured_stats(result: Any) -> dict[str, HostStats] | None:
    """Per-host stats from ansible-runner's ``Runner.stats`` (its ``playbook_on_stats``)."""
    try:
        stats = result.stats
    except Exception:  # runner reads its event files: a run that died early may have none
        return None
    return stats_from_event(stats) if stats else None


def redact_command_artifact(artifact_dir: Path, envvars: Mapping[str, str]) -> None:
    """Keep in ``command`` only the variables this module set and a few harmless ones: runner
    copies the caller's whole environment there, and that may hold anything."""
    path = artifact_dir / "command"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    env = data.get("env") or {}
    kept = {key: value for key, value in env.items()
            if key in envvars or key in KEPT_ENV or key.startswith(("ANSIBLE_", "RUNNER_"))}
    data["env"] = kept
    data["env_redacted"] = sorted(set(env) - set(kept))
    temporary = path.with_name("command.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    os.replace(temporary, path)


def output_tail(artifact_dir: Path, lines: int = 15) -> str:
    """The last lines Ansible printed, for a run that ended before its recap."""
    text = ""
    for name in ("stdout", "stderr"):
        try:
            text += (artifact_dir / name).read_text(errors="replace")
        except OSError:
            continue
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])
