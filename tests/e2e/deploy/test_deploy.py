"""`xedge deploy` against a kept staging fleet: a deliberately broken gateway fails its health
gate on the canary, which is rolled back to the release it ran; the other hosts are not
touched; the command exits non-zero saying so; the broker keeps a QoS 1 message queued before
the deploy. A digest that never passed staging is refused before anything runs.

The fleet is the package's (``kept_fleet``), which test_chaos.py deploys to as well: what a
host runs before the deploy is read from the host, not assumed to be the staged release."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    assert_still_queued,
    current_release,
    derived_gateway,
    hosts_by_name,
    probe_target,
    queue_a_message,
)
from xedgesim.deploy import certificates, commands, device, smoke, snapshot, state

pytestmark = pytest.mark.e2e

BROKEN_TAG = "xedgesim/gateway:e2e-broken-amd64"


@pytest.fixture(scope="module")
def broken_gateway(kept_fleet: Path, docker_client: Any) -> Iterator[str]:
    """A gateway image derived from the staged one whose service exits at once."""
    staged = state.load(kept_fleet).release or {}
    yield from derived_gateway(
        docker_client, staged["amd64"]["gateway"]["id"], BROKEN_TAG,
        "LABEL org.xedgesim.test=e2e-broken\n"
        'CMD ["python3", "-c", "import sys; sys.exit(\'deliberately broken\')"]\n')


def test_broken_gateway_is_rolled_back_on_the_canary(kept_fleet: Path, broken_gateway: str,
                                                     run_xedge: Any, tmp_path: Path) -> None:
    inventory = kept_fleet / "inventory" / "hosts.yml"
    hosts = hosts_by_name(inventory)
    others = sorted(name for name in hosts if name != "edge-1")
    ran = {name: (current_release(host)["id"], device.the_service(host, "gateway")["Image"])
           for name, host in hosts.items()}
    previous_release, previous_gateway = ran["edge-1"]
    before = snapshot.take(list(hosts.values()))
    canary = probe_target(kept_fleet, inventory, hosts["edge-1"], "edge-1")
    queued = queue_a_message(canary, "xedgesim-e2e-away")

    result = run_xedge(commands.deploy, [
        "--inventory", str(inventory), "--image", f"gateway={BROKEN_TAG}", "--force",
        "--out", str(tmp_path / "deploy"), "--no-progress"])

    assert result.exit_code == 1
    assert "FORCED: deploying images" in result.output
    assert "health_gate" in result.output
    assert f"rolled back to release {previous_release}" in result.output
    assert f"left on their previous release: {', '.join(others)}" in result.output
    record = json.loads((tmp_path / "deploy" / "deploy.json").read_text())
    assert record["forced"]
    assert record["outcomes"] == {"edge-1": "rolled_back",
                                  **{name: "not_reached" for name in others}}
    assert record["outcome_details"]["edge-1"]["rolled_back_to"] == previous_release
    assert record["failure_budget"]["spent"] and record["failure_budget"]["allowed"] == 0

    # the canary runs its gateway of before again, healthy, and records its release of before
    gateway = device.the_service(hosts["edge-1"], "gateway")
    assert gateway["Image"] == previous_gateway
    assert current_release(hosts["edge-1"])["id"] == previous_release
    # the other hosts were not touched at all
    after = snapshot.take(list(hosts.values()))
    assert snapshot.restarted({name: before[name] for name in others},
                              {name: after[name] for name in others}) == []
    assert {name: (current_release(hosts[name])["id"],
                   device.the_service(hosts[name], "gateway")["Image"])
            for name in others} == {name: ran[name] for name in others}

    # the broker never lost the message queued before the deploy
    assert_still_queued(canary, "xedgesim-e2e-away", queued)


def test_a_digest_never_staged_is_refused(kept_fleet: Path, broken_gateway: str,
                                          run_xedge: Any, tmp_path: Path) -> None:
    out = tmp_path / "refused"
    result = run_xedge(commands.deploy, [
        "--inventory", str(kept_fleet / "inventory" / "hosts.yml"),
        "--image", f"gateway={BROKEN_TAG}", "--out", str(out)])
    assert result.exit_code == 2
    assert "refusing to deploy images that no passing `xedge stage` vouches for" in result.output
    assert f"amd64 gateway {broken_gateway}: never passed staging" in result.output
    assert not out.exists()  # refused before any run, archive or playbook


def test_the_staged_brokers_speak_tls_and_refuse_a_stranger_ca(kept_fleet: Path) -> None:
    """The real broker of a staged host, over its published TLS port: a client trusting the
    fleet's CA logs in; one trusting another CA fails the handshake; plain MQTT gets nowhere;
    the plain listener is published on the device's loopback only."""
    inventory = kept_fleet / "inventory" / "hosts.yml"
    host = hosts_by_name(inventory)["edge-1"]
    target = probe_target(kept_fleet, inventory, host, "edge-1")
    assert target.tls and target.ca == kept_fleet / "tls" / "ca.crt"

    trusted = smoke.MqttClient(target.address, "xedgesim-e2e-tls", target.username,
                               target.password, tls=target.tls_context())
    try:
        assert trusted.connect() == 0
    finally:
        trusted.close()
    stranger = ssl.create_default_context(cadata=certificates.stranger_ca_pem())
    refused = smoke.MqttClient(target.address, "xedgesim-e2e-stranger", target.username,
                               target.password, tls=stranger)
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            refused.connect()
    finally:
        refused.close()
    plain = smoke.MqttClient(target.address, "xedgesim-e2e-plain", target.username,
                             target.password)
    try:
        with pytest.raises((OSError, TimeoutError)):
            plain.connect(timeout=5)
    finally:
        plain.close()

    broker = device.the_service(host, "broker")
    assert device.published(broker, 1883) == [("127.0.0.1", 1883)]
    assert "0.0.0.0" in [address for address, _ in device.published(broker, 8883)]
