"""The DuckDB warehouse: build it from a world directory's Parquet tables, and open it read-only.

Besides the tables of `data/schema.py`, the warehouse holds `order_facts`, the order-level view
(materialized for speed): each order joined with its delivery, item counts, tickets and rating.
A column whose source table or column is absent (real data often lacks some) is NULL there, and
the metrics that need it report themselves unavailable.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from data.dimensions import VALUES_FILE, VALUES_TABLE, CustomDimension, declare, label_sql
from data.schema import BASKET_SIZE_BOUNDS_USD, DAYPARTS, ON_TIME_GRACE_MINUTES, ORDER_FACTS, TABLES

WAREHOUSE_FILE = "warehouse.duckdb"


class WarehouseError(RuntimeError):
    """A warehouse that cannot be built or opened; the message says which file and why."""


@dataclass(frozen=True)
class FactColumn:
    """How one order_facts column is computed and which source columns it needs."""

    name: str
    expression: str
    requires: tuple[str, ...]


def _daypart_case(hour_sql: str) -> str:
    cases = []
    for name, (first, last) in DAYPARTS.items():
        if first < last:
            cases.append(f"WHEN {hour_sql} >= {first} AND {hour_sql} < {last} THEN '{name}'")
        else:
            wrap = name
    return f"CASE {' '.join(cases)} ELSE '{wrap}' END"


_SMALL, _LARGE = BASKET_SIZE_BOUNDS_USD
_DELIVERED = "(d.actual_eta IS NOT NULL AND NOT coalesce(d.canceled_flag, false))"
_MINUTES_BETWEEN = "(epoch_us({later}) - epoch_us({earlier})) / 60000000.0"

FACT_COLUMNS: tuple[FactColumn, ...] = (
    FactColumn("order_id", "o.order_id", ()),
    FactColumn("user_id", "o.user_id", ("orders.user_id",)),
    FactColumn("store_id", "o.store_id", ("orders.store_id",)),
    FactColumn("region", "o.region", ("orders.region",)),
    FactColumn("category", "o.category", ("orders.category",)),
    FactColumn("order_time", "o.order_time", ()),
    FactColumn("hour_start", "date_trunc('hour', o.order_time)", ()),
    FactColumn("day", "CAST(o.order_time AS DATE)", ()),
    FactColumn("hour", "CAST(hour(o.order_time) AS INTEGER)", ()),
    FactColumn("daypart", _daypart_case("hour(o.order_time)"), ()),
    FactColumn("basket_value", "o.basket_value", ("orders.basket_value",)),
    FactColumn(
        "basket_size",
        f"CASE WHEN o.basket_value < {_SMALL} THEN 'small' "
        f"WHEN o.basket_value > {_LARGE} THEN 'large' ELSE 'medium' END",
        ("orders.basket_value",),
    ),
    FactColumn("eta_model_version", "o.eta_model_version", ("orders.eta_model_version",)),
    FactColumn(
        "quoted_min",
        _MINUTES_BETWEEN.format(later="o.promised_eta", earlier="o.order_time"),
        ("orders.promised_eta",),
    ),
    FactColumn("delivered", _DELIVERED, ("deliveries.actual_eta",)),
    FactColumn("canceled", "coalesce(d.canceled_flag, false)", ("deliveries.canceled_flag",)),
    FactColumn("batched", "d.batched_flag", ("deliveries.batched_flag",)),
    FactColumn("distance_miles", "d.distance", ("deliveries.distance",)),
    FactColumn("prep_min", "d.merchant_prep_time / 60.0", ("deliveries.merchant_prep_time",)),
    FactColumn("dasher_wait_min", "d.dasher_wait / 60.0", ("deliveries.dasher_wait",)),
    FactColumn("onshift_dashers", "d.onshift_dashers", ("deliveries.onshift_dashers",)),
    FactColumn("busy_dashers", "d.busy_dashers", ("deliveries.busy_dashers",)),
    FactColumn("outstanding_orders", "d.outstanding_orders", ("deliveries.outstanding_orders",)),
    FactColumn(
        "duration_min",
        f"CASE WHEN {_DELIVERED} THEN "
        + _MINUTES_BETWEEN.format(later="d.actual_eta", earlier="o.order_time")
        + " END",
        ("deliveries.actual_eta",),
    ),
    FactColumn(
        "eta_error_min",
        f"CASE WHEN {_DELIVERED} THEN "
        + _MINUTES_BETWEEN.format(later="d.actual_eta", earlier="o.promised_eta")
        + " END",
        ("deliveries.actual_eta", "orders.promised_eta"),
    ),
    FactColumn(
        "on_time",
        f"CASE WHEN {_DELIVERED} THEN "
        f"d.actual_eta <= o.promised_eta + INTERVAL {ON_TIME_GRACE_MINUTES} MINUTE END",
        ("deliveries.actual_eta", "orders.promised_eta"),
    ),
    FactColumn("item_lines", "coalesce(ic.item_lines, 0)", ("items.order_id",)),
    FactColumn(
        "substituted_lines", "coalesce(ic.substituted_lines, 0)", ("items.substituted_flag",)
    ),
    FactColumn("missing_lines", "coalesce(ic.missing_lines, 0)", ("items.missing_flag",)),
    FactColumn("refund_amount", "coalesce(ic.refund_amount, 0)", ("items.refund_amount",)),
    FactColumn("refunded", "coalesce(ic.refund_amount, 0) > 0", ("items.refund_amount",)),
    FactColumn("support_contact", "coalesce(tc.tickets, 0) > 0", ("support_events.order_id",)),
    FactColumn("stars", "rt.stars", ("ratings.stars",)),
    FactColumn(
        "resolved_at",
        f"CASE WHEN {_DELIVERED} THEN d.actual_eta "
        f"ELSE coalesce(o.promised_eta, o.order_time + INTERVAL 1 HOUR) "
        f"+ INTERVAL {ON_TIME_GRACE_MINUTES} MINUTE END",
        ("deliveries.actual_eta",),
    ),
    FactColumn("first_ticket_at", "tc.first_ticket_at", ("support_events.ticket_created",)),
    FactColumn("rated_at", "rt.rated_at", ("ratings.rating_time",)),
)


def existing_columns(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main'"
    ).fetchall()
    return {f"{table}.{column}" for table, column in rows}


def _padded(table: str, available: set[str]) -> str:
    """The table with NULL columns for the schema columns it lacks (expressions may name them)."""
    missing = [c for c in TABLES[table].columns if f"{table}.{c.name}" not in available]
    if not missing:
        return table
    nulls = ", ".join(f"CAST(NULL AS {c.type}) AS {c.name}" for c in missing)
    return f"(SELECT *, {nulls} FROM {table})"


def order_facts_sql(
    available: set[str],
    only: str | None = None,
    dimensions: Sequence[CustomDimension] = (),
    ordered: bool = True,
) -> str:
    """The SELECT that materializes order_facts from whatever source tables and columns exist;
    with `only` (a query of order ids), just those orders' facts. Each custom dimension adds a
    column of its name holding the order's group label (data/dimensions.py). `ordered` sorts
    the rows by order time (DuckDB's zone maps skip by it; a Spark write need not pay for a
    global sort)."""
    tables = {name.split(".")[0] for name in available}

    def rows(table: str) -> str:
        padded = _padded(table, available)
        if only is None:
            return padded
        return f"(SELECT * FROM {padded} WHERE order_id IN ({only}))"

    ctes, joins = [], []
    if "items" in tables:
        parts = ["order_id", "count(*) AS item_lines"]
        if "items.substituted_flag" in available:
            parts.append("count(*) FILTER (WHERE substituted_flag) AS substituted_lines")
        if "items.missing_flag" in available:
            parts.append("count(*) FILTER (WHERE missing_flag) AS missing_lines")
        if "items.refund_amount" in available:
            parts.append("sum(refund_amount) AS refund_amount")
        items = rows("items")
        ctes.append(f"ic AS (SELECT {', '.join(parts)} FROM {items} GROUP BY order_id)")
        joins.append("LEFT JOIN ic ON ic.order_id = o.order_id")
    if "support_events" in tables:
        ctes.append(
            "tc AS (SELECT order_id, count(*) AS tickets, min(ticket_created) AS first_ticket_at "
            f"FROM {rows('support_events')} GROUP BY order_id)"
        )
        joins.append("LEFT JOIN tc ON tc.order_id = o.order_id")
    if "ratings" in tables:
        timed = "ratings.rating_time" in available
        # an order's latest rating; without rating times, its best
        stars = "arg_max(stars, rating_time)" if timed else "max(stars)"
        ctes.append(
            f"rt AS (SELECT order_id, {stars} AS stars, max(rating_time) AS rated_at "
            f"FROM {rows('ratings')} GROUP BY order_id)"
        )
        joins.append("LEFT JOIN rt ON rt.order_id = o.order_id")
    if "deliveries" in tables:
        deliveries = rows("deliveries")
        joins.insert(0, f"LEFT JOIN {deliveries} d ON d.order_id = o.order_id")
    select = []
    for column in FACT_COLUMNS:
        sql_type = ORDER_FACTS.column(column.name).type
        if all(required in available for required in column.requires):
            select.append(f"CAST({column.expression} AS {sql_type}) AS {column.name}")
        else:
            select.append(f"CAST(NULL AS {sql_type}) AS {column.name}")
    if dimensions:
        joins.append(f"LEFT JOIN {VALUES_TABLE} od ON od.order_id = o.order_id")
        select += [f'{label_sql(d, f"od.{d.name}")} AS "{d.name}"' for d in dimensions]
    with_clause = f"WITH {', '.join(ctes)} " if ctes else ""
    order = " ORDER BY o.order_time, o.order_id" if ordered else ""
    return (
        f"{with_clause}SELECT {', '.join(select)} FROM {rows('orders')} o {' '.join(joins)}{order}"
    )


def parquet_files(source: Path) -> str:
    """What DuckDB reads for a table's `<name>.parquet`: the file, or for a directory of parts
    (e.g. partitioned by day, `day=2026-01-04/part-0.parquet`) every Parquet file under it.
    WarehouseError for a directory without one."""
    if not source.is_dir():
        return str(source)
    if next(source.rglob("*.parquet"), None) is None:
        raise WarehouseError(f"{source} is a directory without Parquet files")
    return str(source / "**" / "*.parquet")


def build_warehouse(
    world_dir: Path,
    threads: int = 2,
    memory_limit: str = "4GB",
    dimension_expressions: dict[str, str] | None = None,
) -> Path:
    """Create `warehouse.duckdb` in `world_dir` from the Parquet tables there (each
    `<name>.parquet` a file or a directory of parts: parquet_files) and the custom dimensions'
    values, typed and declared (`dimension_expressions` are the mapping's, kept with the
    declarations).

    DuckDB spills to disk beyond `memory_limit` (the order_facts join is the peak: ~7 GiB
    unbounded for 10M orders, ~4.5 GiB with the default limit).
    """
    world_dir = Path(world_dir)
    path = world_dir / WAREHOUSE_FILE
    release_warehouse(path)
    if path.exists():
        path.unlink()
    con = duckdb.connect(str(path))
    try:
        con.execute(f"SET threads = {threads}")
        con.execute(f"SET memory_limit = '{memory_limit}'")
        for name, table in TABLES.items():
            source = world_dir / f"{name}.parquet"
            if not source.exists():
                if not table.optional:
                    raise WarehouseError(
                        f"{world_dir}: required table {name} ({source.name}) is missing"
                    )
                continue
            files = parquet_files(source)
            present = set(
                con.execute("SELECT name FROM parquet_schema(?)", [files]).fetchnumpy()["name"]
            )
            columns = [column for column in table.columns if column.name in present]
            body = ", ".join(f"{c.name} {c.type}" for c in columns)
            con.execute(f"CREATE TABLE {name} ({body})")
            names = ", ".join(c.name for c in columns)
            # hive_partitioning off: a partition key (e.g. day=...) is not a schema column
            con.execute(
                f"INSERT INTO {name} SELECT {names} "
                "FROM read_parquet(?, hive_partitioning = false)",
                [files],
            )
        dimensions: list[CustomDimension] = []
        if (world_dir / VALUES_FILE).exists():
            con.execute(
                f"CREATE TABLE {VALUES_TABLE} AS SELECT * FROM read_parquet(?)",
                [str(world_dir / VALUES_FILE)],
            )
            dimensions = declare(con, dimension_expressions or {})
        facts = order_facts_sql(existing_columns(con), dimensions=dimensions)
        con.execute(f"CREATE TABLE order_facts AS {facts}")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return path


# Every analysis connection is a sandbox: an in-memory database with the warehouse attached
# read-only, no file or network access (no read_csv, COPY, ATTACH, extension install or load),
# bounded memory and threads, and its configuration locked so a query cannot lift any of it.
# Attaching (rather than opening the file) keeps the sandbox's settings off the process's shared
# database instance for the file, which writers such as ingestion open with their own. The SQL
# checker is the first wall; this is the second.
ANALYSIS_CONFIG: dict[str, object] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "memory_limit": os.environ.get("CXAGENT_DUCKDB_MEMORY", "4GB"),
    "threads": max(1, min(4, os.cpu_count() or 1)),
}
WAREHOUSE_CATALOG = "warehouse"
MAX_SANDBOXES = 8  # warehouse files with a sandbox held open in this process (LRU)
_SANDBOXES: OrderedDict[Path, tuple[tuple[int, int, int], duckdb.DuckDBPyConnection]] = (
    OrderedDict()
)
_SANDBOXES_LOCK = threading.Lock()
# Run once the warehouse is attached (ATTACH itself is external access): from then on no file,
# no network, no other database, and no SET that could undo it.
SANDBOX_STATEMENTS: tuple[str, ...] = (
    "SET enable_progress_bar = false",
    "SET enable_external_access = false",
    "SET lock_configuration = true",
)


def open_warehouse(world_dir: Path | str) -> duckdb.DuckDBPyConnection:
    """A read-only, sandboxed connection to a world's warehouse; a clear error if there is none.

    Connections are cursors on one sandboxed database per warehouse file and process (its
    buffer pool and catalog shared: 64 open connections cost about 8 MB, not 650). A rebuilt
    or replaced file (another size, mtime or inode) gets a new sandbox; cursors on the old one
    keep reading it until they close. Closing a connection never closes the sandbox."""
    world_dir = Path(world_dir)
    path = world_dir / WAREHOUSE_FILE if world_dir.is_dir() else world_dir
    if not path.is_file():
        raise WarehouseError(
            f"no warehouse at {path}; create one with "
            f"`cxagent generate --scenario demo --out {world_dir}`"
        )
    return warehouse_cursor(_sandbox(path.resolve()))


def _sandbox(path: Path) -> duckdb.DuckDBPyConnection:
    """The process's sandboxed database for this file version (made on first use)."""
    stat = path.stat()
    version = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    with _SANDBOXES_LOCK:
        known = _SANDBOXES.get(path)
        if known is not None and known[0] == version:
            _SANDBOXES.move_to_end(path)
            return known[1]
        con = duckdb.connect(":memory:", config=ANALYSIS_CONFIG)
        try:
            con.execute(f"ATTACH '{quoted_path(path)}' AS {WAREHOUSE_CATALOG} (READ_ONLY)")
            con.execute(f"USE {WAREHOUSE_CATALOG}")
        except duckdb.Error as error:
            con.close()
            raise WarehouseError(f"cannot open {path}: {error}") from None
        for statement in SANDBOX_STATEMENTS:
            con.execute(statement)
        # A dropped sandbox is not closed: its open cursors keep it alive until they close.
        _SANDBOXES[path] = (version, con)
        while len(_SANDBOXES) > MAX_SANDBOXES:
            _SANDBOXES.popitem(last=False)
        return con


