"""Running the edge-host image: a container that runs its own Docker engine, on hosts where
``--privileged`` is refused (the kernel withholds CAP_SYS_RESOURCE).

What works instead: every capability but SYS_RESOURCE, no seccomp or AppArmor profile, no
masked or read-only /proc paths, the host's cgroup namespace with /sys/fs/cgroup mounted
read-write, and a volume at /var/lib/docker (overlayfs cannot nest on the container's own
overlay root). The inner engine runs with ``--iptables=false`` (set by the image).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xedgesim.images import naming

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

IMAGE = naming.latest_tag("edge-host")
CAP_ADD = ("ALL",)
CAP_DROP = ("SYS_RESOURCE",)
# systempaths=unconfined is a docker CLI option, not an engine one: the CLI sends it as empty
# MaskedPaths and ReadonlyPaths, and so does nested_engine_host_config.
SECURITY_OPT = ("seccomp=unconfined", "apparmor=unconfined")


def nested_engine_host_config(
    client: docker.DockerClient,
    docker_volume: str,
    binds: dict[str, dict[str, str]] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """A host config under which a container can run dockerd; ``options`` go to
    ``create_host_config`` (port_bindings, network_mode, ...)."""
    all_binds = {
        "/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"},
        docker_volume: {"bind": "/var/lib/docker", "mode": "rw"},
        **(binds or {}),
    }
    host_config = client.api.create_host_config(
        cap_add=list(CAP_ADD),
        cap_drop=list(CAP_DROP),
        security_opt=list(SECURITY_OPT),
        cgroupns="host",
        binds=all_binds,
        **options,
    )
    host_config["MaskedPaths"] = []
    host_config["ReadonlyPaths"] = []
    return host_config


def start_edge_host(
    client: docker.DockerClient,
    docker_volume: str,
    *,
    image: str = IMAGE,
    name: str | None = None,
    labels: dict[str, str] | None = None,
    environment: dict[str, str] | None = None,
    ports: dict[int, tuple[str, int]] | None = None,
    binds: dict[str, dict[str, str]] | None = None,
) -> Container:
    """Create and start an edge-host container; ``ports`` maps container port -> (host ip,
    host port) and should bind 127.0.0.1. The caller removes the container and the volume."""
    host_config = nested_engine_host_config(
        client, docker_volume, binds=binds, port_bindings=dict(ports or {})
    )
    created = client.api.create_container(
        image,
        name=name,
        labels={naming.LABEL_MANAGED: "true", **(labels or {})},
        environment=environment,
        ports=list(ports or ()),
        host_config=host_config,
    )
    container = client.containers.get(created["Id"])
    try:
        container.start()
    except Exception:
        container.remove(force=True)
        raise
    return container
