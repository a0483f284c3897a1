"""Distributions drawn by inverse transform, one uniform per sample (see ``rng``).

Each kind's sampler lives next to the reader of its parameters, in the table of kinds
(``xedgesim/scenario/distributions.py``, ``KIND_TABLE``); this module draws through it.
"""

from __future__ import annotations

import numpy as np

from xedgesim.scenario.distributions import KIND_TABLE
from xedgesim.scenario.model import Distribution
from xedgesim.sim.normal import _P_LOW, normal_cdf, normal_ppf

__all__ = ["_P_LOW", "mean", "normal_cdf", "normal_ppf", "sample"]


def sample(
    dist: Distribution, uniforms: np.ndarray, *, truncate_at_zero: bool = False
) -> np.ndarray:
    """Turn uniforms in [0, 1) into draws of ``dist``.

    With ``truncate_at_zero`` a normal is conditioned on being >= 0 (used for latency jitter):
    the uniform is mapped into the CDF range above zero, so it is still one uniform per draw.
    """
    kind = KIND_TABLE.get(dist.kind)
    if kind is None:
        raise ValueError(f"unknown distribution {dist.kind!r}")
    return kind.sample(dist.params, uniforms, truncate_at_zero)


def mean(dist: Distribution) -> float:
    """The untruncated mean, for reports and tests."""
    return KIND_TABLE[dist.kind].mean(dist.params)
