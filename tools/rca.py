"""Tools that test root-cause hypotheses: driver shifts, the change log, diff-in-diff, SHAP
attribution, lagged correlation, and the ranking of causes."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from analytics.attribution import OUTCOMES, AttributionError, attribute
from analytics.change_effects import ChangeEffectError, change_did
from analytics.changes import (
    changes_source,
    describe_scope,
    has_change_log,
    logged_changes,
    scope_filters,
)
from analytics.cohorts import CohortError
from analytics.comparisons import describe_filters
from analytics.drivers import (
    DRIVERS,
    DriverError,
    Groups,
    Window,
    group_stats,
    query_companions,
    shift_windows,
)
from analytics.drivers import driver_shift as measure_shift
from analytics.lags import LagError
from analytics.lags import lagged_correlation as correlate
from analytics.metrics import METRICS, Grain, MetricError, metric_frame
from analytics.ranking import HypothesisTests, PrimaryTest, rank
from analytics.shap_attribution import ShapAttributionError
from analytics.stretch import worst_stretch as measure_stretch
from tools.base import Figure, ToolContext, ToolError, ToolOutput, Unit, tool
from tools.hypotheses import LIBRARY

_UNIT_OF: dict[str, Unit] = {"share": "share", "minutes": "minutes", "miles": "ratio",
                              "ratio": "ratio", "dashers": "count", "orders": "count"}  # fmt: skip


class SliceWindow(BaseModel):
    """A slice (cohort filters) and an incident window; the baseline is the days before it."""

    filters: dict[str, list[str | int]] = Field(
        default_factory=dict, description="e.g. {'category': ['grocery'], 'hour': [18, 19, 20]}"
    )
    start: dt.datetime = Field(description="Incident window start.")
    end: dt.datetime = Field(description="Incident window end (exclusive).")
    baseline_days: int = Field(default=14, ge=1, le=60)

    def windows(self) -> tuple[Window, Window, Window]:
        """(baseline, incident, the day before the incident)."""
        baseline = Window(self.start - dt.timedelta(days=self.baseline_days), self.start)
        pre = Window(self.start - dt.timedelta(days=1), self.start)
        return baseline, Window(self.start, self.end), pre


def _figure(value: float, unit: str, label: str = "") -> Figure:
    kind = _UNIT_OF.get(unit, "ratio")
    rounded = round(value, 4 if kind == "share" else 2)
    return Figure(value=rounded, unit=kind, label=label)


class DriverShiftInput(SliceWindow):
    """Arguments of driver_shift."""

    driver: str = Field(description=f"One of: {', '.join(DRIVERS)}.")


class DriverShiftOutput(ToolOutput):
    driver: str
    label: str
    unit: str
    baseline: float
    incident: float
    delta: float
    relative_change: float
    z: float
    p_value: float
    effect_size: float
    specificity: float
    timing: float
    baseline_n: int
    incident_n: int

    def figures(self) -> dict[str, Figure]:
        return {
            "baseline": _figure(self.baseline, self.unit, self.label),
            "incident": _figure(self.incident, self.unit, self.label),
            "delta": _figure(self.delta, self.unit, f"{self.label} change"),
            "relative_change": Figure(value=round(self.relative_change, 4), unit="share"),
            "z": Figure(value=round(self.z, 1), unit="ratio"),
            "p_value": Figure(value=self.p_value, unit="ratio"),
            "specificity": Figure(value=round(self.specificity, 2), unit="ratio"),
            "incident_n": Figure(value=self.incident_n, unit="count"),
        }


def _shared_group_stats(
    context: ToolContext,
    driver: str,
    filters: dict[str, list[str | int]],
    baseline: Window,
    incident: Window,
    pre: Window,
) -> Groups:
    """The driver's group statistics, measured with its query companions (the drivers one scan
    gives along with it) once per slice and windows: an investigation tests them all there."""
    companions = context.shared.get(
        ("driver_companions", driver), lambda: query_companions(context.con, driver)
    )
    windows = shift_windows(baseline, incident, pre)
    key = ("driver_groups", companions, json.dumps(filters, sort_keys=True), *windows.items())
    shared = context.shared.get(key, lambda: group_stats(context.con, companions, filters, windows))
    return shared[driver]


@tool
def driver_shift(context: ToolContext, args: DriverShiftInput) -> DriverShiftOutput:
    """How a driver (batched share, prep time, dasher wait, online dashers, in-stock
    probability, quoted ETA, orders per hour, ...) moved in a slice from the baseline days to
    the incident window, with a z-test, its specificity (vs. the rest of the marketplace) and
    timing (did it move before the incident?)."""
    baseline, incident, pre = args.windows()
    try:
        groups = _shared_group_stats(context, args.driver, args.filters, baseline, incident, pre)
        shift = measure_shift(
            context.con, args.driver, args.filters, baseline, incident, pre, groups=groups
        )
    except (DriverError, CohortError) as error:
        raise ToolError(str(error)) from None
    relative = shift.relative_change if math.isfinite(shift.relative_change) else 0.0
    return DriverShiftOutput(
        summary=f"{shift.label}: {shift.baseline:.3g} -> {shift.incident:.3g} "
        f"({relative:+.1%}, z {shift.statistic:+.1f}) in {describe_filters(args.filters)}",
        driver=args.driver,
        label=shift.label,
        unit=shift.unit,
        baseline=shift.baseline,
        incident=shift.incident,
        delta=shift.delta,
        relative_change=relative,
        z=shift.statistic,
        p_value=shift.p_value,
        effect_size=shift.effect_size,
        specificity=shift.specificity,
        timing=shift.timing,
        baseline_n=shift.baseline_n,
        incident_n=shift.incident_n,
    )


class WorstStretchInput(SliceWindow):
    """Arguments of worst_stretch."""

    metric: str = Field(description=f"The CX score or one of: {', '.join(METRICS)}.")
    grain: Grain = Field(
        default="hour", description="Scan hours (against the same hour of day) or days."
    )


class WorstStretchOutput(ToolOutput):
    metric: str
    stretch_start: dt.datetime
    stretch_end: dt.datetime
    found: bool
    grain: str
    periods: int
    periods_scanned: int
    score: float
    peak_z: float | None

    def figures(self) -> dict[str, Figure]:
        figures = {
            "stretch_start": Figure(value=f"{self.stretch_start:%Y-%m-%dT%H:%M}", unit="datetime"),
            "stretch_end": Figure(value=f"{self.stretch_end:%Y-%m-%dT%H:%M}", unit="datetime"),
            "periods": Figure(value=self.periods, unit="count", label=f"{self.grain}s in it"),
            "periods_scanned": Figure(
                value=self.periods_scanned, unit="count", label=f"{self.grain}s read"
            ),
        }
        if self.peak_z is not None:
            figures["peak_z"] = Figure(value=round(self.peak_z, 1), unit="ratio")
        return figures


@tool
def worst_stretch(context: ToolContext, args: WorstStretchInput) -> WorstStretchOutput:
    """The run of hours (or days) of an incident window in which a slice's metric was furthest
    from its usual value (z against the same hour of the baseline days, or against those days;
    a CUSUM-style scan, a heuristic): where a cause's drivers are tested when the window runs
    longer than the slice's trouble. No run standing out: the whole window."""
    try:
        found = measure_stretch(
            context.con,
            args.metric,
            args.filters,
            args.start,
            args.end,
            args.baseline_days,
            args.grain,
        )
    except (MetricError, CohortError) as error:
        raise ToolError(str(error)) from None
    peak = found.peak_z if math.isfinite(found.peak_z) else None
    if found.found:
        summary = (
            f"{args.metric} worst from {found.start:%Y-%m-%d %H:%M} to {found.end:%Y-%m-%d %H:%M} "
            f"in the slice ({found.periods} of {found.periods_scanned} {args.grain}s read, peak z "
            f"{found.peak_z:+.1f})"
        )
    else:
        summary = (
            f"no stretch of {args.metric} stands out of the {found.periods_scanned} "
            f"{args.grain}s read in the slice: the whole window"
        )
    return WorstStretchOutput(
        summary=summary,
        metric=args.metric,
        stretch_start=found.start,
        stretch_end=found.end,
        found=found.found,
        grain=args.grain,
        periods=found.periods,
        periods_scanned=found.periods_scanned,
        score=found.score,
        peak_z=peak,
    )


