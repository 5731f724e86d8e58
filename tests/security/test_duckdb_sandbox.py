"""The analysis connection is a sandbox on its own, not only behind run_sql's SQL checker: a
statement that slipped past the checker still cannot read or write files, reach another
database, load code, lift a setting or change the warehouse."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from data.scenario import Scenario
from data.warehouse import (
    WAREHOUSE_FILE,
    WarehouseError,
    open_warehouse,
    replace_tables,
    warehouse_cursor,
)
from tools.base import ToolContext, ToolError
from tools.catalog import REGISTRY  # noqa: F401  (registers the tools)

ScenarioFactory = Callable[..., Scenario]
WorldFactory = Callable[[Scenario], Path]


@pytest.fixture(scope="module")
def world(small_scenario: ScenarioFactory, make_world: WorldFactory) -> Path:
    return make_world(small_scenario("demo"))


@pytest.fixture
def con(world: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = open_warehouse(world)
    yield connection
    connection.close()


def test_the_sandbox_reads_the_warehouse_tables_by_their_plain_names(
    con: duckdb.DuckDBPyConnection,
) -> None:
    orders = con.execute("SELECT count(*) FROM orders").fetchone()[0]
    cursor = warehouse_cursor(con)
    assert orders > 1000
    assert cursor.execute("SELECT count(*) FROM order_facts").fetchone()[0] == orders
    cursor.close()


def test_no_statement_reads_a_file_from_disk(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("token\nhunter2\n")
    for sql in (
        f"SELECT * FROM read_csv('{secret}')",
        f"SELECT * FROM '{secret}'",
        f"SELECT * FROM read_text('{secret}')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM glob('/etc/*')",
    ):
        with pytest.raises(duckdb.Error, match="disabled|Permission"):
            con.execute(sql).fetchall()


def test_no_statement_writes_a_file(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    target = tmp_path / "leak.csv"
    # The sandbox's refusal, not any error (a plain connection offline fails these too).
    with pytest.raises(duckdb.PermissionException):
        con.execute(f"COPY (SELECT * FROM orders LIMIT 5) TO '{target}'")
    with pytest.raises(duckdb.PermissionException):
        con.execute(f"EXPORT DATABASE '{tmp_path / 'dump'}'")
    assert not target.exists()
    assert not (tmp_path / "dump").exists()


def test_no_other_database_is_reachable_and_no_code_is_loaded(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    for sql in (
        f"ATTACH '{tmp_path / 'other.duckdb'}' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SELECT * FROM read_parquet('https://example.com/x.parquet')",
    ):
        with pytest.raises(duckdb.PermissionException):
            con.execute(sql)
    assert not (tmp_path / "other.duckdb").exists()


def test_no_setting_can_be_lifted(con: duckdb.DuckDBPyConnection) -> None:
    for sql in (
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "SET memory_limit = '100GB'",
        "SET threads = 64",
    ):
        with pytest.raises(duckdb.Error, match="locked"):
            con.execute(sql)


def test_the_warehouse_cannot_be_changed(con: duckdb.DuckDBPyConnection) -> None:
    before = con.execute("SELECT count(*) FROM orders").fetchone()
    for sql in (
        "DELETE FROM orders",
        "DROP TABLE orders",
        "CREATE TABLE leaked AS SELECT * FROM orders",
        "UPDATE orders SET order_id = order_id",
    ):
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute(sql)
    assert con.execute("SELECT count(*) FROM orders").fetchone() == before


def test_a_sandboxed_reader_and_a_writer_coexist_in_one_process(
    world: Path, tmp_path: Path
) -> None:
    """Attaching keeps the sandbox off the process's instance for the file: a later writer
    (detection saving its incidents) opens it with its own settings."""
    shutil.copy(world / WAREHOUSE_FILE, tmp_path / WAREHOUSE_FILE)
    reader = open_warehouse(tmp_path)
    reader.close()
    replace_tables(tmp_path, {"sandbox_probe": pd.DataFrame({"x": [1, 2, 3]})})
    again = open_warehouse(tmp_path)
    try:
        assert again.execute("SELECT sum(x) FROM sandbox_probe").fetchone()[0] == 6
    finally:
        again.close()


def test_a_missing_or_broken_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="no warehouse"):
        open_warehouse(tmp_path)
    broken = tmp_path / "warehouse.duckdb"
    broken.write_bytes(b"not a database at all" * 100)
    with pytest.raises(WarehouseError, match="cannot open"):
        open_warehouse(tmp_path)


@pytest.fixture
def tool_context(world: Path) -> Iterator[ToolContext]:
    fresh = ToolContext(world_dir=world)
    yield fresh
    fresh.close()


def test_a_gigantic_cell_is_stopped_inside_duckdb_not_converted(
    tool_context: ToolContext,
) -> None:
    with pytest.raises(ToolError, match="more than 10,000 characters"):
        tool_context.call("run_sql", {"sql": "SELECT repeat('x', 200000000) AS blob"})


def test_a_result_is_capped_in_bytes_as_well_as_rows(tool_context: ToolContext) -> None:
    output, item = tool_context.call(
        "run_sql",
        {"sql": "SELECT i, repeat('x', 9000) AS text FROM range(1000) t(i)", "max_rows": 1000},
    )

    assert 200 <= output.row_count < 1000  # about 2 MB of 9 kB rows
    assert output.truncated
    assert "truncated at 2,000,000 bytes" in output.summary
    assert item.ok


def test_a_result_with_too_many_columns_is_refused(tool_context: ToolContext) -> None:
    columns = ", ".join(f"{n} AS c{n}" for n in range(300))
    with pytest.raises(ToolError, match="300 columns; at most 200"):
        tool_context.call("run_sql", {"sql": f"SELECT {columns}"})
