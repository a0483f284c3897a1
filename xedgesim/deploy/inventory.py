"""Inventories: the staging one ``xedge stage`` writes, and any one a command is pointed at.

The contract with the Ansible content: hosts of the group ``edge`` carry ``ansible_host``,
``ansible_port``, ``ansible_user``, ``ansible_ssh_private_key_file`` and ``xedgesim_arch``
(amd64|arm64). Where this machine reaches a host's broker for the smoke test is derived
(``mqtt_endpoint``): ``ansible_host`` and the broker's TLS port (8883) when the inventory gives
the broker a certificate, unless ``xedgesim_mqtt_probe_host``/``xedgesim_mqtt_probe_port`` say
otherwise (a staging host publishes its broker on a loopback port).

Inventories are read with ``ansible-inventory --list`` rather than parsed here, so every form
Ansible accepts (YAML, INI, directories, group_vars, plugins, vaulted files) means the same to
xedgesim as to the playbooks. The variables read may hold decrypted secrets: they stay in
memory and are never written out.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from xedgesim.deploy import certificates
from xedgesim.deploy.errors import DeployError, UsageError
from xedgesim.deploy.runner import executable_path

GROUP = "edge"
ARCHES = ("amd64", "arm64")


@dataclass(frozen=True)
class InventoryHost:
    """One host of the ``edge`` group and its variables (as Ansible resolves them)."""

    name: str
    vars: Mapping[str, Any]

    @property
    def arch(self) -> str:
        return str(self.vars.get("xedgesim_arch", ""))

    def mqtt_endpoint(self, inventory_dir: Path) -> MqttEndpoint:
        """Where the smoke test reaches this host's broker: see ``mqtt_endpoint``."""
        return mqtt_endpoint(self.name, self.vars, inventory_dir)


@dataclass(frozen=True)
class MqttEndpoint:
    """A broker as this machine reaches it: TLS (verified against ``ca``, or the system's
    trusted CAs when ``ca`` is None) unless the fleet was deployed in plain text."""

    host: str
    port: int
    tls: bool
    ca: Path | None = None


# The only template expressions a controller path in an inventory may hold here: inventory
# variables are read raw (ansible-inventory does not template them), so anything else is
# refused rather than guessed.
PATH_TEMPLATE = re.compile(r"\{\{\s*(inventory_dir|inventory_hostname)\s*\}\}")


def controller_path(value: Any, name: str, inventory_dir: Path, variable: str) -> Path:
    """A path an inventory gives for a file on this machine (``mqtt_tls_ca``), with
    ``{{ inventory_dir }}`` and ``{{ inventory_hostname }}`` filled in."""
    text = PATH_TEMPLATE.sub(lambda match: str(inventory_dir) if match.group(1) ==
                             "inventory_dir" else name, str(value))
    if "{{" in text or "{%" in text:
        raise UsageError(f"{name}: {variable} is {value!r}; xedgesim reads it without "
                         "Ansible: use a plain path, {{ inventory_dir }} or "
                         "{{ inventory_hostname }}")
    path = Path(text).expanduser()
    return path if path.is_absolute() else inventory_dir / path


def mqtt_endpoint(name: str, variables: Mapping[str, Any], inventory_dir: Path) -> MqttEndpoint:
    """Where and how this machine reaches host ``name``'s broker.

    TLS when the inventory gives the broker a certificate (``mqtt_tls_cert``): the host is
    ``ansible_host`` (else the host's name), the port the broker's TLS port, and the server
    certificate is checked against ``mqtt_tls_ca``. ``xedgesim_mqtt_probe_host`` and
    ``xedgesim_mqtt_probe_port`` override the address (a port forward, a staging host). A
    broker without a certificate (deployed with ``--insecure-plaintext``) is reached in plain
    text on ``xedgesim_mqtt_port``.
    """
    tls = bool(str(variables.get(certificates.CERT_VAR) or ""))
    host = variables.get("xedgesim_mqtt_probe_host") or variables.get("ansible_host") or name
    default_port = (variables.get("mqtt_broker_tls_port", certificates.TLS_PORT) if tls
                    else variables.get("xedgesim_mqtt_port", 1883))
    port = variables.get("xedgesim_mqtt_probe_port") or default_port
    try:
        number = int(port)
    except (TypeError, ValueError):
        number = 0
    if not 0 < number < 65536:
        raise UsageError(f"{name}: the broker's port {port!r} is not a port number "
                         "(xedgesim_mqtt_probe_port)")
    ca_value = str(variables.get(certificates.CA_VAR) or "")
    ca = (controller_path(ca_value, name, inventory_dir, certificates.CA_VAR)
          if tls and ca_value else None)
    return MqttEndpoint(str(host), number, tls, ca)


