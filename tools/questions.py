"""Tools for the conversation's question kinds: a metric vs its baseline (lookup), two cohorts or
periods (compare), the worst or best groups of a dimension (rank), how a metric is computed
(explain) and what a world holds (help)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from analytics.alarms import DetectionError, data_span
from analytics.changes import change_count
from analytics.cohorts import DIMENSIONS, CohortError, dimension_name, world_dimensions
from analytics.comparisons import (
    ORDERS,
    ComparisonError,
    Difference,
    Measurement,
    Order,
    Ranking,
    check_metrics,
    cohort_query,
    compare,
    describe_filters,
    is_mean,
    measure,
    orders_query,
    rank_groups,
    render_sql,
    run,
    world_profile,
)
from analytics.metrics import (
    CX_COMPONENTS,
    CX_SCORE,
    METRICS,
    MetricError,
    analysis_source,
    cx_coverage,
    metric_gaps,
    metrics_sql,
)
from data.dimensions import CustomDimension
from tools.base import Figure, ToolContext, ToolError, ToolOutput, tool
from tools.detection import MEAN_DIGITS, SHARE_DIGITS, _share_or_value

_METRIC_NAMES = f"{CX_SCORE}, {', '.join(METRICS)}"
_FILTERS_DESCRIPTION = "Cohort filters, e.g. {'category': ['grocery'], 'hour': [18, 19, 20]}."


# --- units and wording -------------------------------------------------------------------------


def _delta_figure(name: str, value: float) -> Figure:
    """A difference of metric `name`: share for rates, points for the CX score, else its unit."""
    if name == CX_SCORE:
        return Figure(value=round(value, 2), unit="points", label="CX score difference")
    unit = METRICS[name].unit
    if unit == "share":
        return Figure(
            value=round(value, SHARE_DIGITS), unit="share", label=f"{METRICS[name].label} change"
        )
    return Figure(
        value=round(value, MEAN_DIGITS),
        unit="stars" if unit == "stars" else "minutes",
        label=f"{METRICS[name].label} change",
    )


def _value_figure(name: str, value: float) -> Figure:
    """A metric's value; order counts are orders."""
    if name == ORDERS:
        return Figure(value=int(value), unit="orders")
    return _share_or_value(name, value)


