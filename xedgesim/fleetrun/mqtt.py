"""The paho clients of a fleet run: TLS checked against the fleet's CA, a user and password.

Each client gets a fresh id (the run's, plus its role), so a fleet run never resumes a session
another client left on the broker, and a clean session, so it leaves none behind.
"""

from __future__ import annotations

import queue
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xedgesim.errors import NodeFailure

CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Login:
    """An MQTT user; the password is never shown (not in a repr, not in a message)."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Endpoint:
    """A broker as this machine reaches it: TLS verified against ``ca`` (the system's trusted
    CAs when None), or plain text for a broker deployed with ``--insecure-plaintext``."""

    host: str
    port: int
    tls: bool = True
    ca: Path | None = None

    def describe(self) -> str:
        return f"{self.host}:{self.port} ({'TLS' if self.tls else 'PLAIN TEXT'})"

    def tls_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=str(self.ca) if self.ca else None)


def connect(endpoint: Endpoint, login: Login, client_id: str,
            on_message: Callable[[Any, Any, Any], None] | None = None,
            timeout_s: float = CONNECT_TIMEOUT_S, mqtt: Any = None) -> Any:
    """A paho 2.x client connected as ``login``, its network loop running.

    No cap on in-flight or queued messages: the scenario's model, not paho, decides the load.
    A refused login or an unreachable broker is a ``NodeFailure`` that names the broker and the
    user, never the password.
    """
    if mqtt is None:
        import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         clean_session=True, protocol=mqtt.MQTTv311)
    context = endpoint.tls_context()
    if context is not None:
        client.tls_set_context(context)
    client.username_pw_set(login.username, login.password)
    client.max_inflight_messages_set(0)
    client.max_queued_messages_set(0)
    if on_message is not None:
        client.on_message = on_message
    answers: queue.Queue[Any] = queue.Queue()
    client.on_connect = lambda _c, _u, _f, reason, _p: answers.put(reason)
    where = f"the broker at {endpoint.describe()}"
    try:
        client.connect(endpoint.host, endpoint.port, keepalive=30)
        client.loop_start()
        reason = answers.get(timeout=timeout_s)
    except ssl.SSLCertVerificationError as error:
        client.loop_stop()
        raise NodeFailure(f"{where}: its certificate does not verify against the fleet's CA "
                          f"({getattr(error, 'verify_message', None) or error})") from None
    except (OSError, queue.Empty) as error:
        client.loop_stop()
        raise NodeFailure(f"cannot connect to {where} as {login.username!r}: "
                          f"{error or 'no answer'}") from None
    if reason.is_failure:
        client.loop_stop()
        raise NodeFailure(f"{where} refused {login.username!r}: {reason}")
    return client


def subscribe(client: Any, filters: list[tuple[str, int]], timeout_s: float = CONNECT_TIMEOUT_S,
              where: str = "the broker") -> None:
    """Subscribe and wait for the SUBACK; a refused filter (an ACL) is a ``NodeFailure``."""
    answers: queue.Queue[Any] = queue.Queue()
    client.on_subscribe = lambda _c, _u, _mid, reasons, _p: answers.put(reasons)
    client.subscribe(filters)
    try:
        reasons = answers.get(timeout=timeout_s)
    except queue.Empty:
        raise NodeFailure(f"{where}: no SUBACK for {[f for f, _ in filters]} within "
                          f"{timeout_s:g}s") from None
    refused = [topic for (topic, _), reason in zip(filters, reasons, strict=False)
               if getattr(reason, "is_failure", False) or int(getattr(reason, "value", reason))
               >= 0x80]
    if refused:
        raise NodeFailure(f"{where} refused the subscription to {', '.join(refused)} (ACL?)")


def close(client: Any) -> None:
    try:
        client.disconnect()
    finally:
        client.loop_stop()
