"""Steady-state estimation (``warmup:``): messages first sent before the warmup ends are left
out of the run's metrics, the simulation itself is unchanged, and the M/D/1 waiting time
measured after a warmup is the Pollaczek–Khinchine mean, while the whole run's is biased low."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import numpy as np

from tests.theory import mean_and_half_width
from xedgesim.report import write_run
from xedgesim.scenario import load_scenario, load_scenario_text
from xedgesim.sim.messages import MessageBatch
from xedgesim.simulation import simulate
from xedgesim.timeseries import write_timeseries

S = 1_000_000_000
# Student's t quantile t(0.9995, 7): the two-sided 99.9 % interval of a mean over 8 seeds.

MIXED = """
    name: mixed
    seed: 4
    duration: 30s
    {warmup}
    network:
      default: {{latency: 2ms, loss: 0.2, bandwidth: 200kbit}}
    nodes:
      - {{id: s, type: sensor, count: 5, interval: 100ms, to: gw, qos: 1, max_retries: 2,
          retry_interval: 300ms}}
      - {{id: gw, type: gateway, aggregate_every: 1s, to: cloud}}
      - {{id: cloud, type: cloud}}
    faults:
      - {{at: 8s, node: gw, action: crash, for: 1s}}
      - {{at: 25s, node: gw, action: crash, for: 1s}}
    """


def test_the_counts_leave_out_what_was_sent_before_the_warmup(sim) -> None:
    """Every flow's counts (``check_accounting`` compares them with the records of the
    messages first sent after the warmup) and end-to-end ages exclude the warmup; node
    counters and the per-second series cover the whole run, which runs exactly as without."""
    whole = sim.run_yaml(MIXED.format(warmup=""))
    steady = sim.run_yaml(MIXED.format(warmup="warmup: 10s"))
    assert steady.summary["warmup_s"] == 10.0 and "warmup_s" not in whole.summary
    assert steady.sent == whole.sent and steady.delivered == whole.delivered
    assert steady.lost == whole.lost
    assert steady.summary["nodes"] == whole.summary["nodes"]
    flow = steady.flow("s->gw")
    assert 0 < flow["sent"] < whole.flow("s->gw")["sent"]
    assert flow["retransmissions"] > 0 and flow["lost"]["node_down"] > 0
    assert _timeseries(steady) == _timeseries(whole)
    ages = [r.arrival - r.origin for r in whole.delivered
            if r.flow == "gw->cloud" and r.origin >= 10 * S]
    e2e = steady.end_to_end("cloud")
    assert e2e.count == len(ages) and e2e.total == sum(ages)
    throughput = steady.flow("gw->cloud")["throughput"]["messages_per_s"]
    assert throughput == round(steady.flow("gw->cloud")["delivered"] / 20, 3)


def _timeseries(run) -> str:
    out = io.StringIO()
    write_timeseries(out, run.result.flows, run.scenario.duration_ns)
    return out.getvalue()


def test_a_zero_warmup_writes_what_a_scenario_without_one_writes(tmp_path: Path) -> None:
    """``warmup: 0s`` is no warmup: the same bytes in every file as a scenario without the key."""
    for name, extra in (("plain", ""), ("zero", "warmup: 0s")):
        source = tmp_path / f"{name}.yaml"
        source.write_text(textwrap.dedent(MIXED.format(warmup=extra)))
        (tmp_path / name).mkdir()
        write_run(tmp_path / name, simulate(load_scenario(source)))
    for path in sorted((tmp_path / "plain").iterdir()):
        if path.name not in ("timing.json", "scenario.yaml"):
            assert path.read_bytes() == (tmp_path / "zero" / path.name).read_bytes(), path.name


class _AllDeliveries:
    """A recorder that sums every delivered message's hop latency, warmup included: the
    figure a run without ``warmup:`` reports, from the same run."""

    def __init__(self) -> None:
        self.total = 0
        self.count = 0

    def start(self, instance_ids: list[str], topic_names: list[str]) -> None:
        pass

    def delivered(self, flow: object, block: MessageBatch) -> None:
        self.total += int((block.arrival - block.first_sent).sum())
        self.count += len(block)

    def lost(self, flow: object, batch: MessageBatch, causes: np.ndarray) -> None:
        pass

    def in_flight(self, flow: object, batch: MessageBatch) -> None:
        pass


MD1 = """
    seed: {seed}
    duration: {duration}ms
    {warmup}
    network: {{default: {{bandwidth: 1Mbit}}}}
    nodes:
      - {{id: s, type: sensor, count: 1000, process: poisson, interval: {interval}us,
          payload: 125B, to: cloud}}
      - {{id: cloud, type: cloud}}
    """


def _md1_waits(seed: int, rho: float, duration_ms: int, warmup_ms: int) -> tuple[float, float]:
    """Mean wait in ms, after the warmup (the run's summary) and over the whole run."""
    text = MD1.format(seed=seed, duration=duration_ms, warmup=f"warmup: {warmup_ms}ms",
                      interval=round(1000 / rho))
    everything = _AllDeliveries()
    result = simulate(load_scenario_text(text, "md1.yaml"), recorder=everything)
    latency = result.summary()["flows"]["s->cloud"]["latency_ms"]
    steady = result.flows[0].latency
    service_ms = 1.0  # 125 B at 1 Mbit/s
    assert latency["count"] == steady.count > 0
    return steady.total / steady.count / 1e6 - service_ms, \
        everything.total / everything.count / 1e6 - service_ms


def test_md1_waiting_time_after_a_warmup_is_pollaczek_khinchine() -> None:
    """1,000 Poisson sensors, each with its own FIFO on a 1 Mbit/s link and 125 B messages:
    1,000 independent M/D/1 queues with service time D = 1 ms at load rho = 0.7, started
    empty, 300 ms (300 D) long with a 150 ms warmup (about four relaxation times,
    D/(1 - sqrt(rho))^2 = 37 D), 8 seeds.

    Theory (Pollaczek–Khinchine, M/D/1): W = rho D / (2 (1 - rho)) = 1.1667 ms, and
    E[W^2] = 2 W^2 + lambda E[D^3] / (3 (1 - rho)) (Takács), so Var W = 2.139 ms^2.
    A message still queued at the end is in flight, not in the mean: over a measured
    window T_m that removes the longest waits of the last sends and lowers the mean by
    Var W / T_m to first order (sum over sends at t of E[W; W < T - t - D] against the
    count of those delivered), 0.014 ms for T_m = 150 ms.

    Checked: the mean over seeds of the steady-state mean wait lies within the 99.9 %
    Student-t interval of W - Var W / T_m. Then, with the same runs (the whole-run figure
    is the mean over every delivery, which is what a run without ``warmup:`` reports), the
    bias the warmup removes: the whole-run interval lies entirely below W - Var W / T
    (measured: 1.140 ± 0.013 ms against 1.160 ms; steady state 1.151 ± 0.027 ms against
    1.152 ms)."""
    rho, duration_ms, warmup_ms = 0.7, 300, 150
    wait = rho * 1.0 / (2 * (1 - rho))
    variance = 2 * wait**2 + rho / (3 * (1 - rho)) - wait**2
    runs = [_md1_waits(seed, rho, duration_ms, warmup_ms) for seed in range(1, 9)]
    steady, steady_half = mean_and_half_width([after for after, _ in runs])
    whole, whole_half = mean_and_half_width([every for _, every in runs])
    expected = wait - variance / (duration_ms - warmup_ms)
    assert abs(steady - expected) <= steady_half, (steady, steady_half, expected)
    assert steady_half < 0.05 * wait  # narrow enough to mean something
    expected_whole = wait - variance / duration_ms
    assert whole + whole_half < expected_whole, (whole, whole_half, expected_whole)
