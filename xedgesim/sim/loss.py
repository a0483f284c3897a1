"""Bursty loss on a link: the Gilbert–Elliott channel, one per sender instance.

Each sender instance's direction of a link is in a good or a bad state, good before its first
transmission. A transmission is lost with probability ``loss_good`` or ``loss_bad`` of the
state it finds (one uniform of the link's ``loss`` stream), then the state moves on: good to
bad with probability ``p``, bad to good with ``r`` (one uniform of its ``burst`` stream). Only
transmissions that reach the air move the chain (those a fault stopped do not draw, as for
independent loss), so how messages are batched never changes a draw. In the long run the
chain is bad a fraction ``p / (p + r)`` of the transmissions, and a run of bad states lasts
``1 / r`` transmissions on average (docs/simulation.md, "Bursty loss").
"""

from __future__ import annotations

import numpy as np

from xedgesim.scenario.model import Gilbert
from xedgesim.sim.rng import occurrence_rank
from xedgesim.sim.streams import RandomStreams


class GilbertChannel:
    """The Gilbert–Elliott state of every instance of a sender group on one link."""

    def __init__(self, model: Gilbert, streams: RandomStreams, sender: str, receiver: str,
                 count: int) -> None:
        self.model = model
        self._loss = streams.link(sender, receiver, "loss", count)
        self._burst = streams.link(sender, receiver, "burst", count)
        self.bad = np.zeros(count, dtype=bool)

    def lost(self, local: np.ndarray) -> np.ndarray:
        """Which of these transmissions (sender instances, in send order) are lost."""
        model = self.model
        loss_draws = self._loss.uniform(local)
        move_draws = self._burst.uniform(local)
        lost = np.empty(len(local), dtype=bool)
        rank = occurrence_rank(local) if len(local) else local
        steps = int(rank.max()) + 1 if len(local) else 0
        # Rows of one rank are of different instances: one step of each one's chain.
        for step in range(steps):
            rows = np.flatnonzero(rank == step) if steps > 1 else np.arange(len(local))
            who = local[rows]
            bad = self.bad[who]
            lost[rows] = loss_draws[rows] < np.where(bad, model.loss_bad, model.loss_good)
            move = move_draws[rows]
            self.bad[who] = np.where(bad, move >= model.r, move < model.p)
        return lost


def stationary_loss(model: Gilbert) -> float:
    """The long-run fraction of transmissions lost: loss_bad p/(p+r) + loss_good r/(p+r)."""
    if model.p == 0:
        return model.loss_good
    bad = model.p / (model.p + model.r)
    return model.loss_bad * bad + model.loss_good * (1 - bad)
