"""Secrets on a device: in files only the service's own user can read, never in the
environment or the configuration a ``docker inspect`` shows, never world-readable.

A check that finds a secret says *where* it is and never shows it: an assertion about a
secret asserts a list of places (``shows_passwords``), so neither pytest's explanation of a
failed assertion nor the JUnit report can carry the value.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from typing import Any

from xedgesim.deploy import device

# file names that hold secrets wherever they are found under the xedgesim directories
SECRET_PATTERNS = ("passwd", "*password*", "*secret*", "key.pem", "*.key")


def container_uid(host: Any, container: dict[str, Any], user: str | None = None) -> int:
    """The uid ``user`` (default: the container's own user) has inside the container."""
    if user:
        return int(host.check_output("docker exec %s id -u %s", device.name(container), user))
    return int(host.check_output("docker exec %s id -u", device.name(container)))


def shows_passwords(container: dict[str, Any], users: Sequence[Any]) -> list[str]:
    """Where ``docker inspect`` of the container shows a user's password: ``"the password of
    'probe' in Config.Cmd"`` for each, naming the user and the field, never the value."""
    fields = {f"Config.{key}": value for key, value in (container.get("Config") or {}).items()}
    fields.update({key: container.get(key) for key in ("Path", "Args")})
    return [f"the password of {user.name!r} in {field}"
            for field, value in sorted(fields.items())
            for user in users if user.password and user.password in json.dumps(value)]


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
        named = [key for key in device.environment(container)
                 if ("PASSWORD" in key or "SECRET" in key) and not key.endswith("_FILE")]
        assert not named, f"{device.name(container)} has {named} in its environment"
        leaks = shows_passwords(container, mqtt_users or ())
        assert not leaks, f"{device.name(container)} shows {'; '.join(leaks)}"


def test_no_world_readable_secrets(host: Any, host_vars: dict[str, Any],
                                   broker: dict[str, Any], gateway: dict[str, Any]) -> None:
    directories = {str(host_vars["xedgesim_config_dir"]), str(host_vars["xedgesim_state_dir"])}
    for container in (broker, gateway):
        for mount in container.get("Mounts") or ():
            if mount.get("Type") == "bind":
                directories.add(str(mount["Source"]).rsplit("/", 1)[0])
    names = " -o ".join(f"-name '{pattern}'" for pattern in SECRET_PATTERNS)
    odd = sorted(d for d in directories if not d.startswith("/") or "\n" in d)
    assert not odd, f"not absolute directories: {odd}"
    existing = [d for d in sorted(directories) if host.file(d).is_directory]
    readable = host.check_output(
        f"find {' '.join(shlex.quote(d) for d in existing)} -type f \\( {names} \\) "
        "-perm -o+r -print"
    ) if existing else ""
    assert not readable.strip(), f"world-readable secrets: {readable.split()}"
