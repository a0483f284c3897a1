"""Inverse-transform sampling: right moments, one uniform per draw, monotone in the uniform."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from xedgesim.scenario.model import Distribution
from xedgesim.sim.distributions import _P_LOW, mean, normal_ppf, sample
from xedgesim.sim.rng import Streams

N = 200_000
EVEN = (np.arange(N) + 0.5) / N  # midpoints: a quadrature of the distribution
STANDARD = NormalDist()


def _stream_uniforms(name: str) -> np.ndarray:
    return Streams(99, name, 1_000).uniform(np.tile(np.arange(1_000), N // 1_000))


def _truncated_mean(mu: float, sigma: float) -> float:
    """Mean of N(mu, sigma) conditioned on >= 0."""
    alpha = -mu / sigma
    return mu + sigma * STANDARD.pdf(alpha) / (1.0 - STANDARD.cdf(alpha))


def test_constant() -> None:
    values = sample(Distribution("constant", (3,)), EVEN[:10])
    assert values.dtype == np.float64
    np.testing.assert_array_equal(values, np.full(10, 3.0))
    assert sample(Distribution("constant", (2.5,)), np.zeros((2, 3))).shape == (2, 3)


@pytest.mark.parametrize("uniforms", [EVEN, _stream_uniforms("exp")], ids=["even", "stream"])
@pytest.mark.parametrize("scale", [1.0, 2e6])
def test_exponential_moments(uniforms: np.ndarray, scale: float) -> None:
    values = sample(Distribution("exponential", (scale,)), uniforms)
    assert values.min() >= 0.0
    assert values.mean() == pytest.approx(scale, rel=0.01)
    assert values.var() == pytest.approx(scale**2, rel=0.03)
    assert np.median(values) == pytest.approx(scale * math.log(2), rel=0.01)


def test_exponential_of_zero_is_zero() -> None:
    assert sample(Distribution("exponential", (5.0,)), np.array([0.0]))[0] == 0.0


@pytest.mark.parametrize("uniforms", [EVEN, _stream_uniforms("uni")], ids=["even", "stream"])
@pytest.mark.parametrize(("low", "high"), [(0.0, 1.0), (-3.0, 7.0), (1e6, 5e6)])
def test_uniform_moments(uniforms: np.ndarray, low: float, high: float) -> None:
    values = sample(Distribution("uniform", (low, high)), uniforms)
    assert values.min() >= low
    assert values.max() < high
    assert values.mean() == pytest.approx((low + high) / 2, rel=0.01, abs=0.01)
    assert values.var() == pytest.approx((high - low) ** 2 / 12, rel=0.01)


def test_degenerate_uniform_is_constant() -> None:
    np.testing.assert_array_equal(sample(Distribution("uniform", (4.0, 4.0)), EVEN[:5]),
                                  np.full(5, 4.0))


@pytest.mark.parametrize("uniforms", [EVEN, _stream_uniforms("norm")], ids=["even", "stream"])
@pytest.mark.parametrize(("mu", "sigma"), [(0.0, 1.0), (20.0, 2.0), (-5.0, 0.5), (3e6, 1e6)])
def test_normal_moments(uniforms: np.ndarray, mu: float, sigma: float) -> None:
    values = sample(Distribution("normal", (mu, sigma)), uniforms)
    assert values.mean() == pytest.approx(mu, abs=0.01 * sigma)
    assert values.std() == pytest.approx(sigma, rel=0.01)
    assert np.median(values) == pytest.approx(mu, abs=0.01 * sigma)


def test_normal_without_truncation_goes_negative() -> None:
    values = sample(Distribution("normal", (1.0, 1.0)), EVEN)
    assert (values < 0).mean() == pytest.approx(STANDARD.cdf(-1.0), rel=0.01)


@pytest.mark.parametrize(
    ("mu", "sigma"),
    [(0.0, 1.0), (1.0, 1.0), (5.0, 1.0), (20.0, 2.0), (2e6, 1e6), (-1.0, 1.0), (-3.0, 1.0),
     (-10.0, 1.0)],
)
def test_truncated_normal_is_never_negative(mu: float, sigma: float) -> None:
    """The smallest uniform, 0.0, is a possible draw (``Streams`` can return it)."""
    uniforms = np.concatenate([[0.0, 2.0**-53, 1e-12], EVEN, _stream_uniforms("trunc")])
    values = sample(Distribution("normal", (mu, sigma)), uniforms, truncate_at_zero=True)
    assert values.min() >= 0.0, f"N({mu}, {sigma}) truncated at zero drew {values.min()!r}"


@pytest.mark.parametrize("uniforms", [EVEN, _stream_uniforms("tmean")], ids=["even", "stream"])
@pytest.mark.parametrize(
    ("mu", "sigma"),
    [(0.0, 1.0), (1.0, 1.0), (5.0, 1.0), (20.0, 2.0), (2e6, 1e6), (-1.0, 1.0), (-3.0, 1.0)],
)
def test_truncated_normal_mean_matches_the_analytic_mean(
    uniforms: np.ndarray, mu: float, sigma: float
) -> None:
    values = sample(Distribution("normal", (mu, sigma)), uniforms, truncate_at_zero=True)
    assert values.mean() == pytest.approx(_truncated_mean(mu, sigma), rel=0.01)


def test_truncation_barely_matters_far_above_zero() -> None:
    plain = sample(Distribution("normal", (20.0, 2.0)), EVEN)
    truncated = sample(Distribution("normal", (20.0, 2.0)), EVEN, truncate_at_zero=True)
    np.testing.assert_allclose(truncated, plain, rtol=1e-6)


@pytest.mark.parametrize("truncate", [False, True])
def test_normal_with_zero_std_is_its_mean(truncate: bool) -> None:
    values = sample(Distribution("normal", (7.0, 0.0)), EVEN[:4], truncate_at_zero=truncate)
    np.testing.assert_array_equal(values, np.full(4, 7.0))


def test_truncated_normal_with_zero_std_and_negative_mean_is_zero() -> None:
    values = sample(Distribution("normal", (-7.0, 0.0)), EVEN[:4], truncate_at_zero=True)
    np.testing.assert_array_equal(values, np.zeros(4))


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown distribution 'pareto'"):
        sample(Distribution("pareto", (1.0,)), EVEN[:3])  # type: ignore[arg-type]


def test_mean() -> None:
    assert mean(Distribution("constant", (3,))) == 3.0
    assert mean(Distribution("exponential", (2e6,))) == 2e6
    assert mean(Distribution("normal", (20.0, 2.0))) == 20.0
    assert mean(Distribution("uniform", (2.0, 6.0))) == 4.0


def _probability_grid() -> np.ndarray:
    low_tail = np.logspace(-300, math.log10(0.4), 3_000)
    middle = np.linspace(0.001, 0.999, 4_001)
    high_tail = 1.0 - np.logspace(-15, math.log10(0.4), 1_000)
    edges = np.array([_P_LOW, 1.0 - _P_LOW, 0.5, 1e-300, 1e-16, 1.0 - 1e-15])
    return np.concatenate([low_tail, middle, high_tail, edges])


def test_normal_ppf_matches_the_standard_library() -> None:
    p = _probability_grid()
    expected = np.array([STANDARD.inv_cdf(float(x)) for x in p])
    found = normal_ppf(p)
    away_from_zero = np.abs(expected) > 1e-3
    relative = np.abs(found - expected)[away_from_zero] / np.abs(expected[away_from_zero])
    assert relative.max() < 1e-8
    np.testing.assert_allclose(found[~away_from_zero], expected[~away_from_zero], atol=1e-11)


def test_normal_ppf_is_antisymmetric_and_keeps_shape() -> None:
    p = np.linspace(0.01, 0.49, 7)
    np.testing.assert_allclose(normal_ppf(p), -normal_ppf(1.0 - p), rtol=1e-8)
    assert normal_ppf(np.full((2, 3), 0.5)).shape == (2, 3)
    assert abs(normal_ppf(np.array([0.5]))[0]) < 1e-15


def test_normal_ppf_is_finite_at_the_ends() -> None:
    values = normal_ppf(np.array([0.0, 1.0]))
    assert np.all(np.isfinite(values))
    assert values[0] < -37 and values[1] > 8


_MONOTONE = [
    (Distribution("constant", (1.0,)), False),
    (Distribution("exponential", (2e6,)), False),
    (Distribution("uniform", (-1.0, 3.0)), False),
    (Distribution("normal", (20.0, 2.0)), False),
    (Distribution("normal", (20.0, 2.0)), True),
    (Distribution("normal", (1.0, 3.0)), True),
    (Distribution("normal", (-2.0, 1.0)), True),
]


@pytest.mark.parametrize(("dist", "truncate"), _MONOTONE)
def test_sample_is_monotone_in_the_uniform(dist: Distribution, truncate: bool) -> None:
    uniforms = np.sort(np.concatenate([[0.0], EVEN, _stream_uniforms("monotone")]))
    values = sample(dist, uniforms, truncate_at_zero=truncate)
    assert np.all(np.diff(values) >= 0)


def _neighbours(p: float, steps: int) -> np.ndarray:
    below = [p]
    above = [p]
    for _ in range(steps):
        below.append(np.nextafter(below[-1], 0.0))
        above.append(np.nextafter(above[-1], 1.0))
    return np.array(below[:0:-1] + above)


@pytest.mark.parametrize("seam", [_P_LOW, 1.0 - _P_LOW])
def test_normal_ppf_steps_back_at_most_negligibly_at_its_region_seams(seam: float) -> None:
    """Acklam's approximation switches formulas at p_low and 1 - p_low; the two pieces meet
    within its accuracy, so at the seam the result may step back by ~1e-13 (never more)."""
    values = normal_ppf(_neighbours(seam, 5_000))
    assert np.diff(values).min() > -1e-11
    assert values[-1] > values[0]
