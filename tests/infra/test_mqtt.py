"""The MQTT smoke test, from this machine: see xedgesim/deploy/smoke.py for the method."""

from __future__ import annotations

from typing import Any

import pytest

from xedgesim.deploy import device
from xedgesim.deploy.smoke import SmokeReport

pytestmark = pytest.mark.smoke


def test_broker_speaks_tls_with_the_fleets_certificate(smoke_report: SmokeReport) -> None:
    """A client trusting another CA fails the handshake; the fleet's CA works (every check
    below connects with it)."""
    check = smoke_report.tls
    if check.passed is None:
        pytest.skip(reason=check.detail)
    assert check.passed, check.detail


def test_plain_listener_stays_on_the_device(host_vars: dict[str, Any],
                                            broker: dict[str, Any]) -> None:
    """With TLS, plain 1883 is published on the device's loopback only (on-device clients);
    the network gets the TLS listener."""
    if not host_vars.get("mqtt_tls_cert"):
        pytest.skip(reason="INSECURE: no mqtt_tls_cert (deployed with --insecure-plaintext)")
    plain = device.published(broker, 1883)
    assert plain and all(address == "127.0.0.1" for address, _ in plain), \
        f"plain MQTT is published on {plain}"
    assert device.published(broker, 8883), "the TLS listener is not published"


def test_anonymous_client_is_refused(smoke_report: SmokeReport) -> None:
    check = smoke_report.anonymous_refused
    assert check.passed, check.detail


def test_reading_comes_out_as_an_aggregate(smoke_report: SmokeReport) -> None:
    check = smoke_report.aggregated
    assert check.passed, check.detail


def test_qos1_message_survives_broker_restart(smoke_report: SmokeReport) -> None:
    check = smoke_report.persisted
    if check.passed is None:
        pytest.skip(reason=check.detail or "not run (--no-restart-broker)")
    assert check.passed, check.detail
