"""The gateway as an MQTT service (xedgesim/services/gateway.py), driven through a fake paho
client and a fake clock: configuration, windows, heartbeat, reconnection and shutdown."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from paho.mqtt.client import MQTT_ERR_CONN_LOST, ConnectFlags
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from tests.processes import default_sigint
from xedgesim.models.gateway import GatewayLogic
from xedgesim.services import gateway, payload
from xedgesim.services.gateway import ConfigError, GatewayConfig, GatewayService

ROOT = Path(__file__).resolve().parents[3]


class Clock:
    """Monotonic seconds that move only when the service waits (sleep, or paho's select)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeClient:
    """The part of paho's Client the service uses. ``events`` run inside the next ``loop()``,
    as paho runs callbacks; ``style`` picks paho 1.x or 2.x callback arguments."""

    def __init__(self, clock: Clock, style: str = "v2") -> None:
        self.clock = clock
        self.style = style
        self.credentials: tuple[str, str | None] | None = None
        self.address: tuple[str, int, int] | None = None
        self.refusals: deque[OSError] = deque()  # raised by the next reconnect() calls
        self.events: deque[Callable[[], Any]] = deque()
        self.reconnects = 0
        self.subscriptions: list[list[tuple[str, int]]] = []
        self.published: list[tuple[str, bytes, int]] = []
        self.disconnected = False
        self.on_connect: Any = None
        self.on_subscribe: Any = None
        self.on_message: Any = None

    def username_pw_set(self, username: str, password: str | None) -> None:
        self.credentials = (username, password)

    def connect_async(self, host: str, port: int, keepalive: int) -> None:
        self.address = (host, port, keepalive)

    def reconnect(self) -> int:
        if self.refusals:
            raise self.refusals.popleft()
        self.reconnects += 1
        return 0

    def loop(self, timeout: float) -> int:
        self.clock.now += timeout if not self.events else 0.01
        while self.events:
            result = self.events.popleft()()
            if result:  # a connection loss ends this loop() call, as in paho
                return result
        return 0

    def subscribe(self, filters: list[tuple[str, int]]) -> tuple[int, int]:
        self.subscriptions.append(filters)
        return 0, len(self.subscriptions)

    def publish(self, topic: str, data: bytes, qos: int) -> None:
        self.published.append((topic, data, qos))

    def disconnect(self) -> None:
        self.disconnected = True

    # what the broker does, queued for the next loop()

    def accept(self, session_present: bool = False, grant: int = 1) -> None:
        def connack() -> None:
            if self.style == "v2":
                flags = ConnectFlags(session_present=session_present)
                self.on_connect(self, None, flags, ReasonCode(PacketTypes.CONNACK, "Success"),
                                None)
            else:
                self.on_connect(self, None, {"session present": int(session_present)}, 0)

        def suback() -> None:
            mid = len(self.subscriptions)
            count = len(self.subscriptions[-1])
            if self.style == "v2":
                codes = [ReasonCode(PacketTypes.SUBACK, identifier=grant)] * count
                self.on_subscribe(self, None, mid, codes, None)
            else:
                self.on_subscribe(self, None, mid, (grant,) * count)

        self.events.extend([connack, suback])

    def refuse(self) -> None:
        reason = ReasonCode(PacketTypes.CONNACK, "Not authorized") if self.style == "v2" else 5
        flags = ConnectFlags(False) if self.style == "v2" else {"session present": 0}
        self.events.append(lambda: self.on_connect(self, None, flags, reason, None)
                           if self.style == "v2" else self.on_connect(self, None, flags, reason))
        self.events.append(lambda: 5)  # paho's loop() then reports the refusal

    def deliver(self, topic: str, data: bytes) -> None:
        message = SimpleNamespace(topic=topic, payload=data, qos=1, retain=False)
        self.events.append(lambda: self.on_message(self, None, message))

    def lose_connection(self) -> None:
        self.events.append(lambda: MQTT_ERR_CONN_LOST)


def config(tmp_path: Path, **changes: Any) -> GatewayConfig:
    values: dict[str, Any] = {
        "host": "broker", "port": 1883, "subscribe": ("site/+/temp",), "publish_topic": "agg/gw1",
        "window_ns": 10 * 10**9, "client_id": "gw1", "heartbeat": tmp_path / "alive",
    }  # fmt: skip
    values.update(changes)
    return GatewayConfig(**values)


def service_for(tmp_path: Path, style: str = "v2", **changes: Any) -> tuple[Any, Any, Clock]:
    clock = Clock()
    client = FakeClient(clock, style)
    service = GatewayService(config(tmp_path, **changes), client, password="s3cret", clock=clock,
                             wall=lambda: 1_700_000_000.5, sleep=clock.sleep)
    return service, client, clock


def run_until(service: GatewayService, clock: Clock, until: float) -> None:
    while clock.now < until:
        service.step()


def reading(identity: int, value: float, origin: int) -> bytes:
    return payload.encode_reading(id=identity, value=value, origin_ns=origin)


# -- configuration -------------------------------------------------------------------------


def test_options_configure_everything(tmp_path: Path) -> None:
    parsed = gateway.parse_config(
        ["--broker", "broker:1884", "--subscribe", "site/+/temp", "--subscribe", "site/+/hum",
         "--qos", "0", "--publish-topic", "agg/gw1", "--window", "500ms", "--username", "dev",
         "--password-file", "/run/secrets/pw", "--client-id", "gw1",
         "--heartbeat", str(tmp_path / "hb")],
        {},
    )  # fmt: skip

    assert parsed == GatewayConfig(
        host="broker", port=1884, subscribe=("site/+/temp", "site/+/hum"),
        publish_topic="agg/gw1", window_ns=500_000_000, qos=0, username="dev",
        password_file=Path("/run/secrets/pw"), client_id="gw1", heartbeat=tmp_path / "hb",
    )  # fmt: skip


def test_the_environment_configures_what_options_leave_out() -> None:
    environ = {
        "XEDGESIM_BROKER": "mqtt.local", "XEDGESIM_SUBSCRIBE": "a/+, b/#,,a/+",
        "XEDGESIM_PUBLISH_TOPIC": "agg/site 1", "XEDGESIM_WINDOW": "2s", "XEDGESIM_QOS": "2",
        "XEDGESIM_USERNAME": "dev", "XEDGESIM_PASSWORD_FILE": "/pw",
    }  # fmt: skip

    parsed = gateway.parse_config(["--window", "5s"], environ)

    assert (parsed.host, parsed.port, parsed.subscribe) == ("mqtt.local", 1883, ("a/+", "b/#"))
    assert parsed.window_ns == 5 * 10**9  # the option wins over XEDGESIM_WINDOW
    assert (parsed.qos, parsed.username, parsed.password_file) == (2, "dev", Path("/pw"))
    # no client id given: a fixed one derived from the publish topic
    assert parsed.client_id == "xedgesim-gw-agg-site-1"
    assert parsed.heartbeat == Path(gateway.DEFAULT_HEARTBEAT)


def test_defaults_need_only_broker_and_subscription() -> None:
    parsed = gateway.parse_config(["--broker", "b", "--subscribe", "s/#"], {})

    assert (parsed.qos, parsed.window_ns, parsed.publish_topic) == (1, 10 * 10**9, None)
    assert parsed.client_id == "xedgesim-gateway"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--subscribe", "s/#"], r"--broker \(or \$XEDGESIM_BROKER\) is required"),
        (["--broker", "b"], r"--subscribe \(or \$XEDGESIM_SUBSCRIBE\) is required"),
        (["--broker", "b", "--subscribe", " "], "--subscribe"),
        (["--broker", "b:x", "--subscribe", "s"], "port must be a number"),
        (["--broker", "b:70000", "--subscribe", "s"], "port must be a number"),
        (["--broker", ":1883", "--subscribe", "s"], "no host"),
        (["--broker", "b", "--subscribe", "s", "--window", "10"], "--window: .*needs a unit"),
        (["--broker", "b", "--subscribe", "s", "--window", "0s"], "longer than 0"),
        (["--broker", "b", "--subscribe", "s", "--qos", "3"], "--qos must be 0, 1 or 2"),
    ],
)
def test_bad_configurations_say_what_to_fix(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        gateway.parse_config(argv, {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [("broker", ("broker", 1883)), ("10.0.0.5:8883", ("10.0.0.5", 8883)),
     ("[::1]:1884", ("::1", 1884)), ("[fd00::2]", ("fd00::2", 1883)),
     ("fd00::2", ("fd00::2", 1883))],
)  # fmt: skip
def test_broker_addresses(text: str, expected: tuple[str, int]) -> None:
    assert gateway.parse_broker(text) == expected


def test_the_password_is_read_from_its_file_and_never_described(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    parsed = gateway.parse_config(
        ["--broker", "b", "--subscribe", "s", "--username", "dev", "--password-file", str(secret)],
        {},
    )

    assert gateway.read_password(secret) == "s3cret"
    assert "s3cret" not in parsed.describe() and "s3cret" not in repr(parsed)
    assert str(secret) in parsed.describe()
    with pytest.raises(ConfigError, match=r"--password-file .*missing"):
        gateway.read_password(tmp_path / "missing")


def test_make_client_asks_paho_2_for_its_version_2_callbacks() -> None:
    client = gateway.make_client("gw1")

    assert client._client_id == b"gw1"
    assert client._clean_session is False  # the broker keeps the session while we are away


def test_make_client_works_with_paho_1() -> None:
    made: list[dict[str, Any]] = []
    paho_1 = SimpleNamespace(MQTTv311=4, Client=lambda **options: made.append(options))

    gateway.make_client("gw1", paho_1)

    assert made == [{"client_id": "gw1", "clean_session": False, "protocol": 4}]


# -- the service ---------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["v1", "v2"])
def test_one_aggregate_per_window_from_gateway_logic(tmp_path: Path, style: str) -> None:
    service, client, clock = service_for(tmp_path, style)
    client.accept()
    values = [21.5, 19.0, 23.25, 20.125]
    for number, value in enumerate(values):
        client.deliver(f"site/{number}/temp", reading(number, value, 5_000 - number))
    start = clock.now

    run_until(service, clock, start + 10.0)

    assert client.address == ("broker", 1883, gateway.KEEPALIVE_S)
    assert client.credentials is None  # no user name configured
    assert client.subscriptions == [[("site/+/temp", 1)]]
    [(topic, data, qos)] = client.published
    expected = GatewayLogic()
    expected.add(np.array(values), np.array(values), np.array(values), np.ones(4, np.int64),
                 np.array([5000, 4999, 4998, 4997]))
    aggregate = expected.flush()
    assert aggregate is not None
    assert (topic, qos) == ("agg/gw1", 1)
    assert payload.decode(data) == {
        "id": 0, "value": aggregate.mean, "vmin": 19.0, "vmax": 23.25, "n": 4, "origin_ns": 4997,
    }  # fmt: skip


def test_aggregates_of_aggregates_are_weighted_and_numbered(tmp_path: Path) -> None:
    service, client, clock = service_for(tmp_path, window_ns=2 * 10**9)
    client.accept()
    client.deliver("gw/a", payload.encode(id=0, value=10.0, vmin=8.0, vmax=12.0, n=3,
                                          origin_ns=70))
    client.deliver("gw/b", payload.encode(id=0, value=30.0, vmin=29.0, vmax=31.0, n=1,
                                          origin_ns=90))
    run_until(service, clock, clock.now + 2.0)
    client.deliver("gw/a", reading(1, 5.0, 100))
    run_until(service, clock, clock.now + 2.0)

    first, second = (payload.decode(data) for _, data, _ in client.published)
    assert first == {"id": 0, "value": 15.0, "vmin": 8.0, "vmax": 31.0, "n": 4, "origin_ns": 70}
    assert second == {"id": 1, "value": 5.0, "vmin": 5.0, "vmax": 5.0, "n": 1, "origin_ns": 100}


def test_each_window_logs_one_line_and_empty_ones_publish_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="xedgesim.gateway")
    service, client, clock = service_for(tmp_path, window_ns=10**9)
    client.accept()
    client.deliver("site/1/temp", reading(1, 4.0, 1))
    client.deliver("site/2/temp", reading(2, 6.0, 2))

    run_until(service, clock, clock.now + 2.0)

    windows = [r.getMessage() for r in caplog.records if r.getMessage().startswith("window")]
    assert windows == [
        "window 1: 2 readings, mean 5.0, min 4.0, max 6.0 -> agg/gw1",
        "window 2: 0 readings",
    ]
    assert len(client.published) == 1


@pytest.mark.parametrize(("inputs", "why"), [
    ([(1e308, 1), (1e308, 1)], "the sum of its window's readings is not a finite number"),
    ([(1.0, 2**62), (1.0, 2**62)], "more than the 9,223,372,036,854,775,807 a message"),
])
def test_a_window_gateway_logic_cannot_hold_is_dropped_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, inputs: list[tuple[float, int]], why: str
) -> None:
    """Before, the overflow escaped step() and killed the service; now that window is dropped
    with one line naming it, and the next window is aggregated as usual."""
    caplog.set_level(logging.INFO, logger="xedgesim.gateway")
    service, client, clock = service_for(tmp_path, window_ns=10**9)
    client.accept()
    for number, (value, n) in enumerate(inputs):
        client.deliver("gw/a", payload.encode(id=number, value=value, vmin=value, vmax=value,
                                              n=n, origin_ns=1))
    run_until(service, clock, clock.now + 1.0)
    client.deliver("site/1/temp", reading(9, 4.0, 7))
    run_until(service, clock, clock.now + 1.0)

    windows = [r.getMessage() for r in caplog.records if r.getMessage().startswith("window")]
    assert len(windows) == 2
    assert windows[0].startswith("window 1: dropped, 2 message(s) not aggregated: ")
    assert why in windows[0]
    assert windows[1] == "window 2: 1 readings, mean 4.0, min 4.0, max 4.0 -> agg/gw1"
    [(_, data, _)] = client.published
    assert payload.decode(data)["n"] == 1
    assert service.dropped_windows == 1


def test_without_a_publish_topic_aggregates_are_only_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="xedgesim.gateway")
    service, client, clock = service_for(tmp_path, publish_topic=None, window_ns=10**9)
    client.accept()
    client.deliver("s", reading(1, 4.0, 1))

    run_until(service, clock, clock.now + 1.0)

    assert client.published == []
    assert "window 1: 1 readings, mean 4.0, min 4.0, max 4.0" in caplog.messages


