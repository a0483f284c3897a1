"""Local worker processes: the default executor of replications and grid sweeps.

Not ``concurrent.futures``: its workers turn a Ctrl-C into a result and move on to the next
task, and it has no way to stop them. Here workers ignore Ctrl-C (the terminal sends it to the
whole process group) and leave it to the parent, which on any interrupt or failure sends each
worker SIGTERM, kills one that is not gone after ``grace`` seconds, and waits for all. A worker
that gets SIGTERM itself (``kill`` of the group) stops the same way, and on Linux one whose
parent dies outright is sent SIGTERM by the kernel.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection, wait
from typing import Any, NoReturn, Protocol

from xedgesim.errors import NodeFailure
from xedgesim.interrupts import Interrupted, deferred, signals_as_interrupt
from xedgesim.rundir import OutputError

STOP_GRACE_S = 1.5
"""How long a worker told to stop may take before it is killed (pure-Python runs stop in
milliseconds)."""

STOP_GRACE_CONTAINERS_S = 20.0
"""The same for runs with containers: removing them takes the engine a few seconds."""

OnResult = Callable[[int, Any], None]
"""Called in the parent with (the task's index, its value) as each task finishes."""


class Job(Protocol):
    """What every task of a pool shares; a worker gets it once, then tasks one by one."""

    def run(self, task: Any) -> Any: ...

    def describe(self, task: Any) -> str: ...


def run_tasks(job: Job, tasks: Sequence[Any], workers: int, grace: float = STOP_GRACE_S,
              on_result: OnResult | None = None) -> list[Any]:
    """Every task's value, in the order of ``tasks``; with one worker they run here, one
    after another. ``on_result`` sees each value as soon as its task finishes."""
    workers = max(1, min(workers, len(tasks)))
    if workers == 1:
        values = []
        for index, task in enumerate(tasks):
            values.append(job.run(task))
            if on_result is not None:
                on_result(index, values[-1])
        return values
    with LocalPool(job, workers, grace) as pool:
        return pool.run(tasks, on_result)


class LocalPool:
    """Worker processes that each run task after task, and that all stop with the sweep."""

    def __init__(self, job: Job, workers: int, grace: float) -> None:
        self.job = job
        self.count = workers
        self.grace = grace
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self.connections: list[Connection] = []

    def __enter__(self) -> LocalPool:
        context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
        try:
            for _ in range(self.count):
                ours, theirs = context.Pipe()
                process = context.Process(target=_worker, args=(theirs, self.job), daemon=True)
                with _signals_blocked():  # the child sets its own handlers before any arrives
                    process.start()
                    self.processes.append(process)
                    self.connections.append(ours)
                theirs.close()
        except BaseException:
            self._stop(finished=False)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc_info: object) -> None:
        self._stop(finished=kind is None)

    def run(self, tasks: Sequence[Any], on_result: OnResult | None = None) -> list[Any]:
        """The values in the order of ``tasks``."""
        queue = iter(range(len(tasks)))
        values: dict[int, Any] = {}
        busy: dict[Connection, int] = {}
        process_of = dict(zip(self.connections, self.processes, strict=True))
        for connection in self.connections:
            index = next(queue, None)
            if index is not None:
                connection.send(tasks[index])
                busy[connection] = index
        while busy:
            sentinels = {process_of[c].sentinel: c for c in busy}
            for ready in wait([*busy, *sentinels]):
                connection = sentinels.get(ready, ready)
                if connection not in busy:
                    continue  # its result was read already
                index = busy.pop(connection)
                what = self.job.describe(tasks[index])
                try:
                    outcome, value = connection.recv()
                except (EOFError, OSError):  # the worker died without a word
                    _worker_died(process_of[connection], what)
                if outcome == "node":
                    raise NodeFailure(value)
                if outcome == "output":
                    raise OutputError(value)
                values[index] = value
                if on_result is not None:
                    on_result(index, value)
                following = next(queue, None)
                if following is not None:
                    try:
                        connection.send(tasks[following])
                    except OSError:
                        _worker_died(process_of[connection], self.job.describe(tasks[following]))
                    busy[connection] = following
        return [values[index] for index in range(len(tasks))]

    def _stop(self, *, finished: bool) -> None:
        """Every worker gone before the sweep goes on: told to finish when all went well,
        SIGTERM otherwise, SIGKILL after ``grace``. A second Ctrl-C meanwhile is held, not
        allowed to cut this short."""
        with deferred():
            if finished:
                for connection in self.connections:
                    with suppress(OSError):  # that worker is gone already
                        connection.send(None)
                deadline = time.monotonic() + self.grace
                for process in self.processes:
                    process.join(max(0.0, deadline - time.monotonic()))
            for process in self.processes:
                if process.is_alive():
                    process.terminate()
            deadline = time.monotonic() + self.grace
            for process in self.processes:
                process.join(max(0.0, deadline - time.monotonic()))
            for process in self.processes:
                if process.is_alive():
                    process.kill()
                    process.join()
            for connection in self.connections:
                connection.close()
            self.processes.clear()
            self.connections.clear()


def _worker_died(process: multiprocessing.process.BaseProcess, what: str) -> NoReturn:
    """A worker stopped by a signal of its own (SIGTERM to the process group) stops the
    sweep as that signal would; any other death is a failure of its task."""
    process.join()
    code = process.exitcode or 0
    if code in (128 + signal.SIGINT, 128 + signal.SIGTERM):
        raise Interrupted(code - 128)
    if code < 0:
        raise NodeFailure(f"{what}: its worker process was killed by signal {-code}")
    raise NodeFailure(f"{what}: its worker process stopped with exit code {code}")


def _worker(connection: Connection, job: Job) -> None:
    """A worker's life: tasks from the parent until told to stop; failures go back as values,
    an interrupt ends the process (its run has cleaned up by the time it exits)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _die_with_parent()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        with signals_as_interrupt():
            while True:
                task = connection.recv()
                if task is None:
                    return
                try:
                    outcome = ("done", job.run(task))
                except NodeFailure as error:
                    outcome = ("node", str(error))
                except OutputError as error:
                    outcome = ("output", str(error))
                with deferred():  # a message cut half-way would leave the parent waiting
                    connection.send(outcome)
                if outcome[0] != "done":
                    return
    except Interrupted as error:
        sys.exit(128 + error.signum)
    except (EOFError, BrokenPipeError):
        return  # the parent is gone


def _die_with_parent() -> None:
    """On Linux, have the kernel send SIGTERM to this worker if its parent dies outright."""
    if sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


@contextmanager
def _signals_blocked() -> Iterator[None]:
    """Hold SIGINT and SIGTERM in the kernel while a worker is forked: the child inherits
    the mask and unblocks only once its own handlers are set."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
