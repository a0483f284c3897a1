"""Fitting one-way delays and a loss probability, and saying how well the fit holds.

Delays (nanoseconds, the link's share of each message's trip) are fitted three ways by maximum
likelihood: the **shifted exponential** the scenario's links model (``latency`` plus
``jitter: {exponential: …}``), a **normal** and a **uniform**. Each fit is checked with the
one-sample Kolmogorov–Smirnov test; the shifted exponential is written unless the test rejects
it, and then the family with the largest likelihood is. Loss is a binomial proportion with a
Wilson score interval. numpy and the standard library only: the project does not depend on
scipy, so the Kolmogorov distribution is computed here from its series. docs/parity.md,
"Calibration", explains every choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SHIFTED_EXPONENTIAL, NORMAL, UNIFORM, CONSTANT = "shifted_exponential", "normal", "uniform", \
    "constant"
FAMILIES = (SHIFTED_EXPONENTIAL, NORMAL, UNIFORM)
ALPHA = 0.01  # the KS test's level: a fit is rejected when its p-value is below this
CONFIDENCE = 0.95  # of the loss interval
MIN_DELAY_SAMPLES = 20  # fewer say too little about a distribution to replace the scenario's
MIN_LOSS_TRIALS = 100  # fewer cannot tell 0 from a few per cent (0 of 100: up to 3.7 %)


@dataclass(frozen=True)
class DelayFit:
    """One family fitted to ``n`` delays.

    ``params`` in nanoseconds: shifted_exponential ``location``, ``scale`` (the bias-corrected
    estimates that are written); normal ``mean``, ``std``; uniform ``low``, ``high``; constant
    ``value``. ``log_likelihood`` is the maximum of the log-likelihood (at the plain MLE), the
    measure families are compared by; ``ks_d`` and ``ks_p`` test the written parameters.
    """

    family: str
    params: dict[str, float]
    n: int
    log_likelihood: float
    ks_d: float
    ks_p: float

    @property
    def rejected(self) -> bool:
        return self.ks_p < ALPHA


@dataclass(frozen=True)
class DelayChoice:
    """The fit written to the overlay, every candidate, and why that one."""

    chosen: DelayFit
    candidates: tuple[DelayFit, ...]
    reason: str


@dataclass(frozen=True)
class LossFit:
    """``failures`` out of ``trials``: the MLE ``p`` and its Wilson interval ``[low, high]``."""

    failures: int
    trials: int
    p: float
    low: float
    high: float


def fit_shifted_exponential(samples: np.ndarray) -> DelayFit:
    """X = location + Exponential(scale). The MLE is location = min, scale = mean − min; the
    minimum overshoots the location by scale/n on average, so both are corrected:
    scale = n/(n−1)·(mean − min) and location = min − scale/n (unbiased, UMVU)."""
    x = _as_float(samples)
    n = len(x)
    low, mean = float(x.min()), float(x.mean())
    mle_scale = mean - low
    if mle_scale <= 0.0:
        return _constant(x)
    scale = n / (n - 1) * mle_scale
    location = low - scale / n
    loglik = -n * (math.log(mle_scale) + 1.0)
    sorted_x = np.sort(x)
    cdf = -np.expm1(-np.maximum(sorted_x - location, 0.0) / scale)
    d = ks_statistic(cdf)
    return DelayFit(SHIFTED_EXPONENTIAL, {"location": location, "scale": scale}, n, loglik, d,
                    kolmogorov_p(d, n))


def fit_normal(samples: np.ndarray) -> DelayFit:
    """The MLE (mean, standard deviation with divisor n); the written ``std`` uses n − 1."""
    x = _as_float(samples)
    n = len(x)
    mean = float(x.mean())
    mle_var = float(np.mean((x - mean) ** 2))
    if mle_var <= 0.0:
        return _constant(x)
    std = math.sqrt(mle_var * n / (n - 1))
    loglik = -0.5 * n * (math.log(2.0 * math.pi * mle_var) + 1.0)
    sorted_x = np.sort(x)
    cdf = _normal_cdf((sorted_x - mean) / std)
    d = ks_statistic(cdf)
    return DelayFit(NORMAL, {"mean": mean, "std": std}, n, loglik, d, kolmogorov_p(d, n))


def fit_uniform(samples: np.ndarray) -> DelayFit:
    """The MLE is [min, max]; each end is widened by (max − min)/(n − 1) (unbiased)."""
    x = _as_float(samples)
    n = len(x)
    low, high = float(x.min()), float(x.max())
    width = high - low
    if width <= 0.0:
        return _constant(x)
    pad = width / (n - 1)
    loglik = -n * math.log(width)
    sorted_x = np.sort(x)
    cdf = np.clip((sorted_x - (low - pad)) / (width + 2 * pad), 0.0, 1.0)
    d = ks_statistic(cdf)
    return DelayFit(UNIFORM, {"low": low - pad, "high": high + pad}, n, loglik, d,
                    kolmogorov_p(d, n))


def fit_delay(samples: np.ndarray) -> DelayChoice:
    """The shifted exponential when the KS test does not reject it at ``ALPHA``; otherwise the
    family with the largest maximised log-likelihood (all have two parameters, so likelihoods
    compare directly), said in ``reason``. At least two samples."""
    x = _as_float(samples)
    if len(x) < 2:
        raise ValueError("a delay fit needs at least two samples")
    exponential = fit_shifted_exponential(x)
    if exponential.family == CONSTANT:
        return DelayChoice(exponential, (exponential,), "every delay is the same: no jitter")
    candidates = (exponential, fit_normal(x), fit_uniform(x))
    if not exponential.rejected:
        return DelayChoice(exponential, candidates,
                           f"the shifted exponential fits (KS p = {exponential.ks_p:.3g})")
    best = max(candidates, key=lambda fit: fit.log_likelihood)
    if best is exponential:
        return DelayChoice(exponential, candidates,
                           f"the shifted exponential does not fit (KS p = {exponential.ks_p:.3g})"
                           " but is still the most likely of the three; written anyway")
    verdict = "and fits" if not best.rejected else "but does not fit either"
    return DelayChoice(best, candidates,
                       f"the shifted exponential does not fit (KS p = {exponential.ks_p:.3g}); "
                       f"the {best.family} is more likely {verdict} (KS p = {best.ks_p:.3g})")


def fit_loss(failures: int, trials: int, confidence: float = CONFIDENCE) -> LossFit:
    """Binomial MLE ``failures / trials`` with the Wilson score interval, which stays inside
    [0, 1] and keeps its coverage for a p near 0 (where loss usually is), unlike p ± z·se."""
    if trials <= 0 or not 0 <= failures <= trials:
        raise ValueError(f"need 0 <= failures <= trials and trials > 0, got {failures}/{trials}")
    p = failures / trials
    z = _normal_quantile(0.5 + confidence / 2)
    z2n = z * z / trials
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / trials + z2n / (4 * trials))
    return LossFit(failures, trials, p, max(0.0, centre - half), min(1.0, centre + half))


def ks_statistic(cdf_of_sorted: np.ndarray) -> float:
    """Kolmogorov–Smirnov D: the largest gap between the fitted CDF, evaluated at the sorted
    samples, and the empirical CDF, on either side of each step."""
    n = len(cdf_of_sorted)
    ranks = np.arange(1, n + 1, dtype=np.float64)
    above = float(np.max(ranks / n - cdf_of_sorted))
    below = float(np.max(cdf_of_sorted - (ranks - 1) / n))
    return max(above, below, 0.0)


def kolmogorov_p(d: float, n: int) -> float:
    """P(D_n ≥ d) by the asymptotic Kolmogorov distribution, Q(λ) = 2 Σ (−1)^(k−1) e^(−2k²λ²),
    with Stephens' small-sample correction λ = (√n + 0.12 + 0.11/√n)·d. With parameters fitted
    from the same samples the true p-value is smaller (Lilliefors): this one is conservative."""
    if n <= 0 or d <= 0.0:
        return 1.0
    root = math.sqrt(n)
    lam = (root + 0.12 + 0.11 / root) * d
    if lam < 0.2:
        return 1.0
    total = 0.0
    for k in range(1, 101):
        term = 2.0 * (-1.0) ** (k - 1) * math.exp(-2.0 * k * k * lam * lam)
        total += term
        if abs(term) < 1e-12:
            break
    return min(1.0, max(0.0, total))


def _constant(x: np.ndarray) -> DelayFit:
    return DelayFit(CONSTANT, {"value": float(x[0])}, len(x), math.inf, 0.0, 1.0)


def _as_float(samples: np.ndarray) -> np.ndarray:
    return np.asarray(samples, dtype=np.float64)


_erfc = np.frompyfunc(math.erfc, 1, 1)


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    return 0.5 * _erfc(-z / math.sqrt(2.0)).astype(np.float64)


def _normal_quantile(p: float) -> float:
    """The standard normal quantile, by bisection on erfc (a few dozen steps, exact enough)."""
    low, high = -40.0, 40.0
    for _ in range(200):
        middle = (low + high) / 2
        if 0.5 * math.erfc(-middle / math.sqrt(2.0)) < p:
            low = middle
        else:
            high = middle
    return (low + high) / 2
