"""Readable SQL for a described question ("cancellations by region last week"): one SELECT over
order_facts from the metric registry, with the values written in, for the read-only SQL tool to
check and run and for the user to read and reuse."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Literal

from analytics.cohorts import BUILT_IN, Dimensions, FilterValue, where_clause
from analytics.comparisons import render_sql
from analytics.metrics import CX_COMPONENTS, CX_SCORE, METRICS, cx_score_sql, metric

ORDERS = "orders"
_PERIODS = {"hour": "hour_start", "day": "day", "week": "date_trunc('week', day)"}


def described_query(
    metric_name: str,
    start: dt.datetime,
    end: dt.datetime,
    filters: Mapping[str, FilterValue] | None = None,
    dimension: str | None = None,
    grain: Literal["hour", "day", "week"] | None = None,
    limit: int = 200,
    left_out: Collection[str] = (),
    dimensions: Dimensions = BUILT_IN,
) -> str:
    """One SELECT: the metric (or order counts) per `dimension` group or per `grain` period, in
    [start, end) and the cohort. The CX score is computed from its sub-scores' ratios with the
    registry's weights (renormalized over the available ones), as everywhere else; sub-scores
    in `left_out` (analytics.metrics.degenerate_metrics) are written as NULL; `dimensions` are
    the world's (analytics.cohorts.world_dimensions)."""
    keys: list[tuple[str, str]] = []
    if dimension:
        keys.append((dimensions.column(dimension), dimensions.canonical(dimension)))
    if grain:
        keys.append((_PERIODS[grain], "period"))
    where, parameters = where_clause(filters or {}, dimensions)
    conditions = f"order_time >= ? AND order_time < ? AND {where}"
    selected = [f"{expression} AS {name}" for expression, name in keys]
    group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}" if keys else ""
    order = f" ORDER BY {', '.join(name for _, name in keys)}" if keys else ""
    if metric_name == ORDERS:
        values = ["count(*) AS orders"]
        inner = f"SELECT {', '.join([*selected, *values])} FROM order_facts WHERE {conditions}"
        sql = inner + group + order
    elif metric_name == CX_SCORE:
        rates = [
            f"CAST(NULL AS DOUBLE) AS {n}"
            if n in left_out
            else f"{METRICS[n].numerator} / nullif({METRICS[n].denominator}, 0) AS {n}"
            for n in CX_COMPONENTS
        ]
        inner = (
            f"SELECT {', '.join([*selected, 'count(*) AS orders', *rates])} FROM order_facts "
            f"WHERE {conditions}{group}"
        )
        names = ", ".join(name for _, name in keys)
        outer = f"{names}, " if names else ""
        score = f"round({cx_score_sql()}, 2) AS {CX_SCORE}"
        sql = f"SELECT {outer}orders, {score} FROM ({inner}) AS rates{order}"
    else:
        spec = metric(metric_name)
        value = f"round({spec.numerator} / nullif({spec.denominator}, 0), 4) AS {metric_name}"
        inner = (
            f"SELECT {', '.join([*selected, 'count(*) AS orders', value])} FROM order_facts "
            f"WHERE {conditions}"
        )
        sql = inner + group + order
    return render_sql(sql + f" LIMIT {int(limit)}", [start, end, *parameters])
