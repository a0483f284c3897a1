"""Random failure and repair (a node's ``failures: {mtbf, mttr}``) as down intervals.

They are drawn before the run, like every scheduled fault, so that a fleet can still emit a
window ahead and a link decide a message's fate when it is sent: each instance alternates an
exponential up time (mean MTBF) and an exponential repair (mean MTTR) from time 0, where it is
up, to the end of the run. Draws come from the node's own stream ``node:<id>:failures``, one
uniform per up or down time, in that order per instance: adding a node, or growing a fleet,
leaves every other instance's failures as they were.

Intervals are kept as flat arrays sorted by (instance, start), and queried a whole batch at a
time through one sorted key ``instance × span + time`` (the run's times are below ``span``).
"""

from __future__ import annotations

import numpy as np

from xedgesim.scenario.model import Failures
from xedgesim.sim.streams import RandomStreams


class RandomOutages:
    """The down intervals [start, end) of each instance of one group, disjoint per instance."""

    def __init__(self, failures: Failures, count: int, until: int, streams: RandomStreams,
                 node_id: str) -> None:
        draws = streams.node(node_id, "failures", count)
        self.span = until + 2  # every start and end is at most until + 1
        if count * self.span >= 2**63:
            raise ValueError(f"node {node_id!r}: {count:,} instances with random failures over "
                             "this duration do not fit the outage index")
        instances, starts, ends = [], [], []
        now = np.zeros(count, dtype=np.int64)
        alive = np.arange(count)
        while len(alive):
            start = now[alive] + _exponential(draws, alive, failures.mtbf_ns, until - now[alive])
            keep = start < until
            alive, start = alive[keep], start[keep]
            end = start + _exponential(draws, alive, failures.mttr_ns, until + 1 - start)
            real = end > start  # a repair rounded to 0 ns is no outage
            instances.append(alive[real])
            starts.append(start[real])
            ends.append(end[real])
            now[alive] = end
            alive = alive[end < until]
        self.instance = np.concatenate(instances) if instances else np.empty(0, np.int64)
        start_all = np.concatenate(starts) if starts else np.empty(0, np.int64)
        end_all = np.concatenate(ends) if ends else np.empty(0, np.int64)
        order = np.lexsort((start_all, self.instance))
        self.instance, self.start, self.end = self.instance[order], start_all[order], \
            end_all[order]
        self._key = self.instance * self.span + self.start

    def __len__(self) -> int:
        return len(self.start)

    def _last_starting_by(self, local: np.ndarray, times: np.ndarray) -> tuple[np.ndarray,
                                                                                np.ndarray]:
        """For each (instance, time): the index of the instance's last interval starting at
        or before ``time``, and whether there is one."""
        clipped = np.clip(times, -1, self.span - 1)
        where = np.searchsorted(self._key, local * self.span + clipped, side="right") - 1
        found = where >= 0
        where = np.maximum(where, 0)
        if len(self._key):
            found &= self.instance[where] == local
        else:
            found[:] = False
        return where, found

    def down(self, local: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Is each instance down at its time?"""
        local = np.asarray(local, dtype=np.int64)
        where, found = self._last_starting_by(local, times)
        return found & (times < self.end[where]) if len(self.end) else found

    def down_during(self, local: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Is each instance down at some moment of [start, end)? (empty intervals: no)"""
        local = np.asarray(local, dtype=np.int64)
        where, found = self._last_starting_by(local, end - 1)
        if not len(self.end):
            return found
        return found & (self.end[where] > start) & (end > start)

    def first_crash(self, local: np.ndarray, start: np.ndarray, end: np.ndarray,
                    never: int) -> np.ndarray:
        """When each instance first goes down strictly inside (start, end), else ``never``."""
        local = np.asarray(local, dtype=np.int64)
        where, found = self._last_starting_by(local, start)
        following = np.where(found, where + 1, np.searchsorted(self._key, local * self.span))
        following = np.minimum(following, len(self._key) - 1) if len(self._key) else following
        when = np.full(len(start), never, dtype=np.int64)
        if not len(self._key):
            return when
        at = self.start[following]
        hit = (self.instance[following] == local) & (at > start) & (at < end)
        when[hit] = at[hit]
        return when

    def overlaps(self, start: int, end: int) -> bool:
        """Is any instance down at some moment of [start, end)?"""
        return bool(((self.start < end) & (self.end > start)).any())


def _exponential(draws, instances: np.ndarray, mean_ns: int, cap: np.ndarray) -> np.ndarray:
    """One exponential draw per instance, in whole ns, at most ``cap`` (so that no time
    passes the run's end by more than a nanosecond, and int64 never wraps)."""
    gaps = -float(mean_ns) * np.log1p(-draws.uniform(instances))
    return np.rint(np.minimum(gaps, cap.astype(np.float64))).astype(np.int64)
