"""Driver shifts: how a driver of CX (batching, prep time, supply, stock, quotes, volume) moved
inside a slice between a baseline window and an incident window, compared with the same shift
outside the slice (specificity) and just before the incident (timing).

Shares are compared with a two-proportion z-test and means with Welch's t-test (on
Welch-Satterthwaite degrees of freedom, its p-value reported as a z); hourly values (a count or
a seasonal ratio per hour) with a t-test against the baseline hours' spread (on their n - 1
degrees of freedom: under no shift the incident's hours are draws like them). Orders or hours
are independent units: a heuristic where orders share a store or an hour. A seasonal ratio
("vs usual for the hour") in a slice that names its regions is also divided by the other
regions' ratio that day, so a day that moves every region alike (a holiday's orders, and the
dashers scheduled for them) does not read as a shift in the slice.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import duckdb
from scipy import stats

from analytics.cohorts import Dimensions, FilterValue, where_clause, world_dimensions
from analytics.metrics import columns_with_data, per_warehouse_file

Kind = Literal["share", "mean"]

# Order-level sources also yield the world's custom dimensions where they hold {dimensions}.
_DIMENSIONS = "{dimensions}"
_ORDER_FACTS = (
    "SELECT order_time AS t, region, category, hour, store_id, basket_size, daypart, "
    "{dimensions}{value} AS x FROM order_facts"
)
_SUPPLY = (
    "SELECT hour_start AS t, region, CAST(NULL AS VARCHAR) AS category, "
    "CAST(hour(hour_start) AS INTEGER) AS hour, CAST(NULL AS VARCHAR) AS store_id, "
    "CAST(NULL AS VARCHAR) AS basket_size, CAST(NULL AS VARCHAR) AS daypart, {value} AS x "
    "FROM dasher_supply"
)
_INVENTORY = (
    "SELECT e.event_time AS t, s.region, s.category, CAST(hour(e.event_time) AS INTEGER) AS hour, "
    "e.store_id, CAST(NULL AS VARCHAR) AS basket_size, CAST(NULL AS VARCHAR) AS daypart, "
    "{value} AS x FROM inventory_events e JOIN stores s ON s.store_id = e.store_id"
)
# What _INVENTORY reads besides a driver's value: an optional table may lack any of it.
_INVENTORY_NEEDS = (
    "stores.region",
    "stores.category",
    "inventory_events.event_time",
    "inventory_events.store_id",
)
# Batched orders only: minutes from pickup (prep plus dasher wait) to arrival, minus what a solo
# order of the same distance took in the same region and hour (a least-squares line fitted on
# the solo orders). This is the detour a batching threshold allows; load and supply do not
# move it, though they move the batched share.
_BATCH_DETOUR = (
    "SELECT t, region, category, hour, store_id, basket_size, daypart, {dimensions}{value} AS x "
    "FROM (SELECT order_time AS t, region, category, hour, store_id, basket_size, daypart, "
    "{dimensions}batched, "
    "distance_miles, duration_min - prep_min - dasher_wait_min AS leg_min, "
    "regr_intercept(duration_min - prep_min - dasher_wait_min, distance_miles) "
    "FILTER (WHERE NOT batched) OVER same_hour AS solo_intercept, "
    "regr_slope(duration_min - prep_min - dasher_wait_min, distance_miles) "
    "FILTER (WHERE NOT batched) OVER same_hour AS solo_slope "
    "FROM order_facts WHERE delivered "
    "WINDOW same_hour AS (PARTITION BY region, date_trunc('hour', order_time))) legs "
    "WHERE batched"
)

# Fixed-point type for exact sums (order-independent, unlike floating-point ones).
_EXACT = "DECIMAL(38, 12)"


@dataclass(frozen=True)
class DriverSpec:
    """A driver: where its rows come from, the per-row value, and what it needs to exist."""

    name: str
    label: str
    unit: str
    kind: Kind
    source: str  # SQL template with {value} (and {dimensions}); yields t, the cohorts' columns, x
    value: str
    requires: tuple[str, ...]  # "table.column" entries
    per_hour_count: bool = False  # x is the number of slice rows per hour (volume drivers)
    # Divide x by its baseline mean for the same hour of day (and region, for supply rows), so
    # the diurnal cycle does not drown a shift confined to some hours; and, in a slice that names
    # its regions, by the other regions' ratio that day ("day-adjusted": a holiday moves every
    # region's orders, and the dashers scheduled for them, alike).
    seasonal: bool = False
    # The words that name it in a question that names no metric ("how busy were dashers?"), and
    # the driver read in its place where its data is missing (online dashers: on-shift ones).
    synonyms: str = ""
    stand_in: str = ""


DRIVERS: dict[str, DriverSpec] = {
    spec.name: spec
    for spec in (
        DriverSpec("batched_rate", "Batched share", "share", "share", _ORDER_FACTS,
                   "CAST(batched AS INTEGER)", ("deliveries.batched_flag",)),
        DriverSpec("batch_detour_min", "Batch detour (pickup-to-door minutes over solo orders "
                   "of the same distance)", "minutes", "mean",
                   _BATCH_DETOUR, "leg_min - (solo_intercept + solo_slope * distance_miles)",
                   ("deliveries.batched_flag", "deliveries.actual_eta",
                    "deliveries.merchant_prep_time", "deliveries.dasher_wait",
                    "deliveries.distance")),
        DriverSpec("prep_min", "Merchant prep time", "minutes", "mean", _ORDER_FACTS,
                   "prep_min", ("deliveries.merchant_prep_time",)),
        DriverSpec("dasher_wait_min", "Dasher wait", "minutes", "mean", _ORDER_FACTS,
                   "dasher_wait_min", ("deliveries.dasher_wait",)),
        DriverSpec("quoted_min", "Quoted ETA", "minutes", "mean", _ORDER_FACTS,
                   "quoted_min", ("orders.promised_eta",),
                   synonyms=r"\bquoted\s+(?:etas?|times?|minutes)\b|\bpromised\s+times?\b"),
        DriverSpec("eta_bias_min", "ETA bias (actual - promised)", "minutes", "mean",
                   _ORDER_FACTS, "eta_error_min", ("orders.promised_eta", "deliveries.actual_eta")),
        DriverSpec("duration_min", "Delivery duration", "minutes", "mean", _ORDER_FACTS,
                   "duration_min", ("deliveries.actual_eta",)),
        DriverSpec("distance_miles", "Distance", "miles", "mean", _ORDER_FACTS,
                   "distance_miles", ("deliveries.distance",),
                   synonyms=r"\bdistances?\b|\bhow\s+far\b|\bmiles\b"),
        DriverSpec("drive_min", "Drive time, pickup to door (solo orders)", "minutes", "mean",
                   _ORDER_FACTS,
                   "CASE WHEN delivered AND NOT batched THEN "
                   "duration_min - prep_min - dasher_wait_min END",
                   ("deliveries.actual_eta", "deliveries.merchant_prep_time",
                    "deliveries.dasher_wait", "deliveries.batched_flag"),
                   synonyms=r"\bdriv(?:e|ing)\s+times?\b"),
        DriverSpec("busy_share", "Busy share of on-shift dashers", "share", "mean",
                   _ORDER_FACTS, "busy_dashers / nullif(onshift_dashers, 0)",
                   ("deliveries.busy_dashers", "deliveries.onshift_dashers"),
                   synonyms=r"\bbusy\s+dashers?\b|\bdashers?\s+(?:(?:were|was|are|is)\s+)?"
                   r"(?:busy|busier)\b|\bhow\s+busy\b[^?.]{0,20}\bdashers?\b"
                   r"|\bdasher\s+utili[sz]ation\b"),
        DriverSpec("orders_per_dasher", "Outstanding orders per on-shift dasher", "ratio", "mean",
                   _ORDER_FACTS, "outstanding_orders / nullif(onshift_dashers, 0)",
                   ("deliveries.outstanding_orders", "deliveries.onshift_dashers"),
                   synonyms=r"\borders?\s+per\s+dasher\b|\boutstanding\s+orders\b"),
        DriverSpec("onshift_dashers", "On-shift dashers at order time vs usual for the region "
                   "and hour", "ratio", "mean", _ORDER_FACTS, "onshift_dashers",
                   ("deliveries.onshift_dashers",), seasonal=True,
                   synonyms=r"\bon[\s-]*shift\s+dashers?\b|\bdashers?\s+on[\s-]*shift\b"),
        DriverSpec("online_dashers", "Online dashers vs usual for the region and hour", "ratio",
                   "mean", _SUPPLY, "online_dashers", ("dasher_supply.online_dashers",),
                   seasonal=True, stand_in="onshift_dashers",
                   synonyms=r"\b(?:online|available)\s+dashers?\b|\bdashers?\s+(?:(?:were|was"
                   r"|are|is)\s+)?(?:online|available)\b"
                   r"|\bhow\s+many\s+dashers\b(?![^?.]*\bbus(?:y|ier)\b)"
                   r"|\bdasher\s+(?:supply|count)\b"),
        DriverSpec("open_orders", "Open orders vs usual for the region and hour", "ratio",
                   "mean", _SUPPLY, "open_orders", ("dasher_supply.open_orders",),
                   seasonal=True),
        DriverSpec("dashers_per_order", "Online dashers per open order", "ratio", "mean",
                   _SUPPLY, "online_dashers / nullif(open_orders, 0)",
                   ("dasher_supply.online_dashers", "dasher_supply.open_orders"),
                   synonyms=r"\bdashers?\s+per\s+(?:open\s+)?order\b"),
        DriverSpec("in_stock_prob", "Estimated in-stock probability", "share", "mean",
                   _INVENTORY, "in_stock_prob",
                   ("inventory_events.in_stock_prob", *_INVENTORY_NEEDS)),
        DriverSpec("oos_rate", "Out-of-stock checks", "share", "share", _INVENTORY,
                   "CAST(oos_flag AS INTEGER)", ("inventory_events.oos_flag", *_INVENTORY_NEEDS)),
        DriverSpec("item_issue_rate", "Lines substituted or missing", "share", "mean",
                   _ORDER_FACTS,
                   "CASE WHEN delivered AND item_lines > 0 THEN "
                   "(substituted_lines + missing_lines) / item_lines END",
                   ("items.substituted_flag", "items.missing_flag")),
        DriverSpec("orders_per_hour", "Orders per hour vs usual for the hour", "ratio", "mean",
                   _ORDER_FACTS, "1", ("orders.order_time",), per_hour_count=True, seasonal=True),
    )
}  # fmt: skip


def register_drivers(specs: Sequence[DriverSpec]) -> None:
    """Add drivers declared elsewhere (a cause kind's module declares the drivers only it
    reads); a name already declared raises."""
    for spec in specs:
        if spec.name in DRIVERS:
            raise ValueError(f"driver {spec.name!r} is declared twice")
        DRIVERS[spec.name] = spec


class DriverError(ValueError):
    """A driver shift that cannot be measured; the subclasses say why, in fields."""


@dataclass(eq=False)
class UnknownDriver(DriverError):
    """A driver name that DRIVERS does not declare."""

    driver: str

    def __str__(self) -> str:
        return f"unknown driver {self.driver!r}; known: {', '.join(DRIVERS)}"


@dataclass(eq=False)
class NotTestable(DriverError):
    """A driver whose 'table.column' requirements the warehouse lacks or leaves empty."""

    driver: str
    missing: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.driver} is not testable: missing {', '.join(self.missing)}"


@dataclass(eq=False)
class TooFewRows(DriverError):
    """A slice with fewer than two baseline rows or no incident row of the driver."""

    driver: str
    baseline_n: float
    incident_n: float

    def __str__(self) -> str:
        return (
            f"too few rows for {self.driver} in the slice "
            f"(baseline {self.baseline_n:g}, incident {self.incident_n:g})"
        )


@dataclass(frozen=True)
class Window:
    """A half-open time window [start, end)."""

    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class GroupStats:
    n: float
    mean: float
    variance: float


@dataclass(frozen=True)
class DriverShift:
    """A driver's move in the slice, with its test, specificity and timing."""

    driver: str
    label: str
    unit: str
    baseline: float
    incident: float
    delta: float
    relative_change: float
    baseline_n: int
    incident_n: int
    statistic: float
    p_value: float  # two-sided
    effect_size: float  # Cohen's d (means) or h (shares)
    rest_delta: float  # the same shift outside the slice
    specificity: float  # 0-1: how much more the slice moved than the rest
    pre_delta: float | None  # the shift in the window just before the incident
    timing: float  # 0-1: 1 when the driver moved with the incident, not before it