class ChangeLogInput(BaseModel):
    """Arguments of change_log: a time to look around, or a range of change times, or both
    (then changes near `around` within the range)."""

    around: dt.datetime | None = Field(
        default=None,
        description="Usually the incident start: look from days_before it to hours_after it.",
    )
    start: dt.datetime | None = Field(default=None, description="Changes at or after this time.")
    end: dt.datetime | None = Field(default=None, description="Changes at or before this time.")
    name: str | None = Field(
        default=None, description="Only changes with this name, e.g. batching_threshold."
    )
    filters: dict[str, list[str | int]] = Field(default_factory=dict)
    days_before: float = Field(default=3.0, ge=0, le=30)
    hours_after: float = Field(default=6.0, ge=0, le=72)

    @model_validator(mode="after")
    def _around_or_range(self) -> ChangeLogInput:
        if self.around is None and self.start is None and self.end is None:
            raise ValueError("give `around` (a time) or a range (`start` and/or `end`)")
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    def bounds(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """The change times searched: near `around`, within [start, end] when given."""
        lower, upper = self.start, self.end
        if self.around is not None:
            near = (
                self.around - dt.timedelta(days=self.days_before),
                self.around + dt.timedelta(hours=self.hours_after),
            )
            lower = max(near[0], lower) if lower else near[0]
            upper = min(near[1], upper) if upper else near[1]
        return lower, upper


class ChangeRow(BaseModel):
    change_id: str
    change_time: dt.datetime
    kind: str
    name: str
    scope: dict[str, list]
    old_value: str | None
    new_value: str | None
    description: str
    hours_before_incident: float | None = Field(
        default=None, description="Hours from the change to `around` (None without `around`)."
    )
    overlaps_slice: bool

    @property
    def scope_text(self) -> str:
        return describe_scope(self.scope)


class ChangeLogOutput(ToolOutput):
    changes: list[ChangeRow]

    def figures(self) -> dict[str, Figure]:
        figures = {"changes": Figure(value=len(self.changes), unit="count")}
        for change in self.changes:
            key = change.change_id
            figures[f"{key}.change_time"] = Figure(
                value=change.change_time.isoformat(timespec="minutes"), unit="datetime"
            )
            if change.hours_before_incident is not None:
                figures[f"{key}.hours_before_incident"] = Figure(
                    value=round(change.hours_before_incident, 1), unit="ratio"
                )
            texts = {
                "name": change.name,
                "kind": change.kind,
                "old_value": change.old_value,
                "new_value": change.new_value,
                "description": change.description,
                "scope": change.scope_text,
            }
            for field, text in texts.items():
                if text:
                    figures[f"{key}.{field}"] = Figure(value=text, unit="text")
        return figures

    def table(self) -> list[dict[str, Any]]:
        return [
            {
                "change": c.change_id,
                "time": c.change_time.isoformat(timespec="minutes"),
                "kind": c.kind,
                "name": c.name,
                "scope": c.scope_text,
                "old → new": f"{c.old_value} → {c.new_value}",
                "overlaps slice": c.overlaps_slice,
            }
            for c in self.changes
        ]


@tool
def change_log(context: ToolContext, args: ChangeLogInput) -> ChangeLogOutput:
    """Logged changes (policy, model, ops, merchant): shortly before or at a time (`around`,
    nearest first), or in a range of change times (`start`, `end`, latest first), optionally
    only those with a `name`; each with its scope, old and new value, and whether its scope
    overlaps the slice. A change near an incident is a lead, not a cause: test it with
    diff_in_diff and the drivers."""
    lower, upper = args.bounds()
    found = logged_changes(
        context.con, lower, upper, args.filters, name=args.name, reference=args.around
    )
    rows = [ChangeRow(**vars(change)) for change in found]
    overlapping = [c for c in rows if c.overlaps_slice]
    named = f" named {args.name}" if args.name else ""
    if args.around is not None:
        where = f"near {args.around:%Y-%m-%d %H:%M}"
    else:
        where = f"from {lower:%Y-%m-%d %H:%M}" if lower else ""
        where += f" until {upper:%Y-%m-%d %H:%M}" if upper else ""
    return ChangeLogOutput(
        summary=f"{len(rows)} change(s){named} logged {where.strip()}, "
        f"{len(overlapping)} overlapping the slice"
        + (
            f"; nearest: {overlapping[0].name} at {overlapping[0].change_time:%m-%d %H:%M}"
            if overlapping and args.around is not None
            else ""
        ),
        changes=rows,
    )


class DiffInDiffInput(BaseModel):
    """Arguments of diff_in_diff."""

    change_id: str
    metric: str = Field(default="on_time_rate", description=f"One of {list(OUTCOMES)}.")
    days: int = Field(default=7, ge=2, le=28)


class DiffInDiffOutput(ToolOutput):
    change_id: str
    name: str
    metric: str
    outcome: str
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    pre_trend_p: float | None
    pre_trend_ok: bool | None
    covariance: str
    treated_pre: float
    treated_post: float
    control_pre: float
    control_post: float
    treated_orders: int
    event_study: list[dict[str, float]]
    notes: list[str]

    def figures(self) -> dict[str, Figure]:
        figures = {
            "estimate": Figure(value=round(self.estimate, 4), unit="share", label=self.outcome),
            "ci_low": Figure(value=round(self.ci_low, 4), unit="share"),
            "ci_high": Figure(value=round(self.ci_high, 4), unit="share"),
            "p_value": Figure(value=self.p_value, unit="ratio"),
            "treated_pre": Figure(value=round(self.treated_pre, 4), unit="share"),
            "treated_post": Figure(value=round(self.treated_post, 4), unit="share"),
            "control_pre": Figure(value=round(self.control_pre, 4), unit="share"),
            "control_post": Figure(value=round(self.control_post, 4), unit="share"),
            "treated_orders": Figure(value=self.treated_orders, unit="orders"),
        }
        if self.pre_trend_p is not None:
            figures["pre_trend_p"] = Figure(value=round(self.pre_trend_p, 4), unit="ratio")
        return figures

    def table(self) -> list[dict[str, Any]]:
        return self.event_study


@tool
def diff_in_diff(context: ToolContext, args: DiffInDiffInput) -> DiffInDiffOutput:
    """Difference-in-differences of a bad-outcome rate (late, canceled, ...) around a logged
    change: orders in the change's scope vs comparable orders outside it, before vs after, with
    day x region clustered errors, a parallel pre-trend test and an event study by day."""
    row = (
        context.con.execute(
            f"SELECT change_time, name, scope FROM {changes_source(context.con)} "
            "WHERE change_id = ?",
            [args.change_id],
        ).fetchone()
        if has_change_log(context.con)
        else None
    )
    if row is None:
        raise ToolError(f"unknown change {args.change_id!r}")
    change_time, name, scope_json = row
    scope = scope_filters(json.loads(scope_json or "{}"))
    try:
        result = change_did(context.con, args.metric, scope, change_time, args.days)
    except ChangeEffectError as error:
        raise ToolError(f"{args.change_id} ({name}): {error}") from None
    means = result.group_means
    study = result.event_study
    rows = [
        {
            "day": p.relative_period,
            "estimate": round(p.estimate, 4),
            "ci_low": round(p.ci_low, 4),
            "ci_high": round(p.ci_high, 4),
        }
        for p in (study.periods if study else ())
    ]
    outcome = OUTCOMES[args.metric].phrase if args.metric in OUTCOMES else args.metric
    return DiffInDiffOutput(
        summary=f"{name}: {outcome} in scope moved {100 * result.estimate:+.1f} pp vs control "
        f"(95% CI {100 * result.ci_low:+.1f} to {100 * result.ci_high:+.1f} pp, "
        f"p {result.p_value:.2g}; "
        f"pre-trend {_PRE_TREND[result.pre_trend_ok]})",
        change_id=args.change_id,
        name=name,
        metric=args.metric,
        outcome=outcome,
        estimate=result.estimate,
        ci_low=result.ci_low,
        ci_high=result.ci_high,
        p_value=result.p_value,
        pre_trend_p=result.pre_trend.p_value if result.pre_trend else None,
        pre_trend_ok=result.pre_trend_ok,
        covariance=result.covariance,
        treated_pre=means.treated_pre,
        treated_post=means.treated_post,
        control_pre=means.control_pre,
        control_post=means.control_post,
        treated_orders=int(means.treated_post_orders),
        event_study=rows,
        notes=list(result.notes),
    )


_PRE_TREND = {True: "parallel", False: "not parallel", None: "untested"}


class ShapAttributionInput(SliceWindow):
    """Arguments of shap_attribution."""

    metric: str = Field(default="on_time_rate", description=f"One of {list(OUTCOMES)}.")
    model: Literal["gbm", "logistic"] = "gbm"


class FeatureContribution(BaseModel):
    feature: str
    shift_log_odds: float
    contribution: float
    share_of_change: float


class ShapAttributionOutput(ToolOutput):
    metric: str
    model: str
    outcome_baseline: float
    outcome_incident: float
    observed_change: float
    residual: float
    auc: float
    additivity_error: float
    rows: int  # orders the model read
    orders_in_windows: int  # the slice's orders in both windows (more when `rows` is a sample)
    features: list[FeatureContribution]
    by_cause: dict[str, float]

    def figures(self) -> dict[str, Figure]:
        figures = {
            "outcome_baseline": Figure(value=round(self.outcome_baseline, 4), unit="share"),
            "outcome_incident": Figure(value=round(self.outcome_incident, 4), unit="share"),
            "observed_change": Figure(value=round(self.observed_change, 4), unit="share"),
            "residual": Figure(value=round(self.residual, 4), unit="share"),
            "auc": Figure(value=round(self.auc, 3), unit="ratio"),
            "rows": Figure(value=self.rows, unit="orders"),
            "orders_in_windows": Figure(value=self.orders_in_windows, unit="orders"),
        }
        for item in self.features:
            figures[f"{item.feature}.contribution"] = Figure(
                value=round(item.contribution, 4), unit="share"
            )
            figures[f"{item.feature}.share_of_change"] = Figure(
                value=round(item.share_of_change, 4), unit="share"
            )
        for kind, share in self.by_cause.items():
            figures[f"{kind}.explained_share"] = Figure(value=round(share, 4), unit="share")
        return figures

    def table(self) -> list[dict[str, Any]]:
        return [item.model_dump() for item in self.features]


@tool
def shap_attribution(context: ToolContext, args: ShapAttributionInput) -> ShapAttributionOutput:
    """Decompose the change of a slice's bad-outcome rate into driver contributions: one outcome
    model (gradient boosting or logistic) on orders of both windows, the shift of mean SHAP per
    feature, converted to rate points so contributions plus a residual add up to the observed
    change; also the share of the change each cause's features explain."""
    baseline, incident, _ = args.windows()
    try:
        result = attribute(
            context.con,
            args.metric,
            args.filters,
            (baseline.start, baseline.end),
            (incident.start, incident.end),
            model=args.model,
        )
    except (AttributionError, ShapAttributionError, CohortError) as error:
        raise ToolError(str(error)) from None
    shift = result.shift
    change = shift.observed_rate_change
    features = [
        FeatureContribution(
            feature=f.feature,
            shift_log_odds=f.shift,
            contribution=f.probability_contribution,
            share_of_change=f.probability_contribution / change if change else 0.0,
        )
        for f in shift.features
    ]
    contributions = {f.feature: f.contribution for f in features}
    by_cause = {
        kind: (
            sum(contributions.get(name, 0.0) for name in h.features) / change if change > 0 else 0.0
        )
        for kind, h in LIBRARY.items()
    }
    top = features[0] if features else None
    return ShapAttributionOutput(
        summary=f"{OUTCOMES[args.metric].phrase} {shift.observed_rate_baseline:.1%}"
        f" -> {shift.observed_rate_incident:.1%}; largest contribution: "
        + (f"{top.feature} ({top.contribution:+.1%})" if top else "none")
        + (f"; {result.sample_note}" if result.sample_note else ""),
        metric=args.metric,
        model=args.model,
        outcome_baseline=shift.observed_rate_baseline,
        outcome_incident=shift.observed_rate_incident,
        observed_change=change,
        residual=shift.probability_residual,
        auc=shift.cross_validated_auc,
        additivity_error=shift.additivity_error,
        rows=result.rows,
        orders_in_windows=sum(sample.rows for sample in result.samples),
        features=features,
        by_cause=by_cause,
    )


class LaggedCorrelationInput(SliceWindow):
    """Arguments of lagged_correlation."""

    driver: str = Field(description="An order metric: batched_rate, prep_min, dasher_wait_min, ...")
    metric: str = Field(default="on_time_rate")
    max_lag: int = Field(default=6, ge=0, le=48)


class LaggedCorrelationOutput(ToolOutput):
    driver: str
    metric: str
    best_lag: int
    best_correlation: float
    best_p_value: float
    reverse_lag: int | None
    reverse_correlation: float | None
    skipped_lags: list[int] = Field(default_factory=list)
    correlations: list[dict[str, float]]

    def figures(self) -> dict[str, Figure]:
        figures = {
            "best_lag": Figure(value=self.best_lag, unit="count"),
            "best_correlation": Figure(value=round(self.best_correlation, 3), unit="ratio"),
            "best_p_value": Figure(value=self.best_p_value, unit="ratio"),
        }
        if self.reverse_correlation is not None:
            figures["reverse_correlation"] = Figure(
                value=round(self.reverse_correlation, 3), unit="ratio"
            )
        return figures

    def table(self) -> list[dict[str, Any]]:
        return self.correlations


@tool
def lagged_correlation(
    context: ToolContext, args: LaggedCorrelationInput
) -> LaggedCorrelationOutput:
    """Correlation of the hourly bad-outcome rate in a slice with a driver `lag` hours earlier
    (hour-of-day profile removed, differenced, effective-sample p-values): does the driver lead
    the outcome? In an hour-banded slice, lags longer than the band are skipped."""
    if args.driver not in METRICS or args.metric not in METRICS:
        raise ToolError(f"driver and metric must be metrics; known: {', '.join(METRICS)}")
    baseline, incident, _ = args.windows()
    try:
        frame = metric_frame(
            context.con, [args.driver, args.metric], "hour", args.filters,
            start=baseline.start, end=incident.end,
        )  # fmt: skip
    except (MetricError, CohortError) as error:
        raise ToolError(str(error)) from None
    series = frame.set_index("period").asfreq("h")
    outcome = series[args.metric]
    if METRICS[args.metric].higher_is_better:
        outcome = 1 - outcome
    try:
        result = correlate(series[args.driver], outcome, args.max_lag, min_periods=24)
    except LagError as error:
        raise ToolError(str(error)) from None
    return LaggedCorrelationOutput(
        summary=f"{args.driver} leads the bad-outcome rate best at lag {result.best.lag} h "
        f"(r {result.best.correlation:+.2f}, adjusted p {result.best_p_value_adjusted:.2g})",
        driver=args.driver,
        metric=args.metric,
        best_lag=result.best.lag,
        best_correlation=result.best.correlation,
        best_p_value=result.best_p_value_adjusted,
        reverse_lag=result.best_reverse.lag if result.best_reverse else None,
        reverse_correlation=result.best_reverse.correlation if result.best_reverse else None,
        skipped_lags=list(result.skipped_lags),
        correlations=[
            {"lag": c.lag, "r": round(c.correlation, 3), "p": c.p_value}
            for c in result.correlations
        ],
    )


class HypothesisTestsModel(BaseModel):
    """What was measured for one hypothesis (see analytics/ranking.py for the scoring)."""

    kind: str
    missing: list[str] = Field(default_factory=list)
    untested: str | None = None
    primary_z: float | None = None
    primary_p: float | None = None
    primary_effect: float | None = None
    primary_specificity: float | None = None
    primary_timing: float | None = None
    expected_direction: int = 1
    supporting: list[bool] = Field(default_factory=list)
    refuting: list[bool] = Field(default_factory=list)
    refuted_by: list[str] = Field(default_factory=list)  # driver_shift items of violated checks
    explained_share: float | None = None
    logged_change: bool = False
    did_significant: bool = False
    orders_affected: int = 0
    evidence: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)

    def to_tests(self) -> HypothesisTests:
        primary = None
        if self.primary_z is not None and self.primary_p is not None:
            primary = PrimaryTest(
                statistic=self.primary_z,
                p_value=self.primary_p,
                effect_size=self.primary_effect or 0.0,
                specificity=self.primary_specificity or 0.0,
                timing=self.primary_timing if self.primary_timing is not None else 1.0,
                expected_direction=self.expected_direction,
            )
        return HypothesisTests(
            kind=self.kind,
            missing=tuple(self.missing),
            untested=self.untested,
            primary=primary,
            supporting=tuple(self.supporting),
            refuting=tuple(self.refuting),
            explained_share=self.explained_share,
            logged_change=self.logged_change,
            did_significant=self.did_significant,
            orders_affected=self.orders_affected,
            evidence=tuple(self.evidence),
            reasons=tuple(self.reasons),
        )


