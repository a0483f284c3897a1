"""The entry ``xedge verify --scenario`` and the ``workload`` step of ``xedge stage`` share:
load the scenario, refuse what a fleet cannot realise, find each host's broker, users and
gateway, run, and say what came out.

The order matters: everything that can be refused (the scenario, its faults, the duration,
the users) is refused before any host is touched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from xedgesim.deploy.fleet_view import FleetView
from xedgesim.errors import BadInput
from xedgesim.fleetrun import writer
from xedgesim.fleetrun.mqtt import Login
from xedgesim.fleetrun.targets import HostTarget, endpoint_of, plan_targets, probe_targets
from xedgesim.scenario.model import Scenario

RUN_DIR_NAME = "fleet-run"


def load(path: Path, duration_ns: int | None) -> Scenario:
    """The scenario (every problem reported at once, exit 2), cut to ``duration_ns``, with
    its faults checked against what a fleet can realise."""
    from xedgesim.scenario import load_scenario

    scenario = writer.with_duration(load_scenario(path), duration_ns)
    writer.check(scenario, 1)
    from xedgesim.fleetrun.targets import fleet_shape

    fleet_shape(scenario)
    return scenario


def users_of(fleet: FleetView) -> list[Any]:
    """The fleet's MQTT users (``secrets.MqttUser``): the secrets file, else the inventory's
    (vaulted) variable."""
    from xedgesim.deploy import secrets

    if fleet.secrets is not None:
        return secrets.load_users(fleet.secrets)
    variables = fleet.hosts[0].vars if fleet.hosts else {}
    return secrets.users_from(variables.get(secrets.VARIABLE),
                              where="the inventory's variables")


def targets_of(fleet: FleetView, scenario: Scenario,
               devices: Mapping[str, Any] | None = None) -> list[HostTarget]:
    """Each host of the fleet as a site of the scenario.

    The scenario's plan for the fleet (``xedgesim.deploy.scenario_config.plan``) names the
    sensor and cloud users; a fleet whose secrets lack them (converged without the
    scenario) is driven as the smoke test's probe user (``targets.probe_targets``).
    """
    from xedgesim.deploy.scenario_config import plan
    from xedgesim.fleetrun.device import SshDevice

    writer.check(scenario, len(fleet.hosts))
    fleet_plan = plan(scenario, fleet.names)
    users = users_of(fleet)
    hosts = []
    for host in fleet.hosts:
        device = (devices or {}).get(host.name) or SshDevice(host.name, host.vars)
        hosts.append((host.name, endpoint_of(host.name, host.vars, fleet.inventory), device))
    names = {user.name: Login(user.name, user.password) for user in users}
    if fleet_plan.sensor_user in names and fleet_plan.cloud_user in names:
        return plan_targets(scenario, fleet_plan, hosts, names[fleet_plan.sensor_user],
                            names[fleet_plan.cloud_user])
    first = fleet.hosts[0].vars
    probe_user = str(first.get("xedgesim_mqtt_probe_user") or "probe")
    probe_topic = str(first.get("xedgesim_probe_topic") or "")
    if not probe_topic:
        raise BadInput(f"{fleet.inventory}: no xedgesim_probe_topic for the fleet's sensors")
    return probe_targets(scenario, hosts, names, probe_user, probe_topic)


def run_on_fleet(fleet: FleetView, scenario: Scenario, out: Path, *,
                 say: Callable[[str], None] = print,
                 extra: dict[str, Any] | None = None) -> writer.FleetRun:
    """Drive ``scenario`` on every host of ``fleet``; the run directory is ``out``."""
    say(f"fleet run of {scenario.name} ({scenario.source}) on {len(fleet.hosts)} host(s) "
        f"-> {out}")
    targets = targets_of(fleet, scenario)
    done = writer.run(scenario, targets, out, say=say,
                      extra={"inventory": str(fleet.inventory), **(extra or {})})
    say(describe(done))
    return done


def describe(done: writer.FleetRun) -> str:
    """Two lines for the terminal: what was delivered, and where the run is."""
    summary = done.summary
    messages = summary["messages"]
    clouds = ", ".join(f"{node}: {h['count']} aggregate(s), age p50 {h['p50']:g} ms"
                       for node, h in summary["end_to_end_ms"].items())
    lag = summary["pacing"]["lag_ms"]
    return (f"  fleet run: {messages['sent']:,} sent, {messages['delivered']:,} delivered"
            f"{'; ' + clouds if clouds else ''}; lag p95 {lag['p95']:g} ms"
            f"{'' if done.valid else ' (INVALID: past --max-lag)'}; {done.wall_s:.1f}s\n"
            f"  results in {done.out}/ (compare: xedge compare SIM_RUN {done.out})")