def missing_requirements(
    con: duckdb.DuckDBPyConnection, spec: DriverSpec, present: set[str] | None = None
) -> list[str]:
    """The 'table.column' requirements of a driver that the warehouse lacks or leaves empty
    (`present`: _present(con), when known)."""
    present = _present(con) if present is None else present
    return [requirement for requirement in spec.requires if requirement not in present]


def _present(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The drivers' requirements that the warehouse holds data for, read once per file."""
    return per_warehouse_file(
        con,
        f"driver_requirements-{len(DRIVERS)}",  # drivers registered later are read too
        lambda con: columns_with_data(con, {r for d in DRIVERS.values() for r in d.requires}),
    )


def query_companions(con: duckdb.DuckDBPyConnection, driver: str) -> tuple[str, ...]:
    """The drivers whose group statistics one query gives along with `driver`'s (see
    group_stats): the testable plain drivers (neither seasonal nor hourly counts) of its source;
    `driver` alone when it is not plain. Raises UnknownDriver or NotTestable."""
    spec = _testable(con, driver)
    if not _plain(spec):
        return (driver,)
    present = _present(con)
    return tuple(
        name
        for name, other in DRIVERS.items()
        if name == driver
        or (
            other.source == spec.source
            and _plain(other)
            and not missing_requirements(con, other, present)
        )
    )


def _plain(spec: DriverSpec) -> bool:
    return not (spec.seasonal or spec.per_hour_count)


def _testable(con: duckdb.DuckDBPyConnection, driver: str) -> DriverSpec:
    if driver not in DRIVERS:
        raise UnknownDriver(driver)
    spec = DRIVERS[driver]
    missing = missing_requirements(con, spec)
    if missing:
        raise NotTestable(driver, tuple(missing))
    return spec


def _slice_condition(
    filters: Mapping[str, FilterValue], source: str, dimensions: Dimensions
) -> tuple[str, list[object]]:
    """AND of the filters the source has (supply rows have no category, store or basket, and
    only order-level sources have the world's custom dimensions)."""
    conditions: list[str] = []
    parameters: list[object] = []
    for name, value in filters.items():
        column = dimensions.column(name)
        if dimensions.declared(column) is not None and _DIMENSIONS not in source:
            continue
        if source == _SUPPLY and column in ("category", "store_id", "basket_size"):
            continue
        if source == _INVENTORY and column in ("basket_size",):
            continue
        values = [value] if isinstance(value, str | int) else list(value)
        conditions.append(f"{column} IN ({', '.join('?' for _ in values)})")
        parameters.extend(values)
    return " AND ".join(conditions) or "TRUE", parameters


def _elsewhere(filters: Mapping[str, FilterValue], dimensions: Dimensions) -> tuple[str, list]:
    """The rows of regions other than those a slice names ("" when it names none)."""
    if "region" not in filters:
        return "", []
    condition, parameters = where_clause({"region": filters["region"]}, dimensions)
    return f"NOT ({condition})", parameters


Groups = dict[tuple[bool, str], GroupStats]  # (in the slice, window name) -> statistics


def group_stats(
    con: duckdb.DuckDBPyConnection,
    drivers: Sequence[str],
    filters: Mapping[str, FilterValue],
    windows: Mapping[str, Window],
) -> dict[str, Groups]:
    """Per driver, the count, mean and variance of its values in and outside the slice in each
    window. Plain drivers of one source (query_companions) share one scan; the others get one
    each. The sums are exact, so a driver's statistics do not depend on its companions."""
    result: dict[str, Groups] = {}
    together: dict[str, list[DriverSpec]] = {}
    for name in drivers:
        spec = DRIVERS[name]
        if _plain(spec):
            together.setdefault(spec.source, []).append(spec)
        else:
            result[name] = _group_stats(con, [spec], filters, windows)[0]
    for specs in together.values():
        result.update(
            zip((s.name for s in specs), _group_stats(con, specs, filters, windows), strict=True)
        )
    return {name: result[name] for name in drivers}


def _group_stats(
    con: duckdb.DuckDBPyConnection,
    specs: Sequence[DriverSpec],
    filters: Mapping[str, FilterValue],
    windows: Mapping[str, Window],
) -> list[Groups]:
    """group_stats of `specs`: one plain driver or several of one source, or one other."""
    spec = specs[0]
    dimensions = world_dimensions(con)
    condition, parameters = _slice_condition(filters, spec.source, dimensions)
    values = [f"{s.value} AS x{i}" for i, s in enumerate(specs)]
    rows_sql = spec.source.replace("{value} AS x", ", ".join(values), 1).replace(
        _DIMENSIONS, "".join(f"{name}, " for name in dimensions.custom_names)
    )
    xs = [f"x{i}" for i in range(len(specs))]
    window_case = " ".join(f"WHEN t >= ? AND t < ? THEN '{name}'" for name in windows)
    window_parameters = [bound for w in windows.values() for bound in (w.start, w.end)]
    # Seasonal drivers also tag the rows of the regions a slice does not name (day adjustment).
    elsewhere, elsewhere_parameters = _elsewhere(filters, dimensions) if spec.seasonal else ("", [])
    tag = f"coalesce({elsewhere or 'FALSE'}, FALSE) AS elsewhere, " if spec.seasonal else ""
    tagged = (
        f"SELECT ({condition}) AS in_slice, {tag}CASE {window_case} END AS w, t, "
        f"{', '.join(xs)} FROM ({rows_sql}) rows"
    )
    if spec.per_hour_count:
        kept, keys = ("elsewhere, ", "1, 2, 3, 4") if spec.seasonal else ("", "1, 2, 3")
        tagged = (
            f"SELECT in_slice, {kept}w, date_trunc('hour', t) AS t, "
            "CAST(NULL AS VARCHAR) AS region, count(*) AS x0 "
            f"FROM ({tagged}) g WHERE w IS NOT NULL GROUP BY {keys}"
        )
    if spec.seasonal:
        tagged = (
            "SELECT in_slice, elsewhere, w, t, x0 / nullif(avg(x0) FILTER (WHERE w = 'baseline') "
            "OVER (PARTITION BY in_slice, elsewhere, region, hour(t)), 0) AS x0 FROM ("
            + tagged.replace("AS w, t, x0", "AS w, t, region, x0", 1)
            + ") seasonal"
        )
        # ... and, in a slice that names its regions, by the other regions' ratio that day: a
        # holiday moves every region's orders and the dashers scheduled for them alike.
        tagged = (
            "SELECT in_slice, w, t, x0 / CASE WHEN in_slice THEN coalesce(nullif(avg(x0) "
            "FILTER (WHERE elsewhere) OVER (PARTITION BY date_trunc('day', t)), 0), 1) "
            f"ELSE 1 END AS x0 FROM ({tagged}) day_level"
        )
    # Sums of fixed-point values are exact, so they do not depend on the order in which DuckDB's
    # threads add rows up (floating-point sums do, in their last bits).
    moments = ", ".join(
        f"count({x}), sum(CAST({x} AS {_EXACT})), sum(CAST({x} * {x} AS {_EXACT}))" for x in xs
    )
    sql = f"SELECT in_slice, w, {moments} FROM ({tagged}) s WHERE w IS NOT NULL GROUP BY 1, 2"
    result: list[Groups] = [{} for _ in specs]
    arguments = [*parameters, *elsewhere_parameters, *window_parameters]
    for row in con.execute(sql, arguments).fetchall():
        in_slice, window = row[0], row[1]
        for index, groups in enumerate(result):
            groups[(bool(in_slice), window)] = _moments(*row[2 + 3 * index : 5 + 3 * index])
    return result


def _moments(n: int, s1: decimal.Decimal | None, s2: decimal.Decimal | None) -> GroupStats:
    """Mean and sample variance from the count, sum and sum of squares (exact decimals)."""
    if not n or s1 is None or s2 is None:
        return GroupStats(float(n), math.nan, 0.0)
    with decimal.localcontext() as exact:
        exact.prec = 60
        mean = s1 / n
        variance = (s2 - s1 * mean) / (n - 1) if n > 1 else decimal.Decimal(0)
    return GroupStats(float(n), float(mean), max(0.0, float(variance)))


def _test(spec: DriverSpec, before: GroupStats, after: GroupStats) -> tuple[float, float, float]:
    """(statistic, two-sided p, effect size) of after vs before."""
    delta = after.mean - before.mean
    if spec.kind == "share":
        pooled = (before.mean * before.n + after.mean * after.n) / (before.n + after.n)
        se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / before.n + 1 / after.n))
        effect = 2 * math.asin(math.sqrt(min(max(after.mean, 0), 1))) - 2 * math.asin(
            math.sqrt(min(max(before.mean, 0), 1))
        )
    else:
        # A single incident value (a one-hour incident on an hourly series) has no variance of
        # its own: it is read as one more draw from the baseline's spread. So are a driver's
        # few hourly values (a count or a seasonal ratio per hour): under no shift they are
        # draws like the baseline hours, whose spread is the better estimate (a surge in 3 of
        # an incident's 6 hours must not widen the test by its own unevenness).
        borrowed = after.n < 2 or spec.per_hour_count or spec.seasonal
        after_variance = before.variance if borrowed else after.variance
        parts = (before.variance / before.n, after_variance / after.n)
        se = math.sqrt(sum(parts))
        pooled_sd = math.sqrt((before.variance + after_variance) / 2)
        effect = delta / pooled_sd if pooled_sd > 0 else 0.0
        if se > 0:
            # Student's t on the baseline's n - 1 degrees of freedom where the baseline's
            # spread stands for both, else Welch's t on Welch-Satterthwaite degrees of freedom;
            # reported as the normal z of the same p-value (a 2-value dip is not significant).
            t = delta / se
            freedom = before.n - 1 if borrowed else _welch_freedom(parts, before.n, after.n)
            p_value = float(2 * stats.t.sf(abs(t), freedom))
            z = float(stats.norm.isf(p_value / 2)) if p_value > 0 else abs(t)
            return math.copysign(z, t), p_value, effect
    statistic = delta / se if se > 0 else 0.0
    return statistic, float(2 * stats.norm.sf(abs(statistic))), effect


