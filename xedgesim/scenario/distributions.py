"""Reading a distribution: ``{exponential: 2ms}``, ``{normal: {mean: 20, std: 2}}`` and friends.

Link jitter takes durations (stored as nanoseconds), sensor readings take plain numbers; the
shapes are the same, so one reader serves both.
"""

from __future__ import annotations

from typing import Literal, cast

from xedgesim.scenario.model import Distribution, DistributionKind
from xedgesim.scenario.reader import Reader, english_list
from xedgesim.scenario.yaml_tree import YMap, YNode, YScalar, YSeq

KINDS = ("constant", "exponential", "normal", "uniform")
Quantity = Literal["duration", "number"]

_EXAMPLES = {"duration": "{exponential: 2ms}", "number": "{normal: {mean: 20, std: 2}}"}


def read_distribution(
    reader: Reader, node: YNode, what: str, quantity: Quantity
) -> Distribution | None:
    """One distribution kind with its parameters, or ``None`` after reporting why not."""
    example = _EXAMPLES[quantity]
    if isinstance(node, YScalar) and node.value is not None:
        reader.report(
            node,
            f"{what} must be a distribution such as {example}, found {node.text!r}",
            f"for a fixed value write {{constant: {node.text}}}",
        )
        return None
    ymap = reader.mapping(node, what, example)
    if ymap is None:
        return None
    reader.check_keys(ymap, KINDS, what)
    given = [entry for entry in ymap if entry.key.value in KINDS]
    if not given:
        if not ymap.entries:
            reader.report(ymap, f"{what} must name a distribution: {english_list(KINDS, 'or')}")
        return None
    if len(given) > 1:
        names = english_list([str(entry.key.value) for entry in given])
        reader.report(given[1].key, f"{what} gives several distributions ({names}); give one")
        return None
    kind = str(given[0].key.value)
    value = given[0].value
    inner = f"the {kind} distribution of {what}"
    if kind == "constant":
        params = _params(reader, [(value, f"the constant value of {what}")], quantity)
    elif kind == "exponential":
        params = _exponential(reader, value, inner, quantity)
    elif kind == "normal":
        params = _normal(reader, value, inner, quantity)
    else:
        params = _uniform(reader, value, inner, quantity)
    return None if params is None else Distribution(cast(DistributionKind, kind), params)


# How far the kernel's sampler reaches (inverse transform of one uniform in [0, 1) per draw,
# see xedgesim/sim/distributions.py): an exponential stays below 37 means, and a normal within
# 37 standard deviations of its mean (its inverse CDF at 0 is -37.05); rounded up.
REACH = {"exponential": 40, "normal": 40}


def reach(distribution: Distribution) -> float:
    """The largest magnitude a draw of ``distribution`` can have (``inf`` if it overflows)."""
    params = distribution.params
    if distribution.kind == "exponential":
        return REACH["exponential"] * abs(params[0])
    if distribution.kind == "normal":
        return abs(params[0]) + REACH["normal"] * params[1]
    if distribution.kind == "uniform":  # drawn as low + u * (high - low)
        return max(abs(params[0]), abs(params[1]), params[1] - params[0])
    return abs(params[0])


def _read(reader: Reader, node: YNode, what: str, quantity: Quantity) -> float | None:
    if quantity == "duration":
        ns = reader.duration(node, what)
        return None if ns is None else float(ns)
    return reader.number(node, what)


def _params(
    reader: Reader, fields: list[tuple[YNode, str]], quantity: Quantity
) -> tuple[float, ...] | None:
    values = [_read(reader, node, what, quantity) for node, what in fields]
    if any(value is None for value in values):
        return None
    return tuple(value for value in values if value is not None)


def _fields(
    reader: Reader, ymap: YMap, keys: tuple[str, ...], inner: str
) -> list[tuple[YNode, str]] | None:
    reader.check_keys(ymap, keys, inner)
    nodes = [reader.require(ymap, key, inner) for key in keys]
    if any(node is None for node in nodes):
        return None
    return [
        (node, f"'{key}' of {inner}")
        for key, node in zip(keys, nodes, strict=True)
        if node is not None
    ]


def _exponential(
    reader: Reader, value: YNode, inner: str, quantity: Quantity
) -> tuple[float, ...] | None:
    if isinstance(value, YMap):
        fields = _fields(reader, value, ("mean",), inner)
    else:
        fields = [(value, f"the mean of {inner}")]
    if fields is None:
        return None
    params = _params(reader, fields, quantity)
    if params is not None and params[0] <= 0:
        reader.report(fields[0][0], f"{fields[0][1]} must be greater than zero")
        return None
    return params


def _normal(
    reader: Reader, value: YNode, inner: str, quantity: Quantity
) -> tuple[float, ...] | None:
    ymap = reader.mapping(value, inner, "{mean: ..., std: ...}")
    fields = None if ymap is None else _fields(reader, ymap, ("mean", "std"), inner)
    params = None if fields is None else _params(reader, fields, quantity)
    if fields is not None and params is not None and params[1] < 0:
        reader.report(fields[1][0], f"{fields[1][1]} cannot be negative")
        return None
    return params


def _uniform(
    reader: Reader, value: YNode, inner: str, quantity: Quantity
) -> tuple[float, ...] | None:
    fields: list[tuple[YNode, str]] | None
    if isinstance(value, YSeq):
        if len(value.items) != 2:
            reader.report(value, f"{inner} must be [LOW, HIGH], found {len(value.items)} values")
            return None
        low, high = value.items
        fields = [(low, f"the low end of {inner}"), (high, f"the high end of {inner}")]
    else:
        ymap = reader.mapping(value, inner, "[LOW, HIGH] or {low: ..., high: ...}")
        fields = None if ymap is None else _fields(reader, ymap, ("low", "high"), inner)
    params = None if fields is None else _params(reader, fields, quantity)
    if fields is not None and params is not None and params[0] > params[1]:
        reader.report(fields[1][0], f"{inner} has its high end below its low end")
        return None
    return params
