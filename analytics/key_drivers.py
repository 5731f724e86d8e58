"""Key drivers of a metric across orders: which dimensions (built-in and custom) and which of
their groups go with a better or worse metric, and which still matter once the others are held
fixed (a Sisu-style key-driver analysis; analytics/drivers.py is about something else: how an
incident's mechanisms shifted).

Both readings use each order's value of the metric (`Metric.per_order`: 1/0 for a rate of
orders, the value for a mean) over the orders of a cohort and window that have one:
- per group: each group of each dimension against the rest of the cohort (Welch's t-test for
  means, the two-proportion z-test for rates; analytics/comparisons.py), with Benjamini-Hochberg
  q-values over every test made, all dimensions together (Benjamini & Hochberg 1995). A group is
  tested when it and the rest each hold at least `min_support` orders. A dimension's marginal
  spread is the order-weighted mean |group value - overall value| over its tested groups. The
  tests need only each group's count, sum and sum of squares: aggregated in the engine.
- model: one least-squares regression of the order's value on every dimension at once (one-hot;
  groups under `min_support` orders, beyond the MAX_MODEL_LEVELS largest, or missing are pooled
  as one 'other' level). A dimension's attribution is the mean |contribution| of its terms to an
  order's prediction: interventional linear SHAP (Lundberg & Lee 2017), whose contributions add
  up to the prediction minus the mean prediction; in the metric's unit, on the same scale as the
  marginal spread (with one dimension the two are equal). Holding the other dimensions fixed
  separates a driver from a bystander correlated with it; interactions are not modelled. The
  model reads order rows: every order up to MAX_MODEL_ROWS, a sample of about that many drawn in
  the engine by order id beyond (analytics/sampling.py), so only a bounded number of rows leaves
  the engine.
Where the readings disagree (attribution under half the marginal spread: `confounded`, its raw
differences are mostly another dimension's; over twice: `masked`), the driver says so and names
the dimension most associated with it (Cramér's V).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import duckdb
import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from analytics.cohorts import Dimensions, FilterValue, where_clause, world_dimensions
from analytics.comparisons import (
    TWO_PROPORTION,
    WELCH_SUMS,
    Difference,
    is_mean,
    mean_and_variance,
    render_sql,
    two_proportion_tests,
    welch_tests,
)
from analytics.localization import dimensions_with_data
from analytics.metrics import CX_SCORE, analysis_source, metric
from analytics.sampling import WindowSample, describe, sampled_predicate

MIN_SUPPORT = 50  # orders in a group (and in the rest of the cohort) for it to be tested
MAX_MODEL_LEVELS = 30  # per dimension in the model; smaller groups are pooled as 'other'
# Collinear dimensions (a store fixes its region and category) leave singular values at rounding
# level, which numpy's default cutoff (1e-15) kept or dropped by the last bits of the sums: two
# engines' equal data split an attribution between store and category 3.84 / 3.87. Cut
# relative to the largest singular value, they are dropped alike on every engine and run.
SINGULAR_CUTOFF = 1e-9
MAX_MODEL_ROWS = 200_000  # orders the model fits (about; a sample drawn in the engine beyond)
SIGNIFICANT_Q = 0.05
DISAGREEMENT_RATIO = 2.0  # attribution vs marginal spread beyond which the readings disagree
MATERIAL_SHARE = 0.1  # of the top attribution: smaller drivers are not called disagreeing
# Built-in dimensions a driver analysis considers (hour is in daypart, day is time itself).
BUILT_IN_DRIVERS: tuple[str, ...] = (
    "region",
    "category",
    "daypart",
    "weekday",
    "basket_size",
    "store",
)
OTHER = "(other)"

Agreement = Literal["agree", "confounded", "masked"]


class KeyDriverError(ValueError):
    """A key-driver analysis that cannot run: a metric not per order, too few orders."""


@dataclass(frozen=True)
class GroupEffect:
    """One group of a dimension against the rest of the cohort, and its adjusted effect (the
    mean model contribution of its dimension among its orders)."""

    dimension: str
    group: str
    orders: int
    value: float
    rest: float
    difference: Difference  # group - rest
    q_value: float | None
    adjusted: float | None  # metric unit, vs the average order


@dataclass(frozen=True)
class DimensionDriver:
    """One dimension: both readings and whether they agree."""

    dimension: str
    custom: bool
    groups: int  # groups tested
    significant_groups: int  # with q < SIGNIFICANT_Q
    marginal_spread: float  # metric unit
    attribution: float  # mean |linear SHAP| in the metric unit
    agreement: Agreement
    associated: str | None = None  # the dimension most associated with it (Cramér's V)
    association: float | None = None


@dataclass(frozen=True)
class KeyDrivers:
    """The analysis: drivers ranked by attribution (model), the same by marginal spread, and
    every group tested (by q-value, then by |difference|)."""

    metric: str
    filters: dict[str, list[str | int]]
    start: dt.datetime
    end: dt.datetime
    orders: int  # orders with a value of the metric
    overall: float
    min_support: int
    model_orders: int  # orders the model fitted
    sample_note: str | None  # how they were sampled, None when every order was fitted
    r_squared: float
    drivers: tuple[DimensionDriver, ...]
    marginal_order: tuple[str, ...]
    effects: tuple[GroupEffect, ...]
    tests: int
    left_out: dict[str, str]  # dimension -> why it was not analysed
    sql: str


def driver_dimensions(
    con: duckdb.DuckDBPyConnection,
    filters: Mapping[str, FilterValue] | None = None,
    world: Dimensions | None = None,
) -> tuple[str, ...]:
    """The built-in driver dimensions the data holds and every custom dimension (of `world`,
    default: read from `con`), without those a filter fixes to one value."""
    fixed = {
        name
        for name, value in (filters or {}).items()
        if isinstance(value, str | int) or len(value) == 1
    }
    world = world or world_dimensions(con)
    built_in = dimensions_with_data(con, BUILT_IN_DRIVERS)
    return tuple(d for d in (*built_in, *world.custom_names) if d not in fixed)


def _cohort(
    con: duckdb.DuckDBPyConnection,
    world: Dimensions,
    metric_name: str,
    filters: Mapping[str, FilterValue],
    window: tuple[dt.datetime, dt.datetime],
    dimensions: Sequence[str],
) -> tuple[str, list[object]]:
    """SQL of the orders of the cohort and window with a value of the metric (order_id,
    order_time, the value `y` and each dimension's group as text, `d0`, `d1`, ... in the order
    of `dimensions`), and its parameters."""
    value = metric(metric_name).per_order
    where, parameters = where_clause(filters, world)
    columns = "".join(
        f", CAST({world.column(d)} AS VARCHAR) AS d{i}" for i, d in enumerate(dimensions)
    )
    sql = (
        f"SELECT order_id, order_time, {value} AS y{columns} FROM {analysis_source(con)} "
        f"WHERE {where} AND order_time >= ? AND order_time < ? AND ({value}) IS NOT NULL"
    )
    return sql, [*parameters, *window]


@dataclass(frozen=True)
class _Groups:
    """Per dimension its groups (most orders first) and per group the orders, sum and sum of
    squares of y (missing groups left out); the same over every order (`totals`)."""

    groups: dict[str, list[str]]
    sums: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    totals: tuple[int, float, float]
    sql: str


def _group_sums(
    con: duckdb.DuckDBPyConnection,
    cohort: tuple[str, list[object]],
    dimensions: Sequence[str],
) -> _Groups:
    """Every dimension's group sums and the totals, aggregated in the engine (one query, one
    grouping set per dimension and the empty set for the totals)."""
    rolled_up = "".join(f"GROUPING(d{i}) AS rolled_up{i}, " for i in range(len(dimensions)))
    keys = "".join(f"d{i}, " for i in range(len(dimensions)))
    sets = ", ".join(["()", *(f"(d{i})" for i in range(len(dimensions)))])
    sql = (
        f"SELECT {rolled_up}{keys}count(*) AS orders, sum(y) AS total, sum(y * y) AS square "
        f"FROM ({cohort[0]}) AS cohort GROUP BY GROUPING SETS ({sets})"
    )
    width = len(dimensions)
    totals: tuple[int, float, float] = (0, 0.0, 0.0)
    found: dict[str, list[tuple[str, int, float, float]]] = {d: [] for d in dimensions}
    for row in con.execute(sql, cohort[1]).fetchall():
        rolled, key, (n, total, square) = row[:width], row[width : 2 * width], row[2 * width :]
        sums = (int(n), float(total or 0.0), float(square or 0.0))
        grouped = [i for i, flag in enumerate(rolled) if not flag]
        if not grouped:
            totals = sums
        elif key[grouped[0]] is not None:  # a dimension's missing group is no group
            found[dimensions[grouped[0]]].append((str(key[grouped[0]]), *sums))
    groups, arrays = {}, {}
    for dimension, rows in found.items():
        rows.sort(key=lambda r: (-r[1], r[0]))
        groups[dimension] = [r[0] for r in rows]
        n, total, square = (np.array([r[i] for r in rows], dtype=float) for i in (1, 2, 3))
        arrays[dimension] = (n, total, square)
    return _Groups(groups, arrays, totals, render_sql(sql, cohort[1]))


def _group_tests(
    found: _Groups, dimension: str, mean: bool, min_support: int
) -> tuple[list[int], pd.DataFrame, list[Difference]]:
    """Per tested group (codes, in group order): orders, value, rest value, and its test."""
    groups = found.groups[dimension]
    n_all, sum_all, square_all = found.sums[dimension]
    total_n, total_sum, total_square = found.totals
    tested = np.flatnonzero((n_all >= min_support) & (total_n - n_all >= min_support))
    n, total, square = n_all[tested], sum_all[tested], square_all[tested]
    rest_n, rest_sum = total_n - n, total_sum - total
    if mean:
        own_mean, own_var = mean_and_variance(total, n, square)
        rest_mean, rest_var = mean_and_variance(rest_sum, rest_n, total_square - square)
        tests, method = welch_tests(own_mean - rest_mean, rest_var, rest_n, own_var, n), WELCH_SUMS
    else:
        tests, method = two_proportion_tests(rest_sum, rest_n, total, n), TWO_PROPORTION
    table = pd.DataFrame(
        {
            "group": [groups[i] for i in tested],
            "orders": n.astype(int),
            "value": total / n if len(n) else [],
            "rest": rest_sum / rest_n if len(n) else [],
        }
    )
    return list(tested), table, [tests.difference(i, method) for i in range(len(table))]


@dataclass(frozen=True)
class _Sample:
    """The orders the model fits: each one's value `y` and, per dimension, its group as a code
    into the group table (-1 where missing or not in it); `drawn`: the engine's sample."""

    y: np.ndarray
    codes: dict[str, np.ndarray]
    drawn: WindowSample
    sql: str


