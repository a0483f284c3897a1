"""Distributions: ``{exponential: 2ms}``, ``{normal: {mean: 20, std: 2}}`` and friends.

``KIND_TABLE`` is the one list of kinds: each entry has the reader of its parameters, its
sampler (inverse transform of one uniform per draw, see ``xedgesim/sim/rng.py``), its mean
and its reach; the names the loader accepts derive from it, and
``xedgesim.sim.distributions.sample`` draws through it. Adding a kind is one entry here.

Link jitter takes durations (stored as nanoseconds), sensor readings take plain numbers, a
sensor's payload sizes (bytes); the shapes are the same, so one reader serves all three.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from xedgesim.scenario.model import Distribution
from xedgesim.scenario.reader import Reader, english_list
from xedgesim.scenario.yaml_tree import YMap, YNode, YScalar, YSeq

if TYPE_CHECKING:  # the samplers import numpy when they run: loading a file needs none
    import numpy as np

Quantity = Literal["duration", "number", "size"]

_EXAMPLES = {"duration": "{exponential: 2ms}", "number": "{normal: {mean: 20, std: 2}}",
             "size": "{exponential: 200B}"}


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
    kind = KIND_TABLE[str(given[0].key.value)]
    params = kind.read(reader, given[0].value, what, f"the {kind.name} distribution of {what}",
                       quantity)
    return None if params is None else Distribution(kind.name, params)


# How far the kernel's sampler reaches (inverse transform of one uniform in [0, 1) per draw):
# an exponential stays below 37 means, and a normal within 37 standard deviations of its mean
# (its inverse CDF at 0 is -37.05); rounded up.
REACH = {"exponential": 40, "normal": 40}


def reach(distribution: Distribution) -> float:
    """The largest magnitude a draw of ``distribution`` can have (``inf`` if it overflows)."""
    return KIND_TABLE[distribution.kind].reach(distribution.params)


def _read(reader: Reader, node: YNode, what: str, quantity: Quantity) -> float | None:
    if quantity == "duration":
        ns = reader.duration(node, what)
        return None if ns is None else float(ns)
    if quantity == "size":
        size = reader.size(node, what, positive=False)
        return None if size is None else float(size)
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


def _constant(
    reader: Reader, value: YNode, what: str, inner: str, quantity: Quantity
) -> tuple[float, ...] | None:
    return _params(reader, [(value, f"the constant value of {what}")], quantity)


def _exponential(
    reader: Reader, value: YNode, what: str, inner: str, quantity: Quantity
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
    reader: Reader, value: YNode, what: str, inner: str, quantity: Quantity
) -> tuple[float, ...] | None:
    ymap = reader.mapping(value, inner, "{mean: ..., std: ...}")
    fields = None if ymap is None else _fields(reader, ymap, ("mean", "std"), inner)
    params = None if fields is None else _params(reader, fields, quantity)
    if fields is not None and params is not None and params[1] < 0:
        reader.report(fields[1][0], f"{fields[1][1]} cannot be negative")
        return None
    return params


def _uniform(
    reader: Reader, value: YNode, what: str, inner: str, quantity: Quantity
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


# -- samplers: uniforms in [0, 1) to draws, in place where the result is the same (a fleet's
# draws are a million at a time). numpy is imported where they run: ``xedge validate`` loads
# this module and needs no numpy. ------------------------------------------------------------


def _sample_constant(params: tuple[float, ...], uniforms: np.ndarray,
                     truncate_at_zero: bool) -> np.ndarray:
    import numpy as np

    return np.full(uniforms.shape, float(params[0]))


def _sample_exponential(params: tuple[float, ...], uniforms: np.ndarray,
                        truncate_at_zero: bool) -> np.ndarray:
    import numpy as np

    draws = np.log1p(-uniforms)
    draws *= -params[0]
    return draws


def _sample_uniform(params: tuple[float, ...], uniforms: np.ndarray,
                    truncate_at_zero: bool) -> np.ndarray:

    low, high = params
    return low + uniforms * (high - low)


def _sample_normal(params: tuple[float, ...], uniforms: np.ndarray,
                   truncate_at_zero: bool) -> np.ndarray:
    import numpy as np

    from xedgesim.sim.normal import normal_cdf, normal_ppf

    mean, std = params
    if std == 0.0:
        return np.full(uniforms.shape, max(mean, 0.0) if truncate_at_zero else mean)
    if not truncate_at_zero:
        draws = normal_ppf(uniforms)
        draws *= std
        draws += mean
        return draws
    # X >= 0 means Z >= -mean/std: sample the mirrored lower tail W = -Z <= mean/std, whose
    # mass Phi(mean/std) stays representable even when the mean is far below zero.
    above_zero = normal_cdf(mean / std)
    return np.maximum(mean - std * normal_ppf((1.0 - uniforms) * above_zero), 0.0)


@dataclass(frozen=True)
class Kind:
    """One kind of distribution: how its parameters are read, drawn, averaged and bounded.

    ``read(reader, value, what, inner, quantity)`` returns the parameters or ``None`` after
    reporting; ``sample(params, uniforms, truncate_at_zero)`` turns uniforms into draws (with
    ``truncate_at_zero``, conditioned on being >= 0, still one uniform per draw); ``mean`` is
    the untruncated mean; ``reach`` the largest magnitude a draw can have.
    """

    name: str
    read: Callable[[Reader, YNode, str, str, Quantity], tuple[float, ...] | None]
    sample: Callable[[tuple[float, ...], np.ndarray, bool], np.ndarray]
    mean: Callable[[tuple[float, ...]], float]
    reach: Callable[[tuple[float, ...]], float]


KIND_TABLE: dict[str, Kind] = {kind.name: kind for kind in (
    Kind("constant", _constant, _sample_constant,
         mean=lambda p: float(p[0]), reach=lambda p: abs(p[0])),
    Kind("exponential", _exponential, _sample_exponential,
         mean=lambda p: float(p[0]), reach=lambda p: REACH["exponential"] * abs(p[0])),
    Kind("normal", _normal, _sample_normal,
         mean=lambda p: float(p[0]), reach=lambda p: abs(p[0]) + REACH["normal"] * p[1]),
    # drawn as low + u * (high - low)
    Kind("uniform", _uniform, _sample_uniform,
         mean=lambda p: (p[0] + p[1]) / 2, reach=lambda p: max(abs(p[0]), abs(p[1]), p[1] - p[0])),
)}
KINDS = tuple(KIND_TABLE)
