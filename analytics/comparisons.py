"""Comparisons of metrics between windows, cohorts and the groups of a dimension.

Each comparison uses the test that suits the metric: a two-proportion z-test for rates (the
registry's ratio metrics without a sum of squares), Welch's t-test from sufficient statistics
(sum, sum of squares, n) for means, and, as a heuristic, Welch's t over daily values for the CX
score (a weighted sum of rates and a mean, with no simple variance of its own).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import duckdb
import numpy as np
import pandas as pd
import sqlglot
from scipy import stats
from sqlglot.errors import SqlglotError
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
)

from analytics.cohorts import (
    BUILT_IN,
    Dimensions,
    FilterValue,
    describe_slice,
    where_clause,
    world_dimensions,
)
from analytics.dispersion import Day, Dispersion, day_dispersion
from analytics.metrics import (
    CX_COMPONENTS,
    CX_SCORE,
    METRICS,
    SeriesGrain,
    analysis_source,
    metric,
    metrics_sql,
)
from analytics.rows import one_row
from data.dimensions import CustomDimension
from data.schema import DAYPARTS

CONFIDENCE = 0.95
DEFAULT_MIN_ORDERS = 30  # a group ranks only with at least this many orders in the period
ORDERS = "orders"  # rank_groups' pseudo-metric: order counts

Order = Literal["worst", "best", "highest", "lowest"]


class ComparisonError(ValueError):
    """A comparison that cannot be made: no orders in a window, an unusable metric or filter."""


# --- SQL for display ---------------------------------------------------------------------------


def _literal(value: object) -> str:
    """A Python value as a SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float | np.integer | np.floating):
        return repr(value.item() if isinstance(value, np.generic) else value)
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    text = str(value).replace("'", "''")
    return f"'{text}'"


def render_sql(sql: str, parameters: Sequence[object], pretty: bool = True) -> str:
    """`sql` with each `?` replaced by its parameter as a literal, for display only (queries run
    parameterized). `sql` must hold no `?` inside a string literal. With `pretty`, laid out on
    several lines by sqlglot (the same query; left as is if sqlglot cannot read it).

    >>> render_sql("SELECT 1 FROM t WHERE a IN (?, ?)", ["x'y", 3], pretty=False)
    "SELECT 1 FROM t WHERE a IN ('x''y', 3)"
    >>> render_sql("SELECT 1 WHERE t >= ?", [dt.datetime(2026, 1, 4, 18)], pretty=False)
    "SELECT 1 WHERE t >= TIMESTAMP '2026-01-04 18:00:00'"
    """
    pieces = sql.split("?")
    if len(pieces) != len(parameters) + 1:
        raise ValueError(f"{len(pieces) - 1} placeholders for {len(parameters)} parameters")
    rendered = pieces[0] + "".join(
        _literal(value) + piece for value, piece in zip(parameters, pieces[1:], strict=True)
    )
    if not pretty:
        return rendered
    try:
        return sqlglot.transpile(rendered, read="duckdb", write="duckdb", pretty=True)[0]
    except SqlglotError:
        return rendered


def describe_filters(filters: Mapping[str, FilterValue]) -> str:
    """Cohort filters as text, e.g. 'category=grocery, hour=18-20' ('all orders' if none)."""
    listed = {
        name: [value] if isinstance(value, str | int) else list(value)
        for name, value in filters.items()
    }
    return describe_slice(listed) or "all orders"


# --- sums and the CX score ---------------------------------------------------------------------


@dataclass(frozen=True)
class Sums:
    """A registry metric's sums over a cohort and period: value = numerator / denominator.

    `square` is the sum of squared values (means only; None for rates). For a rate the
    denominator counts trials (orders, delivered orders or item lines) and the numerator events.
    """

    numerator: float
    denominator: float
    square: float | None = None

    @property
    def value(self) -> float:
        """The metric's value (nan without a denominator)."""
        return self.numerator / self.denominator if self.denominator else math.nan

    def __sub__(self, other: Sums) -> Sums:
        square = None if self.square is None else self.square - (other.square or 0.0)
        return Sums(self.numerator - other.numerator, self.denominator - other.denominator, square)


def is_mean(name: str) -> bool:
    """Whether a registry metric is a mean (has a sum of squares) rather than a rate."""
    return bool(METRICS[name].square)


