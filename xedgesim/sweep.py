"""Replications: the same scenario under many seeds, in worker processes, with 95 % CIs.

Runs with Docker services in the loop are statistical, and so is any question about a random
process; the honest answer is a mean with a confidence interval over independent seeds.
"""

from __future__ import annotations

import ctypes
import math
import multiprocessing
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import NoReturn

from xedgesim.errors import NodeFailure
from xedgesim.interrupts import Interrupted, deferred, signals_as_interrupt
from xedgesim.limits import MAX_JOBS, MAX_SEED, MAX_SEEDS
from xedgesim.report import write_json
from xedgesim.run import run_to_directory
from xedgesim.rundir import OutputError, RunIdentity, run_directory
from xedgesim.scenario.model import Scenario
from xedgesim.sim.pacing import DEFAULT_MAX_LAG_NS, NS_PER_MS

STOP_GRACE_S = 1.5
"""How long a worker told to stop may take before it is killed (pure-Python runs stop in
milliseconds)."""

STOP_GRACE_CONTAINERS_S = 20.0
"""The same for runs with containers: removing them takes the engine a few seconds."""

# Two-sided 95 % Student t quantiles by degrees of freedom; beyond 30 the normal's 1.96 is
# within 2 % and is used.
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
_NOT_METRICS = {"seed", "duration_s"}
_PART = re.compile(r"(\d{1,20})(?:\s*\.\.\s*(\d{1,20}))?")


def parse_seeds(text: str) -> list[int]:
    """'1..20' (inclusive), '1,5,9' or a mix like '1..3,10' -> sorted distinct seeds.

    Bounded before anything is allocated: at most ``MAX_SEEDS`` seeds, each ≤ ``MAX_SEED``.
    """
    ranges = []
    for part in text.split(","):
        part = part.strip()
        match = _PART.fullmatch(part)
        if not match:
            raise ValueError(f"expected seeds like '1..20' or '1,2,7', found {part[:40]!r}")
        low = int(match[1])
        high = int(match[2]) if match[2] is not None else low
        if low > high:
            raise ValueError(f"seed range {part!r} is empty: write it low..high")
        if high > MAX_SEED:
            raise ValueError(f"seed {high} is out of range: seeds are 0..{MAX_SEED}")
        if high - low + 1 > MAX_SEEDS:
            raise ValueError(f"{part!r} is {high - low + 1:,} seeds; a sweep has at most "
                             f"{MAX_SEEDS:,}")
        ranges.append((low, high))
    if sum(high - low + 1 for low, high in ranges) > MAX_SEEDS * 2:
        raise ValueError(f"more than {MAX_SEEDS:,} seeds; a sweep has at most {MAX_SEEDS:,}")
    seeds = sorted({seed for low, high in ranges for seed in range(low, high + 1)})
    if len(seeds) > MAX_SEEDS:
        raise ValueError(f"{len(seeds):,} seeds; a sweep has at most {MAX_SEEDS:,}")
    return seeds


def t95(df: int) -> float:
    return _T95[df - 1] if df <= len(_T95) else 1.96


@dataclass(frozen=True)
class _Job:
    """What every seed of a sweep shares; a worker gets it once, then seeds one by one."""

    scenario: Scenario
    directory: Path
    records: bool
    speed: float
    max_lag_ns: int = DEFAULT_MAX_LAG_NS

    def run(self, seed: int) -> dict:
        """The summary of one seed; its failure says which seed it was."""
        scenario = replace(self.scenario, seed=seed)
        try:
            return run_to_directory(scenario, self.directory / f"seed-{seed}",
                                    records=self.records, speed=self.speed,
                                    max_lag_ns=self.max_lag_ns).summary()
        except (NodeFailure, OutputError) as error:
            raise type(error)(f"seed {seed}: {error}") from None


def sweep(scenario: Scenario, seeds: list[int], out: Path, *, jobs: int | None = None,
          records: bool = False, speed: float = 1.0,
          max_lag_ns: int = DEFAULT_MAX_LAG_NS) -> dict:
    """Run every seed into ``out/seed-<n>/`` and write ``out/sweep.json``; returns its content.

    A paced seed whose p95 lag passes ``max_lag_ns`` is invalid (its own ``summary.json``
    says why); ``sweep.json`` lists the invalid seeds and is ``valid`` only when there are
    none. The sweep is still written whole: its directory shows what happened.

    The sweep is one run directory, written all or nothing: every seed runs inside its staging
    directory, so an error, Ctrl-C or SIGTERM leaves no ``seed-<n>/`` behind. With more than
    one job the seeds run in worker processes, each running seed after seed; with one job
    they run one after another in this process.
    """
    identity = RunIdentity("sweep", scenario.name, seeds=tuple(seeds))
    with run_directory(out, identity) as staging:
        job = _Job(scenario, staging, records, speed, max_lag_ns)
        workers = max(1, min(jobs or os.cpu_count() or 1, len(seeds), MAX_JOBS))
        if workers == 1:
            summaries = [job.run(seed) for seed in seeds]
        else:
            containers = any(spec.implementation == "docker" for spec in scenario.nodes)
            grace = STOP_GRACE_CONTAINERS_S if containers else STOP_GRACE_S
            with _Pool(job, workers, grace) as pool:
                summaries = pool.run(seeds)
        invalid = [seed for seed, summary in zip(seeds, summaries, strict=True)
                   if not summary.get("pacing", {}).get("valid", True)]
        result = {
            "scenario": scenario.name,
            "seeds": seeds,
            "valid": not invalid,
            "invalid_seeds": invalid,
            "metrics": confidence_intervals(summaries),
        }
        write_json(staging / "sweep.json", result)
    return result


