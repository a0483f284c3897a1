"""A link's properties over time (``schedule:`` or ``trace:``), answered for many times at once.

The changes split time into phases; phase ``k`` holds from its start to the next one's, and
phase 0 (from time 0) has the link's own values. A batch of messages finds its phases with one
``np.searchsorted`` and reads latency and loss from arrays; serialisation is computed per
distinct bandwidth among the batch's phases, in the same exact integer arithmetic as a fixed
bandwidth (``Link._serialisation``). Only links with a schedule make one of these: the others
keep their fixed values and their code path (docs/simulation.md, "Links that change").
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import numpy as np

from xedgesim.scenario.model import LinkSpec

NsPerByte = tuple[int, int]  # numerator, denominator of 8 × 10^9 / bandwidth


def ns_per_byte(bandwidth_bps: float) -> NsPerByte:
    """ns per byte as an exact fraction of the bandwidth's value (no float rounding)."""
    exact = Fraction(8 * 10**9) / Fraction(bandwidth_bps)
    return exact.numerator, exact.denominator


class Phases:
    """The latency, bandwidth and loss of one scheduled link in each of its phases."""

    def __init__(self, spec: LinkSpec) -> None:
        schedule = spec.schedule
        assert schedule is not None
        at_ns = np.frombuffer(schedule.at_ns, dtype=np.int64)
        latency_ns = np.frombuffer(schedule.latency_ns, dtype=np.int64)
        loss = np.frombuffer(schedule.loss, dtype=np.float64)
        bandwidth_bps = np.frombuffer(schedule.bandwidth_bps, dtype=np.float64)
        self.starts = np.concatenate(([0], at_ns))
        self.latency_ns = _carried(spec.latency_ns, latency_ns, latency_ns >= 0)
        self.loss = _carried(spec.loss, loss, ~np.isnan(loss))
        bandwidth = _carried(np.inf if spec.bandwidth_bps is None else spec.bandwidth_bps,
                             bandwidth_bps, ~np.isnan(bandwidth_bps))
        # Phases share the exact ns per byte of their bandwidth, made when first needed.
        self._bandwidths, self._bandwidth_of = np.unique(bandwidth, return_inverse=True)
        self._ns_per_byte: dict[int, NsPerByte] = {}

    def at(self, times: np.ndarray) -> np.ndarray:
        """The phase in effect at each of ``times`` (a change at t holds from t on)."""
        return np.searchsorted(self.starts, times, side="right") - 1

    def slowest(self) -> NsPerByte:
        """ns per byte at the smallest bandwidth (the link has at least one finite one)."""
        return self._exact(0)

    def serialisation(self, size: np.ndarray, start: np.ndarray,
                      serialise: Callable[[np.ndarray, NsPerByte], np.ndarray]) -> np.ndarray:
        """ns each message takes on the wire at the bandwidth in effect when its transmission
        starts; ``serialise`` computes one bandwidth's (0 ns while it is unlimited)."""
        which = self._bandwidth_of[self.at(start)]
        took = np.zeros(len(size), dtype=np.int64)
        for index in np.unique(which).tolist():
            if self._bandwidths[index] == np.inf:
                continue
            rows = which == index
            took[rows] = serialise(size[rows], self._exact(index))
        return took

    def _exact(self, index: int) -> NsPerByte:
        if index not in self._ns_per_byte:
            self._ns_per_byte[index] = ns_per_byte(float(self._bandwidths[index]))
        return self._ns_per_byte[index]


def _carried(initial: float, given: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Per phase, the value of the latest change that gives one (``initial`` before any)."""
    values = np.concatenate(([initial], given)).astype(given.dtype)
    known = np.concatenate(([True], known))
    latest = np.maximum.accumulate(np.where(known, np.arange(len(values)), 0))
    return values[latest]
