"""The one row of an aggregate query: DuckDB types `fetchone()` as optional, but a SELECT of
aggregates without GROUP BY always returns exactly one row."""

from __future__ import annotations

from typing import Any

import duckdb


def one_row(result: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """The next row of an executed query (`con.execute(...)`); raises LookupError when there is
    none, which an aggregate query never does."""
    row = result.fetchone()
    if row is None:
        raise LookupError("the query returned no row")
    return row
