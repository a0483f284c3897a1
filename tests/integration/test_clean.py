"""``remove_leftovers`` (``xedge clean``) on the real engine: a run labelled with another
hostname is spared (it may be another CI job's fleet on a shared Docker socket), a run of
this host whose process is gone is removed. The engine is shared with other runs, so the
listing is narrowed to this test's own label; the removal itself is the real one."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import uuid
from typing import Any

import pytest

from xedgesim.docker.containers import LABEL_MANAGED, LABEL_OWNER, LABEL_RUN, remove_leftovers

pytestmark = pytest.mark.integration

TEST_LABEL = "org.xedgesim.test"


class Narrowed:
    """A docker collection whose ``list`` sees only one test's things."""

    def __init__(self, collection: Any, label: str) -> None:
        self.collection, self.label = collection, label

    def list(self, **options: Any) -> list[Any]:
        filters = dict(options.pop("filters", None) or {})
        filters["label"] = [*filters.get("label", []), self.label]
        return self.collection.list(filters=filters, **options)


class NarrowedClient:
    def __init__(self, client: Any, label: str) -> None:
        self.containers = Narrowed(client.containers, label)
        self.networks = Narrowed(client.networks, label)
        self.volumes = Narrowed(client.volumes, label)


def ended_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_clean_spares_another_hosts_run_and_removes_this_hosts_dead_one(
        docker_client: Any, amd64_build: Any) -> None:
    import docker

    tag = uuid.uuid4().hex[:10]
    pid = ended_pid()
    owners = {"elsewhere": f"ci-runner-{tag}.example:{pid}",
              "here": f"{socket.gethostname()}:{pid}"}
    made: list[Any] = []
    try:
        for who, owner in owners.items():
            labels = {LABEL_MANAGED: "true", LABEL_RUN: f"{who}-{tag}", LABEL_OWNER: owner,
                      TEST_LABEL: tag}
            made.append(docker_client.volumes.create(f"xedgesim-test-{who}-{tag}", labels=labels))
            made.append(docker_client.containers.create(
                "xedgesim/broker:latest", name=f"xedgesim-test-{who}-{tag}", labels=labels,
                volumes={made[-1].name: {"bind": "/data", "mode": "rw"}}))
        removed = remove_leftovers(NarrowedClient(docker_client, f"{TEST_LABEL}={tag}"))
        assert removed == sorted([f"xedgesim-test-here-{tag}", f"volume xedgesim-test-here-{tag}"])
        docker_client.containers.get(f"xedgesim-test-elsewhere-{tag}")  # spared
        docker_client.volumes.get(f"xedgesim-test-elsewhere-{tag}")
        with pytest.raises(docker.errors.NotFound):
            docker_client.containers.get(f"xedgesim-test-here-{tag}")
    finally:
        for thing in reversed(made):
            with contextlib.suppress(docker.errors.APIError):
                thing.remove(force=True)
