"""Lagged correlation on simulated hourly series with a known lead, none, or a shared profile."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.lags import LagError, lagged_correlation

HOURS = pd.date_range("2026-01-01", periods=31 * 24, freq="h")
HOUR_OF_DAY = HOURS.hour.to_numpy()
# A dinner peak on a smooth daily wave, like the late rate or prep minutes of a grocery slice.
DAILY_PROFILE = ((HOUR_OF_DAY >= 17) & (HOUR_OF_DAY <= 21)) + 0.5 * np.sin(
    2 * np.pi * HOUR_OF_DAY / 24
)


def _autoregressive(rng: np.random.Generator, persistence: float, scale: float) -> np.ndarray:
    """AR(1) noise: each hour keeps `persistence` of the previous hour's value."""
    shocks = rng.normal(0, scale, len(HOURS))
    values = np.empty(len(HOURS))
    values[0] = shocks[0]
    for hour in range(1, len(HOURS)):
        values[hour] = persistence * values[hour - 1] + shocks[hour]
    return values


def _hourly(values: np.ndarray) -> pd.Series:
    return pd.Series(values, index=HOURS)


def test_driver_leading_outcome_by_two_periods_is_found_at_lag_two() -> None:
    rng = np.random.default_rng(0)
    prep_minutes_noise = _autoregressive(rng, persistence=0.5, scale=1.0)
    prep_minutes = _hourly(12 + 3 * DAILY_PROFILE + prep_minutes_noise)
    late_rate = _hourly(
        0.10
        + 0.05 * DAILY_PROFILE
        + 0.02 * np.roll(prep_minutes_noise, 2)
        + rng.normal(0, 0.02, len(HOURS))
    )
    result = lagged_correlation(prep_minutes, late_rate, max_lag=6)
    assert result.best.lag == 2
    assert result.best.correlation == pytest.approx(0.68, abs=0.1)
    assert result.best_p_value_adjusted < 1e-10
    assert result.best_reverse is not None
    assert abs(result.best_reverse.correlation) < 0.15
    assert result.best_reverse_p_value_adjusted > 0.01
    assert [correlation.lag for correlation in result.correlations] == list(range(-6, 7))
    assert result.at(2) == result.best
    assert result.transform == "24-period seasonal profile removed, then first differences"


def test_independent_smooth_series_show_no_significant_correlation_in_most_replications() -> None:
    significant_lags = 0
    significant_best = 0
    replications = 100
    for seed in range(replications):
        rng = np.random.default_rng(seed)
        driver = _hourly(3 * DAILY_PROFILE + _autoregressive(rng, persistence=0.8, scale=1.0))
        outcome = _hourly(DAILY_PROFILE + _autoregressive(rng, persistence=0.8, scale=1.0))
        result = lagged_correlation(driver, outcome, max_lag=6)
        significant_lags += sum(c.p_value < 0.01 for c in result.correlations)
        significant_best += result.best_p_value_adjusted < 0.01
    # Nominal rates: 1% of lags, at most 1% of best lags. Allowed: twice that plus binomial noise.
    assert significant_lags / (13 * replications) <= 0.02
    assert significant_best / replications <= 0.04


def test_seasonal_series_sharing_hour_profile_show_no_spurious_correlation_after_detrending() -> (
    None
):
    rng = np.random.default_rng(1)
    drift = np.linspace(0, 1, len(HOURS))
    driver = _hourly(DAILY_PROFILE + drift + rng.normal(0, 0.1, len(HOURS)))
    outcome = _hourly(DAILY_PROFILE + 2 * drift + rng.normal(0, 0.1, len(HOURS)))

    raw = lagged_correlation(driver, outcome, max_lag=3, season=None, difference=False)
    assert raw.best.lag == 0
    assert raw.best.correlation > 0.9
    # Significant even though the shared profile and drift shrink it to ~10 effective pairs.
    assert raw.best_p_value_adjusted < 0.01

    detrended = lagged_correlation(driver, outcome, max_lag=3)
    assert abs(detrended.best.correlation) < 0.1
    assert detrended.best_p_value_adjusted > 0.01