def test_undecodable_payloads_are_counted_and_logged_at_most_every_10s(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="xedgesim.gateway")
    service, client, clock = service_for(tmp_path, window_ns=10**9)
    client.accept()
    for junk in (b"garbage", b'{"id": 1}', b"\xff", b"[]", b"[" * 200_000):
        client.deliver("site/9/temp", junk)
    client.deliver("site/1/temp", reading(1, 4.0, 1))

    run_until(service, clock, clock.now + 1.0)

    assert (service.rejected, service.received) == (5, 1)
    reports = [m for m in caplog.messages if m.startswith("undecodable")]
    assert reports == ["undecodable payload on site/9/temp: not JSON: Expecting value: line 1 "
                       "column 1 (char 0) (1 so far; next report in 10s at most)"]
    assert "window 1: 1 readings, mean 4.0, min 4.0, max 4.0, 5 undecodable -> agg/gw1" in (
        caplog.messages)
    run_until(service, clock, clock.now + 9.0)
    client.deliver("site/9/temp", b"x")
    run_until(service, clock, clock.now + 1.0)
    assert len([m for m in caplog.messages if m.startswith("undecodable")]) == 2


def test_the_heartbeat_is_fresh_only_while_connected_and_subscribed(tmp_path: Path) -> None:
    heartbeat = tmp_path / "alive"
    heartbeat.write_text("0\n")  # left by an earlier run of the container
    service, client, clock = service_for(tmp_path)
    assert not heartbeat.exists()

    client.accept(grant=0x80)  # the broker refuses the subscription (an ACL, say)
    run_until(service, clock, clock.now + 3.0)
    assert not heartbeat.exists()

    client.lose_connection()
    client.accept()  # the reconnection
    run_until(service, clock, clock.now + 3.0)
    assert heartbeat.read_text() == "1700000000.500\n"
    assert not (tmp_path / "alive.tmp").exists()