def _show(name: str, value: float | None) -> str:
    """A value as a narrative shows it: 87.0%, 93.84, 4.52 stars, 31.20 min."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if name == ORDERS:
        return f"{value:,.0f}"
    if name == CX_SCORE:
        return f"{value:.2f}"
    unit = METRICS[name].unit
    if unit == "share":
        return f"{value:.1%}"
    return f"{value:.2f} {'stars' if unit == 'stars' else 'min'}"


def _show_delta(name: str, value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if name == CX_SCORE:
        return f"{value:+.2f} points"
    unit = METRICS[name].unit
    if unit == "share":
        return f"{100 * value:+.1f} pp"
    return f"{value:+.2f} {'stars' if unit == 'stars' else 'min'}"


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _p(value: float) -> float:
    """A p- or q-value kept to 4 significant digits (tiny ones stay tiny)."""
    return float(f"{value:.4g}")


def _unavailable(context: ToolContext, metrics: list[str]) -> dict[str, list[str]]:
    """The asked metrics the warehouse cannot compute, with what each lacks (the CX score only
    when none of its sub-scores has data)."""
    gaps = metric_gaps(context.con)
    unavailable = {name: gaps[name] for name in metrics if name in gaps}
    if CX_SCORE in metrics and all(name in gaps for name in CX_COMPONENTS):
        unavailable[CX_SCORE] = sorted({need for name in CX_COMPONENTS for need in gaps[name]})
    return unavailable


def _check_known(metrics: list[str]) -> None:
    try:
        check_metrics(metrics)
    except ComparisonError as error:
        raise ToolError(str(error)) from None


def _measure(
    context: ToolContext,
    metrics: list[str],
    filters: dict[str, list[str | int]],
    start: dt.datetime,
    end: dt.datetime,
) -> Measurement:
    try:
        return measure(context.con, metrics, filters, start, end)
    except (ComparisonError, CohortError, MetricError) as error:
        raise ToolError(str(error)) from None


def _window_order(start: dt.datetime, end: dt.datetime) -> None:
    if end <= start:
        raise ValueError(f"end {end} is not after start {start}")


class _Window(BaseModel):
    """A cohort and a window [start, end)."""

    filters: dict[str, list[str | int]] = Field(
        default_factory=dict, description=_FILTERS_DESCRIPTION
    )
    start: dt.datetime = Field(description="Window start.")
    end: dt.datetime = Field(description="Window end (exclusive).")

    @model_validator(mode="after")
    def _in_order(self) -> _Window:
        _window_order(self.start, self.end)
        return self


# --- lookup: a metric vs its baseline ----------------------------------------------------------


class MetricSummaryInput(_Window):
    """Arguments of metric_summary."""

    metrics: list[str] = Field(
        default=[CX_SCORE], min_length=1, description=f"Metric names: {_METRIC_NAMES}."
    )
    baseline_days: int = Field(
        default=14, ge=1, le=90, description="The baseline is this many days just before start."
    )


class MetricChange(BaseModel):
    """One metric in the window vs its baseline, with the test of the difference."""

    metric: str
    label: str
    value: float | None
    baseline: float | None
    delta: float | None
    relative_change: float | None
    n: float = Field(description="The denominator (for cx_score: days with orders).")
    baseline_n: float
    events: float | None = Field(
        default=None, description="For a rate of orders: the orders with the event (numerator)."
    )
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    method: str


class MetricSummaryOutput(ToolOutput):
    filters: dict[str, list[str | int]]
    window_start: dt.datetime
    window_end: dt.datetime
    baseline_start: dt.datetime
    baseline_end: dt.datetime
    orders: int
    baseline_orders: int
    window_days: float = Field(description="The window's length in days.")
    baseline_days_with_orders: int = Field(
        description="Days of the baseline with orders (fewer where it starts before the data)."
    )
    metrics: list[MetricChange]
    unavailable: dict[str, list[str]] = Field(default_factory=dict)
    cx_coverage: str | None = None
    queries: list[str] = Field(default_factory=list)

    def figures(self) -> dict[str, Figure]:
        figures = {
            "orders": Figure(value=self.orders, unit="orders"),
            "baseline_orders": Figure(value=self.baseline_orders, unit="orders"),
            "window_start": Figure(value=self.window_start.isoformat(), unit="datetime"),
            "window_end": Figure(value=self.window_end.isoformat(), unit="datetime"),
            "baseline_start": Figure(value=self.baseline_start.isoformat(), unit="datetime"),
            "baseline_end": Figure(value=self.baseline_end.isoformat(), unit="datetime"),
        }
        if self.window_days:
            figures["orders_per_day"] = Figure(
                value=round(self.orders / self.window_days, 1), unit="orders"
            )
        if self.baseline_days_with_orders:
            figures["baseline_days_with_orders"] = Figure(
                value=self.baseline_days_with_orders, unit="count"
            )
            figures["baseline_orders_per_day"] = Figure(
                value=round(self.baseline_orders / self.baseline_days_with_orders, 1),
                unit="orders",
            )
        for found in self.metrics:
            name = found.metric
            figures[f"{name}.n"] = Figure(value=found.n, unit="count")
            if found.events is not None:
                figures[f"{name}.events"] = Figure(value=round(found.events), unit="orders")
                # The orders that did not (late ones, for the on-time rate).
                figures[f"{name}.non_events"] = Figure(
                    value=round(found.n) - round(found.events), unit="orders"
                )
            for key in ("value", "baseline"):
                value = getattr(found, key)
                if value is not None:
                    figures[f"{name}.{key}"] = _share_or_value(name, value)
            for key in ("delta", "ci_low", "ci_high"):
                value = getattr(found, key)
                if value is not None:
                    figures[f"{name}.{key}"] = _delta_figure(name, value)
            if found.relative_change is not None:
                figures[f"{name}.relative_change"] = Figure(
                    value=round(found.relative_change, 4), unit="share"
                )
            if found.p_value is not None:
                figures[f"{name}.p_value"] = Figure(value=found.p_value, unit="ratio")
        return figures

    def table(self) -> list[dict[str, Any]]:
        return [
            {
                "metric": m.metric,
                "value": _show(m.metric, m.value),
                "baseline": _show(m.metric, m.baseline),
                "change": _show_delta(m.metric, m.delta),
                "95% CI": (
                    f"[{_show_delta(m.metric, m.ci_low)}, {_show_delta(m.metric, m.ci_high)}]"
                    if m.ci_low is not None
                    else ""
                ),
                "p": m.p_value,
                "n": m.n,
                "test": m.method,
            }
            for m in self.metrics
        ]

    def sql(self) -> str | None:
        return "\n\n".join(self.queries) or None


def _counts_orders(name: str) -> bool:
    """Whether a metric is a share of orders, so its numerator counts orders with the event
    (item accuracy counts item lines instead)."""
    return name in METRICS and METRICS[name].unit == "share" and name != "item_accuracy"


def _change(name: str, window: Measurement, baseline: Measurement | None) -> MetricChange:
    """Metric `name` in the window vs the baseline, tested (no test without a baseline)."""
    value = _finite(window.values[name])
    unmeasured = MetricChange(
        metric=name,
        label="CX score" if name == CX_SCORE else METRICS[name].label,
        value=value,
        baseline=None,
        delta=None,
        relative_change=None,
        n=window.n(name),
        baseline_n=baseline.n(name) if baseline is not None else 0,
        events=window.sums[name].numerator if _counts_orders(name) else None,
        method="no test: no data for it in the window",
    )
    if value is None:
        return unmeasured
    base = _finite(baseline.values[name]) if baseline is not None else None
    if baseline is None or base is None:
        return unmeasured.model_copy(update={"method": "no test: no data in the baseline"})
    difference: Difference = compare(name, baseline, window)
    return unmeasured.model_copy(
        update={
            "baseline": base,
            "delta": value - base,
            "relative_change": (value - base) / base if base else None,
            "ci_low": difference.ci_low,
            "ci_high": difference.ci_high,
            "p_value": _p(difference.p_value) if difference.p_value is not None else None,
            "method": difference.method,
        }
    )


@tool
def metric_summary(context: ToolContext, args: MetricSummaryInput) -> MetricSummaryOutput:
    """Metrics of a cohort in a window [start, end) vs the `baseline_days` days just before it:
    value, baseline, change (absolute and relative), orders, and a test of the change - rates:
    two-proportion z-test with a 95% Newcomb interval; means (minutes, stars): Welch's t-test
    from sums and sums of squares, each with its variance widened for day-to-day variation
    beyond the orders' (analytics.dispersion, a heuristic); cx_score: Welch's t over the daily
    CX values of each window, a heuristic (days as independent samples), and no test when a
    window has under 2 days."""
    metrics = list(dict.fromkeys(args.metrics))
    _check_known(metrics)
    unavailable = _unavailable(context, metrics)
    metrics = [name for name in metrics if name not in unavailable]
    if not metrics:
        lacking = "; ".join(f"{k} (missing {', '.join(v)})" for k, v in unavailable.items())
        raise ToolError(f"no asked metric is available: {lacking}")
    baseline_start = args.start - dt.timedelta(days=args.baseline_days)
    window = _measure(context, metrics, args.filters, args.start, args.end)
    if not window.orders:
        raise ToolError(f"no orders in {window.describe()}")
    baseline = _measure(context, metrics, args.filters, baseline_start, args.start)
    changes = [_change(name, window, baseline if baseline.orders else None) for name in metrics]
    coverage = cx_coverage(context.con) if CX_SCORE in metrics and unavailable else None
    notes = [f"unavailable: {', '.join(unavailable)}"] if unavailable else []
    if coverage is not None and coverage.missing:
        notes.append(coverage.describe())
    shown = "; ".join(
        f"{c.metric} {_show(c.metric, c.value)} vs {_show(c.metric, c.baseline)} "
        f"({_show_delta(c.metric, c.delta)}"
        + (f", p={c.p_value:.2g})" if c.p_value is not None else ", not tested)")
        for c in changes[:4]
    )
    return MetricSummaryOutput(
        summary=f"{describe_filters(args.filters)}, {args.start:%Y-%m-%d %H:%M} to "
        f"{args.end:%Y-%m-%d %H:%M} vs the {args.baseline_days} days before: {shown}"
        + "".join(f"; {note}" for note in notes),
        filters=args.filters,
        window_start=args.start,
        window_end=args.end,
        baseline_start=baseline_start,
        baseline_end=args.start,
        orders=window.orders,
        baseline_orders=baseline.orders,
        window_days=(args.end - args.start).total_seconds() / 86400,
        baseline_days_with_orders=baseline.days,
        metrics=changes,
        unavailable=unavailable,
        cx_coverage=coverage.describe() if coverage is not None and coverage.missing else None,
        queries=[
            f"-- window, by day (the window's values are ratios of the summed sums)\n{window.sql}",
            f"-- baseline, by day\n{baseline.sql}",
        ],
    )


# --- compare: two cohorts or periods -----------------------------------------------------------


class Side(_Window):
    """One side of a comparison: a label, a cohort and a window [start, end)."""

    label: str = Field(min_length=1, description="How the answer names this side.")


class CompareMetricInput(BaseModel):
    """Arguments of compare_metric."""

    metric: str = Field(default=CX_SCORE, description=f"One of: {_METRIC_NAMES}.")
    sides: list[Side] = Field(
        min_length=2, max_length=2, description="Two sides; the difference is side 2 - side 1."
    )


class SideValue(BaseModel):
    label: str
    filters: dict[str, list[str | int]]
    start: dt.datetime
    end: dt.datetime
    value: float
    orders: int
    n: float = Field(description="The denominator (for cx_score: days with orders).")


class CompareMetricOutput(ToolOutput):
    metric: str
    sides: list[SideValue]
    difference: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    method: str
    untested: str = ""  # why no test ran ('' when one did)
    queries: list[str] = Field(default_factory=list)

    def figures(self) -> dict[str, Figure]:
        figures = {"difference": _delta_figure(self.metric, self.difference)}
        if self.untested:
            figures["untested"] = Figure(value=self.untested, unit="text", label="why no test")
        for key, side in zip("ab", self.sides, strict=True):
            figures.update(
                {
                    f"{key}.value": _share_or_value(self.metric, side.value),
                    f"{key}.orders": Figure(value=side.orders, unit="orders"),
                    f"{key}.n": Figure(value=side.n, unit="count"),
                    f"{key}.label": Figure(value=side.label, unit="text"),
                }
            )
        if self.ci_low is not None and self.ci_high is not None:
            figures["ci_low"] = _delta_figure(self.metric, self.ci_low)
            figures["ci_high"] = _delta_figure(self.metric, self.ci_high)
        if self.p_value is not None:
            figures["p_value"] = Figure(value=self.p_value, unit="ratio")
        return figures

    def table(self) -> list[dict[str, Any]]:
        return [
            {
                "side": side.label,
                "cohort": describe_filters(side.filters),
                "from": side.start.isoformat(timespec="minutes"),
                "to": side.end.isoformat(timespec="minutes"),
                self.metric: _show(self.metric, side.value),
                "orders": side.orders,
                "n": side.n,
            }
            for side in self.sides
        ]

    def sql(self) -> str | None:
        return "\n\n".join(self.queries) or None


@tool
def compare_metric(context: ToolContext, args: CompareMetricInput) -> CompareMetricOutput:
    """A metric on two sides (cohorts, periods, or both) and their difference (side 2 - side 1)
    with a 95% interval and p-value - rates: two-proportion z-test (Newcomb interval); means:
    Welch's t-test from sums and sums of squares; cx_score: Welch's t over each side's daily CX
    values, a heuristic, with no test when a side has under 2 days. Two periods are tested
    with the variance widened for day-to-day variation beyond the orders' (a heuristic). Sides
    that share orders (overlapping cohorts and periods) break the tests' independence."""
    _check_known([args.metric])
    unavailable = _unavailable(context, [args.metric])
    if unavailable:
        raise ToolError(
            f"{args.metric} is unavailable: missing {', '.join(unavailable[args.metric])}"
        )
    measured = []
    for side in args.sides:
        found = _measure(context, [args.metric], side.filters, side.start, side.end)
        if not found.orders:
            raise ToolError(f"{side.label}: no orders in {found.describe()}")
        if _finite(found.values[args.metric]) is None:
            raise ToolError(f"{side.label}: no data for {args.metric} in {found.describe()}")
        measured.append(found)
    first, second = measured
    difference = compare(args.metric, first, second)
    sides = [
        SideValue(
            **side.model_dump(),
            value=found.values[args.metric],
            orders=found.orders,
            n=found.n(args.metric),
        )
        for side, found in zip(args.sides, measured, strict=True)
    ]
    a, b = sides
    tested = (
        f"95% CI [{_show_delta(args.metric, difference.ci_low)}, "
        f"{_show_delta(args.metric, difference.ci_high)}], p={difference.p_value:.2g}"
        if difference.p_value is not None
        else difference.method
    )
    return CompareMetricOutput(
        summary=f"{args.metric}: {a.label} {_show(args.metric, a.value)} vs {b.label} "
        f"{_show(args.metric, b.value)}, difference {_show_delta(args.metric, difference.estimate)}"
        f" ({tested})",
        metric=args.metric,
        sides=sides,
        difference=difference.estimate,
        ci_low=difference.ci_low,
        ci_high=difference.ci_high,
        p_value=_p(difference.p_value) if difference.p_value is not None else None,
        method=difference.method,
        untested=difference.untested,
        queries=[
            f"-- {s.label}, by day\n{found.sql}" for s, found in zip(sides, measured, strict=True)
        ],
    )


