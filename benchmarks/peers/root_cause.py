"""Root-cause peers on per-order features: DoWhy's gcm attribution of the change in mean
per-order CX score between a baseline and an incident window (Budhathoki et al. 2021, "Why did
the distribution change?"), over a causal graph of the generator's mechanics (data/mechanics.py
and data/interventions/kinds/) written down once, and a plain largest-driver-shift baseline.

Both are given the truth's window and scope (the intervention's first affected hour to at most
two days later, against the same scope in the 7 days before): an oracle detection and
localization, so they are judged on naming the cause alone. A driver node stands for a cause
kind (DRIVER_KINDS); a peer's ranking is its driver nodes' kinds in rank order.
"""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from analytics.metrics import CX_COMPONENTS, METRICS, cx_score_sql

INCIDENT_DAYS = 2
BASELINE_DAYS = 7
MAX_ROWS = 3000  # orders sampled per window (fixed seed)
GCM_SEED = 0
TARGET = "cx"  # the per-order CX score (the metrics registry's weights over one order's values)
# The generator's mechanics as a DAG over per-order features (data/mechanics.py): a storm slows
# drives and adds orders; orders and dashers on shift set the load; load drives the wait for a
# dasher and the chance of a batch partner; the ride from pickup to arrival (drive_min) holds
# the batch detour; prep, wait, batching, ride and the ETA quote set the lateness; lateness and
# out-of-stock lines set the CX score.
EDGES: tuple[tuple[str, str], ...] = (
    ("storm", "drive_min"),
    ("batched", "drive_min"),
    ("storm", "orders_in_hour"),
    ("orders_in_hour", "load"),
    ("onshift_dashers", "load"),
    ("load", "dasher_wait_min"),
    ("prep_min", "dasher_wait_min"),
    ("load", "batched"),
    ("prep_min", "lateness_min"),
    ("dasher_wait_min", "lateness_min"),
    ("batched", "lateness_min"),
    ("drive_min", "lateness_min"),
    ("quoted_min", "lateness_min"),
    ("lateness_min", TARGET),
    ("stockout_share", TARGET),
)
# Which cause kind moves each driver node (the others are mediators).
DRIVER_KINDS: dict[str, str] = {
    "prep_min": "prep_time_drift",
    "batched": "batching_threshold",
    "onshift_dashers": "dasher_shortage",
    "orders_in_hour": "demand_surge",
    "storm": "weather_disruption",
    "drive_min": "weather_disruption",
    "quoted_min": "eta_model_bias",
    "stockout_share": "inventory_drop",
}
COLUMNS = tuple(dict.fromkeys(node for edge in EDGES for node in edge))
SCOPE_COLUMNS = {
    "region": "region",
    "category": "category",
    "hours": "hour",
    "store_ids": "store_id",
}


def _scope_sql(scope: dict[str, list]) -> tuple[str, list[Any]]:
    clauses, parameters = [], []
    for key, values in scope.items():
        if values and key in SCOPE_COLUMNS:
            clauses.append(f"f.{SCOPE_COLUMNS[key]} IN ({', '.join('?' for _ in values)})")
            parameters += list(values)
    return " AND ".join(clauses) or "true", parameters


