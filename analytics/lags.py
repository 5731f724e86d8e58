"""Lagged correlation of a driver series with an outcome series: which leads, by how many periods.

Raw levels of two seasonal series correlate spuriously: prep minutes and late rate both peak at
dinner whether or not one causes the other, and two series that drift over a month correlate
for the same reason. So each series is first stripped of its seasonal profile (the mean of each
position in the cycle, e.g. hour of day: `season=24`, estimated at the positions the series
covers, so an hour-banded slice such as 18:00-20:59 works), then first-differenced, which
removes trends and level shifts. Differencing alone is not enough: the differences of two
series with the same daily profile still share that profile. Its cost: when the driver is not
persistent, the lags next to a true lead pick up negative correlations (-(1 - phi)/2 of the peak
for an AR(1) driver with coefficient phi), so read the peak, not its neighbours.

Correlations are Pearson on the pairs where both values are present (a lag with too few pairs,
e.g. longer than an hour band, is left out); p-values are two-sided from Fisher's z, with the
sample size shrunk to the effective number of independent pairs for autocorrelated series
(Bartlett 1935; the estimator of Pyper & Peterman 1998). Without that correction two independent
but smooth series look significantly correlated far more often than the nominal level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

MIN_PERIODS = 30
_MAX_CORRELATION = 1 - 1e-12  # keeps Fisher's z finite for a perfect correlation


class LagError(ValueError):
    """Series a lagged correlation cannot use: misaligned, irregular, too short, not numeric."""


@dataclass(frozen=True)
class LagCorrelation:
    """Correlation of outcome(t) with driver(t - lag); a negative lag means the outcome leads."""

    lag: int
    correlation: float
    p_value: float
    pairs: int
    effective_pairs: float


@dataclass(frozen=True)
class LagResult:
    """Correlations at the lags -max_lag..max_lag that have enough pairs, and the strongest lag
    in each direction.

    `best` is the driver-leading lag (0..max_lag) with the largest |correlation|;
    `best_reverse` the outcome-leading one (-max_lag..-1), None when max_lag is 0 or no such lag
    has enough pairs. Their adjusted p-values are Bonferroni over the lags searched, since
    picking the largest of several correlations inflates it. `skipped_lags` had fewer than
    min_periods complete pairs (or too few effective ones) after the transform.
    """

    correlations: tuple[LagCorrelation, ...]
    best: LagCorrelation
    best_p_value_adjusted: float
    best_reverse: LagCorrelation | None
    best_reverse_p_value_adjusted: float | None
    transform: str
    skipped_lags: tuple[int, ...] = ()

    def at(self, lag: int) -> LagCorrelation:
        """The correlation at one lag."""
        for correlation in self.correlations:
            if correlation.lag == lag:
                return correlation
        raise KeyError(f"lag {lag} was not computed")


def lagged_correlation(
    driver: pd.Series,
    outcome: pd.Series,
    max_lag: int,
    min_periods: int = MIN_PERIODS,
    *,
    season: int | None = 24,
    difference: bool = True,
) -> LagResult:
    """Correlate outcome(t) with driver(t - lag) for lag = -max_lag..max_lag.

    The series share one regular, increasing index (missing periods as NaN rows). `season` is
    the number of periods in the seasonal cycle whose mean profile is removed (24 for hour of
    day in hourly series, 7 for weekday in daily ones, None to keep it); `difference` takes
    first differences afterwards. The profile is estimated at the cycle positions with at least
    two values; values at the other positions are dropped. A lag with fewer than `min_periods`
    complete pairs is skipped; at least one driver-leading lag (0..max_lag) must remain.
    """
    if not isinstance(max_lag, int) or max_lag < 0:
        raise LagError(f"max_lag must be a non-negative integer, got {max_lag!r}")
    if min_periods < 4:
        raise LagError(f"min_periods must be at least 4 for Fisher's z, got {min_periods}")
    if season is not None and season < 2:
        raise LagError(f"season must be at least 2 periods or None, got {season}")
    _check_index(driver, outcome)
    driver_values = _transformed(_values(driver, "driver"), season, difference, "driver")
    outcome_values = _transformed(_values(outcome, "outcome"), season, difference, "outcome")

    inflation = _autocorrelation_inflation(driver_values, outcome_values)
    measured = {
        lag: _correlation_at(driver_values, outcome_values, lag, min_periods, inflation)
        for lag in range(-max_lag, max_lag + 1)
    }
    correlations = tuple(c for c in measured.values() if c is not None)
    leading = [c for c in correlations if c.lag >= 0]
    trailing = [c for c in correlations if c.lag < 0]
    if not leading:
        pairs = len(_shifted_pairs(driver_values, outcome_values, 0)[0])
        raise LagError(
            f"no lag in 0..{max_lag} has min_periods={min_periods} complete pairs and more than "
            f"3 effective ones after the transform (lag 0 has {pairs} pairs, "
            f"{pairs / inflation:.1f} effective); use a longer series"
        )
    best = max(leading, key=lambda c: abs(c.correlation))
    best_reverse = max(trailing, key=lambda c: abs(c.correlation)) if trailing else None
    return LagResult(
        correlations=correlations,
        best=best,
        best_p_value_adjusted=min(1.0, best.p_value * len(leading)),
        best_reverse=best_reverse,
        best_reverse_p_value_adjusted=(
            None if best_reverse is None else min(1.0, best_reverse.p_value * len(trailing))
        ),
        transform=_describe(season, difference),
        skipped_lags=tuple(lag for lag, c in measured.items() if c is None),
    )


def _check_index(driver: pd.Series, outcome: pd.Series) -> None:
    for name, series in (("driver", driver), ("outcome", outcome)):
        if not isinstance(series, pd.Series):
            raise LagError(f"{name} must be a pandas Series, got {type(series).__name__}")
    if not driver.index.equals(outcome.index):
        raise LagError(
            "driver and outcome must share the same index; align them first "
            "(e.g. driver.reindex(outcome.index))"
        )
    index = driver.index
    if not index.is_unique or not index.is_monotonic_increasing:
        raise LagError("the index must be unique and increasing")
    if isinstance(index, pd.DatetimeIndex | pd.PeriodIndex | pd.TimedeltaIndex):
        positions = index.asi8.astype(float)
    elif pd.api.types.is_numeric_dtype(index):
        positions = index.to_numpy(dtype=float)
    else:
        raise LagError(f"the index must hold times or numbers, got dtype {index.dtype}")
    steps = np.diff(positions)
    if len(steps) and not np.allclose(steps, steps[0]):
        raise LagError(
            "the index must be regular so that a lag of k rows is k periods; "
            "reindex missing periods as NaN"
        )


def _values(series: pd.Series, name: str) -> np.ndarray:
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise LagError(f"{name} must be numeric, got dtype {series.dtype}")
    values = series.to_numpy(dtype=float, na_value=np.nan)
    if np.isinf(values).any():
        raise LagError(f"{name} has infinite values")
    if np.isnan(values).all():
        raise LagError(f"{name} has no values")
    return values


def _transformed(values: np.ndarray, season: int | None, difference: bool, name: str) -> np.ndarray:
    """Remove the seasonal profile (mean per position in the cycle), then difference.

    Positions with fewer than two values have no profile estimate apart from the value itself,
    so their values are dropped (NaN).
    """
    if season is not None:
        position = np.arange(len(values)) % season
        present = ~np.isnan(values)
        counts = np.bincount(position[present], minlength=season)
        if counts.max() < 2:
            raise LagError(
                f"{name} needs at least 2 values at some position of the {season}-period "
                "season to estimate its profile"
            )
        sums = np.bincount(position[present], weights=values[present], minlength=season)
        with np.errstate(divide="ignore", invalid="ignore"):
            profile = np.where(counts >= 2, sums / counts, np.nan)
        values = values - profile[position]
    if difference:
        values = values[1:] - values[:-1]
    return values


def _complete_pairs(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    present = ~(np.isnan(first) | np.isnan(second))
    return first[present], second[present]


def _pearson(first: np.ndarray, second: np.ndarray) -> float:
    first_centered = first - first.mean()
    second_centered = second - second.mean()
    scale = np.sqrt((first_centered**2).sum() * (second_centered**2).sum())
    if scale == 0:
        return np.nan
    return float((first_centered * second_centered).sum() / scale)


def _shifted_pairs(
    driver: np.ndarray, outcome: np.ndarray, lag: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (driver(t - lag), outcome(t)) over the overlap, complete ones only."""
    length = len(driver)
    if lag >= 0:
        return _complete_pairs(driver[: length - lag], outcome[lag:])
    return _complete_pairs(driver[-lag:], outcome[: length + lag])


