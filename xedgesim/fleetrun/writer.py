"""A fleet run from start to written run directory: every host's workload side by side, their
results merged, and the directory a simulation writes, marked ``"mode": "fleet"``.

The run directory (written whole or not at all, :mod:`xedgesim.rundir`)::

    timeseries.csv per flow and second, the simulation's columns; over several hosts the
                   counts add up and the per-second percentiles are left empty (they do not
                   merge: each host's own file has them)
    summary.json   the simulation's schema over the whole fleet (counts add up across hosts,
                   histograms merge), "mode": "fleet", plus "hosts" (each host's flows,
                   end-to-end ages, messages and pacing) and "fleet" (what each host ran,
                   the faults applied on it, bridged messages that were not the run's, and
                   ``device_hops``: what the model gives the gateway's hop that the device's
                   real hop replaces, ``targets.device_hops``)
    nodes.csv      the simulation's columns, counters summed across hosts
    records.csv    the simulation's columns, every host's records one after the other
    timing.json    wall time
    hosts/<host>/  summary.json, nodes.csv, records.csv, timeseries.csv of that host alone:
                   a run directory in its own right
                   (``xedge compare SIM_RUN FLEET_RUN/hosts/edge-1``)

Each host is one site of the scenario, so with N hosts the fleet-wide counts are N times a
site's; rates, ratios and latencies are comparable as they are. A run stopped by Ctrl-C or
SIGTERM stops every host's workload at once, starts again what a fault had stopped, and
writes nothing.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from xedgesim import __version__
from xedgesim.errors import BadInput, NodeFailure
from xedgesim.fleetrun import faults
from xedgesim.fleetrun.targets import HostTarget, device_hops
from xedgesim.fleetrun.workload import HostRun, HostWorkload
from xedgesim.metrics import FlowStats, Histogram, NodeCounters
from xedgesim.report import RecordWriter, write_json, write_node_counters
from xedgesim.rundir import RunIdentity, run_directory
from xedgesim.scenario.model import Scenario
from xedgesim.sim.pacing import DEFAULT_MAX_LAG_NS
from xedgesim.simulation import RunResult
from xedgesim.timeseries import FlowSeries, write_timeseries
from xedgesim.units import format_duration

NS_PER_S = 1_000_000_000
# A fleet run holds the fleet for its whole duration and keeps one thread and a few MQTT
# connections per host: bounded so a typo cannot occupy a fleet for a day.
MAX_DURATION_NS = 3600 * NS_PER_S
MAX_HOSTS = 256
RUN_KIND = "fleet"


@dataclass(frozen=True)
class FleetRun:
    out: Path
    summary: dict[str, Any]
    hosts: tuple[str, ...]
    wall_s: float

    @property
    def valid(self) -> bool:
        return bool((self.summary.get("pacing") or {}).get("valid", True))


def with_duration(scenario: Scenario, duration_ns: int | None) -> Scenario:
    """The scenario cut to ``--duration`` (bounded); a longer scenario needs one."""
    if duration_ns is not None:
        if not 0 < duration_ns <= MAX_DURATION_NS:
            raise BadInput(f"--duration {format_duration(duration_ns)} is out of range: a "
                           f"fleet run lasts more than 0 and at most "
                           f"{format_duration(MAX_DURATION_NS)}")
        return replace(scenario, duration_ns=duration_ns)
    if scenario.duration_ns > MAX_DURATION_NS:
        raise BadInput(f"{scenario.source}: the scenario lasts "
                       f"{format_duration(scenario.duration_ns)}, longer than a fleet run may "
                       f"({format_duration(MAX_DURATION_NS)}): give --duration")
    return scenario


def check(scenario: Scenario, hosts: int) -> None:
    """Everything refused before a fleet is touched: faults a fleet cannot realise, too many
    hosts, a run longer than the bound."""
    faults.check(scenario)
    with_duration(scenario, None)
    if not 0 < hosts <= MAX_HOSTS:
        raise BadInput(f"a fleet run drives 1 to {MAX_HOSTS} hosts, not {hosts}")


def run(scenario: Scenario, targets: Sequence[HostTarget], out: Path, *,
        speed: float = 1.0, max_lag_ns: int = DEFAULT_MAX_LAG_NS,
        say: Callable[[str], None] = print, extra: dict[str, Any] | None = None,
        mqtt_module: Any = None) -> FleetRun:
    """Drive ``scenario`` against every target at once and write the run directory ``out``.

    ``extra`` goes into the summary's ``fleet`` section (the inventory, the stage run), with
    ``device_hops``.
    """
    check(scenario, len(targets))
    hops = device_hops(scenario)
    for hop, given in hops.items():
        say(f"  note: {hop} runs on the device, for real: the model's {', '.join(given)} for "
            "it is not imposed (docs/parity.md, \"What is real and what is modelled\")")
    run_id = secrets.token_hex(4)
    base_ns = time.time_ns()
    identity = RunIdentity(RUN_KIND, scenario.name, seed=scenario.seed)
    started = time.perf_counter()
    with run_directory(out, identity) as staging:
        results = _run_hosts(scenario, targets, staging, run_id, base_ns, speed, max_lag_ns,
                             say, mqtt_module)
        wall_s = time.perf_counter() - started
        summary = write(staging, scenario, results,
                        {**(extra or {}), "device_hops": hops}, wall_s)
    return FleetRun(Path(out), summary, tuple(t.host for t in targets), wall_s)


def _run_hosts(scenario: Scenario, targets: Sequence[HostTarget], staging: Path, run_id: str,
               base_ns: int, speed: float, max_lag_ns: int, say: Callable[[str], None],
               mqtt_module: Any) -> list[HostRun]:
    results: dict[str, HostRun] = {}
    errors: dict[str, BaseException] = {}
    workloads: list[HostWorkload] = []
    with ExitStack() as stack:
        for target in targets:
            directory = staging / "hosts" / target.host
            directory.mkdir(parents=True)
            handle = stack.enter_context(open(directory / "records.csv", "w", newline=""))
            workload = HostWorkload(scenario, target, run_id=run_id, base_ns=base_ns,
                                    recorder=RecordWriter(handle), speed=speed,
                                    max_lag_ns=max_lag_ns, mqtt_module=mqtt_module)
            workloads.append(stack.enter_context(workload))
            say(f"  {target.describe()}")

        def drive(workload: HostWorkload) -> None:
            try:
                results[workload.target.host] = workload.run()
            except BaseException as error:  # handed to the main thread, which re-raises it
                errors[workload.target.host] = error

        threads = [threading.Thread(target=drive, args=(w,), name=f"fleet-{w.target.host}",
                                    daemon=True) for w in workloads]
        say(f"  driving {format_duration(scenario.duration_ns)} of {scenario.name} on "
            f"{len(threads)} host(s)")
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.2)
                    if errors:  # one host failed: stop the others now
                        for workload in workloads:
                            workload.stop()
        except KeyboardInterrupt:
            for workload in workloads:
                workload.stop()
            for thread in threads:
                thread.join(30)
            raise
    # every client is closed and every stopped container started again by now
    failed = [message for w in workloads for message in w.faults.errors()]
    if errors:
        host, error = next(iter(errors.items()))
        if isinstance(error, NodeFailure):
            raise NodeFailure(f"{host}: {error}") from None
        raise error
    if failed:
        raise NodeFailure("the fleet run could not apply its faults on the devices:\n  "
                          + "\n  ".join(failed))
    return [results[t.host] for t in targets]


def write(directory: Path, scenario: Scenario, runs: list[HostRun], extra: dict[str, Any],
          wall_s: float) -> dict[str, Any]:
    """The run directory's files (see the module); returns the summary."""
    per_host = {}
    for host_run in runs:
        host_dir = directory / "hosts" / host_run.target.host
        summary = fleet_summary(host_run.result)
        per_host[host_run.target.host] = summary
        write_json(host_dir / "summary.json", summary)
        with open(host_dir / "nodes.csv", "w", newline="") as handle:
            write_node_counters(handle, host_run.result)
        with open(host_dir / "timeseries.csv", "w", newline="") as handle:
            write_timeseries(handle, host_run.result.flows, scenario.duration_ns)
    merged = merge([host_run.result for host_run in runs])
    summary = fleet_summary(merged)
    summary["pacing"] = worst_pacing([s["pacing"] for s in per_host.values()])
    summary["hosts"] = {host: {key: s[key] for key in ("flows", "end_to_end_ms", "messages",
                                                       "pacing")}
                        for host, s in per_host.items()}
    summary["fleet"] = {
        **extra,
        "hosts": {r.target.host: host_record(r) for r in runs},
    }
    write_json(directory / "summary.json", summary)
    with open(directory / "nodes.csv", "w", newline="") as handle:
        write_node_counters(handle, merged)
    with open(directory / "timeseries.csv", "w", newline="") as handle:
        write_timeseries(handle, merged.flows, scenario.duration_ns)
    with open(directory / "records.csv", "w", newline="") as out:
        out.write(",".join(RecordWriter.HEADER) + "\n")
        for host_run in runs:
            with open(directory / "hosts" / host_run.target.host / "records.csv") as part:
                next(part, None)
                for line in part:
                    out.write(line)
    write_json(directory / "timing.json", {"wall_s": round(wall_s, 6),
                                           "xedgesim_version": __version__})
    return summary