def _sample(
    con: duckdb.DuckDBPyConnection,
    cohort: tuple[str, list[object]],
    window: tuple[dt.datetime, dt.datetime],
    found: _Groups,
    dimensions: Sequence[str],
    cap: int,
) -> _Sample:
    """The cohort's orders with their groups of `dimensions`, or a sample of about `cap` of
    them drawn in the engine by order id (analytics/sampling.py) when it holds more (one
    query)."""
    drawn = WindowSample(window[0], window[1], found.totals[0], cap)
    kept, kept_parameters = sampled_predicate([drawn])
    column = {d: f"d{i}" for i, d in enumerate(found.groups)}  # as _cohort names them
    keys = "".join(f", {column[d]}" for d in dimensions)
    # A fixed row order: the same sums, to the last bit, on every engine and run.
    sql = f"SELECT y{keys} FROM ({cohort[0]}) AS cohort WHERE {kept} ORDER BY order_id"
    parameters = [*cohort[1], *kept_parameters]
    frame = con.execute(sql, parameters).df()
    codes = {
        d: pd.Categorical(frame[column[d]], categories=found.groups[d]).codes.astype(np.int64)
        for d in dimensions
    }
    y = frame["y"].to_numpy(dtype=float)
    return _Sample(y, codes, drawn, render_sql(sql, parameters))


