"""Counter-based streams: draw k of instance i depends only on (seed, name, i, k)."""

from __future__ import annotations

import itertools
from random import Random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from xedgesim.sim.rng import Streams, occurrence_rank, stream_key


def _draws(streams: Streams, instances: list[int]) -> np.ndarray:
    return streams.uniform(np.array(instances, dtype=np.int64))


def test_uniforms_lie_in_the_half_open_unit_interval() -> None:
    streams = Streams(7, "link", 1_000)
    values = _draws(streams, list(range(1_000)) * 100)
    assert values.dtype == np.float64
    assert values.shape == (100_000,)
    assert values.min() >= 0.0
    assert values.max() < 1.0


def test_empty_draw_is_empty_and_does_not_advance() -> None:
    streams = Streams(1, "x", 3)
    assert streams.uniform(np.array([], dtype=np.int64)).shape == (0,)
    assert streams.uniform([]).shape == (0,)
    np.testing.assert_array_equal(_draws(streams, [0, 1, 2]), _draws(Streams(1, "x", 3), [0, 1, 2]))


def test_same_seed_and_name_give_the_same_values() -> None:
    instances = [0, 3, 3, 1, 2, 0, 4]
    first = _draws(Streams(42, "jitter:a->b", 5), instances)
    second = _draws(Streams(42, "jitter:a->b", 5), instances)
    np.testing.assert_array_equal(first, second)


def test_a_different_name_or_seed_gives_different_values() -> None:
    instances = list(range(10)) * 3
    base = _draws(Streams(42, "loss", 10), instances)
    other_name = _draws(Streams(42, "loss2", 10), instances)
    other_seed = _draws(Streams(43, "loss", 10), instances)
    assert not np.any(base == other_name)
    assert not np.any(base == other_seed)


def test_stream_key_is_stable_and_64_bit() -> None:
    assert stream_key(1, "a") == stream_key(1, "a")
    assert stream_key(1, "a") != stream_key(2, "a")
    assert stream_key(1, "a") != stream_key(1, "b")
    assert 0 <= stream_key(123, "sensor") < 2**64


def test_consecutive_draws_of_one_instance_differ() -> None:
    values = _draws(Streams(0, "x", 1), [0] * 1_000)
    assert len(np.unique(values)) == 1_000


def test_a_repeated_instance_gets_its_consecutive_draws_in_order() -> None:
    at_once = _draws(Streams(5, "x", 4), [2, 0, 2, 2, 0])
    streams = Streams(5, "x", 4)
    one_by_one = [float(_draws(streams, [i])[0]) for i in [2, 0, 2, 2, 0]]
    np.testing.assert_array_equal(at_once, one_by_one)


def test_batch_invariance_example() -> None:
    at_once = _draws(Streams(9, "s", 3), [0, 1, 2, 0])
    streams = Streams(9, "s", 3)
    pieces = np.concatenate([_draws(streams, [0]), _draws(streams, [1, 2]), _draws(streams, [0])])
    np.testing.assert_array_equal(at_once, pieces)


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**64),
    count=st.integers(1, 8),
    raw=st.lists(st.integers(0, 1_000), max_size=40),
    cuts=st.lists(st.integers(0, 40), max_size=6),
)
def test_batch_invariance(seed: int, count: int, raw: list[int], cuts: list[int]) -> None:
    instances = [i % count for i in raw]
    at_once = _draws(Streams(seed, "stream", count), instances)
    streams = Streams(seed, "stream", count)
    bounds = [0, *sorted(min(c, len(instances)) for c in cuts), len(instances)]
    pieces = [_draws(streams, instances[a:b]) for a, b in itertools.pairwise(bounds)]
    np.testing.assert_array_equal(at_once, np.concatenate(pieces))


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32), instance=st.integers(0, 4), draws=st.integers(1, 20))
def test_draws_do_not_depend_on_the_fleet_size(seed: int, instance: int, draws: int) -> None:
    small = _draws(Streams(seed, "fleet", 5), [instance] * draws)
    large = _draws(Streams(seed, "fleet", 50), [instance] * draws)
    np.testing.assert_array_equal(small, large)


def test_instance_three_of_a_grown_fleet_is_unchanged() -> None:
    small = _draws(Streams(11, "sensor", 5), [3, 3, 3])
    large = Streams(11, "sensor", 50)
    _draws(large, [i for i in range(50) if i != 3])  # the new neighbours draw first
    np.testing.assert_array_equal(small, _draws(large, [3, 3, 3]))