# --- rank: the worst or best groups of a dimension ---------------------------------------------


class GroupsInput(BaseModel):
    """The groups a ranking tool compares: a dimension's groups within filters, the first k."""

    dimension: str = Field(
        description=f"One of: {', '.join(DIMENSIONS)}, or a custom dimension of the world "
        "(describe_world lists them)."
    )
    k: int = Field(default=5, ge=1, le=50)
    filters: dict[str, list[str | int]] = Field(
        default_factory=dict, description=_FILTERS_DESCRIPTION
    )

    @field_validator("dimension")
    @classmethod
    def _known_dimension(cls, value: str) -> str:
        return dimension_name(value)


class RankCohortsInput(GroupsInput):
    """Arguments of rank_cohorts."""

    metric: str = Field(
        default=CX_SCORE, description=f"One of: {_METRIC_NAMES}, or {ORDERS} for order counts."
    )
    count: bool = Field(
        default=False,
        description="Rank a rate by its event count (e.g. most cancellations) instead.",
    )
    order: Order = Field(
        default="worst",
        description="worst/best follow the metric's direction (for order counts worst = "
        "fewest); highest/lowest are literal.",
    )
    start: dt.datetime | None = Field(default=None, description="Default: the data's start.")
    end: dt.datetime | None = Field(default=None, description="Exclusive; default: data's end.")
    min_orders: int | None = Field(
        default=None, ge=1, description="Minimum orders per group (default rule: 30)."
    )

    @model_validator(mode="after")
    def _in_order(self) -> RankCohortsInput:
        if self.start and self.end:
            _window_order(self.start, self.end)
        return self


