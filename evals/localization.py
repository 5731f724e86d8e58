"""Slice localization scored against the ground truth: Jaccard of a reported slice's orders with
the truly affected orders, within the incident window."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb

from analytics.cohorts import where_clause
from evals.detection import TRUTH_TABLE


@dataclass(frozen=True)
class Overlap:
    """Order counts in the incident window: the truth, a slice set, and both."""

    truth: int
    selected: int
    both: int

    @property
    def jaccard(self) -> float:
        """|slice & truth| / |slice | truth| (0 when both are empty)."""
        union = self.selected + self.truth - self.both
        return self.both / union if union else 0.0


def slice_overlap(
    con: duckdb.DuckDBPyConnection,
    filter_sets: Sequence[Mapping[str, object]],
    window: tuple[dt.datetime, dt.datetime],
) -> Overlap:
    """Orders in `window` matching any of `filter_sets` against the orders in TRUTH_TABLE (which
    the caller registered on `con`)."""
    in_window = "order_time >= ? AND order_time < ?"
    bounds = list(window)
    truth = con.execute(
        f"SELECT count(*) FROM order_facts JOIN {TRUTH_TABLE} USING (order_id) WHERE {in_window}",
        bounds,
    ).fetchone()[0]
    if not filter_sets:
        return Overlap(truth=truth, selected=0, both=0)
    clauses, parameters = [], []
    for filters in filter_sets:
        clause, values = where_clause(filters)  # type: ignore[arg-type]
        clauses.append(f"({clause})")
        parameters += values
    selected, both = con.execute(
        "SELECT count(*), count(t.order_id) FROM order_facts f "
        f"LEFT JOIN {TRUTH_TABLE} t USING (order_id) "
        f"WHERE {in_window} AND ({' OR '.join(clauses)})",
        [*bounds, *parameters],
    ).fetchone()
    return Overlap(truth=truth, selected=selected, both=both)
