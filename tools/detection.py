"""Tools for "is something wrong, since when, and where": CX series, incidents, top slices."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, model_validator

from analytics.alarms import (
    DETECTION_METRICS,
    DetectionError,
    SeriesResult,
    alarms_frame,
    choose_grain,
    cohort_grains,
    data_span,
    scan_series,
)
from analytics.asof import incidents_as_of
from analytics.cohorts import CohortError, world_dimensions
from analytics.comparisons import (
    ComparisonError,
    cohort_query,
    cx_score_of,
    render_sql,
    run,
    sums_of,
)
from analytics.detection import PERIOD_LENGTH, DetectorSettings
from analytics.incidents import Incident, build_incidents, cohort_slice
from analytics.localization import (
    VOLUME,
    Localization,
    LocalizationError,
    LocalizedSlice,
    lead_with_surge,
    localize,
    localize_volume,
)
from analytics.metrics import (
    CX_COMPONENTS,
    CX_SCORE,
    METRICS,
    MetricError,
    SeriesGrain,
    analysis_source,
    cx_coverage,
    metric_gaps,
)
from analytics.trend import Trend, series_trend
from tools.base import Figure, ToolContext, ToolError, ToolOutput, tool

Grain = Literal["hour", "day"]  # detection grains
GrainChoice = Literal["hour", "day", "auto"]
_GRAIN_WORD = {"hour": "hourly", "day": "daily"}
SHARE_DIGITS = 6  # a share figure's decimals (answers show 3: a percentage at one decimal)
MEAN_DIGITS = 4  # minutes and stars (answers show one or two)
MAX_INCIDENT_FIGURES = 10  # incidents whose figures detect_incidents exposes (by severity)
SERIES_ROWS = 200  # periods a series shows as figures and in its table (the latest ones)
_PERIOD_FORMAT = {"hour": "%Y-%m-%dT%H:%M", "day": "%Y-%m-%d", "week": "%Y-%m-%d"}


def _share_or_value(name: str, value: float) -> Figure:
    """A metric's value as a figure, kept two digits finer than answers show it (a share as a
    percentage at one decimal, minutes at one), so the shown value is rounded once, not twice."""
    if name == CX_SCORE:
        return Figure(value=round(value, 2), unit="score", label="CX score")
    unit = METRICS[name].unit
    return Figure(
        value=round(value, SHARE_DIGITS) if unit == "share" else round(value, MEAN_DIGITS),
        unit="share" if unit == "share" else ("stars" if unit == "stars" else "minutes"),
        label=METRICS[name].label,
    )


class CxTimeseriesInput(BaseModel):
    """Arguments of cx_timeseries."""

    metrics: list[str] = Field(
        default=[CX_SCORE, "on_time_rate", "cancellation_rate"],
        description="Metric names: cx_score, on_time_rate, item_accuracy, cancellation_rate, "
        "refund_rate, support_rate, rating, eta_abs_error_min, eta_bias_min, duration_min, "
        "batched_rate, prep_min, dasher_wait_min.",
    )
    grain: SeriesGrain = Field(
        default="day", description="hour, day, or week (weeks start on Monday)."
    )
    filters: dict[str, list[str | int]] = Field(
        default_factory=dict,
        description="Cohort filters, e.g. {'category': ['grocery'], 'hour': [18, 19, 20]}.",
    )
    start: dt.datetime | None = None
    end: dt.datetime | None = None


class SeriesSummary(BaseModel):
    """One metric over the whole series: its overall value (a ratio of the window's sums, not a
    mean of periods), first and last period values, and the lowest and highest periods."""

    overall: float | None = None
    first: float | None = None
    last: float | None = None
    min: float | None = None
    max: float | None = None
    min_period: str | None = None
    max_period: str | None = None
    # The series' trend over its periods (analytics/trend.py; None when too short or flat).
    trend: Trend | None = None


class CxTimeseriesOutput(ToolOutput):
    grain: SeriesGrain
    metrics: list[str]
    filters: dict[str, list[str | int]]
    rows: list[dict[str, Any]]
    overall: dict[str, SeriesSummary] = Field(default_factory=dict)
    unavailable: dict[str, list[str]] = Field(
        default_factory=dict, description="Asked-for metrics the data lacks, with what they need."
    )
    cx_coverage: str | None = Field(
        default=None, description="The CX score's parts, when some are missing."
    )
    query: str = ""

    def figures(self) -> dict[str, Figure]:
        figures = {}
        for row in self.rows[-SERIES_ROWS:]:
            period = row["period"]
            figures[f"orders@{period}"] = Figure(value=row["orders"], unit="orders")
            for name in self.metrics:
                if row.get(name) is not None:
                    figures[f"{name}@{period}"] = _share_or_value(name, row[name])
        for name, found in self.overall.items():
            for key in ("overall", "first", "last", "min", "max"):
                value = getattr(found, key)
                if value is not None:
                    figures[f"{name}.{key}"] = _share_or_value(name, value)
            for key in ("min_period", "max_period"):
                period = getattr(found, key)
                if period is not None:
                    figures[f"{name}.{key}"] = Figure(value=period, unit="datetime")
            if found.trend is not None:
                for key in ("change", "low", "high"):
                    figures[f"{name}.trend_{key}"] = _share_or_value(
                        name, getattr(found.trend, key)
                    )
                trend_p = round(found.trend.p_value, 4)
                figures[f"{name}.trend_p"] = Figure(value=trend_p, unit="ratio")
                figures[f"{name}.trend_periods"] = Figure(value=found.trend.periods, unit="count")
        for name, needs in self.unavailable.items():  # why a series holds no values
            figures[f"{name}.unavailable"] = Figure(
                value=f"missing {', '.join(needs)}", unit="text"
            )
        if self.cx_coverage:
            figures["cx_coverage"] = Figure(value=self.cx_coverage, unit="text")
        shown = self.rows[-SERIES_ROWS:]
        if shown:  # the busiest and quietest periods, in orders, and the mean of the periods
            for key, pick in (("min", min), ("max", max)):
                row = pick(shown, key=lambda r: r["orders"])
                figures[f"orders.{key}"] = Figure(value=row["orders"], unit="orders")
                figures[f"orders.{key}_period"] = Figure(value=row["period"], unit="datetime")
            total = sum(row["orders"] for row in shown)
            figures["orders.mean"] = Figure(value=round(total / len(shown)), unit="orders")
            figures["orders.periods"] = Figure(value=len(shown), unit="count")
        return figures

    def table(self) -> list[dict[str, Any]]:
        return self.rows[-SERIES_ROWS:]

    def sql(self) -> str | None:
        return self.query or None


def _series_summary(frame: Any, rows: list[dict[str, Any]], name: str) -> SeriesSummary:
    """A metric's overall value over the frame's sums and its extremes over the rows."""
    if name == CX_SCORE:
        overall = cx_score_of({c: sums_of(frame, c).value for c in CX_COMPONENTS})
    else:
        overall = sums_of(frame, name).value
    valued = [(row["period"], row[name]) for row in rows if row[name] is not None]
    if not valued:
        return SeriesSummary()
    lowest = min(valued, key=lambda pair: pair[1])
    highest = max(valued, key=lambda pair: pair[1])
    return SeriesSummary(
        overall=overall if math.isfinite(overall) else None,
        first=valued[0][1],
        last=valued[-1][1],
        min=lowest[1],
        max=highest[1],
        min_period=lowest[0],
        max_period=highest[0],
        trend=series_trend([value for _, value in valued]),
    )


def _mark_week_days(
    context: ToolContext, rows: list[dict[str, Any]], start: dt.datetime, end: dt.datetime
) -> str:
    """Give each weekly row the days of data it covers in [start, end) (`days`); a note naming
    the partial weeks."""
    span = data_span(context.con)
    first = max(start, span.first).date()
    last = min(end - dt.timedelta(microseconds=1), span.last).date()
    partial = []
    for row in rows:
        monday = dt.date.fromisoformat(row["period"])
        row["days"] = (min(monday + dt.timedelta(days=6), last) - max(monday, first)).days + 1
        if row["days"] < 7:
            partial.append(f"{row['period']} ({row['days']} day{'s' if row['days'] > 1 else ''})")
    return "weeks start on Monday" + (f"; partial weeks: {', '.join(partial)}" if partial else "")


@tool
def cx_timeseries(context: ToolContext, args: CxTimeseriesInput) -> CxTimeseriesOutput:
    """CX score and sub-metrics per hour, day or week (weeks start on Monday; the first and last
    may be partial), for the marketplace or a cohort; with each metric's value over the whole
    window (a ratio of sums), its first and last values and its lowest and highest periods."""
    start = args.start or dt.datetime(1900, 1, 1)
    end = args.end or dt.datetime(9999, 1, 1)
    try:
        sql, parameters = cohort_query(
            args.metrics,
            args.filters,
            start,
            end,
            grain=args.grain,
            source=analysis_source(context.con),
            dimensions=world_dimensions(context.con),
        )
        frame = run(context.con, sql, parameters)
    except (ComparisonError, MetricError, CohortError) as error:
        raise ToolError(str(error)) from None
    fmt = _PERIOD_FORMAT[args.grain]
    rows = [
        {
            "period": row["period"].strftime(fmt),
            "orders": int(row["orders"]),
            **{
                name: (None if row[name] != row[name] else float(row[name]))
                for name in args.metrics
            },
        }
        for row in frame.to_dict("records")
    ]
    where = ", ".join(f"{k}={'/'.join(map(str, v))}" for k, v in args.filters.items()) or "all"
    gaps = metric_gaps(context.con)
    unavailable = {name: gaps[name] for name in args.metrics if name in gaps}
    coverage = cx_coverage(context.con) if CX_SCORE in args.metrics and gaps else None
    notes = [f"unavailable: {', '.join(unavailable)}"] if unavailable else []
    if coverage is not None and coverage.missing:
        notes.append(coverage.describe())
    if args.grain == "week" and rows:
        notes.append(_mark_week_days(context, rows, start, end))
    return CxTimeseriesOutput(
        summary=f"{len(rows)} {args.grain}s of {', '.join(args.metrics)} for {where}"
        + "".join(f"; {note}" for note in notes),
        grain=args.grain,
        metrics=args.metrics,
        filters=args.filters,
        rows=rows,
        overall={
            name: _series_summary(frame, rows, name)
            for name in dict.fromkeys(args.metrics)
            if name not in unavailable
        },
        unavailable=unavailable,
        cx_coverage=coverage.describe() if coverage is not None and coverage.missing else None,
        query=render_sql(sql, parameters),
    )


class IncidentSummary(BaseModel):
    """An incident as the tools report it."""

    incident_id: str
    grain: Grain
    start: dt.datetime
    end: dt.datetime | None
    detected_at: dt.datetime
    detection_delay_hours: float
    metrics: list[str]
    cohorts: list[str]
    primary_metric: str
    primary_cohort: str
    slice_metric: str
    impact_orders: float
    severity: float
    severity_label: str
    peak_z: float
    cx_expected: float
    cx_observed: float
    primary_expected: float | None = None
    primary_observed: float | None = None

    @classmethod
    def of(cls, incident: Incident, results: list[SeriesResult] | None = None) -> IncidentSummary:
        return cls(
            incident_id=incident.incident_id,
            grain=incident.grain,
            start=incident.start,
            end=incident.end,
            detected_at=incident.detected_at,
            detection_delay_hours=(incident.detected_at - incident.start).total_seconds() / 3600,
            metrics=list(incident.metrics),
            cohorts=list(incident.cohorts),
            primary_metric=incident.primary_metric,
            primary_cohort=incident.primary_cohort,
            slice_metric=incident.slice_metric,
            impact_orders=incident.impact_orders,
            severity=incident.severity,
            severity_label=incident.severity_label,
            peak_z=incident.peak_z,
            cx_expected=incident.cx_expected,
            cx_observed=incident.cx_observed,
            **_primary_values(incident, results or []),
        )


def _primary_values(incident: Incident, results: list[SeriesResult]) -> dict[str, float]:
    """Order-weighted expected and observed values of the incident's primary metric in its
    primary cohort over the incident (what a narrative leads with when CX is unavailable)."""
    dimension, _, cohort = incident.primary_cohort.partition("=")
    key = ("all", "all") if incident.primary_cohort == "all" else (dimension, cohort)
    series = next(
        (r.residuals for r in results
         if r.metric == incident.primary_metric and (r.dimension, r.cohort) == key),
        None,
    )  # fmt: skip
    if series is None:
        return {}
    stop = incident.end or series.period[-1].to_pydatetime() + dt.timedelta(seconds=1)
    inside = (series.period >= incident.start) & (series.period < stop)
    valid = inside & np.isfinite(series.value) & np.isfinite(series.expected)
    if not valid.any() or series.orders[valid].sum() <= 0:
        return {}
    weights = series.orders[valid] / series.orders[valid].sum()
    return {
        "primary_expected": round(float((series.expected[valid] * weights).sum()), 4),
        "primary_observed": round(float((series.value[valid] * weights).sum()), 4),
    }


class DetectIncidentsInput(BaseModel):
    """Arguments of detect_incidents."""

    grain: GrainChoice = Field(
        default="auto", description="hour, day, or auto: hourly where the volume supports it."
    )
    as_of: dt.datetime | None = Field(
        default=None, description="Read the data as known at this time (default: all of it)."
    )
    day: dt.date | None = Field(default=None, description="Only incidents active on this day.")
    start: dt.date | None = Field(
        default=None, description="Only incidents active on or after this day (inclusive)."
    )
    end: dt.date | None = Field(
        default=None, description="Only incidents active on or before this day (inclusive)."
    )
    min_severity: float = Field(default=0.0, ge=0, le=100)

    @model_validator(mode="after")
    def _range_in_order(self) -> DetectIncidentsInput:
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class DetectIncidentsOutput(ToolOutput):
    grain: Grain
    grain_reason: str = ""
    cohort_grains: dict[str, int] = Field(
        default_factory=dict,
        description="How many cohorts are read at each grain (the finest their volume supports).",
    )
    cx_coverage: str | None = None
    cx_weights: dict[str, float] = Field(default_factory=dict)
    unavailable_metrics: dict[str, list[str]] = Field(default_factory=dict)
    as_of: dt.datetime
    data_start: dt.datetime
    data_end: dt.datetime
    series_scanned: int
    series_judged: int | None = Field(
        default=None,
        description="Of the series scanned, those with a verdict on some period of the asked "
        "days (a day or range asked): the rest lack the orders or history their baselines need.",
    )
    marketplace_judged: int | None = Field(
        default=None, description="How many of those are the whole marketplace's series."
    )
    alarms: int
    incidents: list[IncidentSummary]

    def figures(self) -> dict[str, Figure]:
        figures = {
            **self._coverage_figures(),
            "series_scanned": Figure(value=self.series_scanned, unit="count"),
            **{
                name: Figure(value=count, unit="count")
                for name, count in (
                    ("series_judged", self.series_judged),
                    ("marketplace_judged", self.marketplace_judged),
                )
                if count is not None
            },
            **{
                f"cohorts_{grain}": Figure(value=count, unit="count")
                for grain, count in self.cohort_grains.items()
            },
            "alarms": Figure(value=self.alarms, unit="count"),
            "incidents": Figure(value=len(self.incidents), unit="count"),
            "data_start": Figure(value=self.data_start.isoformat(), unit="datetime"),
            "data_end": Figure(value=self.data_end.isoformat(), unit="datetime"),
        }
        for incident in self.incidents[:MAX_INCIDENT_FIGURES]:
            key = incident.incident_id
            if incident.end is not None:
                figures[f"{key}.end"] = Figure(value=incident.end.isoformat(), unit="datetime")
            status = "open" if incident.end is None else "ended"  # as of the scan's end
            figures[f"{key}.status"] = Figure(value=status, unit="text")
            figures.update(
                {
                    f"{key}.primary_metric": Figure(value=incident.primary_metric, unit="text"),
                    f"{key}.primary_cohort": Figure(value=incident.primary_cohort, unit="text"),
                    f"{key}.start": Figure(value=incident.start.isoformat(), unit="datetime"),
                    f"{key}.detected_at": Figure(
                        value=incident.detected_at.isoformat(), unit="datetime"
                    ),
                    f"{key}.detection_delay_hours": Figure(
                        value=round(incident.detection_delay_hours, 1), unit="ratio"
                    ),
                    f"{key}.severity": Figure(value=incident.severity, unit="score"),
                    f"{key}.impact_orders": Figure(value=incident.impact_orders, unit="orders"),
                    f"{key}.peak_z": Figure(value=incident.peak_z, unit="ratio"),
                }
            )
            if math.isfinite(incident.cx_expected) and math.isfinite(incident.cx_observed):
                figures.update(
                    {
                        f"{key}.cx_expected": Figure(value=incident.cx_expected, unit="score"),
                        f"{key}.cx_observed": Figure(value=incident.cx_observed, unit="score"),
                        f"{key}.cx_drop": Figure(
                            value=round(incident.cx_expected - incident.cx_observed, 2),
                            unit="points",
                        ),
                    }
                )
            for name in ("primary_expected", "primary_observed"):
                value = getattr(incident, name)
                if value is not None:
                    figures[f"{key}.{name}"] = _share_or_value(incident.primary_metric, value)
        return figures

    def _coverage_figures(self) -> dict[str, Figure]:
        """The CX score's parts where some are missing (its text and renormalized weights)."""
        if not self.cx_coverage:
            return {}
        figures = {"cx_coverage": Figure(value=self.cx_coverage, unit="text")}
        for name, weight in self.cx_weights.items():
            figures[f"cx_weight.{name}"] = Figure(value=weight, unit="share")
        return figures

    def table(self) -> list[dict[str, Any]]:
        return [
            {
                "incident": i.incident_id,
                "start": i.start.isoformat(timespec="minutes"),
                "end": i.end.isoformat(timespec="minutes") if i.end else "ongoing",
                "severity": i.severity,
                "level": i.severity_label,
                "primary": f"{i.primary_metric} @ {i.primary_cohort}",
                "metrics": ", ".join(i.metrics),
            }
            for i in self.incidents[:20]
        ]