def test_a_refused_login_is_logged_and_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="xedgesim.gateway")
    service, client, clock = service_for(tmp_path, username="dev")
    client.refuse()

    run_until(service, clock, clock.now + 2.0)

    assert client.credentials == ("dev", "s3cret")
    assert "broker refused the connection: Not authorized" in caplog.messages
    assert client.reconnects >= 2 and not service.connected
    assert not (tmp_path / "alive").exists()
    assert all("s3cret" not in message for message in caplog.messages)


def test_reconnects_with_capped_backoff_and_keeps_the_window(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="xedgesim.gateway")
    service, client, clock = service_for(tmp_path, window_ns=60 * 10**9)
    client.accept()
    client.deliver("site/1/temp", reading(1, 1.0, 10))
    client.lose_connection()
    client.accept(session_present=True)
    client.deliver("site/2/temp", reading(2, 3.0, 5))  # queued by the broker while away
    service.step()  # connects
    refused = ConnectionRefusedError(111, "Connection refused")
    client.refusals.extend([refused] * 6)
    attempts: list[float] = []
    real_reconnect = client.reconnect

    def timed_reconnect() -> int:
        attempts.append(clock.now)
        return real_reconnect()

    client.reconnect = timed_reconnect
    run_until(service, clock, clock.now + 30.0)

    gaps = np.diff(attempts)
    assert list(np.round(gaps, 1)) == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]  # doubling, capped at 5 s
    assert service.connected and client.subscriptions[-1] == [("site/+/temp", 1)]
    retries = [m for m in caplog.messages if "retrying" in m]
    assert retries[0].startswith("connection lost: The connection was lost")
    assert retries[1] == "cannot connect (Connection refused); retrying in 1.0s"
    assert len(retries) == 2  # the same failure again is not logged every time
    assert "connected to broker:1883 (resumed session)" in caplog.messages

    run_until(service, clock, 1060.0)
    [(_, data, _)] = client.published
    assert payload.decode(data)["n"] == 2 and payload.decode(data)["value"] == 2.0


