from __future__ import annotations

import pytest

from xedgesim.compare.stats import t_quantile, z_quantile


@pytest.mark.parametrize(("confidence", "df", "expected"), [
    (0.99, 1, 63.657), (0.99, 2, 9.925), (0.99, 5, 4.032), (0.99, 19, 2.861),
    (0.99, 30, 2.750), (0.95, 10, 2.228), (0.999, 4, 8.610),
])
def test_t_quantile_matches_the_tables(confidence: float, df: int, expected: float) -> None:
    assert t_quantile(confidence, df) == pytest.approx(expected, abs=0.001)


def test_t_quantile_tends_to_the_normal() -> None:
    assert t_quantile(0.99, 100_000) == pytest.approx(z_quantile(0.99), abs=1e-4)
    assert z_quantile(0.99) == pytest.approx(2.5758, abs=1e-4)


def test_t_quantile_needs_a_degree_of_freedom() -> None:
    with pytest.raises(ValueError, match="degree of freedom"):
        t_quantile(0.99, 0)
