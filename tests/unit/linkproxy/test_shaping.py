"""The shaping model with a fake clock: draws, delays, bandwidth, order, faults."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from xedgesim.linkproxy.shaping import (
    CONTROL,
    CUT,
    HOLD,
    MAIN,
    NO_DRAW,
    Direction,
    JitterDraws,
    LinkModel,
    LinkStreams,
    Unit,
)
from xedgesim.run import run_to_directory
from xedgesim.scenario import load_scenario_text
from xedgesim.scenario.model import Distribution, LinkSpec

MS = 1_000_000
EXP2 = Distribution("exponential", (2 * MS,))


def direction(model: LinkModel, seed: int = 7, name: str = "link:a->b:jitter") -> Direction:
    return Direction(model, {MAIN: JitterDraws(seed, name, 0, model.jitter),
                             CONTROL: JitterDraws(seed, name + ":control", 0, model.jitter)})


def run_spaced(d: Direction, count: int, gap_ns: int, size: int = 100,
               conn: object = "c") -> list[Unit]:
    """Offer ``count`` units ``gap_ns`` apart, collect everything delivered."""
    out: list[Unit] = []
    for k in range(count):
        now = k * gap_ns
        out += d.advance(now)
        d.offer(Unit(conn, size, now, data=b"x" * size), now)
    out += d.advance(10**15)
    return out


def test_the_proxy_draws_what_the_simulator_draws_on_the_same_link(tmp_path: Path) -> None:
    scenario = load_scenario_text(
        "name: same-draws\nseed: 11\nduration: 5s\n"
        "network: {default: {latency: 5ms, jitter: {exponential: 2ms}}}\n"
        "nodes:\n"
        "  - {id: sensors, type: sensor, count: 1, interval: 100ms, to: cloud}\n"
        "  - {id: cloud, type: cloud}\n", "same-draws.yaml")
    run_to_directory(scenario, tmp_path / "run", records=True)
    with (tmp_path / "run" / "records.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle)
                if r["flow"] == "sensors->cloud" and r["status"] == "delivered"]
    rows.sort(key=lambda r: int(r["message_id"]))
    simulated = [int(r["arrival_ns"]) - int(r["first_sent_ns"]) for r in rows]
    assert len(simulated) > 40
    streams = LinkStreams(seed=11, client="sensors", server="cloud")
    name, instance = streams.upstream()
    assert name == "link:sensors->cloud:jitter"
    d = Direction(LinkModel.from_spec(scenario.network.default),
                  {MAIN: JitterDraws(11, name, instance, EXP2)})
    delivered = run_spaced(d, len(simulated), 100 * MS)
    proxied = [u.deliver_ns - u.received_ns for u in delivered]
    assert proxied == simulated


def test_same_seed_same_schedule_other_seed_other_schedule() -> None:
    model = LinkModel(5 * MS, EXP2)
    first = [u.deliver_ns for u in run_spaced(direction(model, seed=1), 200, MS)]
    again = [u.deliver_ns for u in run_spaced(direction(model, seed=1), 200, MS)]
    other = [u.deliver_ns for u in run_spaced(direction(model, seed=2), 200, MS)]
    assert first == again
    assert first != other


@pytest.mark.parametrize("jitter, median_ns", [
    (Distribution("exponential", (2 * MS,)), 2 * MS * math.log(2)),
    (Distribution("uniform", (1 * MS, 3 * MS)), 2 * MS),
    (Distribution("normal", (3 * MS, 0.5 * MS)), 3 * MS),
    (Distribution("constant", (1.5 * MS,)), 1.5 * MS),
])
def test_delays_follow_the_distribution(jitter: Distribution, median_ns: float) -> None:
    d = direction(LinkModel(10 * MS, jitter))
    delivered = run_spaced(d, 20_000, 20 * MS)  # far apart: no head-of-line waiting
    delays = np.array([u.deliver_ns - u.received_ns for u in delivered]) - 10 * MS
    assert delays.min() >= 0
    assert abs(np.median(delays) - median_ns) <= 0.02 * median_ns
    if jitter.kind == "exponential":
        assert abs(delays.mean() - 2 * MS) <= 0.03 * 2 * MS
        # the tail too: P(X > 3 mean) = e^-3
        assert abs((delays > 6 * MS).mean() - math.exp(-3)) < 0.01


def test_bandwidth_serialises_fifo_in_exact_integers() -> None:
    d = direction(LinkModel(0, None, 1e6))  # 1 Mbit/s: 1000 B take 8 ms
    for _ in range(3):
        d.offer(Unit("c", 1000, 0), 0)
    d.offer(Unit("other", 500, 0), 0)  # one queue for every connection
    delivered = d.advance(10**12)
    assert [u.deliver_ns for u in delivered] == [8 * MS, 16 * MS, 24 * MS, 28 * MS]
    assert LinkModel(bandwidth_bps=56_000).serialisation_ns(7) == MS  # as the simulator
    assert LinkModel(bandwidth_bps=3e6).serialisation_ns(1) == 2667  # rounded up
    with_headers = LinkModel(bandwidth_bps=1e6, overhead_bytes=54)
    assert with_headers.serialisation_ns(946) == 8 * MS


def test_a_unit_arriving_at_an_idle_link_starts_at_once() -> None:
    d = direction(LinkModel(2 * MS, None, 8e6))  # 1 B per µs
    d.offer(Unit("c", 1000, 0), 0)
    d.offer(Unit("c", 1000, 5 * MS), 5 * MS)  # the first ended at 1 ms: wire idle
    assert [u.deliver_ns for u in d.advance(10**12)] == [3 * MS, 8 * MS]


def test_order_is_kept_within_a_connection_not_across() -> None:
    d = direction(LinkModel(0, Distribution("uniform", (0, 10 * MS))))
    out: list[Unit] = []
    for k in range(400):
        now = k * 100_000
        out += d.advance(now)
        d.offer(Unit(k % 2, 10, now, data=bytes([k % 256])), now)
    out += d.advance(10**12)
    for conn in (0, 1):
        mine = [u for u in out if u.conn == conn]
        assert [u.received_ns for u in mine] == sorted(u.received_ns for u in mine)
        times = [u.deliver_ns for u in mine]
        assert times == sorted(times)
        last = 0
        for unit in mine:  # delivered at its own arrival, or right behind the unit before
            arrival = unit.departure_ns + unit.jitter_ns
            assert unit.deliver_ns == max(arrival, last)
            last = unit.deliver_ns
    received = [u.received_ns for u in out]
    assert received != sorted(received)  # the two connections overtake each other


def test_control_packets_draw_from_their_own_stream() -> None:
    model = LinkModel(0, EXP2)
    d = direction(model)
    d.offer(Unit("c", 5, 0, CONTROL), 0)  # a PUBACK between two PUBLISHes
    d.offer(Unit("c", 5, 0, MAIN), 0)
    d.offer(Unit("c", 5, 0, NO_DRAW, eof=True), 0)
    units = d.advance(10**12)
    reference = JitterDraws(7, "link:a->b:jitter", 0, EXP2)
    assert units[1].jitter_ns == reference.next()  # the first PUBLISH gets draw 0
    assert units[2].eof and units[2].jitter_ns == 0
    assert d.draws[MAIN].drawn == 1 and d.draws[CONTROL].drawn == 1


def test_hold_keeps_what_had_not_left_and_releases_it_in_order() -> None:
    d = direction(LinkModel(10 * MS, None, 8e6))  # 1000 B = 1 ms on the wire
    d.offer(Unit("c", 1000, 0), 0)  # departs at 1 ms, arrives at 11 ms
    d.offer(Unit("c", 1000, 0), 0)  # on the wire from 1 ms to 2 ms
    d.down(int(1.5 * MS), HOLD)  # interrupts the second one
    assert d.offer(Unit("c", 1000, 3 * MS), 3 * MS)  # held
    assert [u.deliver_ns for u in d.advance(20 * MS)] == [11 * MS]  # the first one was on its way
    assert d.advance(50 * MS) == []
    d.up(100 * MS)
    later = d.advance(10**12)
    # serialised again, whole, from the moment the link came back, in their order
    assert [u.deliver_ns for u in later] == [111 * MS, 112 * MS]
    assert [u.received_ns for u in later] == [0, 3 * MS]
    assert d.stats.held_units == 2 and d.stats.dropped_units == 0


def test_cut_drops_what_had_not_left_and_everything_while_down() -> None:
    d = direction(LinkModel(10 * MS, None, 8e6))
    d.offer(Unit("c", 1000, 0), 0)
    d.offer(Unit("c", 1000, 0), 0)
    dropped = d.down(int(1.5 * MS), CUT)
    assert [u.received_ns for u in dropped] == [0]
    assert not d.offer(Unit("c", 1000, 3 * MS), 3 * MS)
    assert [u.deliver_ns for u in d.advance(10**12)] == [11 * MS]  # departed before the cut
    assert (d.stats.dropped_units, d.stats.dropped_bytes) == (2, 2000)
    d.up(200 * MS)
    d.offer(Unit("c", 1000, 200 * MS), 200 * MS)
    assert [u.deliver_ns for u in d.advance(10**12)] == [211 * MS]


def test_a_connections_end_follows_its_data_and_forget_drops_a_connection() -> None:
    d = direction(LinkModel(5 * MS, Distribution("constant", (3 * MS,))))
    d.offer(Unit("c", 10, 0), 0)
    d.offer(Unit("c", 0, 0, NO_DRAW, eof=True), 0)
    d.offer(Unit("gone", 10, 0), 0)
    assert d.pending("gone")
    assert d.forget("gone") == 1
    out = d.advance(10**12)
    assert [(u.conn, u.eof, u.deliver_ns) for u in out] == [("c", False, 8 * MS),
                                                            ("c", True, 8 * MS)]
    assert not d.pending("c")


def test_next_deadline_says_when_to_come_back() -> None:
    d = direction(LinkModel(5 * MS, None, 8e6))
    assert d.next_deadline() is None
    d.offer(Unit("c", 1000, 0), 0)
    assert d.next_deadline() == MS  # its departure, when its draw is made
    d.advance(MS)
    assert d.next_deadline() == 6 * MS


def test_bad_models_are_refused() -> None:
    with pytest.raises(ValueError, match="latency"):
        LinkModel(-1)
    with pytest.raises(ValueError, match="bandwidth"):
        LinkModel(bandwidth_bps=0)
    with pytest.raises(ValueError, match="fault mode"):
        direction(LinkModel()).down(0, "pause")
    assert LinkModel.from_spec(LinkSpec(latency_ns=MS, loss=0.5)) == LinkModel(MS)


def test_a_link_that_changes_over_time_is_refused_before_anything_listens() -> None:
    """The proxy keeps one model for its life: a scheduled link is refused, exit 2, saying
    where its schedule is written (nothing is started, so no socket is needed)."""
    from xedgesim.linkproxy import LinkProxyError, start

    scenario = load_scenario_text(
        "duration: 10s\nnetwork: {default: {latency: 5ms, schedule: [{at: 1s, latency: 9ms}]}}\n"
        "nodes: [{id: s, type: sensor, interval: 1s, to: c}, {id: c, type: cloud}]\n", "s.yaml")
    with pytest.raises(LinkProxyError) as info:
        start(scenario.network.default, upstream=("127.0.0.1", 9))
    assert info.value.exit_code == 2
    assert str(info.value).startswith("the link changes over time (its schedule or trace, "
                                      "s.yaml:2:45)")
