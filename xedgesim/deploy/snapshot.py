"""What runs on each host, taken before and after a converge: did anything restart?

A second converge may report ``changed=0`` and still have bounced a container (a module that
recreates and reports no change, a handler fired by a side effect). So idempotence also takes
``docker inspect`` of every container on every host of the fleet (``fleet_view``), over the
inventory's own SSH settings (through testinfra's Ansible backend), and compares ids, start
times and restart counts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from xedgesim.deploy.errors import DeployError
from xedgesim.deploy.fleet_view import FleetView
from xedgesim.deploy.runner import executable_path

INSPECT = "docker ps -aq --no-trunc | xargs -r docker inspect"


@dataclass(frozen=True)
class ContainerState:
    id: str
    image: str
    started: str
    restarts: int
    running: bool


Snapshot = dict[str, dict[str, ContainerState]]  # host -> container name -> state


def hosts_of(fleet: FleetView) -> list[Any]:
    """testinfra hosts for the fleet's hosts (one SSH connection each)."""
    import testinfra

    # testinfra runs ansible-inventory through a shell with this process's own environment:
    # Ansible's executables are next to the interpreter (.venv/bin), maybe not on PATH
    os.environ["PATH"] = executable_path()
    return testinfra.get_hosts([f"ansible://{name}" for name in fleet.names],
                               ansible_inventory=str(fleet.inventory))


def take(hosts: list[Any]) -> Snapshot:
    """Every container of every host, by name."""
    snapshot: Snapshot = {}
    for host in hosts:
        name = host.backend.get_hostname()
        try:
            output = host.check_output(INSPECT)
        except (AssertionError, RuntimeError) as error:
            raise DeployError(f"{name}: cannot list its containers: {error}") from None
        snapshot[name] = parse_inspect(output)
    return snapshot


def parse_inspect(output: str) -> dict[str, ContainerState]:
    """``docker inspect`` JSON (an array, or nothing) -> container name -> state."""
    if not output.strip():
        return {}
    found = {}
    for item in json.loads(output):
        state = item.get("State") or {}
        found[str(item.get("Name", "?")).lstrip("/")] = ContainerState(
            id=str(item.get("Id", "")),
            image=str(item.get("Image", "")),
            started=str(state.get("StartedAt", "")),
            restarts=int(item.get("RestartCount") or 0),
            running=bool(state.get("Running")),
        )
    return found


def restarted(before: Mapping[str, Mapping[str, ContainerState]],
              after: Mapping[str, Mapping[str, ContainerState]]) -> list[str]:
    """One line per container that was replaced, restarted, stopped, added or removed."""
    lines = []
    for host in sorted(set(before) | set(after)):
        old, new = before.get(host, {}), after.get(host, {})
        for name in sorted(set(old) | set(new)):
            if name not in new:
                lines.append(f"{host} · {name} · removed")
            elif name not in old:
                lines.append(f"{host} · {name} · created")
            else:
                was, now = old[name], new[name]
                if was.id != now.id:
                    lines.append(f"{host} · {name} · recreated")
                elif was.started != now.started or now.restarts > was.restarts:
                    lines.append(f"{host} · {name} · restarted")
                elif was.running and not now.running:
                    lines.append(f"{host} · {name} · stopped")
    return lines
