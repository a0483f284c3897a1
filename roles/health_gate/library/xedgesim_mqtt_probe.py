#!/usr/bin/python3
"""Ansible module: the deploy gate's MQTT probe, run on the device against its own broker."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: xedgesim_mqtt_probe
short_description: Prove a device's broker and gateway work end to end over MQTT
description:
  - Runs on the device (standard library only, MQTT 3.1.1 over TLS, or a plain socket).
  - With O(tls), the broker's certificate is verified against O(tls_ca) and must name O(host).
  - Optionally checks that an anonymous client is refused.
  - Connects as an authenticated client, subscribes to the gateway's upstream topic, publishes
    one reading on a sensor topic and waits for the gateway's aggregate that contains it.
  - The reading is recognised in the aggregate by its C(origin_ns), a random number far older
    than any real reading, so the aggregate of a window that also holds real sensors' readings
    carries it as its oldest origin. The probe reading does count in that window's mean.
  - Never changes anything on the device (C(changed) is always false).
options:
  host: {description: The broker's address, type: str, default: 127.0.0.1}
  port: {description: The broker's MQTT port (its TLS port with O(tls)), type: int, default: 1883}
  tls: {description: Speak TLS and verify the broker's certificate, type: bool, default: false}
  tls_ca: {description: "The CA file to verify it with, on the device (empty: the system's CAs)", type: path}
  username: {description: The probe's MQTT user, type: str, required: true}
  password: {description: Its password, type: str, required: true}
  publish_topic: {description: Where the reading is published (a sensor topic), type: str, required: true}
  expect_topic: {description: Where the gateway publishes its aggregates, type: str, required: true}
  timeout: {description: Seconds to wait for the aggregate (the gateway's window plus a margin), type: float, default: 15}
  value: {description: The reading's value, type: float, default: 0.0}
  check_anonymous_refused: {description: Fail when the broker accepts a client without credentials, type: bool, default: true}
"""

RETURN = r"""
latency_s: {description: Seconds from the reading's PUBACK to the aggregate holding it, type: float, returned: success}
aggregate: {description: The aggregate that carried the reading, type: dict, returned: success}
others: {description: Other messages seen on the upstream topic meanwhile, type: int, returned: always}
anonymous_refused: {description: Whether an anonymous client was refused (null when not checked), type: bool, returned: always}
"""

import json
import os
import secrets
import socket
import ssl
import struct
import time

from ansible.module_utils.basic import AnsibleModule

CONNACK_REASONS = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}


class ProbeError(Exception):
    pass


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("!H", len(data)) + data


def _packet(kind: int, body: bytes) -> bytes:
    length, encoded = len(body), bytearray()
    while True:
        digit, length = length % 128, length // 128
        encoded.append(digit | (0x80 if length else 0))
        if not length:
            return bytes([kind]) + bytes(encoded) + body


