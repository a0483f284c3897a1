"""Where a sweep's tasks run, one entry per kind in ``CLUSTERS``, chosen by ``--cluster``.

* no ``--cluster``: local worker processes (``--jobs N``, :mod:`xedgesim.sweep.pool`), no
  service needed;
* ``--cluster tcp://HOST:8786``: a running Dask distributed scheduler and its workers;
* ``--cluster local:N``: a Dask ``LocalCluster`` of N worker processes, started for the sweep
  and stopped with it.

Every executor hands each result to ``on_result`` as soon as its task finishes, in whatever
order they finish; the sweep keeps it on disk at once. On Dask, a worker that dies has its
tasks run again elsewhere by the scheduler (a task is pure: its result is the same wherever it
runs); a task whose workers keep dying (three times, Dask's ``allowed-failures``) fails the
sweep, as does a task that fails by itself. Dask is imported only by these executors.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, Protocol

from xedgesim.errors import BadInput, NodeFailure, XedgeError
from xedgesim.limits import MAX_JOBS
from xedgesim.sweep.pool import run_tasks
from xedgesim.sweep.task import Task, TaskJob, execute

OnTask = Callable[[Task, str], None]


class ClusterUnavailable(XedgeError):
    """The cluster ``--cluster`` names cannot be reached or started; nothing ran there."""

CONNECT_TIMEOUT_S = 10.0


class Executor(Protocol):
    def describe(self) -> str: ...

    def run(self, tasks: list[Task], on_result: OnTask) -> None: ...


@dataclass(frozen=True)
class LocalProcesses:
    """``--jobs N`` worker processes on this machine (one: in this process)."""

    jobs: int | None = None

    def describe(self) -> str:
        return f"{self._workers()} local process{'es' if self._workers() != 1 else ''}"

    def _workers(self) -> int:
        return max(1, min(self.jobs or os.cpu_count() or 1, MAX_JOBS))

    def run(self, tasks: list[Task], on_result: OnTask) -> None:
        run_tasks(TaskJob(), tasks, self._workers(),
                  on_result=lambda index, value: on_result(tasks[index], value))


@dataclass(frozen=True)
class DaskScheduler:
    """A Dask distributed scheduler that is already running (``tcp://HOST:PORT``)."""

    address: str

    def describe(self) -> str:
        return f"the Dask scheduler at {self.address}"

    @contextmanager
    def client(self) -> Iterator[Any]:
        from distributed import Client

        try:
            client = Client(self.address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, ValueError) as error:
            raise ClusterUnavailable(f"--cluster {self.address}: no Dask scheduler answers "
                                     f"there ({error}); start one with `dask scheduler`, see "
                                     "'Executors' in docs/experiments.md") from None
        try:
            yield client
        finally:
            with suppress(Exception):  # a scheduler gone already has nothing to close
                client.close(timeout=1)

    def run(self, tasks: list[Task], on_result: OnTask) -> None:
        with self.client() as client:
            _run_on(client, tasks, on_result)


@dataclass(frozen=True)
class LocalDaskCluster(DaskScheduler):
    """A Dask ``LocalCluster`` of ``workers`` processes, for this sweep only."""

    workers: int = 1

    def describe(self) -> str:
        return f"a Dask LocalCluster of {self.workers} worker{'s' if self.workers != 1 else ''}"

    @contextmanager
    def client(self) -> Iterator[Any]:
        from distributed import Client, LocalCluster

        try:
            cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                   processes=True, host="127.0.0.1", dashboard_address=None,
                                   silence_logs=logging.CRITICAL)
        except (OSError, RuntimeError) as error:
            raise ClusterUnavailable(f"--cluster local:{self.workers}: the Dask LocalCluster "
                                     f"did not start ({error})") from None
        client = None
        try:
            client = Client(cluster, set_as_default=False)
            client.run(_leave_ctrl_c_to_the_sweep)
            yield client
        except BaseException:
            # Ctrl-C has a 2 s budget and the workers' results are moot: kill them, close
            # the scheduler; the client's connection goes with it.
            _kill_workers(cluster)
            with suppress(Exception):
                cluster.close(timeout=1)
            raise
        with suppress(Exception):
            client.close(timeout=1)
        _kill_workers(cluster)
        with suppress(Exception):
            cluster.close(timeout=1)

    def run(self, tasks: list[Task], on_result: OnTask) -> None:
        with self.client() as client:
            _run_on(client, tasks, on_result, cancel=False)