def sums_of(frame: pd.DataFrame, name: str) -> Sums:
    """The sums of a registry metric over all rows of a metric_frame-shaped frame."""

    def total(column: str) -> float:
        return float(frame[column].sum()) if len(frame) else 0.0  # NaN (no rows matched) is 0

    square = total(f"{name}_sq") if is_mean(name) else None
    return Sums(total(f"{name}_num"), total(f"{name}_den"), square)


def cx_score_of(values: Mapping[str, float]) -> float:
    """CX score (0-100) from sub-metric values, renormalized over the finite ones (nan if none):
    the rule of analytics.metrics.cx_score_sql, for values summed outside SQL."""
    total = weight = 0.0
    for name in CX_COMPONENTS:
        value = values.get(name)
        if value is None or not math.isfinite(value):
            continue
        intercept, slope = METRICS[name].score
        total += METRICS[name].cx_weight * (intercept + slope * value)
        weight += METRICS[name].cx_weight
    return total / weight if weight else math.nan


def registry_metrics(metrics: Sequence[str]) -> list[str]:
    """The registry metrics whose sums `metrics` need (the CX score needs its sub-metrics)."""
    wanted = [*metrics, *(CX_COMPONENTS if CX_SCORE in metrics else ())]
    return [name for name in dict.fromkeys(wanted) if name != CX_SCORE]


def check_metrics(metrics: Sequence[str]) -> None:
    """Raise ComparisonError naming the known metrics if one of `metrics` is unknown."""
    for name in metrics:
        if name != CX_SCORE:
            try:
                metric(name)
            except ValueError as error:
                raise ComparisonError(str(error)) from None


# --- measuring a cohort over a window ----------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """Metrics of one cohort over one window [start, end).

    `values` holds every asked metric (the CX score included; nan where the window has no
    denominator), `sums` every registry metric read, `daily_cx` the CX score of each calendar
    day with orders (when the CX score was asked), `sql` the query that ran, rendered,
    `daily` each registry metric's sums per calendar day (its day-to-day variation) and `days`
    the calendar days with orders.
    """

    filters: dict[str, list[str | int]]
    start: dt.datetime
    end: dt.datetime
    orders: int
    values: dict[str, float]
    sums: dict[str, Sums]
    daily_cx: tuple[float, ...]
    sql: str
    daily: dict[str, tuple[Day, ...]] = field(default_factory=dict)  # per metric, per day
    days: int = 0  # calendar days with orders

    def n(self, name: str) -> float:
        """The sample size behind a metric: its denominator, or for the CX score the days."""
        return float(len(self.daily_cx)) if name == CX_SCORE else self.sums[name].denominator

    def describe(self) -> str:
        """The cohort and window as text."""
        return (
            f"{describe_filters(self.filters)}, {self.start:%Y-%m-%d %H:%M} to "
            f"{self.end:%Y-%m-%d %H:%M}"
        )


def run(con: duckdb.DuckDBPyConnection, sql: str, parameters: Sequence[object]) -> pd.DataFrame:
    """Run a parameterized query; a filter value of the wrong type is a ComparisonError."""
    try:
        return con.execute(sql, list(parameters)).df()
    except duckdb.ConversionException as error:
        raise ComparisonError(f"a filter value does not fit its dimension: {error}") from None


def cohort_query(
    metrics: Sequence[str],
    filters: Mapping[str, FilterValue],
    start: dt.datetime,
    end: dt.datetime,
    grain: SeriesGrain | None = None,
    group_by: Sequence[str] = (),
    source: str = "order_facts",
    dimensions: Dimensions = BUILT_IN,
) -> tuple[str, list[object]]:
    """The metric_frame query of `metrics` for a cohort and window, and its parameters;
    `source` is analytics.metrics.analysis_source of the connection it will run on, and
    `dimensions` its world's (analytics.cohorts.world_dimensions)."""
    check_metrics(metrics)
    where, parameters = where_clause(filters, dimensions)
    sql = metrics_sql(metrics, grain, group_by, where, source, dimensions)
    return sql, [*parameters, start, end]