def _welch_freedom(parts: tuple[float, float], before_n: float, after_n: float) -> float:
    """Welch-Satterthwaite degrees of freedom of a difference of means whose squared standard
    error is sum(parts) > 0 (each group with at least 2 values)."""
    return sum(parts) ** 2 / (parts[0] ** 2 / (before_n - 1) + parts[1] ** 2 / (after_n - 1))


def driver_shift(
    con: duckdb.DuckDBPyConnection,
    driver: str,
    filters: Mapping[str, FilterValue],
    baseline: Window,
    incident: Window,
    pre: Window | None = None,
    groups: Groups | None = None,
) -> DriverShift:
    """How `driver` moved in the slice `filters` from `baseline` to `incident`; `groups` are
    its group_stats over shift_windows(baseline, incident, pre) when known already (which
    query_companions and group_stats check it is testable for)."""
    spec = DRIVERS[driver] if groups is not None else _testable(con, driver)
    if groups is None:
        windows = shift_windows(baseline, incident, pre)
        groups = group_stats(con, [driver], filters, windows)[driver]
    empty = GroupStats(0.0, math.nan, 0.0)
    before, after = groups.get((True, "baseline"), empty), groups.get((True, "incident"), empty)
    if before.n < 2 or after.n < 1:
        raise TooFewRows(driver, before.n, after.n)
    statistic, p_value, effect = _test(spec, before, after)
    delta = after.mean - before.mean
    rest_before, rest_after = (
        groups.get((False, "baseline"), empty),
        groups.get((False, "incident"), empty),
    )
    rest_delta = rest_after.mean - rest_before.mean if rest_before.n and rest_after.n else 0.0
    specificity = _specificity(delta, rest_delta)
    pre_stats = groups.get((True, "pre"))
    pre_delta = pre_stats.mean - before.mean if pre_stats and pre_stats.n else None
    timing = (
        1.0
        if pre_delta is None or delta == 0
        else float(min(1.0, max(0.0, 1.0 - pre_delta / delta)))
    )
    return DriverShift(
        driver=driver,
        label=spec.label,
        unit=spec.unit,
        baseline=before.mean,
        incident=after.mean,
        delta=delta,
        relative_change=delta / before.mean if before.mean else math.nan,
        baseline_n=int(before.n),
        incident_n=int(after.n),
        statistic=statistic,
        p_value=p_value,
        effect_size=effect,
        rest_delta=rest_delta,
        specificity=specificity,
        pre_delta=pre_delta,
        timing=timing,
    )


