"""The containers of one run: created, started, health-waited, logged and always removed.

Every container carries the labels ``org.xedgesim.managed=true`` and ``org.xedgesim.run=<id>``,
so ``xedge clean`` can find leftovers of a run that was killed outright. Within a run a
``ContainerSession`` removes its containers on success, on error, on Ctrl-C and on SIGTERM.
Ports are published on 127.0.0.1 only, on ports the engine picks free.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xedgesim.errors import NodeFailure
from xedgesim.interrupts import deferred, signals_as_interrupt

LABEL_MANAGED = "org.xedgesim.managed"
LABEL_RUN = "org.xedgesim.run"
LABEL_NODE = "org.xedgesim.node"
LABEL_OWNER = "org.xedgesim.owner"  # host:pid of the coordinator, so clean spares live runs
LABEL_BOOT = "org.xedgesim.boot"  # the owner's boot id: its pid means nothing after a reboot
BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"


class ContainerError(NodeFailure):
    """A container could not be started or became unhealthy; the message names the node."""


@dataclass(frozen=True)
class ContainerSpec:
    node: str  # scenario node id; the container is xedgesim-<run>-<node>
    image: str  # a locally built image: never pulled
    command: list[str] | None = None
    environment: dict[str, str] = field(default_factory=dict)
    ports: tuple[int, ...] = ()  # container TCP ports to publish on 127.0.0.1
    volumes: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class RunningContainer:
    node: str
    container: Any  # docker.models.containers.Container
    host_ports: dict[int, int]  # container port -> port on 127.0.0.1

    @property
    def name(self) -> str:
        return self.container.name

    def address(self, port: int) -> tuple[str, int]:
        """Where the host reaches ``port`` of this container."""
        return ("127.0.0.1", self.host_ports[port])


def connect(timeout: int = 120) -> Any:
    """A docker SDK client whose engine answered, or ContainerError saying how to get one."""
    from xedgesim import engine

    try:
        return engine.connect(timeout=timeout)
    except engine.EngineUnavailable as error:
        raise ContainerError(str(error)) from None


def new_run_id() -> str:
    return uuid.uuid4().hex[:10]


class ContainerSession:
    """All containers of one run; leaving the ``with`` block removes every one of them."""

    def __init__(self, run_id: str, log_dir: Path | None = None, client: Any = None) -> None:
        self.run_id = run_id
        self.log_dir = log_dir
        self._client = client
        self.running: list[RunningContainer] = []
        self._network: Any = None

    @property
    def network_name(self) -> str:
        """The run's own bridge network: containers reach each other by node id there."""
        return f"xedgesim-{self.run_id}"

    @property
    def labels(self) -> dict[str, str]:
        return run_labels(self.run_id)

    def _ensure_network(self) -> Any:
        if self._network is None:
            self._network = self.client.networks.create(
                self.network_name, driver="bridge", labels=self.labels)
        return self._network

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = connect()
        return self._client

    def __enter__(self) -> ContainerSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self, spec: ContainerSpec, timeout_s: float = 60.0) -> RunningContainer:
        """Create and start a container, and wait until it is healthy (or its ports answer)."""
        import docker

        client = self.client
        try:
            client.images.get(spec.image)
        except docker.errors.ImageNotFound:
            raise ContainerError(
                f"node {spec.node!r}: image {spec.image!r} is not built locally "
                "(run: xedge images build); xedgesim never pulls images"
            ) from None
        try:
            network = self._ensure_network()
            container = client.containers.create(
                spec.image,
                command=spec.command,
                name=f"xedgesim-{self.run_id}-{spec.node}",
                labels={**self.labels, LABEL_NODE: spec.node},
                environment=spec.environment,
                ports={f"{port}/tcp": ("127.0.0.1", None) for port in spec.ports},
                volumes=spec.volumes,
                detach=True,
                network=network.name,
                networking_config={
                    network.name: client.api.create_endpoint_config(aliases=[spec.node])
                },
            )
        except docker.errors.APIError as error:
            raise ContainerError(
                f"node {spec.node!r}: cannot create a container: {error}") from None
        running = RunningContainer(spec.node, container, {})
        self.running.append(running)
        try:
            container.start()
            self._wait_until_ready(running, spec, timeout_s)
        except docker.errors.APIError as error:
            raise ContainerError(f"node {spec.node!r}: cannot start: {error}") from None
        return running

    def _wait_until_ready(self, running: RunningContainer, spec: ContainerSpec,
                          timeout_s: float) -> None:
        container = running.container
        deadline = time.monotonic() + timeout_s
        while True:
            container.reload()
            state = container.attrs["State"]
            if state["Status"] in ("exited", "dead"):
                raise ContainerError(
                    f"node {spec.node!r}: container exited with code {state.get('ExitCode')} "
                    f"while starting; last log lines:\n{log_tail(container)}"
                )
            if state["Status"] == "running":
                running.host_ports = _published_ports(container, spec.ports)
                health = state.get("Health", {}).get("Status")
                if health == "healthy" or (health is None and _ports_answer(running)):
                    return
                if health == "unhealthy":
                    raise ContainerError(
                        f"node {spec.node!r}: container is unhealthy; last log lines:\n"
                        f"{log_tail(container)}"
                    )
            if time.monotonic() > deadline:
                raise ContainerError(
                    f"node {spec.node!r}: not healthy after {timeout_s:g}s; last log lines:\n"
                    f"{log_tail(container)}"
                )
            time.sleep(0.05)

    def close(self) -> None:
        """Save every container's log into ``log_dir`` and remove the container."""
        import docker

        with _signals_deferred():
            while self.running:
                running = self.running.pop()
                try:
                    if self.log_dir is not None:
                        self.log_dir.mkdir(parents=True, exist_ok=True)
                        logs = running.container.logs(stdout=True, stderr=True)
                        (self.log_dir / f"{running.node}.log").write_bytes(logs)
                except docker.errors.APIError:
                    pass  # a container that vanished has no log to keep
                finally:
                    with suppress(docker.errors.NotFound):
                        running.container.remove(force=True, v=True)
            if self._network is not None:
                with suppress(docker.errors.APIError):
                    self._network.remove()
                self._network = None