class RankRow(BaseModel):
    rank: int
    group: str | int
    value: float
    orders: int
    n: float
    ci_low: float | None = None
    ci_high: float | None = None
    versus_rest: float | None = None
    p_value: float | None = None
    q_value: float | None = None


class RankCohortsOutput(ToolOutput):
    dimension: str
    metric: str
    count: bool
    order: Order
    filters: dict[str, list[str | int]]
    window_start: dt.datetime
    window_end: dt.datetime
    rows: list[RankRow]
    overall: float
    groups: int = Field(description="Groups compared (with enough orders).")
    excluded_groups: int
    min_orders: int
    rule: str
    method: str
    query: str = ""

    def _value(self, value: float) -> Figure:
        if self.count:
            return Figure(value=int(value), unit="count")
        return _value_figure(self.metric, value)

    def figures(self) -> dict[str, Figure]:
        figures = {
            "overall.value": self._value(self.overall),
            "groups": Figure(value=self.groups, unit="count"),
            "excluded_groups": Figure(value=self.excluded_groups, unit="count"),
            "min_orders": Figure(value=self.min_orders, unit="orders"),
            "window_start": Figure(value=self.window_start.isoformat(), unit="datetime"),
            "window_end": Figure(value=self.window_end.isoformat(), unit="datetime"),
        }
        for row in self.rows:
            key = f"r{row.rank}"
            figures[f"{key}.name"] = Figure(value=str(row.group), unit="text")
            # The group as a cohort ("hour=18") and, for days, as a date an answer may write.
            figures[f"{key}.cohort"] = Figure(value=f"{self.dimension}={row.group}", unit="text")
            if self.dimension == "day":
                figures[f"{key}.day"] = Figure(value=str(row.group), unit="datetime")
            figures[f"{key}.value"] = self._value(row.value)
            figures[f"{key}.orders"] = Figure(value=row.orders, unit="orders")
            if self.metric == ORDERS and self.overall > 0:  # the group's share of the orders
                figures[f"{key}.share"] = Figure(
                    value=round(row.value / self.overall, 4), unit="share"
                )
            if row.ci_low is not None and row.ci_high is not None:
                figures[f"{key}.ci_low"] = self._value(row.ci_low)
                figures[f"{key}.ci_high"] = self._value(row.ci_high)
            if row.versus_rest is not None:
                figures[f"{key}.vs_rest"] = _delta_figure(self.metric, row.versus_rest)
            if row.q_value is not None:
                figures[f"{key}.q_value"] = Figure(value=row.q_value, unit="ratio")
        return figures

    def table(self) -> list[dict[str, Any]]:
        shown = (lambda v: f"{v:,.0f}") if self.count else (lambda v: _show(self.metric, v))
        return [
            {
                "rank": row.rank,
                self.dimension: row.group,
                "value": shown(row.value),
                "orders": row.orders,
                "95% interval": (
                    f"[{shown(row.ci_low)}, {shown(row.ci_high)}]" if row.ci_low is not None else ""
                ),
                "vs rest": _show_delta(self.metric, row.versus_rest)
                if row.versus_rest is not None
                else "",
                "q": row.q_value,
            }
            for row in self.rows
        ]

    def sql(self) -> str | None:
        return self.query or None