def test_an_aggregate_made_while_disconnected_is_handed_to_paho_to_queue(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="xedgesim.gateway")
    service, client, clock = service_for(tmp_path, window_ns=10**9)
    client.accept()
    client.deliver("site/1/temp", reading(1, 1.0, 10))
    client.lose_connection()
    service.step()  # connects
    client.refusals.extend([OSError(113, "No route to host")] * 10)

    run_until(service, clock, clock.now + 1.0)

    assert len(client.published) == 1
    assert "window 1: 1 readings, mean 1.0, min 1.0, max 1.0 -> agg/gw1 (queued until " \
           "reconnected)" in caplog.messages


def test_after_a_stall_windows_keep_their_phase(tmp_path: Path) -> None:
    service, client, clock = service_for(tmp_path, window_ns=10 * 10**9)
    client.accept()
    start = clock.now
    run_until(service, clock, start + 10.0)
    client.deliver("site/1/temp", reading(1, 1.0, 10))
    client.events.appendleft(lambda: clock.sleep(25.0))  # e.g. a paused container

    run_until(service, clock, start + 40.0)

    assert service.windows == 3  # at 10 s, once for 20-35 s, at 40 s: no burst of empty ones
    assert len(client.published) == 1


def test_close_drops_the_open_window_and_disconnects(tmp_path: Path) -> None:
    service, client, clock = service_for(tmp_path)
    client.accept()
    client.deliver("site/1/temp", reading(1, 1.0, 10))
    run_until(service, clock, clock.now + 2.0)
    assert (tmp_path / "alive").exists()

    service.run(lambda: True)

    assert client.published == [] and client.disconnected
    assert not (tmp_path / "alive").exists()


