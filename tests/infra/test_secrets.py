"""Secrets on a device: in files only the service's own user can read, never in the
environment or the configuration a ``docker inspect`` shows, never world-readable."""

from __future__ import annotations

import json
from typing import Any

from xedgesim.deploy import device

# file names that hold secrets wherever they are found under the xedgesim directories
SECRET_PATTERNS = ("passwd", "*password*", "*secret*", "key.pem", "*.key")


def container_uid(host: Any, container: dict[str, Any], user: str | None = None) -> int:
    """The uid ``user`` (default: the container's own user) has inside the container."""
    command = f"docker exec {device.name(container)} id -u" + (f" {user}" if user else "")
    return int(host.check_output(command))


def test_broker_password_file(host: Any, broker: dict[str, Any]) -> None:
    source = device.mount_source(broker, device.BROKER_PASSWD)
    assert source, f"no password file is mounted at {device.BROKER_PASSWD}"
    passwd = host.file(source)
    assert passwd.is_file, f"{source} is not a file"
    assert passwd.mode == 0o600, f"{source} has mode {passwd.mode:o}, expected 600"
    owner = container_uid(host, broker, "mosquitto")
    assert passwd.uid == owner, (f"{source} belongs to uid {passwd.uid}; Mosquitto reads it as "
                                 f"uid {owner} after dropping root")


def test_gateway_password_file(host: Any, gateway: dict[str, Any]) -> None:
    env = device.environment(gateway)
    inside = env.get("XEDGESIM_PASSWORD_FILE")
    assert inside, "the gateway gets no password file (XEDGESIM_PASSWORD_FILE)"
    source = device.mount_source(gateway, inside)
    assert source, f"nothing is mounted at {inside} in the gateway"
    secret = host.file(source)
    assert secret.is_file and secret.mode == 0o600, f"{source}: mode {secret.mode:o}"
    assert secret.uid == container_uid(host, gateway), \
        f"{source} is not owned by the user the gateway runs as"


def test_no_password_in_container_configuration(host: Any, broker: dict[str, Any],
                                                gateway: dict[str, Any],
                                                mqtt_users: Any) -> None:
    """No password in any variable, label or command a ``docker inspect`` shows."""
    for container in (broker, gateway):
        for key in device.environment(container):
            assert not (("PASSWORD" in key or "SECRET" in key) and not key.endswith("_FILE")), \
                f"{device.name(container)} has {key} in its environment"
        if mqtt_users:
            shown = json.dumps(container["Config"])
            for user in mqtt_users:
                assert user.password not in shown, \
                    f"{device.name(container)} shows the password of {user.name!r}"


def test_no_world_readable_secrets(host: Any, host_vars: dict[str, Any],
                                   broker: dict[str, Any], gateway: dict[str, Any]) -> None:
    directories = {host_vars.get("xedgesim_config_dir", "/etc/xedgesim"),
                   host_vars.get("xedgesim_state_dir", "/var/lib/xedgesim")}
    for container in (broker, gateway):
        for mount in container.get("Mounts") or ():
            if mount.get("Type") == "bind":
                directories.add(str(mount["Source"]).rsplit("/", 1)[0])
    names = " -o ".join(f"-name '{pattern}'" for pattern in SECRET_PATTERNS)
    existing = [d for d in sorted(directories) if host.file(d).is_directory]
    readable = host.check_output(
        f"find {' '.join(existing)} -type f \\( {names} \\) -perm -o+r -print"
    ) if existing else ""
    assert not readable.strip(), f"world-readable secrets: {readable.split()}"
