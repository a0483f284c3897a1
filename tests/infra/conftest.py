"""Fixtures of the verification suite: a deployed fleet, checked through its Ansible inventory.

Run it through ``xedge verify --inventory X`` (which also passes the release to expect), or
by hand::

    XEDGESIM_RELEASE_FILE=runs/…/verify/release.json \\
    XEDGESIM_SECRETS_FILE=runs/…/secrets/mqtt-users.yml \\
    pytest tests/infra --hosts=ansible://edge --ansible-inventory=inventories/pis/hosts.yml

The suite opens the fleet as the commands do (``xedgesim.deploy.fleet_view.from_env``): a
host's variables are the roles' defaults under the inventory and its overlays
(``XEDGESIM_INVENTORY_OVERLAYS``, by default ``inventories/production.yml``), so a value set
only in an overlay is the value checked. Everything else is read from the devices (container
labels, ``docker inspect``); a secret is read from the secrets file (or the inventory's vault)
and only used to log in. Without a release file the image-id checks skip and say why.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from xedgesim.deploy import device, fleet_view, smoke, verification
from xedgesim.deploy import secrets as secret_files
from xedgesim.deploy.inventory import inventory_dir, mqtt_endpoint
from xedgesim.units import UnitError, parse_duration

HEALTH_WAIT_S = 60.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "smoke: MQTT smoke test from this machine")


@pytest.fixture(scope="session")
def fleet(request: pytest.FixtureRequest) -> fleet_view.FleetView:
    """The fleet under test, opened as ``xedge verify`` opened it."""
    inventory = request.config.option.ansible_inventory
    if not inventory:
        pytest.fail("the suite needs --ansible-inventory=INVENTORY")
    return fleet_view.from_env(Path(inventory))


@pytest.fixture(scope="session")
def release(fleet: fleet_view.FleetView) -> dict[str, Any]:
    """The release the fleet must run: {id, images: {arch: {name: {tag, id}}}}."""
    if fleet.release_file is None:
        pytest.skip(reason=f"no release to compare with (set {fleet_view.ENV_RELEASE})")
    return json.loads(fleet.release_file.read_text())


def variables_of(fleet: fleet_view.FleetView, host: Any) -> device.Variables:
    """A host's variables as the fleet resolves them (shown by name only: the vault's
    passwords are there)."""
    return device.Variables(fleet.host(host.backend.get_hostname()).vars)


@pytest.fixture(scope="module")
def host_vars(fleet: fleet_view.FleetView, host: Any) -> dict[str, Any]:
    return variables_of(fleet, host)


@pytest.fixture(scope="module")
def arch(host_vars: dict[str, Any]) -> str:
    found = str(host_vars.get("xedgesim_arch", ""))
    assert found in ("amd64", "arm64"), f"xedgesim_arch is {found or 'missing'}"
    return found


def wait_settled(host: Any, service: str, timeout: float = HEALTH_WAIT_S) -> dict[str, Any]:
    """The service's container once its health check is past ``starting`` (a fresh deploy
    may still be in its start period)."""
    deadline = time.monotonic() + timeout
    while True:
        container = device.the_service(host, service)
        if device.health(container) != "starting" or time.monotonic() > deadline:
            return container
        time.sleep(1.0)


@pytest.fixture(scope="module")
def broker(host: Any) -> dict[str, Any]:
    return wait_settled(host, "broker")


@pytest.fixture(scope="module")
def gateway(host: Any) -> dict[str, Any]:
    return wait_settled(host, "gateway")


@pytest.fixture(scope="session")
def mqtt_users(fleet: fleet_view.FleetView) -> list[secret_files.MqttUser] | None:
    """The MQTT users from the secrets file, if the fleet has one."""
    return secret_files.load_users(fleet.secrets) if fleet.secrets else None


def users_for(host_vars: dict[str, Any],
              from_file: list[secret_files.MqttUser] | None) -> list[secret_files.MqttUser]:
    if from_file is not None:
        return from_file
    return secret_files.users_from(host_vars.get(secret_files.VARIABLE),
                                   where="the inventory's variables")


def smoke_target(host: Any, host_vars: dict[str, Any], users: list[secret_files.MqttUser],
                 inventory: Path) -> smoke.SmokeTarget:
    """Where and as whom the smoke test talks to one host; topics from the gateway's own
    configuration (its container environment), so they are what the device really runs."""
    name = host.backend.get_hostname()
    endpoint = mqtt_endpoint(name, host_vars, inventory_dir(inventory))
    gateway = device.the_service(host, "gateway")
    env = device.environment(gateway)
    upstream = env.get("XEDGESIM_PUBLISH_TOPIC")
    if not upstream:
        raise smoke.SmokeFailure(f"{name}: the gateway publishes nowhere "
                                 "(no XEDGESIM_PUBLISH_TOPIC)")
    try:
        window_s = parse_duration(env.get("XEDGESIM_WINDOW") or "10s") / 1e9
    except UnitError:
        window_s = 10.0
    user = secret_files.find(users, str(host_vars["xedgesim_mqtt_probe_user"]))
    return smoke.SmokeTarget(
        host=name, address=(endpoint.host, endpoint.port), username=user.name,
        password=user.password, tls=endpoint.tls, ca=endpoint.ca,
        probe_topic=str(host_vars["xedgesim_probe_topic"]),
        upstream_topic=upstream, window_s=window_s,
    )


@pytest.fixture(scope="session")
def smoke_reports(request: pytest.FixtureRequest, fleet: fleet_view.FleetView,
                  mqtt_users: list[secret_files.MqttUser] | None) -> Iterator[dict[str, Any]]:
    """The smoke test of every host, run side by side (each costs an aggregation window);
    the per-host tests read their host's report. Also written to $XEDGESIM_SMOKE_REPORT."""
    import testinfra

    option = request.config.option
    hosts = testinfra.get_hosts((option.hosts or "ansible://edge").split(","),
                                ansible_inventory=option.ansible_inventory)
    restart = os.environ.get(verification.ENV_RESTART, "1") != "0"

    def one(host: Any) -> tuple[str, Any]:
        name = host.backend.get_hostname()
        try:
            variables = variables_of(fleet, host)
            target = smoke_target(host, variables, users_for(variables, mqtt_users),
                                  fleet.inventory)
        except (smoke.SmokeFailure, AssertionError, Exception) as error:
            return name, str(error)
        return name, smoke.run(target, (lambda: device.restart(host, "broker"))
                               if restart else None)

    with ThreadPoolExecutor(max_workers=max(1, min(len(hosts), 8))) as pool:
        reports = dict(pool.map(one, hosts))
    path = os.environ.get(verification.ENV_SMOKE_REPORT)
    if path:
        Path(path).write_text(json.dumps(
            [r.as_dict() if isinstance(r, smoke.SmokeReport) else {"host": h, "error": r}
             for h, r in sorted(reports.items())], indent=2) + "\n")
    yield reports


@pytest.fixture
def smoke_report(host: Any, smoke_reports: dict[str, Any]) -> smoke.SmokeReport:
    report = smoke_reports.get(host.backend.get_hostname())
    if not isinstance(report, smoke.SmokeReport):
        pytest.fail(f"the smoke test could not start: {report}")
    return report