def resolve_grain(context: ToolContext, grain: GrainChoice) -> tuple[Grain, str]:
    """The grain to detect on and why (auto: hourly where the volume supports it)."""
    if grain != "auto":
        return grain, f"{_GRAIN_WORD[grain]} detection as asked"

    def choose() -> tuple[Grain, str]:
        choice = choose_grain(context.con)
        return choice.grain, f"{_GRAIN_WORD[choice.grain]} detection: {choice.reason}"

    return context.shared.get("grain", choose)


def scan_cached(
    context: ToolContext, grain: Grain, as_of: dt.datetime | None
) -> tuple[list[SeriesResult], list[Incident], dt.datetime, int]:
    """Detection results for (grain, as_of), computed once per world (shared by conversations).
    An earlier `as_of` is cut from the scan of all the data (analytics/asof.py: the same
    results as a scan made then), so a replay or an as-of question reads the warehouse once."""

    def scan() -> tuple[list[SeriesResult], list[Incident], dt.datetime, int]:
        settings = DetectorSettings()
        span = data_span(context.con)
        data_end = span.last + PERIOD_LENGTH[grain] + settings.maturity
        reading_time = min(as_of or data_end, data_end)
        if as_of is not None and reading_time == data_end:
            return scan_cached(context, grain, None)  # all the data is known by then
        if dt.datetime.combine(span.first.date(), dt.time()) < reading_time < data_end:
            final, _, _, _ = scan_cached(context, grain, None)
            cut, incidents, alarm_count = incidents_as_of(final, grain, reading_time, settings)
            return cut, incidents, reading_time, alarm_count
        results = scan_series(context.con, grain, reading_time, settings)
        alarms = alarms_frame(results, grain, settings)
        incidents = build_incidents(results, alarms, grain, reading_time, settings)
        return results, incidents, reading_time, len(alarms)

    # An earlier time's results are views into the full scan's arrays: not measured again.
    size = _VIEW_BYTES if as_of is not None else None
    return context.shared.get(("scan", grain, as_of), scan, size=size)


