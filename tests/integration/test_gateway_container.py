"""The gateway image as a real MQTT service next to the broker image, on their own network.

Readings published from the host come out as one aggregate per window on the upstream topic;
the gateway rides out a broker restart (readings published while it is away are counted); it
stops cleanly on SIGTERM; the image is healthy in its other mode, the protocol server; and the
arm64 image does the same under qemu.
"""

from __future__ import annotations

import contextlib
import math
import queue
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import xedgesim
from xedgesim.engine import read_in_container
from xedgesim.images import naming
from xedgesim.services import payload

pytestmark = pytest.mark.integration
mqtt = pytest.importorskip("paho.mqtt.client", reason="the gateway tests need paho-mqtt >= 2")

BROKER = "xedgesim/broker:latest"
GATEWAY = "xedgesim/gateway:latest"
WINDOW_S = 2.0
HEALTHY_WITHIN = 60.0
# the labels of tests/integration/conftest.py, so leftovers are found by the same filter
TEST_LABELS = {naming.LABEL_MANAGED: "true", "org.xedgesim.test": "integration"}
SECRET = "gw-s3cret-7f3a"


@pytest.fixture
def network(docker_client: Any, containers: list[Any]) -> Iterator[Any]:
    """A user-defined bridge network (containers resolve each other by name); at the end the
    test's containers are removed first, then the network."""
    import docker

    created = docker_client.networks.create(
        f"xedgesim-test-net-{uuid.uuid4().hex[:8]}", driver="bridge", labels=TEST_LABELS
    )
    try:
        yield created
    finally:
        while containers:
            with contextlib.suppress(docker.errors.NotFound):
                containers.pop().remove(force=True, v=True)
        created.remove()


def host_port(container: Any) -> int:
    """The 127.0.0.1 port published for 1883 (the engine may pick a new one on restart)."""
    container.reload()
    binding = container.attrs["NetworkSettings"]["Ports"]["1883/tcp"][0]
    assert binding["HostIp"] == "127.0.0.1"
    return int(binding["HostPort"])


def start_broker(launch: Callable[..., Any], network: Any, **options: Any) -> Any:
    return launch(BROKER, "broker", network=network.name, ports={"1883/tcp": ("127.0.0.1",)},
                  **options)


def start_gateway(launch: Callable[..., Any], network: Any, broker: Any, topic: str,
                  volumes: dict[str, dict[str, str]] | None = None, **environment: str) -> Any:
    """The gateway image's default command, configured by the environment as Ansible will."""
    settings = {
        "XEDGESIM_BROKER": f"{broker.name}:1883",
        "XEDGESIM_SUBSCRIBE": "site/+/temp,site/+/humidity",
        "XEDGESIM_PUBLISH_TOPIC": topic,
        "XEDGESIM_WINDOW": f"{WINDOW_S:g}s",
        "XEDGESIM_QOS": "1",
        **environment,
    }
    return launch(GATEWAY, "gateway", network=network.name, environment=settings,
                  volumes=volumes or {})


def client(port: int, client_id: str | None = None, clean: bool = True,
           **credentials: str) -> Any:
    """A connected paho 2 client with its loop running."""
    made = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                       client_id=client_id or f"test-{uuid.uuid4().hex}", clean_session=clean,
                       protocol=mqtt.MQTTv311)
    if credentials:
        made.username_pw_set(credentials["username"], credentials["password"])
    connected: queue.Queue[Any] = queue.Queue()
    made.on_connect = lambda _c, _u, _f, reason, _p: connected.put(reason)
    made.connect("127.0.0.1", port, keepalive=10)
    made.loop_start()
    reason = connected.get(timeout=10)
    assert not reason.is_failure, reason
    return made


