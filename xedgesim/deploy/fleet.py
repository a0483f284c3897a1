"""The local staging fleet: N simulated Raspberry Pis on this machine, reached over SSH.

Each host is the ``edge-host`` image started as ``xedgesim/images/edge_host.py`` runs it (its
own Docker engine, without ``--privileged``), with sshd (22) and the broker's TLS listener
(8883: the only one a production broker publishes beyond the device) on 127.0.0.1 ports the
engine picks. The fleet's throwaway CA and each broker's certificate are made here too
(``certificates.make_fleet_pki``, private keys 0600 under ``<run>/tls/``). Every container and
volume carries ``org.xedgesim.managed=true`` and ``org.xedgesim.run=<id>``, so ``xedge clean``
finds what a killed run left behind. The run's SSH key is installed as the only authorized
key, and the hosts' own keys are collected into the run's ``known_hosts``: staging checks host
keys.

``create`` records each container in the state file as soon as it exists, so ``destroy``
removes a half-made fleet too.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from xedgesim.deploy import certificates, sshkeys
from xedgesim.deploy import inventory as inventory_module
from xedgesim.deploy.errors import DeployError
from xedgesim.deploy.inventory import StagingHost
from xedgesim.deploy.state import StageState
from xedgesim.docker.containers import LABEL_NODE, log_tail, run_labels
from xedgesim.engine import read_in_container
from xedgesim.images import edge_host, naming

SSH_PORT = 22
MQTT_PORT = certificates.TLS_PORT  # the broker as the smoke test reaches it
READY_TIMEOUT_S = 120.0
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub"

Say = Callable[[str], None]


@dataclass(frozen=True)
class Fleet:
    """What ``create`` made: the hosts and the inventory that describes them."""

    hosts: tuple[StagingHost, ...]
    inventory: Path
    private_key: Path
    known_hosts: Path


def host_name(index: int) -> str:
    return f"edge-{index}"


def connect(timeout: int = 120) -> Any:
    """A docker SDK client whose engine answered, or DeployError saying how to get one."""
    from xedgesim import engine

    try:
        return engine.connect(timeout=timeout)
    except engine.EngineUnavailable as error:
        raise DeployError(str(error)) from None


def create(state: StageState, say: Say = print, client: Any = None) -> Fleet:
    """Start ``state.hosts`` edge hosts for ``state.arch`` and write the staging inventory.

    The arm64 fleet is amd64 edge hosts whose engines run arm64 images under qemu (the
    edge-host itself is built only for the machine's architecture).
    """
    import docker

    client = client or connect()
    image = edge_host.IMAGE
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        raise DeployError(f"image {image} is not built (run: xedge images build); "
                          "xedgesim never pulls") from None
    run_dir = Path(state.run_dir)
    keys = sshkeys.generate(run_dir / "ssh")
    labels = run_labels(state.run_id)
    containers = []
    for index in range(1, state.hosts + 1):
        name = host_name(index)
        volume = client.volumes.create(f"xedgesim-{state.run_id}-{name}-docker",
                                       labels={**labels, LABEL_NODE: name})
        state.volumes.append(volume.name)
        state.save()
        ports = cast(dict[int, tuple[str, int]],
                     {SSH_PORT: ("127.0.0.1", None), MQTT_PORT: ("127.0.0.1", None)})
        try:
            container = edge_host.start_edge_host(
                client, volume.name, image=image, name=f"xedgesim-{state.run_id}-{name}",
                labels={**labels, LABEL_NODE: name},
                environment={"XEDGESIM_AUTHORIZED_KEYS": keys.public_line},
                ports=ports,
            )
        except docker.errors.APIError as error:
            raise DeployError(f"{name}: cannot start an edge host: {error}") from None
        state.containers.append(container.name)
        state.save()
        containers.append((name, container))
    say(f"  {len(containers)} edge host(s) started; waiting for their engines and sshd")
    hosts: list[StagingHost] = []
    host_keys: list[tuple[str, int, str]] = []
    for name, container in containers:
        ssh_port, mqtt_port = wait_ready(name, container)
        hosts.append(StagingHost(name, ssh_port, mqtt_port, state.arch,
                                 emulated=state.arch != naming.host_arch()))
        host_keys.append(("127.0.0.1", ssh_port, read_host_key(name, container)))
    known_hosts = sshkeys.write_known_hosts(run_dir / "ssh" / "known_hosts", host_keys)
    tls = certificates.make_fleet_pki(run_dir / certificates.DIR_NAME,
                                      {host.name: () for host in hosts})
    inventory = inventory_module.write_staging(
        run_dir / "inventory" / "hosts.yml", hosts, keys.private, known_hosts,
        tls={name: files.inventory_vars() for name, files in tls.items()})
    for host in hosts:
        wait_for_ssh(host, keys.private, known_hosts)
    return Fleet(tuple(hosts), inventory, keys.private, known_hosts)


def wait_ready(name: str, container: Any, timeout_s: float = READY_TIMEOUT_S) -> tuple[int, int]:
    """Wait until the host's inner engine is healthy; return its (ssh, mqtt) host ports."""
    deadline = time.monotonic() + timeout_s
    while True:
        container.reload()
        state = container.attrs["State"]
        if state["Status"] in ("exited", "dead"):
            raise DeployError(f"{name}: the edge host stopped (exit {state.get('ExitCode')}); "
                              f"last log lines:\n{log_tail(container)}")
        health = (state.get("Health") or {}).get("Status")
        if state["Status"] == "running" and health == "healthy":
            ports = container.attrs["NetworkSettings"]["Ports"] or {}
            try:
                return (int(ports[f"{SSH_PORT}/tcp"][0]["HostPort"]),
                        int(ports[f"{MQTT_PORT}/tcp"][0]["HostPort"]))
            except (KeyError, IndexError, TypeError):
                raise DeployError(f"{name}: ports {SSH_PORT} and {MQTT_PORT} are not "
                                  "published") from None
        if time.monotonic() > deadline:
            raise DeployError(f"{name}: its Docker engine is not healthy after {timeout_s:g}s "
                              f"(health: {health}); last log lines:\n{log_tail(container)}")
        time.sleep(0.5)


def read_host_key(name: str, container: Any) -> str:
    """The host's ed25519 public host key (made when it started)."""
    exit_code, output = read_in_container(container, ["cat", HOST_KEY])
    key = output.strip()
    if exit_code != 0 or not key.startswith("ssh-ed25519 "):
        raise DeployError(f"{name}: no ed25519 host key at {HOST_KEY}: {key[:200]}")
    return key


def ssh_command(host: StagingHost, private_key: Path, known_hosts: Path) -> list[str]:
    return ["ssh", "-i", str(private_key), "-p", str(host.ssh_port),
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
            "root@127.0.0.1"]


def wait_for_ssh(host: StagingHost, private_key: Path, known_hosts: Path,
                 timeout_s: float = 60.0) -> None:
    """Wait until a real login with the run's key works (sshd up, key installed, host key
    as recorded): the first playbook then never races sshd."""
    deadline = time.monotonic() + timeout_s
    command = [*ssh_command(host, private_key, known_hosts), "true"]
    while True:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=15,
                                  check=False)
        except FileNotFoundError:
            raise DeployError("no ssh client on this machine (apt-get install "
                              "openssh-client)") from None
        except subprocess.TimeoutExpired:
            done = None
        if done is not None and done.returncode == 0:
            return
        if time.monotonic() > deadline:
            said = done.stderr.strip() if done is not None else "timed out"
            raise DeployError(f"{host.name}: ssh on 127.0.0.1:{host.ssh_port} does not let the "
                              f"run's key in after {timeout_s:g}s: {said}")
        time.sleep(0.5)


def destroy(state: StageState, say: Say = print, client: Any = None) -> int:
    """Save each host's log under ``<run>/logs/`` and remove the fleet's containers and
    volumes; returns how many containers were removed. Safe to repeat."""
    import docker

    client = client or connect()
    logs = Path(state.run_dir) / "logs"
    removed = 0
    for name in list(state.containers):
        try:
            container = client.containers.get(name)
        except docker.errors.NotFound:
            state.containers.remove(name)
            continue
        try:
            logs.mkdir(parents=True, exist_ok=True)
            (logs / f"{name}.log").write_bytes(container.logs(stdout=True, stderr=True))
        except docker.errors.APIError:
            pass  # the log is a courtesy; removal must go on
        container.remove(force=True, v=True)
        state.containers.remove(name)
        state.save()
        removed += 1
    for name in list(state.volumes):
        try:
            client.volumes.get(name).remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as error:
            say(f"  could not remove volume {name}: {error}")
            continue
        state.volumes.remove(name)
        state.save()
    return removed
