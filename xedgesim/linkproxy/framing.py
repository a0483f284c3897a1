"""Cutting a byte stream into units, the pieces of traffic that each get one delay.

``segment``: any TCP protocol. What one read returns is cut into segments of at most
``segment_bytes`` (1460 by default, the TCP payload of a full Ethernet frame); each is a unit.
How a sender's writes are split into reads is up to TCP, so a unit is *not* an application
message: two small writes close together may travel as one unit.

``mqtt``: one unit per MQTT control packet (fixed header, remaining length, body), as the
simulator has one delay per message. A packet's bytes wait at the proxy until its last byte
is there. PUBLISH packets draw from the link's stream, other packets (CONNECT, PUBACK,
PINGREQ, ...) from its ``:control`` stream. A packet that announces more than
``MAX_MQTT_UNIT`` bytes, a malformed length, or a first byte whose flags no MQTT packet has
(a TLS record, 0x16 ...) turns the rest of that direction of the connection into segments:
the proxy never holds an unbounded packet, and never waits for bytes a non-MQTT peer will
not send (MQTT over TLS is framed as segments).
"""

from __future__ import annotations

from xedgesim.linkproxy.shaping import CONTROL, MAIN

SEGMENT = "segment"
MQTT = "mqtt"
FRAMINGS = (SEGMENT, MQTT)
SEGMENT_BYTES = 1460
MAX_MQTT_UNIT = 1 << 20
_PUBLISH = 3


class Framer:
    """Bytes in, units out: ``feed`` returns ``(data, draw)`` pairs, in stream order."""

    def __init__(self, framing: str = SEGMENT, segment_bytes: int = SEGMENT_BYTES) -> None:
        if framing not in FRAMINGS:
            raise ValueError(f"unknown framing {framing!r} (known: {', '.join(FRAMINGS)})")
        if segment_bytes < 1:
            raise ValueError(f"segment_bytes must be >= 1, found {segment_bytes}")
        self.framing = framing
        self.segment_bytes = segment_bytes
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, int]]:
        if self.framing == SEGMENT:
            return self._segments(data)
        self._buffer += data
        return self._packets()

    def finish(self) -> list[tuple[bytes, int]]:
        """At the end of the stream: the bytes of an incomplete packet, as segments."""
        rest, self._buffer = bytes(self._buffer), bytearray()
        return self._segments(rest)

    def pending(self) -> int:
        """Bytes of an incomplete MQTT packet waiting for the rest."""
        return len(self._buffer)

    def _segments(self, data: bytes) -> list[tuple[bytes, int]]:
        step = self.segment_bytes
        if len(data) <= step:
            return [(data, MAIN)] if data else []
        return [(data[i:i + step], MAIN) for i in range(0, len(data), step)]

    def _packets(self) -> list[tuple[bytes, int]]:
        units: list[tuple[bytes, int]] = []
        buffer = self._buffer
        at = 0
        while len(buffer) - at >= 2:
            if not _valid_header(buffer[at]):  # not MQTT (a TLS record starts 0x16)
                return self._give_up(units, at)
            length, shift, pos = 0, 0, at + 1
            while True:
                if pos >= len(buffer):
                    length = -1  # the length is not complete yet
                    break
                byte = buffer[pos]
                length |= (byte & 0x7F) << shift
                pos += 1
                if not byte & 0x80:
                    break
                shift += 7
                if shift > 21:  # more than four length bytes: not MQTT
                    length = -2
                    break
            if length == -1:
                break
            if length == -2 or length > MAX_MQTT_UNIT:
                return self._give_up(units, at)
            end = pos + length
            if end > len(buffer):
                break
            kind = buffer[at] >> 4
            units.append((bytes(buffer[at:end]), MAIN if kind == _PUBLISH else CONTROL))
            at = end
        if at:
            del buffer[:at]
        return units

    def _give_up(self, units: list[tuple[bytes, int]], at: int) -> list[tuple[bytes, int]]:
        """The rest of this stream is not MQTT the proxy can frame: segments from here on."""
        rest = bytes(self._buffer[at:])
        self._buffer = bytearray()
        self.framing = SEGMENT
        return units + self._segments(rest)


def _valid_header(first: int) -> bool:
    """Are the flags of this fixed header's first byte the ones its packet type requires?"""
    kind, flags = first >> 4, first & 0x0F
    if kind == _PUBLISH:
        return flags & 0x06 != 0x06  # QoS 3 does not exist
    if kind in (6, 8, 10):  # PUBREL, SUBSCRIBE, UNSUBSCRIBE
        return flags == 0x02
    return kind != 0 and flags == 0