def _sums(codes: np.ndarray, y: np.ndarray, size: int) -> tuple[np.ndarray, ...]:
    """Per group code: count, sum and sum of squares of y (missing codes left out)."""
    present = codes >= 0
    kept, values = codes[present], y[present]
    return (
        np.bincount(kept, minlength=size).astype(float),
        np.bincount(kept, weights=values, minlength=size),
        np.bincount(kept, weights=values * values, minlength=size),
    )


@dataclass(frozen=True)
class _Model:
    attribution: dict[str, float]
    adjusted: dict[tuple[str, int], float]  # (dimension, group code) -> mean contribution
    r_squared: float
    rows: int


def _levels(codes: np.ndarray, size: int, min_support: int) -> np.ndarray:
    """The model level of each order: its group when it has `min_support` orders among those
    fitted and is among the MAX_MODEL_LEVELS largest, else the pooled 'other' level (`size`)."""
    counts = np.bincount(codes[codes >= 0], minlength=size)
    order = np.argsort(-counts, kind="stable")
    kept = order[counts[order] >= min_support][:MAX_MODEL_LEVELS]
    level = np.full(size + 1, size)
    level[kept] = kept
    return level[np.where(codes >= 0, codes, size)]


def _fit(sample: _Sample, found: _Groups, dimensions: Sequence[str], min_support: int) -> _Model:
    """The all-dimension regression over the sample and each dimension's linear SHAP
    attribution (groups with few orders in the sample pooled: their terms would fit noise)."""
    y = sample.y
    blocks, owners = [], []
    for dimension in dimensions:
        level = _levels(sample.codes[dimension], len(found.groups[dimension]), min_support)
        present = np.unique(level)
        reference = present[np.argmax([np.sum(level == v) for v in present])]
        for value in present[present != reference]:
            blocks.append((level == value).astype(float))
            owners.append(dimension)
    x = np.column_stack(blocks) if blocks else np.zeros((len(y), 0))
    centered = x - x.mean(axis=0)
    target = y - y.mean()
    beta = np.linalg.pinv(centered.T @ centered, rtol=SINGULAR_CUTOFF) @ (centered.T @ target)
    owner = np.array(owners)
    contributions = {d: centered[:, owner == d] @ beta[owner == d] for d in dimensions}
    fitted = sum(contributions.values(), np.zeros(len(y)))
    variance = float((target**2).sum())
    adjusted: dict[tuple[str, int], float] = {}
    for dimension in dimensions:
        size = len(found.groups[dimension])
        n, total, _ = _sums(sample.codes[dimension], contributions[dimension], size)
        adjusted |= {(dimension, int(g)): float(total[g] / n[g]) for g in np.flatnonzero(n)}
    return _Model(
        attribution={d: float(np.abs(contributions[d]).mean()) for d in dimensions},
        adjusted=adjusted,
        r_squared=1 - float(((target - fitted) ** 2).sum()) / variance if variance else 0.0,
        rows=len(y),
    )