def inventory_dir(path: Path) -> Path:
    """Ansible's ``inventory_dir`` for a host defined in ``path`` (a file or a directory)."""
    resolved = path.resolve()
    return resolved if resolved.is_dir() else resolved.parent


@dataclass(frozen=True)
class Inventory:
    path: Path
    hosts: tuple[InventoryHost, ...]

    @property
    def arches(self) -> tuple[str, ...]:
        return tuple(sorted({host.arch for host in self.hosts}))

    def host(self, name: str) -> InventoryHost:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)

    def problems(self) -> list[str]:
        """What the contract requires and this inventory lacks, one line per problem."""
        if not self.hosts:
            return [f"{self.path}: no hosts in group {GROUP!r}"]
        found = []
        for host in self.hosts:
            if host.arch not in ARCHES:
                found.append(f"{host.name}: xedgesim_arch is {host.arch or 'missing'} "
                             f"(expected one of {', '.join(ARCHES)})")
        return found


@dataclass(frozen=True)
class StagingHost:
    """A simulated Pi of the local fleet, as the staging inventory describes it."""

    name: str
    ssh_port: int
    mqtt_port: int  # the broker's TLS listener, published on 127.0.0.1
    arch: str
    emulated: bool = False  # the images' arch is not the machine's: they run under qemu


def write_staging(path: Path, hosts: Iterable[StagingHost], private_key: Path,
                  known_hosts: Path,
                  tls: Mapping[str, Mapping[str, str]] | None = None) -> Path:
    """Write the staging inventory (YAML): group ``edge``, one entry per simulated Pi;
    ``tls`` gives each host its broker's certificate variables (``HostTls.inventory_vars``).

    Host keys are checked against the run's own known_hosts, and only the run's key is
    offered (``IdentitiesOnly``), so an agent's keys never reach the fleet.
    """
    ssh_args = shlex.join(["-o", f"UserKnownHostsFile={known_hosts}",
                           "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes"])
    entries = {
        host.name: {
            "ansible_host": "127.0.0.1",
            "ansible_port": host.ssh_port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(private_key),
            "ansible_ssh_common_args": ssh_args,
            "ansible_python_interpreter": "/usr/bin/python3",
            "xedgesim_arch": host.arch,
            "xedgesim_mqtt_probe_host": "127.0.0.1",
            "xedgesim_mqtt_probe_port": host.mqtt_port,
            **({"xedgesim_arch_emulated": True} if host.emulated else {}),
            **dict((tls or {}).get(host.name) or {}),
        }
        for host in hosts
    }
    document = {"all": {"children": {GROUP: {"hosts": entries}}}}
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ("# Written by `xedge stage` for its local staging fleet: simulated Pis on this\n"
              "# machine, reached over SSH on 127.0.0.1 with the run's own key.\n")
    path.write_text(header + yaml.safe_dump(document, sort_keys=False, width=1000))
    return path.resolve()


def load(path: Path, overlays: Sequence[Path] = (),
         env: Mapping[str, str] | None = None) -> Inventory:
    """The ``edge`` hosts of an inventory and their variables, through ansible-inventory;
    ``overlays`` are inventory sources read before it (the production settings)."""
    if not path.exists():
        raise UsageError(f"inventory {path} does not exist")
    command = ["ansible-inventory", "--list"]
    for source in (*overlays, path):
        command += ["-i", str(source)]
    environment = {**os.environ, "PATH": executable_path(), "ANSIBLE_VERBOSITY": "0",
                   "ANSIBLE_NOCOLOR": "1", **(env or {})}
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=environment,
                              timeout=120, check=False)
    except FileNotFoundError:
        raise DeployError("ansible-inventory is not installed (pip install ansible)") from None
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()[-5:]
        raise UsageError(f"inventory {path}: ansible-inventory failed:\n  " + "\n  ".join(said))
    try:
        listing = json.loads(done.stdout)
    except ValueError as error:
        raise DeployError(
            f"inventory {path}: unreadable ansible-inventory output: {error}") from None
    return from_listing(path, listing)


def from_listing(path: Path, listing: Mapping[str, Any]) -> Inventory:
    """An Inventory from ``ansible-inventory --list`` JSON (group ``edge`` and its children)."""
    hostvars = (listing.get("_meta") or {}).get("hostvars") or {}
    names: list[str] = []
    seen_groups: set[str] = set()

    def walk(group: str) -> None:
        if group in seen_groups:
            return
        seen_groups.add(group)
        entry = listing.get(group) or {}
        for host in entry.get("hosts") or ():
            if host not in names:
                names.append(host)
        for child in entry.get("children") or ():
            walk(child)

    walk(GROUP)
    return Inventory(path, tuple(InventoryHost(name, hostvars.get(name) or {})
                                 for name in sorted(names, key=natural_key)))


def natural_key(name: str) -> tuple[Any, ...]:
    """``edge-2`` before ``edge-10``."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))
