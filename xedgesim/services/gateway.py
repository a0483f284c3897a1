"""The gateway as a real MQTT service: ``GatewayLogic`` driven by paho-mqtt and the wall clock.

This is what runs in the gateway image on a device (and in hybrid runs): it subscribes to the
sensors' topics, hands each window's readings to the very same ``GatewayLogic`` the simulation
uses, and publishes one aggregate per window of wall time. Configure it with options or, for
Ansible and the coordinator, with environment variables (an option wins over its variable)::

    python3 -m xedgesim.services.gateway --broker broker:1883 --subscribe 'site/+/temp' \\
        --qos 1 --publish-topic agg/gw1 --window 10s --client-id gw1

Operational choices, each for a reason:

* One thread. paho's ``loop()`` is called from the main loop, so message callbacks, window
  flushes and heartbeats never race and need no locks; SIGTERM only sets a flag.
* A persistent session (MQTT 3.1.1, ``clean_session=False``) under a fixed client id, so the
  broker queues QoS 1 readings while the gateway is away and delivers them when it is back.
  Aggregates (QoS 1 or 2) published while disconnected wait in paho's queue and go out on
  reconnection.
* Reconnection with a short capped backoff (0.5 s to 5 s): a broker restart costs seconds.
* A heartbeat file, rewritten every second while connected and subscribed, is what the image's
  HEALTHCHECK looks at: an unreachable broker makes the container unhealthy.
* On SIGTERM the unfinished window is dropped (never a partial aggregate), the client sends
  DISCONNECT and the process exits 0.
* A window ``GatewayLogic`` cannot hold (more than 2^63 - 1 readings, or a sum beyond the
  largest float: aggregates feeding back on themselves, or readings near 1e308) is dropped
  with one log line naming the window and why; the service goes on with the next window. In
  the simulator the same condition stops the run, since there it is a scenario to fix; on a
  device one bad window must not take the gateway down.
* Debian bookworm ships paho-mqtt 1.6, PyPI 2.x: the client is made for whichever is present and
  the callbacks accept both calling conventions.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

from xedgesim.models.gateway import Aggregate, GatewayLogic
from xedgesim.services import payload
from xedgesim.units import UnitError, format_duration, parse_duration

log = logging.getLogger("xedgesim.gateway")

DEFAULT_PORT = 1883
DEFAULT_HEARTBEAT = "/tmp/xedgesim-gateway.alive"
HEARTBEAT_EVERY_S = 1.0
KEEPALIVE_S = 10
TICK_S = 0.2  # the longest the loop waits on the network: bounds window and SIGTERM latency
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 5.0
REJECT_LOG_EVERY_S = 10.0
RETRY_LOG_EVERY_S = 30.0

# option name -> environment variable; the option wins when both are given
ENVIRONMENT = {
    "broker": "XEDGESIM_BROKER",
    "subscribe": "XEDGESIM_SUBSCRIBE",
    "publish_topic": "XEDGESIM_PUBLISH_TOPIC",
    "window": "XEDGESIM_WINDOW",
    "qos": "XEDGESIM_QOS",
    "username": "XEDGESIM_USERNAME",
    "password_file": "XEDGESIM_PASSWORD_FILE",
    "client_id": "XEDGESIM_CLIENT_ID",
    "heartbeat": "XEDGESIM_HEARTBEAT",
}


class ConfigError(ValueError):
    """The service cannot start as configured; the text names the option and its variable."""


@dataclass(frozen=True)
class GatewayConfig:
    """Everything the service needs, already checked. The password itself is not kept here,
    so printing a config can never leak it."""

    host: str
    port: int
    subscribe: tuple[str, ...]
    publish_topic: str | None  # None: aggregates are only logged
    window_ns: int
    qos: int = 1
    username: str | None = None
    password_file: Path | None = None
    client_id: str = "xedgesim-gateway"
    heartbeat: Path = Path(DEFAULT_HEARTBEAT)

    def describe(self) -> str:
        """One line for the log: where it connects, what it hears and says; never a secret."""
        who = f" as {self.username!r}" if self.username else ""
        secret = f" (password from {self.password_file})" if self.password_file else ""
        upstream = self.publish_topic or "(not published: no publish topic)"
        return (
            f"client {self.client_id!r}: broker {self.host}:{self.port}{who}{secret}; "
            f"subscribing {', '.join(self.subscribe)} (qos {self.qos}); "
            f"aggregating every {format_duration(self.window_ns)} -> {upstream}"
        )


def parse_broker(text: str) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6]:port`` -> (host, port)."""
    text = text.strip()
    host, port = text, str(DEFAULT_PORT)
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ConfigError(f"broker {text!r}: expected [address]:port")
            port = rest[1:]
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    if not host:
        raise ConfigError(f"broker {text!r}: no host")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"broker {text!r}: the port must be a number from 1 to 65535")
    return host, int(port)


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m xedgesim.services.gateway",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Aggregate MQTT readings over windows of wall time and publish one "
        "aggregate per window.\nEvery option can also be set by the environment variable in "
        "its help; the option wins.",
        epilog="example:\n  python3 -m xedgesim.services.gateway --broker broker:1883 "
        "--subscribe 'site/+/temp' \\\n      --publish-topic agg/gw1 --window 10s --client-id gw1",
    )
    options = {  # name: (metavar, help)
        "broker": ("HOST[:PORT]", "the MQTT broker (port 1883 by default)"),
        "subscribe": ("FILTER", "a topic filter to aggregate; repeat it (comma-separated in "
                      "the variable)"),
        "publish_topic": ("TOPIC", "where each window's aggregate goes (omitted: only logged)"),
        "window": ("DURATION", "the aggregation window with its unit (default 10s)"),
        "qos": ("0|1|2", "QoS of the subscriptions and the aggregates (default 1)"),
        "username": ("USER", "MQTT user name"),
        "password_file": ("FILE", "a file holding the MQTT password (never logged)"),
        "client_id": ("ID", "fixed MQTT client id, so the broker keeps the session while the "
                      "gateway is away (default: from the publish topic)"),
        "heartbeat": ("FILE", f"rewritten every second while connected and subscribed "
                      f"(default {DEFAULT_HEARTBEAT})"),
    }
    for name, (metavar, text) in options.items():
        parser.add_argument(
            "--" + name.replace("_", "-"), metavar=metavar, help=f"{text} [${ENVIRONMENT[name]}]",
            action="append" if name == "subscribe" else "store",
        )
    return parser


