"""The data-quality report of a warehouse: row counts, null rates, date ranges and suspicious facts.

Suspicious facts are rows that are possible in a file but not in a marketplace (more busy
dashers than on-shift dashers, arrivals before the order, negative baskets, times in the
future), orphan foreign keys, orders without a delivery, partial first or last days, days
with no orders, and degenerate columns (null in every row or nearly every row, or one value in
every row: a mapping that writes a constant, e.g. `canceled_flag: "false"`). They are warnings
for whoever reads an analysis of the data, not errors: ingestion keeps the rows.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
from pydantic import BaseModel, Field

from data.dimensions import VALUES_TABLE, declared_dimensions
from data.generator import MANIFEST_FILE
from data.schema import TABLES

QUALITY_FILE = "data_quality.json"
LONG_DELIVERY_MINUTES = 240  # door-to-door beyond 4 hours is a logging problem, not a delivery
PARTIAL_DAY_SHARE = 0.5  # a first or last day below half the median day is partly covered
NEAR_EMPTY_NULL_RATE = 0.99  # a column null in at least 99% of its rows is nearly empty
# Text exports write for a missing value ('NaN ', 'null', 'N/A', ''): in a text column it reads
# as a value (a city named 'NaN'), so the report flags it and the mapping should make it NULL.
NULL_TEXTS = ("nan", "null", "none", "n/a", "")
# A promise kept by under a tenth of the delivered orders is more likely a mis-mapped
# promised_eta (a pickup time, an estimate of one leg) than a marketplace that is always late.
MISSED_PROMISE_SHARE = 0.9
CONSTANT_MIN_ROWS = 500  # one value over fewer rows may be chance (a rare flag never set)
# Flags and measures that never vary are suspect (warnings); a constant label or version is
# merely worth knowing (info).
_MEASURE_TYPES = ("BOOLEAN", "INTEGER", "BIGINT", "DOUBLE", "FLOAT", "DECIMAL")
TIME_COLUMNS = {
    "orders": "order_time",
    "deliveries": "actual_eta",
    "inventory_events": "event_time",
    "support_events": "ticket_created",
    "ratings": "rating_time",
    "changes": "change_time",
    "dasher_supply": "hour_start",
}

# Times are the marketplace's local time, which runs up to 14 hours ahead of UTC (Kiribati):
# without the marketplace's zone, a time is in the future once it is later than that.
AHEAD_OF_UTC = dt.timedelta(hours=14)


def latest_present(now: dt.datetime | None = None) -> dt.datetime:
    """The latest local time (naive) that is not in the future: `now` when given (the
    marketplace's local time), else UTC now plus 14 hours, which no zone's clock has passed."""
    if now is not None:
        return now
    return dt.datetime.now(dt.UTC).replace(tzinfo=None) + AHEAD_OF_UTC


@dataclass(frozen=True)
class RowCheck:
    """A suspicious-row check: a condition over one table's columns (or order_facts)."""

    name: str
    table: str
    condition: str
    requires: tuple[str, ...]
    message: str


ROW_CHECKS: tuple[RowCheck, ...] = (
    RowCheck("busy_over_onshift", "deliveries", "busy_dashers > onshift_dashers",
             ("busy_dashers", "onshift_dashers"), "more busy dashers than on-shift dashers"),
    RowCheck("negative_market_state", "deliveries",
             "least(onshift_dashers, busy_dashers, outstanding_orders) < 0",
             ("onshift_dashers", "busy_dashers", "outstanding_orders"),
             "negative dasher or outstanding-order counts"),
    RowCheck("arrival_before_order", "order_facts", "duration_min < 0", ("duration_min",),
             "arrival before the order was placed"),
    RowCheck("long_delivery", "order_facts", f"duration_min > {LONG_DELIVERY_MINUTES}",
             ("duration_min",), f"door-to-door longer than {LONG_DELIVERY_MINUTES // 60} hours"),
    RowCheck("quote_not_after_order", "order_facts", "quoted_min <= 0", ("quoted_min",),
             "promised ETA at or before the order time"),
    RowCheck("negative_basket", "orders", "basket_value < 0", ("basket_value",),
             "negative basket value"),
    RowCheck("negative_durations", "deliveries", "least(dasher_wait, merchant_prep_time) < 0",
             ("dasher_wait", "merchant_prep_time"), "negative prep or dasher-wait seconds"),
    RowCheck("stars_out_of_range", "ratings", "stars NOT BETWEEN 1 AND 5", ("stars",),
             "stars outside 1-5"),
    RowCheck("non_positive_quantity", "items", "ordered_qty <= 0", ("ordered_qty",),
             "ordered quantity of zero or less"),
    RowCheck("negative_refund", "items", "refund_amount < 0", ("refund_amount",),
             "negative refund"),
)  # fmt: skip


class ColumnQuality(BaseModel):
    """One column's type, how much of it is missing and whether its values are all one."""

    name: str
    type: str
    nulls: int
    null_rate: float
    constant: str | None = Field(
        default=None, description="The one value of every non-null row, quoted and clipped."
    )


class TableQuality(BaseModel):
    """One table: rows, columns present and absent, and the range of its time column."""

    name: str
    rows: int
    columns: list[ColumnQuality]
    missing_columns: list[str] = Field(description="Schema columns the data does not have.")
    time_column: str | None = None
    first: dt.datetime | None = None
    last: dt.datetime | None = None


class DimensionQuality(BaseModel):
    """A custom dimension: its kind, groups (bins with their edges), nulls and distinct values."""

    name: str
    kind: str
    expression: str
    nulls: int
    null_rate: float
    distinct: int = Field(description="Distinct raw values (before binning).")
    groups: list[str] = Field(description="Its groups as cohorts name them (bins for numbers).")
    edges: list[float] = Field(default_factory=list, description="numeric: the bin edges.")


class Finding(BaseModel):
    """A suspicious fact: how many rows (and what share of the table) it concerns."""

    check: str
    table: str
    rows: int
    share: float
    message: str
    level: Literal["warning", "info"] = "warning"

    def describe(self) -> str:
        if self.check.startswith(("partial_", "days_")):
            return f"{self.table}: {self.message}"
        share = f"{self.share:.1%}" if self.share >= 0.001 or not self.share else "< 0.1%"
        return f"{self.table}: {self.message} in {self.rows:,} rows ({share})"


class DataQualityReport(BaseModel):
    """Everything the report found; saved as data_quality.json in the world directory."""

    tables: dict[str, TableQuality]
    missing_tables: list[str]
    findings: list[Finding]
    source: dict[str, str] = Field(default_factory=dict, description="Where the data came from.")
    dimensions: list[DimensionQuality] = Field(
        default_factory=list, description="The mapping's custom dimensions (orders.dimensions)."
    )

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]

    def render(self) -> str:
        """Plain text for a terminal."""
        lines = ["Data quality"]
        for table in self.tables.values():
            span = (
                f", {table.time_column} {table.first:%Y-%m-%d %H:%M} to {table.last:%Y-%m-%d %H:%M}"
                if table.first and table.last
                else ""
            )
            lines.append(f"  {table.name}: {table.rows:,} rows{span}")
            nulls = [f"{c.name} {c.null_rate:.1%}" for c in table.columns if c.nulls]
            if nulls:
                lines.append(f"    nulls: {', '.join(nulls)}")
            if table.missing_columns:
                lines.append(f"    not in the data: {', '.join(table.missing_columns)}")
        if self.missing_tables:
            lines.append(f"  tables not in the data: {', '.join(self.missing_tables)}")
        if self.dimensions:
            lines.append("  custom dimensions:")
        for dimension in self.dimensions:
            groups = ", ".join(dimension.groups[:8]) + ", ..." * (len(dimension.groups) > 8)
            edges = ", ".join(f"{edge:g}" for edge in dimension.edges)
            edges = f"; bin edges {edges}" if edges else ""
            lines.append(
                f"    {dimension.name} ({dimension.kind}): {dimension.distinct:,} distinct "
                f"values, nulls {dimension.null_rate:.1%}; groups {groups or 'none'}{edges}"
            )
        for finding in self.findings:
            lines.append(f"  {finding.level}: {finding.describe()}")
        if not self.findings:
            lines.append("  no suspicious facts found")
        return "\n".join(lines)

    def save(self, world_dir: Path) -> Path:
        path = Path(world_dir) / QUALITY_FILE
        path.write_text(json.dumps(self.model_dump(mode="json"), indent=2))
        return path