def _leave_ctrl_c_to_the_sweep() -> None:
    """In a LocalCluster's worker: the terminal's Ctrl-C reaches the whole process group, and
    a worker it killed would be restarted by its nanny (seconds of CPU) just as the sweep
    stops it. The sweep handles Ctrl-C and kills its workers itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _kill_workers(cluster: Any) -> None:
    """The cluster's worker processes end now: killed, not asked, and not restarted by their
    nannies (a restart would hold up the cluster's close for seconds)."""
    for nanny in list(cluster.workers.values()):
        nanny.auto_restart = False
        process = getattr(getattr(nanny, "process", None), "process", None)
        pid = getattr(process, "pid", None)
        if pid:
            with suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _run_on(client: Any, tasks: list[Task], on_result: OnTask, *, cancel: bool = True) -> None:
    """Submit every task, hand results over as they finish; on any way out, cancel the rest
    (a cluster of our own is stopped instead: ``cancel`` False)."""
    from distributed import as_completed

    _quiet()
    _check_workers(client)
    token = secrets.token_hex(4)
    keys = [f"xedge-{task.name}-{token}" for task in tasks]
    futures = dict(zip(client.map(execute, tasks, key=keys, pure=False), tasks, strict=True))
    try:
        # Results come with their futures (fetched by the client's loop as they finish): no
        # round trip per task from this thread.
        for future, value in as_completed(futures, loop=client.loop, with_results=True,
                                          raise_errors=False):
            task = futures[future]
            if future.status != "finished":
                raise _failure(task, value[1] if isinstance(value, tuple) else value)
            on_result(task, value)
    finally:
        if cancel:
            with suppress(Exception):
                client.cancel(list(futures), force=True)


def _failure(task: Task, error: BaseException) -> XedgeError:
    """A task's exception as the sweep reports it."""
    from distributed.scheduler import KilledWorker

    if isinstance(error, XedgeError):
        return error
    if isinstance(error, KilledWorker):
        return NodeFailure(f"{task.describe()}: its Dask workers died while running it, "
                           "several times over")
    return NodeFailure(f"{task.describe()}: {type(error).__name__}: {error}")


def environment() -> dict[str, str]:
    """What a run's bytes depend on besides its scenario and seed: xedgesim and numpy."""
    import numpy

    from xedgesim import __version__

    return {"xedgesim": __version__, "numpy": numpy.__version__}


def _check_workers(client: Any) -> None:
    """Refuse workers whose results would not be byte-identical to this machine's."""
    here = environment()
    try:
        theirs = client.run(environment)
    except Exception as error:  # a worker that cannot even import xedgesim
        raise ClusterUnavailable(f"the Dask workers cannot run xedgesim ({type(error).__name__}"
                                 f": {error}); install the same xedgesim on every worker"
                                 ) from None
    for worker, found in sorted(theirs.items()):
        if found != here:
            raise ClusterUnavailable(
                f"Dask worker {worker} runs xedgesim {found['xedgesim']} with numpy "
                f"{found['numpy']}, this machine xedgesim {here['xedgesim']} with numpy "
                f"{here['numpy']}: their results would differ; install the same versions")


def _quiet() -> None:
    """Dask logs every worker it loses; the sweep says what matters itself."""
    for name in ("distributed", "distributed.client", "distributed.scheduler"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


CLUSTERS: dict[str, Callable[[str], Executor]] = {
    "tcp": lambda spec: DaskScheduler(spec),
    "local": lambda spec: LocalDaskCluster(spec, workers=_count(spec)),
}
"""``--cluster`` by scheme: ``tcp://HOST:PORT`` or ``local:N``."""


def executor_for(cluster: str | None, jobs: int | None) -> Executor:
    """The executor ``--cluster`` and ``--jobs`` ask for; a bad spec names the option."""
    if cluster is None:
        return LocalProcesses(jobs)
    if jobs is not None:
        raise BadInput("--jobs applies to local processes; with --cluster the cluster's "
                       "workers run the tasks")
    scheme, colon, _ = cluster.partition(":")
    if not colon or scheme not in CLUSTERS:
        known = ", ".join(["tcp://HOST:PORT", "local:N"])
        raise BadInput(f"--cluster {cluster[:80]!r}: expected one of {known}")
    return CLUSTERS[scheme](cluster)


def _count(spec: str) -> int:
    text = spec.partition(":")[2]
    if not text.isdigit() or not 1 <= int(text) <= MAX_JOBS:
        raise BadInput(f"--cluster {spec[:80]!r}: local:N takes 1 to {MAX_JOBS} workers")
    return int(text)