def parse_config(argv: Sequence[str] | None, environ: Mapping[str, str]) -> GatewayConfig:
    """The configuration from options and environment; ConfigError says what is missing."""
    options = vars(_arguments().parse_args(argv))

    def value(name: str) -> str | None:
        given = options.get(name)
        if given is None:
            given = environ.get(ENVIRONMENT[name]) or None
        return given

    def required(name: str) -> str:
        found = value(name)
        if not found:
            raise ConfigError(f"--{name.replace('_', '-')} (or ${ENVIRONMENT[name]}) is required")
        return found

    host, port = parse_broker(required("broker"))
    filters = options["subscribe"] or (environ.get(ENVIRONMENT["subscribe"]) or "").split(",")
    subscribe = tuple(dict.fromkeys(f.strip() for f in filters if f.strip()))
    if not subscribe:
        raise ConfigError(f"--subscribe (or ${ENVIRONMENT['subscribe']}) is required")
    try:
        window_ns = parse_duration(value("window") or "10s")
    except UnitError as error:
        raise ConfigError(f"--window: {error}") from None
    if window_ns <= 0:
        raise ConfigError("--window must be longer than 0")
    qos_text = value("qos") or "1"
    if qos_text not in ("0", "1", "2"):
        raise ConfigError(f"--qos must be 0, 1 or 2, found {qos_text!r}")
    publish_topic = value("publish_topic")
    password_file = value("password_file")
    client_id = value("client_id") or _default_client_id(publish_topic)
    return GatewayConfig(
        host=host,
        port=port,
        subscribe=subscribe,
        publish_topic=publish_topic,
        window_ns=window_ns,
        qos=int(qos_text),
        username=value("username"),
        password_file=Path(password_file) if password_file else None,
        client_id=client_id,
        heartbeat=Path(value("heartbeat") or DEFAULT_HEARTBEAT),
    )