_VIEW_BYTES = 4 << 20  # what an as-of cut holds beyond the full scan's arrays (its own shells)


def _active(incidents: list[Incident], first: dt.date, last: dt.date) -> list[Incident]:
    """The incidents active on some day in [first, last] (inclusive days)."""
    window_start = dt.datetime.combine(first, dt.time())
    window_end = dt.datetime.combine(last, dt.time()) + dt.timedelta(days=1)
    return [
        i for i in incidents if i.start < window_end and (i.end is None or i.end > window_start)
    ]


@tool
def detect_incidents(context: ToolContext, args: DetectIncidentsInput) -> DetectIncidentsOutput:
    """Scan CX and its sub-metrics (marketplace, regions, categories, region x category,
    category x daypart) for regressions with four detectors (z-score vs the seasonal baseline,
    EWMA, CUSUM, Bayesian change point) per period and over trailing windows (a smaller CX
    move alarms where dasher wait moved far in the same cohort and window), merge alarms
    into incidents and rank them by severity. No data after `as_of` is used.
    `day`, or a range of days `start`..`end` (inclusive), keeps the incidents active then."""
    try:
        span = data_span(context.con)
        grain, grain_reason = resolve_grain(context, args.grain)
        results, incidents, reading_time, alarm_count = scan_cached(context, grain, args.as_of)
    except DetectionError as error:
        raise ToolError(str(error)) from None
    first_day, last_day = span.first.date(), span.last.date()
    active = ""
    judged: tuple[int, int] | None = None
    if args.day is not None:
        if not first_day <= args.day <= last_day:
            raise ToolError(f"{args.day} is outside the data ({first_day} to {last_day})")
        incidents = _active(incidents, args.day, args.day)
        active = f" active on {args.day}"
        judged = _judged(results, args.day, args.day)
    if args.start is not None or args.end is not None:
        start, end = args.start or first_day, args.end or last_day
        if end < first_day or start > last_day:
            asked = f"{args.start or '...'} to {args.end or '...'}"
            raise ToolError(f"{asked} is outside the data ({first_day} to {last_day})")
        incidents = _active(incidents, start, end)
        active += f" active {start} to {end}"
        judged = _judged(results, start, end)
    incidents = [i for i in incidents if i.severity >= args.min_severity]
    summaries = [IncidentSummary.of(i, results) for i in incidents]
    if summaries:
        top = summaries[0]
        summary = (
            f"{len(summaries)} incident(s){active}; top {top.incident_id}: {top.primary_metric} in "
            f"{top.primary_cohort} from {top.start:%Y-%m-%d %H:%M}, severity {top.severity:g} "
            f"({top.severity_label})"
        )
    else:
        summary = f"no incident{active} found in {len(results)} series"
        if judged is not None:
            summary += f" ({judged[0]} with a verdict then)"
    gaps, coverage = metric_gaps(context.con), cx_coverage(context.con)
    if args.grain == "auto":
        summary += f"; {grain_reason}"
    grains = _grain_counts(results)
    if grains:
        summary += "; cohorts read " + ", ".join(f"{g}: {n}" for g, n in grains.items())
    if coverage.missing:
        summary += f"; {coverage.describe()}"
    return DetectIncidentsOutput(
        summary=summary,
        grain=grain,
        grain_reason=grain_reason,
        cohort_grains=grains,
        cx_coverage=coverage.describe() if coverage.missing else None,
        cx_weights=coverage.weights if coverage.missing else {},
        unavailable_metrics={m: gaps[m] for m in DETECTION_METRICS if m in gaps},
        as_of=reading_time,
        data_start=span.first,
        data_end=span.last,
        series_scanned=len(results),
        series_judged=judged[0] if judged else None,
        marketplace_judged=judged[1] if judged else None,
        alarms=alarm_count,
        incidents=summaries,
    )