class RankCausesInput(BaseModel):
    """Arguments of rank_causes: the measurements of every hypothesis."""

    hypotheses: list[HypothesisTestsModel]


class RankedCause(BaseModel):
    kind: str
    title: str
    status: str
    confidence: float
    impact_share: float
    orders_affected: int
    components: dict[str, float]
    evidence: list[str]
    reasons: list[str]
    refuted_by: list[str] = Field(default_factory=list)  # its violated refuting checks' items


class RankCausesOutput(ToolOutput):
    causes: list[RankedCause]

    def figures(self) -> dict[str, Figure]:
        figures = {}
        for cause in self.causes:
            figures[f"{cause.kind}.confidence"] = Figure(value=cause.confidence, unit="ratio")
            figures[f"{cause.kind}.impact_share"] = Figure(value=cause.impact_share, unit="share")
            figures[f"{cause.kind}.orders_affected"] = Figure(
                value=cause.orders_affected, unit="orders"
            )
            if cause.status in ("supported", "weak"):  # what its confidence is made of
                for name, part in cause.components.items():
                    figures[f"{cause.kind}.{name}"] = Figure(value=part, unit="ratio")
        return figures

    def table(self) -> list[dict[str, Any]]:
        return [
            {
                "rank": index,
                "cause": c.kind,
                "status": c.status,
                "confidence": c.confidence,
                "impact share": c.impact_share,
                "evidence": ", ".join(c.evidence),
            }
            for index, c in enumerate(self.causes, start=1)
        ]