def release_warehouse(path: Path) -> None:
    """Close this process's sandbox on a warehouse file (and the connections on it) so a writer
    can open the file: DuckDB refuses a second handle on a file attached in the process."""
    with _SANDBOXES_LOCK:
        known = _SANDBOXES.pop(path.resolve(), None)
    if known is not None:
        known[1].close()


def warehouse_cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A cursor on a sandboxed connection that reads the attached warehouse (a cursor starts
    in the in-memory database; USE is not configuration, so the lock allows it). Another
    engine (data/engines) has no attached warehouse: its own cursor."""
    cursor = con.cursor()
    if (
        isinstance(con, duckdb.DuckDBPyConnection)
        and cursor.execute(
            "SELECT count(*) FROM duckdb_databases() WHERE database_name = ?", [WAREHOUSE_CATALOG]
        ).fetchone()[0]
    ):
        cursor.execute(f"USE {WAREHOUSE_CATALOG}")
    return cursor


def quoted_path(path: Path) -> str:
    """`path` escaped for use inside a single-quoted SQL string (its quotes doubled)."""
    return str(path).replace("'", "''")


def replace_tables(world_dir: Path | str, tables: dict[str, object]) -> None:
    """Replace derived tables (e.g. incidents) in a world's warehouse, in one transaction.

    Values are pandas DataFrames. This process's connections to the file are closed first
    (release_warehouse).
    """
    path = Path(world_dir) / WAREHOUSE_FILE
    if not path.is_file():
        raise WarehouseError(f"no warehouse at {path}")
    release_warehouse(path)
    con = duckdb.connect(str(path))
    try:
        con.execute("BEGIN TRANSACTION")
        for name, frame in tables.items():
            if name in TABLES or name in (ORDER_FACTS.name, VALUES_TABLE):
                raise WarehouseError(f"{name} is a source table; only derived tables are replaced")
            con.register("incoming", frame)
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM incoming")
            con.unregister("incoming")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()


def warehouse_fingerprint(path: Path) -> tuple[int, ...]:
    """Identity (device, inode), size, modification and change times of a warehouse file and of
    its write-ahead log (one stat each): any write, append or replacement changes it, and so
    does setting the modification time back (the change time cannot be set). Empty when there
    is no file."""
    stamp: tuple[int, ...] = ()
    for part in (path, path.with_name(path.name + ".wal")):
        try:
            status = part.stat()
        except OSError:
            continue
        stamp += (status.st_dev, status.st_ino, status.st_size)
        stamp += (status.st_mtime_ns, status.st_ctime_ns)
    return stamp