class Upstream:
    """A subscriber to the gateway's upstream topic, collecting decoded aggregates."""

    def __init__(self, port: int, topic: str, client_id: str | None = None,
                 **credentials: str) -> None:
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        subscribed: queue.Queue[int] = queue.Queue()
        self.client = client(port, client_id, clean=client_id is None, **credentials)
        self.client.on_message = lambda _c, _u, m: self.received.put(payload.decode(m.payload))
        self.client.on_subscribe = lambda _c, _u, mid, _r, _p: subscribed.put(mid)
        self.client.subscribe(topic, qos=1)
        subscribed.get(timeout=10)

    def aggregates_of(self, readings: int, deadline: float) -> list[dict[str, Any]]:
        """Aggregates until they account for ``readings``; fails at the monotonic deadline."""
        got: list[dict[str, Any]] = []
        while sum(a["n"] for a in got) < readings:
            try:
                got.append(self.received.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                pytest.fail(f"by the deadline only {got} of {readings} readings came upstream")
        assert sum(a["n"] for a in got) == readings, got
        return got

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publish(port: int, readings: list[tuple[float, int]], **credentials: str) -> float:
    """Publish QoS 1 readings (value, origin_ns), each acknowledged by the broker; return the
    monotonic time the last was acknowledged."""
    publisher = client(port, **credentials)
    try:
        for number, (value, origin) in enumerate(readings):
            data = payload.encode_reading(id=number, value=value, origin_ns=origin)
            kind = "temp" if number % 2 else "humidity"
            publisher.publish(f"site/{number}/{kind}", data, qos=1).wait_for_publish(10)
        return time.monotonic()
    finally:
        publisher.disconnect()
        publisher.loop_stop()


def combined(aggregates: list[dict[str, Any]]) -> tuple[int, float, float, float, int]:
    """(count, mean, min, max, oldest origin) of aggregates: readings split across windows
    when a window boundary fell inside the burst."""
    count = sum(a["n"] for a in aggregates)
    mean = math.fsum(a["value"] * a["n"] for a in aggregates) / count
    return (count, mean, min(a["vmin"] for a in aggregates),
            max(a["vmax"] for a in aggregates), min(a["origin_ns"] for a in aggregates))


def logs(container: Any) -> str:
    return container.logs().decode(errors="replace")


def wait_for_log(container: Any, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in logs(container):
        if time.monotonic() > deadline:
            pytest.fail(f"{container.name} did not log {text!r}:\n{logs(container)[-2000:]}")
        time.sleep(0.2)


def test_readings_come_out_as_one_aggregate_per_window(
    amd64_build: Any, launch: Callable[..., Any], network: Any,
    wait_healthy: Callable[[Any, float], float],
) -> None:
    topic = f"agg/{uuid.uuid4().hex[:8]}"
    broker = start_broker(launch, network)
    wait_healthy(broker, HEALTHY_WITHIN)
    started = time.monotonic()
    gateway = start_gateway(launch, network, broker, topic)
    wait_healthy(gateway, HEALTHY_WITHIN)
    print(f"gateway start-to-healthy: {time.monotonic() - started:.2f}s")
    port = host_port(broker)
    upstream = Upstream(port, topic)
    readings = [(20.0 + 0.375 * n, 1_700_000_000_000_000_000 + 1000 * n) for n in range(12)]
    readings[5] = (-3.5, 1_600_000_000_000_000_000)  # the minimum and the oldest origin
    try:
        last = publish(port, readings)
        aggregates = upstream.aggregates_of(len(readings), last + 2 * WINDOW_S)
        print(f"upstream after the last reading: {time.monotonic() - last:.2f}s")
    finally:
        upstream.close()

    values = [value for value, _ in readings]
    count, mean, low, high, origin = combined(aggregates)
    assert (count, low, high, origin) == (12, -3.5, 24.125, 1_600_000_000_000_000_000)
    assert mean == pytest.approx(math.fsum(values) / 12, rel=1e-15)
    if len(aggregates) == 1:  # one window: the very bits of GatewayLogic's fsum / count
        assert aggregates[0]["value"] == math.fsum(values) / 12
    window_line = re.compile(r"window \d+: \d+ readings, mean .* -> ")
    deadline = time.monotonic() + 5  # the window's log line follows its publish
    while not window_line.search(logs(gateway)) and time.monotonic() < deadline:
        time.sleep(0.1)
    text = logs(gateway)
    assert "subscribed to site/+/temp, site/+/humidity" in text
    assert window_line.search(text), text
    assert f"-> {topic}" in text

    stopping = time.monotonic()
    gateway.stop(timeout=10)
    gateway.reload()
    assert gateway.attrs["State"]["ExitCode"] == 0
    assert time.monotonic() - stopping < 5  # SIGTERM is handled, not waited out to SIGKILL
    assert "stopping: 0 message(s) of the unfinished window dropped" in logs(gateway)


def make_passwd(launch: Callable[..., Any], directory: Path, username: str, password: str) -> Path:
    """A mosquitto_passwd file made by the broker image's own tool."""
    maker = launch(BROKER, "passwd", entrypoint=["mosquitto_passwd", "-c", "-b", "/out/passwd",
                                                 username, password],
                   volumes={str(directory): {"bind": "/out", "mode": "rw"}})
    assert maker.wait(timeout=30)["StatusCode"] == 0
    return directory / "passwd"


def test_a_broker_restart_loses_no_queued_reading(
    amd64_build: Any, launch: Callable[..., Any], network: Any,
    wait_healthy: Callable[[Any, float], float], tmp_path: Path,
) -> None:
    """The production profile persists sessions, so the gateway's subscription and the QoS 1
    readings for it survive the restart; the gateway is frozen while they are published, so
    they certainly arrive through its resumed session, not live."""
    topic = f"agg/{uuid.uuid4().hex[:8]}"
    credentials = {"username": "device", "password": SECRET}
    passwd = make_passwd(launch, tmp_path, **credentials)
    secret = tmp_path / "gateway-password"
    secret.write_text(SECRET + "\n")
    broker = start_broker(
        launch, network, environment={"XEDGESIM_BROKER_PROFILE": "production"},
        volumes={str(passwd): {"bind": "/etc/mosquitto/passwd", "mode": "ro"}},
    )
    wait_healthy(broker, HEALTHY_WITHIN)
    gateway = start_gateway(
        launch, network, broker, topic,
        volumes={str(secret): {"bind": "/run/secrets/mqtt", "mode": "ro"}},
        XEDGESIM_USERNAME="device", XEDGESIM_PASSWORD_FILE="/run/secrets/mqtt",
        XEDGESIM_CLIENT_ID=f"gw-{topic[4:]}",
    )
    wait_healthy(gateway, HEALTHY_WITHIN)
    upstream_id = f"upstream-{topic[4:]}"
    port = host_port(broker)
    upstream = Upstream(port, topic, upstream_id, **credentials)
    try:
        last = publish(port, [(1.0, 100), (2.0, 200), (3.0, 300)], **credentials)
        before = upstream.aggregates_of(3, last + 2 * WINDOW_S)
    finally:
        upstream.close()
    assert combined(before) == (3, 2.0, 1.0, 3.0, 100)

    broker.stop(timeout=10)
    wait_for_log(gateway, "connection lost", 10)
    gateway.pause()
    try:
        broker.start()
        wait_healthy(broker, HEALTHY_WITHIN)
        port = host_port(broker)
        upstream = Upstream(port, topic, upstream_id, **credentials)
        publish(port, [(10.0, 1000), (30.0, 900), (-4.0, 1100), (12.0, 1200)], **credentials)
    finally:
        gateway.unpause()
    resumed = time.monotonic()
    try:
        # the reconnection waits out a backoff of at most 5 s, then up to two windows
        after = upstream.aggregates_of(4, resumed + 5 + 2 * WINDOW_S + 2)
        print(f"upstream after the gateway resumed: {time.monotonic() - resumed:.2f}s")
    finally:
        upstream.close()

    assert combined(after) == (4, 12.0, -4.0, 30.0, 900)
    wait_healthy(gateway, HEALTHY_WITHIN)
    text = logs(gateway)
    assert "as 'device' (password from /run/secrets/mqtt)" in text
    assert "(resumed session)" in text
    assert SECRET not in text


def test_the_protocol_server_mode_is_healthy_without_a_heartbeat(
    amd64_build: Any, launch: Callable[..., Any], wait_healthy: Callable[[Any, float], float],
) -> None:
    server = launch(GATEWAY, "protocol",
                    command=["python3", "-m", "xedgesim.services.protocol", "--listen",
                             "0.0.0.0:7100"])

    wait_healthy(server, HEALTHY_WITHIN)

    assert server.exec_run(["test", "-e", "/tmp/xedgesim-gateway.alive"]).exit_code == 1


def test_without_a_broker_the_service_is_unhealthy_and_says_why(
    amd64_build: Any, launch: Callable[..., Any], network: Any,
) -> None:
    gateway = launch(GATEWAY, "gateway", network=network.name,
                     environment={"XEDGESIM_BROKER": "no-such-broker:1883",
                                  "XEDGESIM_SUBSCRIBE": "site/+/temp"})

    wait_for_log(gateway, "cannot resolve the broker's name", 30)
    result = gateway.exec_run(["/usr/local/bin/xedgesim-gateway-health"])
    assert result.exit_code == 1
    assert b"no heartbeat" in result.output


@pytest.fixture
def arm64_gateway(arm64_build: Any, docker_client: Any) -> str:
    """The gateway image for arm64 (on the arm64 base the session already built)."""
    from xedgesim.images.build import build_images

    build_images(("arm64",), ("gateway",), connect=lambda: docker_client)
    return naming.image_tag("gateway", xedgesim.__version__, "arm64")


def test_the_arm64_image_serves_under_qemu(
    amd64_build: Any, arm64_gateway: str, launch: Callable[..., Any], network: Any,
    wait_healthy: Callable[[Any, float], float],
) -> None:
    """What a Raspberry Pi runs: the same service, on Debian's arm64 python3 and paho."""
    topic = f"agg/{uuid.uuid4().hex[:8]}"
    broker = start_broker(launch, network)
    wait_healthy(broker, HEALTHY_WITHIN)
    gateway = launch(
        arm64_gateway, "gateway-arm64", network=network.name, platform="linux/arm64",
        environment={"XEDGESIM_BROKER": f"{broker.name}:1883",
                     "XEDGESIM_SUBSCRIBE": "site/+/temp,site/+/humidity",
                     "XEDGESIM_PUBLISH_TOPIC": topic, "XEDGESIM_WINDOW": f"{WINDOW_S:g}s"},
    )
    print(f"arm64 gateway start-to-healthy: {wait_healthy(gateway, HEALTHY_WITHIN):.2f}s")
    assert read_in_container(gateway, ["uname", "-m"]) == (0, "aarch64\n")
    port = host_port(broker)
    upstream = Upstream(port, topic)
    try:
        last = publish(port, [(7.25, 10), (8.75, 20)])
        aggregates = upstream.aggregates_of(2, last + 2 * WINDOW_S + 1)
    finally:
        upstream.close()

    assert combined(aggregates) == (2, 8.0, 7.25, 8.75, 10)
