"""xedgesim/deploy/device.py: what the checks read from a device, and how they ask."""

from __future__ import annotations

import json
import shlex
from typing import Any

from xedgesim.deploy import device


class FakeHost:
    """Answers ``docker ps`` with the given names and ``docker inspect`` with their records."""

    def __init__(self, names: list[str], secret: str = "") -> None:
        self.names = names
        self.secret = secret
        self.commands: list[str] = []

    def check_output(self, command: str, *args: Any) -> str:
        line = command % tuple(shlex.quote(str(a)) for a in args)
        self.commands.append(line)
        if line.startswith("docker ps"):
            return "\n".join(self.names)
        return json.dumps([{"Name": "/" + name, "Config": {"Cmd": ["run", self.secret]}}
                           for name in shlex.split(line)[2:]])


def test_docker_inspect_gets_each_name_as_one_argument() -> None:
    host = FakeHost(["xedgesim-broker", "odd;name$(x)"])
    found = device.service_containers(host, "broker")
    assert shlex.split(host.commands[-1]) == ["docker", "inspect", "xedgesim-broker",
                                              "odd;name$(x)"]
    assert [device.name(c) for c in found] == ["xedgesim-broker", "odd;name$(x)"]


def test_an_inspected_container_shows_only_its_name() -> None:
    """pytest prints a failed check's arguments: a container that leaks a secret must not
    leak it a second time into the report."""
    container = device.the_service(FakeHost(["xedgesim-broker"], secret="hunter2-x9"), "broker")
    assert container["Config"]["Cmd"] == ["run", "hunter2-x9"]
    assert repr(container) == "<docker inspect of xedgesim-broker>"
