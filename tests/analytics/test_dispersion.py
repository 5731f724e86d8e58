"""Day-to-day variation beyond order-level sampling (analytics.dispersion): no factor where days
vary as their orders say, a large one where whole days move together, none from too few days."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analytics.comparisons import Difference, widened
from analytics.dispersion import MIN_DAYS_DF, Dispersion, day_dispersion


def _rate_days(rng: np.random.Generator, rates: np.ndarray, n: int = 2000) -> list:
    return [(float(rng.binomial(n, rate)), float(n), None) for rate in rates]


def test_days_that_vary_as_their_orders_say_get_no_factor() -> None:
    rng = np.random.default_rng(7)
    found = [day_dispersion(_rate_days(rng, np.full(14, 0.9))) for _ in range(50)]
    factors = np.array([d.factor for d in found])
    assert {d.df for d in found} == {13}
    assert np.median(factors) < 1.2 and factors.max() < 2.5


def test_days_that_move_together_get_the_ratio_of_their_variance_to_sampling() -> None:
    rng = np.random.default_rng(8)
    day_effects = rng.normal(0.9, 0.03, 28)  # whole days 3 pp apart; sampling gives 0.67 pp
    found = day_dispersion(_rate_days(rng, day_effects))
    expected = (0.03**2 + 0.9 * 0.1 / 2000) / (0.9 * 0.1 / 2000)
    assert found.df == 27
    assert found.factor == pytest.approx(expected, rel=0.5)


def test_means_use_each_day_s_own_variance() -> None:
    rng = np.random.default_rng(9)
    days = []
    for shift in rng.normal(0, 3, 10):  # minutes a whole day moves
        values = rng.normal(30 + shift, 10, 400)
        days.append((float(values.sum()), 400.0, float((values**2).sum())))
    found = day_dispersion(days)
    assert found.df == 9 and found.factor == pytest.approx((9 + 100 / 400) / (100 / 400), rel=0.6)


def test_too_few_days_give_no_factor() -> None:
    """Days 5 pp apart: a factor from MIN_DAYS_DF + 1 days on, none from one day fewer (nor
    from days of under 2 orders, which are left out)."""
    rng = np.random.default_rng(10)
    days = _rate_days(rng, np.resize([0.8, 0.95, 0.85], MIN_DAYS_DF + 1))
    assert day_dispersion(days).df == MIN_DAYS_DF and day_dispersion(days).factor > 10
    assert day_dispersion(days[:-1]) == Dispersion(1.0, 0)
    assert day_dispersion([*days[:-1], (1.0, 1.0, None)]) == Dispersion(1.0, 0)


def test_a_widened_difference_keeps_its_estimate_and_widens_interval_and_p() -> None:
    base = Difference(-0.03, -0.036, -0.024, 1e-20, "two-proportion z-test (pooled)")
    wide = widened(base, Dispersion(25.0, 13))
    assert wide.estimate == base.estimate
    assert wide.ci_low is not None and wide.ci_high is not None
    assert wide.ci_low < -0.036 - 0.02 and wide.ci_high > -0.024 + 0.02  # 5x wider and a t(13)
    z = stats.norm.isf(1e-20 / 2) / 5  # z 9.3 read as 1.9 on t(13)
    assert wide.p_value == pytest.approx(2 * stats.t.sf(z, 13)) and 0.05 < wide.p_value < 0.1
    assert "variance x25.00 for day-to-day variation (13 df" in wide.method
    same = widened(base, Dispersion(1.0, 13))
    assert (same.ci_low, same.p_value) == (base.ci_low, base.p_value)
    assert widened(base, Dispersion(1.0, 0)).method.endswith(
        "too few days to allow for day-to-day variation"
    )