def test_differencing_alone_leaves_a_shared_hour_profile_correlated() -> None:
    rng = np.random.default_rng(1)
    driver = _hourly(DAILY_PROFILE + rng.normal(0, 0.1, len(HOURS)))
    outcome = _hourly(DAILY_PROFILE + rng.normal(0, 0.1, len(HOURS)))
    differenced = lagged_correlation(driver, outcome, max_lag=3, season=None)
    assert differenced.best.lag == 0
    assert differenced.best_p_value_adjusted < 1e-6


def test_missing_hours_drop_only_their_pairs() -> None:
    rng = np.random.default_rng(2)
    noise = rng.normal(0, 1, len(HOURS))
    driver = _hourly(DAILY_PROFILE + noise)
    outcome = _hourly(DAILY_PROFILE + np.roll(noise, 1) + rng.normal(0, 0.5, len(HOURS)))
    driver.iloc[[100, 400]] = np.nan
    result = lagged_correlation(driver, outcome, max_lag=2)
    assert result.best.lag == 1
    # 743 differences; each missing hour spoils two of them.
    assert result.at(0).pairs == 743 - 4
    assert result.at(2).pairs == 741 - 4


def test_hour_banded_series_use_the_hours_present_and_skip_lags_longer_than_the_band() -> None:
    rng = np.random.default_rng(4)
    noise = rng.normal(0, 1, len(HOURS))
    driver = _hourly(DAILY_PROFILE + noise)
    outcome = _hourly(DAILY_PROFILE + noise + rng.normal(0, 0.5, len(HOURS)))
    outside_band = (HOUR_OF_DAY < 18) | (HOUR_OF_DAY > 20)
    driver[outside_band], outcome[outside_band] = np.nan, np.nan

    result = lagged_correlation(driver, outcome, max_lag=6, min_periods=20)

    # Hours 18-20 give two differences a day: 62 pairs at lag 0, 31 at lags 1 and -1.
    assert [c.lag for c in result.correlations] == [-1, 0, 1]
    assert result.skipped_lags == (-6, -5, -4, -3, -2, 2, 3, 4, 5, 6)
    assert result.at(0).pairs == 62
    assert result.best.lag == 0
    assert result.best.correlation > 0.8


def _series(values: object, index: object = None) -> pd.Series:
    return pd.Series(values, index=HOURS if index is None else index)


NOISE = np.random.default_rng(3).normal(size=len(HOURS))


@pytest.mark.parametrize(
    ("driver", "outcome", "options", "message"),
    [
        (NOISE, _series(NOISE), {}, "driver must be a pandas Series"),
        (_series(NOISE), _series(NOISE).iloc[1:], {}, "share the same index"),
        (_series(NOISE), _series(NOISE), {"max_lag": -1}, "max_lag must be"),
        (_series(NOISE), _series(NOISE), {"min_periods": 2}, "min_periods must be"),
        (_series(NOISE).iloc[:20], _series(NOISE).iloc[:20], {}, "at least 2 values at some"),
        (
            _series(NOISE).iloc[:60],
            _series(NOISE).iloc[:60],
            {"season": None, "min_periods": 60},
            "no lag in 0..3 has min_periods=60 complete pairs",
        ),
        (_series(np.nan), _series(NOISE), {}, "driver has no values"),
        (_series(NOISE), _series(np.where(HOUR_OF_DAY == 3, np.inf, 0.0)), {}, "infinite"),
        (_series(NOISE), _series("late"), {}, "outcome must be numeric"),
        (_series(NOISE), _series(HOUR_OF_DAY.astype(float)), {}, "constant after"),
        (
            _series(NOISE, HOURS.delete(5).append(pd.DatetimeIndex(["2026-03-01"]))),
            _series(NOISE, HOURS.delete(5).append(pd.DatetimeIndex(["2026-03-01"]))),
            {},
            "index must be regular",
        ),
        (_series(NOISE, HOURS[::-1]), _series(NOISE, HOURS[::-1]), {}, "unique and increasing"),
    ],
)
def test_invalid_series_raise_clear_errors(
    driver: object, outcome: object, options: dict[str, object], message: str
) -> None:
    with pytest.raises(LagError, match=message):
        lagged_correlation(driver, outcome, **{"max_lag": 3, **options})