def _judged(results: list[SeriesResult], first: dt.date, last: dt.date) -> tuple[int, int]:
    """How many series hold a verdict (a finite z, per period or over a trailing window) on
    some period of the days first..last, and how many of them are the whole marketplace's: the
    others' baselines lack the orders or the history they need."""
    start = np.datetime64(dt.datetime.combine(first, dt.time()))
    end = np.datetime64(dt.datetime.combine(last, dt.time()) + dt.timedelta(days=1))
    judged = [
        result
        for result in results
        if any(
            np.isfinite(series.z[(series.period >= start) & (series.period < end)]).any()
            for series in (result.residuals, *result.windows.values())
        )
    ]
    return len(judged), sum(result.dimension == "all" for result in judged)


def _grain_counts(results: list[SeriesResult]) -> dict[str, int]:
    """How many scanned cohorts are read at each grain, finest first."""
    found = list(cohort_grains(results).values())
    order = ("hourly", "6-hourly", "daily", "weekly")
    return {grain: found.count(grain) for grain in order if grain in found}


class TopSlicesInput(BaseModel):
    """Arguments of top_slices: an incident id, or a window and a share metric."""

    incident_id: str | None = None
    metric: str | None = Field(
        default=None,
        description=f"A share metric, e.g. on_time_rate, or {VOLUME} for where volume rose.",
    )
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    grain: Grain = "hour"
    as_of: dt.datetime | None = Field(
        default=None,
        description="With incident_id: the incident as detected at this time, its window "
        "ending there (nothing later is read).",
    )


