"""Distributions drawn by inverse transform, one uniform per sample (see ``rng``)."""

from __future__ import annotations

import math

import numpy as np

from xedgesim.scenario.model import Distribution

# Acklam's rational approximation of the inverse normal CDF (relative error < 1.2e-9).
_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
      1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
      6.680131188771972e01, -1.328068155288572e01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
      -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
      3.754408661907416e00)
_P_LOW = 0.02425


def normal_ppf(p: np.ndarray) -> np.ndarray:
    """Inverse of the standard normal CDF for p in (0, 1)."""
    p = np.clip(p, 1e-300, 1.0 - 1e-16)
    out = np.empty_like(p)
    low = p < _P_LOW
    high = p > 1.0 - _P_LOW
    mid = ~(low | high)
    q = p[mid] - 0.5
    r = q * q
    out[mid] = (((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * q / (
        ((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0
    )
    for mask, sign in ((low, 1.0), (high, -1.0)):
        tail = p[mask] if sign > 0 else 1.0 - p[mask]
        q = np.sqrt(-2.0 * np.log(tail))
        out[mask] = sign * (((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q
                            + _C[5]) / ((((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0)
    return out


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def sample(
    dist: Distribution, uniforms: np.ndarray, *, truncate_at_zero: bool = False
) -> np.ndarray:
    """Turn uniforms in [0, 1) into draws of ``dist``.

    With ``truncate_at_zero`` a normal is conditioned on being >= 0 (used for latency jitter):
    the uniform is mapped into the CDF range above zero, so it is still one uniform per draw.
    """
    kind, params = dist.kind, dist.params
    if kind == "constant":
        return np.full(uniforms.shape, float(params[0]))
    if kind == "exponential":
        return -params[0] * np.log1p(-uniforms)
    if kind == "uniform":
        low, high = params
        return low + uniforms * (high - low)
    if kind == "normal":
        mean, std = params
        if std == 0.0:
            return np.full(uniforms.shape, max(mean, 0.0) if truncate_at_zero else mean)
        if not truncate_at_zero:
            return mean + std * normal_ppf(uniforms)
        # X >= 0 means Z >= -mean/std: sample the mirrored lower tail W = -Z <= mean/std, whose
        # mass Phi(mean/std) stays representable even when the mean is far below zero.
        above_zero = _normal_cdf(mean / std)
        return np.maximum(mean - std * normal_ppf((1.0 - uniforms) * above_zero), 0.0)
    raise ValueError(f"unknown distribution {kind!r}")


def mean(dist: Distribution) -> float:
    """The untruncated mean, for reports and tests."""
    kind, params = dist.kind, dist.params
    if kind == "uniform":
        return (params[0] + params[1]) / 2
    return float(params[0])
