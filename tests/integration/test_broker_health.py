"""The broker image's health check leaves no trace in the broker's log: a production broker that
nobody talks to logs no connection at all, however many health intervals pass."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

BROKER = "xedgesim/broker:latest"
HEALTHY_WITHIN = 30.0
INTERVALS = 6  # the image checks every second
CONNECTION_WORDS = ("New connection", "New client", "not authorised", "closed its connection",
                    "disconnected", "Client <unknown>")


def test_health_checks_do_not_log_connections(
    amd64_build: Any,
    launch: Callable[..., Any],
    wait_healthy: Callable[[Any, float], float],
    tmp_path: Path,
) -> None:
    make_passwd = launch(
        BROKER, "passwd",
        entrypoint=["mosquitto_passwd", "-c", "-b", "/out/passwd", "device", "s3cret"],
        volumes={str(tmp_path): {"bind": "/out", "mode": "rw"}},
    )
    assert make_passwd.wait(timeout=30)["StatusCode"] == 0
    container = launch(
        BROKER, "broker", environment={"XEDGESIM_BROKER_PROFILE": "production"},
        volumes={str(tmp_path / "passwd"): {"bind": "/etc/mosquitto/passwd", "mode": "ro"}},
    )
    wait_healthy(container, HEALTHY_WITHIN)
    time.sleep(INTERVALS)
    container.reload()
    health = container.attrs["State"]["Health"]
    assert health["Status"] == "healthy"
    assert len(health["Log"]) >= 3 and all(entry["ExitCode"] == 0 for entry in health["Log"])
    log = container.logs().decode(errors="replace")
    polluted = [line for line in log.splitlines()
                if any(word in line for word in CONNECTION_WORDS)]
    assert polluted == [], f"{len(polluted)} connection line(s) in the broker's log"
