"""A link's ``loss:`` when it is not one probability: ``{gilbert: {p, r, loss_bad, loss_good}}``.

Gilbert–Elliott bursty loss (docs/simulation.md, "Bursty loss"): ``p`` and ``r`` are the
per-transmission probabilities of going bad and of going good again, ``loss_bad`` (default 1)
and ``loss_good`` (default 0) the chance of losing a transmission in each state.
"""

from __future__ import annotations

from xedgesim.scenario.model import Gilbert
from xedgesim.scenario.reader import Reader
from xedgesim.scenario.yaml_tree import YNode

MODELS = ("gilbert",)
GILBERT_KEYS = ("p", "r", "loss_bad", "loss_good")
EXAMPLE = "{gilbert: {p: 0.01, r: 0.3}}"


def read_bursty_loss(reader: Reader, node: YNode, what: str) -> Gilbert | None:
    """The Gilbert–Elliott parameters written under ``what``; ``None`` after reporting."""
    ymap = reader.mapping(node, what, EXAMPLE)
    if ymap is None:
        return None
    reader.check_keys(ymap, MODELS, what)
    inner_node = reader.require(ymap, "gilbert", what)
    if inner_node is None:
        return None
    inner = f"'gilbert' of {what}"
    inner_map = reader.mapping(inner_node, inner, "{p: 0.01, r: 0.3, loss_bad: 1}")
    if inner_map is None:
        return None
    reader.check_keys(inner_map, GILBERT_KEYS, inner)
    values: dict[str, float | None] = {"loss_bad": 1.0, "loss_good": 0.0}
    for key in GILBERT_KEYS:
        value = inner_map.get(key)
        if value is None:
            if key in ("p", "r"):
                reader.require(inner_map, key, inner)
                values[key] = None
            continue
        values[key] = reader.probability(value, f"'{key}' of {inner}")
    p, r, bad, good = (values.get(key) for key in GILBERT_KEYS)
    if p is None or r is None or bad is None or good is None:
        return None
    if r == 0 and p > 0:
        reader.report(inner_map.get("r") or inner_map, f"'r' of {inner} must be greater than "
                      "zero when 'p' is (a link that goes bad would stay bad for good)",
                      "to lose everything write loss: 1")
        return None
    return Gilbert(p, r, bad, good)
