"""The interval every theory test judges by: a statistic's mean over seeds and the half-width
of its two-sided Student t interval (99.9 % unless said), so a correct model fails about once
in a thousand runs of a test and a biased one is caught."""

from __future__ import annotations

import math
from collections.abc import Sequence

from xedgesim.compare.stats import t_quantile


def mean_and_half_width(values: Sequence[float],
                        confidence: float = 0.999) -> tuple[float, float]:
    """(mean, t × sd / √n) of ``values``, one per seed (at least two)."""
    n = len(values)
    mean = math.fsum(values) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, t_quantile(confidence, n - 1) * sd / math.sqrt(n)
