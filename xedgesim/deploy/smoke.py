"""The MQTT smoke test, from this machine to a host's broker (paho).

Four facts about a deployed host, in one pass that costs one aggregation window:

0. the broker speaks TLS with a certificate of the fleet's CA for the address the test uses,
   and a client that trusts another CA is refused (the handshake fails);
1. an anonymous client is refused;
2. a reading published (QoS 1, not retained) on the probe's sensor topic comes out of the
   gateway as an aggregate on the upstream topic — recognised by its ``origin_ns``, a random
   instant far older than any real reading, which the aggregate carries as its oldest origin;
3. that aggregate, queued by the broker for a persistent session (QoS 1, clean session off)
   whose subscriber was away, is still delivered after the broker restarts.

Check 3 uses the aggregate of check 2 as its message: a live subscriber proves the broker
routed it (so it sat in the away session's queue) before the restart. The probe user thus
needs no permission beyond the two topics the deploy gate already uses.
"""

from __future__ import annotations

import json
import queue
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xedgesim.deploy import certificates
from xedgesim.errors import XedgeError

DAY_NS = 86_400 * 10**9
CONNECT_TIMEOUT_S = 10.0
RESTART_TIMEOUT_S = 60.0
PERSISTED_TIMEOUT_S = 15.0


class SmokeFailure(XedgeError):
    """A smoke check failed; the message says which and why. A check that failed is the
    fleet's fault, not a bug: if one ever escapes a report, ``xedge`` prints it (exit 1)."""


@dataclass(frozen=True)
class SmokeTarget:
    """One host's broker as seen from this machine, and the topics of its gateway."""

    host: str
    address: tuple[str, int]
    username: str
    password: str = field(repr=False)
    probe_topic: str
    upstream_topic: str
    window_s: float = 10.0
    tls: bool = False  # False only for a broker deployed with --insecure-plaintext
    ca: Path | None = None  # the fleet's CA; None: this machine's trusted CAs

    def tls_context(self) -> ssl.SSLContext | None:
        """What the test's clients trust: the fleet's CA, the server's name checked."""
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=str(self.ca) if self.ca else None)


@dataclass
class Check:
    passed: bool | None = None  # None: not run
    detail: str = ""


@dataclass
class SmokeReport:
    host: str
    tls: Check = field(default_factory=Check)
    anonymous_refused: Check = field(default_factory=Check)
    aggregated: Check = field(default_factory=Check)
    persisted: Check = field(default_factory=Check)
    latency_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host, "latency_s": self.latency_s,
            **{name: {"passed": check.passed, "detail": check.detail}
               for name, check in (("tls", self.tls),
                                   ("anonymous_refused", self.anonymous_refused),
                                   ("aggregated", self.aggregated),
                                   ("persisted", self.persisted))},
        }


