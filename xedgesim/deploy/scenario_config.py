"""The scenario as the one source of the services' configuration on a fleet.

``xedge stage --scenario S.yaml`` and ``xedge deploy --scenario S.yaml`` do not ask anyone to
restate the gateway's topics, QoS and window, or the broker's users and ACL, in an inventory:
``plan`` renders them from the scenario, per host, into the roles' variables. The variables
travel as data, never as text matched into a file: an inventory source (``overlay``: group
``edge``, one entry per host) that is layered right after ``inventories/production.yml``, so
every reader of the fleet (``fleet_view.open_fleet``: the playbooks, idempotence, the
verification suite) sees the same values, and the suite checks the devices against them. Host
variables beat group variables in Ansible, so a value rendered here wins over the inventory's
``group_vars``; only an inventory's own ``host_vars`` can override it, and ``drift`` names each
such override. What a scenario cannot say (certificates, passwords, addresses) stays in the
inventory.

Which host runs which broker and gateway is the scenario's ``placement:`` section, ``--place``,
or by default every broker and gateway on every host (``xedgesim.scenario.placement``). A
scenario a fleet cannot realise is refused with ``file:line:col`` (exit 2) before anything
runs.

``FleetPlan`` is also what drives a scenario's workload against the fleet: per host, the
broker, the gateways, the sensor topics, the forward topic, and the MQTT users the scenario's
sensors and cloud log in as (``FleetPlan.logins`` finds their passwords in the fleet's
secrets).

``require_parity`` is the deploy-time check of ``--require-parity``: the release's manifest
must hold a passing parity record for the scenario's exact bytes (``manifest.ParityRecord``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from xedgesim import atomic
from xedgesim.deploy.secrets import MqttUser
from xedgesim.scenario.errors import Problem, ScenarioError
from xedgesim.scenario.model import (
    GatewayParams,
    Location,
    NodeSpec,
    Scenario,
    SensorParams,
)
from xedgesim.scenario.placement import (
    Placement,
    default_placement,
    fleet_problems,
    from_options,
    host_problems,
)

# The MQTT users a rendered site has (names only; the passwords are the fleet's secrets).
GATEWAY_USER = "gateway"
PROBE_USER = "probe"
SENSOR_USER = "sensor"
CLOUD_USER = "cloud"
USERS = (GATEWAY_USER, PROBE_USER, SENSOR_USER, CLOUD_USER)
# The level the health probe writes in place of a sensor topic's wildcard.
PROBE_LEVEL = "xedgesim-probe"
OVERLAY_DIR = "scenario"
OVERLAY_NAME = "fleet-vars.yml"
NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class SitePlan:
    """One host as a site of the scenario: what runs there and the roles' variables for it."""

    host: str
    broker: str  # the broker node's id
    gateways: tuple[str, ...]  # the gateway nodes' ids (one today: the role runs one)
    sensors: tuple[str, ...]  # the sensor nodes whose readings enter at this site's broker
    sensor_topics: tuple[str, ...]  # the topic filters the gateway subscribes to
    forward_topic: str  # where the gateway publishes its aggregates (the cloud reads it)
    qos: int  # the gateway's QoS, subscriptions and aggregates alike
    window_ns: int  # the gateway's aggregation window
    role_vars: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FleetPlan:
    """The scenario rendered for a fleet: one ``SitePlan`` per inventory host."""

    scenario: str  # the scenario's name
    source: str  # its path
    sha256: str  # the sha256 of its bytes ("" when it was not read from a file)
    placement: str  # where the placement came from, for messages
    sites: tuple[SitePlan, ...]
    sensor_user: str = SENSOR_USER
    cloud_user: str = CLOUD_USER
    gateway_user: str = GATEWAY_USER
    probe_user: str = PROBE_USER

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(site.host for site in self.sites)

    def site(self, host: str) -> SitePlan:
        for site in self.sites:
            if site.host == host:
                return site
        raise KeyError(host)

    def host_vars(self) -> dict[str, dict[str, Any]]:
        """host -> the roles' variables rendered for it."""
        return {site.host: dict(site.role_vars) for site in self.sites}

    def logins(self, users: Sequence[MqttUser]) -> tuple[MqttUser, MqttUser]:
        """The (sensor, cloud) logins among the fleet's users (``secrets.load_users`` of the
        fleet's secrets file, or ``secrets.users_from`` of its vault variables)."""
        from xedgesim.deploy.secrets import find

        return find(users, self.sensor_user), find(users, self.cloud_user)

    def overlay(self) -> dict[str, Any]:
        """The inventory source that carries the variables: group ``edge``, per host."""
        return {"edge": {"hosts": self.host_vars()}}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (no secret: user names only)."""
        return {
            "scenario": {"name": self.scenario, "path": self.source, "sha256": self.sha256},
            "placement": self.placement,
            "users": {"sensor": self.sensor_user, "cloud": self.cloud_user,
                      "gateway": self.gateway_user, "probe": self.probe_user},
            "sites": [{"host": s.host, "broker": s.broker, "gateways": list(s.gateways),
                       "sensors": list(s.sensors), "sensor_topics": list(s.sensor_topics),
                       "forward_topic": s.forward_topic, "qos": s.qos,
                       "window_ns": s.window_ns} for s in self.sites],
        }


def plan(scenario: Scenario, host_names: Sequence[str], *,
         placement: Placement | None = None) -> FleetPlan:
    """Render ``scenario`` for the hosts ``host_names``; ``placement`` (``--place``) replaces
    the scenario's own. Raises ``ScenarioError`` (exit 2) listing, each at its place, every
    node the fleet cannot realise."""
    file_at = Location(scenario.source, 0, 0)
    chosen = placement or scenario.placement or default_placement(scenario.nodes)
    problems = fleet_problems(scenario.nodes, chosen, where=file_at) \
        if chosen is not scenario.placement else []
    problems += host_problems(chosen, host_names, where=file_at)
    by_id = {spec.id: spec for spec in scenario.nodes}
    sites: list[SitePlan] = []
    if not problems:
        for host in host_names:
            entry = chosen.for_host(host)
            assert entry is not None  # host_problems found none without a site
            site = _site(scenario, by_id, host, [by_id[p.node] for p in entry.nodes], problems,
                         entry.location or file_at)
            if site is not None:
                sites.append(site)
    if problems:
        raise ScenarioError(_unique(problems))
    return FleetPlan(scenario=scenario.name, source=scenario.source,
                     sha256=file_sha256(scenario.source), placement=chosen.origin,
                     sites=tuple(sites))


def load_plan(path: Path, host_names: Sequence[str], place: Sequence[str] = ()) -> FleetPlan:
    """``plan`` of the scenario file ``path``; ``place`` are ``--place`` options."""
    from xedgesim.deploy.errors import UsageError
    from xedgesim.scenario import load_scenario

    try:
        placement = from_options(place) if place else None
    except ValueError as error:
        raise UsageError(str(error)) from None
    return plan(load_scenario(path), host_names, placement=placement)


def _unique(problems: Sequence[Problem]) -> list[Problem]:
    """A node refused for every host it is placed on is one message, not one per host."""
    seen: set[tuple[Any, str]] = set()
    kept = []
    for problem in problems:
        key = (problem.location, problem.message)
        if key not in seen:
            seen.add(key)
            kept.append(problem)
    return kept


def _site(scenario: Scenario, by_id: Mapping[str, NodeSpec], host: str,
          placed: Sequence[NodeSpec], problems: list[Problem],
          where: Location) -> SitePlan | None:
    """One host's site, or None after adding why it cannot be rendered to ``problems``."""
    brokers = [spec for spec in placed if spec.type == "broker"]
    gateways = [spec for spec in placed if spec.type == "gateway"]
    if not gateways:
        problems.append(Problem(where, f"host '{host}' runs broker '{brokers[0].id}' and no "
                                "gateway", "every host runs the edge_gateway role: place a "
                                "gateway with its broker"))
        return None
    broker, gateway = brokers[0], gateways[0]
    params = gateway.params
    assert isinstance(params, GatewayParams)
    before = len(problems)
    publish = params.publish
    if publish is None:
        problems.append(Problem(gateway.location, f"gateway '{gateway.id}' forwards nowhere "
                                "(no 'to'), and the gateway service always publishes its "
                                "aggregates", "give it 'to: cloud' (or its broker)"))
    elif by_id[publish.to].type == "gateway" or (
            by_id[publish.to].type == "broker" and publish.to != broker.id):
        problems.append(Problem(gateway.location, f"gateway '{gateway.id}' forwards to "
                                f"'{publish.to}', which a fleet cannot realise",
                                f"on a host the gateway publishes to its own broker "
                                f"('{broker.id}'), where the cloud subscribes: write "
                                "'to: cloud'"))
    window_ns = params.aggregate_every_ns
    if window_ns % NS_PER_S:
        problems.append(Problem(gateway.location, f"gateway '{gateway.id}' aggregates every "
                                f"{window_ns / NS_PER_S:g}s; on a fleet the window is set in "
                                "whole seconds (xedgesim_gateway_window_s)",
                                f"write aggregate_every: {math.ceil(window_ns / NS_PER_S)}s"))
    sub_qos = params.subscription.qos if params.subscription is not None else None
    pub_qos = publish.qos if publish is not None else None
    if sub_qos is not None and pub_qos is not None and sub_qos != pub_qos:
        problems.append(Problem(gateway.location, f"gateway '{gateway.id}' subscribes with "
                                f"QoS {sub_qos} and publishes with QoS {pub_qos}; the gateway "
                                "service uses one QoS for both", f"give both 'qos: {sub_qos}'"))
    qos = sub_qos if sub_qos is not None else (pub_qos or 0)
    sensors = [spec for spec in scenario.nodes if spec.type == "sensor"
               and isinstance(spec.params, SensorParams)
               and spec.params.publish.to in (broker.id, gateway.id)]
    filters = list(params.subscription.topics) if params.subscription is not None else []
    for spec in sensors:
        assert isinstance(spec.params, SensorParams)
        if spec.params.publish.to == gateway.id:
            _add(filters, topic_filter(spec.params.publish.topic))
    if not filters:
        problems.append(Problem(gateway.location, f"gateway '{gateway.id}' hears no sensor "
                                "(no 'subscribe', and no sensor sends 'to' it)",
                                "give it subscribe: [...] at its broker"))
    if len(problems) > before or publish is None:
        return None
    forward = fill_topic(publish.topic, gateway.id, 0)
    sensor_topics: list[str] = []
    for spec in sensors:
        assert isinstance(spec.params, SensorParams)
        _add(sensor_topics, topic_filter(spec.params.publish.topic))
    probe = probe_topic(filters[0])
    role_vars: dict[str, Any] = {
        "xedgesim_scenario": {"name": scenario.name, "path": absolute(scenario.source),
                              "sha256": file_sha256(scenario.source), "broker": broker.id,
                              "gateway": gateway.id},
        "xedgesim_sensor_topics": filters,
        "xedgesim_upstream_topic": forward,
        "xedgesim_gateway_window_s": window_ns // NS_PER_S,
        "xedgesim_probe_topic": probe,
        "xedgesim_mqtt_gateway_user": GATEWAY_USER,
        "xedgesim_mqtt_probe_user": PROBE_USER,
        "xedgesim_mqtt_sensor_user": SENSOR_USER,
        "xedgesim_mqtt_cloud_user": CLOUD_USER,
        "edge_gateway_qos": qos,
        "mqtt_broker_acl": [
            {"user": GATEWAY_USER, "read": filters, "write": [forward]},
            {"user": SENSOR_USER, "write": sensor_topics or [probe]},
            {"user": PROBE_USER, "write": [probe], "read": [forward]},
            {"user": CLOUD_USER, "read": [forward]},
        ],
    }
    return SitePlan(host=host, broker=broker.id, gateways=(gateway.id,),
                    sensors=tuple(spec.id for spec in sensors),
                    sensor_topics=tuple(filters), forward_topic=forward, qos=qos,
                    window_ns=window_ns, role_vars=role_vars)