def _rows(ranking: Ranking, k: int) -> list[RankRow]:
    rows = []
    for rank, group in enumerate(ranking.groups[:k], start=1):
        rest = group.versus_rest
        rows.append(
            RankRow(
                rank=rank,
                group=group.group,
                value=group.value,
                orders=group.orders,
                n=group.n,
                ci_low=group.interval[0] if group.interval else None,
                ci_high=group.interval[1] if group.interval else None,
                versus_rest=rest.estimate if rest is not None else None,
                p_value=_p(rest.p_value) if rest is not None and rest.p_value is not None else None,
                q_value=_p(group.q_value) if group.q_value is not None else None,
            )
        )
    return rows


def _rank_method(metric: str, count: bool) -> str:
    if metric in (ORDERS, CX_SCORE) or count:
        return "ranked by value; no interval or test for the CX score and counts"
    if is_mean(metric):
        return "95% t interval; Welch t-test vs the rest of the cohort; BH q-values"
    return "95% Wilson interval; two-proportion z-test vs the rest of the cohort; BH q-values"


@tool
def rank_cohorts(context: ToolContext, args: RankCohortsInput) -> RankCohortsOutput:
    """The k worst, best, highest or lowest groups of a dimension (region, category, store,
    hour, daypart, basket_size) by a metric, by a rate's event count (count=true, e.g. most
    cancellations) or by orders, in a cohort and window (default: all the data). worst/best
    follow the metric's direction; for order counts worst = fewest. Groups below the minimum
    volume (default 30 orders) are left out and counted. Each group has a 95% interval (Wilson
    for rates, t for means) and its difference from the rest of the cohort with a BH q-value
    over all groups compared (none for the CX score and counts). Ties go by group name."""
    metric = args.metric
    if metric != ORDERS:
        _check_known([metric])
        unavailable = _unavailable(context, [metric])
        if unavailable:
            raise ToolError(f"{metric} is unavailable: missing {', '.join(unavailable[metric])}")
    start, end = args.start, args.end
    if start is None or end is None:
        try:
            span = data_span(context.con)
        except DetectionError as error:
            raise ToolError(str(error)) from None
        start = start or span.first
        end = end or span.last + dt.timedelta(seconds=1)
        if end <= start:
            raise ToolError(f"no data between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M}")
    dimensions = world_dimensions(context.con)
    try:
        if metric == ORDERS:
            sql, parameters = orders_query(args.dimension, args.filters, start, end, dimensions)
        else:
            sql, parameters = cohort_query(
                [metric],
                args.filters,
                start,
                end,
                group_by=[args.dimension],
                source=analysis_source(context.con),
                dimensions=dimensions,
            )
        frame = run(context.con, sql, parameters)
        ranking = rank_groups(
            frame, args.dimension, metric, args.order, args.count, args.min_orders, dimensions
        )
    except (ComparisonError, CohortError, MetricError) as error:
        raise ToolError(str(error)) from None
    if not len(frame):
        window = f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}"
        raise ToolError(f"no orders in {describe_filters(args.filters)}, {window}")
    rows = _rows(ranking, args.k)
    what = f"{metric} events" if ranking.count else metric
    listed = ", ".join(
        f"{row.group} {f'{row.value:,.0f}' if ranking.count else _show(metric, row.value)}"
        for row in rows
    )
    return RankCohortsOutput(
        summary=f"{args.order} {len(rows)} of {len(ranking.groups)} {args.dimension} groups by "
        f"{what} in {describe_filters(args.filters)}, {start:%Y-%m-%d %H:%M} to "
        f"{end:%Y-%m-%d %H:%M}: {listed or 'none'}; {ranking.excluded_groups} left out "
        f"({ranking.rule})",
        dimension=args.dimension,
        metric=metric,
        count=ranking.count,
        order=args.order,
        filters=args.filters,
        window_start=start,
        window_end=end,
        rows=rows,
        overall=ranking.overall,
        groups=len(ranking.groups),
        excluded_groups=ranking.excluded_groups,
        min_orders=ranking.min_orders,
        rule=ranking.rule,
        method=_rank_method(metric, ranking.count),
        query=render_sql(sql, parameters),
    )


