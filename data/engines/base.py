"""The connection interface every query of data/, analytics/ and tools/ runs through.

It is the part of a DuckDB connection our code uses (`con.execute(sql, params)` and the
fetch methods of its result), so a DuckDB connection is an Engine as it is, and another engine
offers the same methods over its own SQL (data/engines/spark_engine.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import pyarrow as pa


class EngineError(RuntimeError):
    """An engine that cannot start or reach its data, or a query it cannot run; the message
    says what to do (install Java, start the Spark Connect server, ...)."""


class Result(Protocol):
    """What `Engine.execute` returns: the rows of one query, fetched once."""

    @property
    def description(self) -> Sequence[tuple[Any, ...]] | None:
        """One tuple per column, its name first (DB-API)."""
        ...

    def fetchall(self) -> list[tuple[Any, ...]]: ...

    def fetchone(self) -> tuple[Any, ...] | None: ...

    def fetchmany(self, size: int = 1) -> list[tuple[Any, ...]]: ...

    def df(self) -> pd.DataFrame: ...

    def fetchdf(self) -> pd.DataFrame: ...

    def arrow(self) -> pa.Table: ...

    def to_arrow_table(self) -> pa.Table: ...


class Engine(Protocol):
    """A connection that runs DuckDB-dialect SQL with parameters (`?` or `$1` from a sequence,
    `$name` from a mapping)."""

    def execute(
        self, query: str, parameters: Sequence[object] | Mapping[str, object] | None = None
    ) -> Result: ...

    def cursor(self) -> Engine: ...

    def interrupt(self) -> None: ...

    def close(self) -> None: ...


def database_file(con: object) -> str | None:
    """The one database file a DuckDB connection reads (its system table, which no other
    engine has); None for an in-memory database, several files, or another engine."""
    import duckdb

    if not isinstance(con, duckdb.DuckDBPyConnection):
        return None
    paths = [
        row[0]
        for row in con.execute(
            "SELECT path FROM duckdb_databases() WHERE NOT internal AND path IS NOT NULL "
            "AND path <> ''"
        ).fetchall()
    ]
    return paths[0] if len(paths) == 1 else None


def data_stamp(con: object) -> tuple[object, ...] | None:
    """What identifies the data a connection reads, for results kept per data: the DuckDB
    warehouse file with its fingerprint (data.warehouse.warehouse_fingerprint), another
    engine's `stamp` (SparkEngine: its Parquet files' sizes and times); None: keep nothing."""
    path = database_file(con)
    if path is not None:
        from data.warehouse import warehouse_fingerprint

        return (path, *warehouse_fingerprint(Path(path)))
    stamp = getattr(con, "stamp", None)
    return tuple(stamp) if stamp is not None else None


def cell_guarded(con: object, sql: str, max_chars: int, message: str) -> str:
    """`sql` with every cell measured in the engine: on DuckDB one longer than `max_chars` (as
    text) stops the query there with `message`, before a gigabyte string reaches Python (names
    and types kept; DuckDB's COLUMNS(*) and error()). Other engines run `sql` as it is: its
    rows are capped, its cells are not (docs/SCALE.md)."""
    import duckdb

    if not isinstance(con, duckdb.DuckDBPyConnection):
        return sql
    quoted = message.replace("'", "''")
    return (
        f"SELECT CASE WHEN strlen(CAST(COLUMNS(*) AS VARCHAR)) > {max_chars} "
        f"THEN error('{quoted}') ELSE COLUMNS(*) END FROM ({sql}) AS capped"
    )