class SliceSummary(BaseModel):
    rank: int
    filters: dict[str, list[str | int]]
    description: str
    metric: str
    baseline_value: float
    current_value: float
    delta: float
    orders: int
    share_of_change: float
    rate_effect: float
    mix_effect: float
    p_value: float
    q_value: float
    volume_change: float | None = None

    @classmethod
    def of(cls, found: LocalizedSlice) -> SliceSummary:
        return cls(
            rank=found.rank,
            filters=found.filters,
            description=found.describe(),
            metric=found.metric,
            baseline_value=found.baseline_value,
            current_value=found.current_value,
            delta=found.delta,
            orders=found.orders,
            share_of_change=found.share_of_change,
            rate_effect=found.rate_effect,
            mix_effect=found.mix_effect,
            p_value=found.p_value,
            q_value=found.q_value,
            volume_change=found.volume_change,
        )


class TopSlicesOutput(ToolOutput):
    incident_id: str | None
    metric: str
    window_start: dt.datetime
    window_end: dt.datetime
    baseline_start: dt.datetime
    baseline_value: float
    current_value: float
    delta: float
    explained_share: float
    candidates_tested: int
    slices: list[SliceSummary]
    volume_slices: list[SliceSummary] = Field(
        default_factory=list, description="Where orders per hour rose in the window."
    )

    def _value(self, value: float) -> Figure:
        if self.metric == VOLUME:
            return Figure(value=round(value, 4), unit="share", label="share of the day's orders")
        return _share_or_value(self.metric, value)

    def figures(self) -> dict[str, Figure]:
        figures = {
            "baseline_value": self._value(self.baseline_value),
            "current_value": self._value(self.current_value),
            "delta": Figure(value=round(self.delta, 4), unit="share"),
            "explained_share": Figure(value=round(self.explained_share, 4), unit="share"),
            "candidates_tested": Figure(value=self.candidates_tested, unit="count"),
            "slices": Figure(value=len(self.slices), unit="count"),
        }
        for found in self.slices:
            key = f"slice{found.rank}"
            figures.update(
                {
                    f"{key}.baseline_value": self._value(found.baseline_value),
                    f"{key}.current_value": self._value(found.current_value),
                    f"{key}.delta": Figure(value=round(found.delta, 4), unit="share"),
                    f"{key}.orders": Figure(value=found.orders, unit="orders"),
                    f"{key}.share_of_change": Figure(
                        value=round(found.share_of_change, 4), unit="share"
                    ),
                    f"{key}.q_value": Figure(value=found.q_value, unit="ratio"),
                }
            )
        for key, found in [(f"slice{s.rank}", s) for s in self.slices] + [
            (f"volume{s.rank}", s) for s in self.volume_slices
        ]:
            if found.volume_change is not None:
                figures[f"{key}.volume_change"] = Figure(
                    value=round(found.volume_change, 4), unit="share"
                )
            if key.startswith("volume"):
                figures[f"{key}.orders"] = Figure(value=found.orders, unit="orders")
        return figures

    def table(self) -> list[dict[str, Any]]:
        return [
            {
                "rank": s.rank,
                "slice": s.description,
                "baseline": round(s.baseline_value, 4),
                "current": round(s.current_value, 4),
                "orders": s.orders,
                "share of change": round(s.share_of_change, 3),
                "rate effect": round(s.rate_effect, 4),
                "mix effect": round(s.mix_effect, 4),
                "q": s.q_value,
                **(
                    {"orders per hour": f"{s.volume_change:+.1%}"}
                    if s.volume_change is not None
                    else {}
                ),
            }
            for s in self.slices
        ]