# --- explain: how a metric is computed ---------------------------------------------------------


class MetricDefinitionInput(BaseModel):
    """Arguments of metric_definition."""

    metric: str = Field(description=f"One of: {_METRIC_NAMES}.")


class MetricDefinitionOutput(ToolOutput):
    name: str
    label: str
    unit: str
    description: str
    numerator: str | None = None
    denominator: str | None = None
    square: str | None = None
    direction: str
    cx_weight: float = 0.0
    weights: dict[str, float] = Field(
        default_factory=dict, description="cx_score: each sub-score's weight."
    )
    test: str
    example_sql: str

    def figures(self) -> dict[str, Figure]:
        figures = {
            "definition": Figure(value=self.description, unit="text"),
            "label": Figure(value=self.label, unit="text"),
        }
        if self.cx_weight > 0:
            figures["cx_weight"] = Figure(value=self.cx_weight, unit="share")
        for name, weight in self.weights.items():
            figures[f"weight.{name}"] = Figure(value=weight, unit="share")
        return figures

    def table(self) -> list[dict[str, Any]]:
        if self.weights:
            return [
                {"sub-score": METRICS[name].label, "weight": weight, "as 0-100": _sub_score(name)}
                for name, weight in self.weights.items()
            ]
        return [
            {"part": "numerator", "sql": self.numerator},
            {"part": "denominator", "sql": self.denominator},
        ]

    def sql(self) -> str | None:
        return self.example_sql