class Client:
    """Just enough MQTT 3.1.1 for the probe: connect, subscribe, publish QoS 1, receive."""

    def __init__(self, host: str, port: int, deadline: float,
                 tls: ssl.SSLContext | None = None) -> None:
        self.deadline = deadline
        try:
            self.sock = socket.create_connection((host, port), timeout=self._left())
        except OSError as error:
            raise ProbeError(f"cannot connect to {host}:{port}: {error}") from None
        if tls is not None:
            try:
                self.sock = tls.wrap_socket(self.sock, server_hostname=host)
            except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
                self.sock.close()
                raise ProbeError(f"no TLS with the broker on {host}:{port}: {error}") from None
        self.buffer = b""
        self.next_id = 1

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left

    def _read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self.sock.settimeout(self._left())
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError from None
            if not chunk:
                raise ProbeError("the broker closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def receive(self) -> tuple[int, bytes]:
        """The next packet: (first byte, body)."""
        first = self._read(1)[0]
        length, shift = 0, 0
        while True:
            byte = self._read(1)[0]
            length += (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        return first, self._read(length)

    def send(self, data: bytes) -> None:
        self.sock.settimeout(self._left())
        self.sock.sendall(data)

    def connect(self, client_id: str, username: str | None, password: str | None,
                keepalive: int) -> int:
        """CONNECT with a clean session; the CONNACK's return code."""
        flags = 0x02
        payload = _string(client_id)
        if username is not None:
            flags |= 0x80
            payload += _string(username)
            if password is not None:
                flags |= 0x40
                payload += _string(password)
        header = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive)
        self.send(_packet(0x10, header + payload))
        first, body = self.receive()
        if first != 0x20 or len(body) != 2:
            raise ProbeError(f"expected a CONNACK, got packet type {first >> 4}")
        return body[1]

    def packet_id(self) -> int:
        pid, self.next_id = self.next_id, self.next_id % 65535 + 1
        return pid

    def subscribe(self, topic: str, qos: int) -> int:
        pid = self.packet_id()
        self.send(_packet(0x82, struct.pack("!H", pid) + _string(topic) + bytes([qos])))
        return pid

    def publish(self, topic: str, payload: bytes) -> int:
        pid = self.packet_id()
        self.send(_packet(0x32, _string(topic) + struct.pack("!H", pid) + payload))
        return pid

    def ack(self, pid: int) -> None:
        self.send(_packet(0x40, struct.pack("!H", pid)))

    def close(self) -> None:
        try:
            self.sock.settimeout(1)
            self.sock.sendall(b"\xe0\x00")
        except OSError:
            pass
        self.sock.close()


def parse_publish(first: int, body: bytes) -> tuple[str, int | None, bytes]:
    (size,) = struct.unpack("!H", body[:2])
    topic = body[2:2 + size].decode("utf-8", "replace")
    rest = body[2 + size:]
    pid = None
    if (first >> 1) & 0x03:
        (pid,) = struct.unpack("!H", rest[:2])
        rest = rest[2:]
    return topic, pid, rest


def tls_context(params: dict) -> ssl.SSLContext | None:
    if not params["tls"]:
        return None
    return ssl.create_default_context(cafile=params["tls_ca"] or None)


def anonymous_refused(host: str, port: int, deadline: float,
                      tls: ssl.SSLContext | None) -> bool:
    client = Client(host, port, deadline, tls)
    try:
        return client.connect("xedgesim-probe-anon-" + secrets.token_hex(4), None, None, 10) != 0
    except ProbeError:
        return True  # a broker may also just close the connection
    finally:
        client.close()


def probe(params: dict) -> dict:
    started = time.monotonic()
    result: dict = {"others": 0, "anonymous_refused": None}
    host, port = params["host"], params["port"]
    if params["check_anonymous_refused"]:
        result["anonymous_refused"] = anonymous_refused(host, port, started + 10,
                                                        tls_context(params))
        if not result["anonymous_refused"]:
            raise ProbeError(f"the broker on {host}:{port} accepted a client without credentials",
                             result)
    # Far older than any real reading (ns since 1970, below one day), unique to this probe.
    origin_ns = secrets.randbelow(86_400 * 10**9 - 1) + 1
    reading = {"id": 0, "value": params["value"], "vmin": params["value"],
               "vmax": params["value"], "n": 1, "origin_ns": origin_ns}
    timeout = params["timeout"]
    client = Client(host, port, time.monotonic() + 10, tls_context(params))
    try:
        code = client.connect(f"xedgesim-probe-{os.getpid()}-{secrets.token_hex(4)}",
                              params["username"], params["password"], int(timeout) + 30)
        if code:
            reason = CONNACK_REASONS.get(code, "refused")
            raise ProbeError(f"the broker refused {params['username']!r}: {reason} (code {code})",
                             result)
        sub_id = client.subscribe(params["expect_topic"], 1)
        first, body = client.receive()
        while first >> 4 != 9:  # SUBACK; nothing else is due before it
            first, body = client.receive()
        if struct.unpack("!H", body[:2])[0] != sub_id or body[2] >= 0x80:
            raise ProbeError(f"the broker refused {params['username']!r} a subscription to "
                             f"{params['expect_topic']} (ACL?)", result)
        pub_id = client.publish(params["publish_topic"], json.dumps(reading).encode())
        published = None
        client.deadline = time.monotonic() + timeout
        while True:
            first, body = client.receive()
            kind = first >> 4
            if kind == 4 and struct.unpack("!H", body[:2])[0] == pub_id:
                published = time.monotonic()
            elif kind == 3:
                topic, pid, payload = parse_publish(first, body)
                if pid is not None:
                    client.ack(pid)
                try:
                    message = json.loads(payload)
                except ValueError:
                    message = None
                if isinstance(message, dict) and message.get("origin_ns") == origin_ns:
                    result["aggregate"] = message
                    result["latency_s"] = round(time.monotonic() - (published or started), 3)
                    return result
                result["others"] += 1
    except TimeoutError:
        seen = (f"{result['others']} other message(s) arrived there"
                if result["others"] else "nothing arrived there")
        raise ProbeError(
            f"no aggregate holding the probe's reading (published on {params['publish_topic']}) "
            f"reached {params['expect_topic']} within {timeout:g}s; {seen}. Is the gateway "
            "connected, subscribed to the probe's topic and allowed to publish upstream?",
            result) from None
    finally:
        client.close()


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "host": {"type": "str", "default": "127.0.0.1"},
            "port": {"type": "int", "default": 1883},
            "tls": {"type": "bool", "default": False},
            "tls_ca": {"type": "path"},
            "username": {"type": "str", "required": True},
            "password": {"type": "str", "required": True, "no_log": True},
            "publish_topic": {"type": "str", "required": True},
            "expect_topic": {"type": "str", "required": True},
            "timeout": {"type": "float", "default": 15.0},
            "value": {"type": "float", "default": 0.0},
            "check_anonymous_refused": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    try:
        result = probe(module.params)
    except ProbeError as error:
        details = error.args[1] if len(error.args) > 1 else {}
        module.fail_json(msg=str(error.args[0]), changed=False, **details)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