def _default_client_id(publish_topic: str | None) -> str:
    """A fixed id, so a restarted gateway resumes its session; derived from the topic it
    publishes on, so two gateways of one site do not take each other's session by default."""
    if not publish_topic:
        return "xedgesim-gateway"
    return "xedgesim-gw-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in publish_topic)


def read_password(path: Path) -> str:
    """The password in ``path`` without its trailing newline; ConfigError if unreadable."""
    try:
        return path.read_text().rstrip("\r\n")
    except OSError as error:
        raise ConfigError(f"--password-file {path}: {error.strerror or error}") from None


def make_client(client_id: str, mqtt: Any = None) -> Any:
    """A paho client with a persistent MQTT 3.1.1 session, for paho 1.x or 2.x.

    paho 2.x needs the callback API version as its first argument; asking for VERSION2 gives
    its documented callbacks (1.x is kept only for code written against it).
    """
    if mqtt is None:
        import paho.mqtt.client as mqtt
    options = {"client_id": client_id, "clean_session": False, "protocol": mqtt.MQTTv311}
    if hasattr(mqtt, "CallbackAPIVersion"):
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **options)
    return mqtt.Client(**options)


def _failed(code: Any) -> bool:
    """Whether a paho result is a failure: a 2.x ReasonCode, or a 1.x int (0 is success)."""
    if hasattr(code, "is_failure"):
        return bool(code.is_failure)
    return int(code) != 0


def _connack_text(reason: Any) -> str:
    """A refusal in words: 2.x gives a ReasonCode, 1.x a number paho can spell out."""
    if hasattr(reason, "is_failure"):
        return str(reason)
    from paho.mqtt.client import connack_string

    return str(connack_string(int(reason))).rstrip(".")


def _granted(code: Any) -> bool:
    """Whether a SUBACK entry grants the subscription (0x80 and up are refusals)."""
    return int(getattr(code, "value", code)) < 0x80


def _session_present(flags: Any) -> bool:
    if isinstance(flags, Mapping):  # paho 1.x: {"session present": 0 or 1}
        return bool(flags.get("session present"))
    return bool(getattr(flags, "session_present", False))


