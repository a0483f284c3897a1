"""Message batches: shared and constant fields behave exactly like arrays of their own."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from xedgesim.sim.messages import FIELD_NAMES, MessageBatch, arrival_order, is_constant


def _readings(first_id: int, count: int, seed: int) -> MessageBatch:
    rng = np.random.default_rng(seed)
    times = np.sort(rng.integers(0, 10**9, count))
    return MessageBatch.readings(
        ids=np.arange(first_id, first_id + count, dtype=np.int64),
        src=rng.integers(0, 50, count), topic=rng.integers(0, 5, count), times=times,
        values=rng.normal(20, 2, count), size=64, qos=1, retain=False)


def _plain(batch: MessageBatch) -> dict[str, np.ndarray]:
    """The reference: every field a full array of its own."""
    return {name: np.array(getattr(batch, name)) for name in FIELD_NAMES}


def _same(batch: MessageBatch, fields: dict[str, np.ndarray]) -> None:
    for name in FIELD_NAMES:
        found = getattr(batch, name)
        assert found.dtype == fields[name].dtype, name
        assert found.tolist() == fields[name].tolist(), name


@settings(deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=4), st.integers(0, 2**32),
       st.sampled_from(["mask", "index", "slice"]))
def test_select_and_concat_give_the_rows_plain_arrays_give(
        sizes: list[int], seed: int, how: str) -> None:
    batches, first = [], 0
    for number, size in enumerate(sizes):
        batches.append(_readings(first, size, seed + number))
        first += size
    plain = [_plain(b) for b in batches]
    joined = {name: np.concatenate([p[name] for p in plain]) for name in FIELD_NAMES}
    _same(MessageBatch.concat(batches), joined)
    total = len(joined["id"])
    order = np.random.default_rng(seed).permutation(total)
    _same(MessageBatch.concat(batches, order), {n: a[order] for n, a in joined.items()})
    rows: np.ndarray | slice = {
        "mask": np.arange(total) % 3 != 1,
        "index": order[: total // 2],
        "slice": slice(total // 3, None),
    }[how]
    whole = MessageBatch.concat(batches, np.arange(total))
    _same(whole.select(rows), {n: a[rows] for n, a in joined.items()})
    _same(whole.select(rows).copy(), {n: a[rows] for n, a in joined.items()})


def test_a_window_of_readings_keeps_one_array_per_distinct_field() -> None:
    batch = _readings(0, 1000, 1)
    picked = MessageBatch.concat([batch, _readings(1000, 500, 2)]).select(
        np.arange(0, 1500, 2))
    assert picked.origin is picked.first_sent is picked.sent is picked.arrival
    assert picked.value is picked.vmin is picked.vmax
    for name in ("size", "qos", "retain", "attempt", "n"):
        assert is_constant(getattr(picked, name)), name
    changed = picked.copy_with(arrival=picked.arrival + 5)
    assert changed.sent is picked.sent and changed.arrival is not picked.arrival


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**62), min_size=2, max_size=300), st.integers(0, 10**6),
       st.booleans(), st.booleans(), st.data())
def test_arrival_order_is_the_two_key_sort_whatever_the_span_and_the_ties(
        base: list[int], spread: int, narrow: bool, sorted_runs: bool,
        data: st.DataObject) -> None:
    """(arrival, id) order, whichever way it is computed: the packed-key sort (a narrow span,
    the usual case), the plain stable sort (a span too wide to pack), ties with ids in or out
    of order, and the merge a mailbox asks for (``sorted_runs``: the input need not hold runs
    for the order to be right, only for it to be fast)."""
    arrival = np.array([value % (spread + 1) if narrow else value for value in base],
                       dtype=np.int64)
    ids = np.array(data.draw(st.permutations(range(len(arrival)))), dtype=np.int64)
    order = arrival_order(arrival, ids, sorted_runs=sorted_runs)
    expected = np.lexsort((ids, arrival))
    found = np.arange(len(arrival)) if order is None else order
    assert found.tolist() == expected.tolist()
