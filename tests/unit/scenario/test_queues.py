"""A link's ``buffer`` and ``queue``, a sender's ``buffer``: read, merged over the default
link, and refused where written when there is no queue for them."""

from __future__ import annotations

import pytest

from xedgesim.scenario.model import Buffer

from .helpers import load, messages, scenario_text


def test_buffers_and_queue_kinds_are_read_and_merged_over_the_default_link() -> None:
    scenario = load(scenario_text(
        nodes="""\
  - {id: sensors, type: sensor, count: 3, interval: 1s, to: gw1, buffer: 16kB}
  - {id: gw1, type: gateway, to: cloud, buffer: 8}
  - {id: broker, type: broker}
  - {id: cloud, type: cloud}
""",
        network="""
        default: {bandwidth: 1Mbit, buffer: 64, queue: shared}
        links:
          - {between: [sensors, gw1], buffer: 256kB, queue: per_sender}
          - {between: [gw1, cloud], queue: per_sender}
          - {between: [broker, cloud], bandwidth: unlimited, buffer: unlimited,
             queue: per_sender}
        """))
    network = scenario.network
    assert network.default.buffer == Buffer(messages=64)
    assert network.default.queue == "shared"
    by_pair = {(link.a, link.b): link.spec for link in network.links}
    assert by_pair["sensors", "gw1"].buffer == Buffer(size_bytes=256_000)
    assert by_pair["sensors", "gw1"].queue == "per_sender"
    assert by_pair["broker", "cloud"].buffer is None
    sensors, gateway = scenario.node("sensors"), scenario.node("gw1")
    assert sensors.params.publish.buffer == Buffer(size_bytes=16_000)
    assert gateway.params.publish.buffer == Buffer(messages=8)
    assert network.between("cloud", "gw1") is by_pair["gw1", "cloud"]
    assert network.between("broker", "gw1") is network.default


def test_without_a_buffer_nothing_changes() -> None:
    scenario = load(scenario_text(network="default: {bandwidth: 1Mbit}"))
    assert scenario.network.default.buffer is None
    assert scenario.network.default.queue == "per_sender"
    assert scenario.node("sensors").params.publish.buffer is None


def _problem_at(text: str, marker: str, at: str, message: str) -> None:
    """``message`` reported at the first ``at`` after ``marker`` on the line holding it."""
    lines = text.splitlines()
    line_number = next(n for n, line in enumerate(lines, 1) if marker in line)
    line = lines[line_number - 1]
    column = line.index(at, line.index(marker)) + 1
    found = messages(text)
    assert any(f.startswith(f"s.yaml:{line_number}:{column}: {message}") for f in found), found


@pytest.mark.parametrize(("link", "at", "message"), [
    ("buffer: 0", "0", "'buffer' in the default link must be at least 1, found 0"),
    ("buffer: 2000000000", "2000000000",
     "'buffer' in the default link must be at most 1000000000"),
    ("buffer: 1.5", "1.5", "'buffer' in the default link must be a number of messages such "
                           "as 64 or a size such as '256kB', found 1.5"),
    ("buffer: 10kbit", "10kbit", "'buffer' in the default link needs a size unit"),
    ("buffer: [1]", "[1]", "'buffer' in the default link must be a number of messages"),
    ("queue: fifo", "fifo", "'queue' in the default link must be one of per_sender or shared"),
    ("buffer: 64", "buffer", "the default link has 'buffer' but no 'bandwidth': without one"),
    ("queue: shared", "queue", "the default link has 'queue: shared' but no 'bandwidth'"),
])
def test_a_wrong_link_buffer_or_queue_is_reported_where_it_is_written(
        link: str, at: str, message: str) -> None:
    bandwidth = "" if "but no" in message else "bandwidth: 1Mbit, "
    text = scenario_text(network=f"default: {{{bandwidth}{link}}}")
    _problem_at(text, "default:", at, message)


def test_a_link_that_lifts_the_default_bandwidth_but_keeps_its_buffer_is_refused() -> None:
    text = scenario_text(network="""
        default: {bandwidth: 1Mbit, buffer: 64}
        links:
          - {between: [gw1, cloud], bandwidth: unlimited}
        """)
    _problem_at(text, "gw1, cloud", "bandwidth",
                "the link gw1–cloud has 'buffer' but no 'bandwidth'")
    assert len(messages(text)) == 1


def test_a_default_link_problem_is_reported_once_not_by_every_link_inheriting_it() -> None:
    text = scenario_text(network="""
        default: {buffer: 64}
        links:
          - {between: [gw1, cloud], latency: 1ms}
        """)
    assert len(messages(text)) == 1


@pytest.mark.parametrize(("network", "message"), [
    ("default: {latency: 1ms}",
     "'buffer' of node 'sensors' limits its queue on the link to 'gw1', which has no "
     "'bandwidth'"),
    ("default: {bandwidth: 1Mbit, queue: shared}",
     "'buffer' of node 'sensors' limits its own queue on the link to 'gw1', but that link "
     "has one queue shared by all its senders"),
])
def test_a_sender_buffer_without_a_queue_of_its_own_is_refused_where_written(
        network: str, message: str) -> None:
    text = scenario_text(network=network, nodes="""\
  - {id: sensors, type: sensor, count: 3, interval: 1s, to: gw1, buffer: 4}
  - {id: gw1, type: gateway, to: cloud}
  - {id: cloud, type: cloud}
""")
    _problem_at(text, "buffer: 4", "4}", message)


def test_a_schedule_that_gives_a_link_a_bandwidth_gives_it_a_queue() -> None:
    scenario = load(scenario_text(network="""
        default: {buffer: 8, schedule: [{at: 5s, bandwidth: 32kbit}]}
        """))
    assert scenario.network.default.buffer == Buffer(messages=8)
