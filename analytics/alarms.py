"""Scan the warehouse for alarms: every detection target, for the marketplace and each cohort.

Targets are the CX score and its key sub-metrics, for the whole marketplace, per region and per
category (and, when asked, per region x category), so an incident confined to one region is not
diluted away in the total. A crossed cohort is named by its dimensions and
values joined with COHORT_JOIN ("region,category" / "south,convenience").

Crossed cohorts are supported but off by default (COHORT_DIMENSIONS): scanning them found a
region x category incident hours earlier, but their noise alarms merged into real incidents and
widened the windows the slice finder reads (kept for the lead's review, see the report).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from analytics.detection import (
    DETECTORS,
    PERIOD_LENGTH,
    DetectorSettings,
    Residuals,
    residuals,
    run_detectors,
)
from analytics.metrics import CX_SCORE, Grain, metric_frame, usable_metrics
from data.quality import latest_present

DETECTION_METRICS: tuple[str, ...] = (
    CX_SCORE,
    "on_time_rate",
    "cancellation_rate",
    "refund_rate",
    "item_accuracy",
    "eta_abs_error_min",
    "duration_min",
)
COHORT_JOIN = ","
COHORT_DIMENSIONS: tuple[str, ...] = ("region", "category")
CROSSED_DIMENSIONS: tuple[str, ...] = ("region,category",)
ALARM_COLUMNS = [
    "metric", "dimension", "cohort", "period", "known_at", "detectors", "votes", "z", "value",
    "expected", "orders", "run_start",
]  # fmt: skip


class DetectionError(ValueError):
    """Detection asked for something the data cannot answer (e.g. a time outside the data)."""


@dataclass(frozen=True)
class DataSpan:
    """First and last order time in the warehouse."""

    first: dt.datetime
    last: dt.datetime


def data_span(con: duckdb.DuckDBPyConnection, now: dt.datetime | None = None) -> DataSpan:
    """The time range the warehouse's orders cover, up to the present: orders dated in the
    future (which the data-quality report flags) do not extend it, so relative dates and "the
    last N days" count from the last real day. `now` is local time (default: UTC now plus
    14 hours, see `latest_present`); when every order is in the future, all of them count."""
    first, last, last_present = con.execute(
        "SELECT min(order_time), max(order_time), max(order_time) FILTER (WHERE order_time <= ?) "
        "FROM order_facts",
        [latest_present(now)],
    ).fetchone()
    if first is None:
        raise DetectionError("the warehouse holds no orders")
    return DataSpan(first=first, last=last_present or last)


def latest_mature_period_end(
    as_of: dt.datetime, grain: Grain, maturity: dt.timedelta
) -> dt.datetime:
    """End of the last period fully known at `as_of` (periods end on the hour or at midnight)."""
    readable = as_of - maturity
    if grain == "hour":
        return readable.replace(minute=0, second=0, microsecond=0)
    return dt.datetime.combine(readable.date(), dt.time())


@dataclass(frozen=True)
class GrainChoice:
    """The detection grain the order volume supports, and why."""

    grain: Grain
    reason: str
    busy_hour_share: float  # share of the data's hours holding at least `min_orders` orders


def choose_grain(
    con: duckdb.DuckDBPyConnection, settings: DetectorSettings | None = None
) -> GrainChoice:
    """Hourly detection where at least half the hours of the data hold enough orders for a
    verdict (the detectors' `min_units`), daily otherwise."""
    settings = settings or DetectorSettings()
    span = data_span(con)
    hours = max(1.0, (span.last - span.first).total_seconds() / 3600)
    busy = con.execute(
        "SELECT count(*) FROM (SELECT hour_start FROM order_facts GROUP BY hour_start "
        "HAVING count(*) >= ?)",
        [settings.min_units],
    ).fetchone()[0]
    share = min(1.0, busy / hours)
    grain: Grain = "hour" if share >= 0.5 else "day"
    reason = f"{share:.0%} of the data's hours hold at least {settings.min_units} orders, " + (
        "enough for hourly detection" if grain == "hour" else "too few for hourly detection"
    )
    return GrainChoice(grain=grain, reason=reason, busy_hour_share=round(share, 4))


@dataclass
class SeriesResult:
    """One target series: its residuals and detector votes (kept for charts and evidence)."""

    metric: str
    dimension: str
    cohort: str
    residuals: Residuals
    votes: np.ndarray
    fired: dict[str, np.ndarray] = field(default_factory=dict)
    run_start: np.ndarray = field(default_factory=lambda: np.array([]))


def _complete_periods(
    frame: pd.DataFrame, start: dt.datetime, end: dt.datetime, grain: Grain
) -> pd.DataFrame:
    index = pd.date_range(start, end - PERIOD_LENGTH[grain], freq="h" if grain == "hour" else "D")
    frame = frame.set_index("period").reindex(index)
    numeric = [c for c in frame.columns if c.endswith(("_num", "_den", "_sq")) or c == "orders"]
    frame[numeric] = frame[numeric].fillna(0)
    return frame.rename_axis("period").reset_index()


def scan_series(
    con: duckdb.DuckDBPyConnection,
    grain: Grain = "hour",
    as_of: dt.datetime | None = None,
    settings: DetectorSettings | None = None,
    metrics: tuple[str, ...] = DETECTION_METRICS,
    dimensions: tuple[str, ...] = COHORT_DIMENSIONS,
) -> list[SeriesResult]:
    """Residuals and detector votes for every target series, as known at `as_of`."""
    settings = settings or DetectorSettings()
    metrics = usable_metrics(con, metrics)  # series the data cannot support are not scanned
    span = data_span(con)
    start = dt.datetime.combine(span.first.date(), dt.time())
    data_end = span.last + PERIOD_LENGTH[grain] + settings.maturity
    as_of = min(as_of or data_end, data_end)
    if as_of <= start:
        raise DetectionError(
            f"as-of time {as_of:%Y-%m-%d %H:%M} is before the data starts ({start:%Y-%m-%d})"
        )
    end = latest_mature_period_end(as_of, grain, settings.maturity)
    if end <= start:
        return []
    frames = {
        ("all", "all"): metric_frame(con, metrics, grain, end=end, maturity=settings.maturity)
    }
    for dimension in dimensions:
        columns = dimension.split(COHORT_JOIN)
        grouped = metric_frame(
            con, metrics, grain, group_by=columns, end=end, maturity=settings.maturity
        )
        for cohort, frame in grouped.groupby(columns):
            name = COHORT_JOIN.join(str(value) for value in cohort)
            frames[(dimension, name)] = frame.drop(columns=columns)
    results = []
    for (dimension, cohort), frame in frames.items():
        complete = _complete_periods(frame, start, end, grain)
        for name in metrics:
            series = residuals(complete, name, grain, settings)
            votes = run_detectors(series.z, settings)
            results.append(
                SeriesResult(
                    metric=name,
                    dimension=dimension,
                    cohort=cohort,
                    residuals=series,
                    votes=votes.votes,
                    fired=votes.fired,
                    run_start=votes.run_start,
                )
            )
    return results


def alarms_frame(
    results: list[SeriesResult], grain: Grain, settings: DetectorSettings
) -> pd.DataFrame:
    """One row per alarming period of any series, ordered by when it became known."""
    rows = []
    length = PERIOD_LENGTH[grain]
    for result in results:
        series = result.residuals
        for index in np.flatnonzero(result.votes >= settings.min_votes):
            period = series.period[index].to_pydatetime()
            run_start = result.run_start[index]
            rows.append(
                {
                    "metric": result.metric,
                    "dimension": result.dimension,
                    "cohort": result.cohort,
                    "period": period,
                    "known_at": period + length + settings.maturity,
                    "detectors": ",".join(d for d in DETECTORS if result.fired[d][index]),
                    "votes": int(result.votes[index]),
                    "z": float(series.z[index]),
                    "value": float(series.value[index]),
                    "expected": float(series.expected[index]),
                    "orders": float(series.orders[index]),
                    "run_start": series.period[run_start].to_pydatetime()
                    if run_start >= 0
                    else period,
                }
            )
    frame = pd.DataFrame(rows, columns=ALARM_COLUMNS)
    return frame.sort_values(["known_at", "metric", "dimension", "cohort"], ignore_index=True)


def scan(
    con: duckdb.DuckDBPyConnection,
    grain: Grain = "hour",
    as_of: dt.datetime | None = None,
    settings: DetectorSettings | None = None,
) -> pd.DataFrame:
    """Every alarm known at `as_of` (default: when all the data is known)."""
    settings = settings or DetectorSettings()
    return alarms_frame(scan_series(con, grain, as_of, settings), grain, settings)
