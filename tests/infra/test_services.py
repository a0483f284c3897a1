"""The broker and the gateway run the release's images, are kept running, and are healthy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from xedgesim.deploy import device

SERVICES = ("broker", "gateway")


@pytest.mark.parametrize("service", SERVICES)
def test_runs_the_release_image(host: Any, release: dict[str, Any], arch: str,
                                service: str) -> None:
    container = device.the_service(host, service)
    expected = release["images"][arch][service]["id"]
    assert container["State"]["Running"], f"{device.name(container)} is not running"
    assert container["Image"] == expected, (
        f"{device.name(container)} runs {container['Image']}, the release "
        f"{release['id']} has {expected} for {arch}")


@pytest.mark.parametrize("service", SERVICES)
def test_restart_policy_is_set(host: Any, service: str) -> None:
    container = device.the_service(host, service)
    policy = device.restart_policy(container)
    assert policy in device.RESTART_POLICIES, (
        f"{device.name(container)} has restart policy {policy!r}: it would stay down after a "
        "crash or a reboot")


def test_broker_is_healthy(broker: dict[str, Any]) -> None:
    assert device.health(broker) == "healthy", f"broker health: {device.health(broker)}"


def test_gateway_is_healthy(gateway: dict[str, Any]) -> None:
    assert device.health(gateway) == "healthy", f"gateway health: {device.health(gateway)}"


def test_broker_port_is_listening(host: Any, broker: dict[str, Any]) -> None:
    bindings = device.published(broker, 1883)
    assert bindings, "the broker's port 1883 is not published on the device"
    for address, port in bindings:
        assert host.socket(f"tcp://{address}:{port}").is_listening, \
            f"nothing listens on {address}:{port}"


def test_device_records_the_release(host: Any, host_vars: dict[str, Any],
                                    release: dict[str, Any], arch: str) -> None:
    """The device's own record (what a rollback goes back from) names this release."""
    state_dir = host_vars["xedgesim_state_dir"]
    record = host.file(f"{state_dir}/release/current.json")
    assert record.exists, f"no release record at {record.path}"
    current = json.loads(record.content_string)
    assert current.get("id") == release["id"], \
        f"the device records release {current.get('id')}, expected {release['id']}"
    expected = {name: entry["id"] for name, entry in release["images"][arch].items()}
    assert current.get("images") == expected
