"""The metrics registry: every CX sub-metric and the CX score, defined once as SQL over order_facts.

Each metric is a ratio of two sums (numerator / denominator), so it aggregates correctly to any
grain and cohort, and detection can take a rate's variance from its denominator. The SQL is plain
(no UDFs), so porting to another engine is a transpile.

CX score (0-100) = 0.30 on-time + 0.25 item accuracy + 0.15 (1 - cancellation) + 0.15 (1 - refund)
+ 0.10 (1 - support contact) + 0.05 rating, each sub-score on 0-100 (rates as 100 x rate or
100 x (1 - rate), rating as 100 x (stars - 1) / 4). Where a sub-score is unavailable (the data
lacks it, or a bucket has none of its denominator) the weights of the others are renormalized.
A sub-score whose data is degenerate over the whole warehouse (constant over at least
CONSTANT_MIN_ORDERS orders, or present for under NEAR_EMPTY_SHARE of the orders) is left out the
same way, and named with why: a mapping that writes `canceled_flag: "false"` says nothing about
cancellations, and a constant 100 would only flatten the score.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar, cast

import duckdb
import numpy as np
import pandas as pd

from analytics.cohorts import (
    BUILT_IN,
    Dimensions,
    FilterValue,
    where_clause,
    world_dimensions,
)
from analytics.rows import one_row
from data.engines.base import data_stamp
from data.quality import CONSTANT_MIN_ROWS, NEAR_EMPTY_NULL_RATE
from data.schema import ON_TIME_GRACE_MINUTES, ORDER_FACTS
from data.warehouse import FACT_COLUMNS

T = TypeVar("T")

Grain = Literal["hour", "day"]  # the grains detection reads (alarms, incidents)
# The grains a metric series may be read at: a detection grain, or a week (Monday to Sunday).
SeriesGrain = Literal["hour", "day", "week"]


@dataclass(frozen=True)
class Outcome:
    """A rate's outcome order by order, as order-level tests and attributions read it: `sql` is
    1 for an order with the bad outcome and 0 for one without, on the orders `rows` selects;
    `phrase` names the rate of the bad outcome ("late rate" for the on-time rate)."""

    sql: str
    rows: str
    phrase: str


@dataclass(frozen=True)
class Lateness:
    """A rate of delivered orders read off their lateness (actual - promised minutes): an order
    counts when its lateness is above `minutes` (`above`), else when it is at most `minutes`.
    What-if estimates move such a rate with the simulated lateness."""

    minutes: float
    above: bool

    def counts(self, lateness: np.ndarray) -> np.ndarray:
        """Whether each order (an array of lateness minutes) counts for the rate."""
        return lateness > self.minutes if self.above else lateness <= self.minutes


@dataclass(frozen=True)
class Metric:
    """A ratio metric over order_facts, and everything the layers above read about it.

    `score` maps the value linearly to its 0-100 CX sub-score (used when cx_weight > 0).
    `requires` lists the order_facts columns that must hold data for the metric to be available.
    `short` heads its column in `cxagent cx`; `synonyms` is the regular expression (over a
    lowercased question) of the words that name it; `scan_rank` puts it in the detection scan
    at that place (1 first, after the CX score; 0: not scanned; the order breaks ties between
    metrics that moved alike); `corroborates` marks a driver read beside that scan that never
    alarms itself: where it moves far, a smaller move of a scanned metric in the same cohort and
    window alarms (analytics.alarms, `corroborate`);
    `outcome` and `lateness` say how order-level tests and what-if estimates read a rate;
    `signs` says what a signed mean's positive and negative values mean;
    `stand_in` names the registry metrics that may be read in its place where the warehouse
    cannot compute it, the first it can compute that varies (the on-time rate without promised
    times: the slow-delivery rate, else delivery duration where no delivery takes an hour).
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
    score: tuple[float, float] = (0.0, 0.0)  # 0-100 sub-score = intercept + slope * value
    square: str = ""  # SQL sum of squared values, for means (their variance); empty for rates
    event_phrase: str = ""  # for a rate of orders, what its counted orders did: "were canceled"
    # SQL of one order's value (NULL where the order is not in the denominator): 1/0 for a rate
    # of orders, the value for a mean; key drivers model it order by order.
    per_order: str = ""
    short: str = ""
    synonyms: str = ""
    scan_rank: int = 0
    corroborates: bool = False
    outcome: Outcome | None = None
    lateness: Lateness | None = None
    stand_in: tuple[str, ...] = ()
    # for a signed mean, what a positive and a negative value mean ("later than quoted")
    signs: tuple[str, str] | None = None

    @property
    def header(self) -> str:
        """The metric's column header in a terminal table."""
        return self.short or self.name


