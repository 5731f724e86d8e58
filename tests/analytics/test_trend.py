"""A series' trend: the Theil-Sen change with its interval, and the Mann-Kendall test."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analytics.trend import series_trend


def test_a_steady_decline_is_measured_and_significant() -> None:
    """30 days losing 0.1 a day under noise of sd 0.3: the change from the first day to the
    last is about -2.9, inside its 95% interval, and Mann-Kendall rejects no trend."""
    rng = np.random.default_rng(3)
    values = list(90 - 0.1 * np.arange(30) + rng.normal(0, 0.3, 30))
    trend = series_trend(values)
    assert trend is not None and trend.periods == 30
    assert trend.low <= -2.9 <= trend.high and trend.change == pytest.approx(-2.9, abs=0.4)
    assert trend.p_value < 0.001
    assert trend.p_value == pytest.approx(stats.kendalltau(range(30), values).pvalue)


def test_noise_alone_has_no_significant_trend_and_short_or_flat_series_none() -> None:
    rng = np.random.default_rng(4)
    trend = series_trend(list(rng.normal(90, 0.3, 30)))
    assert trend is not None and trend.p_value > 0.05 and trend.low < 0 < trend.high
    assert series_trend([1.0, 2.0, 3.0]) is None
    assert series_trend([5.0] * 10) is None
