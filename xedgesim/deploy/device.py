"""What a device runs, read from the device itself: its engine's ``docker inspect``.

The roles label their containers ``org.xedgesim.service=broker|gateway`` and mount each
secret as a file; so the checks find the containers by label and the secret files by their
mount points, and never need to repeat a role's default names or paths (which an inventory
may override). Works on any testinfra host (``host.check_output``/``host.run``).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import Any

SERVICE_LABEL = "org.xedgesim.service"
RELEASE_LABEL = "org.xedgesim.release"
SERVICES = ("broker", "gateway")
BROKER_PASSWD = "/etc/mosquitto/passwd"
RESTART_POLICIES = ("always", "unless-stopped", "on-failure")


class Inspection(dict[str, Any]):
    """A container's ``docker inspect``, shown by its name only: it may hold a leaked secret
    (the very thing a check looks for), and pytest prints a failed test's arguments."""

    def __repr__(self) -> str:
        return f"<docker inspect of {name(self)}>"


class Variables(dict[str, Any]):
    """A host's inventory variables, shown by their names only: they hold the vault's
    passwords, and pytest prints a failed test's arguments."""

    def __repr__(self) -> str:
        return f"<{len(self)} inventory variables: {', '.join(sorted(self))}>"


def service_containers(host: Any, service: str) -> list[dict[str, Any]]:
    """``docker inspect`` of every container labelled as ``service`` (running or not)."""
    names = host.check_output(
        "docker ps -a --filter label=%s --format '{{.Names}}'", f"{SERVICE_LABEL}={service}"
    ).split()
    if not names:
        return []
    inspected = json.loads(host.check_output("docker inspect " + " ".join(map(shlex.quote,
                                                                              names))))
    return [Inspection(container) for container in inspected]


def the_service(host: Any, service: str) -> dict[str, Any]:
    """The one container of ``service``; AssertionError when there are none or several."""
    found = service_containers(host, service)
    names = [c.get("Name", "?").lstrip("/") for c in found]
    assert len(found) == 1, f"expected one {service} container, found {names or 'none'}"
    return found[0]


def name(container: Mapping[str, Any]) -> str:
    return str(container.get("Name", "?")).lstrip("/")


def environment(container: Mapping[str, Any]) -> dict[str, str]:
    pairs = (item.partition("=") for item in (container.get("Config") or {}).get("Env") or ())
    return {key: value for key, _, value in pairs}


def mount_source(container: Mapping[str, Any], destination: str) -> str | None:
    """The host path mounted at ``destination`` in the container, if any."""
    for mount in container.get("Mounts") or ():
        if mount.get("Destination") == destination:
            return str(mount.get("Source"))
    return None


def published(container: Mapping[str, Any], port: int = 1883) -> list[tuple[str, int]]:
    """Where the container's ``port`` is published on the device: [(address, port)]."""
    ports = (container.get("NetworkSettings") or {}).get("Ports") or {}
    return [(binding.get("HostIp") or "0.0.0.0", int(binding["HostPort"]))
            for binding in ports.get(f"{port}/tcp") or () if binding.get("HostPort")]


def health(container: Mapping[str, Any]) -> str:
    state = container.get("State") or {}
    if not state.get("Running"):
        return str(state.get("Status", "?"))
    return str((state.get("Health") or {}).get("Status", "none"))


def restart_policy(container: Mapping[str, Any]) -> str:
    return str(((container.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name")
               or "no")


def restart(host: Any, service: str) -> None:
    """Restart the service's container (``docker restart``: SIGTERM, so Mosquitto saves)."""
    container = the_service(host, service)
    host.check_output("docker restart %s", name(container))
