"""Day-to-day variation beyond order-level sampling, for comparisons of two periods.

An order-level test of one period against another (a two-proportion z-test, Welch's t from
sums) treats every order as an independent draw. Days differ by more than that on real data:
weather, promotions and the weekday move a whole day's orders together. On the food-delivery
sample from India every one of 36 single days read as a significant change of delivery time
against its 14 days before (p < 0.05), and 11 of 14 on DoorDash's sample, while the detector,
which allows for this, raised no incident on them.

The factor here is the variance of daily values around their own period's mean (callers pass
the earlier period: a change that begins inside the later one is not noise), divided by the
variance order-level sampling gives a daily value (a quasi-likelihood
dispersion: Wedderburn 1974; McCullagh & Nelder 1989, section 4.5), at least 1, with the days'
residual degrees of freedom. A comparison of two periods multiplies its variance by it and reads
its interval and p-value on a t distribution with those degrees of freedom. A heuristic: days
are taken as independent units, and one factor as holding for both sides.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Residual degrees of freedom (days beyond one per side) needed to estimate the factor.
MIN_DAYS_DF = 4

# One day of a metric: (numerator, denominator, sum of squares or None for a rate).
Day = tuple[float, float, float | None]


@dataclass(frozen=True)
class Dispersion:
    """A variance multiplier for day-to-day variation (1: none found) and its degrees of
    freedom (0: too few days to estimate one)."""

    factor: float
    df: int


def day_dispersion(sides: Sequence[Sequence[Day]]) -> Dispersion:
    """The dispersion of daily values over the days of each side (days with under 2 units are
    left out). A rate's sampling variance on a day is p(1 - p) / n at the pooled rate; a
    mean's, the day's own variance / n."""
    days = [[day for day in side if day[1] >= 2] for side in sides]
    numerator = sum(day[0] for side in days for day in side)
    denominator = sum(day[1] for side in days for day in side)
    if not denominator:
        return Dispersion(1.0, 0)
    pooled = numerator / denominator
    residual, df, sampling = 0.0, 0, []
    for side in days:
        if len(side) < 2:
            continue
        values = [n / d for n, d, _ in side]
        residual += float(np.var(values, ddof=1)) * (len(values) - 1)
        df += len(values) - 1
        for (_, d, square), value in zip(side, values, strict=True):
            if square is None:
                sampling.append(pooled * (1 - pooled) / d)
            else:
                sampling.append(max(square - d * value * value, 0.0) / (d - 1) / d)
    expected = float(np.mean(sampling)) if sampling else 0.0
    if df < MIN_DAYS_DF or not expected > 0 or not math.isfinite(residual):
        return Dispersion(1.0, 0)
    return Dispersion(max(1.0, residual / df / expected), df)