def _volume_cached(
    context: ToolContext, start: dt.datetime, end: dt.datetime
) -> Localization | None:
    """Where orders per hour rose in [start, end), once per world; None when it cannot be
    measured (e.g. no earlier weeks to compare with)."""

    def measure() -> Localization | None:
        try:
            return localize_volume(context.con, start, end)
        except LocalizationError:
            return None

    return context.shared.get(("volume", start, end), measure)


@tool
def top_slices(context: ToolContext, args: TopSlicesInput) -> TopSlicesOutput:
    """The smallest set of slices (region, category, hour, basket size, store and combinations
    of up to three) that explains an incident's drop, each with baseline vs current value,
    orders, its share of the change split into rate and mix effects, and a BH q-value. Also
    where orders per hour rose against the same hours of earlier weeks (volume_slices); a slice
    where volume surged and that carries the drop leads the list, as the incident's scope."""
    if args.incident_id:
        _, incidents, reading_time, _ = scan_cached(context, args.grain, args.as_of)
        matches = [i for i in incidents if i.incident_id == args.incident_id]
        if not matches:
            known = ", ".join(i.incident_id for i in incidents) or "none"
            raise ToolError(f"unknown incident {args.incident_id!r}; known: {known}")
        incident = matches[0]
        metric_name = args.metric or incident.slice_metric
        start = incident.start
        end = incident.end or data_span(context.con).last + dt.timedelta(seconds=1)
        if args.as_of is not None:
            end = min(end, args.as_of)
        cohort: dict[str, list[str | int]] | None = cohort_slice(incident.primary_cohort)
    else:
        if not (args.metric and args.start and args.end):
            raise ToolError("give an incident_id, or a metric with start and end")
        metric_name, start, end, cohort = args.metric, args.start, args.end, None
    gaps = metric_gaps(context.con)
    if metric_name in gaps:
        raise ToolError(f"{metric_name} is unavailable: missing {', '.join(gaps[metric_name])}")
    try:
        if metric_name == VOLUME:
            found = localize_volume(context.con, start, end)
        else:
            found = localize(context.con, metric_name, start, end)
    except (LocalizationError, MetricError) as error:
        raise ToolError(str(error)) from None
    volume = found if metric_name == VOLUME else _volume_cached(context, start, end)
    ranked = found.slices if volume in (None, found) else lead_with_surge(found, volume, cohort)
    slices = [SliceSummary.of(s) for s in ranked]
    lead = slices[0].description if slices else "no significant slice"
    if slices and slices[0].volume_change is not None:
        lead += f" (orders per hour {slices[0].volume_change:+.0%})"
    explained = (
        f"explain {found.explained_share:.0%} of the {metric_name} change"
        if math.isfinite(found.explained_share)
        else f"(the {metric_name} did not change)"  # a share of no change: 0/0
    )
    return TopSlicesOutput(
        summary=f"{len(slices)} slice(s) {explained}; top: {lead}",
        incident_id=args.incident_id,
        metric=metric_name,
        window_start=found.window_start,
        window_end=found.window_end,
        baseline_start=found.baseline_start,
        baseline_value=found.baseline_value,
        current_value=found.current_value,
        delta=found.delta,
        explained_share=found.explained_share,
        candidates_tested=found.candidates_tested,
        slices=slices,
        volume_slices=[SliceSummary.of(s) for s in volume.slices] if volume else [],
    )
