"""The Docker engine on a device, as a fleet run needs it: find a service's container, read its
settings, stop and start it (a gateway crash and its restart), cut it off its networks and put
it back (a link fault between the gateway and its broker).

Two ways in, one interface: ``SshDevice`` runs ``docker`` on the device over SSH with the
inventory's own connection settings (key, port, user, known hosts), as Ansible reaches it;
``EngineDevice`` talks to an engine through the docker SDK (a broker and gateway running on
this machine: the integration tests). The roles label their containers
``org.xedgesim.service=broker|gateway`` (:mod:`xedgesim.deploy.device`), so a service is found
by its label, never by a name a role or an inventory may change.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from xedgesim.deploy.device import SERVICE_LABEL
from xedgesim.errors import NodeFailure

COMMAND_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Service:
    """A service's container on a device and the settings it runs with (its environment,
    minus anything that looks like a secret)."""

    container: str
    environment: Mapping[str, str]


class Device(Protocol):
    name: str

    def service(self, service: str) -> Service: ...

    def stop(self, container: str) -> None: ...

    def start(self, container: str) -> None: ...

    def isolate(self, container: str) -> list[str]: ...

    def rejoin(self, container: str, networks: Sequence[str]) -> None: ...


def public_environment(pairs: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` lines as a dict, without variables whose name says they hold a secret."""
    found = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if not any(word in key.upper() for word in ("PASS", "SECRET", "TOKEN", "KEY")):
            found[key] = value
    return found


class SshDevice:
    """``docker`` on a device over SSH, with the connection Ansible uses for the host."""

    def __init__(self, name: str, variables: Mapping[str, Any],
                 timeout_s: float = COMMAND_TIMEOUT_S) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.local = str(variables.get("ansible_connection") or "") == "local"
        command = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
        if variables.get("ansible_port"):
            command += ["-p", str(variables["ansible_port"])]
        if variables.get("ansible_ssh_private_key_file"):
            command += ["-i", str(variables["ansible_ssh_private_key_file"])]
        for extra in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
            if variables.get(extra):
                command += shlex.split(str(variables[extra]))
        user = variables.get("ansible_user")
        address = str(variables.get("ansible_host") or name)
        command.append(f"{user}@{address}" if user else address)
        self.prefix = command

    def docker(self, *args: str) -> str:
        """Run ``docker ARGS`` on the device; its output, or a ``NodeFailure`` naming the host."""
        line = shlex.join(["docker", *args])
        command = ["sh", "-c", line] if self.local else [*self.prefix, "--", line]
        try:
            done = subprocess.run(command, capture_output=True, text=True,
                                  timeout=self.timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise NodeFailure(f"{self.name}: `{line}` did not finish within "
                              f"{self.timeout_s:g}s") from None
        except OSError as error:
            raise NodeFailure(f"{self.name}: cannot run ssh: {error}") from None
        if done.returncode != 0:
            said = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise NodeFailure(f"{self.name}: `{line}` failed (exit {done.returncode}): {said}")
        return done.stdout

    def service(self, service: str) -> Service:
        names = self.docker("ps", "-a", "--filter", f"label={SERVICE_LABEL}={service}",
                            "--format", "{{.Names}}").split()
        if len(names) != 1:
            raise NodeFailure(f"{self.name}: expected one {service} container (label "
                              f"{SERVICE_LABEL}={service}), found {names or 'none'}")
        env = json.loads(self.docker("inspect", "--format", "{{json .Config.Env}}", names[0])
                         or "[]")
        return Service(names[0], public_environment(env or []))

    def stop(self, container: str) -> None:
        # -t 0: the crash is immediate (SIGKILL), and "stopped" keeps a restart policy of
        # unless-stopped from bringing it back before the scenario says so.
        self.docker("stop", "-t", "0", container)

    def start(self, container: str) -> None:
        self.docker("start", container)

    def isolate(self, container: str) -> list[str]:
        """Disconnect ``container`` from every network it is on; those networks."""
        networks = sorted(json.loads(self.docker(
            "inspect", "--format", "{{json .NetworkSettings.Networks}}", container) or "{}")
            or {})
        for network in networks:
            self.docker("network", "disconnect", network, container)
        return networks

    def rejoin(self, container: str, networks: Sequence[str]) -> None:
        for network in networks:
            self.docker("network", "connect", network, container)


class EngineDevice:
    """A device whose engine this machine reaches directly (docker SDK client)."""

    def __init__(self, name: str, client: Any, labels: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.client = client
        self.labels = dict(labels or {})  # more labels a service's container must carry

    def service(self, service: str) -> Service:
        wanted = [f"{SERVICE_LABEL}={service}", *(f"{k}={v}" for k, v in self.labels.items())]
        found = self.client.containers.list(all=True, filters={"label": wanted})
        if len(found) != 1:
            raise NodeFailure(f"{self.name}: expected one {service} container, found "
                              f"{[c.name for c in found] or 'none'}")
        container = found[0]
        return Service(container.name,
                       public_environment(container.attrs["Config"].get("Env") or []))

    def stop(self, container: str) -> None:
        self.client.containers.get(container).stop(timeout=0)

    def start(self, container: str) -> None:
        self.client.containers.get(container).start()

    def isolate(self, container: str) -> list[str]:
        found = self.client.containers.get(container)
        networks = sorted(found.attrs["NetworkSettings"]["Networks"] or {})
        for network in networks:
            self.client.networks.get(network).disconnect(found)
        return networks

    def rejoin(self, container: str, networks: Sequence[str]) -> None:
        for network in networks:
            self.client.networks.get(network).connect(container)
