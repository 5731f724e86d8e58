"""The rank_changes tool: the groups of a dimension whose metric moved most between the period
before and a period ("which region got worse the most last week?")."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field, model_validator

from analytics.change_ranking import ChangeRanking
from analytics.change_ranking import rank_changes as rank_groups_by_change
from analytics.cohorts import CohortError, world_dimensions
from analytics.comparisons import (
    ComparisonError,
    Order,
    cohort_query,
    describe_filters,
    render_sql,
    run,
)
from analytics.metrics import CX_SCORE, MetricError, analysis_source
from tools.base import Figure, ToolContext, ToolError, ToolOutput, tool
from tools.questions import (
    _METRIC_NAMES,
    GroupsInput,
    _check_known,
    _delta_figure,
    _p,
    _show,
    _show_delta,
    _unavailable,
    _value_figure,
    _window_order,
)


class RankChangesInput(GroupsInput):
    """Arguments of rank_changes."""

    metric: str = Field(default=CX_SCORE, description=f"One of: {_METRIC_NAMES}.")
    order: Order = Field(
        default="worst",
        description="worst: the largest move in the metric's bad direction first; best: the "
        "largest improvement first; highest/lowest rank the signed change literally.",
    )
    start: dt.datetime = Field(description="The period's start.")
    end: dt.datetime = Field(description="The period's end (exclusive).")
    previous_start: dt.datetime | None = Field(
        default=None, description="The period compared with; default: as long, just before."
    )
    min_orders: int | None = Field(
        default=None, ge=1, description="Minimum orders per group in each period (default 30)."
    )

    @model_validator(mode="after")
    def _in_order(self) -> RankChangesInput:
        _window_order(self.start, self.end)
        if self.previous_start is not None and self.previous_start >= self.start:
            raise ValueError("previous_start must be before start")
        return self


class ChangeRow(BaseModel):
    rank: int
    group: str | int
    before: float
    after: float
    change: float
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    q_value: float | None = None
    orders_before: int
    orders_after: int


class RankChangesOutput(ToolOutput):
    dimension: str
    metric: str
    order: Order
    filters: dict[str, list[str | int]]
    previous_start: dt.datetime
    window_start: dt.datetime
    window_end: dt.datetime
    rows: list[ChangeRow]
    overall_before: float
    overall_after: float
    groups: int = Field(description="Groups compared (enough orders in both periods).")
    excluded_groups: int
    min_orders: int
    method: str
    query: str = ""

    def figures(self) -> dict[str, Figure]:
        figures = {
            "overall.before": _value_figure(self.metric, self.overall_before),
            "overall.after": _value_figure(self.metric, self.overall_after),
            "overall.change": _delta_figure(self.metric, self.overall_after - self.overall_before),
            "groups": Figure(value=self.groups, unit="count"),
            "excluded_groups": Figure(value=self.excluded_groups, unit="count"),
            "min_orders": Figure(value=self.min_orders, unit="orders"),
            "previous_start": Figure(value=self.previous_start.isoformat(), unit="datetime"),
            # The previous period's last day, as an answer names it ("Dec 22 to Dec 28").
            "previous_last_day": Figure(
                value=(self.window_start - dt.timedelta(days=1)).date().isoformat(),
                unit="datetime",
            ),
            "window_start": Figure(value=self.window_start.isoformat(), unit="datetime"),
            "window_end": Figure(value=self.window_end.isoformat(), unit="datetime"),
        }
        for row in self.rows:
            key = f"r{row.rank}"
            figures[f"{key}.name"] = Figure(value=str(row.group), unit="text")
            figures[f"{key}.cohort"] = Figure(value=f"{self.dimension}={row.group}", unit="text")
            figures[f"{key}.before"] = _value_figure(self.metric, row.before)
            figures[f"{key}.after"] = _value_figure(self.metric, row.after)
            figures[f"{key}.change"] = _delta_figure(self.metric, row.change)
            if row.ci_low is not None and row.ci_high is not None:
                figures[f"{key}.ci_low"] = _delta_figure(self.metric, row.ci_low)
                figures[f"{key}.ci_high"] = _delta_figure(self.metric, row.ci_high)
            if row.q_value is not None:
                figures[f"{key}.q_value"] = Figure(value=row.q_value, unit="ratio")
            figures[f"{key}.orders_before"] = Figure(value=row.orders_before, unit="orders")
            figures[f"{key}.orders_after"] = Figure(value=row.orders_after, unit="orders")
        return figures

    def table(self) -> list[dict[str, Any]]:
        return [
            {
                "rank": row.rank,
                self.dimension: row.group,
                "before": _show(self.metric, row.before),
                "after": _show(self.metric, row.after),
                "change": _show_delta(self.metric, row.change),
                "95% interval": (
                    f"[{_show_delta(self.metric, row.ci_low)}, "
                    f"{_show_delta(self.metric, row.ci_high)}]"
                    if row.ci_low is not None
                    else ""
                ),
                "q": row.q_value,
            }
            for row in self.rows
        ]

    def sql(self) -> str | None:
        return self.query or None


def _rows(ranking: ChangeRanking, k: int) -> list[ChangeRow]:
    return [
        ChangeRow(
            rank=rank,
            group=g.group,
            before=g.before,
            after=g.after,
            change=g.change.estimate,
            ci_low=g.change.ci_low,
            ci_high=g.change.ci_high,
            p_value=_p(g.change.p_value) if g.change.p_value is not None else None,
            q_value=_p(g.q_value) if g.q_value is not None else None,
            orders_before=g.orders_before,
            orders_after=g.orders_after,
        )
        for rank, g in enumerate(ranking.groups[:k], start=1)
    ]


def _per_group(frame: pd.DataFrame, key: str, metric: str) -> pd.DataFrame:
    """A frame by group and day summed per group (the metric's value column left out: the
    ranking reads the ratio of the summed sums)."""
    summed = frame.drop(columns=["day", metric], errors="ignore")
    return summed.groupby(key, as_index=False, dropna=False).sum(numeric_only=True)


@tool
def rank_changes(context: ToolContext, args: RankChangesInput) -> RankChangesOutput:
    """The k groups of a dimension (region, category, store, hour, daypart, basket_size, or a
    custom one) whose metric moved most between the previous period (default: as long as the
    period, just before it) and the period: worst = the largest move in the metric's bad
    direction. Each group's change is tested within the group (two-proportion z for rates,
    Welch for means, widened for the group's day-to-day variation; none for the CX score) with
    BH q-values over the groups compared; groups
    under the minimum volume (default 30 orders in each period) are left out and counted."""
    metric = args.metric
    _check_known([metric])
    if unavailable := _unavailable(context, [metric]):
        raise ToolError(f"{metric} is unavailable: missing {', '.join(unavailable[metric])}")
    previous = args.previous_start or args.start - (args.end - args.start)
    dimensions = world_dimensions(context.con)
    frames, days, queries = [], [], []
    try:
        # Read by group and day (the earlier period's days widen each group's test), then
        # summed per group.
        key = dimensions.canonical(args.dimension)
        by_day = metric != CX_SCORE and key != "day"
        group_by = [args.dimension, "day"] if by_day else [args.dimension]
        for start, end in ((previous, args.start), (args.start, args.end)):
            sql, parameters = cohort_query(
                [metric], args.filters, start, end, group_by=group_by,
                source=analysis_source(context.con), dimensions=dimensions,
            )  # fmt: skip
            frame = run(context.con, sql, parameters)
            days.append(frame if by_day else None)
            frames.append(_per_group(frame, key, metric) if by_day else frame)
            queries.append(render_sql(sql, parameters))
        ranking = rank_groups_by_change(
            frames[0], frames[1], args.dimension, metric, args.order, args.min_orders, dimensions,
            earlier_days=days[0],
        )  # fmt: skip
    except (ComparisonError, CohortError, MetricError) as error:
        raise ToolError(str(error)) from None
    if not len(frames[1]):
        raise ToolError(f"no orders in {describe_filters(args.filters)} in the period")
    rows = _rows(ranking, args.k)
    listed = ", ".join(f"{r.group} {_show_delta(metric, r.change)}" for r in rows)
    method = (
        "no test for the CX score's change"
        if metric == CX_SCORE
        else "each group's change tested within the group (two-proportion z for rates, Welch "
        "for means), its variance widened for the group's day-to-day variation beyond its "
        "orders' (a heuristic: days as units); BH q-values over the groups compared"
    )
    return RankChangesOutput(
        summary=f"{args.order} {len(rows)} of {len(ranking.groups)} {args.dimension} groups by "
        f"change of {metric} in {describe_filters(args.filters)}, "
        f"{previous:%Y-%m-%d %H:%M} -> {args.start:%Y-%m-%d %H:%M} -> {args.end:%Y-%m-%d %H:%M}: "
        f"{listed or 'none'}; {ranking.excluded_groups} left out",
        dimension=args.dimension,
        metric=metric,
        order=args.order,
        filters=args.filters,
        previous_start=previous,
        window_start=args.start,
        window_end=args.end,
        rows=rows,
        overall_before=ranking.overall_before,
        overall_after=ranking.overall_after,
        groups=len(ranking.groups),
        excluded_groups=ranking.excluded_groups,
        min_orders=ranking.min_orders,
        method=method,
        query="\n\n".join(queries),
    )