def shift_windows(baseline: Window, incident: Window, pre: Window | None) -> dict[str, Window]:
    """The windows a driver shift compares, by name."""
    windows = {"baseline": baseline, "incident": incident}
    if pre is not None:
        windows["pre"] = pre
    return windows


def _specificity(delta: float, rest_delta: float) -> float:
    """1 when only the slice moved, 0 when the rest moved as much (or more) the same way."""
    if delta == 0:
        return 0.0
    if rest_delta * delta <= 0:
        return 1.0
    return float(max(0.0, 1.0 - rest_delta / delta))


def version_shares(
    con: duckdb.DuckDBPyConnection,
    filters: Mapping[str, FilterValue],
    baseline: Window,
    incident: Window,
) -> list[dict[str, object]]:
    """Per ETA model version: orders and mean signed ETA error in the slice, per window."""
    condition, parameters = _slice_condition(filters, _ORDER_FACTS, world_dimensions(con))
    sql = (
        "SELECT CASE WHEN order_time < ? THEN 'baseline' ELSE 'incident' END AS w, "
        "eta_model_version AS version, count(*) AS orders, avg(eta_error_min) AS eta_bias_min, "
        "avg(quoted_min) AS quoted_min, avg(duration_min) AS duration_min "
        f"FROM order_facts WHERE {condition} AND ((order_time >= ? AND order_time < ?) "
        "OR (order_time >= ? AND order_time < ?)) GROUP BY 1, 2 ORDER BY 1, 3 DESC"
    )
    rows = con.execute(
        sql,
        [incident.start, *parameters, baseline.start, baseline.end, incident.start, incident.end],
    ).fetchall()
    columns = ["window", "version", "orders", "eta_bias_min", "quoted_min", "duration_min"]
    return [dict(zip(columns, row, strict=True)) for row in rows]