def _sub_score(name: str) -> str:
    """A CX sub-score's 0-100 mapping as text, e.g. '100 - 100 x cancellation_rate'."""
    intercept, slope = METRICS[name].score
    if intercept == 0:
        return f"{slope:g} x {name}"
    sign = "-" if slope < 0 else "+"
    return f"{intercept:g} {sign} {abs(slope):g} x {name}"


def _cx_definition() -> str:
    parts = " + ".join(
        f"{METRICS[name].cx_weight:.2f} x ({_sub_score(name)})" for name in CX_COMPONENTS
    )
    return (
        f"CX score (0-100) = {parts}; each sub-score is on 0-100, and where a sub-score has no "
        "data its weight is shared out over the others (weights renormalized)."
    )


def _test_of(name: str) -> str:
    if name == CX_SCORE:
        return "compared with Welch's t over daily values (a heuristic)"
    if is_mean(name):
        return "compared with Welch's t-test from sums and sums of squares"
    return "compared with a two-proportion z-test"


@tool
def metric_definition(context: ToolContext, args: MetricDefinitionInput) -> MetricDefinitionOutput:
    """How a metric is computed, from the metric registry: its description, numerator and
    denominator SQL over order_facts, unit, direction, weight in the CX score, how comparisons
    test it, and an example query by day over the data. For cx_score: the six sub-scores'
    weights and 0-100 mappings."""
    name = args.metric
    if name != CX_SCORE and name not in METRICS:
        raise ToolError(f"unknown metric {name!r}; known: {_METRIC_NAMES}")
    # The query as the tools run it: sub-scores left out as degenerate read as NULL.
    sql = metrics_sql([name], "day", [], "TRUE", source=analysis_source(context.con))
    try:
        span = data_span(context.con)
        example = render_sql(sql, [span.first, span.last + dt.timedelta(seconds=1)])
    except DetectionError:
        example = sql
    if name == CX_SCORE:
        coverage = cx_coverage(context.con)
        description = _cx_definition()
        if coverage.missing:
            description += f" In this data: {coverage.describe()}."
        return MetricDefinitionOutput(
            summary=f"{CX_SCORE}: {description}",
            name=name,
            label="CX score",
            unit="score",
            description=description,
            direction="higher is better",
            weights={n: METRICS[n].cx_weight for n in CX_COMPONENTS},
            test=_test_of(name),
            example_sql=example,
        )
    spec = METRICS[name]
    return MetricDefinitionOutput(
        summary=f"{name} ({spec.label}, {spec.unit}): {spec.description}",
        name=name,
        label=spec.label,
        unit=spec.unit,
        description=spec.description,
        numerator=spec.numerator,
        denominator=spec.denominator,
        square=spec.square or None,
        direction="higher is better" if spec.higher_is_better else "lower is better",
        cx_weight=spec.cx_weight,
        test=_test_of(name),
        example_sql=example,
    )


