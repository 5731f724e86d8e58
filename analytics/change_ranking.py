"""Ranking the groups of a dimension by how much a metric changed between two periods ("which
region got worse the most last week?").

Each group's change is tested within the group, period against period: a two-proportion z-test
for rates, Welch's t from sums for means, with Benjamini-Hochberg q-values over the groups
compared. Given the groups' sums per day, each group's variance is widened for its days'
variation beyond its orders' in the earlier period (analytics.dispersion, a heuristic: days as
units); without them orders are independent units. The CX score's change is not tested (as in
rank_groups).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from analytics.cohorts import BUILT_IN, Dimensions
from analytics.comparisons import (
    DEFAULT_MIN_ORDERS,
    TWO_PROPORTION,
    WELCH_SUMS,
    ComparisonError,
    Difference,
    Order,
    Tests,
    daily_sums,
    group_name,
    group_values,
    is_mean,
    mean_and_variance,
    no_test,
    overall_value,
    two_proportion_tests,
    welch_tests,
    widened,
)
from analytics.dispersion import day_dispersion
from analytics.metrics import CX_SCORE, METRICS, higher_is_better


@dataclass(frozen=True)
class GroupChange:
    """One group: its value in each period, its orders, the change (after - before) with its
    test, and the test's BH q-value (None when untested)."""

    group: str | int
    before: float
    after: float
    orders_before: int
    orders_after: int
    change: Difference
    q_value: float | None


@dataclass(frozen=True)
class ChangeRanking:
    """The groups with enough orders in both periods, in rank order, and the whole cohort's
    value in each period."""

    dimension: str
    metric: str
    order: Order
    groups: tuple[GroupChange, ...]
    overall_before: float
    overall_after: float
    excluded_groups: int
    min_orders: int


def _sides(frame: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group: the metric's numerator, denominator and sum of squares (0 where absent)."""

    def column(suffix: str) -> np.ndarray:
        found = f"{name}_{suffix}"
        if found not in frame:
            return np.zeros(len(frame))
        return frame[found].astype(float).fillna(0.0).to_numpy()

    return column("num"), column("den"), column("sq")


def _tests(before: pd.DataFrame, after: pd.DataFrame, name: str) -> tuple[Tests, str]:
    """The change of each group (after - before), tested within the group."""
    num_b, den_b, sq_b = _sides(before, name)
    num_a, den_a, sq_a = _sides(after, name)
    if is_mean(name):
        mean_b, var_b = mean_and_variance(num_b, den_b, sq_b)
        mean_a, var_a = mean_and_variance(num_a, den_a, sq_a)
        return welch_tests(mean_a - mean_b, var_b, den_b, var_a, den_a), WELCH_SUMS
    return two_proportion_tests(num_b, den_b, num_a, den_a), TWO_PROPORTION


def rank_changes(
    before: pd.DataFrame,
    after: pd.DataFrame,
    dimension: str,
    name: str,
    order: Order = "worst",
    min_orders: int | None = None,
    dimensions: Dimensions = BUILT_IN,
    earlier_days: pd.DataFrame | None = None,
) -> ChangeRanking:
    """Rank the groups of `dimension` (frames grouped by it, one per period, grain None) by the
    change of metric `name`: worst = the largest move in the bad direction first, best = the
    largest improvement first; highest/lowest rank the signed change literally. Groups with
    fewer than `min_orders` (default DEFAULT_MIN_ORDERS) orders in either period are left out and
    counted; ties go by group name. `earlier_days`: the earlier period grouped by the dimension
    and day, whose days widen each group's test (none for the CX score)."""
    if name != CX_SCORE and name not in METRICS:
        raise ComparisonError(f"unknown metric {name!r}")
    key = dimensions.canonical(dimension)
    threshold = DEFAULT_MIN_ORDERS if min_orders is None else min_orders
    joined = before.merge(after, on=key, how="outer", suffixes=("_before", "_after"))
    joined = joined[joined[key].notna()].reset_index(drop=True)
    sides = {
        side: joined[[key, *(c for c in joined if c.endswith(f"_{side}"))]].rename(
            columns=lambda c, side=side: c.removesuffix(f"_{side}")
        )
        for side in ("before", "after")
    }
    orders = {side: sides[side]["orders"].fillna(0).astype(int).to_numpy() for side in sides}
    value_before = group_values(sides["before"], name, count=False)[0]
    value_after = group_values(sides["after"], name, count=False)[0]
    eligible = (
        (orders["before"] >= threshold)
        & (orders["after"] >= threshold)
        & np.isfinite(value_before)
        & np.isfinite(value_after)
    )
    rows = np.flatnonzero(eligible)
    if name == CX_SCORE:
        differences = [
            no_test(float(value_after[i] - value_before[i]), "the CX score's change is not tested")
            for i in rows
        ]  # fmt: skip
        q_values: list[float | None] = [None] * len(rows)
    else:
        tests, method = _tests(sides["before"].iloc[rows], sides["after"].iloc[rows], name)
        differences = [tests.difference(i, method) for i in range(len(rows))]
        if earlier_days is not None:  # each group widened by its days in the earlier period
            earlier = dict(iter(earlier_days.groupby(key)))
            differences = [
                widened(d, day_dispersion(daily_sums(earlier[group], name)))
                if d.tested and (group := joined[key].iloc[i]) in earlier
                else d
                for d, i in zip(differences, rows, strict=True)
            ]
        p_values = np.array([np.nan if d.p_value is None else d.p_value for d in differences])
        q = np.full(len(rows), np.nan)
        tested = np.isfinite(p_values)
        if tested.any():
            q[tested] = multipletests(p_values[tested], method="fdr_bh")[1]
        q_values = [float(v) if np.isfinite(v) else None for v in q]
    groups = [
        GroupChange(
            group=group_name(joined[key].iloc[i]),
            before=float(value_before[i]),
            after=float(value_after[i]),
            orders_before=int(orders["before"][i]),
            orders_after=int(orders["after"][i]),
            change=differences[position],
            q_value=q_values[position],
        )
        for position, i in enumerate(rows)
    ]
    better_up = higher_is_better(name)
    ascending = {"worst": better_up, "best": not better_up, "lowest": True}
    sign = 1.0 if ascending.get(order, False) else -1.0
    groups.sort(key=lambda g: (sign * g.change.estimate, str(g.group)))
    return ChangeRanking(
        dimension=key,
        metric=name,
        order=order,
        groups=tuple(groups),
        overall_before=overall_value(before, name, count=False),
        overall_after=overall_value(after, name, count=False),
        excluded_groups=int(len(joined) - len(rows)),
        min_orders=threshold,
    )
