"""One playbook run through ansible-runner, with the guarantees every caller needs.

* Each run gets its own absolute private data dir under the run directory
  (``<run>/ansible/<NN>-<name>/``), so artifacts of a converge and of the idempotence converge
  never mix, and everything a run did stays with the run.
* Secrets never pass through ansible-runner's ``env/`` files or environment: runner writes the
  environment it gives ansible-playbook into ``artifacts/<ident>/command`` before the playbook
  starts, so a run killed at any moment leaves it on disk. That environment is therefore cut
  down to an allowlist *before* runner writes it (``passed_environment``): Ansible's own
  settings and what a login and ssh need, never a variable whose name says it may hold a
  secret (``*PASS*``, ``*TOKEN*``, ``*SECRET*``, ``*PRIVATE_KEY*``, ``*VAULT*``, ...). The few
  such variables that name a *file* (``ANSIBLE_VAULT_PASSWORD_FILE``, ``ANSIBLE_PRIVATE_KEY_FILE``
  ...) become the equivalent command-line option, so only the path is written. Non-secret extra
  vars are given as a dict; secret vars only as ``-e @file``, naming a 0600 file. The ``env/``
  files are suppressed.
* Ansible's executables are looked for next to the running interpreter first
  (``Path(sys.executable).parent``): ``.venv/bin/xedge`` works without an activated venv.
* Events are streamed to a live display and folded into per-host stats and failures as
  ``host · task · message`` (``events.py``); the recap comes from runner's structured stats.
* Ctrl-C and SIGTERM set a flag that ansible-runner polls (``cancel_callback``); runner stops
  the playbook and records the run as canceled, and the caller gets ``Interrupted``. This is
  the one place that does not use :mod:`xedgesim.interrupts`: its handlers raise an exception
  wherever the main thread is, which here is inside runner's pexpect loop, so runner would be
  unwound without terminating ansible-playbook or writing its canceled status and artifacts;
  and ``interrupts.deferred`` keeps the signal to itself until its block ends, while runner
  must see it as it polls. A flag runner polls is the only way it stops the playbook cleanly.
"""

from __future__ import annotations

import importlib
import os
import shlex
import signal
import sys
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
# the variables of the caller's environment ansible-playbook gets besides Ansible's and
# ansible-runner's own settings: what a login and ssh need, nothing that may hold a secret
PASSED_ENV = frozenset({"HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE",
                        "LC_MESSAGES", "TERM", "TZ", "TMPDIR", "SSH_AUTH_SOCK", "VIRTUAL_ENV",
                        "PYTHONPATH", "ORIGINAL_STDOUT_CALLBACK"})
# prefixes of the settings of Ansible and of ansible-runner (which adds its callback's settings)
PASSED_PREFIXES = ("ANSIBLE_", "RUNNER_", "AWX_")
# a variable whose name holds one of these may hold a secret: never passed, never written
SECRET_MARKERS = ("PASS", "TOKEN", "SECRET", "PRIVATE_KEY", "VAULT", "CREDENTIAL", "API_KEY",
                  "APIKEY", "AUTH_KEY")