def measure(
    con: duckdb.DuckDBPyConnection,
    metrics: Sequence[str],
    filters: Mapping[str, list[str | int]],
    start: dt.datetime,
    end: dt.datetime,
) -> Measurement:
    """`metrics` over a cohort and window, read by day and summed (ratios of sums, so the
    window's value is exact; the days also give the CX score's day-to-day variation)."""
    asked = list(dict.fromkeys(metrics))
    sql, parameters = cohort_query(
        asked, filters, start, end, grain="day", source=analysis_source(con),
        dimensions=world_dimensions(con),
    )  # fmt: skip
    frame = run(con, sql, parameters)
    sums = {name: sums_of(frame, name) for name in registry_metrics(asked)}
    values = {name: sums[name].value for name in asked if name != CX_SCORE}
    daily_cx: tuple[float, ...] = ()
    if CX_SCORE in asked:
        values[CX_SCORE] = cx_score_of({name: sums[name].value for name in CX_COMPONENTS})
        daily_cx = tuple(float(v) for v in frame[CX_SCORE] if pd.notna(v))
    return Measurement(
        filters={k: list(v) for k, v in filters.items()},
        start=start,
        end=end,
        orders=int(frame["orders"].sum()) if len(frame) else 0,
        values={name: values[name] for name in asked},
        sums=sums,
        daily_cx=daily_cx,
        sql=render_sql(sql, parameters),
        daily={name: daily_sums(frame, name) for name in sums},
        days=len(frame),
    )


def daily_sums(frame: pd.DataFrame, name: str) -> tuple[Day, ...]:
    """A registry metric's (numerator, denominator, sum of squares) on each row of a frame read
    by day (rows without a denominator left out)."""
    squares = frame[f"{name}_sq"] if is_mean(name) else [None] * len(frame)
    return tuple(
        (float(n), float(d), None if q is None or pd.isna(q) else float(q))
        for n, d, q in zip(frame[f"{name}_num"], frame[f"{name}_den"], squares, strict=True)
        if pd.notna(d) and d > 0
    )


# --- tests of a difference ---------------------------------------------------------------------
#
# Each test is computed on arrays (one element per comparison), so a ranking tests every group
# against the rest of its cohort at once; the scalar functions below wrap them.

Array = np.ndarray
# A test's inputs: one value, or one per element (as an array).
Values = float | np.floating | Array


@dataclass(frozen=True)
class Difference:
    """`estimate` = b - a with its 95% interval and two-sided p-value; the interval and p-value
    are None when no test ran, and `method` says which test ran or why none did (`untested`:
    why, alone)."""

    estimate: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    method: str
    untested: str = ""

    @property
    def tested(self) -> bool:
        return self.p_value is not None


TWO_PROPORTION = "two-proportion z-test (pooled)"
WELCH_SUMS = "Welch t-test from sums of values and squares"
WELCH_DAYS = "Welch t over daily CX values (heuristic: days as independent samples)"


def no_test(estimate: float, why: str) -> Difference:
    """A difference no test was run on, and why."""
    return Difference(estimate, None, None, None, f"no test: {why}", why)


@dataclass(frozen=True)
class Tests:
    """Tests of many differences: estimate, 95% interval, p-value (nan where untested)."""

    estimate: Array
    low: Array
    high: Array
    p_value: Array
    why_not: Array  # per element: '' when tested, else why not (text)

    def difference(self, index: int, method: str) -> Difference:
        estimate = float(self.estimate[index])
        if self.why_not[index]:
            return no_test(estimate, str(self.why_not[index]))
        return Difference(
            estimate,
            float(self.low[index]),
            float(self.high[index]),
            float(self.p_value[index]),
            method,
        )


def _as_arrays(*values: Values) -> list[Array]:
    return [np.atleast_1d(np.asarray(value, dtype=float)) for value in values]