class GatewayService:
    """One gateway on one broker: connection upkeep, windows, heartbeat.

    ``clock`` (monotonic seconds) times windows, heartbeats and retries; ``wall`` (epoch
    seconds) is only written into the heartbeat. Both, and ``sleep``, are injectable so tests
    drive the service without waiting.
    """

    def __init__(
        self,
        config: GatewayConfig,
        client: Any,
        *,
        password: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.client = client
        self.clock = clock
        self.wall = wall
        self.sleep = sleep
        self.logic = GatewayLogic()
        self.window_s = config.window_ns / 1e9
        self.connected = False  # CONNACK accepted and the connection not lost since
        self.subscribed = False  # every filter granted on this connection
        self.windows = 0
        self.published = 0
        self.received = 0
        self.rejected = 0
        self.dropped_windows = 0
        self._socket_open = False
        self._pending_subscribe: int | None = None
        self._backoff = BACKOFF_MIN_S
        self._next_attempt = 0.0
        self._last_retry_log: tuple[str, float] | None = None
        self._window_rejected = 0
        self._next_reject_log = 0.0
        self._next_heartbeat = 0.0
        self._heartbeat_failed = False
        self._readings: list[tuple[float, float, float, int, int]] = []
        now = clock()
        self._next_window = now + self.window_s
        if config.username:
            client.username_pw_set(config.username, password)
        client.on_connect = self.on_connect
        client.on_subscribe = self.on_subscribe
        client.on_message = self.on_message
        client.connect_async(config.host, config.port, keepalive=KEEPALIVE_S)
        self._remove_heartbeat()  # a restarted container keeps /tmp: never trust an old one

    # paho callbacks, run inside client.loop(): each accepts the 1.x and the 2.x argument
    # lists. A lost connection is seen from loop()'s result, so there is no on_disconnect.

    def on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                   properties: Any = None) -> None:
        if _failed(reason):
            log.info("broker refused the connection: %s", _connack_text(reason))
            return
        self.connected = True
        self._backoff = BACKOFF_MIN_S
        self._last_retry_log = None
        session = "resumed" if _session_present(flags) else "new"
        log.info("connected to %s:%d (%s session)", self.config.host, self.config.port, session)
        # Always subscribe: a broker that lost its state (restarted without persistence)
        # reports no session, and subscribing again to a kept session is harmless.
        filters = [(topic, self.config.qos) for topic in self.config.subscribe]
        result, mid = client.subscribe(filters)
        self._pending_subscribe = None if _failed(result) else mid

    def on_subscribe(self, client: Any, userdata: Any, mid: int, granted: Sequence[Any],
                     properties: Any = None) -> None:
        if mid != self._pending_subscribe:
            return
        refused = [t for t, code in zip(self.config.subscribe, granted, strict=False)
                   if not _granted(code)]
        if refused:
            log.info("broker refused the subscription to %s", ", ".join(refused))
            return
        self.subscribed = True
        log.info("subscribed to %s", ", ".join(self.config.subscribe))

    def on_message(self, client: Any, userdata: Any, message: Any) -> None:
        try:
            fields = payload.decode(message.payload)
        except payload.PayloadError as error:
            self._reject(message.topic, error)
            return
        self.received += 1
        self._readings.append((fields["value"], fields["vmin"], fields["vmax"], fields["n"],
                               fields["origin_ns"]))

    # the loop

    def step(self) -> None:
        """One turn: network I/O (or a connection attempt when due), then windows, heartbeat."""
        now = self.clock()
        if self._socket_open:
            rc = self.client.loop(timeout=TICK_S)
            if rc:
                self._lost(rc)
        elif now >= self._next_attempt:
            self._attempt(now)
        else:
            self.sleep(min(TICK_S, self._next_attempt - now))
        now = self.clock()
        if now >= self._next_window:
            self._end_window(now)
        if self.connected and self.subscribed and now >= self._next_heartbeat:
            self._write_heartbeat()
            self._next_heartbeat = now + HEARTBEAT_EVERY_S

    def run(self, stopping: Callable[[], bool]) -> None:
        """Serve until ``stopping()`` is true, then drop the open window and disconnect."""
        log.info("starting: %s", self.config.describe())
        try:
            while not stopping():
                self.step()
        finally:
            self.close()

    def close(self) -> None:
        """Disconnect cleanly; the unfinished window is dropped, never published half-done."""
        dropped = len(self._readings)
        log.info("stopping: %d message(s) of the unfinished window dropped", dropped)
        self._readings.clear()
        if self._socket_open:
            self.client.disconnect()
            self._socket_open = False
        self.connected = self.subscribed = False
        self._remove_heartbeat()

    def _attempt(self, now: float) -> None:
        try:
            self.client.reconnect()
        except (OSError, ValueError) as error:  # refused, unreachable, unresolvable name
            self._retry_later(now, _describe(error))
            return
        self._socket_open = True

    def _lost(self, rc: Any) -> None:
        was = "connection lost" if self.connected else "could not connect"
        self.connected = self.subscribed = False
        self._socket_open = False
        self._retry_later(self.clock(), f"{was}: {_paho_error(rc)}")

    def _retry_later(self, now: float, why: str) -> None:
        self._next_attempt = now + self._backoff
        # Log a new kind of failure at once, the same one again only every 30 s.
        if (self._last_retry_log is None or self._last_retry_log[0] != why
                or now - self._last_retry_log[1] >= RETRY_LOG_EVERY_S):
            log.info("%s; retrying in %.1fs", why, self._backoff)
            self._last_retry_log = (why, now)
        self._backoff = min(self._backoff * 2, BACKOFF_MAX_S)

    def _reject(self, topic: str, error: Exception) -> None:
        self.rejected += 1
        self._window_rejected += 1
        now = self.clock()
        if now >= self._next_reject_log:
            log.info("undecodable payload on %s: %s (%d so far; next report in %.0fs at most)",
                     topic, error, self.rejected, REJECT_LOG_EVERY_S)
            self._next_reject_log = now + REJECT_LOG_EVERY_S

    def _end_window(self, now: float) -> None:
        self.windows += 1
        messages = len(self._readings)
        dropped: OverflowError | None = None
        try:
            aggregate = self._aggregate()
        except OverflowError as error:  # GatewayLogic cannot hold this window: drop it
            self.logic.reset()
            aggregate, dropped = None, error
            self.dropped_windows += 1
        # Keep the phase: after a stall (a paused container) skip the boundaries missed.
        missed = math.floor((now - self._next_window) / self.window_s)
        self._next_window += (missed + 1) * self.window_s
        bad = f", {self._window_rejected} undecodable" if self._window_rejected else ""
        self._window_rejected = 0
        if dropped is not None:
            log.info("window %d: dropped, %d message(s) not aggregated: %s%s", self.windows,
                     messages, dropped, bad)
            return
        if aggregate is None:
            log.info("window %d: 0 readings%s", self.windows, bad)
            return
        where = self._publish(aggregate)
        log.info("window %d: %d readings, mean %r, min %r, max %r%s%s", self.windows,
                 aggregate.count, aggregate.mean, aggregate.minimum, aggregate.maximum, bad, where)

    def _aggregate(self) -> Aggregate | None:
        """The window's messages as one block through GatewayLogic, then its aggregate."""
        if self._readings:
            value, vmin, vmax, n, origin = zip(*self._readings, strict=True)
            self._readings.clear()
            self.logic.add(np.array(value, dtype=np.float64), np.array(vmin, dtype=np.float64),
                           np.array(vmax, dtype=np.float64), np.array(n, dtype=np.int64),
                           np.array(origin, dtype=np.int64))
        return self.logic.flush()

    def _publish(self, aggregate: Aggregate) -> str:
        topic = self.config.publish_topic
        if topic is None:
            return ""
        data = payload.encode(id=self.published, value=aggregate.mean, vmin=aggregate.minimum,
                              vmax=aggregate.maximum, n=aggregate.count,
                              origin_ns=aggregate.oldest_origin_ns)
        self.published += 1
        self.client.publish(topic, data, qos=self.config.qos)
        return f" -> {topic}" if self.connected else f" -> {topic} (queued until reconnected)"

    def _write_heartbeat(self) -> None:
        path = self.config.heartbeat
        temporary = path.with_name(path.name + ".tmp")
        try:
            temporary.write_text(f"{self.wall():.3f}\n")
            os.replace(temporary, path)  # the healthcheck never reads half a file
        except OSError as error:
            if not self._heartbeat_failed:
                log.info("cannot write the heartbeat %s: %s", path, error)
                self._heartbeat_failed = True

    def _remove_heartbeat(self) -> None:
        with contextlib.suppress(OSError):
            self.config.heartbeat.unlink(missing_ok=True)


def _paho_error(rc: Any) -> str:
    try:
        from paho.mqtt.client import error_string
    except ImportError:
        return f"paho error {int(rc)}"
    return f"{error_string(int(rc)).rstrip('.')} (paho error {int(rc)})"


def _describe(error: Exception) -> str:
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the broker's name ({error.strerror or error})"
    return f"cannot connect ({getattr(error, 'strerror', None) or error})"


def _paho_version() -> str:
    import paho.mqtt

    return str(getattr(paho.mqtt, "__version__", "?"))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the service until SIGTERM or SIGINT; 0 on a clean stop, 2 on a bad configuration."""
    logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                        format="%(asctime)s gateway %(message)s", datefmt="%Y-%m-%dT%H:%M:%S")
    try:
        config = parse_config(argv, os.environ)
        password = read_password(config.password_file) if config.password_file else None
    except ConfigError as error:
        print(f"xedgesim gateway: {error}", file=sys.stderr)
        return 2
    stop: list[int] = []

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.append(signum)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    service = GatewayService(config, make_client(config.client_id), password=password)
    log.info("paho-mqtt %s, python %s", _paho_version(), sys.version.split()[0])
    service.run(lambda: bool(stop))
    return 0


if __name__ == "__main__":
    sys.exit(main())