def cramers_v(first: np.ndarray, second: np.ndarray) -> float:
    """Cramér's V of two group codings (-1 missing; 0: independent, 1: one determines the
    other), from their contingency table (Cramér 1946)."""
    both = (first >= 0) & (second >= 0)
    a, b = (
        np.unique(first[both], return_inverse=True)[1],
        np.unique(second[both], return_inverse=True)[1],
    )
    rows, columns = a.max(initial=-1) + 1, b.max(initial=-1) + 1
    if min(rows, columns) < 2:
        return 0.0
    observed = np.bincount(a * columns + b, minlength=rows * columns).reshape(rows, columns)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    return float(np.sqrt(chi2 / (observed.sum() * (min(rows, columns) - 1))))


def _agreement(marginal: float, attribution: float, top: float) -> Agreement:
    if max(marginal, attribution) < MATERIAL_SHARE * top:
        return "agree"
    if attribution * DISAGREEMENT_RATIO < marginal:
        return "confounded"
    if marginal * DISAGREEMENT_RATIO < attribution:
        return "masked"
    return "agree"


def _tie(value: float) -> float:
    """`value` to 9 significant digits, so that figures equal but for the engine's summation
    order (a two-group dimension's two mirrored tests) tie, and their names decide the order."""
    return float(f"{value:.9g}")