def is_ingested(world_dir: Path | str) -> bool:
    """Whether a world was ingested from real data (its manifest says so)."""
    path = Path(world_dir) / MANIFEST_FILE
    try:
        return json.loads(path.read_text()).get("kind") == "ingested"
    except (OSError, ValueError, AttributeError):
        return False


def load_report(world_dir: Path | str) -> DataQualityReport | None:
    """The report saved in a world directory, or None if there is none."""
    path = Path(world_dir) / QUALITY_FILE
    if not path.is_file():
        return None
    return DataQualityReport.model_validate_json(path.read_text())


def _columns(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
    ).fetchall()
    tables: dict[str, dict[str, str]] = {}
    for table, column, data_type in rows:
        tables.setdefault(table, {})[column] = data_type
    return tables


def _shown(value: object) -> str:
    """A data value quoted for a message: repr-escaped and clipped to 40 characters."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return repr(text if len(text) <= 40 else text[:39] + "…")


def _table_quality(
    con: duckdb.DuckDBPyConnection, name: str, present: dict[str, str]
) -> TableQuality:
    names = list(present)
    time_column = TIME_COLUMNS.get(name) if TIME_COLUMNS.get(name) in present else None
    parts = ["count(*)"]
    for column in names:  # count, and whether the non-null values are all one (and which)
        parts += [f'count("{column}")', f'min("{column}") = max("{column}")', f'min("{column}")']
    if time_column:
        parts += [f"min({time_column})", f"max({time_column})"]
    values = con.execute(f"SELECT {', '.join(parts)} FROM {name}").fetchone()
    rows = int(values[0])
    columns = []
    for index, column in enumerate(names):
        count, same, value = values[1 + 3 * index : 4 + 3 * index]
        columns.append(
            ColumnQuality(
                name=column,
                type=present[column],
                nulls=rows - int(count),
                null_rate=round((rows - int(count)) / rows, 6) if rows else 0.0,
                constant=_shown(value) if same and count >= CONSTANT_MIN_ROWS else None,
            )
        )
    return TableQuality(
        name=name,
        rows=rows,
        columns=columns,
        missing_columns=[c for c in TABLES[name].column_names if c not in present],
        time_column=time_column,
        first=values[-2] if time_column else None,
        last=values[-1] if time_column else None,
    )


def _column_findings(tables: dict[str, TableQuality]) -> list[Finding]:
    """Degenerate columns: null in every row, nearly empty, or one value in every row."""
    findings = []
    for table in tables.values():
        for column in table.columns:
            if not table.rows:
                continue
            if column.nulls == table.rows:
                check, message, rows = "all_null", f"{column.name} is null", column.nulls
            elif column.null_rate >= NEAR_EMPTY_NULL_RATE:
                check, message = "near_empty", f"{column.name} is null (nearly empty)"
                rows = column.nulls
            elif column.constant is not None:
                check, rows = "constant", table.rows - column.nulls
                message = f"{column.name} holds one value ({column.constant})"
            else:
                continue
            measure = column.type.startswith(_MEASURE_TYPES)
            level = "warning" if check != "constant" or measure else "info"
            findings.append(
                _finding(f"{check}_{table.name}_{column.name}", table.name, rows, table.rows,
                         message, level)
            )  # fmt: skip
    return findings


def _count_finding(
    con: duckdb.DuckDBPyConnection, check: str, table: str, sql: str, total: int, message: str,
    level: Literal["warning", "info"] = "warning",
) -> Finding | None:  # fmt: skip
    rows = int(con.execute(sql).fetchone()[0])
    if not rows:
        return None
    return _finding(check, table, rows, total, message, level)


def _finding(
    check: str, table: str, rows: int, total: int, message: str,
    level: Literal["warning", "info"] = "warning",
) -> Finding:  # fmt: skip
    """A finding of `rows` out of `total` rows of `table` (its share 0 when the table is empty)."""
    share = round(rows / total, 6) if total else 0.0
    return Finding(check=check, table=table, rows=rows, share=share, message=message, level=level)


def _day_findings(con: duckdb.DuckDBPyConnection) -> list[Finding]:
    """Partial first/last days and days without orders inside the data's range."""
    days = con.execute(
        "SELECT CAST(order_time AS DATE) AS day, count(*) FROM orders "
        "WHERE order_time IS NOT NULL GROUP BY 1 ORDER BY 1"
    ).fetchall()
    if len(days) < 3:
        return []
    counts = sorted(count for _, count in days)
    median = counts[len(counts) // 2]
    total_days = (days[-1][0] - days[0][0]).days + 1
    findings = []
    for label, (day, count) in (("first", days[0]), ("last", days[-1])):
        if count < PARTIAL_DAY_SHARE * median:
            findings.append(
                Finding(
                    check=f"partial_{label}_day",
                    table="orders",
                    rows=int(count),
                    share=round(count / median, 4),
                    level="info",
                    message=f"the {label} day ({day}) holds {count:,} orders, "
                    f"{count / median:.0%} of the median day: it is partly covered",
                )  # fmt: skip
            )
    if total_days > len(days):
        gap = total_days - len(days)
        findings.append(
            Finding(
                check="days_without_orders",
                table="orders",
                rows=0,
                share=0.0,
                message=f"{gap} day(s) between {days[0][0]} and {days[-1][0]} have no orders",
            )  # fmt: skip
        )
    return findings


def _future_findings(
    con: duckdb.DuckDBPyConnection,
    present: dict[str, dict[str, str]],
    tables: dict[str, TableQuality],
    now: dt.datetime,
) -> list[Finding]:
    """Rows whose time column is later than `now`: a wrong clock, zone or date format. Only
    the time a row happened is checked (a quoted ETA of an order in flight is ahead by design)."""
    findings = []
    for table, column in TIME_COLUMNS.items():
        if column not in present.get(table, {}):
            continue
        rows, latest = con.execute(
            f'SELECT count(*), max("{column}") FROM {table} WHERE "{column}" > ?', [now]
        ).fetchone()
        if rows:
            message = (
                f"{column} in the future (after {now:%Y-%m-%d %H:%M}, the latest "
                f"{latest:%Y-%m-%d %H:%M})"
            )
            findings.append(
                _finding(f"future_{column}", table, int(rows), tables[table].rows, message)
            )
    return findings


def _promise_findings(
    con: duckdb.DuckDBPyConnection, present: dict[str, dict[str, str]]
) -> list[Finding]:
    """A promised ETA missed by at least MISSED_PROMISE_SHARE of the delivered orders it was
    given for (over CONSTANT_MIN_ROWS of them): the on-time rate then measures the mapping."""
    if not {"on_time", "eta_error_min"} <= set(present.get("order_facts", {})):
        return []
    promised, missed, late = con.execute(
        "SELECT count(on_time), count(*) FILTER (WHERE NOT on_time), "
        "median(eta_error_min) FILTER (WHERE NOT on_time) FROM order_facts"
    ).fetchone()
    if promised < CONSTANT_MIN_ROWS or missed < MISSED_PROMISE_SHARE * promised:
        return []
    message = (
        f"delivered over 5 min after the promised ETA (a median {late:.0f} min after it; "
        "check that promised_eta maps the arrival time promised to customers)"
    )
    return [_finding("promise_missed", "order_facts", int(missed), int(promised), message)]


def quality_report(
    con: duckdb.DuckDBPyConnection,
    source: dict[str, str] | None = None,
    now: dt.datetime | None = None,
) -> DataQualityReport:
    """The data-quality report of a warehouse (its source tables and order_facts); `now` is
    the local time against which rows count as in the future (see `latest_present`)."""
    present = _columns(con)
    tables = {name: _table_quality(con, name, present[name]) for name in TABLES if name in present}
    findings: list[Finding] = _column_findings(tables)
    applicable: dict[str, list[RowCheck]] = {}
    for check in ROW_CHECKS:
        columns = present.get(check.table, {})
        if check.table in present and all(c in columns for c in check.requires):
            applicable.setdefault(check.table, []).append(check)
    for table, checks in applicable.items():  # one scan per table
        counts = con.execute(
            "SELECT count(*), "
            + ", ".join(f"count(*) FILTER (WHERE {check.condition})" for check in checks)
            + f" FROM {table}"
        ).fetchone()
        total = int(counts[0])
        for check, rows in zip(checks, counts[1:], strict=True):
            if rows:
                findings.append(_finding(check.name, table, int(rows), total, check.message))
    for name, table in TABLES.items():
        for column, target in table.foreign_keys.items():
            other, key = target.split(".")
            if name not in present or other not in present or column not in present[name]:
                continue
            found = _count_finding(
                con, f"orphan_{name}_{column}", name,
                f"SELECT count(*) FROM {name} t WHERE t.{column} IS NOT NULL AND NOT EXISTS "
                f"(SELECT 1 FROM {other} o WHERE o.{key} = t.{column})",
                tables[name].rows, f"{column} not found in {other}.{key} (orphan rows)",
            )  # fmt: skip
            if found:
                findings.append(found)
    if "orders" in present and "deliveries" in present:
        found = _count_finding(
            con, "orders_without_delivery", "orders",
            "SELECT count(*) FROM orders o WHERE NOT EXISTS "
            "(SELECT 1 FROM deliveries d WHERE d.order_id = o.order_id)",
            tables["orders"].rows, "no delivery row (treated as not delivered)",
        )  # fmt: skip
        if found:
            findings.append(found)
    if "orders" in present:
        findings.extend(_day_findings(con))
    findings.extend(_future_findings(con, present, tables, latest_present(now)))
    findings.extend(_promise_findings(con, present))
    findings.extend(_text_null_findings(con, present))
    dimensions = _dimension_quality(con)
    findings.extend(_dimension_findings(dimensions, tables["orders"].rows if tables else 0))
    return DataQualityReport(
        tables=tables,
        missing_tables=[name for name in TABLES if name not in present],
        findings=findings,
        source=source or {},
        dimensions=dimensions,
    )


def _text_null_findings(
    con: duckdb.DuckDBPyConnection, present: dict[str, dict[str, str]]
) -> list[Finding]:
    """Text columns of the source tables (and custom dimensions' raw values) holding a
    NULL_TEXTS placeholder for a missing value, with one such value quoted (one scan a table)."""
    findings = []
    placeholders = ", ".join(f"'{text}'" for text in NULL_TEXTS)
    sources = [t for t in TABLES if t in present and t != "order_facts"]
    for table in [*sources, *([VALUES_TABLE] if VALUES_TABLE in present else [])]:
        text = [c for c, kind in present[table].items() if kind == "VARCHAR"]
        if not text:
            continue
        found = [f'lower(trim("{column}")) IN ({placeholders})' for column in text]
        counts = con.execute(
            "SELECT count(*), "
            + ", ".join(
                f'count(*) FILTER (WHERE {where}), min("{column}") FILTER (WHERE {where})'
                for column, where in zip(text, found, strict=True)
            )
            + f" FROM {table}"
        ).fetchone()
        total = int(counts[0])
        for index, column in enumerate(text):
            rows, sample = counts[1 + 2 * index : 3 + 2 * index]
            if rows:
                message = (
                    f"{column} holds {_shown(sample)} for a missing value (map it to NULL in "
                    f"the mapping, e.g. nullif(trim(...), {_shown(sample)}))"
                )
                findings.append(
                    _finding(f"text_null_{table}_{column}", table, int(rows), total, message)
                )
    return findings


def _dimension_quality(con: duckdb.DuckDBPyConnection) -> list[DimensionQuality]:
    """Nulls and distinct values of each custom dimension over the orders (one scan)."""
    declared = declared_dimensions(con)
    if not declared:
        return []
    parts = ["count(*)"]
    for dimension in declared:
        parts += [f'count(v."{dimension.name}")', f'count(DISTINCT v."{dimension.name}")']
    row = con.execute(
        f"SELECT {', '.join(parts)} FROM orders o LEFT JOIN {VALUES_TABLE} v USING (order_id)"
    ).fetchone()
    orders = int(row[0])
    found = []
    for index, dimension in enumerate(declared):
        count, distinct = int(row[1 + 2 * index]), int(row[2 + 2 * index])
        found.append(
            DimensionQuality(
                name=dimension.name,
                kind=dimension.kind,
                expression=dimension.expression,
                nulls=orders - count,
                null_rate=round((orders - count) / orders, 6) if orders else 0.0,
                distinct=distinct,
                groups=dimension.labels,
                edges=dimension.edges,
            )  # fmt: skip
        )
    return found


def _dimension_findings(dimensions: list[DimensionQuality], orders: int) -> list[Finding]:
    """Custom dimensions that cannot split the orders: null throughout or nearly, or one
    value on every order that has one (nothing to compare)."""
    findings = []
    for dimension in dimensions:
        if not orders:
            continue
        held = orders - dimension.nulls
        if dimension.null_rate >= NEAR_EMPTY_NULL_RATE:
            check, rows, message = "near_empty", dimension.nulls, "is null (nearly empty)"
        elif dimension.distinct == 1 and held >= CONSTANT_MIN_ROWS:
            check, rows = "constant", held
            message = f"holds one value ({_shown(dimension.groups[0] if dimension.groups else '')})"
        else:
            continue
        message = f"custom dimension {dimension.name} {message}: it splits no orders"
        findings.append(_finding(f"{check}_dimension_{dimension.name}", "orders", rows, orders,
                                 message))  # fmt: skip
    return findings
