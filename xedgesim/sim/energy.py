"""Energy accounts: what each instance of a node has spent, exactly, and when its battery ran out.

A node with ``energy:`` (xedgesim/scenario/energy.py) spends, per instance, in whole
picojoules: a fixed cost plus a cost per byte for every transmission it makes and every
message it receives, and ``idle`` power for as long as it is alive. Energy is an integer sum,
never a float: the energy of an instance is exactly ``Σ transmissions + Σ receptions +
⌊idle × alive time⌋``. With a ``battery`` the instance is alive until the battery cannot give
what is asked of it (docs/simulation.md, "Energy and battery"):

* a transmission at time t is made when what the instance has spent on messages, plus its
  idle drain up to t, plus the transmission's cost is at most the capacity; otherwise the
  battery runs out at t, and that transmission is not made (lost as ``battery``);
* the idle drain alone empties it at the first nanosecond t at which ⌊idle × t⌋ would exceed
  what the messages left; it has then used its capacity exactly.

From then on the instance is dead for good: it makes no first transmission (its sensor emits
nothing) and every retry falling due is lost as ``battery``. Only links whose sender has an
account call it, so a run without ``energy:`` pays nothing.
"""

from __future__ import annotations

import numpy as np

from xedgesim.errors import NodeFailure
from xedgesim.metrics import INT64_MAX, exact_sum
from xedgesim.scenario.model import Energy, NodeSpec, Scenario
from xedgesim.sim.kernel import NEVER
from xedgesim.sim.rng import occurrence_rank
from xedgesim.units import NS_PER_S, PJ_PER_J

MADE, SILENT, LOST = 0, 1, 2  # a transmission's verdict (``EnergyAccount.transmit``)