def test_a_broken_heartbeat_path_is_reported_once_and_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="xedgesim.gateway")
    service, client, clock = service_for(tmp_path, heartbeat=tmp_path / "no" / "such" / "alive")
    client.accept()
    client.deliver("site/1/temp", reading(1, 1.0, 10))

    run_until(service, clock, clock.now + 10.0)

    assert len([m for m in caplog.messages if m.startswith("cannot write the heartbeat")]) == 1
    assert len(client.published) == 1


# -- the process ---------------------------------------------------------------------------


def test_the_process_stops_cleanly_on_sigterm_and_never_logs_the_password(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("t0p-s3cret\n")
    environment = {
        **os.environ, "PYTHONPATH": str(ROOT), "XEDGESIM_BROKER": "127.0.0.1:1",
        "XEDGESIM_SUBSCRIBE": "site/+/temp", "XEDGESIM_USERNAME": "dev",
        "XEDGESIM_PASSWORD_FILE": str(secret), "XEDGESIM_HEARTBEAT": str(tmp_path / "alive"),
    }  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "xedgesim.services.gateway", "--window", "1s"],
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # A suite run from a background job passes SIGINT on ignored: the child gets defaults.
        preexec_fn=default_sigint,
    )
    try:
        deadline = time.monotonic() + 20
        assert process.stdout is not None
        lines: list[str] = []
        while not any("retrying" in line for line in lines) and time.monotonic() < deadline:
            lines.append(process.stdout.readline())
            if process.poll() is not None:
                break
        process.send_signal(signal.SIGTERM)
        output = "".join(lines) + process.communicate(timeout=5)[0]
    finally:
        process.kill()
        process.wait()

    assert process.returncode == 0, output
    assert "cannot connect (Connection refused)" in output
    assert "as 'dev' (password from" in output and "stopping:" in output
    assert "t0p-s3cret" not in output


def test_a_bad_configuration_exits_2_with_the_reason() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "xedgesim.services.gateway", "--subscribe", "s"],
        env={**os.environ, "PYTHONPATH": str(ROOT), "XEDGESIM_BROKER": ""},
        capture_output=True, text=True, timeout=60, check=False,
    )

    assert result.returncode == 2
    assert "--broker (or $XEDGESIM_BROKER) is required" in result.stderr