def _rate(
    name: str,
    label: str,
    event: str,
    among: str,
    higher_is_better: bool,
    outcome_phrase: str = "",
    **extra,
) -> Metric:
    """A share of orders: count of `event` over count of non-null `among`. With
    `outcome_phrase`, its per-order outcome (the bad one: the event, or its absence for a rate
    where higher is better) is read by order-level tests under that name."""
    if outcome_phrase:
        bad = f"NOT ({event})" if higher_is_better else f"({event})"
        rows = f"{among} IS NOT NULL"
        extra["outcome"] = Outcome(f"CAST({bad} AS INTEGER)", rows, outcome_phrase)
    return Metric(
        name=name,
        label=label,
        unit="share",
        numerator=f"count(*) FILTER (WHERE {event})",
        denominator=f"count({among})",
        higher_is_better=higher_is_better,
        requires=(among,),
        per_order=f"CASE WHEN {among} IS NOT NULL THEN CAST(({event}) AS DOUBLE) END",
        **extra,
    )


def _mean(name: str, label: str, unit: str, value: str, column: str, **extra) -> Metric:
    """A mean over orders where `column` is not null."""
    return Metric(
        name=name,
        label=label,
        unit=unit,
        # Exact fixed-point sums: a floating-point sum's last bits depend on the order in which
        # DuckDB's threads add rows up, and results must not change from run to run.
        numerator=f"CAST(sum(CAST({value} AS DECIMAL(38, 12))) AS DOUBLE)",
        denominator=f"count({column})",
        square=f"CAST(sum(CAST(({value}) * ({value}) AS DECIMAL(38, 12))) AS DOUBLE)",
        requires=(column,),
        per_order=f"CASE WHEN {column} IS NOT NULL THEN CAST(({value}) AS DOUBLE) END",
        **extra,
    )


SLOW_DELIVERY_MIN = 60  # a delivery slower than this counts as slow (slow_rate)
VERY_LATE_MIN = 20  # an arrival this many minutes after the promised time is very late


METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        _rate(
            "on_time_rate",
            "On-time rate",
            "on_time",
            "on_time",
            True,
            description="Delivered orders arriving by promised_eta + 5 min / delivered orders.",
            event_phrase="arrived on time",
            cx_weight=0.30,
            score=(0.0, 100.0),
            short="on-time",
            synonyms=r"\bon[\s-]*time\b|\bontime\b|(?<!very\s)(?<!very-)\blate\b(?![\s-]*night)"
            # "are large baskets later?" ("a week later", "later this month" are no lateness)
            r"|(?<!days\s)(?<!day\s)(?<!weeks\s)(?<!week\s)(?<!hours\s)(?<!hour\s)"
            r"(?<!months\s)(?<!month\s)\blater\b(?!\s+(?:this|that|next|today|tonight|tomorrow"
            r"|in\s+the\s+(?:day|week|month|year)|on\s*[,.?!]|on\s*$)\b)"
            r"|\blateness\b|\beta\s+miss\w*|\bmissed\s+etas?\b|\bdelay\w*|\btardi\w*"
            r"|\bsla\b|\bpromise\s+(?:kept|rate)\b",
            scan_rank=1,
            outcome_phrase="late rate",
            lateness=Lateness(ON_TIME_GRACE_MINUTES, above=False),
            stand_in=("slow_rate", "duration_min"),
        ),
        Metric(
            name="item_accuracy",
            label="Item accuracy",
            unit="share",
            numerator=(
                "sum(item_lines - substituted_lines - missing_lines) FILTER (WHERE delivered)"
            ),
            denominator="sum(item_lines) FILTER (WHERE delivered)",
            higher_is_better=True,
            requires=("item_lines", "substituted_lines", "missing_lines"),
            description="1 - (substituted + missing lines) / ordered lines, over delivered orders.",
            per_order="CASE WHEN delivered AND item_lines > 0 THEN CAST(item_lines - "
            "substituted_lines - missing_lines AS DOUBLE) / item_lines END",
            cx_weight=0.25,
            score=(0.0, 100.0),
            short="accuracy",
            synonyms=r"\bitem[\s-]*accuracy\b|\bmissing\s+(?:items?|lines?|products?)\b"
            r"|\bsubstitut\w*|\bsubs\b|\bwrong\s+(?:items?|products?)\b"
            r"|\bout[\s-]*of[\s-]*stocks?\b|\baccuracy\b",
            scan_rank=4,
            outcome=Outcome(
                "CAST(substituted_lines + missing_lines > 0 AS INTEGER)",
                "delivered AND item_lines > 0",
                "share of orders with a substituted or missing line",
            ),
        ),
        _rate(
            "cancellation_rate",
            "Cancellation rate",
            "canceled",
            "canceled",
            False,
            description="Canceled orders / orders.",
            event_phrase="were canceled",
            cx_weight=0.15,
            score=(100.0, -100.0),
            short="cancel",
            synonyms=r"\bcancel\w*",
            scan_rank=2,
            outcome_phrase="cancellation rate",
        ),
        _rate(
            "refund_rate",
            "Refund rate",
            "refunded",
            "refunded",
            False,
            description="Orders with refund_amount > 0 / orders.",
            event_phrase="were refunded",
            cx_weight=0.15,
            score=(100.0, -100.0),
            short="refund",
            synonyms=r"\brefund\w*",
            scan_rank=3,
            outcome_phrase="refund rate",
        ),
        _rate(
            "support_rate",
            "Support-contact rate",
            "support_contact",
            "support_contact",
            False,
            description="Orders with at least one support ticket / orders.",
            event_phrase="contacted support",
            cx_weight=0.10,
            score=(100.0, -100.0),
            short="support",
            synonyms=r"\bsupport\b|\btickets?\b|\bcontacts?\b|\bcomplain\w*",
            outcome_phrase="support-contact rate",
        ),
        _mean(
            "rating",
            "Mean rating",
            "stars",
            "stars",
            "stars",
            higher_is_better=True,
            description="Mean stars (1-5) of rated orders.",
            cx_weight=0.05,
            score=(-25.0, 25.0),
            short="stars",
            synonyms=r"\bratings?\b|\bstars?\b|\brated\b|\breviews?\b",
        ),
        _rate(
            "very_late_rate",
            "Very-late rate",
            f"eta_error_min > {VERY_LATE_MIN}",
            "eta_error_min",
            False,
            description=f"Delivered orders arriving more than {VERY_LATE_MIN} min after the "
            "promised time / delivered orders with a promised time.",
            event_phrase="arrived very late",
            short="very late",
            synonyms=r"\bvery[\s-]+late\b|\bseverely\s+late\b|\bway\s+late\b",
            outcome_phrase="very-late rate",
            lateness=Lateness(VERY_LATE_MIN, above=True),
        ),
        _mean(
            "eta_abs_error_min",
            "ETA error (MAE)",
            "minutes",
            "abs(eta_error_min)",
            "eta_error_min",
            higher_is_better=False,
            description="Mean absolute (actual - promised) minutes over delivered orders.",
            synonyms=r"\beta\s+(?:errors?|accuracy|mae)\b|\bmean\s+absolute\s+eta\b"
            r"|\baccura\w*\s+(?:\w+\s+){0,3}etas?\b|\betas?\s+(?:\w+\s+){0,2}accura\w*"
            r"|\bhow\s+(?:good|bad|reliable|far\s+off)\s+(?:are|is|were|was)\s+(?:our\s+|the\s+)?"
            r"(?:etas?|quotes?|quoted\s+times?)\b|\beta\s+quality\b",
            scan_rank=5,
        ),
        _mean(
            "eta_bias_min",
            "ETA bias",
            "minutes",
            "eta_error_min",
            "eta_error_min",
            higher_is_better=False,
            description="Mean signed (actual - promised) minutes; positive = later than quoted.",
            signs=("later than quoted", "earlier than quoted"),
            synonyms=r"\beta\s+(?:model\s+)?bias(?:ed)?\b|\b(?:over|under)[\s-]*quot\w*"
            r"|\b(?:quot\w*|etas?)\s+(?:\w+\s+){0,2}too\s+(?:short|long|low|high|tight|optimistic"
            r"|aggressive|conservative)\b",
        ),
        _mean(
            "duration_min",
            "Delivery duration",
            "minutes",
            "duration_min",
            "duration_min",
            higher_is_better=False,
            description="Mean minutes from order to arrival over delivered orders.",
            short="minutes",
            synonyms=r"\bslow\w*\b(?![\s-]*(?:delivery\s+)?(?:rate|share))"
            r"|\bdelivery[\s-]*(?:times?|speed)\b|\bduration\w*"
            r"|\b(?:take|takes|taking|took)\s+(?:\w+\s+)?long(?:er|est)\b"
            r"|\blong(?:er|est)\s+deliver\w*"
            r"|\bhow\s+long\b[^?.]{0,30}\bdeliver\w*"
            r"|\btime\s+to\s+deliver\w*|\bdeliver(?:y|ies)\s+(?:take|took|takes)\b"
            r"|\bhow\s+(?:fast|quick(?:ly)?)\b|\b(?:fast|quick)(?:er|est)?\s+deliver\w*"
            r"|\b(?:faster|quicker)\b",
            scan_rank=6,
        ),
        _rate(
            "slow_rate",
            "Slow-delivery rate",
            f"duration_min > {SLOW_DELIVERY_MIN}",
            "duration_min",
            False,
            event_phrase="were slow deliveries",
            # A count or share of slow ones ("how many deliveries were slow"); "slow" alone
            # asks about delivery time (duration_min).
            synonyms=r"\b(?:how\s+many|number\s+of|count\s+of|share\s+of|percent(?:age)?\s+of"
            r"|fraction\s+of|most|fewest|least)\s+(?:\w+\s+){0,3}?slow\b"
            r"|\bslow[\s-]*(?:delivery\s+)?(?:rate|share)\b",
            description=f"Delivered orders taking over {SLOW_DELIVERY_MIN} min from order to "
            "arrival / delivered orders. A fixed threshold (a heuristic): where no ETA was "
            "promised it stands in for lateness when slices of a duration incident are sought.",
            outcome_phrase="slow-delivery rate",
        ),
        _rate(
            "batched_rate",
            "Batched share",
            "batched",
            "batched",
            False,
            description="Orders carried together with another / orders (a driver).",
            event_phrase="were batched",
            synonyms=r"\bbatch(?:ed|ing)\s+(?:rate|share)\b|\bshare\s+batched\b"
            r"|\bbatched\s+orders\b|\b(?:were|was|are|is|got|get|gets|being)\s+batched\b",
        ),
        _mean(
            "prep_min",
            "Merchant prep time",
            "minutes",
            "prep_min",
            "prep_min",
            higher_is_better=False,
            description="Mean merchant prep minutes (a driver).",
            synonyms=r"\bprep(?:aration)?[\s-]*times?\b|\bprep\s+minutes\b",
        ),
        _mean(
            "dasher_wait_min",
            "Dasher wait",
            "minutes",
            "dasher_wait_min",
            "dasher_wait_min",
            higher_is_better=False,
            description="Mean minutes a ready order waited for its dasher (a driver).",
            corroborates=True,
            synonyms=r"\bdashers?[\s-]*wait\w*|\bwait\w*\s+(?:time\s+)?for\s+(?:a\s+)?"
            r"(?:dashers?|drivers?|couriers?)\b",
        ),
    )
}
CX_COMPONENTS: tuple[str, ...] = tuple(name for name, m in METRICS.items() if m.cx_weight)
# The rates order-level tests and attributions read (the bad outcome of each, order by order).
OUTCOME_METRICS: tuple[str, ...] = tuple(name for name, m in METRICS.items() if m.outcome)
CX_METRICS: tuple[str, ...] = (*CX_COMPONENTS, "eta_abs_error_min", "duration_min")
CX_SCORE = "cx_score"
# The words that name the CX score in a question (the metrics' own are in their entries).
CX_SYNONYMS = r"\bcx\b|\bcustomer[\s-]+experience\b|\bsatisf\w*|\bcsat\b"