class _Pool:
    """Worker processes that each run seed after seed, and that all stop with the sweep.

    Not ``concurrent.futures``: its workers turn a Ctrl-C into a result and move on to the
    next seed, and it has no way to stop them. Here workers ignore Ctrl-C (the terminal sends it
    to the whole process group) and leave it to the parent, which on any interrupt or failure
    sends each worker SIGTERM, kills one that is not gone after ``grace`` seconds, and waits
    for all. A worker that gets SIGTERM itself (``kill`` of the group) stops the same way, and
    on Linux one whose parent dies outright is sent SIGTERM by the kernel.
    """

    def __init__(self, job: _Job, workers: int, grace: float) -> None:
        self.job = job
        self.count = workers
        self.grace = grace
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self.connections: list[Connection] = []

    def __enter__(self) -> _Pool:
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

    def run(self, seeds: list[int]) -> list[dict]:
        """The summaries in the order of ``seeds``."""
        queue = iter(seeds)
        summaries: dict[int, dict] = {}
        busy: dict[Connection, int] = {}
        process_of = dict(zip(self.connections, self.processes, strict=True))
        for connection in self.connections:
            seed = next(queue, None)
            if seed is not None:
                connection.send(seed)
                busy[connection] = seed
        while busy:
            sentinels = {process_of[c].sentinel: c for c in busy}
            for ready in wait([*busy, *sentinels]):
                connection = sentinels.get(ready, ready)
                if connection not in busy:
                    continue  # its result was read already
                seed = busy.pop(connection)
                try:
                    outcome, value = connection.recv()
                except (EOFError, OSError):  # the worker died without a word
                    _worker_died(process_of[connection], seed)
                if outcome == "node":
                    raise NodeFailure(value)
                if outcome == "output":
                    raise OutputError(value)
                summaries[seed] = value
                following = next(queue, None)
                if following is not None:
                    try:
                        connection.send(following)
                    except OSError:
                        _worker_died(process_of[connection], following)
                    busy[connection] = following
        return [summaries[seed] for seed in seeds]

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


def _worker_died(process: multiprocessing.process.BaseProcess, seed: int) -> NoReturn:
    """A worker stopped by a signal of its own (SIGTERM to the process group) stops the
    sweep as that signal would; any other death is a failure of its seed."""
    process.join()
    code = process.exitcode or 0
    if code in (128 + signal.SIGINT, 128 + signal.SIGTERM):
        raise Interrupted(code - 128)
    if code < 0:
        raise NodeFailure(f"seed {seed}: its worker process was killed by signal {-code}")
    raise NodeFailure(f"seed {seed}: its worker process stopped with exit code {code}")


def _worker(connection: Connection, job: _Job) -> None:
    """A worker's life: seeds from the parent until told to stop; failures go back as values,
    an interrupt ends the process (its run has cleaned up by the time it exits)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _die_with_parent()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        with signals_as_interrupt():
            while True:
                seed = connection.recv()
                if seed is None:
                    return
                try:
                    outcome = ("done", job.run(seed))
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


def confidence_intervals(summaries: list[dict]) -> dict[str, dict[str, float | None]]:
    """Mean, sample standard deviation and 95 % CI half-width of every numeric metric;
    with one value there is no spread to measure, and the deviation and CI are ``None``."""
    columns: dict[str, list[float]] = {}
    for summary in summaries:
        for key, value in _numeric_leaves(summary):
            columns.setdefault(key, []).append(value)
    stats = {}
    for key, values in sorted(columns.items()):
        n = len(values)
        mean = math.fsum(values) / n
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
        half = t95(n - 1) * std / math.sqrt(n) if n > 1 else None  # undefined for one seed
        stats[key] = {"n": n, "mean": mean, "std": std, "ci95": half}
    return stats


def _numeric_leaves(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _numeric_leaves(value, path + ".")
        elif isinstance(value, (int, float)) and not isinstance(value, bool) \
                and path not in _NOT_METRICS:
            yield path, float(value)


def invalid_sweep_message(result: dict, max_lag_ns: int) -> str:
    """What ``xedge simulate --seeds`` says about a sweep with invalid seeds."""
    seeds = ", ".join(str(seed) for seed in result["invalid_seeds"])
    return (f"the sweep is invalid: the p95 lag of seed(s) {seeds} passed --max-lag "
            f"{max_lag_ns / NS_PER_MS:g} ms (the coordinator could not keep up; try a lower "
            "--speed, fewer --jobs or a smaller scenario)")


def format_sweep(result: dict) -> str:
    """The headline metrics of a sweep as 'mean ± ci95' lines."""
    wanted = re.compile(
        r"^(messages\.(delivered|lost_random|lost_to_faults|retransmissions)"
        r"|flows\..*\.(delivered|latency_ms\.(p50|p95|p99))|end_to_end_ms\..*\.(p50|p95))$"
    )
    rows = [(k, v) for k, v in result["metrics"].items() if wanted.match(k)]
    width = max((len(k) for k, _ in rows), default=10)
    lines = [f"{result['scenario']}: {len(result['seeds'])} seeds, mean ± 95% CI"]
    lines += [f"  {k.ljust(width)}  {v['mean']:14,.3f} ± "
              f"{'n/a (one seed)' if v['ci95'] is None else format(v['ci95'], ',.3f')}"
              for k, v in rows]
    return "\n".join(lines)
