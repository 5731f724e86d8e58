"""Day-to-day variation beyond order-level sampling, for comparisons of two periods.

An order-level test of one period against another (a two-proportion z-test, Welch's t from
sums) treats every order as an independent draw. Days differ by more than that on real data:
weather, promotions and the weekday move a whole day's orders together. On the food-delivery
sample from India every one of 36 single days read as a significant change of delivery time
against its 14 days before (p < 0.05), and 11 of 14 on DoorDash's sample, while the detector,
which allows for this, raised no incident on them.

The factor here is the variance of a period's daily values around their mean (callers pass the
earlier period: a change that begins inside the later one is not noise), divided by the variance
order-level sampling gives a daily value (a quasi-likelihood dispersion: Wedderburn 1974;
McCullagh & Nelder 1989, section 4.5), at least 1, with the days' residual degrees of freedom. A
comparison of two periods multiplies its variance by it and reads its interval and p-value on a
t distribution with those degrees of freedom. A heuristic: days are taken as independent units,
and one factor as holding for both periods.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Residual degrees of freedom (days beyond the first) needed to estimate the factor.
MIN_DAYS_DF = 4

# One day of a metric: (numerator, denominator, sum of squares or None for a rate).
Day = tuple[float, float, float | None]


@dataclass(frozen=True)
class Dispersion:
    """A variance multiplier for day-to-day variation (1: none found) and its degrees of
    freedom (0: too few days to estimate one)."""

    factor: float
    df: int


def day_dispersion(days: Sequence[Day]) -> Dispersion:
    """The dispersion of a period's daily values (days with under 2 units are left out). A
    rate's sampling variance on a day is p(1 - p) / n at the period's rate; a mean's, the day's
    own variance / n."""
    kept = [day for day in days if day[1] >= 2]
    denominator = sum(day[1] for day in kept)
    df = len(kept) - 1
    if not denominator or df < MIN_DAYS_DF:
        return Dispersion(1.0, 0)
    pooled = sum(day[0] for day in kept) / denominator
    values = [n / d for n, d, _ in kept]
    sampling = [
        pooled * (1 - pooled) / d
        if square is None
        else max(square - d * value * value, 0.0) / (d - 1) / d
        for (_, d, square), value in zip(kept, values, strict=True)
    ]
    expected = float(np.mean(sampling))
    residual = float(np.var(values, ddof=1))
    if not expected > 0 or not math.isfinite(residual):
        return Dispersion(1.0, 0)
    return Dispersion(max(1.0, residual / expected), df)