class MetricError(ValueError):
    """An unknown metric or an unusable query."""


def metric(name: str) -> Metric:
    """The registry entry of `name`."""
    if name not in METRICS:
        raise MetricError(f"unknown metric {name!r}; known: {CX_SCORE}, {', '.join(METRICS)}")
    return METRICS[name]


def higher_is_better(name: str) -> bool:
    """Whether a higher value of metric `name` (the CX score or a registry metric) is better."""
    return name == CX_SCORE or METRICS[name].higher_is_better


def available_metrics(con: duckdb.DuckDBPyConnection) -> dict[str, bool]:
    """Per metric, whether the warehouse holds usable data for every column it requires (a CX
    sub-score whose data is degenerate is not available). Kept per warehouse file."""
    return dict(per_warehouse_file(con, "available_metrics", _available_metrics))


def _available_metrics(con: duckdb.DuckDBPyConnection) -> dict[str, bool]:
    columns = sorted({column for m in METRICS.values() for column in m.requires})
    counts = one_row(
        con.execute(
            "SELECT "
            + ", ".join(f"count({column}) AS {column}" for column in columns)
            + " FROM order_facts"
        )
    )
    present = {column for column, count in zip(columns, counts, strict=True) if count}
    degenerate = degenerate_metrics(con)
    return {
        name: all(c in present for c in m.requires) and name not in degenerate
        for name, m in METRICS.items()
    }