@tool
def rank_causes(context: ToolContext, args: RankCausesInput) -> RankCausesOutput:
    """Score every hypothesis (confidence 0-1 from significance, effect size, specificity,
    timing, explained share, supporting and refuting checks, logged change and diff-in-diff)
    and rank them; hypotheses whose primary driver did not move are ruled out, those lacking
    data (or whose primary driver could not be measured) are not testable."""
    unknown = [h.kind for h in args.hypotheses if h.kind not in LIBRARY]
    if unknown:
        raise ToolError(f"unknown hypotheses: {', '.join(unknown)}")
    scores = rank([h.to_tests() for h in args.hypotheses])
    refuted = {h.kind: h.refuted_by for h in args.hypotheses}
    causes = [
        RankedCause(
            kind=s.kind,
            title=LIBRARY[s.kind].title,
            status=s.status,
            confidence=s.confidence,
            impact_share=s.impact_share,
            orders_affected=s.orders_affected,
            components=s.components,
            evidence=list(s.evidence),
            reasons=list(s.reasons),
            refuted_by=refuted[s.kind] if s.status in ("supported", "weak") else [],
        )
        for s in scores
    ]
    leading = [c for c in causes if c.status in ("supported", "weak")]
    return RankCausesOutput(
        summary=(
            f"top cause: {leading[0].kind} (confidence {leading[0].confidence:.2f})"
            if leading
            else "no hypothesis is supported"
        ),
        causes=causes,
    )
