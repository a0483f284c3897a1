"""Fixtures for tests that need a real Docker engine and the project's images.

Without an engine the tests skip with the fix to apply, except under CI (CI=true), where a
missing engine means scripts/setup-host did not do its job, so they fail. Every container and
volume a test creates is labelled and removed in a ``finally``, pass or fail.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ci import missing
from xedgesim.images import naming

TEST_LABELS = {naming.LABEL_MANAGED: "true", "org.xedgesim.test": "integration"}


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A docker SDK client whose engine answered; skip (or fail under CI) otherwise."""
    from xedgesim.images.engine import connect
    from xedgesim.images.errors import EngineUnavailable

    try:
        client = connect()
    except EngineUnavailable as error:
        missing(f"no Docker engine ({error}): run scripts/setup-host")
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def amd64_build(docker_client: Any) -> Any:
    """Base, broker and edge-host for amd64 (seconds when already built)."""
    from xedgesim.images.build import build_images

    return build_images(("amd64",), connect=lambda: docker_client)


@pytest.fixture(scope="session")
def arm64_build(docker_client: Any) -> Any:
    """Base and broker for arm64, built under qemu once (or reused when already built)."""
    from xedgesim.images.build import build_images

    return build_images(("arm64",), ("broker",), connect=lambda: docker_client)


def unique_name(kind: str) -> str:
    """A container or volume name no other run uses, recognisable as a test's."""
    return f"xedgesim-test-{kind}-{uuid.uuid4().hex[:8]}"


def _remove_all(created: list[Any]) -> None:
    import docker

    while created:
        container = created.pop()
        try:
            container.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as error:  # cleanup must go on for the others
            print(f"could not remove {container.name}: {error}")


@pytest.fixture
def containers() -> Iterator[list[Any]]:
    """A list a test appends its containers to; all are force-removed at the end."""
    created: list[Any] = []
    try:
        yield created
    finally:
        _remove_all(created)


@pytest.fixture
def launch(docker_client: Any, containers: list[Any]) -> Callable[..., Any]:
    """Run a labelled, uniquely named, detached container that is removed after the test."""

    def run(image: str, kind: str, **options: Any) -> Any:
        container = docker_client.containers.run(
            image, detach=True, name=unique_name(kind), labels=TEST_LABELS, **options
        )
        containers.append(container)
        return container

    return run


@pytest.fixture
def docker_volume(docker_client: Any, containers: list[Any]) -> Iterator[str]:
    """A labelled named volume; at the end the test's containers go first, then the volume."""
    volume = docker_client.volumes.create(unique_name("volume"), labels=TEST_LABELS)
    try:
        yield volume.name
    finally:
        _remove_all(containers)
        volume.remove(force=True)


def _health(container: Any) -> str:
    container.reload()
    state = container.attrs["State"]
    if state.get("Status") != "running":
        return state.get("Status", "?")
    return (state.get("Health") or {}).get("Status", "none")


@pytest.fixture
def wait_healthy() -> Callable[[Any, float], float]:
    """Wait until a container's healthcheck passes; return the seconds waited, fail on
    timeout or when the container stops (with the tail of its log)."""

    def wait(container: Any, timeout: float) -> float:
        started = time.monotonic()
        while (status := _health(container)) != "healthy":
            elapsed = time.monotonic() - started
            if status not in ("starting", "unhealthy") or elapsed > timeout:
                logs = container.logs(tail=20).decode(errors="replace")
                pytest.fail(f"{container.name} is {status} after {elapsed:.0f}s:\n{logs}")
            time.sleep(0.1)
        return time.monotonic() - started

    return wait


SHIPPED = "/srv/shipped"


@pytest.fixture
def edge_host(
    docker_client: Any, containers: list[Any], docker_volume: str, tmp_path: Path
) -> tuple[Any, Path]:
    """A started edge-host (a simulated Pi with its own engine) and the host directory it sees
    read-only at SHIPPED, standing in for the copy step of save -> copy -> load."""
    from xedgesim.images.edge_host import start_edge_host

    container = start_edge_host(
        docker_client,
        docker_volume,
        name=unique_name("edge-host"),
        labels=TEST_LABELS,
        binds={str(tmp_path): {"bind": SHIPPED, "mode": "ro"}},
    )
    containers.append(container)
    return container, tmp_path
