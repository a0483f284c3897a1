"""What each host of a fleet offers a fleet run: where its broker is, whom to log in as, which
topics its gateway reads and writes, and how to reach its engine.

The scenario says which of its nodes run where (``xedgesim.deploy.scenario_config.plan``:
per host, the broker, the gateways, the topics and the MQTT users the scenario's sensors and
cloud log in as): ``plan_targets``. A fleet converged without the scenario has none of those
users; ``probe_targets`` then falls back on what every converged fleet has: the probe user of
the smoke test, which may write one sensor topic (``xedgesim_probe_topic``) and read the
gateway's upstream topic. Every reading is then published on that one topic; the gateway
aggregates them all the same.

Topics and the gateway's window are read from the gateway container itself (its
environment), so they are what the device really runs, not what an inventory says it should.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xedgesim.errors import BadInput
from xedgesim.fleetrun.device import Device
from xedgesim.fleetrun.mqtt import Endpoint, Login
from xedgesim.scenario.model import Scenario


@dataclass(frozen=True)
class GatewayOnHost:
    """A scenario gateway as it runs on a host."""

    container: str  # its container on the device (for crash faults)
    forward_topic: str  # where it publishes its aggregates
    window: str | None = None  # its aggregation window as the device runs it (XEDGESIM_WINDOW)


@dataclass(frozen=True)
class HostTarget:
    """One host of the fleet, ready for a workload: one site of the scenario."""

    host: str
    endpoint: Endpoint
    sensors: Login  # the scenario's sensors publish as this user
    cloud: Login  # the cloud subscribes as this user
    device: Device = field(repr=False, compare=False)
    gateways: Mapping[str, GatewayOnHost] = field(default_factory=dict)
    broker: str = ""  # the scenario's broker id this host's broker stands for
    # every reading is published here (the probe user may write one topic); None: on the
    # topic the scenario gives each sensor
    sensor_topic: str | None = None

    def describe(self) -> str:
        gateways = ", ".join(f"{gid} -> {g.forward_topic}" + (f" every {g.window}" if g.window
                                                              else "")
                             for gid, g in self.gateways.items())
        return (f"{self.host}: broker {self.endpoint.describe()} as {self.sensors.username!r}"
                f"{f'; gateway {gateways}' if gateways else ''}")


def fleet_shape(scenario: Scenario) -> tuple[str, list[str]]:
    """The broker and gateways a scenario puts on each host (one site per host): exactly one
    broker; gateways that subscribe to it. Anything else is refused with its place."""
    brokers = [spec for spec in scenario.nodes if spec.type == "broker"]
    if len(brokers) != 1:
        where = brokers[1].location if len(brokers) > 1 else scenario.source
        raise BadInput(f"{where}: a fleet run needs exactly one broker in the scenario (one per "
                       f"host), found {len(brokers)}")
    gateways = [spec for spec in scenario.nodes if spec.type == "gateway"]
    if len(gateways) > 1 or any(spec.count != 1 for spec in gateways):
        spec = gateways[1] if len(gateways) > 1 else gateways[0]
        raise BadInput(f"{spec.location}: node {spec.id!r}: a host runs one gateway container; "
                       "a fleet run takes one gateway (count 1) per scenario")
    senders = [spec for spec in scenario.nodes
               if getattr(getattr(spec.params, "publish", None), "to", None) in
               {g.id for g in gateways}]
    if senders:
        raise BadInput(f"{senders[0].location}: node {senders[0].id!r} sends straight to a "
                       "gateway; on a fleet the gateway hears only its broker: send to the "
                       "broker instead")
    for spec in gateways:
        subscription = spec.params.subscription  # type: ignore[union-attr]
        if subscription is None or subscription.broker != brokers[0].id:
            raise BadInput(f"{spec.location}: node {spec.id!r}: on a fleet the gateway hears "
                           f"its host's broker; give it 'subscribe: {{broker: {brokers[0].id}, "
                           "...}'")
    return brokers[0].id, [spec.id for spec in gateways]


def device_hops(scenario: Scenario) -> dict[str, list[str]]:
    """Per gateway–broker link (``"gw1-broker"``), what the scenario's model gives it that a
    fleet run does not impose: ``latency``, ``jitter``, ``loss``, ``bandwidth``, ``schedule``,
    ``buffer``. Links with none are left out.

    Why not imposed: on a fleet that hop runs between two containers on the device, for
    real. The sensors are the model's, so their way in crosses the model's link, and the
    cloud is this machine's, so the aggregates cross the model's link out. The gateway's hop
    is evidence, not model: a fleet run measures it as the device has it, ``compare`` judges
    the difference, and its cuts are realised (``faults``). Said at the start of the run and
    kept in the summary (``fleet.device_hops``), so a difference it explains is not a
    surprise.
    """
    broker, gateway_ids = fleet_shape(scenario)
    found = {}
    for gateway in gateway_ids:
        link = scenario.network.between(gateway, broker)
        given = [name for name, present in (
            ("latency", link.highest_latency_ns() > 0),
            ("jitter", link.jitter is not None),
            ("loss", link.ever_lossy() or link.gilbert is not None),
            ("bandwidth", link.slowest_bandwidth_bps() is not None),
            ("schedule", link.schedule is not None),
            ("buffer", link.buffer is not None),
        ) if present]
        if given:
            found[f"{gateway}-{broker}"] = given
    return found


def probe_targets(scenario: Scenario, hosts: Sequence[tuple[str, Endpoint, Device]],
                  users: Mapping[str, Login], probe_user: str, probe_topic: str) -> list[
                      HostTarget]:
    """Targets that log in as the smoke test's probe user and publish on its topic (see the
    module): the fallback until the fleet is configured from the scenario."""
    broker, gateway_ids = fleet_shape(scenario)
    login = users.get(probe_user)
    if login is None:
        raise BadInput(f"no MQTT user {probe_user!r} among the fleet's users (found: "
                       f"{', '.join(sorted(users)) or 'none'})")
    targets = []
    for name, endpoint, device in hosts:
        gateways = {}
        if gateway_ids:
            service = device.service("gateway")
            topic = service.environment.get("XEDGESIM_PUBLISH_TOPIC")
            if not topic:
                raise BadInput(f"{name}: the gateway container {service.container} publishes "
                               "nowhere (no XEDGESIM_PUBLISH_TOPIC)")
            gateways[gateway_ids[0]] = GatewayOnHost(service.container, topic,
                                                     service.environment.get("XEDGESIM_WINDOW"))
        targets.append(HostTarget(name, endpoint, login, login, device, gateways, broker,
                                  sensor_topic=probe_topic))
    return targets


def plan_targets(scenario: Scenario, fleet_plan: Any,
                 hosts: Sequence[tuple[str, Endpoint, Device]], sensors: Login,
                 cloud: Login) -> list[HostTarget]:
    """Targets from the fleet's plan for the scenario (``scenario_config.FleetPlan``): the
    sensors publish on their own topics as the sensor user, the cloud reads as the cloud user.
    The forward topic and window are the gateway container's own (what really runs)."""
    fleet_shape(scenario)
    targets = []
    for name, endpoint, device in hosts:
        site = fleet_plan.site(name)
        gateways = {}
        for gateway_id in site.gateways:
            service = device.service("gateway")
            gateways[gateway_id] = GatewayOnHost(
                service.container,
                service.environment.get("XEDGESIM_PUBLISH_TOPIC") or site.forward_topic,
                service.environment.get("XEDGESIM_WINDOW"))
        targets.append(HostTarget(name, endpoint, sensors, cloud, device, gateways,
                                  site.broker))
    return targets


def endpoint_of(name: str, variables: Mapping[str, object], inventory: Path) -> Endpoint:
    """Where this machine reaches a host's broker: the smoke test's rule
    (:func:`xedgesim.deploy.inventory.mqtt_endpoint`)."""
    from xedgesim.deploy.inventory import inventory_dir, mqtt_endpoint

    found = mqtt_endpoint(name, variables, inventory_dir(inventory))
    return Endpoint(found.host, found.port, found.tls, found.ca)
