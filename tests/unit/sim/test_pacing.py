"""Paced runs (xedgesim/sim/pacing.py): every event counts in the lag, injected messages too,
and a run whose p95 lag passes its bound is marked invalid. A fake wall clock forces the lag."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from xedgesim.models.broker import BrokerNode
from xedgesim.sim.kernel import TIMER, Kernel
from xedgesim.sim.pacing import DEFAULT_MAX_LAG_NS, Pacer

S = 1_000_000_000
MS = 1_000_000


class FakeClock:
    """Wall time that moves only when told to, or by ``step`` on every reading."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = 1000.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(Pacer, "clock", fake)
    return fake


def test_an_event_run_late_counts_its_lag(clock: FakeClock) -> None:
    pacer = Pacer()
    pacer.start()
    clock.now += 0.25
    pacer.record_lag(50 * MS)  # due 50 ms after the start, run 250 ms after it

    assert pacer.lag.count == 1 and pacer.lag.max == 200 * MS


def test_every_lag_counts_across_batches(clock: FakeClock) -> None:
    pacer = Pacer()
    pacer.start()
    for t in range(10_000):
        pacer.record_lag(t)

    assert pacer.lag.count == 10_000


def test_an_injected_message_counts_from_when_it_arrived(clock: FakeClock) -> None:
    pacer = Pacer()
    pacer.start()
    ran: list[int] = []
    pacer.inject(ran.append)
    clock.now += 0.3  # the coordinator was busy for 300 ms before it looked
    pacer.inject(ran.append)

    actions = pacer.wait(0)

    assert len(actions) == 2
    assert pacer.lag.count == 2
    assert pacer.lag.min == 0 and pacer.lag.max == 300 * MS


def test_a_run_that_keeps_up_is_valid(clock: FakeClock) -> None:
    pacer = Pacer()
    pacer.start()
    for t in range(100):
        clock.now = 1000.0 + t / 100 + 0.001  # 1 ms late each
        pacer.record_lag(t * 10 * MS)

    summary = pacer.summary()
    assert summary["valid"] is True
    assert summary["max_lag_ms"] == DEFAULT_MAX_LAG_NS / MS == 100
    assert summary["lag_ms"]["p95"] == pytest.approx(1, rel=0.1)  # type: ignore[index]


def test_a_p95_lag_past_the_bound_makes_the_run_invalid(clock: FakeClock) -> None:
    pacer = Pacer(max_lag_ns=50 * MS)
    pacer.start()
    for t in range(100):
        clock.now = 1000.0 + t / 100 + (0.08 if t >= 90 else 0.0)  # the last 10 % run 80 ms late
        pacer.record_lag(t * 10 * MS)

    assert pacer.summary()["valid"] is False
    assert Pacer(max_lag_ns=90 * MS).valid  # nothing measured: nothing wrong