# The data-quality report's thresholds: a constant needs this many orders (below it, a rare
# event's zero count is plausible: 1% -> 0.7%), and data on under 1% of the orders is too little.
CONSTANT_MIN_ORDERS = CONSTANT_MIN_ROWS
NEAR_EMPTY_SHARE = round(1.0 - NEAR_EMPTY_NULL_RATE, 6)


def _show_value(m: Metric, value: float) -> str:
    return f"{100 * value:.0f}%" if m.unit == "share" else f"{value:g} {m.unit}"


@dataclass(frozen=True)
class Degenerate:
    """Why a CX sub-score's data carries no information: constant, or nearly empty."""

    kind: Literal["constant", "nearly empty"]
    detail: str  # e.g. 'the cancellation rate is 0% over all 19,743 orders'

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


def degenerate_metrics(con: duckdb.DuckDBPyConnection) -> dict[str, Degenerate]:
    """Per CX sub-score whose data is degenerate over the whole warehouse, why: constant over at
    least CONSTANT_MIN_ORDERS orders (a mapped constant, e.g. `canceled_flag: "false"`) or
    present for under NEAR_EMPTY_SHARE of the orders. Sub-scores with no data are not listed
    (they are simply unavailable). Every metric query asks this (analysis_source): kept per
    warehouse file."""
    return dict(per_warehouse_file(con, "degenerate_metrics", _degenerate_metrics))


# What metric queries ask of a whole warehouse (its metrics' availability, degenerate data),
# kept per file and keyed by its path, inode, size and times, so a changed or replaced file is
# read again: one full scan of order_facts per question, not one per query.
_PER_FILE: OrderedDict[tuple[object, ...], object] = OrderedDict()
_PER_FILE_LOCK = threading.Lock()
_PER_FILE_ENTRIES = 64


def per_warehouse_file(
    con: duckdb.DuckDBPyConnection, name: str, compute: Callable[[duckdb.DuckDBPyConnection], T]
) -> T:
    """`compute(con)`, kept per warehouse file (not kept for in-memory databases). Callers copy
    what they hand out: the kept value is shared."""
    stamp = data_stamp(con)
    key = (name, stamp)
    with _PER_FILE_LOCK:
        if stamp is not None and key in _PER_FILE:
            _PER_FILE.move_to_end(key)
            return cast(T, _PER_FILE[key])  # kept by this name's `compute`
    value = compute(con)
    if stamp is not None:
        with _PER_FILE_LOCK:
            _PER_FILE[key] = value
            while len(_PER_FILE) > _PER_FILE_ENTRIES:
                _PER_FILE.popitem(last=False)
    return value


def _degenerate_metrics(con: duckdb.DuckDBPyConnection) -> dict[str, Degenerate]:
    parts = ["count(*)"]
    for name in CX_COMPONENTS:
        m = METRICS[name]
        if m.square:  # a mean is constant when its least and greatest values are one
            column = m.requires[0]
            parts += [f"count({column})", f"min({column})", f"max({column})"]
        else:  # a ratio is constant when its numerator is 0 or all of its denominator
            parts += [m.denominator, m.numerator, "NULL"]
    row = one_row(con.execute(f"SELECT {', '.join(parts)} FROM order_facts"))
    orders = int(row[0])
    found = {}
    for index, name in enumerate(CX_COMPONENTS):
        m = METRICS[name]
        denominator, first, last = row[1 + 3 * index : 4 + 3 * index]
        denominator = int(denominator or 0)
        if not denominator:
            continue
        if m.square:
            value, constant = float(first), first == last
        else:
            value = float(first or 0) / denominator
            constant = value in (0.0, 1.0)
        if denominator < NEAR_EMPTY_SHARE * orders:
            found[name] = Degenerate(
                "nearly empty",
                f"held by {denominator:,} of {orders:,} orders, {denominator / orders:.1%}",
            )
        elif constant and denominator >= CONSTANT_MIN_ORDERS:
            found[name] = Degenerate(
                "constant",
                f"the {m.label.lower()} is {_show_value(m, value)} over all {denominator:,} orders",
            )
    return found


