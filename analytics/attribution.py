"""Driver attribution for an incident slice: order-level features, an outcome model, SHAP shift.

The outcome follows the incident's share metric (late orders for on-time rate, canceled orders
for cancellations, orders with a substituted or missing line for item accuracy, ...). The
decomposition into feature contributions plus a residual adds up to the observed change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import duckdb
import pandas as pd

from analytics.cohorts import FilterValue, where_clause, world_dimensions
from analytics.metrics import METRICS, Outcome
from analytics.rows import one_row
from analytics.sampling import WindowSample, describe, sampled_predicate, window_samples
from analytics.shap_attribution import ShapShift, shap_shift

# The rates with an outcome per order (1 = bad) and the rows it is defined on (the registry's).
OUTCOMES: dict[str, Outcome] = {
    name: m.outcome for name, m in METRICS.items() if m.outcome is not None
}
# Order features: SQL over order_facts (f) and the store-day in-stock estimate (s).
FEATURES: dict[str, str] = {
    "batched": "CAST(f.batched AS INTEGER)",
    "prep_min": "f.prep_min",
    "dasher_wait_min": "f.dasher_wait_min",
    "distance_miles": "f.distance_miles",
    "quoted_min": "f.quoted_min",
    "busy_share": "f.busy_dashers / nullif(f.onshift_dashers, 0)",
    "orders_per_dasher": "f.outstanding_orders / nullif(f.onshift_dashers, 0)",
    "new_eta_model": "CAST(f.eta_model_version IS DISTINCT FROM v.usual AS INTEGER)",
    "in_stock_prob": "s.in_stock_prob",
    "item_lines": "f.item_lines",
    "basket_value": "f.basket_value",
    "hour": "f.hour",
}
MAX_NULL_SHARE = 0.2
# Orders per window read out of the engine (a sample beyond; the fit itself samples at most
# shap_shift's max_rows_per_window of them).
MAX_ROWS_PER_WINDOW = 20_000


class AttributionError(ValueError):
    """Attribution that cannot run: unknown outcome, too little data, no usable feature."""


@dataclass(frozen=True)
class Attribution:
    """SHAP shift of an outcome in a slice, and the features that were usable."""

    metric: str
    shift: ShapShift
    dropped_features: tuple[str, ...]
    rows: int  # orders the fit read (complete rows of the sample)
    samples: tuple[WindowSample, WindowSample]  # the baseline's and the incident's

    @property
    def sample_note(self) -> str | None:
        """How many of the windows' orders the fit read, when they were sampled."""
        return describe(self.samples, ("baseline", "incident"))

    def contributions(self) -> dict[str, float]:
        """Probability-scale contribution per feature (they add up with the residual)."""
        return {f.feature: f.probability_contribution for f in self.shift.features}


def _has_columns(con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...]) -> bool:
    """Whether `table` exists with every one of `columns` (an optional table may lack some)."""
    query = (
        "SELECT count(DISTINCT column_name) FROM information_schema.columns "
        "WHERE table_name = ? AND list_contains(?, column_name)"
    )
    return one_row(con.execute(query, [table, list(columns)]))[0] == len(columns)


def order_features(
    con: duckdb.DuckDBPyConnection,
    metric: str,
    filters: Mapping[str, FilterValue],
    baseline: tuple[dt.datetime, dt.datetime],
    incident: tuple[dt.datetime, dt.datetime],
    cap: int | None = None,
) -> tuple[pd.DataFrame, tuple[WindowSample, WindowSample]]:
    """One row per order of the slice in either window (window label, outcome, features), of
    a sample drawn in the engine of at most about `cap` orders per window; and the samples."""
    if metric not in OUTCOMES:
        raise AttributionError(f"no order-level outcome for {metric}; use one of {list(OUTCOMES)}")
    outcome, defined = OUTCOMES[metric].sql, OUTCOMES[metric].rows
    condition, parameters = where_clause(filters, world_dimensions(con))
    baseline_sample, incident_sample = window_samples(
        con,
        f"{condition} AND {defined}",
        parameters,
        (baseline, incident),
        cap or MAX_ROWS_PER_WINDOW,
    )
    sampled, sample_parameters = sampled_predicate((baseline_sample, incident_sample))
    stock_join, stock_feature = "", FEATURES["in_stock_prob"]
    if _has_columns(con, "inventory_events", ("store_id", "event_time", "in_stock_prob")):
        stock_join = (
            "LEFT JOIN (SELECT store_id, CAST(event_time AS DATE) AS day, "
            "avg(CAST(in_stock_prob AS DECIMAL(18, 12))) AS in_stock_prob "
            "FROM inventory_events GROUP BY 1, 2) s "
            "ON s.store_id = f.store_id AND s.day = f.day"
        )
    else:
        stock_feature = "CAST(NULL AS DOUBLE)"
    columns = [
        f"{stock_feature if name == 'in_stock_prob' else sql} AS {name}"
        for name, sql in FEATURES.items()
    ]
    sql = (
        "WITH usual AS (SELECT mode(eta_model_version) AS usual FROM order_facts "
        "WHERE order_time >= ? AND order_time < ?), f AS (SELECT * FROM order_facts "
        f"WHERE {condition} AND {defined} AND ((order_time >= ? AND order_time < ?) "
        f"OR (order_time >= ? AND order_time < ?)) AND {sampled}) "
        "SELECT CASE WHEN f.order_time >= ? THEN 'incident' ELSE 'baseline' END AS window, "
        f"{outcome} AS outcome, {', '.join(columns)} "
        f"FROM f CROSS JOIN usual v {stock_join} "
        # A fixed row order: the seeded sample draws rows by position.
        "ORDER BY f.order_id"
    )
    frame = con.execute(
        sql, [*baseline, *parameters, *baseline, *incident, *sample_parameters, incident[0]]
    ).df()
    return frame, (baseline_sample, incident_sample)


def attribute(
    con: duckdb.DuckDBPyConnection,
    metric: str,
    filters: Mapping[str, FilterValue],
    baseline: tuple[dt.datetime, dt.datetime],
    incident: tuple[dt.datetime, dt.datetime],
    model: Literal["gbm", "logistic"] = "gbm",
    seed: int = 0,
) -> Attribution:
    """SHAP shift of the slice's bad-outcome rate from baseline to incident."""
    frame, samples = order_features(con, metric, filters, baseline, incident)
    if frame.empty or frame["window"].nunique() < 2:
        raise AttributionError("the slice has no orders in one of the two windows")
    null_share = frame[list(FEATURES)].isna().mean()
    usable = [name for name in FEATURES if null_share[name] <= MAX_NULL_SHARE]
    usable = [name for name in usable if frame[name].nunique(dropna=True) > 1]
    if not usable:
        raise AttributionError("no feature has enough data")
    clean = frame.dropna(subset=[*usable, "outcome"])
    # The outcome column is named by its phrase ("late rate"): a refusal names what it read.
    phrase = OUTCOMES[metric].phrase
    clean = clean.rename(columns={"outcome": phrase})
    shift = shap_shift(clean, usable, phrase, "window", model=model, seed=seed)
    return Attribution(
        metric=metric,
        shift=shift,
        dropped_features=tuple(name for name in FEATURES if name not in usable),
        rows=len(clean),
        samples=samples,
    )
