"""The broker image as a running service: healthy, reachable on 127.0.0.1, and carrying MQTT
messages both ways; its production profile refuses anonymous clients."""

from __future__ import annotations

import queue
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration
mqtt = pytest.importorskip("paho.mqtt.client", reason="the broker tests need paho-mqtt >= 2")

BROKER = "xedgesim/broker:latest"
HEALTHY_WITHIN = 30.0


def start_broker(launch: Callable[..., Any], **options: Any) -> tuple[Any, int]:
    """Run the broker with 1883 published on a free 127.0.0.1 port the engine picks."""
    container = launch(BROKER, "broker", ports={"1883/tcp": ("127.0.0.1",)}, **options)
    container.reload()
    binding = container.attrs["NetworkSettings"]["Ports"]["1883/tcp"][0]
    assert binding["HostIp"] == "127.0.0.1"
    return container, int(binding["HostPort"])


def mqtt_client(port: int, username: str | None = None, password: str | None = None) -> Any:
    """A connected paho client with its network loop running; raises if the broker refuses."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex}")
    if username:
        client.username_pw_set(username, password)
    connected: queue.Queue[Any] = queue.Queue()
    client.on_connect = lambda _c, _u, _f, reason, _p: connected.put(reason)
    client.connect("127.0.0.1", port, keepalive=10)
    client.loop_start()
    reason = connected.get(timeout=10)
    if reason.is_failure:
        client.loop_stop()
        raise ConnectionRefusedError(str(reason))
    return client


def round_trip(port: int, count: int = 20, **credentials: str) -> list[bytes]:
    """Publish ``count`` QoS 1 messages through the broker and return what a subscriber got."""
    topic = f"xedgesim/test/{uuid.uuid4().hex}"
    received: queue.Queue[bytes] = queue.Queue()
    subscribed: queue.Queue[int] = queue.Queue()
    subscriber = mqtt_client(port, **credentials)
    publisher = mqtt_client(port, **credentials)
    try:
        subscriber.on_message = lambda _c, _u, message: received.put(message.payload)
        subscriber.on_subscribe = lambda _c, _u, mid, _r, _p: subscribed.put(mid)
        subscriber.subscribe(topic, qos=1)
        subscribed.get(timeout=10)
        for number in range(count):
            publisher.publish(topic, f"reading {number}".encode(), qos=1).wait_for_publish(10)
        return [received.get(timeout=10) for _ in range(count)]
    finally:
        for client in (subscriber, publisher):
            client.disconnect()
            client.loop_stop()


def test_broker_becomes_healthy_and_carries_messages(
    amd64_build: Any, launch: Callable[..., Any], wait_healthy: Callable[[Any, float], float]
) -> None:
    started = time.monotonic()
    container, port = start_broker(launch)
    wait_healthy(container, HEALTHY_WITHIN)
    print(f"broker start-to-healthy: {time.monotonic() - started:.2f}s")

    assert round_trip(port) == [f"reading {n}".encode() for n in range(20)]


def test_production_profile_needs_a_password_file(
    amd64_build: Any, launch: Callable[..., Any]
) -> None:
    container = launch(BROKER, "broker", environment={"XEDGESIM_BROKER_PROFILE": "production"})

    assert container.wait(timeout=30)["StatusCode"] == 2
    assert b"needs /etc/mosquitto/passwd" in container.logs()


def test_production_profile_refuses_anonymous_clients(
    amd64_build: Any,
    launch: Callable[..., Any],
    wait_healthy: Callable[[Any, float], float],
    tmp_path: Path,
) -> None:
    make_passwd = launch(
        BROKER,
        "passwd",
        entrypoint=["mosquitto_passwd", "-c", "-b", "/out/passwd", "device", "s3cret"],
        volumes={str(tmp_path): {"bind": "/out", "mode": "rw"}},
    )
    assert make_passwd.wait(timeout=30)["StatusCode"] == 0
    container, port = start_broker(
        launch,
        environment={"XEDGESIM_BROKER_PROFILE": "production"},
        volumes={str(tmp_path / "passwd"): {"bind": "/etc/mosquitto/passwd", "mode": "ro"}},
    )
    wait_healthy(container, HEALTHY_WITHIN)

    with pytest.raises(ConnectionRefusedError):
        mqtt_client(port)
    credentials = {"username": "device", "password": "s3cret"}
    assert round_trip(port, count=5, **credentials) == [f"reading {n}".encode() for n in range(5)]