def columns_with_data(con: duckdb.DuckDBPyConnection, requirements: Iterable[str]) -> set[str]:
    """The 'table.column' requirements that exist in the warehouse and hold at least one value."""
    requirements = sorted(set(requirements))
    existing = {
        f"{table}.{column}"
        for table, column in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
        ).fetchall()
    }
    by_table: dict[str, list[str]] = {}
    for requirement in requirements:
        if requirement in existing:
            table, column = requirement.split(".")
            by_table.setdefault(table, []).append(column)
    found = set()
    for table, columns in by_table.items():
        counts = one_row(
            con.execute(f"SELECT {', '.join(f'count({c})' for c in columns)} FROM {table}")
        )
        found |= {f"{table}.{c}" for c, n in zip(columns, counts, strict=True) if n}
    return found


def stand_in_for(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """The registry metric read in place of metric `name` when the warehouse cannot compute
    it: the first of its stand-ins that it can compute and that varies over its orders (None:
    `name` is computable, or no stand-in is)."""
    gaps = metric_gaps(con)
    if name not in gaps:
        return None
    varying = varying_metrics(con)
    return next((m for m in METRICS[name].stand_in if m not in gaps and m in varying), None)


def varying_metrics(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The registry metrics whose per-order values are not all one value (a slow-delivery rate
    of 0% where no delivery takes an hour does not vary). Kept per warehouse file."""
    return set(per_warehouse_file(con, "varying_metrics", _varying_metrics))


def _varying_metrics(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    names = [name for name, m in METRICS.items() if m.per_order]
    ranges = ", ".join(
        f"min({METRICS[name].per_order}), max({METRICS[name].per_order})" for name in names
    )
    row = one_row(con.execute(f"SELECT {ranges} FROM order_facts"))
    return frozenset(
        name
        for index, name in enumerate(names)
        if row[2 * index] is not None and row[2 * index] != row[2 * index + 1]
    )


def metric_gaps(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Per unavailable metric, what it lacks: the source columns ('table.column') that are
    absent or empty, or else the order_facts columns that hold no data; for a CX sub-score
    left out as degenerate, its source columns and why ('deliveries.canceled_flag is constant:
    ...'). Kept per warehouse file."""
    gaps = per_warehouse_file(con, "metric_gaps", _metric_gaps)
    return {name: list(needs) for name, needs in gaps.items()}


def _metric_gaps(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    sources = {column.name: column.requires for column in FACT_COLUMNS}
    needed = {r for m in METRICS.values() for c in m.requires for r in sources.get(c, ())}
    present = columns_with_data(con, needed)
    tables = {
        row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    degenerate = degenerate_metrics(con)
    gaps = {}
    for name, usable in available_metrics(con).items():
        if usable:
            continue
        wanted = [r for c in METRICS[name].requires for r in sources.get(c, ())]
        if name in degenerate:
            varying = "a varying" if degenerate[name].kind == "constant" else "enough"
            gaps[name] = [f"{varying} {_sources_of(name)} ({degenerate[name].detail})"]
            continue
        missing = [
            r if r.split(".")[0] in tables else f"{r.split('.')[0]} table"
            for r in wanted
            if r not in present
        ]
        missing = list(dict.fromkeys(missing))
        gaps[name] = missing or [f"order_facts.{c}" for c in METRICS[name].requires]
    return gaps


def _sources_of(name: str) -> str:
    """The source columns behind a metric ('deliveries.canceled_flag'), for messages."""
    sources = {column.name: column.requires for column in FACT_COLUMNS}
    wanted = [r for c in METRICS[name].requires for r in sources.get(c, ())]
    return ", ".join(dict.fromkeys(wanted)) or ", ".join(METRICS[name].requires)


@dataclass(frozen=True)
class CxCoverage:
    """Which CX sub-scores a warehouse supports: their renormalized weights, what the missing
    ones lack (source columns), and those left out as degenerate, with why ('deliveries.
    canceled_flag is constant: ...')."""

    weights: dict[str, float]
    missing: dict[str, list[str]]
    left_out: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """One sentence naming the parts of the CX score, e.g. for a tool summary."""
        if not self.missing:
            return "CX score over all six sub-scores"
        lacking = "; ".join(
            f"{METRICS[name].label.lower()} "
            + (
                f"(left out: {self.left_out[name]})"
                if name in self.left_out
                else f"(no {', '.join(needs)})"
            )
            for name, needs in self.missing.items()
        )
        if not self.weights:
            return f"CX score unavailable: none of its sub-scores has data; missing {lacking}"
        parts = ", ".join(
            f"{METRICS[name].label.lower()} {weight:.0%}" for name, weight in self.weights.items()
        )
        return f"CX score over {parts} (weights renormalized); missing {lacking}"


def cx_coverage(con: duckdb.DuckDBPyConnection) -> CxCoverage:
    """The CX sub-scores the warehouse supports, with renormalized weights."""
    degenerate = degenerate_metrics(con)
    gaps = metric_gaps(con)
    present = [name for name in CX_COMPONENTS if name not in gaps]
    total = sum(METRICS[name].cx_weight for name in present)
    return CxCoverage(
        weights={name: round(METRICS[name].cx_weight / total, 4) for name in present},
        missing={name: gaps[name] for name in CX_COMPONENTS if name in gaps},
        left_out={
            name: f"{_sources_of(name)} is {degenerate[name]}"
            for name in CX_COMPONENTS
            if name in degenerate
        },
    )


def usable_metrics(con: duckdb.DuckDBPyConnection, names: Sequence[str]) -> tuple[str, ...]:
    """`names` without the metrics the warehouse has no data for (the CX score stays while any
    of its sub-scores has data)."""
    available = available_metrics(con)
    return tuple(
        name
        for name in names
        if (any(available[c] for c in CX_COMPONENTS) if name == CX_SCORE else available[name])
    )


def cx_score_sql(prefix: str = "") -> str:
    """SQL for the CX score from the sub-metric value columns, renormalizing over non-null ones."""
    weighted, weights = [], []
    for name in CX_COMPONENTS:
        m = METRICS[name]
        intercept, slope = m.score
        value = f"{prefix}{name}"
        weighted.append(f"coalesce({m.cx_weight} * ({intercept} + {slope} * {value}), 0)")
        weights.append(f"CASE WHEN {value} IS NULL THEN 0 ELSE {m.cx_weight} END")
    return f"({' + '.join(weighted)}) / nullif({' + '.join(weights)}, 0)"


def _period_sql(grain: SeriesGrain | None) -> str | None:
    if grain is None:
        return None
    if grain == "hour":
        return "hour_start"
    if grain == "day":
        return "CAST(day AS TIMESTAMP)"
    if grain == "week":  # DuckDB's weeks start on Monday (ISO 8601)
        return "CAST(date_trunc('week', day) AS TIMESTAMP)"
    raise MetricError(f"unknown grain {grain!r}; use 'hour', 'day' or 'week'")


# Outcome columns and when each becomes known (as SQL over `known_by`, the time of reading).
_OUTCOME_COLUMNS = (
    "delivered",
    "canceled",
    "on_time",
    "eta_error_min",
    "duration_min",
    "refunded",
    "refund_amount",
)


def _left_out_columns(con: duckdb.DuckDBPyConnection) -> tuple[str, ...]:
    """The order_facts columns of the CX sub-scores left out as degenerate."""
    degenerate = degenerate_metrics(con)
    return tuple(dict.fromkeys(c for name in degenerate for c in METRICS[name].requires))


def analysis_source(con: duckdb.DuckDBPyConnection) -> str:
    """order_facts for metric queries: the columns of sub-scores left out as degenerate read
    as NULL, so every reading of them (and of the CX score) treats them as unavailable."""
    return _facts_source(None, None, _left_out_columns(con))[0]


def _facts_source(
    grain: SeriesGrain | None, maturity: dt.timedelta | None, left_out: Sequence[str] = ()
) -> tuple[str, list[object]]:
    """order_facts as it was known `maturity` after each period ended (no later outcomes), with
    the `left_out` columns NULL.

    Orders whose delivery outcome came later have their outcome columns nulled (they still
    count as orders); tickets and ratings count only if created by then.
    """
    nulled = {name: f"CAST(NULL AS {ORDER_FACTS.column(name).type})" for name in left_out}
    if maturity is None:
        if not nulled:
            return "order_facts", []
        return f"(SELECT {_star_replacing(nulled)} FROM order_facts) AS facts", []
    seconds = int(maturity.total_seconds())
    parameters: list[object]
    if grain == "hour":
        known_by, parameters = f"hour_start + INTERVAL {3600 + seconds} SECOND", []
    elif grain == "day":
        known_by, parameters = f"CAST(day AS TIMESTAMP) + INTERVAL {86400 + seconds} SECOND", []
    elif grain == "week":
        known_by = f"{_period_sql('week')} + INTERVAL {7 * 86400 + seconds} SECOND"
        parameters = []
    else:
        known_by, parameters = "CAST(? AS TIMESTAMP)", [None]
    resolved = f"(resolved_at IS NULL OR resolved_at <= {known_by})"
    replaced = {name: f"CASE WHEN {resolved} THEN {name} END" for name in _OUTCOME_COLUMNS}
    replaced["support_contact"] = (
        f"CASE WHEN support_contact IS NULL THEN NULL "
        f"ELSE coalesce(first_ticket_at <= {known_by}, false) END"
    )
    replaced["stars"] = f"CASE WHEN rated_at <= {known_by} THEN stars END"
    replaced.update(nulled)
    uses = sum(expression.count("?") for expression in replaced.values())
    return f"(SELECT {_star_replacing(replaced)} FROM order_facts) AS known", parameters * uses


def _star_replacing(replaced: Mapping[str, str]) -> str:
    """Every order_facts column (custom dimensions too), those in `replaced` as given, in
    schema order (so the parameters of the replacing expressions keep their order)."""
    ordered = [c.name for c in ORDER_FACTS.columns if c.name in replaced]
    return f"* REPLACE ({', '.join(f'{replaced[name]} AS {name}' for name in ordered)})"


def metrics_sql(
    metrics: Sequence[str],
    grain: SeriesGrain | None,
    group_by: Sequence[str],
    where: str,
    source: str = "order_facts",
    dimensions: Dimensions = BUILT_IN,
) -> str:
    """The query behind `metric_frame` (parameters: source, cohort filter values, time window);
    `dimensions` resolves the group-by names."""
    period = _period_sql(grain)
    keys = ([f"{period} AS period"] if period else []) + [
        f"{dimensions.column(d)} AS {dimensions.canonical(d)}" for d in group_by
    ]
    key_names = (["period"] if period else []) + [dimensions.canonical(d) for d in group_by]
    needed = list(dict.fromkeys([*metrics, *(CX_COMPONENTS if CX_SCORE in metrics else ())]))
    needed = [name for name in needed if name != CX_SCORE]
    sums = []
    for name in needed:
        m = METRICS[name]
        sums.append(f"{m.numerator} AS {name}_num, {m.denominator} AS {name}_den")
        if m.square:
            sums.append(f"{m.square} AS {name}_sq")
    values = [f"{n}_num / nullif({n}_den, 0) AS {n}" for n in needed]
    inner = (
        f"SELECT {', '.join([*keys, 'count(*) AS orders', *sums])} FROM {source} "
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
    grain: SeriesGrain | None = "day",
    filters: Mapping[str, FilterValue] | None = None,
    group_by: Sequence[str] = (),
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    maturity: dt.timedelta | None = None,
) -> pd.DataFrame:
    """Metrics per period (hour, day or week from Monday; None = the whole window) and per
    cohort group.

    Columns: `period` (when a grain is given), one column per group-by dimension, `orders`, and
    for each metric `<name>_num`, `<name>_den`, `<name>_sq` (sum of squares, for means) and
    `<name>` (the ratio); `cx_score` when asked. The window is [start, end) on order_time;
    cohort filters are {dimension: value or values}. With `maturity`, each period is read as it
    was known that long after it ended (for the whole window: after `end`), so no outcome
    recorded later is used: the view a detector had at the time. CX sub-scores left out as
    degenerate (`degenerate_metrics`) read as unavailable.
    """
    for name in metrics:
        if name != CX_SCORE:
            metric(name)
    dimensions = world_dimensions(con)
    where, parameters = where_clause(filters or {}, dimensions)
    lower = start or dt.datetime(1900, 1, 1)
    upper = end or dt.datetime(9999, 1, 1)
    source, source_parameters = _facts_source(grain, maturity, _left_out_columns(con))
    if source_parameters:
        known_by = upper + maturity if end is not None and maturity is not None else upper
        source_parameters = [known_by] * len(source_parameters)
    sql = metrics_sql(metrics, grain, group_by, where, source, dimensions)
    return con.execute(sql, [*source_parameters, *parameters, lower, upper]).df()