def key_drivers(
    con: duckdb.DuckDBPyConnection,
    metric_name: str,
    filters: Mapping[str, FilterValue] | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    dimensions: Sequence[str] | None = None,
    min_support: int = MIN_SUPPORT,
    model_cap: int | None = None,
) -> KeyDrivers:
    """The key drivers of `metric_name` (a registry metric; not the CX score, which is not a
    value per order) over a cohort and window [start, end) (default: all the data), across
    `dimensions` (default: `driver_dimensions`). The per-group sums are aggregated in the
    engine; the model fits a sample of about `model_cap` orders (default MAX_MODEL_ROWS) drawn
    in the engine, or every order below it. See the module docstring for the method."""
    if metric_name == CX_SCORE:
        raise KeyDriverError("the CX score has no value per order; ask about one of its parts")
    filters = dict(filters or {})
    world = world_dimensions(con)  # read once: the declarations are a query
    chosen = tuple(dimensions) if dimensions is not None else driver_dimensions(con, filters, world)
    window = (start or dt.datetime(1900, 1, 1), end or dt.datetime(9999, 1, 1))
    cohort = _cohort(con, world, metric_name, filters, window, chosen)
    found = _group_sums(con, cohort, chosen)
    total_orders, total_sum, _ = found.totals
    if total_orders < 2 * min_support:
        raise KeyDriverError(
            f"{total_orders:,} orders with a {metric_name} value in the cohort and window; a "
            f"key-driver analysis needs at least {2 * min_support:,}"
        )
    mean = is_mean(metric_name)
    tables, left_out = {}, {}
    for dimension in chosen:
        codes, table, differences = _group_tests(found, dimension, mean, min_support)
        if len(table) < 1 or len(found.groups[dimension]) < 2:
            left_out[dimension] = f"fewer than 2 groups with at least {min_support} orders"
            continue
        tables[dimension] = (codes, table, differences)
    analysed = tuple(tables)
    cap = MAX_MODEL_ROWS if model_cap is None else model_cap
    sample = _sample(con, cohort, window, found, analysed, cap)
    model = _fit(sample, found, analysed, min_support)
    p_values = [d.p_value for *_, ds in tables.values() for d in ds if d.p_value is not None]
    q_values = iter(multipletests(p_values, method="fdr_bh")[1] if p_values else [])
    effects, marginal = [], {}
    overall = total_sum / total_orders
    for dimension, (codes, table, differences) in tables.items():
        rows = zip(codes, table.itertuples(), differences, strict=True)
        for code, row, difference in rows:
            q = float(next(q_values)) if difference.p_value is not None else None
            effects.append(
                GroupEffect(
                    dimension=dimension,
                    group=row.group,
                    orders=int(row.orders),
                    value=float(row.value),
                    rest=float(row.rest),
                    difference=difference,
                    q_value=q,
                    adjusted=model.adjusted.get((dimension, int(code))),
                )
            )
        weights = table["orders"].to_numpy(dtype=float)
        marginal[dimension] = float(
            (weights * np.abs(table["value"].to_numpy() - overall)).sum() / weights.sum()
        )
    ranked = sorted(analysed, key=lambda d: (-model.attribution[d], d))
    top = model.attribution[ranked[0]] if ranked else 0.0
    custom = set(world.custom_names)
    drivers = []
    for dimension in ranked:
        agreement = _agreement(marginal[dimension], model.attribution[dimension], top)
        associated, association = None, None
        if agreement != "agree" and len(analysed) > 1:
            scores = {
                other: cramers_v(sample.codes[dimension], sample.codes[other])
                for other in analysed
                if other != dimension
            }
            associated = max(scores, key=lambda other: (scores[other], other))
            association = scores[associated]
        significant = [
            e for e in effects
            if e.dimension == dimension and e.q_value is not None and e.q_value < SIGNIFICANT_Q
        ]  # fmt: skip
        drivers.append(
            DimensionDriver(
                dimension=dimension,
                custom=dimension in custom,
                groups=len(tables[dimension][0]),
                significant_groups=len(significant),
                marginal_spread=marginal[dimension],
                attribution=model.attribution[dimension],
                agreement=agreement,
                associated=associated,
                association=association,
            )  # fmt: skip
        )
    effects.sort(
        key=lambda e: (
            _tie(e.q_value if e.q_value is not None else 2.0),
            -_tie(abs(e.difference.estimate)),
            e.dimension,
            e.group,
        )
    )
    return KeyDrivers(
        metric=metric_name,
        filters={k: [v] if isinstance(v, str | int) else list(v) for k, v in filters.items()},
        start=window[0],
        end=window[1],
        orders=total_orders,
        overall=overall,
        min_support=min_support,
        model_orders=model.rows,
        sample_note=describe([sample.drawn], ["cohort"]),
        r_squared=model.r_squared,
        drivers=tuple(drivers),
        marginal_order=tuple(sorted(analysed, key=lambda d: (-marginal[d], d))),
        effects=tuple(effects),
        tests=len(p_values),
        left_out=left_out,
        sql=f"{found.sql};\n{sample.sql}",
    )
