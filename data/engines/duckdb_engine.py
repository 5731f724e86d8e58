"""The embedded default engine: a world's DuckDB warehouse, whose connection is the Engine."""

from __future__ import annotations

from pathlib import Path

import duckdb

from data.warehouse import open_warehouse


def open_duckdb_world(world_dir: Path | str) -> duckdb.DuckDBPyConnection:
    """A read-only, sandboxed connection to the world's warehouse (data/warehouse.py); it
    satisfies data.engines.base.Engine as it is."""
    return open_warehouse(world_dir)