def test_other_instances_drawing_does_not_shift_a_stream() -> None:
    alone = _draws(Streams(3, "x", 3), [1, 1, 1])
    streams = Streams(3, "x", 3)
    mixed = [_draws(streams, [0, 1, 2, 2])[1], _draws(streams, [2, 1, 0])[1],
             _draws(streams, [1])[0]]
    np.testing.assert_array_equal(alone, mixed)


def test_rough_uniformity() -> None:
    values = _draws(Streams(2024, "uniformity", 1_000), list(range(1_000)) * 100)
    assert abs(values.mean() - 0.5) < 0.005
    assert abs(values.var() - 1 / 12) < 0.002
    counts, _ = np.histogram(values, bins=20, range=(0.0, 1.0))
    assert np.all(np.abs(counts - 5_000) < 500)
    # successive draws of one instance are not correlated
    per_instance = values.reshape(100, 1_000)
    lag_one = np.corrcoef(per_instance[:-1].ravel(), per_instance[1:].ravel())[0, 1]
    assert abs(lag_one) < 0.02


def test_occurrence_rank_examples() -> None:
    np.testing.assert_array_equal(occurrence_rank(np.array([5, 3, 5, 5, 3, 7])), [0, 0, 1, 2, 1, 0])
    np.testing.assert_array_equal(occurrence_rank(np.array([1, 2, 3])), [0, 0, 0])
    assert occurrence_rank(np.array([4])).tolist() == [0]
    assert occurrence_rank(np.array([], dtype=np.int64)).tolist() == []


@settings(deadline=None)
@given(st.lists(st.integers(-5, 5), min_size=1, max_size=60))
def test_occurrence_rank_counts_earlier_equal_elements(values: list[int]) -> None:
    expected = [values[:i].count(v) for i, v in enumerate(values)]
    assert occurrence_rank(np.array(values)).tolist() == expected


def _splitmix_draw(seed: int, name: str, instance: int, draw: int) -> float:
    """Draw ``draw`` (1 for the first) of one instance, straight from the definition in plain
    Python integers: what every vectorised path of ``Streams`` must give."""
    mask = 2**64 - 1

    def mix(z: int) -> int:
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    golden = 0x9E3779B97F4A7C15
    key = mix((stream_key(seed, name) + instance * golden) & mask)
    return (mix((key + draw * golden) & mask) >> 11) / 2**53


@settings(deadline=None, max_examples=50)
@given(st.integers(1, 40), st.lists(st.sampled_from(["all", "some", "repeats"]), max_size=5),
       st.randoms(use_true_random=False))
def test_every_path_gives_the_draws_of_the_definition(
        count: int, rounds: list[str], random: Random) -> None:
    """A whole fleet at once (in any order), some instances, instances repeated: each
    instance's draws are its own sequence, whichever way they are asked for."""
    streams, drawn = Streams(5, "node:s:value", count), [0] * count
    for kind in rounds:
        instances = list(range(count))
        random.shuffle(instances)
        if kind == "some":
            instances = instances[: random.randint(1, count)]
        elif kind == "repeats":
            instances = [random.randrange(count) for _ in range(random.randint(1, 2 * count))]
        expected = []
        for instance in instances:
            drawn[instance] += 1
            expected.append(_splitmix_draw(5, "node:s:value", instance, drawn[instance]))
        assert streams.uniform(np.array(instances)).tolist() == expected


@settings(max_examples=150, deadline=None)
@given(count=st.integers(1, 6), data=st.data())
def test_windows_of_every_instance_in_one_order_give_the_one_by_one_draws(
        count: int, data: st.DataObject) -> None:
    """A periodic fleet asks for every instance in one order, window after window; the
    stream then draws straight in that order (keys laid out once). Whatever mixes of such
    windows, other orders and partial or repeated requests come, every draw is the one a
    one-at-a-time caller would get."""
    orders = [data.draw(st.permutations(range(count))) for _ in range(2)]
    request = st.one_of(st.sampled_from(orders),
                        st.lists(st.integers(0, count - 1), max_size=2 * count))
    requests = data.draw(st.lists(request, max_size=12))
    batched, reference = Streams(3, "window", count), Streams(3, "window", count)
    for instances in requests:
        expected = [float(_draws(reference, [i])[0]) for i in instances]
        np.testing.assert_array_equal(_draws(batched, list(instances)), expected)