class MqttClient:
    """A paho client driven synchronously: connect, subscribe and publish wait for the
    broker's acknowledgement; received messages wait in a queue."""

    def __init__(self, address: tuple[str, int], client_id: str, username: str | None = None,
                 password: str | None = None, clean_session: bool = True,
                 mqtt: Any = None, tls: ssl.SSLContext | None = None) -> None:
        if mqtt is None:
            import paho.mqtt.client as mqtt
        self.address = address
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=clean_session, protocol=mqtt.MQTTv311)
        if tls is not None:
            self.client.tls_set_context(tls)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._connack: queue.Queue[int] = queue.Queue()
        self._subacks: dict[int, threading.Event] = {}
        self._granted: dict[int, list[int]] = {}
        self._lock = threading.Lock()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                    properties: Any = None) -> None:
        self._connack.put(int(getattr(reason, "value", reason)))

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any,
                      properties: Any = None) -> None:
        with self._lock:
            self._granted[mid] = [int(getattr(r, "value", r)) for r in reasons]
            event = self._subacks.setdefault(mid, threading.Event())
        event.set()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self.messages.put((message.topic, bytes(message.payload)))

    def connect(self, timeout: float = CONNECT_TIMEOUT_S) -> int:
        """Connect and return the CONNACK code (0: accepted); OSError when nothing answers."""
        self.client.connect(*self.address, keepalive=30)
        self.client.loop_start()
        try:
            return self._connack.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no CONNACK from {self.address[0]}:{self.address[1]} "
                               f"within {timeout:g}s") from None

    def subscribe(self, topic: str, qos: int = 1, timeout: float = CONNECT_TIMEOUT_S) -> bool:
        """Whether the broker granted the subscription."""
        with self._lock:
            result, mid = self.client.subscribe(topic, qos)
            event = self._subacks.setdefault(mid, threading.Event())
        if result != 0 or not event.wait(timeout):
            return False
        return all(code < 0x80 for code in self._granted.get(mid, [0x80]))

    def publish(self, topic: str, payload: bytes, qos: int = 1,
                timeout: float = CONNECT_TIMEOUT_S) -> None:
        """Publish (not retained) and wait for the broker's PUBACK."""
        info = self.client.publish(topic, payload, qos=qos, retain=False)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise TimeoutError(f"no PUBACK for a message on {topic} within {timeout:g}s")

    def wait_for(self, match: Callable[[str, bytes], bool], timeout: float) -> tuple[int, bool]:
        """Wait for a message ``match`` accepts; (other messages seen, found)."""
        deadline = time.monotonic() + timeout
        others = 0
        while (left := deadline - time.monotonic()) > 0:
            try:
                topic, payload = self.messages.get(timeout=left)
            except queue.Empty:
                break
            if match(topic, payload):
                return others, True
            others += 1
        return others, False

    def close(self) -> None:
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()


def origin_matcher(origin_ns: int) -> Callable[[str, bytes], bool]:
    """Accepts the aggregate whose oldest reading is the probe's."""

    def match(topic: str, payload: bytes) -> bool:
        try:
            message = json.loads(payload)
        except ValueError:
            return False
        return isinstance(message, dict) and message.get("origin_ns") == origin_ns

    return match


def reading(origin_ns: int, value: float = 0.0) -> bytes:
    """A single reading in the project's payload format (services/payload.py)."""
    return json.dumps({"id": 0, "value": value, "vmin": value, "vmax": value, "n": 1,
                       "origin_ns": origin_ns}, separators=(",", ":")).encode()


def check_tls(target: SmokeTarget, client_factory: Callable[..., MqttClient]) -> Check:
    """A client that trusts a stranger CA must fail the handshake (the broker's certificate is
    the fleet's, not anyone's); the checks after this one then prove the fleet's CA works."""
    if not target.tls:
        return Check(None, "INSECURE: the broker is reached in plain text (no mqtt_tls_cert in "
                           "the inventory: deployed with --insecure-plaintext)")
    stranger = ssl.create_default_context(cadata=certificates.stranger_ca_pem())
    client = client_factory(target.address, f"xedgesim-smoke-ca-{secrets.token_hex(4)}",
                            tls=stranger)
    try:
        code = client.connect()
    except ssl.SSLCertVerificationError as error:
        return Check(True, f"TLS; a client trusting another CA was refused ("
                           f"{getattr(error, 'verify_message', None) or error})")
    except (OSError, TimeoutError) as error:
        return Check(False, f"cannot reach the broker at {target.address} over TLS: {error}")
    finally:
        client.close()
    return Check(False, "a client that trusts another CA completed the TLS handshake "
                        f"(CONNACK code {code}): the broker's certificate is not the fleet's")


def check_anonymous(target: SmokeTarget, client_factory: Callable[..., MqttClient]) -> Check:
    client = client_factory(target.address, f"xedgesim-smoke-anon-{secrets.token_hex(4)}",
                            tls=target.tls_context())
    try:
        code = client.connect()
    except (OSError, TimeoutError) as error:
        return Check(False, f"cannot reach the broker at {target.address}: {error}")
    finally:
        client.close()
    if code == 0:
        return Check(False, "the broker accepted a client without credentials")
    return Check(True, f"refused with CONNACK code {code}")


