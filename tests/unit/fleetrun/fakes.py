"""An in-memory MQTT world for the fleet run's unit tests: a fake paho module whose clients
share one broker, a gateway that forwards each reading as a one-reading aggregate, and a
device that records what was done to it."""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from xedgesim.fleetrun.device import Service
from xedgesim.models.topics import matches


class FakeBroker:
    def __init__(self, users: dict[str, str]) -> None:
        self.users = users
        self.subscriptions: list[tuple[Any, str]] = []
        self.published: list[tuple[str, str]] = []  # (client id, topic)
        self.lock = threading.Lock()
        self.gateway_up = True

    def route(self, sender: str, topic: str, data: bytes, qos: int) -> None:
        with self.lock:
            self.published.append((sender, topic))
            targets = [client for client, topic_filter in self.subscriptions
                       if matches(topic_filter, topic)]
        for client in targets:
            client.deliver(topic, data, qos)


class FakeGateway:
    """Forwards every reading on its filter as an aggregate of one on ``forward``, while up."""

    def __init__(self, broker: FakeBroker, topic_filter: str, forward: str) -> None:
        self.broker = broker
        self.forward = forward
        self.ids = itertools.count()
        broker.subscriptions.append((self, topic_filter))

    def deliver(self, topic: str, data: bytes, qos: int) -> None:
        if not self.broker.gateway_up:
            return
        reading = json.loads(data)
        aggregate = {**reading, "id": next(self.ids)}
        self.broker.route("gateway", self.forward, json.dumps(aggregate).encode(), qos)


def fake_paho(broker: FakeBroker) -> Any:
    """A module with paho's ``Client`` API, as much as the fleet run uses."""
    mids = itertools.count(1)

    class Client:
        def __init__(self, _api: Any, client_id: str = "", clean_session: bool = True,
                     protocol: Any = None) -> None:
            self.client_id = client_id
            self.username: str | None = None
            self.password: str | None = None
            self.on_connect = self.on_message = self.on_subscribe = None
            self.tls: Any = None

        def tls_set_context(self, context: Any) -> None:
            self.tls = context

        def username_pw_set(self, username: str, password: str) -> None:
            self.username, self.password = username, password

        def max_inflight_messages_set(self, _n: int) -> None: ...

        def max_queued_messages_set(self, _n: int) -> None: ...

        def connect(self, host: str, port: int, keepalive: int = 60) -> None:
            accepted = broker.users.get(self.username or "") == self.password
            reason = SimpleNamespace(is_failure=not accepted, value=0 if accepted else 5,
                                     __str__=lambda: "Not authorized")
            self.on_connect(self, None, None, reason, None)

        def loop_start(self) -> None: ...

        def loop_stop(self) -> None: ...

        def disconnect(self) -> None:
            with broker.lock:
                broker.subscriptions = [(c, f) for c, f in broker.subscriptions if c is not self]

        def subscribe(self, filters: list[tuple[str, int]]) -> tuple[int, int]:
            with broker.lock:
                broker.subscriptions.extend((self, topic) for topic, _ in filters)
            mid = next(mids)
            self.on_subscribe(self, None, mid,
                              [SimpleNamespace(is_failure=False, value=q) for _, q in filters],
                              None)
            return 0, mid

        def publish(self, topic: str, data: bytes, qos: int = 0, retain: bool = False) -> Any:
            broker.route(self.client_id, topic, data, qos)
            return SimpleNamespace(rc=0)

        def deliver(self, topic: str, data: bytes, qos: int) -> None:
            if self.on_message is not None:
                self.on_message(self, None, SimpleNamespace(topic=topic, payload=data, qos=qos,
                                                            retain=False))

    return SimpleNamespace(Client=Client, CallbackAPIVersion=SimpleNamespace(VERSION2=2),
                           MQTTv311=4)


@dataclass
class FakeDevice:
    name: str
    broker: FakeBroker
    environment: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    fail: bool = False

    def service(self, service: str) -> Service:
        return Service(f"xedgesim-{service}", self.environment)

    def stop(self, container: str) -> None:
        self.calls.append(f"stop {container}")
        if self.fail:
            raise RuntimeError("the engine is gone")
        self.broker.gateway_up = False

    def start(self, container: str) -> None:
        self.calls.append(f"start {container}")
        self.broker.gateway_up = True

    def isolate(self, container: str) -> list[str]:
        self.calls.append(f"isolate {container}")
        self.broker.gateway_up = False
        return ["xedgesim"]

    def rejoin(self, container: str, networks: list[str]) -> None:
        self.calls.append(f"rejoin {container} {','.join(networks)}")
        self.broker.gateway_up = True
