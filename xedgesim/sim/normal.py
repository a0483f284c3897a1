"""The standard normal distribution: its inverse CDF for vectors of uniforms, and its CDF."""

from __future__ import annotations

import math

import numpy as np

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


_CHUNK = 1 << 16


def normal_ppf(p: np.ndarray) -> np.ndarray:
    """Inverse of the standard normal CDF for p in (0, 1).

    Worked out ``_CHUNK`` values at a time: the formula's temporaries for a fleet's million
    readings would otherwise take more memory than the readings.
    """
    if p.ndim != 1 or len(p) <= _CHUNK:
        return _normal_ppf(p)
    out = np.empty(len(p))
    for start in range(0, len(p), _CHUNK):
        out[start:start + _CHUNK] = _normal_ppf(p[start:start + _CHUNK])
    return out


def _normal_ppf(p: np.ndarray) -> np.ndarray:
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


def normal_cdf(x: float) -> float:
    """The standard normal CDF at ``x``."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))
