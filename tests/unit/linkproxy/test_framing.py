"""Cutting byte streams into units: segments, MQTT packets."""

from __future__ import annotations

import pytest

from xedgesim.linkproxy.framing import MAX_MQTT_UNIT, MQTT, SEGMENT, Framer
from xedgesim.linkproxy.selfcheck import publish_packet
from xedgesim.linkproxy.shaping import CONTROL, MAIN

PUBACK = bytes([0x40, 0x02, 0x00, 0x01])
PINGREQ = bytes([0xC0, 0x00])


def test_segments_cut_each_read_at_the_segment_size() -> None:
    framer = Framer(SEGMENT, segment_bytes=4)
    assert framer.feed(b"abcdefghij") == [(b"abcd", MAIN), (b"efgh", MAIN), (b"ij", MAIN)]
    assert framer.feed(b"k") == [(b"k", MAIN)]
    assert framer.feed(b"") == []


def test_mqtt_packets_split_across_reads_come_out_whole() -> None:
    big = publish_packet(300)  # two bytes of remaining length
    stream = PUBACK + big + PINGREQ + publish_packet(20)
    framer = Framer(MQTT)
    units = []
    for i in range(0, len(stream), 7):
        units += framer.feed(stream[i:i + 7])
    assert [data for data, _ in units] == [PUBACK, big, PINGREQ, publish_packet(20)]
    assert [draw for _, draw in units] == [CONTROL, MAIN, CONTROL, MAIN]
    assert framer.pending() == 0


def test_an_incomplete_packet_waits_and_is_flushed_as_segments_at_the_end() -> None:
    framer = Framer(MQTT)
    assert framer.feed(publish_packet(50)[:30]) == []
    assert framer.pending() == 30
    assert framer.finish() == [(publish_packet(50)[:30], MAIN)]


@pytest.mark.parametrize("header", [
    bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),  # five length bytes: not MQTT
    bytes([0x30, 0x81, 0x80, 0x80, 0x01]),  # 2 MiB + 1: over the bound
    bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]),  # a TLS ClientHello: no MQTT packet has 0x16
    bytes([0x80, 0x05, 0x00, 0x01]),  # SUBSCRIBE must have flags 2, not 0
])
def test_malformed_or_huge_packets_turn_the_stream_into_segments(header: bytes) -> None:
    framer = Framer(MQTT, segment_bytes=4)
    units = framer.feed(PUBACK + header)
    assert units[0] == (PUBACK, CONTROL)
    assert b"".join(data for data, _ in units[1:]) == header
    assert framer.framing == SEGMENT
    assert MAX_MQTT_UNIT < 2 << 20


def test_mqtt_over_tls_is_framed_as_segments_from_its_first_byte() -> None:
    framer = Framer(MQTT, segment_bytes=1460)
    hello = bytes([0x16, 0x03, 0x01, 0x00, 0x05]) + b"hello"  # announces far more than sent
    assert framer.feed(hello) == [(hello, MAIN)]  # nothing waits for bytes that never come
    assert framer.framing == SEGMENT


def test_publish_packets_of_any_size_parse_back() -> None:
    for size in (5, 64, 129, 131, 16_000, 16_386, 16_388, 20_000):
        packet = publish_packet(size)
        assert len(packet) == size
        assert Framer(MQTT).feed(packet) == [(packet, MAIN)]
    for size in (4, 130, 16_387):
        with pytest.raises(ValueError, match="no PUBLISH"):
            publish_packet(size)


def test_unknown_framing_is_refused() -> None:
    with pytest.raises(ValueError, match="framing"):
        Framer("http")