def fleet_summary(result: RunResult) -> dict[str, Any]:
    summary = result.summary()
    summary["mode"] = RUN_KIND
    return summary


def host_record(host_run: HostRun) -> dict[str, Any]:
    target = host_run.target
    return {
        "broker": target.endpoint.describe(),
        "sensor_user": target.sensors.username,
        "cloud_user": target.cloud.username,
        "sensor_topic": target.sensor_topic,
        "gateways": {gid: {"container": g.container, "forward_topic": g.forward_topic,
                           "window": g.window} for gid, g in target.gateways.items()},
        "faults": [applied.as_dict() for applied in host_run.applied],
        "bridged": dict(sorted(host_run.tally.items())),
    }


def worst_pacing(pacings: list[dict[str, Any]]) -> dict[str, Any]:
    """The pacing of the host that lagged most (by p95); valid only when every host was."""
    worst = max(pacings, key=lambda p: p["lag_ms"]["p95"])
    return {**worst, "valid": all(p["valid"] for p in pacings)}


def merge(results: list[RunResult]) -> RunResult:
    """One result for the whole fleet: counts add up, histograms merge."""
    first = results[0]
    if len(results) == 1:
        return first
    flows: dict[tuple[str, str], FlowStats] = {}
    for result in results:
        for flow in result.flows:
            into = flows.get((flow.sender, flow.receiver))
            if into is None:
                into = flows[(flow.sender, flow.receiver)] = FlowStats(
                    flow.sender, flow.receiver, causes=flow.causes,
                    series=empty_series(flow.series))
            into.sent += flow.sent
            into.delivered += flow.delivered
            into.delivered_bytes += flow.delivered_bytes
            into.retransmissions += flow.retransmissions
            for cause, lost in flow.lost.items():
                into.lost[cause] = into.lost.get(cause, 0) + lost
            merge_histogram(into.latency, flow.latency)
            merge_series(into.series, flow.series)
    end_to_end: dict[str, Histogram] = {}
    for result in results:
        for node, histogram in result.end_to_end.items():
            merge_histogram(end_to_end.setdefault(node, Histogram()), histogram)
    counters = {}
    for group, first_counters in first.counters.items():
        merged = NodeCounters(group, first_counters.count)
        for result in results:
            for name, column in result.counters[group].values.items():
                merged.add(name, np.arange(column.size), column)
        counters[group] = merged
    return RunResult(first.scenario, sorted(flows.values(), key=lambda f: (f.sender,
                                                                         f.receiver)),
                     end_to_end, counters, sum(r.events for r in results),
                     max(r.wall_s for r in results), first.pacing)


def empty_series(like: FlowSeries | None) -> FlowSeries | None:
    if like is None:
        return None
    return FlowSeries(like.duration_ns, queue=like.entered is not None)


def merge_series(into: FlowSeries | None, other: FlowSeries | None) -> None:
    """Counts add up; percentiles of a step do not merge and stay empty (NaN)."""
    if into is None or other is None:
        return
    into.sent += other.sent
    into.delivered += other.delivered
    if other.lost is not None:
        into.lost = other.lost.copy() if into.lost is None else into.lost + other.lost
    if into.entered is not None and other.entered is not None and other.left is not None:
        into.entered += other.entered
        into.left = into.left + other.left if into.left is not None else other.left.copy()


def merge_histogram(into: Histogram, other: Histogram) -> None:
    if other.count == 0:
        return
    into.counts += other.counts
    into.min = other.min if into.count == 0 else min(into.min, other.min)
    into.max = max(into.max, other.max)
    into.count += other.count
    into.total += other.total
