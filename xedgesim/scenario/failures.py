"""A node's ``failures:`` key: random failure and repair, ``{mtbf: 2h, mttr: 5min}``.

Every instance of the node fails and is repaired again and again, independently: up for an
exponential time with mean ``mtbf``, then down for an exponential time with mean ``mttr``
(docs/simulation.md, "Random failure and repair"; the run draws them in
``xedgesim/sim/failures.py``).
"""

from __future__ import annotations

from xedgesim.scenario.model import Failures
from xedgesim.scenario.reader import Reader, label
from xedgesim.scenario.yaml_tree import YNode

FAILURE_KEYS = ("mtbf", "mttr")
EXAMPLE = "{mtbf: 2h, mttr: 5min}"


def read_failures(reader: Reader, node: YNode, context: str) -> Failures | None:
    """The mean time between failures and to repair, both durations > 0; ``None`` after
    reporting what is wrong."""
    what = label("failures", context)
    ymap = reader.mapping(node, what, EXAMPLE)
    if ymap is None:
        return None
    reader.check_keys(ymap, FAILURE_KEYS, what)
    mtbf, mttr = reader.positive_durations(ymap, FAILURE_KEYS, what)
    if mtbf is None or mttr is None:
        return None
    return Failures(mtbf, mttr)