def run(target: SmokeTarget, restart: Callable[[], None] | None,
        client_factory: Callable[..., MqttClient] = MqttClient) -> SmokeReport:
    """All three checks against one host; ``restart`` restarts its broker (None: skip
    the persistence check)."""
    report = SmokeReport(target.host)
    report.tls = check_tls(target, client_factory)
    report.anonymous_refused = check_anonymous(target, client_factory)
    nonce = secrets.token_hex(6)
    origin_ns = secrets.randbelow(DAY_NS - 1) + 1
    match = origin_matcher(origin_ns)
    away_id = f"xedgesim-smoke-away-{nonce}"

    def login(client_id: str, clean: bool = True) -> MqttClient:
        client = client_factory(target.address, client_id, target.username, target.password,
                                clean, tls=target.tls_context())
        code = client.connect()
        if code != 0:
            client.close()
            raise SmokeFailure(f"the broker refused {target.username!r} (CONNACK code {code})")
        return client

    try:
        away = login(away_id, clean=False)  # the persistent session, then away
        granted = away.subscribe(target.upstream_topic)
        away.close()
        live = login(f"xedgesim-smoke-live-{nonce}")
        try:
            if not (granted and live.subscribe(target.upstream_topic)):
                raise SmokeFailure(f"{target.username!r} may not subscribe to "
                                   f"{target.upstream_topic} (ACL?)")
            started = time.monotonic()
            live.publish(target.probe_topic, reading(origin_ns))
            others, found = live.wait_for(match, target.window_s + 10.0)
        finally:
            live.close()
    except (SmokeFailure, OSError, TimeoutError) as error:
        report.aggregated = Check(False, str(error))
        report.persisted = Check(False, "not checked: the probe could not get a message through")
        return report
    if not found:
        seen = f"{others} other message(s) arrived" if others else "nothing arrived"
        report.aggregated = Check(False, (
            f"no aggregate holding the reading published on {target.probe_topic} reached "
            f"{target.upstream_topic} within {target.window_s + 10.0:g}s; {seen}"))
        report.persisted = Check(False, "not checked: no aggregate to queue")
        discard_session(target, away_id, client_factory)
        return report
    report.latency_s = round(time.monotonic() - started, 3)
    report.aggregated = Check(True, f"aggregate on {target.upstream_topic} after "
                                    f"{report.latency_s:.1f}s")
    if restart is None:
        report.persisted = Check(None, "skipped: the broker may not be restarted")
        discard_session(target, away_id, client_factory)
        return report
    report.persisted = check_persisted(target, away_id, match, restart, client_factory)
    discard_session(target, away_id, client_factory)
    return report


def check_persisted(target: SmokeTarget, away_id: str, match: Callable[[str, bytes], bool],
                    restart: Callable[[], None],
                    client_factory: Callable[..., MqttClient]) -> Check:
    """Restart the broker, resume the away session: the queued aggregate must arrive."""
    try:
        restart()
    except Exception as error:  # the restart goes over SSH: report, do not crash the suite
        return Check(False, f"could not restart the broker: {error}")
    deadline = time.monotonic() + RESTART_TIMEOUT_S
    while True:
        client = client_factory(target.address, away_id, target.username, target.password,
                                False, tls=target.tls_context())
        try:
            code = client.connect()
            if code == 0:
                break
        except (OSError, TimeoutError):
            code = None
        client.close()
        if time.monotonic() > deadline:
            return Check(False, f"the broker did not accept the session again within "
                                f"{RESTART_TIMEOUT_S:g}s of its restart (last code {code})")
        time.sleep(0.5)
    try:
        others, found = client.wait_for(match, PERSISTED_TIMEOUT_S)
    finally:
        client.close()
    if not found:
        return Check(False, "the QoS 1 message queued for the away session was lost in the "
                            f"broker's restart ({others} other message(s) arrived)")
    return Check(True, "the queued QoS 1 message was delivered after the restart")


def discard_session(target: SmokeTarget, client_id: str,
                    client_factory: Callable[..., MqttClient] = MqttClient) -> None:
    """Connect once with a clean session, so the broker forgets the probe's session."""
    client = client_factory(target.address, client_id, target.username, target.password, True,
                            tls=target.tls_context())
    try:
        client.connect()
    except (OSError, TimeoutError):
        pass
    finally:
        client.close()