# variables that name a secret's *file*: passed as the option instead (only the path is written)
SECRET_FILE_OPTIONS = {
    "ANSIBLE_VAULT_PASSWORD_FILE": "--vault-password-file",
    "ANSIBLE_PRIVATE_KEY_FILE": "--private-key",
    "ANSIBLE_BECOME_PASSWORD_FILE": "--become-password-file",
    "ANSIBLE_CONNECTION_PASSWORD_FILE": "--connection-password-file",
}


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
    withheld_env: tuple[str, ...] = ()  # names of variables not passed (they may hold secrets)
    copied_bytes: int = 0
    output_tail: str = ""  # Ansible's last output lines, kept when it produced no recap
    check: bool = False
    published: dict[str, Any] = field(default_factory=dict)  # the playbook's set_stats data

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
            "withheld_env": list(self.withheld_env),
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

    ``runner_api`` is ``ansible_runner.interface`` (its ``init_runner`` prepares a Runner
    without starting it, so the environment is cut down before runner writes it anywhere).
    Raises Interrupted after a cancelled run (its artifacts are kept) and DeployError when
    ansible-runner itself cannot start.
    """
    if runner_api is None:
        runner_api = importlib.import_module("ansible_runner.interface")
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
            result = runner_api.init_runner(
                private_data_dir=str(private),
                project_dir=str(project_dir),
                playbook=str(run.playbook.resolve()),
                inventory=[str(path.resolve()) for path in run.inventories],
                extravars=dict(run.extravars),
                cmdline=command_line(run, os.environ),
                limit=run.limit,
                envvars=envvars,
                ident=run.name,
                quiet=True,
                suppress_env_files=True,
                settings={"pexpect_timeout": CANCEL_POLL_S},
                event_handler=on_event,
                cancel_callback=cancelled.is_set,
            )
            # what runner would pass (and write into ``command``) is the caller's whole
            # environment plus its own settings: only the allowlist goes on
            result.config.env, withheld = passed_environment(result.config.env, envvars)
            result.run()
        except Exception as error:  # runner's own failures: a missing binary, a bad config
            raise DeployError(f"{run.name}: ansible-runner could not run {run.playbook}: "
                              f"{error}") from error
    seconds = time.monotonic() - started
    artifact_dir = Path(result.config.artifact_dir)
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
        withheld_env=withheld,
        copied_bytes=tracker.copied_bytes,
        output_tail="" if stats else output_tail(artifact_dir),
        check=run.check,
        published=tracker.published,
    )
    if outcome.status == "canceled" or cancelled.is_set():
        raise Interrupted(f"{run.name}: cancelled; the playbook was stopped, artifacts in "
                          f"{artifact_dir}", cancelled.signum)
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
        "PATH": executable_path(),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_LOCAL_TEMP": str(private / "tmp"),
        "ANSIBLE_HOST_KEY_CHECKING": os.environ.get("ANSIBLE_HOST_KEY_CHECKING", "True"),
    }
    config = paths.ansible_config(project_dir)
    if config is not None and "ANSIBLE_CONFIG" not in os.environ:
        env["ANSIBLE_CONFIG"] = str(config)
    return env


def executable_path(path: str | None = None) -> str:
    """``PATH`` with the running interpreter's directory first: Ansible's executables are
    installed next to it (``.venv/bin``), and a venv run as ``.venv/bin/xedge`` is not on
    ``PATH``."""
    here = str(Path(sys.executable).parent)
    rest = [entry for entry in (os.environ.get("PATH", os.defpath) if path is None
                                else path).split(os.pathsep) if entry and entry != here]
    return os.pathsep.join([here, *rest])


def secret_bearing(name: str) -> bool:
    """May a variable of this name hold a secret? Judged by its name alone, on purpose: a
    value cannot be told to be secret."""
    upper = name.upper()
    return any(marker in upper for marker in SECRET_MARKERS)


def passed_environment(env: Mapping[str, str],
                       ours: Mapping[str, str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """What ansible-playbook gets (and runner writes into ``command``) of ``env``: the
    variables this module set, ``PASSED_ENV``, and the settings of Ansible and runner
    (``PASSED_PREFIXES``); never a secret-bearing one. Returns it and the names withheld."""
    passed = {}
    for key, value in env.items():
        if key in ours or (not secret_bearing(key)
                           and (key in PASSED_ENV or key.startswith(PASSED_PREFIXES))):
            passed[key] = value
    return passed, tuple(sorted(set(env) - set(passed)))


def command_line(run: PlaybookRun, env: Mapping[str, str] | None = None) -> str:
    """ansible-playbook options: secret vars files by path (``-e @file``), the files of
    secrets the caller's environment names (``SECRET_FILE_OPTIONS``), check mode."""
    parts = []
    for variable, option in SECRET_FILE_OPTIONS.items():
        if (env or {}).get(variable):
            parts += [option, str((env or {})[variable])]
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


class Cancelled(threading.Event):
    """Set when a signal asks the playbook to stop; ``signum`` is which (the exit status)."""

    signum: int = signal.SIGINT


@contextmanager
def cancel_on_signals() -> Iterator[Cancelled]:
    """An event set by Ctrl-C or SIGTERM while the block runs; the previous handlers are put
    back after it. Off the main thread signals cannot be caught, so the event only exists."""
    cancelled = Cancelled()
    if threading.current_thread() is not threading.main_thread():
        yield cancelled
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        cancelled.signum = signum
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