class EnergyAccount:
    """The energy of every instance of one node group."""

    def __init__(self, node_id: str, count: int, spec: Energy, processing_pj: int = 0) -> None:
        """``processing_pj``: what a sensor pays to process a reading on the device
        (``compute: {at: device, energy}``), with the reading's first transmission: processing
        and sending are one cost to its battery (retries are not processed again)."""
        self.node_id = node_id
        self.spec = spec
        self.processing_pj = processing_pj
        self.capacity = spec.battery_pj  # None: no battery, nothing runs out
        self.spent = np.zeros(count, dtype=np.int64)  # on messages, pJ
        self.depleted_at = np.full(count, NEVER, dtype=np.int64)  # ns, with a battery
        # idle power in whole milliwatts and the rest, for an exact ⌊P × t / 10^9⌋ in int64
        self._idle_mw, self._idle_rest_pw = divmod(spec.idle_pw, NS_PER_S)

    def idle(self, times: np.ndarray) -> np.ndarray:
        """⌊idle × t⌋ in picojoules for times ``t`` in ns, exact in int64.

        With t = s·10^9 + r and P = a·10^9 + b (pW): P·t/10^9 = P·s + a·r + b·r/10^9, where
        b·r < 10^18; each term is at most the result, which the loader bounds
        (``check_idle_drain``).
        """
        seconds, rest = np.divmod(times, NS_PER_S)
        return (self.spec.idle_pw * seconds + self._idle_mw * rest
                + self._idle_rest_pw * rest // NS_PER_S)

    def transmit(self, local: np.ndarray, sent: np.ndarray, size: np.ndarray,
                 first: np.ndarray, refused: np.ndarray | None = None) -> np.ndarray | None:
        """Charge transmissions (rows in order of ``sent``) to their senders ``local``.

        Without a battery every one is made: returns None. With one, the verdict of each row:
        ``MADE``; ``SILENT``, a first transmission of an instance already dead (it is never
        emitted); ``LOST``, a transmission the battery could not power, or a retry (``first``
        false) of a dead instance. ``refused``: the rows a full buffer turns away, which never
        go on air: they cost nothing to transmit, only a first send's processing on the device,
        done before the buffer refused it (their verdict is ``MADE`` if that was powered).
        """
        spec = self.spec
        cost = self._costs(spec.tx_per_message_pj, spec.tx_per_byte_pj, size)
        if refused is not None:
            cost[refused] = 0
        if self.processing_pj and len(cost):
            if int(cost.max()) + self.processing_pj > INT64_MAX:
                raise self._overflow(int(cost.max()) + self.processing_pj)
            cost = cost + np.where(first, self.processing_pj, 0)
        if self.capacity is None:
            self._charge(local, cost)
            return None
        verdict = np.full(len(local), MADE, dtype=np.int8)
        rank = occurrence_rank(local)
        for r in range(int(rank.max()) + 1 if len(rank) else 0):
            rows = np.flatnonzero(rank == r)  # at most one row of each instance, in time order
            self._admit(rows, local[rows], sent[rows], cost[rows], first[rows], verdict)
        return verdict

    def _admit(self, rows: np.ndarray, who: np.ndarray, at: np.ndarray, cost: np.ndarray,
               first: np.ndarray, verdict: np.ndarray) -> None:
        left = self.capacity - self.spent[who]  # for the idle drain and this transmission
        idle = self.idle(at)
        dead = self.depleted_at[who] <= at
        drained = ~dead & (idle > left)
        if drained.any():
            self.depleted_at[who[drained]] = self._drained_at(self.spent[who[drained]])
            dead |= drained
        short = ~dead & (cost > left - idle)
        self.depleted_at[who[short]] = at[short]
        made = ~dead & ~short
        self.spent[who[made]] += cost[made]
        verdict[rows[dead]] = np.where(first[dead], SILENT, LOST)
        verdict[rows[short]] = LOST

    def _drained_at(self, spent: np.ndarray) -> np.ndarray:
        """The first ns t at which ⌊idle × t⌋ exceeds what ``spent`` leaves of the battery:
        ⌈(capacity − spent + 1) × 10^9 / idle⌉ (Python integers: the product passes int64)."""
        power = self.spec.idle_pw
        return np.array([-(-(self.capacity - int(s) + 1) * NS_PER_S // power)
                         for s in spent.tolist()], dtype=np.int64)

    def receive(self, local: int, count: int, size: int) -> None:
        """Charge ``count`` receptions of ``size`` bytes in all to instance ``local``."""
        spec = self.spec
        cost = count * spec.rx_per_message_pj + size * spec.rx_per_byte_pj
        if cost > INT64_MAX:
            raise self._overflow(cost)
        self._charge(np.array([local]), np.array([cost], dtype=np.int64))

    def _costs(self, per_message: int, per_byte: int, size: np.ndarray) -> np.ndarray:
        """Each message's cost, in int64 (the run stops, naming the node, if one passes it)."""
        if not len(size):
            return np.zeros(0, dtype=np.int64)
        largest = per_message + per_byte * int(size.max())
        if largest > INT64_MAX:
            raise self._overflow(largest)
        return per_message + per_byte * size

    def _charge(self, local: np.ndarray, cost: np.ndarray) -> None:
        if not len(local):
            return
        if int(self.spent.max()) + exact_sum(cost) > INT64_MAX:
            totals = self.spent.tolist()
            for where, more in zip(local.tolist(), cost.tolist(), strict=True):
                totals[where] += more
            raise self._overflow(max(totals))
        np.add.at(self.spent, local, cost)

    def _overflow(self, total: int) -> NodeFailure:
        return NodeFailure(f"node {self.node_id!r}: its energy would reach {total:,} pJ, past "
                           f"{INT64_MAX:,} pJ (9.2 MJ), the most a node's energy counts")

    def finish(self, until: int) -> None:
        """Close the account at the end of the run: an instance that the idle drain emptied
        after its last transmission ran out then."""
        if self.capacity is None or self.spec.idle_pw == 0:
            return
        alive = np.flatnonzero(self.depleted_at == NEVER)
        drained = alive[self.idle(np.full(len(alive), until - 1, dtype=np.int64))
                        > self.capacity - self.spent[alive]]
        self.depleted_at[drained] = self._drained_at(self.spent[drained])

    def used(self, until: int) -> np.ndarray:
        """Per instance, the energy used over the run (pJ): messages plus the idle drain up to
        its depletion or the end; an instance the idle drain emptied used its capacity."""
        alive_until = np.minimum(self.depleted_at, until)
        used = self.spent + self.idle(alive_until)
        if self.capacity is not None:
            np.minimum(used, self.capacity, out=used)
        return used


def joules(picojoules: int) -> float:
    """The nearest float (Python divides integers exactly, then rounds once)."""
    return picojoules / PJ_PER_J


def joules_text(picojoules: int) -> str:
    """The exact decimal in joules (``0.000011368``): what ``nodes.csv`` writes."""
    whole, rest = divmod(picojoules, PJ_PER_J)
    return f"{whole}.{rest:012d}".rstrip("0").rstrip(".")


def energy_accounts(scenario: Scenario) -> dict[str, EnergyAccount]:
    """One account per node with ``energy:`` (none for a scenario without)."""
    return {spec.id: EnergyAccount(spec.id, spec.count, spec.energy, _on_device(spec))
            for spec in scenario.nodes if spec.energy is not None}


def _on_device(spec: NodeSpec) -> int:
    """The energy of processing one reading on the sensor itself, if it does."""
    compute = getattr(spec.params, "compute", None)
    return compute.energy_pj if compute is not None and compute.at == "device" else 0
