"""Sums of times the kernel computes are checked at load: int64 nanoseconds never wrap."""

from __future__ import annotations

import pytest

from xedgesim.scenario import Location
from xedgesim.scenario.horizon import hop_bound_ns, jitter_bound_ns
from xedgesim.scenario.model import Distribution, LinkSpec

from .helpers import FILE, load, one, problems

BASE = """\
duration: 60s
network:
  default: {latency: 5ms}
  links:
    - {between: [s, c], bandwidth: 10Mbit}
nodes:
  - {id: s, type: sensor, interval: 1s, to: c, payload: 1kB}
  - {id: c, type: cloud}
"""
PAST = ": added to a time in the run, that passes the simulator's limit of 2^62 ns (146 years)"
BIG = "4611686018427387904ns"  # 2^62


def test_a_huge_payload_over_a_slow_link_is_refused_at_the_link() -> None:
    """1 GiB at 1 bit/s: 272 years on the wire; the kernel used to fail with a negative time."""
    problem = one(BASE.replace("10Mbit", "1bit").replace("1kB", "1GiB"))
    assert problem.location == Location(FILE, 5, 7)
    assert problem.message == (
        "a message can take 272 years on the link s–c (1,073,741,824 bytes at its bandwidth, "
        f"plus latency and the largest jitter){PAST}"
    )


def test_latency_and_jitter_of_two_to_the_62_are_refused() -> None:
    text = BASE.replace("{latency: 5ms}", f"{{latency: {BIG}, jitter: {{exponential: {BIG}}}}}")
    (problem,) = [p for p in problems(text) if p.location == Location(FILE, 3, 12)]
    assert problem.message.startswith("a message can take ")
    assert "on the default link" in problem.message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("interval: 1s", f"interval: {BIG}"), "'interval' of node 's' is 146 years"),
        (("payload: 1kB", f"payload: 1kB, retry_interval: {BIG}"),
         "'retry_interval' of node 's' is 146 years"),
    ],
)
def test_node_delays_added_to_the_duration(change: tuple[str, str], message: str) -> None:
    problem = one(BASE.replace(*change))
    assert problem.location == Location(FILE, 7, 5)
    assert problem.message == message + PAST


def test_a_poisson_gap_counts_as_long_as_the_sampler_can_draw_it() -> None:
    """A periodic sensor adds one interval to a time; a Poisson one adds an exponential gap,
    up to 40 means: 4 years is fine for the first and 160 years for the second."""
    years4 = "126230400s"
    assert load(BASE.replace("interval: 1s", f"interval: {years4}")).node("s")
    problem = one(BASE.replace("interval: 1s", f"interval: {years4}, process: poisson"))
    assert problem.location == Location(FILE, 7, 5)
    assert problem.message == "'interval' of node 's' is 160 years" + PAST


def test_a_fault_for_that_ends_past_the_limit() -> None:
    text = BASE + f"faults:\n  - {{at: 1s, node: c, action: crash, for: {BIG}}}\n"
    problem = one(text)
    assert problem.location == Location(FILE, 10, 5)
    assert problem.message == "'for' of this crash is 146 years" + PAST


def test_the_duration_itself_leaves_room_for_delays() -> None:
    problem = one(BASE.replace("60s", "3000000000000000000ns"))
    assert str(problem) == (
        f"{FILE}:1:11: 'duration' in the scenario must be below 2^61 ns (about 73 years), "
        "found 95 years (see 'Limits' in docs/scenario.md)"
    )


def test_long_but_representable_values_still_load() -> None:
    text = BASE.replace("60s", "2305843009213693951ns").replace("10Mbit", "1bit")
    assert load(text).duration_ns == 2**61 - 1


@pytest.mark.parametrize(
    ("jitter", "bound"),
    [
        (None, 0.0),
        (Distribution("constant", (5.0,)), 5.0),
        (Distribution("uniform", (1.0, 3.0)), 3.0),
        (Distribution("exponential", (2.0,)), 80.0),
        (Distribution("normal", (10.0, 2.0)), 90.0),
    ],
)
def test_jitter_bounds(jitter: Distribution | None, bound: float) -> None:
    assert jitter_bound_ns(jitter) == bound


def test_hop_bound_counts_serialisation() -> None:
    spec = LinkSpec(latency_ns=10, jitter=Distribution("constant", (5.0,)), bandwidth_bps=8e9)
    assert hop_bound_ns(spec, 100) == 10 + 5 + 100