# --- help: what a world holds ------------------------------------------------------------------


class DescribeWorldInput(BaseModel):
    """Arguments of describe_world (none: it describes the whole warehouse)."""


class DescribeWorldOutput(ToolOutput):
    data_start: dt.datetime
    data_end: dt.datetime
    days: int
    orders: int
    rows: dict[str, int]
    metrics_available: list[str]
    metrics_unavailable: dict[str, list[str]]
    regions: list[str]
    categories: list[str]
    dayparts: list[str]
    basket_sizes: list[str]
    stores: int
    changes: int
    cx_coverage: str
    custom_dimensions: list[CustomDimension] = Field(
        default_factory=list, description="The mapping's custom dimensions, kinds and groups."
    )

    def figures(self) -> dict[str, Figure]:
        figures = {
            "orders": Figure(value=self.orders, unit="orders"),
            "days": Figure(value=self.days, unit="count"),
            "data_start": Figure(value=self.data_start.isoformat(), unit="datetime"),
            "data_end": Figure(value=self.data_end.isoformat(), unit="datetime"),
            "stores": Figure(value=self.stores, unit="count"),
            "changes": Figure(value=self.changes, unit="count"),
            "regions": Figure(value=", ".join(self.regions), unit="text"),
            "categories": Figure(value=", ".join(self.categories), unit="text"),
        }
        for table, rows in self.rows.items():
            figures[f"rows.{table}"] = Figure(value=rows, unit="count")
        return figures

    def table(self) -> list[dict[str, Any]]:
        return [{"table": table, "rows": rows} for table, rows in self.rows.items()]


@tool
def describe_world(context: ToolContext, args: DescribeWorldInput) -> DescribeWorldOutput:
    """What the data holds: its span (first and last order), days, orders, rows per table,
    the metrics available and those unavailable (with what they lack), the regions,
    categories, dayparts and basket sizes present, the number of stores, the number of logged
    changes, which parts the CX score covers, and the custom dimensions (name, kind, groups)."""
    try:
        profile = world_profile(context.con)
    except ComparisonError as error:
        raise ToolError(str(error)) from None
    gaps = metric_gaps(context.con)
    coverage = cx_coverage(context.con)
    available = [CX_SCORE] if coverage.weights else []
    available += [name for name in METRICS if name not in gaps]
    changes = change_count(context.con)
    return DescribeWorldOutput(
        summary=f"{profile.orders:,} orders over {profile.days} days "
        f"({profile.data_start:%Y-%m-%d} to {profile.data_end:%Y-%m-%d}), "
        f"{len(profile.regions)} regions, {len(profile.categories)} categories, "
        f"{profile.stores} stores, {changes} logged changes; "
        f"{len(available)} metrics available, {len(gaps)} unavailable; {coverage.describe()}",
        data_start=profile.data_start,
        data_end=profile.data_end,
        days=profile.days,
        orders=profile.orders,
        rows=profile.rows,
        metrics_available=available,
        metrics_unavailable=gaps,
        regions=list(profile.regions),
        categories=list(profile.categories),
        dayparts=list(profile.dayparts),
        basket_sizes=list(profile.basket_sizes),
        stores=profile.stores,
        changes=changes,
        cx_coverage=coverage.describe(),
        custom_dimensions=list(profile.custom_dimensions),
    )
