"""Experiment design from the warehouse's own data: unit of randomization, baseline and variance,
ICC and design effect, CUPED reduction, sample size and duration for testing an action on a scope.

Method choices (each documented where it is made):
- Unit. Marketplace policies (batching, dasher pay, demand throttling, ETA buffers) act on
  dashers that treated and control orders share, so order- or user-level randomization suffers
  interference: a switchback by region x 3-hour window of the day. Merchant actions (prep-time
  correction, SKU suppression, inventory rollback) stay inside a store: store-level. Model
  rollbacks change the quote a customer sees, not dispatch: user-level (sticky per customer).
- Metrics. Shares (on-time, cancellation, refund, support) are per-order Bernoulli outcomes over
  the metric's denominator (delivered orders for on-time). The CX score is a weighted sum of
  ratios, so its per-order variance comes from the delta method (Deng et al. 2018): each order's
  influence value psi_i = sum_k c_k (num_ik - R_k den_ik) / mean(den_k), with c_k the CX weight
  times the sub-score slope over the weight total, so Var(CX estimate) ~ Var(psi) / orders.
- ICC. One-way ANOVA over the unit's clusters in the 14 history days (region-day-window cells,
  stores, users), clamped at 0 for the design effect; cluster sizes enter as m (1 + CV^2).
  Stores and users stay in one arm for the whole test, so their cluster size grows with its
  duration and so does the design effect.
- CUPED. The covariate is the same unit's value the week before: the correlation of unit means
  (this week vs the previous week) squared (Deng et al. 2013), shrunk for the number of pairs
  (adjusted R^2) and set to 0 unless positive, times the share of this week's orders whose unit
  has a previous-week value. With few units (a switchback scope) the estimate is noisy: it is
  planned conservatively.
- Baseline. The control arm keeps the status quo: with an incident window, its level is the
  metric in that window (what-if effects are measured against it); otherwise the history level.
  Variance, volume, ICC and CUPED come from the 14 days before the window (stable days).
- Effect and duration. Detect the what-if effect if one is given, else a 5% relative lift;
  duration = max(7, days to collect both arms), 14 days (two weekly cycles) recommended.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd
from scipy.stats import norm

from analytics import metrics
from analytics.cohorts import (
    CohortError,
    FilterValue,
    dimension_name,
    where_clause,
    world_dimensions,
)
from analytics.metrics import (
    CX_COMPONENTS,
    CX_SCORE,
    METRICS,
    MetricError,
    available_metrics,
    metric,
    metric_frame,
)
from analytics.power import (
    CupedResult,
    Kind,
    PowerError,
    PowerResult,
    cuped_variance_reduction,
    design_effect,
    icc_from_clusters,
    solve_power,
)
from analytics.rows import one_row
from analytics.sampling import WindowSample, describe, sampled_predicate, window_samples

Family = Literal["marketplace_policy", "merchant", "model"]
UnitKind = Literal["switchback", "store", "user"]

HISTORY_DAYS = 14
MIN_DAYS = 7
RECOMMENDED_DAYS = 14
MAX_DAYS = 56  # beyond eight weeks a test is not worth planning: report the detectable effect
DEFAULT_RELATIVE_LIFT = 0.05
SWITCHBACK_HOURS = 3
ALERT_LEVEL = 0.99  # daily alert band: a one-day difference beyond 99% of noise
ALPHA = 0.05
POWER = 0.8

# Per-order outcome of each share metric a plan can use (registry name -> order_facts column).
_RATE_COLUMNS = {
    "on_time_rate": "on_time",
    "cancellation_rate": "canceled",
    "refund_rate": "refunded",
    "support_rate": "support_contact",
}
PRIMARY_METRICS: tuple[str, ...] = ("on_time_rate", CX_SCORE, *list(_RATE_COLUMNS)[1:])
SECONDARY_METRICS: tuple[str, ...] = ("on_time_rate", CX_SCORE, "cancellation_rate", "refund_rate")

# A free-text action's words -> family: checked in this order; the first family with a word
# starting with one of its keywords wins (library actions carry their family: tools/actions.py).
_FAMILY_KEYWORDS: dict[Family, str] = {
    "marketplace_policy": "batch pay incentive throttle radius buffer dispatch surge supply",
    "merchant": "store merchant prep sku inventory catalog stock",
    "model": "model rollback",
}


class DesignError(ValueError):
    """An experiment that cannot be designed (unknown metric, empty scope, impossible effect)."""


@dataclass(frozen=True)
class UnitChoice:
    """The unit of randomization, the cluster it makes in the data, and why it was chosen."""

    kind: UnitKind
    family: Family
    label: str
    cluster: str
    reason: str


UNITS: dict[Family, UnitChoice] = {
    "marketplace_policy": UnitChoice(
        kind="switchback",
        family="marketplace_policy",
        label=f"switchback by region x {SWITCHBACK_HOURS}-hour window",
        cluster="region-day-window cell",
        reason="The action is a marketplace policy: treated and control orders in the same "
        "region and hour share the same dashers, so randomizing orders or customers would let "
        "one arm's policy change the other's deliveries (interference). A switchback puts a "
        "whole region in one arm for a time window at a time, alternating at random, so each "
        "arm runs the marketplace as it would be under its policy.",
    ),
    "merchant": UnitChoice(
        kind="store",
        family="merchant",
        label="store-level randomization",
        cluster="store",
        reason="The action changes what a store does or shows (its prep times, its catalog), "
        "and its effect stays within that store's orders, which share the store's staff and "
        "stock. Randomizing stores keeps each store's customers on one version; the analysis "
        "clusters errors by store.",
    ),
    "model": UnitChoice(
        kind="user",
        family="model",
        label="user-level randomization",
        cluster="customer",
        reason="A model rollback changes the quote each customer sees, not how shared dashers "
        "are dispatched, so arms hardly interfere; randomizing customers (sticky for the whole "
        "test) gives many units and a consistent experience per customer. If the model also "
        "drives dispatch, use the region switchback instead.",
    ),
}


def infer_family(text: str, default: Family = "marketplace_policy") -> Family:
    """The family of an action known only by its description `text` (a library action carries
    its own): keywords first, else `default` (e.g. the family of the actions for the cause it
    addresses; a switchback is valid even with interference)."""
    words = text.lower().replace("_", " ")
    for family, keywords in _FAMILY_KEYWORDS.items():
        if re.search(rf"\b(?:{'|'.join(keywords.split())})", words):
            return family
    return default


@dataclass(frozen=True)
class MetricStats:
    """A metric's level, per-order spread, volume, clustering and CUPED reduction in the scope.

    Volumes count the metric's denominator (delivered orders for on-time, orders otherwise);
    `cluster_size` is the mean of those per cluster in the history window (per store or user
    over its 14 days, per cell for a switchback).
    """

    metric: str
    kind: Kind
    level: float
    history_level: float
    sd: float
    daily_volume: float
    icc: float
    clusters: int
    cluster_size: float
    cluster_cv: float
    grows_with_duration: bool
    history_days: int
    cuped: CupedResult | None
    cuped_coverage: float

    @property
    def cuped_reduction(self) -> float:
        """Share of the unit-level variance CUPED is planned to remove: corr^2 shrunk for the
        number of unit pairs (adjusted R^2 of one covariate), times coverage; 0 when the
        correlation is not positive (a unit's consecutive weeks do not anti-correlate: noise)."""
        if self.cuped is None or self.cuped.correlation <= 0:
            return 0.0
        pairs = self.cuped.pairs
        adjusted = 1 - (1 - self.cuped.variance_reduction) * (pairs - 1) / (pairs - 2)
        return max(0.0, adjusted) * self.cuped_coverage

    @property
    def higher_is_better(self) -> bool:
        return metrics.higher_is_better(self.metric)

    def effective_cluster_size(self, days: float) -> float:
        """m (1 + CV^2) for a test of `days` days (stores and users accumulate orders)."""
        size = self.cluster_size
        if self.grows_with_duration:
            size = self.cluster_size * days / self.history_days
        return max(1.0, max(1.0, size) * (1 + self.cluster_cv**2))

    def design_effect(self, days: float) -> float:
        """Variance inflation of a test of `days` days, from the ICC clamped at 0."""
        return design_effect(self.effective_cluster_size(days), max(self.icc, 0.0))

    def solve(
        self,
        effect: float | None = None,
        n_per_arm: float | None = None,
        power: float | None = POWER,
        days: float = 1.0,
        cuped: bool = False,
        alpha: float = ALPHA,
        direction: int = 1,
    ) -> PowerResult:
        """solve_power on this metric, with the design effect of a `days`-day test (and CUPED)."""
        factor = self.design_effect(days) * ((1 - self.cuped_reduction) if cuped else 1.0)
        return solve_power(
            self.kind,
            self.level,
            sd=self.sd,
            effect=effect,
            n_per_arm=n_per_arm,
            alpha=alpha,
            power=power,
            design_effect=factor,
            direction="increase" if direction > 0 else "decrease",
        )

    def required_days(self, n_unadjusted: float, cuped: bool = False) -> int | None:
        """Fewest whole days for both arms to hold n_unadjusted x DEFF(days) units each, or
        None if not within MAX_DAYS (clusters too few or too correlated)."""
        factor = (1 - self.cuped_reduction) if cuped else 1.0
        for days in range(1, MAX_DAYS + 1):
            if self.daily_volume * days >= 2 * n_unadjusted * factor * self.design_effect(days):
                return days
        return None

    def alert_band(self, level: float = ALERT_LEVEL) -> float:
        """Half-width of the `level` band of one day's treatment-minus-control difference at
        the 50% stage (each arm gets half the day's volume)."""
        z = float(norm.ppf((1 + level) / 2))
        return z * self.sd * math.sqrt(4 * self.design_effect(1) / self.daily_volume)


@dataclass(frozen=True)
class SecondaryMetric:
    """A metric watched beside the primary: its level, the change the test can detect at the
    recommended duration, and its daily alert band."""

    stats: MetricStats
    mde: PowerResult | None  # None: no change the better way is detectable at this volume
    alert_band: float


@dataclass(frozen=True)
class ExperimentDesign:
    """Everything a plan needs; every number is derived from the warehouse or a stated default.

    `sample` is the sample size at the planned duration (`duration_days`); `mde` the effect the
    test detects in `recommended_days` (with and without CUPED); `power_at_low` the power in
    `recommended_days` if the effect is only `effect_conservative`, the end of the expected
    effect's interval nearest zero.
    """

    metric: str
    filters: dict[str, list[str | int]]
    unit: UnitChoice
    history_start: dt.datetime
    history_end: dt.datetime
    status_quo: tuple[dt.datetime, dt.datetime] | None
    primary: MetricStats
    effect: float
    effect_low: float | None
    effect_high: float | None
    effect_source: Literal["what-if", "default lift"]
    relative_lift: float
    alpha: float
    power: float
    sample: PowerResult
    days_required: int | None
    duration_days: int
    recommended_days: int
    cuped_sample: PowerResult
    cuped_days_required: int | None
    cuped_duration_days: int
    mde: PowerResult
    mde_cuped: PowerResult
    effect_conservative: float | None  # the interval's end nearest zero (same sign as effect)
    power_at_low: float | None
    units: float  # switchback cells per day, or stores / customers seen in the history days
    primary_alert_band: float
    secondary: dict[str, SecondaryMetric] = field(default_factory=dict)
    guardrail_baselines: dict[str, float] = field(default_factory=dict)
    min_days: int = MIN_DAYS
    switchback_hours: int = SWITCHBACK_HOURS
    alert_level: float = ALERT_LEVEL
    history_sample: WindowSample | None = None  # the history's orders and the share read

    @property
    def sample_note(self) -> str | None:
        """How many of the history's orders were read, when they were sampled."""
        return None if self.history_sample is None else describe([self.history_sample], ["history"])

    @property
    def design_effect(self) -> float:
        """The design effect of the planned duration."""
        return self.sample.design_effect

    @property
    def units_per_arm(self) -> float:
        """Randomization units per arm over the recommended duration (switchback cells,
        stores or customers)."""
        if self.unit.kind == "switchback":
            return self.units * self.recommended_days / 2
        return self.units / 2


# --- data ------------------------------------------------------------------------------------

# History orders read out of the engine: all of a scope's up to this, a sample beyond (then
# volumes are scaled back by its fraction; ICC and CUPED read the sampled orders of each
# cluster, which makes CUPED's reduction conservative; a heuristic for customers as units,
# whose count in a sample undercounts those with few orders).
MAX_HISTORY_ROWS = 500_000

_FRAME_SQL = """
SELECT region, store_id, user_id, day, hour, delivered,
       CAST(on_time AS DOUBLE) AS on_time, CAST(canceled AS DOUBLE) AS canceled,
       CAST(refunded AS DOUBLE) AS refunded, CAST(support_contact AS DOUBLE) AS support_contact,
       CAST(stars AS DOUBLE) AS stars, CAST(item_lines AS DOUBLE) AS item_lines,
       CAST(substituted_lines AS DOUBLE) AS substituted_lines,
       CAST(missing_lines AS DOUBLE) AS missing_lines, quoted_min, duration_min
FROM order_facts WHERE {where} AND order_time >= ? AND order_time < ? AND {sampled}
"""


def order_frame(
    con: duckdb.DuckDBPyConnection,
    filters: Mapping[str, FilterValue],
    start: dt.datetime,
    end: dt.datetime,
    cap: int | None = None,
) -> tuple[pd.DataFrame, WindowSample]:
    """One row per order in the scope and [start, end) (unit keys and per-order outcomes), of
    a sample drawn in the engine of at most about `cap` orders; and the sample."""
    where, parameters = where_clause(filters, world_dimensions(con))
    (sample,) = window_samples(con, where, parameters, [(start, end)], cap or MAX_HISTORY_ROWS)
    sampled, sample_parameters = sampled_predicate([sample])
    frame = con.execute(
        _FRAME_SQL.format(where=where, sampled=sampled),
        [*parameters, start, end, *sample_parameters],
    ).df()
    return frame, sample


def _component(frame: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-order (numerator, denominator) of a CX sub-metric, as the registry sums them."""
    if name in _RATE_COLUMNS:
        outcome = frame[_RATE_COLUMNS[name]]
        return outcome.fillna(0).to_numpy(float), outcome.notna().to_numpy(float)
    if name == "item_accuracy":
        counted = frame["delivered"].fillna(False).to_numpy(bool) & frame["item_lines"].notna()
        lines = frame["item_lines"].fillna(0).to_numpy(float)
        wrong = frame["substituted_lines"].fillna(0) + frame["missing_lines"].fillna(0)
        return (
            np.where(counted, lines - wrong.to_numpy(float), 0.0),
            np.where(counted, lines, 0.0),
        )
    if name == "rating":
        stars = frame["stars"]
        return stars.fillna(0).to_numpy(float), stars.notna().to_numpy(float)
    raise MetricError(f"{name} is not a CX sub-metric")


def cx_linearization(frame: pd.DataFrame) -> tuple[float, np.ndarray]:
    """The CX score of the orders in `frame` and each order's delta-method influence value.

    CX = sum_k w_k (a_k + b_k R_k) / W over the sub-metrics with data (R_k = sum num / sum den);
    psi_i = sum_k (w_k b_k / W) (num_ik - R_k den_ik) / mean(den_k), so that the variance of
    the CX score of n such orders is about Var(psi) / n (Deng et al. 2018, delta method).
    """
    parts = []
    for name in CX_COMPONENTS:
        numerator, denominator = _component(frame, name)
        if denominator.sum() > 0:
            parts.append((METRICS[name], numerator, denominator))
    if not parts:
        raise DesignError("no CX sub-metric has data in the scope")
    total_weight = sum(m.cx_weight for m, _, _ in parts)
    level, influence = 0.0, np.zeros(len(frame))
    for m, numerator, denominator in parts:
        ratio = numerator.sum() / denominator.sum()
        intercept, slope = m.score
        level += m.cx_weight * (intercept + slope * ratio) / total_weight
        coefficient = m.cx_weight * slope / total_weight
        influence += coefficient * (numerator - ratio * denominator) / denominator.mean()
    return float(level), influence


@dataclass(frozen=True)
class _Clusters:
    """Per-order cluster labels of the history frame for one unit of randomization.

    `labels`: the cluster in the test (region-day-window cell, store, user); `weekly`: the same
    unit matched across weeks (a switchback cell by region, weekday and window); `later`: the
    order falls in the last week (the CUPED outcome week; the week before is the covariate).
    Labels are integer codes numbered in the order of the clusters' names, so sorting, counting
    and grouping them gives what the names would, in the same order, without comparing strings.
    """

    labels: np.ndarray
    weekly: np.ndarray
    later: np.ndarray | None


def _clusters(frame: pd.DataFrame, unit: UnitKind, split: dt.date | None) -> _Clusters:
    days = pd.to_datetime(frame["day"])
    later = None if split is None else (days.dt.date >= split).to_numpy()
    if unit in ("store", "user"):
        labels = _name_codes(frame["store_id" if unit == "store" else "user_id"].astype(str))
        return _Clusters(labels, labels, later)
    place = frame["region"].astype(str) + "|" + (frame["hour"] // SWITCHBACK_HOURS).astype(str)
    labels = _name_codes(place + "|" + days.dt.strftime("%Y-%m-%d"))
    weekly = _name_codes(place + "|" + days.dt.day_of_week.astype(str))
    return _Clusters(labels, weekly, later)


def _name_codes(names: pd.Series) -> np.ndarray:
    """Each name's rank among the distinct names (sorted), as an integer code."""
    return pd.factorize(names.to_numpy(), sort=True)[0]


def _values(frame: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(mask of orders in the metric's denominator, their per-order values)."""
    if name == CX_SCORE:
        _, influence = cx_linearization(frame)
        return np.ones(len(frame), bool), influence
    outcome = frame[_RATE_COLUMNS[name]]
    mask = outcome.notna().to_numpy(bool)
    return mask, outcome.to_numpy(float)[mask]


def _cuped(
    weekly: np.ndarray, later: np.ndarray, values: np.ndarray
) -> tuple[CupedResult | None, float]:
    """CUPED from unit means of the covariate week and the outcome week (`later`), and the
    share of outcome-week orders whose unit has a covariate-week value."""
    means = pd.DataFrame({"unit": weekly, "later": later, "value": values})
    table = means.groupby(["unit", "later"])["value"].mean().unstack()
    if True not in table.columns or False not in table.columns:
        return None, 0.0
    paired = table.dropna()
    if len(paired) < 3 or not later.any():
        return None, 0.0
    coverage = float(means.loc[later, "unit"].isin(paired.index).mean())
    return cuped_variance_reduction(paired[False].to_numpy(), paired[True].to_numpy()), coverage


def metric_stats(
    name: str,
    frame: pd.DataFrame,
    clusters: _Clusters,
    unit: UnitKind,
    history_levels: _Levels,
    status_quo_levels: _Levels | None,
    history_days: int,
    scale: float = 1.0,
) -> MetricStats:
    """Level, sd, volume, ICC and CUPED reduction of one metric over the history frame; its
    level in the history window and in the status quo (when given) from `_levels`."""
    mask, values = _values(frame, name)
    if values.size < 2:
        raise DesignError(f"{name}: fewer than 2 orders with data in the scope's history")
    history_level = history_levels.of(name)
    level = history_level if status_quo_levels is None else status_quo_levels.of(name)
    kind: Kind
    if name == CX_SCORE:
        kind, sd = "mean", float(np.std(values, ddof=1))
    else:
        kind, sd = "proportion", math.sqrt(level * (1 - level))
    labels = clusters.labels[mask]
    _, sizes = np.unique(labels, return_counts=True)
    icc = icc_from_clusters(values, labels) if 2 <= len(sizes) < values.size else 0.0
    cuped, coverage = (None, 0.0)
    if clusters.later is not None:
        cuped, coverage = _cuped(clusters.weekly[mask], clusters.later[mask], values)
    return MetricStats(
        metric=name,
        kind=kind,
        level=level,
        history_level=history_level,
        sd=sd,
        daily_volume=values.size * scale / history_days,
        icc=float(icc),
        clusters=len(sizes),
        cluster_size=float(sizes.mean() * scale),
        cluster_cv=float(sizes.std() / sizes.mean()),
        grows_with_duration=unit != "switchback",
        history_days=history_days,
        cuped=cuped,
        cuped_coverage=coverage,
    )


@dataclass(frozen=True)
class _Levels:
    """Metrics' values over a scope and window [start, end), read in one query (metric_frame
    computes each metric's sums on their own, so they are the same as one metric at a time)."""

    values: dict[str, Any]
    start: dt.datetime
    end: dt.datetime

    def of(self, name: str) -> float:
        value = self.values[name]
        if value is None or value != value:
            raise DesignError(
                f"no {name} data in the scope from {self.start:%Y-%m-%d %H:%M} to "
                f"{self.end:%Y-%m-%d %H:%M}"
            )
        return float(value)


def _levels(
    con: duckdb.DuckDBPyConnection,
    names: Sequence[str],
    filters: Mapping[str, FilterValue],
    start: dt.datetime,
    end: dt.datetime,
) -> _Levels:
    frame = metric_frame(con, list(names), None, filters, start=start, end=end)
    values = {name: frame[name].iloc[0] if len(frame) else None for name in names}
    return _Levels(values, start, end)


def _guardrail_baselines(
    con: duckdb.DuckDBPyConnection,
    frame: pd.DataFrame,
    filters: Mapping[str, FilterValue],
    history: tuple[dt.datetime, dt.datetime],
    history_days: int,
    scale: float = 1.0,  # orders per order of `frame` (1 / the share of the history it holds)
) -> dict[str, float]:
    """Guardrail levels in the history window: orders per day, mean quoted ETA and delivery
    minutes and, from dasher_supply (the scope's regions and hours, all categories: dashers are
    shared), delivered orders per online dasher hour. Pay is not in the warehouse."""
    baselines = {"orders_per_day": len(frame) * scale / history_days}
    for column, key in (("quoted_min", "quoted_eta_min"), ("duration_min", "delivery_min")):
        if frame[column].notna().any():
            baselines[key] = float(frame[column].mean())
    # A supply table without dasher counts cannot give this rate.
    has_supply = one_row(
        con.execute(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_name = 'dasher_supply' AND column_name = 'online_dashers'"
        )
    )[0]
    if has_supply:
        # A custom dimension (dimension_name: no alias) is not a region or an hour.
        regions = {k: v for k, v in filters.items() if dimension_name(k) == "region"}
        hours = [v for k, v in filters.items() if dimension_name(k) == "hour"]
        where, parameters = where_clause({**regions, **({"hour": hours[0]} if hours else {})})
        supply_where, supply_parameters = where_clause(regions)
        if hours:
            hour_values = [hours[0]] if isinstance(hours[0], str | int) else list(hours[0])
            supply_where += f" AND hour(hour_start) IN ({', '.join('?' for _ in hour_values)})"
            supply_parameters += hour_values
        supplied_sql = f"""
            WITH done AS (
                SELECT region, hour_start, count(*) FILTER (WHERE delivered) AS delivered
                FROM order_facts WHERE {where} AND order_time >= ? AND order_time < ?
                GROUP BY 1, 2),
            supply AS (
                SELECT region, hour_start, online_dashers FROM dasher_supply
                WHERE {supply_where} AND hour_start >= ? AND hour_start < ?)
            SELECT sum(delivered), sum(online_dashers)
            FROM done JOIN supply USING (region, hour_start)
            """
        delivered, dasher_hours = one_row(
            con.execute(supplied_sql, [*parameters, *history, *supply_parameters, *history])
        )
        if delivered and dasher_hours:
            baselines["deliveries_per_dasher_hour"] = float(delivered) / float(dasher_hours)
    return baselines


# --- the design ------------------------------------------------------------------------------


def _history_window(
    con: duckdb.DuckDBPyConnection, start: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime, int]:
    first, last = one_row(con.execute("SELECT min(day), max(day) FROM order_facts"))
    if first is None:
        raise DesignError("the warehouse holds no orders")
    if start is not None:
        end = dt.datetime.combine(start.date(), dt.time())
    else:
        end = dt.datetime.combine(last, dt.time()) + dt.timedelta(days=1)
    begin = max(end - dt.timedelta(days=HISTORY_DAYS), dt.datetime.combine(first, dt.time()))
    days = (end - begin).days
    if days < 2:
        raise DesignError(
            f"need at least 2 days of data before {end:%Y-%m-%d} to estimate variance; "
            f"the data starts {first}"
        )
    return begin, end, days


def design_experiment(
    con: duckdb.DuckDBPyConnection,
    metric_name: str,
    filters: Mapping[str, Sequence[str | int]],
    family: Family,
    effect: float | None = None,
    effect_interval: tuple[float, float] | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    alpha: float = ALPHA,
    power: float = POWER,
) -> ExperimentDesign:
    """Design a two-arm test of an action on a scope for a primary metric.

    `effect` is the absolute change to detect on the primary metric (a share difference, or CX
    points), e.g. a what-if estimate with its 90% `effect_interval`; without one, a 5% relative
    lift in the metric's good direction. [`start`, `end`) is the incident window whose level the
    control arm keeps (the status quo); history = the 14 days before it (or the last 14 days).
    Returns an ExperimentDesign (sample sizes count the metric's denominator units).
    """
    if metric_name != CX_SCORE:
        metric(metric_name)  # unknown names raise MetricError with the known ones
    if metric_name not in PRIMARY_METRICS:
        raise DesignError(
            f"{metric_name} cannot be a primary metric; use one of {', '.join(PRIMARY_METRICS)}"
        )
    available = available_metrics(con)
    if metric_name != CX_SCORE and not available[metric_name]:
        raise DesignError(f"{metric_name} is unavailable: the warehouse lacks its columns")
    try:
        dimensions = world_dimensions(con)
        for name in filters:
            dimensions.canonical(name)
    except CohortError as error:
        raise DesignError(str(error)) from None
    scope = {k: list(v) for k, v in filters.items()}
    unit = UNITS[family]
    history_start, history_end, history_days = _history_window(con, start)
    history = (history_start, history_end)
    frame, history_sample = order_frame(con, scope, history_start, history_end)
    scale = 1 / history_sample.fraction
    if frame.empty:
        described = ", ".join(
            f"{k}={'/'.join(str(v) for v in values)}" for k, values in scope.items()
        )
        raise DesignError(
            f"no orders in the scope ({described}) from {history_start:%Y-%m-%d} to "
            f"{history_end:%Y-%m-%d}: check the filter values"
        )
    status_quo = None
    if start is not None:
        status_end = end or dt.datetime.combine(
            one_row(con.execute("SELECT max(day) FROM order_facts"))[0], dt.time()
        ) + dt.timedelta(days=1)
        status_quo = (start, status_end)

    split = None
    if history_days >= 2 * MIN_DAYS:
        split = (history_end - dt.timedelta(days=MIN_DAYS)).date()
    clusters = _clusters(frame, unit.kind, split)

    secondary_names = [
        name
        for name in SECONDARY_METRICS
        if name != metric_name and (name == CX_SCORE or available[name])
    ]
    measured = [metric_name, *secondary_names]
    history_levels = _levels(con, measured, scope, *history)
    status_quo_levels = None if status_quo is None else _levels(con, measured, scope, *status_quo)

    def stats_of(name: str) -> MetricStats:
        return metric_stats(
            name,
            frame,
            clusters,
            unit.kind,
            history_levels,
            status_quo_levels,
            history_days,
            scale,
        )

    primary = stats_of(metric_name)
    good = 1 if primary.higher_is_better else -1
    source: Literal["what-if", "default lift"] = "what-if"
    if effect is None:
        effect, source = good * DEFAULT_RELATIVE_LIFT * primary.level, "default lift"
    if effect == 0:
        raise DesignError("the expected effect is 0: there is nothing to detect")
    direction = 1 if effect > 0 else -1
    if primary.kind == "proportion" and not 0 < primary.level + effect < 1:
        raise DesignError(
            f"{metric_name} {primary.level:.3f} + effect {effect:+.3f} is outside (0, 1); "
            "give the incident window (start, end) so the baseline is the status quo the "
            "effect was measured against, or a smaller effect"
        )
    try:
        unadjusted = primary.solve(effect=effect, alpha=alpha, power=power).n_per_arm
        days_required = primary.required_days(unadjusted)
        duration = max(MIN_DAYS, days_required or RECOMMENDED_DAYS)
        recommended = max(RECOMMENDED_DAYS, duration)
        sample = primary.solve(effect=effect, days=duration, alpha=alpha, power=power)
        cuped_days_required = primary.required_days(unadjusted, cuped=True)
        cuped_duration = max(MIN_DAYS, cuped_days_required or RECOMMENDED_DAYS)
        cuped_sample = primary.solve(
            effect=effect, days=cuped_duration, cuped=True, alpha=alpha, power=power
        )
        available_n = primary.daily_volume * recommended / 2
        mde, mde_cuped = (
            primary.solve(
                n_per_arm=available_n,
                days=recommended,
                cuped=cuped,
                alpha=alpha,
                power=power,
                direction=direction,
            )
            for cuped in (False, True)
        )
        power_at_low = conservative = None
        if effect_interval is not None and all(bound * effect > 0 for bound in effect_interval):
            conservative = min(effect_interval, key=abs)
            power_at_low = primary.solve(
                effect=conservative,
                n_per_arm=available_n,
                power=None,
                days=recommended,
                alpha=alpha,
            ).power
        secondary = {}
        for name in secondary_names:
            stats = stats_of(name)
            better = 1 if stats.higher_is_better else -1
            try:
                secondary_mde: PowerResult | None = stats.solve(
                    n_per_arm=stats.daily_volume * recommended / 2,
                    days=recommended,
                    alpha=alpha,
                    power=power,
                    direction=better,
                )
            except PowerError:  # a rare event in a small scope: watched, not powered
                secondary_mde = None
            secondary[name] = SecondaryMetric(
                stats=stats, mde=secondary_mde, alert_band=stats.alert_band()
            )
    except PowerError as error:
        raise DesignError(str(error)) from None
    units = len(np.unique(clusters.labels))
    low_high = sorted(effect_interval) if effect_interval else (None, None)
    return ExperimentDesign(
        metric=metric_name,
        filters=scope,
        unit=unit,
        history_start=history_start,
        history_end=history_end,
        status_quo=status_quo,
        primary=primary,
        effect=effect,
        effect_low=low_high[0],
        effect_high=low_high[1],
        effect_source=source,
        relative_lift=effect / primary.level,
        alpha=alpha,
        power=power,
        sample=sample,
        days_required=days_required,
        duration_days=duration,
        recommended_days=recommended,
        cuped_sample=cuped_sample,
        cuped_days_required=cuped_days_required,
        cuped_duration_days=cuped_duration,
        mde=mde,
        mde_cuped=mde_cuped,
        effect_conservative=conservative,
        power_at_low=power_at_low,
        units=units / history_days if unit.kind == "switchback" else float(units),
        primary_alert_band=primary.alert_band(),
        secondary=secondary,
        guardrail_baselines=_guardrail_baselines(con, frame, scope, history, history_days, scale),
        history_sample=history_sample,
    )
