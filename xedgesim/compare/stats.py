"""The two quantiles the verdicts need: the normal's (ratio tests) and Student's t (prediction
intervals), at any confidence a tolerance file asks for.

The standard library has the normal; Student's t is inverted here from its distribution
function (a regularized incomplete beta, evaluated by its continued fraction) rather than read
from a table, so a tolerance file may ask for 99.9 % as readily as for 99 %.
"""

from __future__ import annotations

import math
from statistics import NormalDist


def z_quantile(confidence: float) -> float:
    """The two-sided normal quantile: 2.576 for 0.99."""
    return NormalDist().inv_cdf((1 + confidence) / 2)


def t_quantile(confidence: float, df: int) -> float:
    """The two-sided Student t quantile with ``df`` degrees of freedom: 63.657 for (0.99, 1)."""
    if df < 1:
        raise ValueError("Student's t needs at least one degree of freedom")
    tail = (1 - confidence) / 2
    low, high = 0.0, 1.0
    while _upper_tail(high, df) > tail:
        high *= 2
    for _ in range(200):  # bisection to float precision
        middle = (low + high) / 2
        if _upper_tail(middle, df) > tail:
            low = middle
        else:
            high = middle
        if high - low <= 1e-12 * high:
            break
    return (low + high) / 2


def _upper_tail(t: float, df: int) -> float:
    """P(T > t) for t >= 0: half the regularized incomplete beta I_{df/(df+t^2)}(df/2, 1/2)."""
    return 0.5 * _incomplete_beta(df / 2, 0.5, df / (df + t * t))


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), by the continued fraction on whichever side converges fast."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    """Lentz's evaluation of the incomplete beta's continued fraction."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return result
