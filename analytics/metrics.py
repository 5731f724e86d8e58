"""The metrics registry: every CX sub-metric and the CX score, defined once as SQL over order_facts.

Each metric is a ratio of two sums (numerator / denominator), so it aggregates correctly to any
grain and cohort, and detection can take a rate's variance from its denominator. The SQL is plain
(no UDFs), so porting to another engine is a transpile.

CX score (0-100) = 0.30 on-time + 0.25 item accuracy + 0.15 (1 - cancellation) + 0.15 (1 - refund)
+ 0.10 (1 - support contact) + 0.05 rating, each sub-score on 0-100 (rates as 100 x rate or
100 x (1 - rate), rating as 100 x (stars - 1) / 4). Where a sub-score is unavailable (the data
lacks it, or a bucket has none of its denominator) the weights of the others are renormalized.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import duckdb
import pandas as pd

from analytics.cohorts import FilterValue, canonical_dimension, dimension_column, where_clause

Grain = Literal["hour", "day"]


@dataclass(frozen=True)
class Metric:
    """A ratio metric over order_facts.

    `score` maps the value to its 0-100 CX sub-score (as SQL over the name `value`), or is empty
    when the metric is not part of the CX score. `requires` lists the order_facts columns that
    must hold data for the metric to be available.
    """

    name: str
    label: str
    unit: str
    numerator: str
    denominator: str
    higher_is_better: bool
    requires: tuple[str, ...]
    description: str
    cx_weight: float = 0.0
    score: str = ""


METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric(
            "on_time_rate",
            "On-time rate",
            "share",
            "count(*) FILTER (WHERE on_time)",
            "count(on_time)",
            True,
            ("on_time",),
            "Delivered orders arriving by promised_eta + 5 min / delivered orders.",
            0.30,
            "100 * value",
        ),
        Metric(
            "item_accuracy",
            "Item accuracy",
            "share",
            "sum(item_lines - substituted_lines - missing_lines) FILTER (WHERE delivered)",
            "sum(item_lines) FILTER (WHERE delivered)",
            True,
            ("item_lines", "substituted_lines", "missing_lines"),
            "1 - (substituted + missing lines) / ordered lines, over delivered orders.",
            0.25,
            "100 * value",
        ),
        Metric(
            "cancellation_rate",
            "Cancellation rate",
            "share",
            "count(*) FILTER (WHERE canceled)",
            "count(canceled)",
            False,
            ("canceled",),
            "Canceled orders / orders.",
            0.15,
            "100 * (1 - value)",
        ),
        Metric(
            "refund_rate",
            "Refund rate",
            "share",
            "count(*) FILTER (WHERE refunded)",
            "count(refunded)",
            False,
            ("refunded",),
            "Orders with refund_amount > 0 / orders.",
            0.15,
            "100 * (1 - value)",
        ),
        Metric(
            "support_rate",
            "Support-contact rate",
            "share",
            "count(*) FILTER (WHERE support_contact)",
            "count(support_contact)",
            False,
            ("support_contact",),
            "Orders with at least one support ticket / orders.",
            0.10,
            "100 * (1 - value)",
        ),
        Metric(
            "rating",
            "Mean rating",
            "stars",
            "sum(stars)",
            "count(stars)",
            True,
            ("stars",),
            "Mean stars (1-5) of rated orders.",
            0.05,
            "100 * (value - 1) / 4",
        ),
        Metric(
            "eta_abs_error_min",
            "ETA error (MAE)",
            "minutes",
            "sum(abs(eta_error_min))",
            "count(eta_error_min)",
            False,
            ("eta_error_min",),
            "Mean absolute (actual - promised) minutes over delivered orders.",
        ),
        Metric(
            "eta_bias_min",
            "ETA bias",
            "minutes",
            "sum(eta_error_min)",
            "count(eta_error_min)",
            False,
            ("eta_error_min",),
            "Mean signed (actual - promised) minutes; positive = later than quoted.",
        ),
        Metric(
            "duration_min",
            "Delivery duration",
            "minutes",
            "sum(duration_min)",
            "count(duration_min)",
            False,
            ("duration_min",),
            "Mean minutes from order to arrival over delivered orders.",
        ),
        Metric(
            "batched_rate",
            "Batched share",
            "share",
            "count(*) FILTER (WHERE batched)",
            "count(batched)",
            False,
            ("batched",),
            "Orders carried together with another / orders (a driver, not a CX metric).",
        ),
        Metric(
            "prep_min",
            "Merchant prep time",
            "minutes",
            "sum(prep_min)",
            "count(prep_min)",
            False,
            ("prep_min",),
            "Mean merchant prep minutes (a driver, not a CX metric).",
        ),
        Metric(
            "dasher_wait_min",
            "Dasher wait",
            "minutes",
            "sum(dasher_wait_min)",
            "count(dasher_wait_min)",
            False,
            ("dasher_wait_min",),
            "Mean minutes a ready order waited for its dasher (a driver, not a CX metric).",
        ),
    )
}
CX_COMPONENTS: tuple[str, ...] = tuple(name for name, m in METRICS.items() if m.cx_weight)
CX_METRICS: tuple[str, ...] = (*CX_COMPONENTS, "eta_abs_error_min", "duration_min")
CX_SCORE = "cx_score"


class MetricError(ValueError):
    """An unknown metric or an unusable query."""


def metric(name: str) -> Metric:
    """The registry entry of `name`."""
    if name not in METRICS:
        raise MetricError(f"unknown metric {name!r}; known: {CX_SCORE}, {', '.join(METRICS)}")
    return METRICS[name]


def available_metrics(con: duckdb.DuckDBPyConnection) -> dict[str, bool]:
    """Per metric, whether the warehouse holds data for every column it requires."""
    columns = sorted({column for m in METRICS.values() for column in m.requires})
    counts = con.execute(
        "SELECT "
        + ", ".join(f"count({column}) AS {column}" for column in columns)
        + " FROM order_facts"
    ).fetchone()
    present = {column for column, count in zip(columns, counts, strict=True) if count}
    return {name: all(c in present for c in m.requires) for name, m in METRICS.items()}


def cx_score_sql(prefix: str = "") -> str:
    """SQL for the CX score from the sub-metric value columns, renormalizing over non-null ones."""
    weighted, weights = [], []
    for name in CX_COMPONENTS:
        m = METRICS[name]
        value = f"{prefix}{name}"
        weighted.append(f"coalesce({m.cx_weight} * ({m.score.replace('value', value)}), 0)")
        weights.append(f"CASE WHEN {value} IS NULL THEN 0 ELSE {m.cx_weight} END")
    return f"({' + '.join(weighted)}) / nullif({' + '.join(weights)}, 0)"


def _period_sql(grain: Grain | None) -> str | None:
    if grain is None:
        return None
    if grain == "hour":
        return "hour_start"
    if grain == "day":
        return "CAST(day AS TIMESTAMP)"
    raise MetricError(f"unknown grain {grain!r}; use 'hour' or 'day'")


def metrics_sql(
    metrics: Sequence[str],
    grain: Grain | None,
    group_by: Sequence[str],
    where: str,
) -> str:
    """The query behind `metric_frame` (parameters: cohort filter values, then the time window)."""
    period = _period_sql(grain)
    keys = ([f"{period} AS period"] if period else []) + [
        f"{dimension_column(d)} AS {canonical_dimension(d)}" for d in group_by
    ]
    key_names = (["period"] if period else []) + [canonical_dimension(d) for d in group_by]
    needed = list(dict.fromkeys([*metrics, *(CX_COMPONENTS if CX_SCORE in metrics else ())]))
    needed = [name for name in needed if name != CX_SCORE]
    sums = [
        f"{METRICS[n].numerator} AS {n}_num, {METRICS[n].denominator} AS {n}_den" for n in needed
    ]
    values = [f"{n}_num / nullif({n}_den, 0) AS {n}" for n in needed]
    inner = (
        f"SELECT {', '.join([*keys, 'count(*) AS orders', *sums])} FROM order_facts "
        f"WHERE {where} AND order_time >= ? AND order_time < ?"
        + (f" GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}" if keys else "")
    )
    middle = f"SELECT *, {', '.join(values)} FROM ({inner}) AS sums"
    score = f", {cx_score_sql()} AS {CX_SCORE}" if CX_SCORE in metrics else ""
    order = f" ORDER BY {', '.join(key_names)}" if key_names else ""
    return f"SELECT *{score} FROM ({middle}) AS rates{order}"


def metric_frame(
    con: duckdb.DuckDBPyConnection,
    metrics: Sequence[str] = (CX_SCORE, *CX_METRICS),
    grain: Grain | None = "day",
    filters: Mapping[str, FilterValue] | None = None,
    group_by: Sequence[str] = (),
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> pd.DataFrame:
    """Metrics per period (hour or day; None = the whole window) and per cohort group.

    Columns: `period` (when a grain is given), one column per group-by dimension, `orders`, and
    for each metric `<name>_num`, `<name>_den` and `<name>` (the ratio); `cx_score` when asked.
    The window is [start, end) on order_time; cohort filters are {dimension: value or values}.
    """
    for name in metrics:
        if name != CX_SCORE:
            metric(name)
    where, parameters = where_clause(filters or {})
    lower = start or dt.datetime(1900, 1, 1)
    upper = end or dt.datetime(9999, 1, 1)
    sql = metrics_sql(metrics, grain, group_by, where)
    return con.execute(sql, [*parameters, lower, upper]).df()
