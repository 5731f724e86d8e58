"""A series' trend: the Theil-Sen line (the median of the pairwise slopes, with its 95%
interval) and the Mann-Kendall test (Kendall's tau of the values against time). Periods are
read as independent draws: a heuristic where days follow days and a week's cycle remains."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

MIN_TREND_PERIODS = 4  # fewer periods say nothing about a trend


@dataclass(frozen=True)
class Trend:
    """The trend line's change from the first period to the last (and its 95% interval), the
    Mann-Kendall p-value and the number of periods read."""

    change: float
    low: float
    high: float
    p_value: float
    periods: int


def series_trend(values: Sequence[float]) -> Trend | None:
    """The trend of values in period order; None for fewer than MIN_TREND_PERIODS or a flat
    series."""
    if len(values) < MIN_TREND_PERIODS or len(set(values)) < 2:
        return None
    steps = list(range(len(values)))
    line = stats.theilslopes(values, steps, alpha=0.95)
    test = stats.kendalltau(steps, values)
    span = len(values) - 1
    return Trend(
        change=float(line.slope) * span,
        low=float(line.low_slope) * span,
        high=float(line.high_slope) * span,
        p_value=float(test.pvalue),
        periods=len(values),
    )