def _autocorrelation(values: np.ndarray, lag: int) -> float:
    first, second = _complete_pairs(values[: len(values) - lag], values[lag:])
    if len(first) < 3:
        return 0.0
    correlation = _pearson(first, second)
    return 0.0 if np.isnan(correlation) else correlation


def _autocorrelation_inflation(driver: np.ndarray, outcome: np.ndarray) -> float:
    """Variance inflation of a cross-correlation, 1 + 2 sum_j (N - j)/N r_dd(j) r_oo(j).

    Summed to N/5 (Pyper & Peterman 1998); floored at 1 so a correction never adds pairs.
    """
    length = len(driver)
    total = sum(
        (length - lag) / length * _autocorrelation(driver, lag) * _autocorrelation(outcome, lag)
        for lag in range(1, length // 5 + 1)
    )
    return max(1.0, 1 + 2 * total)


def _correlation_at(
    driver: np.ndarray, outcome: np.ndarray, lag: int, min_periods: int, inflation: float
) -> LagCorrelation | None:
    """The correlation at one lag; None when it has too few (effective) pairs."""
    driver_pairs, outcome_pairs = _shifted_pairs(driver, outcome, lag)
    pairs = len(driver_pairs)
    effective_pairs = pairs / inflation
    if pairs < min_periods or effective_pairs <= 3:
        return None
    correlation = _pearson(driver_pairs, outcome_pairs)
    if np.isnan(correlation):
        raise LagError(f"a series is constant after the transform at lag {lag}")
    z = np.arctanh(np.clip(correlation, -_MAX_CORRELATION, _MAX_CORRELATION))
    p_value = float(2 * stats.norm.sf(abs(z) * np.sqrt(effective_pairs - 3)))
    return LagCorrelation(
        lag=lag,
        correlation=correlation,
        p_value=p_value,
        pairs=pairs,
        effective_pairs=effective_pairs,
    )


def _describe(season: int | None, difference: bool) -> str:
    steps = []
    if season is not None:
        steps.append(f"{season}-period seasonal profile removed")
    if difference:
        steps.append("first differences")
    return ", then ".join(steps) if steps else "raw levels"
