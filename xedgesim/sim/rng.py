"""Counter-based random streams: draw k of instance i is a pure function of (seed, name, i, k).

Why not one numpy Generator per node: a fleet of 100,000 sensors would need 100,000 generator
objects, and vector draws would depend on how messages happen to be batched. Here every
instance of every named stream is its own SplitMix64 sequence, so

* adding an unrelated node, or growing a fleet, never changes anyone else's draws;
* drawing for a whole batch at once gives exactly the values one-by-one draws would give;
* every draw consumes exactly one uniform, so batching never shifts a stream.
"""

from __future__ import annotations

import hashlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / (1 << 53)


def _mix64(z: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser (wrapping uint64 arithmetic), in place: ``z`` is a fresh array
    of a whole batch, and temporaries of that size are what a million-sensor run pays for."""
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return z


def stream_key(seed: int, name: str) -> int:
    """A stable 64-bit key for (seed, stream name), independent of Python's hash seed."""
    digest = hashlib.blake2b(f"{seed}\x00{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class Streams:
    """``count`` independent uniform streams named ``name``, one per instance of a node group."""

    def __init__(self, seed: int, name: str, count: int) -> None:
        with np.errstate(over="ignore"):
            base = np.uint64(stream_key(seed, name))
            self._keys = _mix64(base + np.arange(count, dtype=np.uint64) * _GOLDEN)
        self._counters = np.zeros(count, dtype=np.uint64)
        # While every instance has made as many draws as every other (``_common`` of them),
        # and a window asks for all of them in one order again and again (a periodic fleet:
        # its phase order), that order and the keys laid out in it are kept, so the draws
        # are made straight in the order asked: no gather of a million keys, no check for
        # repeats (a fifth of a million-sensor run's time went there).
        self._common: int | None = 0
        self._order: np.ndarray | None = None
        self._keys_in_order: np.ndarray | None = None

    def uniform(self, instances: np.ndarray) -> np.ndarray:
        """One uniform in [0, 1) per element of ``instances`` (local indices).

        An instance that appears several times gets its consecutive draws, in order.
        """
        instances = np.asarray(instances, dtype=np.intp)
        if instances.size == 0:
            return np.empty(0)
        if self._common is not None and self._order is not None \
                and np.array_equal(instances, self._order):
            if self._keys_in_order is None:
                self._keys_in_order = self._keys[self._order]
            self._counters += np.uint64(1)
            self._common += 1
            return _uniforms_of_draw(self._keys_in_order, self._common)
        repeats = int(np.bincount(instances, minlength=0).max())
        if repeats == 1 and len(instances) == len(self._counters):
            # Every instance once (a fleet's window): drawn in index order, where memory is
            # read in sequence, then picked in the order asked; the same draws, 3x faster.
            self._counters += np.uint64(1)
            if self._common is not None:
                self._common += 1
                self._order, self._keys_in_order = instances.copy(), None
            return _uniforms(self._keys, self._counters.copy())[instances]
        self._common = self._order = self._keys_in_order = None  # counts differ from now on
        counters = self._counters[instances]
        if repeats > 1:
            counters += occurrence_rank(instances).astype(np.uint64)
            np.add.at(self._counters, instances, np.uint64(1))
        else:
            self._counters[instances] = counters + np.uint64(1)
        counters += np.uint64(1)
        return _uniforms(self._keys[instances], counters)


def _uniforms(keys: np.ndarray, draw: np.ndarray) -> np.ndarray:
    """Uniforms of draw number ``draw`` (1 for the first) of the streams ``keys``; ``draw``
    is used up (overwritten)."""
    with np.errstate(over="ignore"):
        draw *= _GOLDEN
        draw += keys
        return _unit(_mix64(draw))


def _uniforms_of_draw(keys: np.ndarray, draw: int) -> np.ndarray:
    """``_uniforms`` for streams that are all at draw number ``draw``: no array of draw
    numbers is made."""
    with np.errstate(over="ignore"):
        return _unit(_mix64(keys + np.uint64(draw * int(_GOLDEN) % (1 << 64))))


def _unit(bits: np.ndarray) -> np.ndarray:
    """The top 53 of 64 random bits as a float in [0, 1); ``bits`` is used up."""
    bits >>= np.uint64(11)
    uniforms = bits.astype(np.float64)
    uniforms *= _TO_UNIT
    return uniforms


def occurrence_rank(values: np.ndarray) -> np.ndarray:
    """For each element, how many equal elements come before it (0 for the first)."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(values)]))
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = np.arange(len(values)) - group_start
    return ranks