def run_labels(run_id: str) -> dict[str, str]:
    """The labels of everything a run creates: found by ``xedge clean``, spared while the
    process that created it is alive."""
    labels = {LABEL_MANAGED: "true", LABEL_RUN: run_id, LABEL_OWNER: _owner()}
    if boot := _boot_id():
        labels[LABEL_BOOT] = boot
    return labels


def remove_leftovers(client: Any = None, *, include_live: bool = False,
                     run: str | None = None) -> list[str]:
    """Remove the containers, networks and volumes of runs provably dead on this host; returns
    their names. A run is dead when this host made it (its owner label names this host) and
    its process is gone, or the host rebooted since (another boot id). Any other run is
    spared unless ``include_live``: a run labelled with another hostname may be another CI
    job's fleet on a shared Docker socket, and cannot be checked from here; cleaning up must
    not kill someone else's run. A staging fleet kept with ``--keep`` counts as left over.
    ``run`` limits all of this to the run with that id.
    """
    client = client or connect()
    labels = {"label": [f"{LABEL_MANAGED}=true", f"{LABEL_RUN}={run}" if run else LABEL_RUN]}

    def dead(found: dict[str, str] | None) -> bool:
        return include_live or _provably_dead(found or {})

    removed = []
    for container in client.containers.list(all=True, filters=labels):
        if dead(container.labels):
            container.remove(force=True, v=True)
            removed.append(container.name)
    for network in client.networks.list(filters=labels):
        network.reload()
        if network.containers:
            continue  # still in use by a live run's containers
        if dead(network.attrs.get("Labels")):
            network.remove()
            removed.append(f"network {network.name}")
    for volume in client.volumes.list(filters=labels):
        if dead(volume.attrs.get("Labels")):
            with suppress(docker_errors().APIError):  # still mounted by a spared container
                volume.remove(force=True)
                removed.append(f"volume {volume.name}")
    return sorted(removed)


def docker_errors() -> Any:
    import docker

    return docker.errors


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _boot_id() -> str:
    """This kernel's boot id: a pid from another boot says nothing about a process now."""
    try:
        return Path(BOOT_ID_FILE).read_text().strip()
    except OSError:
        return ""


def _provably_dead(labels: dict[str, str]) -> bool:
    """Did the process that labelled a run, on this host, end (or the host reboot since)?
    Without an owner on this host nothing can be proven, and the run is spared."""
    host, _, pid = (labels.get(LABEL_OWNER) or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's run, or no owner: its liveness cannot be checked
    boot = labels.get(LABEL_BOOT)
    if boot and boot != _boot_id():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


# Signals have one mechanism for every run (xedgesim.interrupts): SIGTERM is handled like
# Ctrl-C while containers run, and both are held while the containers are removed.
sigterm_as_interrupt = signals_as_interrupt
_signals_deferred = deferred


def _published_ports(container: Any, ports: tuple[int, ...]) -> dict[int, int]:
    published = container.attrs["NetworkSettings"]["Ports"] or {}
    found = {}
    for port in ports:
        bindings = published.get(f"{port}/tcp") or []
        if bindings:
            found[port] = int(bindings[0]["HostPort"])
    return found


def _ports_answer(running: RunningContainer) -> bool:
    for port in running.host_ports:
        try:
            with socket.create_connection(running.address(port), timeout=0.2):
                pass
        except OSError:
            return False
    return True


def log_tail(container: Any, lines: int = 20) -> str:
    """The last lines a container logged, for error messages."""
    try:
        return container.logs(tail=lines).decode(errors="replace").rstrip() or "(no output)"
    except Exception as error:  # the log is a courtesy; never mask the real error
        return f"(log unavailable: {error})"
