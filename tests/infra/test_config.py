"""The services run the settings the fleet's variables give them, and, when those were
rendered from a scenario (``xedge stage|deploy --scenario``), the scenario's own values.

The variables are read as every command reads them (``open_fleet``: role defaults <
``inventories/production.yml`` < the scenario's overlay < the inventory), so a value rendered
from the scenario is the value checked here; the device's side is read from the device (the
gateway container's environment, the broker's ACL file through its mount).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from xedgesim.deploy import device
from xedgesim.units import parse_duration

BROKER_ACL = "/etc/mosquitto/acl"
REFERENCE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
NS_PER_S = 1_000_000_000


class Unresolved(Exception):
    """A variable is a Jinja expression beyond plain references: only Ansible can read it."""


def resolve(variables: Mapping[str, Any], value: Any, host: str, depth: int = 0) -> Any:
    """``value`` with plain ``{{ name }}`` references filled in from ``variables`` (and
    ``inventory_hostname``), as the roles' defaults and the production overlay write them."""
    if depth > 10:
        raise Unresolved(str(value))
    if isinstance(value, list):
        return [resolve(variables, item, host, depth + 1) for item in value]
    if isinstance(value, dict):
        return {key: resolve(variables, item, host, depth + 1) for key, item in value.items()}
    if not isinstance(value, str) or "{" not in value:
        return value
    whole = REFERENCE.fullmatch(value.strip())
    if whole is not None:
        return resolve(variables, lookup(variables, whole.group(1), host), host, depth + 1)

    def one(match: re.Match[str]) -> str:
        return str(resolve(variables, lookup(variables, match.group(1), host), host, depth + 1))

    filled = REFERENCE.sub(one, value)
    if "{{" in filled or "{%" in filled:
        raise Unresolved(value)
    return filled


def lookup(variables: Mapping[str, Any], name: str, host: str) -> Any:
    if name == "inventory_hostname":
        return host
    if name not in variables:
        raise Unresolved(name)
    return variables[name]


def setting(host_vars: Mapping[str, Any], host: Any, name: str) -> Any:
    """A role variable as the host's play resolves it; skips when only Ansible can."""
    try:
        return resolve(host_vars, host_vars[name], host.backend.get_hostname())
    except Unresolved as error:
        pytest.skip(reason=f"{name} is a Jinja expression ({error}); only Ansible resolves it")


def test_gateway_runs_the_fleets_settings(host: Any, host_vars: Mapping[str, Any],
                                          gateway: dict[str, Any]) -> None:
    env = device.environment(gateway)
    expected = {
        "XEDGESIM_SUBSCRIBE": ",".join(setting(host_vars, host, "edge_gateway_subscribe")),
        "XEDGESIM_PUBLISH_TOPIC": setting(host_vars, host, "edge_gateway_publish_topic"),
        "XEDGESIM_QOS": str(setting(host_vars, host, "edge_gateway_qos")),
        "XEDGESIM_USERNAME": setting(host_vars, host, "edge_gateway_mqtt_user"),
    }
    found = {name: env.get(name) for name in expected}
    assert found == expected, f"{device.name(gateway)} runs {found}, the fleet says {expected}"
    window_s = int(setting(host_vars, host, "edge_gateway_window_s"))
    assert parse_duration(env.get("XEDGESIM_WINDOW", "")) == window_s * NS_PER_S, (
        f"{device.name(gateway)} aggregates every {env.get('XEDGESIM_WINDOW')}, the fleet says "
        f"{window_s}s")


def acl_entries(text: str) -> list[dict[str, Any]]:
    """Mosquitto's ACL file as [{user, read, write, readwrite}] (the role's template)."""
    entries: list[dict[str, Any]] = []
    for line in text.splitlines():
        words = line.split(maxsplit=2)
        if len(words) == 2 and words[0] == "user":
            entries.append({"user": words[1]})
        elif len(words) == 3 and words[0] == "topic" and entries:
            entries[-1].setdefault(words[1], []).append(words[2])
    return entries


def normalised(entries: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"user": entry["user"], **{access: list(entry[access]) for access in
                                       ("read", "write", "readwrite") if entry.get(access)}}
            for entry in entries]


def test_broker_acl_is_the_fleets(host: Any, host_vars: Mapping[str, Any],
                                  broker: dict[str, Any]) -> None:
    acl = setting(host_vars, host, "mqtt_broker_acl")
    source = device.mount_source(broker, BROKER_ACL)
    if not acl:
        pytest.skip(reason="mqtt_broker_acl is empty: the broker has no ACL to check")
    assert source, f"{device.name(broker)} has no ACL mounted at {BROKER_ACL}"
    content = host.file(source).content_string
    assert normalised(acl_entries(content)) == normalised(acl), (
        f"the ACL on the device ({source}) is not mqtt_broker_acl")


def test_gateway_runs_the_scenarios_settings(host: Any, host_vars: Mapping[str, Any],
                                             gateway: dict[str, Any]) -> None:
    """With settings rendered from a scenario: the scenario file is the one rendered (same
    bytes), and the gateway's window, topics and QoS are the scenario's own values."""
    import hashlib

    from xedgesim.scenario import load_scenario
    from xedgesim.scenario.model import GatewayParams

    rendered = host_vars.get("xedgesim_scenario") or {}
    if not rendered:
        pytest.skip(reason="the fleet's settings were not rendered from a scenario")
    path = Path(rendered["path"])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == rendered["sha256"], (
        f"{path} changed since the fleet's settings were rendered from it")
    spec = load_scenario(path).node(rendered["gateway"])
    params = spec.params
    assert isinstance(params, GatewayParams) and params.publish is not None
    env = device.environment(gateway)
    assert parse_duration(env.get("XEDGESIM_WINDOW", "")) == params.aggregate_every_ns, (
        f"the gateway aggregates every {env.get('XEDGESIM_WINDOW')}; the scenario's "
        f"'{spec.id}' every {params.aggregate_every_ns / NS_PER_S:g}s")
    forward = params.publish.topic.replace("{id}", spec.id).replace("{index}", "0")
    assert env.get("XEDGESIM_PUBLISH_TOPIC") == forward
    heard = set((env.get("XEDGESIM_SUBSCRIBE") or "").split(","))
    wanted = set(params.subscription.topics if params.subscription else ())
    assert wanted <= heard, f"the gateway subscribes {sorted(heard)}, the scenario {sorted(wanted)}"
    qos = params.subscription.qos if params.subscription else params.publish.qos
    assert env.get("XEDGESIM_QOS") == str(qos)
