"""The worst stretch of an incident window in a slice: the run of hours (or days) in which a
metric was furthest from its usual value, so that drivers are tested where the slice was bad (an
incident window that runs for days can hold a cause of one afternoon).

Each hour's value is standardized by the same hour of day over the baseline days (their mean and
sample standard deviation), each day's by the baseline days', signed so that worse is positive;
the run of periods that maximizes the sum of (z - REFERENCE_Z) is found (a CUSUM-style scan,
Page 1954, as a maximum-sum segment) and kept when that sum reaches MIN_SCORE and the run holds
at least MIN_PERIODS periods. A heuristic: the periods are not independent and the threshold is
not a test; it only chooses where the tests are made. It reads nothing after the window's end.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from analytics.cohorts import FilterValue
from analytics.detection import PERIOD_LENGTH
from analytics.metrics import Grain, higher_is_better, metric_frame

# A period counts toward a stretch by how far its deviation exceeds one baseline sd (half of a
# two-sd shift, as a CUSUM's reference value); a stretch must gather 4 sd beyond it.
REFERENCE_Z = 1.0
MIN_SCORE = 4.0
# An hour of day (or a day) with fewer baseline values than this has no usual value to read.
MIN_BASELINE_VALUES = 3
# A stretch of one period leaves a driver read per period (orders per hour, dashers online) one
# value to be tested on: the whole window is kept instead (seed 14071: a surge over three
# lunches whose worst hour alone read orders +59% at p 0.015, and no cause).
MIN_PERIODS = 2


@dataclass(frozen=True)
class Stretch:
    """The worst run of periods of a window in a slice; when none stood out (`found` False),
    the whole window."""

    start: dt.datetime
    end: dt.datetime
    found: bool
    periods: int  # periods (hours or days) in the stretch
    periods_scanned: int  # periods of the window with a value and a usual value to compare
    score: float  # sum of (z - REFERENCE_Z) over the stretch (0 when none was found)
    peak_z: float  # the worst period's z, signed so that worse is positive (nan: none read)


def worst_stretch(
    con: duckdb.DuckDBPyConnection,
    metric: str,
    filters: Mapping[str, FilterValue],
    start: dt.datetime,
    end: dt.datetime,
    baseline_days: int = 14,
    grain: Grain = "hour",
) -> Stretch:
    """The run of periods (hours or days) of [start, end) in the slice `filters` where `metric`
    was worst against the `baseline_days` days before `start` (see the module docstring)."""
    frame = metric_frame(
        con, [metric], grain, filters, start=start - dt.timedelta(days=baseline_days), end=end
    )
    return stretch_of(period_deviations(frame, metric, start, grain), start, end, grain)


def stretch_of(
    deviations: pd.Series, start: dt.datetime, end: dt.datetime, grain: Grain = "hour"
) -> Stretch:
    """The worst stretch of [start, end) from its periods' z (period_deviations)."""
    if deviations.empty:
        return Stretch(start, end, False, 0, 0, 0.0, math.nan)
    peak = float(deviations.max())
    first, last, score = _best_run(deviations.to_numpy() - REFERENCE_Z)
    if score < MIN_SCORE or last - first + 1 < MIN_PERIODS:
        return Stretch(start, end, False, 0, len(deviations), 0.0, peak)
    times = deviations.index
    return Stretch(
        start=max(start, times[first].to_pydatetime()),
        end=min(end, times[last].to_pydatetime() + PERIOD_LENGTH[grain]),
        found=True,
        periods=last - first + 1,
        periods_scanned=len(deviations),
        score=score,
        peak_z=peak,
    )


def period_deviations(
    frame: pd.DataFrame, metric: str, start: dt.datetime, grain: Grain
) -> pd.Series:
    """Per period that ends after `start` (a metric_frame by `grain`), its z against the periods
    before (for hours, those of the same hour of day), worse positive; periods without a value or
    a usual value to compare with are left out. The period `start` falls in counts as after it:
    its orders from `start` on are the window's."""
    values = frame[["period", metric]].dropna()
    values = values.assign(key=values["period"].dt.hour if grain == "hour" else 0)
    later = values["period"] > start - PERIOD_LENGTH[grain]
    before = values[~later]
    usual = before.groupby("key")[metric].agg(["mean", "std", "count"])
    usual = usual[(usual["count"] >= MIN_BASELINE_VALUES) & (usual["std"] > 0)]
    after = values[later].join(usual, on="key", how="inner")
    sign = -1.0 if higher_is_better(metric) else 1.0
    z = sign * (after[metric] - after["mean"]) / after["std"]
    return pd.Series(z.to_numpy(), index=pd.DatetimeIndex(after["period"])).sort_index()


def _best_run(gains: np.ndarray) -> tuple[int, int, float]:
    """(first, last, sum) of the contiguous run with the largest sum (Kadane); a run of one
    element when every gain is negative."""
    best = (0, 0, -math.inf)
    run_start, run_sum = 0, 0.0
    for index, gain in enumerate(gains):
        if run_sum <= 0:
            run_start, run_sum = index, 0.0
        run_sum += float(gain)
        if run_sum > best[2]:
            best = (run_start, index, run_sum)
    return best