def test_a_paced_kernel_that_falls_behind_is_invalid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Pacer, "clock", FakeClock(step=1.0))  # each look at the clock: 1 s
    kernel = Kernel(10 * S)
    for t in range(20):
        kernel.schedule(t * S // 2, TIMER, lambda _: None)
    pacer = Pacer()

    kernel.run_paced(pacer)

    assert pacer.lag.count == 20
    assert pacer.summary()["valid"] is False


def test_a_block_counts_in_the_lag_once_per_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """One heap entry handling 1 message on time, one handling 99 a second late: per entry
    half the samples were on time; per message, 99 % of the messages were a second late."""
    clock = FakeClock()
    monkeypatch.setattr(Pacer, "clock", clock)
    kernel = Kernel(MS)  # ends before the clock's second: no real waiting

    def late_block(_: object) -> int:
        clock.now += 1.0  # handling the block took a second of wall time
        return 99

    kernel.schedule(0, TIMER, lambda _: 1)
    kernel.schedule(0, TIMER, late_block)
    kernel.schedule(0, TIMER, lambda _: 0)  # a superseded wake-up: no message, no lag
    pacer = Pacer()

    kernel.run_paced(pacer)

    assert kernel.events == 100
    assert pacer.lag.count == 100
    assert pacer.lag.quantile(0.95) == pytest.approx(S, rel=0.01)
    assert pacer.summary()["valid"] is False


def test_a_block_larger_than_a_chunk_counts_every_message(clock: FakeClock) -> None:
    from xedgesim.sim.pacing import LAG_CHUNK

    pacer = Pacer()
    pacer.start()
    clock.now += 0.5
    pacer.record_lag(0, 2 * LAG_CHUNK + 3)
    pacer.record_lag(0, 5)

    assert pacer.lag.count == 2 * LAG_CHUNK + 8
    assert pacer.lag.min == pacer.lag.max == S // 2


@pytest.mark.parametrize(("speed", "max_lag_ns"), [(0.0, MS), (float("nan"), MS), (1.0, 0)])
def test_bad_settings_are_refused(speed: float, max_lag_ns: int) -> None:
    with pytest.raises(ValueError):
        Pacer(speed, max_lag_ns)


# -- through the CLI ---------------------------------------------------------------------------

SCENARIO = """\
name: paced
seed: 1
duration: 5s
nodes:
  - {id: sensors, type: sensor, count: 3, interval: 500ms, to: broker, topic: "s/{id}"}
  - {id: broker, type: broker, implementation: docker, image: "xedgesim/broker:latest"}
  - {id: cloud, type: cloud, subscribe: ["s/+"]}
"""


class WallClockBroker(BrokerNode):
    """The python broker, posing as a wall-clock service: the run is paced, no engine needed."""

    wall_clock = True


@pytest.fixture
def paced_broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from contextlib import nullcontext

    from xedgesim import simulation

    real = simulation.node_class
    monkeypatch.setattr(simulation, "node_class", lambda kind, implementation: (
        WallClockBroker if (kind, implementation) == ("broker", "docker")
        else real(kind, implementation)))
    monkeypatch.setattr(simulation, "_container_session", lambda log_dir: nullcontext())
    yield


@pytest.mark.parametrize(("step", "options", "code"), [
    (1e-9, ["--speed", "10000"], 0),  # the clock barely moves: every event is on time
    (1.0, [], 1),  # each look at the clock: a second later
    (1.0, ["--max-lag", "10min"], 0),
])
def test_simulate_marks_and_refuses_a_run_that_lagged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, paced_broker: None,
        step: float, options: list[str], code: int) -> None:
    from click.testing import CliRunner

    from xedgesim.cli import main

    monkeypatch.setattr(Pacer, "clock", FakeClock(step=step))
    path = tmp_path / "paced.yaml"
    path.write_text(SCENARIO)
    out = tmp_path / "run"

    result = CliRunner().invoke(main, ["simulate", str(path), "--out", str(out), "-q",
                                       "--no-progress", *options])

    assert result.exit_code == code, result.output
    pacing = json.loads((out / "summary.json").read_text())["pacing"]
    assert pacing["valid"] is (code == 0)
    assert pacing["max_lag_ms"] == (600_000 if "--max-lag" in options else 100)
    assert ("the run is invalid: its p95 lag" in result.output) is (code == 1)


@pytest.mark.parametrize("value", ["0s", "-5ms", "banana", "1e400s"])
def test_a_bad_max_lag_is_refused_naming_the_option(tmp_path: Path, value: str) -> None:
    from click.testing import CliRunner

    from xedgesim.cli import main

    path = tmp_path / "paced.yaml"
    path.write_text(SCENARIO)

    result = CliRunner().invoke(main, ["simulate", str(path), "--max-lag", value])

    assert result.exit_code == 2
    assert "--max-lag" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize(("options", "code"), [([], 1), (["--max-lag", "10min"], 0)])
def test_max_lag_applies_to_every_seed_of_a_sweep(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, paced_broker: None,
        jobs: str, options: list[str], code: int) -> None:
    """Before, ``--seeds`` with ``--max-lag`` was refused; now each seed is judged by it, in
    this process or in forked workers, and an invalid seed makes the sweep exit 1."""
    from click.testing import CliRunner

    from xedgesim.cli import main

    monkeypatch.setattr(Pacer, "clock", FakeClock(step=1.0))  # every event a second late
    path = tmp_path / "paced.yaml"
    path.write_text(SCENARIO)
    out = tmp_path / "sweep"

    result = CliRunner().invoke(main, ["simulate", str(path), "--seeds", "1..2", "--jobs", jobs,
                                       "--out", str(out), "-q", *options])

    assert result.exit_code == code, result.output
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["valid"] is (code == 0)
    assert sweep["invalid_seeds"] == ([] if code == 0 else [1, 2])
    for seed in (1, 2):
        pacing = json.loads((out / f"seed-{seed}" / "summary.json").read_text())["pacing"]
        assert pacing["max_lag_ms"] == (600_000 if options else 100)
        assert pacing["valid"] is (code == 0)
    assert ("the sweep is invalid: the p95 lag of seed(s) 1, 2 passed --max-lag 100 ms"
            in result.output) is (code == 1)
