"""``xedge verify --scenario``: what is refused before the fleet is touched, and a fleet run
stopped by a signal (nothing written, the fleet as it was)."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.unit.fleetrun.fakes import fake_paho
from tests.unit.fleetrun.test_fleet_run import CRASH, SCENARIO, world
from xedgesim.cli import main
from xedgesim.fleetrun import writer
from xedgesim.interrupts import Interrupted, signals_as_interrupt


def verify(tmp_path: Path, *args: str) -> tuple[int, str]:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all: {}\n")
    result = CliRunner().invoke(main, ["verify", "--inventory", str(inventory),
                                       "--out", str(tmp_path / "verify"), *args])
    return result.exit_code, result.output


def test_a_fault_the_fleet_cannot_realise_is_refused_before_the_suite_runs(
        tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO + "faults:\n  - {at: 1s, node: broker, action: crash}\n")
    code, output = verify(tmp_path, "--scenario", str(scenario))
    assert code == 2
    assert f"{scenario}:15:5: crash fault: node 'broker' is the host's broker" in output
    assert not (tmp_path / "verify").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--duration", "30s"], "--duration needs --scenario"),
    (["--duration", "0s", "--scenario", "S"], "must be above 0"),
    (["--duration", "2h", "--scenario", "S"], "at most 1h"),
])
def test_bad_durations_are_refused(tmp_path: Path, args: list[str], message: str) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO)
    code, output = verify(tmp_path, *[str(scenario) if a == "S" else a for a in args])
    assert code == 2 and message in output
    assert not (tmp_path / "verify").exists()


def test_sigterm_stops_a_fleet_run_writes_nothing_and_restarts_the_gateway(
        tmp_path: Path) -> None:
    scenario, broker, devices, targets = world(text=SCENARIO.replace("3s", "60s") + CRASH)
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGTERM))  # mid-crash
    with pytest.raises(Interrupted) as raised, signals_as_interrupt():
        timer.start()
        writer.run(scenario, targets, tmp_path / "run", say=lambda _: None,
                   mqtt_module=fake_paho(broker))
    timer.join()
    assert raised.value.signum == signal.SIGTERM
    assert not (tmp_path / "run").exists() and list(tmp_path.iterdir()) == []
    assert devices[0].calls == ["stop xedgesim-gateway", "start xedgesim-gateway"]
    assert broker.gateway_up
