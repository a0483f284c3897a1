"""The MQTT smoke test, from this machine: see xedgesim/deploy/smoke.py for the method."""

from __future__ import annotations

import pytest

from xedgesim.deploy.smoke import SmokeReport

pytestmark = pytest.mark.smoke


def test_broker_speaks_tls_with_the_fleets_certificate(smoke_report: SmokeReport) -> None:
    """A client trusting another CA fails the handshake; the fleet's CA works (every check
    below connects with it)."""
    check = smoke_report.tls
    if check.passed is None:
        pytest.skip(reason=check.detail)
    assert check.passed, check.detail


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
