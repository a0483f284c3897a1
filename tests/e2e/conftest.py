"""End-to-end tests of staging and deploying: real SSH, real Ansible, real engines.

They need a Docker engine (the simulated Pis run their own inside it), ``ansible-playbook``,
an ``ssh`` client and the project's amd64 images (built here when missing: minutes the first
time, seconds after). Without them the tests skip and say why, except under CI (``CI=true``),
where a missing piece means the host was not prepared, so they fail.

Every fleet a test creates is destroyed in a finalizer, pass or fail, and every release
manifest goes to a store of the test's own, never to ``runs/releases``.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.ci import missing
from xedgesim.cli import main
from xedgesim.deploy import device, secrets, smoke, snapshot, state
from xedgesim.deploy.fleet_view import open_fleet
from xedgesim.deploy.inventory import inventory_dir, mqtt_endpoint
from xedgesim.deploy.runner import executable_path


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: real SSH, Ansible and engines (slow)")


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    from xedgesim.images.engine import connect
    from xedgesim.images.errors import EngineUnavailable

    for tool in ("ansible-playbook", "ansible-inventory", "ssh"):
        if shutil.which(tool, path=executable_path()) is None:  # as xedge looks for them
            missing(f"{tool} is not installed (pip install ansible; apt-get install "
                    "openssh-client)")
    try:
        client = connect()
    except EngineUnavailable as error:
        missing(f"no Docker engine: {error}")
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def images(docker_client: Any) -> Any:
    """broker, gateway and edge-host for amd64 (seconds when already built)."""
    from xedgesim.images.build import build_images

    return build_images(("amd64",), connect=lambda: docker_client, progress=lambda text: None)


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tests' own manifest store."""
    return tmp_path_factory.mktemp("releases")


def xedge(command: Any, args: list[str], store: Path) -> Result:
    """Run one of the deploy commands in-process, with the tests' manifest store, through
    ``xedge`` itself: its group is where an error becomes a message and an exit code."""
    result = CliRunner().invoke(main, [command.name, *args],
                                env={"XEDGESIM_RELEASES": str(store)}, catch_exceptions=False)
    print(result.output)  # shown by pytest when the test fails
    return result


@pytest.fixture
def run_xedge(store: Path) -> Any:
    """``run_xedge(command, args)``: a deploy command run in-process with the tests' store."""
    return lambda command, args: xedge(command, args, store)


def derived_gateway(docker_client: Any, base: str, tag: str, lines: str) -> Iterator[str]:
    """Build ``FROM base`` plus the Dockerfile ``lines`` as ``tag``; yields the image id and
    removes the image afterwards (a generator for a fixture to delegate to)."""
    import docker

    try:  # never let the engine look for a missing base in a registry (FROM <absent id> does)
        docker_client.images.get(base)
    except docker.errors.ImageNotFound:
        pytest.fail(f"the staged gateway image {base} is no longer on this engine (rebuilt "
                    "and pruned by another run?): nothing to derive the test image from")
    dockerfile = f"FROM {base}\nLABEL org.xedgesim.managed=true\n{lines}"
    image, _ = docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag,
                                          pull=False, rm=True, forcerm=True)
    try:
        yield image.id
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):  # another run removed it
            docker_client.images.remove(image.id, force=True)


def hosts_by_name(inventory: Path) -> dict[str, Any]:
    """testinfra hosts of the inventory, by inventory name (over the inventory's SSH)."""
    return {host.backend.get_hostname(): host
            for host in snapshot.hosts_of(open_fleet(inventory))}


def probe_target(run_dir: Path, inventory: Path, host: Any, name: str) -> smoke.SmokeTarget:
    """The host's broker as the smoke test reaches it, logged in as the probe user."""
    endpoint = mqtt_endpoint(name, host.ansible.get_variables(), inventory_dir(inventory))
    probe = secrets.find(secrets.load_users(Path(state.load(run_dir).secrets or "")))
    gateway_env = device.environment(device.the_service(host, "gateway"))
    return smoke.SmokeTarget(name, (endpoint.host, endpoint.port),
                             probe.name, probe.password, "site/xedgesim-probe/temp",
                             gateway_env["XEDGESIM_PUBLISH_TOPIC"], window_s=10.0,
                             tls=endpoint.tls, ca=endpoint.ca)


def queue_a_message(target: smoke.SmokeTarget, client_id: str,
                    origin: int = 12_345_678) -> Callable[[str, bytes], bool]:
    """Leave a persistent QoS 1 session with one aggregate queued in it (proved by a live
    subscriber that saw the same aggregate); returns the matcher of that message."""
    away = smoke.MqttClient(target.address, client_id, target.username, target.password,
                            clean_session=False, tls=target.tls_context())
    assert away.connect() == 0 and away.subscribe(target.upstream_topic)
    away.close()
    live = smoke.MqttClient(target.address, client_id + "-live", target.username,
                            target.password, tls=target.tls_context())
    assert live.connect() == 0 and live.subscribe(target.upstream_topic)
    match = smoke.origin_matcher(origin)
    live.publish(target.probe_topic, smoke.reading(origin))
    _, found = live.wait_for(match, target.window_s + 10)
    live.close()
    assert found, "the gateway did not aggregate the reading before the deploy"
    return match


def assert_still_queued(target: smoke.SmokeTarget, client_id: str,
                        match: Callable[[str, bytes], bool], timeout_s: float = 15) -> None:
    """The session ``queue_a_message`` left still holds its message: resume it, receive it,
    then have the broker forget the session."""
    resumed = smoke.MqttClient(target.address, client_id, target.username, target.password,
                               clean_session=False, tls=target.tls_context())
    assert resumed.connect() == 0
    _, found = resumed.wait_for(match, timeout_s)
    resumed.close()
    assert found, "the QoS 1 message queued before the deploy was lost"
    smoke.discard_session(target, client_id)


def current_release(host: Any) -> dict[str, Any]:
    """The device's release record (``current.json``), read over the inventory's SSH."""
    return dict(json.loads(host.file("/var/lib/xedgesim/release/current.json").content_string))