def order_features(
    con: duckdb.DuckDBPyConnection,
    scope: dict[str, list],
    window: tuple[dt.datetime, dt.datetime],
) -> pd.DataFrame:
    """One row per delivered order in the scope and window [start, end): every graph node
    (minutes, counts, shares; storm 1/0) and the per-order CX score (0-100)."""
    tables = {
        row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    storm = (
        "SELECT region, hour_start, 1.0 AS storm FROM weather WHERE condition = 'storm'"
        if "weather" in tables
        else "SELECT NULL::VARCHAR AS region, NULL::TIMESTAMP AS hour_start, 1.0 AS storm LIMIT 0"
    )
    components = ", ".join(f"{METRICS[name].per_order} AS {name}" for name in CX_COMPONENTS)
    where, parameters = _scope_sql(scope)
    sql = f"""
        WITH hourly AS (SELECT region, hour_start, count(*) AS orders_in_hour
                        FROM order_facts GROUP BY region, hour_start),
             storms AS ({storm}),
             facts AS (SELECT f.*, {components} FROM order_facts f
                       WHERE f.delivered AND {where} AND f.order_time >= ? AND f.order_time < ?)
        SELECT f.prep_min, CAST(f.batched AS DOUBLE) AS batched,
               CAST(f.onshift_dashers AS DOUBLE) AS onshift_dashers,
               f.outstanding_orders / greatest(f.onshift_dashers, 1) AS load,
               CAST(h.orders_in_hour AS DOUBLE) AS orders_in_hour,
               coalesce(s.storm, 0.0) AS storm,
               (epoch_us(d.actual_eta) - epoch_us(d.pickup_time)) / 60e6 AS drive_min,
               f.dasher_wait_min, f.quoted_min, f.eta_error_min AS lateness_min,
               (f.substituted_lines + f.missing_lines) / greatest(f.item_lines, 1)
                   AS stockout_share,
               {cx_score_sql("f.")} AS {TARGET}
        FROM facts f JOIN hourly h USING (region, hour_start)
        LEFT JOIN storms s USING (region, hour_start)
        JOIN deliveries d USING (order_id)
    """
    frame = con.execute(sql, [*parameters, *window]).df()
    return frame[list(COLUMNS)].astype(float).dropna()


def sampled(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """At most MAX_ROWS rows (fixed seed)."""
    return frame.sample(MAX_ROWS, random_state=seed) if len(frame) > MAX_ROWS else frame


def windows(
    first_hour: dt.datetime, end: dt.datetime
) -> tuple[tuple[dt.datetime, dt.datetime], tuple[dt.datetime, dt.datetime]]:
    """(baseline, incident) windows around an intervention's first affected hour."""
    incident = (first_hour, min(end, first_hour + dt.timedelta(days=INCIDENT_DAYS)))
    return (first_hour - dt.timedelta(days=BASELINE_DAYS), first_hour), incident


def kinds_in_order(nodes: list[str]) -> list[str]:
    """The cause kinds of ranked nodes, first mention first (mediators skipped)."""
    return list(dict.fromkeys(DRIVER_KINDS[node] for node in nodes if node in DRIVER_KINDS))


def largest_shift(baseline: pd.DataFrame, incident: pd.DataFrame) -> list[str]:
    """Cause kinds ranked by their driver's standardized shift |mean change| / pooled sd."""
    shifts = {}
    for node in DRIVER_KINDS:
        pooled = np.sqrt((baseline[node].var() + incident[node].var()) / 2)
        change = abs(incident[node].mean() - baseline[node].mean())
        shifts[node] = change / pooled if pooled > 0 else 0.0
    return kinds_in_order(sorted(shifts, key=lambda node: -shifts[node]))


def _always_changed(*_: np.ndarray) -> float:
    """A mechanism-change test's p-value that lets every mechanism change (see gcm_ranking)."""
    return 0.0


def gcm_attributions(baseline: pd.DataFrame, incident: pd.DataFrame) -> dict[str, float]:
    """DoWhy gcm.distribution_change of the mean CX score: each node's Shapley contribution
    (CX points; negative: it lowered the CX score). Root nodes are empirical distributions, the
    others additive-noise models with linear regressors; every mechanism is refit on the
    incident window (the default kernel tests for which mechanisms changed cost 30+ s a case).
    """
    import networkx as nx
    from dowhy import gcm

    graph = nx.DiGraph(list(EDGES))
    model = gcm.StructuralCausalModel(graph)
    for node in graph.nodes:
        if graph.in_degree(node) == 0:
            model.set_causal_mechanism(node, gcm.EmpiricalDistribution())
        else:
            model.set_causal_mechanism(
                node, gcm.AdditiveNoiseModel(gcm.ml.create_linear_regressor())
            )
    gcm.config.disable_progress_bars()
    gcm.util.general.set_random_seed(GCM_SEED)  # its samples and permutations: one answer per run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gcm.distribution_change(
            model,
            baseline,
            incident,
            TARGET,
            num_samples=1000,
            difference_estimation_func=lambda old, new: float(np.mean(new) - np.mean(old)),
            independence_test=_always_changed,
            conditional_independence_test=_always_changed,
        )


def gcm_ranking(baseline: pd.DataFrame, incident: pd.DataFrame) -> list[str]:
    """Cause kinds ranked by how much their driver node lowered the mean CX score (gcm)."""
    contributions = gcm_attributions(baseline, incident)
    return kinds_in_order(sorted(contributions, key=lambda node: contributions[node]))
