"""Difference-in-differences around a logged change, on the warehouse.

Treated = orders inside the change's scope. Control = comparable orders outside it: when the
scope names hours and something else (e.g. grocery at 18-20), the control is the same hours
outside the other filters (other categories at 18-20); otherwise it is every order outside the
scope. Clusters are day x region; the event study counts days from the first post-change order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import duckdb
import pandas as pd

from analytics.attribution import OUTCOMES
from analytics.cohorts import where_clause
from analytics.did import DidError, DidResult, diff_in_diff


class ChangeEffectError(ValueError):
    """A diff-in-diff that cannot be run on this change (no control group, unknown outcome)."""


def did_cells(
    con: duckdb.DuckDBPyConnection,
    metric: str,
    scope: Mapping[str, list],
    change_time: dt.datetime,
    days: int = 7,
) -> pd.DataFrame:
    """Cells of treated x post x region x hour with the outcome mean and order count."""
    if metric not in OUTCOMES:
        raise ChangeEffectError(f"no order-level outcome for {metric}")
    if not scope:
        raise ChangeEffectError("the change applies to the whole marketplace: no control group")
    outcome, defined = OUTCOMES[metric].sql, OUTCOMES[metric].rows
    treated_sql, treated_parameters = where_clause(scope)
    comparable_sql = "TRUE"
    comparable_parameters: list[object] = []
    others = {key: values for key, values in scope.items() if key != "hour"}
    if "hour" in scope and others:
        comparable_sql, comparable_parameters = where_clause({"hour": scope["hour"]})
    sql = (
        f"SELECT ({treated_sql}) AS treated, order_time >= ? AS post, region, hour_start, "
        f"CAST(day AS VARCHAR) || '/' || region AS cluster, avg({outcome}) AS outcome, "
        f"count(*) AS orders FROM order_facts WHERE {defined} AND ({comparable_sql}) "
        "AND order_time >= ? AND order_time < ? GROUP BY ALL"
    )
    return con.execute(
        sql,
        [
            *treated_parameters,
            change_time,
            *comparable_parameters,
            change_time - dt.timedelta(days=days),
            change_time + dt.timedelta(days=days),
        ],
    ).df()


def change_did(
    con: duckdb.DuckDBPyConnection,
    metric: str,
    scope: Mapping[str, list],
    change_time: dt.datetime,
    days: int = 7,
) -> DidResult:
    """DiD of the metric's bad outcome (late, canceled, ...) around a change, with event study."""
    cells = did_cells(con, metric, scope, change_time, days)
    try:
        return diff_in_diff(
            cells,
            "outcome",
            "treated",
            "post",
            "cluster",
            time="hour_start",
            weights="orders",
            period_length=dt.timedelta(days=1),
        )
    except DidError as error:
        raise ChangeEffectError(str(error)) from None
