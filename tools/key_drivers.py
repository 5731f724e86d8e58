"""The key_drivers tool: what drives a metric across orders, over every dimension (built-in and
custom), per group with tests and as one model that separates correlated drivers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from analytics.alarms import DetectionError, data_span
from analytics.cohorts import CohortError, dimension_name
from analytics.comparisons import describe_filters
from analytics.key_drivers import (
    MIN_SUPPORT,
    SIGNIFICANT_Q,
    Agreement,
    KeyDriverError,
)
from analytics.key_drivers import key_drivers as analyse_key_drivers
from analytics.metrics import CX_SCORE, METRICS, MetricError
from tools.base import Figure, ToolContext, ToolError, ToolOutput, tool
from tools.detection import _share_or_value
from tools.questions import _delta_figure, _p, _show, _show_delta, _unavailable

# Groups listed (and given figures): the most significant first, then, for each dimension with
# none among them, its group most apart from the rest ("are younger couriers faster?" reads
# courier_age's even when other dimensions' groups are the more significant).
MAX_GROUPS = 12


class KeyDriversInput(BaseModel):
    """Arguments of key_drivers."""

    metric: str = Field(
        default="duration_min",
        description=f"One of: {', '.join(METRICS)} (not {CX_SCORE}: it has no value per order).",
    )
    filters: dict[str, list[str | int]] = Field(
        default_factory=dict, description="Cohort filters, e.g. {'category': ['grocery']}."
    )
    start: dt.datetime | None = Field(default=None, description="Default: the data's start.")
    end: dt.datetime | None = Field(default=None, description="Exclusive; default: data's end.")
    dimensions: list[str] | None = Field(
        default=None, description="Default: every built-in and custom dimension with data."
    )
    min_support: int = Field(
        default=MIN_SUPPORT, ge=10, description="Orders a group (and the rest) needs to be tested."
    )

    @field_validator("dimensions")
    @classmethod
    def _names(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [dimension_name(name) for name in value]

    @model_validator(mode="after")
    def _in_order(self) -> KeyDriversInput:
        if self.start and self.end and self.end <= self.start:
            raise ValueError(f"end {self.end} is not after start {self.start}")
        return self


class DriverRow(BaseModel):
    rank: int
    dimension: str
    custom: bool
    attribution: float = Field(description="Mean |model contribution| (metric unit).")
    marginal_spread: float = Field(description="Weighted mean |group - overall| (metric unit).")
    groups: int
    significant_groups: int
    agreement: Agreement
    associated: str | None = None
    association: float | None = None


class GroupRow(BaseModel):
    dimension: str
    group: str
    orders: int
    value: float
    rest: float
    difference: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    q_value: float | None
    adjusted: float | None = Field(description="Model contribution vs the average order.")


class KeyDriversOutput(ToolOutput):
    metric: str
    filters: dict[str, list[str | int]]
    window_start: dt.datetime
    window_end: dt.datetime
    orders: int
    overall: float
    min_support: int
    tests: int
    model_orders: int
    model_sample: str | None = Field(
        default=None, description="How the model's orders were sampled; None: every order."
    )
    r_squared: float
    drivers: list[DriverRow]
    marginal_order: list[str]
    groups: list[GroupRow]
    left_out: dict[str, str]
    method: str
    query: str

    def figures(self) -> dict[str, Figure]:
        figures = {
            "orders": Figure(value=self.orders, unit="orders"),
            "overall.value": _share_or_value(self.metric, self.overall),
            "min_support": Figure(value=self.min_support, unit="orders"),
            "significance": Figure(value=SIGNIFICANT_Q, unit="ratio", label="q threshold"),
            "tests": Figure(value=self.tests, unit="count"),
            "model_orders": Figure(value=self.model_orders, unit="orders"),
            "r_squared": Figure(value=round(self.r_squared, 4), unit="ratio"),
            "window_start": Figure(value=self.window_start.isoformat(), unit="datetime"),
            "window_end": Figure(value=self.window_end.isoformat(), unit="datetime"),
        }
        for row in self.drivers:
            key = f"d{row.rank}"
            figures[f"{key}.name"] = Figure(value=row.dimension, unit="text")
            figures[f"{key}.attribution"] = _delta_figure(self.metric, row.attribution)
            figures[f"{key}.marginal"] = _delta_figure(self.metric, row.marginal_spread)
            figures[f"{key}.groups"] = Figure(value=row.groups, unit="count")
            figures[f"{key}.significant_groups"] = Figure(
                value=row.significant_groups, unit="count"
            )
            if row.associated is not None and row.association is not None:
                figures[f"{key}.associated"] = Figure(value=row.associated, unit="text")
                figures[f"{key}.association"] = Figure(
                    value=round(row.association, 2), unit="ratio"
                )
        for index, group in enumerate(self.groups, start=1):
            key = f"g{index}"
            figures[f"{key}.cohort"] = Figure(value=f"{group.dimension}={group.group}", unit="text")
            figures[f"{key}.value"] = _share_or_value(self.metric, group.value)
            figures[f"{key}.rest"] = _share_or_value(self.metric, group.rest)
            figures[f"{key}.difference"] = _delta_figure(self.metric, group.difference)
            figures[f"{key}.orders"] = Figure(value=group.orders, unit="orders")
            if group.q_value is not None:
                figures[f"{key}.q_value"] = Figure(value=group.q_value, unit="ratio")
            if group.adjusted is not None:
                figures[f"{key}.adjusted"] = _delta_figure(self.metric, group.adjusted)
        return figures

    def table(self) -> list[dict[str, Any]]:
        return [
            {
                "rank": row.rank,
                "dimension": row.dimension + (" (custom)" if row.custom else ""),
                "model attribution": _show_delta(self.metric, row.attribution).lstrip("+"),
                "per-group spread": _show_delta(self.metric, row.marginal_spread).lstrip("+"),
                "groups tested": row.groups,
                f"q < {SIGNIFICANT_Q}": row.significant_groups,
                "readings": row.agreement
                + (f" (most associated: {row.associated})" if row.associated else ""),
            }
            for row in self.drivers
        ]

    def sql(self) -> str | None:
        return self.query


def _rows(metric: str, found: Any) -> tuple[list[DriverRow], list[GroupRow]]:
    drivers = [
        DriverRow(
            rank=rank, dimension=d.dimension, custom=d.custom, attribution=d.attribution,
            marginal_spread=d.marginal_spread, groups=d.groups,
            significant_groups=d.significant_groups, agreement=d.agreement,
            associated=d.associated, association=d.association,
        )
        for rank, d in enumerate(found.drivers, start=1)
    ]  # fmt: skip
    groups = [
        GroupRow(
            dimension=e.dimension, group=e.group, orders=e.orders, value=e.value, rest=e.rest,
            difference=e.difference.estimate, ci_low=e.difference.ci_low,
            ci_high=e.difference.ci_high,
            p_value=_p(e.difference.p_value) if e.difference.p_value is not None else None,
            q_value=_p(e.q_value) if e.q_value is not None else None, adjusted=e.adjusted,
        )
        for e in _listed_effects(found)
    ]  # fmt: skip
    return drivers, groups


def _listed_effects(found: Any) -> list[Any]:
    """The MAX_GROUPS most significant group effects, then the one most apart of each driver
    dimension that has none among them."""
    listed = list(found.effects[:MAX_GROUPS])
    for driver in found.drivers:
        own = [e for e in found.effects if e.dimension == driver.dimension]
        if own and not any(e.dimension == driver.dimension for e in listed):
            listed.append(max(own, key=lambda e: abs(e.difference.estimate)))
    return listed


@tool
def key_drivers(context: ToolContext, args: KeyDriversInput) -> KeyDriversOutput:
    """What drives a metric across orders (key-driver analysis) in a cohort and window, over
    every built-in dimension with data (region, category, daypart, weekday, basket_size, store)
    and every custom dimension of the world. Per group: the group vs the rest of the cohort
    (Welch t for means, two-proportion z for rates) with Benjamini-Hochberg q-values over all
    tests, groups needing `min_support` orders. Model: one regression on all dimensions at once;
    each dimension's attribution is its mean |linear SHAP contribution| in the metric's unit,
    which separates a driver from a correlated bystander. Says where the readings disagree."""
    if args.metric not in METRICS:
        known = ", ".join(METRICS)
        raise ToolError(f"key drivers need a metric with a value per order, one of: {known}")
    unavailable = _unavailable(context, [args.metric])
    if unavailable:
        raise ToolError(
            f"{args.metric} is unavailable: missing {', '.join(unavailable[args.metric])}"
        )
    start, end = args.start, args.end
    try:
        if start is None or end is None:
            span = data_span(context.con)
            start = start or span.first
            end = end or span.last + dt.timedelta(seconds=1)
        found = analyse_key_drivers(
            context.con, args.metric, args.filters, start, end, args.dimensions, args.min_support
        )
    except (DetectionError, KeyDriverError, CohortError, MetricError) as error:
        raise ToolError(str(error)) from None
    drivers, groups = _rows(args.metric, found)
    listed = ", ".join(
        f"{d.dimension} {_show_delta(args.metric, d.attribution).lstrip('+')}" for d in drivers[:5]
    )
    return KeyDriversOutput(
        summary=f"key drivers of {args.metric} in {describe_filters(args.filters)} "
        f"({found.orders:,} orders, overall {_show(args.metric, found.overall)}): {listed}; "
        f"{found.tests} group tests (BH), minimum support {found.min_support} orders"
        + (f"; model {found.sample_note}" if found.sample_note else ""),
        metric=args.metric,
        filters=found.filters,
        window_start=found.start,
        window_end=found.end,
        orders=found.orders,
        overall=found.overall,
        min_support=found.min_support,
        tests=found.tests,
        model_orders=found.model_orders,
        model_sample=found.sample_note,
        r_squared=found.r_squared,
        drivers=drivers,
        marginal_order=list(found.marginal_order),
        groups=groups,
        left_out=found.left_out,
        method="per group: Welch t (means) or two-proportion z (rates) vs the rest, "
        "Benjamini-Hochberg q over all tests; model: least squares on every dimension (one-hot), "
        "attribution = mean |linear SHAP contribution|; group sums aggregated in the engine, "
        "the model on every order or a sample drawn in the engine by order id",
        query=found.sql,
    )