def _add(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


def topic_filter(template: str) -> str:
    """The filter that matches every topic a template makes: a level holding ``{id}`` or
    ``{index}`` becomes ``+`` (``site/{id}/temp`` -> ``site/+/temp``)."""
    return "/".join("+" if "{id}" in level or "{index}" in level else level
                    for level in template.split("/"))


def fill_topic(template: str, instance: str, index: int) -> str:
    """A template's topic for one instance."""
    return template.replace("{id}", instance).replace("{index}", str(index))


def probe_topic(sensor_filter: str) -> str:
    """A topic the gateway hears that no sensor of the scenario writes: the filter's
    wildcards made ``xedgesim-probe`` (``site/+/temp`` -> ``site/xedgesim-probe/temp``)."""
    levels = sensor_filter.split("/")
    made = [PROBE_LEVEL if level in ("+", "#") else level for level in levels]
    if made == levels:  # a filter without wildcards hears one topic only: the probe shares it
        return sensor_filter
    return "/".join(made)


def absolute(path: str) -> str:
    """A scenario file's absolute path (the suite runs in its own process and directory);
    a name that is not a file (a scenario loaded from text) as it is."""
    return str(Path(path).resolve()) if Path(path).is_file() else path


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes ("" when it cannot be read, e.g. a scenario from text)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def write_overlay(fleet_plan: FleetPlan, run_dir: Path) -> Path:
    """Write the plan's inventory source to ``<run>/scenario/fleet-vars.yml`` (atomically)."""
    directory = run_dir / OVERLAY_DIR
    directory.mkdir(parents=True, exist_ok=True)
    header = (f"# Rendered by xedgesim from the scenario {fleet_plan.source} (sha256 "
              f"{fleet_plan.sha256[:12]}), placement: {fleet_plan.placement}.\n"
              "# Do not edit: change the scenario. An inventory source layered after\n"
              "# inventories/production.yml; host variables, so they beat group_vars.\n")
    text = header + yaml.safe_dump(fleet_plan.overlay(), sort_keys=False, width=1000)
    return atomic.write_text(directory / OVERLAY_NAME, text)


def with_overlay(overlays: Sequence[Path], overlay: Path) -> list[Path]:
    """The overlays with the scenario's right after the production one (before any other):
    the fleet's inventory comes after all of them."""
    rest = [path for path in overlays if path.name != OVERLAY_NAME]
    return [*rest[:1], overlay, *rest[1:]] if rest else [overlay]


def drift(fleet_plan: FleetPlan, hosts: Sequence[Any]) -> list[str]:
    """Where the fleet's resolved variables (``FleetView.hosts``) differ from the rendered
    ones: an inventory's ``host_vars`` overriding the scenario. One line per host and
    variable, values shown (none of these is a secret)."""
    found = []
    for host in hosts:
        try:
            site = fleet_plan.site(host.name)
        except KeyError:
            continue
        for name, value in site.role_vars.items():
            if name in host.vars and host.vars[name] != value:
                found.append(f"{host.name}: {name} is {host.vars[name]!r} in the inventory, "
                             f"{value!r} in the scenario")
    return found


def describe(fleet_plan: FleetPlan, say: Callable[[str], None]) -> None:
    """One line per site: what runs there and the gateway's settings."""
    say(f"scenario {fleet_plan.scenario} ({fleet_plan.source}, sha256 "
        f"{fleet_plan.sha256[:12]}) · {fleet_plan.placement}")
    for site in fleet_plan.sites:
        say(f"  {site.host}: broker {site.broker}, gateway {', '.join(site.gateways)} "
            f"subscribes {', '.join(site.sensor_topics)} (qos {site.qos}), every "
            f"{site.window_ns // NS_PER_S}s -> {site.forward_topic}")


def require_parity(release: Any, scenario: Path, store: Path) -> dict[str, Any]:
    """The passing parity record of ``release`` for ``scenario``'s exact bytes, from the
    release's manifest in ``store``; else ``ReleaseRefused`` (exit 2) saying what there is."""
    from xedgesim.deploy import manifest
    from xedgesim.deploy.errors import ReleaseRefused

    digest = file_sha256(scenario)
    if not digest:
        raise ReleaseRefused(f"--require-parity: cannot read the scenario {scenario}")
    found = manifest.parity_for(release, digest, store)
    if found.passing is not None:
        return found.passing
    seen = "; ".join(found.seen) if found.seen else "none"
    raise ReleaseRefused(
        f"refusing to deploy release {release.id}: its manifest has no passing parity for "
        f"the scenario {scenario} (sha256 {digest[:12]})\n"
        f"  parity recorded for this release: {seen}\n"
        f"  stage it with this scenario (xedge stage --scenario {scenario}) until its fleet "
        "run and the simulation agree, or deploy without --require-parity")


def for_deploy(options: Any, fleet: Any, release: Any) -> FleetPlan | None:
    """What ``xedge deploy`` checks of ``--scenario``/``--place``/``--require-parity``
    (``DeployOptions``) before its run directory exists: the parity the release must have,
    then the plan for the fleet's hosts. None without a scenario."""
    from xedgesim.deploy.errors import UsageError

    if options.scenario is None:
        if options.require_parity:
            raise UsageError("--require-parity needs --scenario: the scenario whose parity "
                             "the release must have passed")
        if options.place:
            raise UsageError("--place needs --scenario: it places the scenario's nodes")
        return None
    if options.require_parity:
        require_parity(release, options.scenario, options.store)
    return load_plan(options.scenario, fleet.names, options.place)


def deploy_fleet(fleet: Any, fleet_plan: FleetPlan | None, run_dir: Path,
                 say: Callable[[str], None] = print) -> Any:
    """The fleet ``xedge deploy`` rolls out to: with the plan's overlay written into the run
    directory and layered in, or as it was without a scenario."""
    if fleet_plan is None:
        return fleet
    from xedgesim.deploy.fleet_view import open_fleet

    overlay = write_overlay(fleet_plan, run_dir)
    reopened = open_fleet(fleet.inventory, with_overlay(fleet.overlays, overlay),
                          release_file=fleet.release_file, secrets=fleet.secrets)
    describe(fleet_plan, say)
    for line in drift(fleet_plan, reopened.hosts):
        say(f"  DRIFT {line}")
    return reopened


def deployed_placement(hosts: Sequence[Any]) -> Placement | None:
    """The placement a fleet was converged with, read back from its hosts' variables
    (``FleetView.hosts``: each rendered host names its broker and gateway in
    ``xedgesim_scenario``), so a later ``plan(scenario, names, placement=…)`` drives the
    sites the fleet really runs, ``--place`` included. None when a host was not rendered."""
    options = []
    for host in hosts:
        rendered = host.vars.get("xedgesim_scenario") or {}
        if not (isinstance(rendered, Mapping) and rendered.get("broker")
                and rendered.get("gateway")):
            return None
        options.append(f"{host.name}={rendered['broker']},{rendered['gateway']}")
    if not options:
        return None
    placement = from_options(options)
    return Placement(placement.entries, "the fleet's placement (as converged)")
