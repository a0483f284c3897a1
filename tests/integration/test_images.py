"""The images as built: labelled, cached, runnable on both arches, and shippable by save ->
load into the simulated device's own engine with the same digest."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import xedgesim
from xedgesim.images import naming, registry
from xedgesim.images.commands import images
from xedgesim.images.hashing import tree_hash

pytestmark = pytest.mark.integration

SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
IMPORTS = "import numpy, yaml, paho.mqtt.client; print(numpy.__version__)"


def output_of(launch: Callable[..., Any], image: str, *command: str) -> str:
    """Run ``command`` in a fresh container of ``image`` and return its output (exit 0)."""
    container = launch(image, "run", entrypoint=list(command))
    status = container.wait(timeout=120)["StatusCode"]
    output = container.logs().decode(errors="replace")
    assert status == 0, output
    return output.strip()


def test_amd64_images_are_labelled(amd64_build: Any, docker_client: Any) -> None:
    assert {s.name for s in amd64_build.services} == {"broker", "edge-host", "gateway"}
    for tag in amd64_build.tags:
        attrs = docker_client.images.get(tag).attrs
        labels = attrs["Config"]["Labels"]
        assert attrs["Architecture"] == "amd64", tag
        assert labels[naming.LABEL_MANAGED] == "true", tag
        assert labels[naming.LABEL_VERSION] == xedgesim.__version__, tag
        assert re.fullmatch(r"[0-9a-f]{64}", labels[naming.LABEL_SOURCE_HASH]), tag
    broker = docker_client.images.get(naming.latest_tag("broker"))
    expected = tree_hash(registry.contexts_dir() / "broker")
    assert broker.labels[naming.LABEL_SOURCE_HASH] == expected
    assert naming.image_tag("broker", xedgesim.__version__, "amd64") in broker.tags


def test_unchanged_rebuild_takes_seconds(amd64_build: Any, docker_client: Any) -> None:
    from xedgesim.images.build import build_images

    started = time.monotonic()
    again = build_images(("amd64",), connect=lambda: docker_client, progress=lambda _: None)
    seconds = time.monotonic() - started
    print(f"warm amd64 rebuild: {seconds:.1f}s")

    assert not any(base.bootstrapped for base in again.bases)
    assert all(service.cached for service in again.services)
    assert [s.image_id for s in again.services] == [s.image_id for s in amd64_build.services]
    assert seconds < 60


def test_base_carries_the_runtime_packages(amd64_build: Any, launch: Callable[..., Any]) -> None:
    broker = naming.latest_tag("broker")
    assert re.fullmatch(r"\d+\.\d+\.\d+", output_of(launch, broker, "python3", "-c", IMPORTS))
    assert "mosquitto version" in output_of(launch, broker, "sh", "-c", "mosquitto -h || true")


def test_list_shows_name_arch_digest_size(amd64_build: Any) -> None:
    result = CliRunner().invoke(images, ["list"])

    assert result.exit_code == 0, result.output
    broker = next(line for line in result.output.splitlines() if line.startswith("broker "))
    assert "amd64" in broker and SHA256.search(broker) and "MB" in broker


def test_arm64_images_run_under_qemu(
    arm64_build: Any, docker_client: Any, launch: Callable[..., Any]
) -> None:
    tag = naming.image_tag("broker", xedgesim.__version__, "arm64")
    for image_tag in (arm64_build.bases[0].tag, tag):
        attrs = docker_client.images.get(image_tag).attrs
        assert (attrs["Architecture"], attrs.get("Variant")) == ("arm64", "v8"), image_tag

    assert output_of(launch, tag, "uname", "-m") == "aarch64"
    assert re.fullmatch(r"\d+\.\d+\.\d+", output_of(launch, tag, "python3", "-c", IMPORTS))


def test_edge_host_runs_its_own_engine_and_loads_shipped_images(
    amd64_build: Any,
    docker_client: Any,
    edge_host: tuple[Any, Path],
    wait_healthy: Callable[[Any, float], float],
) -> None:
    device, shipping_dir = edge_host
    tag = naming.image_tag("broker", xedgesim.__version__, "amd64")
    broker = docker_client.images.get(tag)
    with (shipping_dir / "broker.tar").open("wb") as handle:
        for chunk in broker.save(named=tag):
            handle.write(chunk)
    print(f"edge-host start-to-healthy: {wait_healthy(device, 60):.2f}s")

    def inside(*command: str) -> str:
        code, output = device.exec_run(list(command))
        assert code == 0, output.decode(errors="replace")
        return output.decode().strip()

    assert inside("docker", "info", "--format", "{{.Driver}}") == "overlay2"
    inside("docker", "load", "--input", "/srv/shipped/broker.tar")
    assert inside("docker", "image", "inspect", "--format", "{{.Id}}", tag) == broker.id

    inside("docker", "run", "--detach", "--name", "broker", tag)
    deadline = time.monotonic() + 60
    status = ""
    while time.monotonic() < deadline and status != "healthy":
        time.sleep(0.5)
        status = inside("docker", "inspect", "--format", "{{.State.Health.Status}}", "broker")
    assert status == "healthy"
