"""The names of a run's random streams: the one place they are made.

Every random draw is a pure function of (seed, stream name, instance, draw number)
(``xedgesim/sim/rng.py``), so a stream's name is part of every result: renaming one changes
every run that draws from it. ``PURPOSES`` lists what each kind of owner may draw for, and
``RandomStreams`` is the only maker of names; a new use of randomness is one entry here.
"""

from __future__ import annotations

from xedgesim.sim.rng import Streams

# owner kind -> purpose -> what it draws (docs/simulation.md, "Random numbers")
PURPOSES: dict[str, dict[str, str]] = {
    "node": {
        "phase": "a sensor's first emission offset in [0, interval); on/off: the first state",
        "gaps": "Poisson inter-arrival times (on/off: while on)",
        "on": "on/off arrivals: the length of each on period",
        "off": "on/off arrivals: the length of each off period",
        "size": "payload sizes drawn from a distribution (payload: {exponential: 200B})",
        "value": "readings",
        "failures": "up and repair times of random failure (failures: {mtbf, mttr})",
        "service": "processing times: one per message its service queue (service:) or a "
                   "sensor's compute (compute:) processes",
    },
    "link": {
        "loss": "one uniform per transmission on that link",
        "jitter": "one uniform per transmission on that link",
        "burst": "bursty loss: one uniform per transmission, the Gilbert–Elliott state's move",
    },
}


class RandomStreams:
    """The streams of one run (one seed), named ``node:<id>:<purpose>`` and
    ``link:<from>-><to>:<purpose>``."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def node(self, node_id: str, purpose: str, count: int) -> Streams:
        """``count`` streams, one per instance of node ``node_id``, drawn for ``purpose``."""
        return Streams(self.seed, node_stream(node_id, purpose), count)

    def link(self, sender: str, receiver: str, purpose: str, count: int) -> Streams:
        """One stream per instance of the sender group on its link to ``receiver``."""
        return Streams(self.seed, link_stream(sender, receiver, purpose), count)


def node_stream(node_id: str, purpose: str) -> str:
    """The name of node ``node_id``'s stream for ``purpose``."""
    return f"node:{node_id}:{_checked('node', purpose)}"


def link_stream(sender: str, receiver: str, purpose: str) -> str:
    """The name of the link ``sender`` -> ``receiver``'s stream for ``purpose`` (the link
    proxy draws from the same names: xedgesim/linkproxy/shaping.py)."""
    return f"link:{sender}->{receiver}:{_checked('link', purpose)}"


def _checked(owner: str, purpose: str) -> str:
    if purpose not in PURPOSES[owner]:
        raise ValueError(f"no {owner} stream for {purpose!r} (known: "
                         f"{', '.join(PURPOSES[owner])}); add it to PURPOSES")
    return purpose
