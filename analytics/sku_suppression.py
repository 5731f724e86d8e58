"""SKU suppression for the what-if: the scope's ordered lines with the inventory model's in-stock
estimate, and what hiding the SKUs under a threshold removes from each order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import duckdb
import numpy as np
import pandas as pd

from analytics.cohorts import FilterValue, where_clause, world_dimensions
from analytics.sampling import WindowSample, sampled_predicate

REQUIRED_TABLES = ("items", "inventory_events")


class MissingTables(LookupError):
    """The warehouse lacks tables that SKU suppression needs."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"the warehouse has no {' or '.join(missing)} table")
        self.missing = missing


def scope_sku_lines(
    con: duckdb.DuckDBPyConnection,
    filters: Mapping[str, FilterValue],
    baseline: tuple[dt.datetime, dt.datetime],
    incident: tuple[dt.datetime, dt.datetime],
    samples: Sequence[WindowSample] = (),
) -> pd.DataFrame:
    """One row per ordered line of the scope's incident-window orders (of those `samples`
    keep, when the what-if read a sample): order_id, store_id,
    sku_id, line_value (USD, NaN without prices), substituted, missing, refunded, and
    in_stock_estimate: the mean in_stock_prob of that SKU's checks at that store in the incident
    window, else in the baseline window, else NaN (never checked). Raises MissingTables."""
    present = {
        row[0]
        for row in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name IN (?, ?)",
            list(REQUIRED_TABLES),
        ).fetchall()
    }
    if missing := [table for table in REQUIRED_TABLES if table not in present]:
        raise MissingTables(missing)
    condition, parameters = where_clause(filters, world_dimensions(con))
    sampled, sample_parameters = sampled_predicate(samples)
    return con.execute(
        f"""
        WITH scope AS (
            SELECT order_id, store_id FROM order_facts
            WHERE {condition} AND order_time >= ? AND order_time < ? AND {sampled}
        ), lines AS (
            SELECT s.order_id, s.store_id, i.sku_id, i.item_id,
                   i.ordered_qty * i.unit_price AS line_value,
                   coalesce(i.substituted_flag, false) AS substituted,
                   coalesce(i.missing_flag, false) AS missing,
                   coalesce(i.refund_amount, 0) > 0 AS refunded
            FROM items i JOIN scope s ON i.order_id = s.order_id
        ), checks AS (
            SELECT e.store_id, e.sku_id,
                   avg(e.in_stock_prob) FILTER (WHERE e.event_time >= ?) AS recent,
                   avg(e.in_stock_prob) FILTER (WHERE e.event_time < ?) AS usual
            FROM inventory_events e
            SEMI JOIN (SELECT DISTINCT store_id, sku_id FROM lines) ordered
                ON e.store_id = ordered.store_id AND e.sku_id = ordered.sku_id
            WHERE e.event_time >= ? AND e.event_time < ?
            GROUP BY e.store_id, e.sku_id
        )
        SELECT l.order_id, l.store_id, l.sku_id, l.line_value, l.substituted, l.missing,
               l.refunded, coalesce(c.recent, c.usual) AS in_stock_estimate
        FROM lines l LEFT JOIN checks c ON l.store_id = c.store_id AND l.sku_id = c.sku_id
        ORDER BY l.order_id, l.item_id
        """,
        [
            *parameters,
            *incident,
            *sample_parameters,
            incident[0],
            incident[0],
            baseline[0],
            incident[1],
        ],
    ).df()


def hidden_by_order(lines: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per order (index order_id), when SKUs whose in-stock estimate is under `threshold` are
    hidden (lines never checked are kept): lines and value (USD) ordered, unchecked_lines (no
    estimate), and what hiding removes: hidden_lines, hidden_substituted, hidden_missing,
    hidden_value (USD); and refunded_kept, whether a line that stays was refunded."""
    hidden = (lines["in_stock_estimate"] < threshold).to_numpy()  # NaN compares False: kept
    value = lines["line_value"].to_numpy(float)
    per_line = pd.DataFrame(
        {
            "lines": np.ones(len(lines)),
            "unchecked_lines": lines["in_stock_estimate"].isna().to_numpy(),
            "hidden_lines": hidden,
            "hidden_substituted": hidden & lines["substituted"].to_numpy(bool),
            "hidden_missing": hidden & lines["missing"].to_numpy(bool),
            "value": value,
            "hidden_value": np.where(hidden, value, 0.0),
            "refunded_kept": ~hidden & lines["refunded"].to_numpy(bool),
        },
        index=lines["order_id"].to_numpy(),
    )
    per_order = per_line.groupby(level=0).sum()
    per_order["refunded_kept"] = per_order["refunded_kept"] > 0
    return per_order