def two_proportion_tests(events_a: Values, n_a: Values, events_b: Values, n_b: Values) -> Tests:
    """Rate b - rate a for each element: the two-proportion z-test with pooled variance (the
    test of statsmodels' proportions_ztest) and Newcomb's hybrid score interval of the
    difference (Newcomb 1998; statsmodels confint_proportions_2indep)."""
    events_a, n_a, events_b, n_b = _as_arrays(events_a, n_a, events_b, n_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = events_b / n_b - events_a / n_a
        pooled = (events_a + events_b) / (n_a + n_b)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    why_not = np.where(
        (n_a < 1) | (n_b < 1),
        "a side has no denominator",
        np.where(
            (pooled <= 0) | (pooled >= 1),
            "no variation (no or every unit is an event on both sides)",
            "",
        ),
    )
    ok = why_not == ""
    low, high, p_value = (np.full(estimate.shape, np.nan) for _ in range(3))
    if ok.any():
        p_value[ok] = 2 * stats.norm.sf(np.abs(estimate[ok]) / se[ok])
        low[ok], high[ok] = confint_proportions_2indep(
            events_b[ok], n_b[ok], events_a[ok], n_a[ok],
            method="newcomb", compare="diff", alpha=1 - CONFIDENCE,
        )  # fmt: skip
    return Tests(estimate, low, high, p_value, why_not)


def welch_tests(
    estimate: Values, variance_a: Values, n_a: Values, variance_b: Values, n_b: Values
) -> Tests:
    """`estimate` (b - a) for each element with Welch's standard error from each side's sample
    variance and size, Welch-Satterthwaite degrees of freedom, a 95% t interval and a two-sided
    p-value (Welch 1947)."""
    estimate, variance_a, n_a, variance_b, n_b = _as_arrays(
        estimate, variance_a, n_a, variance_b, n_b
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        share_a, share_b = variance_a / n_a, variance_b / n_b
        se = np.sqrt(share_a + share_b)
        df = (share_a + share_b) ** 2 / (share_a**2 / (n_a - 1) + share_b**2 / (n_b - 1))
    why_not = np.where(
        (n_a < 2) | (n_b < 2),
        "a side has fewer than 2 values",
        np.where(~(se > 0), "no variation on either side", ""),
    )
    ok = why_not == ""
    low, high, p_value = (np.full(estimate.shape, np.nan) for _ in range(3))
    if ok.any():
        half = stats.t.ppf(0.5 + CONFIDENCE / 2, df[ok]) * se[ok]
        low[ok], high[ok] = estimate[ok] - half, estimate[ok] + half
        p_value[ok] = 2 * stats.t.sf(np.abs(estimate[ok]) / se[ok], df[ok])
    return Tests(estimate, low, high, p_value, why_not)


def mean_and_variance(
    numerator: Values, denominator: Values, square: Values
) -> tuple[Array, Array]:
    """Means and sample variances (ddof 1) from sums, sums of squares and counts (nan where a
    count is under 1 or 2)."""
    numerator, denominator, square = _as_arrays(numerator, denominator, square)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = numerator / denominator
        variance = np.maximum(square - denominator * mean * mean, 0.0) / (denominator - 1)
    return mean, np.where(denominator >= 2, variance, np.nan)


def two_proportion(events_a: float, n_a: float, events_b: float, n_b: float) -> Difference:
    """Rate b - rate a: two-proportion z-test (pooled) with Newcomb's 95% interval."""
    return two_proportion_tests(events_a, n_a, events_b, n_b).difference(0, TWO_PROPORTION)


def welch_from_sums(a: Sums, b: Sums) -> Difference:
    """Mean b - mean a: Welch's t-test from sufficient statistics (sum, sum of squares, n; the
    test of scipy's ttest_ind_from_stats with equal_var=False) and its 95% t interval."""
    mean_a, variance_a = mean_and_variance(a.numerator, a.denominator, a.square or 0.0)
    mean_b, variance_b = mean_and_variance(b.numerator, b.denominator, b.square or 0.0)
    tests = welch_tests(mean_b - mean_a, variance_a, a.denominator, variance_b, b.denominator)
    return tests.difference(0, WELCH_SUMS)


def welch_over_days(
    days_a: Sequence[float], days_b: Sequence[float], estimate: float
) -> Difference:
    """A heuristic test of a CX score difference: `estimate` (the windows' CX b - a) with the
    standard error of Welch's t over each window's daily CX values, as if days were independent
    samples. No test with fewer than 2 days on a side."""
    if len(days_a) < 2 or len(days_b) < 2:
        return no_test(estimate, "the CX score is tested over days; a side has under 2 days")
    variance_a, variance_b = np.var(days_a, ddof=1), np.var(days_b, ddof=1)
    tests = welch_tests(estimate, variance_a, len(days_a), variance_b, len(days_b))
    return tests.difference(0, WELCH_DAYS)


def compare(name: str, a: Measurement, b: Measurement) -> Difference:
    """Metric `name` of b minus a, tested as its kind demands (rate, mean or the CX score). Two
    periods (rather than two cohorts over one period, whose days move both sides alike) are
    tested with the variance widened for day-to-day variation, as the earlier period's days
    show it (analytics.dispersion)."""
    if name == CX_SCORE:
        return welch_over_days(a.daily_cx, b.daily_cx, b.values[name] - a.values[name])
    if is_mean(name):
        difference = welch_from_sums(a.sums[name], b.sums[name])
    else:
        first, second = a.sums[name], b.sums[name]
        difference = two_proportion(
            first.numerator, first.denominator, second.numerator, second.denominator
        )
    if (a.start, a.end) == (b.start, b.end) or not difference.tested:
        return difference
    earlier = a if a.start <= b.start else b  # a change inside the later period is no noise
    return widened(difference, day_dispersion(earlier.daily.get(name, ())))


def widened(difference: Difference, dispersion: Dispersion) -> Difference:
    """A tested difference with its variance multiplied by the dispersion factor, its interval
    and p-value read on a t distribution with the dispersion's degrees of freedom; unchanged,
    with a word on why, when the days are too few to estimate a factor or vary no more than
    order-level sampling says."""
    if not dispersion.df:
        method = f"{difference.method}; too few days to allow for day-to-day variation"
        return replace(difference, method=method)
    if dispersion.factor <= 1:
        method = f"{difference.method}; its days varied no more than their orders say"
        return replace(difference, method=method)
    assert difference.p_value is not None and difference.ci_low is not None
    assert difference.ci_high is not None
    root = math.sqrt(dispersion.factor)
    scale = root * stats.t.ppf(0.975, dispersion.df) / stats.norm.ppf(0.975)
    estimate = difference.estimate
    z = stats.norm.isf(difference.p_value / 2) / root
    return Difference(
        estimate,
        estimate - (estimate - difference.ci_low) * scale,
        estimate + (difference.ci_high - estimate) * scale,
        float(min(1.0, 2 * stats.t.sf(z, dispersion.df))),
        f"{difference.method}; variance x{dispersion.factor:.2f} for day-to-day variation "
        f"({dispersion.df} df; a heuristic: days as units)",
    )


# --- ranking the groups of a dimension ---------------------------------------------------------


@dataclass(frozen=True)
class RankedGroup:
    """One group of a ranking: its value, orders, sample size n, 95% interval (None for the CX
    score and counts), its difference from the rest of the cohort and that test's BH q-value."""

    group: str | int
    value: float
    orders: int
    n: float
    interval: tuple[float, float] | None
    versus_rest: Difference | None
    q_value: float | None


@dataclass(frozen=True)
class Ranking:
    """The groups of a dimension with enough orders, in rank order, and what was left out."""

    dimension: str
    metric: str
    count: bool
    order: Order
    descending: bool
    groups: tuple[RankedGroup, ...]
    overall: float
    excluded_groups: int
    min_orders: int
    rule: str


def ranks_events(name: str, count: bool) -> bool:
    """Whether a ranking by `name` asked with `count` ranks a rate's event counts: an order
    count is the orders' own value, not a count of their events."""
    return count and name != ORDERS


def ranks_descending(name: str, count: bool, order: Order) -> bool:
    """Whether the ranking puts the highest value first.

    highest/lowest are literal. worst/best follow the metric's direction: a higher CX score or
    rate of good events is better, a higher rate of bad events worse; counts of a rate's events
    follow the rate (the most cancellations are the worst, the fewest on-time deliveries are the
    worst); for order counts the fewest orders are the 'worst' (lowest) and the most the 'best'.
    """
    if order in ("highest", "lowest"):
        return order == "highest"
    higher_is_better = name in (CX_SCORE, ORDERS) or METRICS[name].higher_is_better
    return higher_is_better == (order == "best")


def _column(frame: pd.DataFrame, column: str) -> Array:
    """A frame column as floats, NULL (no matching rows) as 0."""
    return frame[column].astype(float).fillna(0.0).to_numpy()


def group_values(frame: pd.DataFrame, name: str, count: bool) -> tuple[Array, Array]:
    """Per row of a grouped frame: the ranked value and its sample size n."""
    orders = frame["orders"].astype(float).to_numpy()
    if name == ORDERS:
        return orders, orders
    if name == CX_SCORE:
        return frame[CX_SCORE].astype(float).to_numpy(), orders
    numerator, denominator = _column(frame, f"{name}_num"), _column(frame, f"{name}_den")
    if count:
        return numerator, denominator
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan), denominator


def _against_rest(
    frame: pd.DataFrame, name: str, rows: Array
) -> tuple[list[tuple[float, float] | None], list[Difference | None], list[float | None]]:
    """For the groups in `rows`: their 95% intervals (Wilson for rates, t for means), each
    group minus the rest of the cohort (every other row, ranked or not) tested, and the tests'
    Benjamini-Hochberg q-values over all these groups."""
    numerator, denominator = _column(frame, f"{name}_num"), _column(frame, f"{name}_den")
    own_num, own_den = numerator[rows], denominator[rows]
    rest_num, rest_den = numerator.sum() - own_num, denominator.sum() - own_den
    if is_mean(name):
        square = _column(frame, f"{name}_sq")
        own_mean, own_var = mean_and_variance(own_num, own_den, square[rows])
        rest_mean, rest_var = mean_and_variance(rest_num, rest_den, square.sum() - square[rows])
        tests = welch_tests(own_mean - rest_mean, rest_var, rest_den, own_var, own_den)
        with np.errstate(invalid="ignore"):
            half = stats.t.ppf(0.5 + CONFIDENCE / 2, own_den - 1) * np.sqrt(own_var / own_den)
        low, high, method = own_mean - half, own_mean + half, WELCH_SUMS
    else:
        tests = two_proportion_tests(rest_num, rest_den, own_num, own_den)
        low, high = proportion_confint(own_num, own_den, alpha=1 - CONFIDENCE, method="wilson")
        method = TWO_PROPORTION
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    q_values = np.full(len(rows), np.nan)
    tested = np.isfinite(tests.p_value)
    if tested.any():
        q_values[tested] = multipletests(tests.p_value[tested], method="fdr_bh")[1]
    return (
        [(float(a), float(b)) if np.isfinite(a) else None for a, b in zip(low, high, strict=True)],
        [tests.difference(i, method) for i in range(len(rows))],
        [float(q) if np.isfinite(q) else None for q in q_values],
    )


def group_name(value: object) -> str | int:
    """A group's value as a name: integers stay integers, a day is its ISO date."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, dt.datetime):  # pandas Timestamps too
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value if isinstance(value, str | int) else str(value)


def rank_groups(
    frame: pd.DataFrame,
    dimension: str,
    name: str,
    order: Order = "worst",
    count: bool = False,
    min_orders: int | None = None,
    dimensions: Dimensions = BUILT_IN,
) -> Ranking:
    """Rank the groups of `dimension` in a grouped metric frame (grain None, grouped by the
    dimension) by metric `name` (or ORDERS; with `count`, a rate's event count).

    Groups with fewer than `min_orders` orders (None: DEFAULT_MIN_ORDERS) or no denominator are
    left out and counted; rows with no value of the dimension are not ranked (but are part of
    the cohort). Ties are broken by the group's value (name), so the order is deterministic.
    Rates and means are each tested against the rest of the cohort (two-proportion z / Welch)
    with Benjamini-Hochberg q-values over all groups compared; the CX score and counts are not.
    """
    key = dimensions.canonical(dimension)
    count = ranks_events(name, count)
    if count and (name == CX_SCORE or is_mean(name)):
        raise ComparisonError(f"count ranks a rate's events; {name} is not a rate")
    threshold = DEFAULT_MIN_ORDERS if min_orders is None else min_orders
    rule = f"groups with at least {threshold} orders in the period" + (
        " (the default minimum-volume rule)" if min_orders is None else " (as asked)"
    )
    frame = frame.reset_index(drop=True)
    value, n = group_values(frame, name, count)
    present = frame[key].notna().to_numpy()
    eligible = present & (frame["orders"].to_numpy() >= threshold) & (n > 0) & np.isfinite(value)
    rows = np.flatnonzero(eligible)
    intervals: list[tuple[float, float] | None]
    differences: list[Difference | None]
    q_values: list[float | None]
    if name in (ORDERS, CX_SCORE) or count:
        intervals, differences, q_values = (
            [None] * len(rows),
            [None] * len(rows),
            [None] * len(rows),
        )
    else:
        intervals, differences, q_values = _against_rest(frame, name, rows)
    keys = frame[key].to_numpy()
    groups = [
        RankedGroup(
            group=group_name(keys[index]),
            value=float(value[index]),
            orders=int(frame["orders"].iloc[index]),
            n=float(n[index]),
            interval=intervals[position],
            versus_rest=differences[position],
            q_value=q_values[position],
        )
        for position, index in enumerate(rows)
    ]
    descending = ranks_descending(name, count, order)
    groups.sort(key=lambda g: (-g.value if descending else g.value, g.group))
    return Ranking(
        dimension=key,
        metric=name,
        count=count,
        order=order,
        descending=descending,
        groups=tuple(groups),
        overall=overall_value(frame, name, count),
        excluded_groups=int((present & ~eligible).sum()),
        min_orders=threshold,
        rule=rule,
    )


def overall_value(frame: pd.DataFrame, name: str, count: bool) -> float:
    """The whole cohort's value (every row, ranked or not): total orders or events, the ratio
    of the summed sums, or the CX score of the summed sub-metrics."""
    if name == ORDERS:
        return float(frame["orders"].sum())
    if name == CX_SCORE:
        return cx_score_of({m: sums_of(frame, m).value for m in CX_COMPONENTS})
    totals = sums_of(frame, name)
    return totals.numerator if count else totals.value


def orders_query(
    dimension: str,
    filters: Mapping[str, FilterValue],
    start: dt.datetime,
    end: dt.datetime,
    dimensions: Dimensions = BUILT_IN,
) -> tuple[str, list[object]]:
    """Orders per group of `dimension` in a cohort and window (ranking by order count)."""
    key = dimensions.canonical(dimension)
    where, parameters = where_clause(filters, dimensions)
    sql = (
        f"SELECT {dimensions.column(dimension)} AS {key}, count(*) AS orders FROM order_facts "
        f"WHERE {where} AND order_time >= ? AND order_time < ? GROUP BY 1 ORDER BY 1"
    )
    return sql, [*parameters, start, end]


# --- what a world holds ------------------------------------------------------------------------

_BASKET_SIZES = ("small", "medium", "large")  # the order_facts basket_size labels, smallest first


@dataclass(frozen=True)
class WorldProfile:
    """What a warehouse holds: the orders' span, rows per table and the cohort vocabulary
    (values of each dimension in order_facts, the number of stores, and the custom dimensions
    with their groups)."""

    data_start: dt.datetime
    data_end: dt.datetime
    days: int
    orders: int
    rows: dict[str, int]
    regions: tuple[str, ...]
    categories: tuple[str, ...]
    dayparts: tuple[str, ...]
    basket_sizes: tuple[str, ...]
    stores: int
    custom_dimensions: tuple[CustomDimension, ...] = ()


def _listed(column: str) -> str:
    # NULLS FIRST: no null is listed, and it is every engine's default ascending order but
    # DuckDB's, so sqlglot has nothing to write for BigQuery (which cannot say NULLS LAST here).
    return (
        f"list(DISTINCT {column} ORDER BY {column} NULLS FIRST) FILTER (WHERE {column} IS NOT NULL)"
    )


def _in_order(values: Sequence[str] | None, known: Sequence[str]) -> tuple[str, ...]:
    """`values` in the order of `known`, unknown ones after them alphabetically."""
    rank = {value: index for index, value in enumerate(known)}
    return tuple(sorted(values or (), key=lambda v: (rank.get(v, len(known)), v)))


def world_profile(con: duckdb.DuckDBPyConnection) -> WorldProfile:
    """The warehouse's span, orders, rows per table and dimension values (two queries)."""
    orders, days, first, last, stores, regions, categories, dayparts, baskets = one_row(
        con.execute(
            "SELECT count(*), count(DISTINCT day), min(order_time), max(order_time), "
            f"count(DISTINCT store_id), {_listed('region')}, {_listed('category')}, "
            f"{_listed('daypart')}, {_listed('basket_size')} FROM order_facts"
        )
    )
    if not orders:
        raise ComparisonError("the warehouse holds no orders")
    tables = [
        name
        for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_name <> 'order_facts' ORDER BY table_name"
        ).fetchall()
    ]
    counted = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM \"{t}\"" for t in tables)
    rows = dict(con.execute(counted).fetchall()) if tables else {}
    return WorldProfile(
        data_start=first,
        data_end=last,
        days=int(days),
        orders=int(orders),
        rows={t: int(rows[t]) for t in tables},
        regions=tuple(regions or ()),
        categories=tuple(categories or ()),
        dayparts=_in_order(dayparts, tuple(DAYPARTS)),
        basket_sizes=_in_order(baskets, _BASKET_SIZES),
        stores=int(stores),
        custom_dimensions=world_dimensions(con).custom,
    )
