"""The series every detection peer reads: the CX score and the on-time rate per period, for the
marketplace and each region and category, as known at each period's maturity."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from analytics.alarms import data_span, latest_mature_period_end
from analytics.detection import PERIOD_LENGTH, DetectorSettings
from analytics.incidents import cohort_name
from analytics.metrics import CX_SCORE, Grain, metric_frame

SERIES_METRICS: tuple[str, ...] = (CX_SCORE, "on_time_rate")  # both: higher is better
SERIES_DIMENSIONS: tuple[str, ...] = ("region", "category")


@dataclass(frozen=True)
class CohortSeries:
    """One metric of one cohort per period; NaN where the period holds fewer orders than the
    detectors' `min_units` (cx-agent gives no verdict there either)."""

    metric: str
    cohort: str  # "all", "region=north", "category=grocery"
    period: pd.DatetimeIndex
    value: np.ndarray


def known_at(period: pd.DatetimeIndex, grain: Grain, settings: DetectorSettings) -> pd.Series:
    """When each period's value is known: its end plus the maturity (as analytics.alarms)."""
    return pd.Series(period + PERIOD_LENGTH[grain] + settings.maturity)


def cohort_series(
    con: duckdb.DuckDBPyConnection, grain: Grain, settings: DetectorSettings | None = None
) -> list[CohortSeries]:
    """Every series of the marketplace, each region and each category over the whole data,
    each period read as it was known at its maturity (metric_frame's `maturity`)."""
    settings = settings or DetectorSettings()
    span = data_span(con)
    start = dt.datetime.combine(span.first.date(), dt.time())
    as_of = span.last + PERIOD_LENGTH[grain] + settings.maturity
    end = latest_mature_period_end(as_of, grain, settings.maturity)
    index = pd.date_range(start, end - PERIOD_LENGTH[grain], freq="h" if grain == "hour" else "D")
    found = []
    for dimension in ("all", *SERIES_DIMENSIONS):
        group_by = [] if dimension == "all" else [dimension]
        frame = metric_frame(
            con, SERIES_METRICS, grain, group_by=group_by, end=end, maturity=settings.maturity
        )
        groups = [("all", frame)] if dimension == "all" else list(frame.groupby(dimension))
        for value, rows in groups:
            cohort = cohort_name(dimension, str(value))
            rows = rows.set_index(pd.DatetimeIndex(rows["period"])).reindex(index)
            enough = rows["orders"].to_numpy(dtype=float, na_value=0.0) >= settings.min_units
            for metric in SERIES_METRICS:
                values = rows[metric].to_numpy(dtype=float, na_value=np.nan)
                found.append(CohortSeries(metric, cohort, index, np.where(enough, values, np.nan)))
    return found
