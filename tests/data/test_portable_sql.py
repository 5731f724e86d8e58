"""Every query the agent runs is portable (issue 20): written in DuckDB's dialect with no
function only DuckDB has (sqlglot knows every function it names, so it can write it for
another engine), and data/engines/transpile.py writes it for Spark, Snowflake, BigQuery and
Trino without an unsupported construct. The queries are the ones a real conversation sends:
recorded on the warehouse connection while the agent answers questions of every kind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from sqlglot import exp

import tools.base
from agent.service import Agent
from data.engines.transpile import READ_DIALECT, Catalog, transpile
from data.warehouse import open_warehouse, warehouse_cursor

DIALECTS = ("spark", "snowflake", "bigquery", "trino")
QUESTIONS = (
    "why did CX drop on Jan 4?",
    "what if we revert the batching change?",
    "show me the experiment plan",
    "which regions had the worst on-time rate last week?",
    "which stores got worse the most in cancellations last week?",
    "is the north getting worse?",
    "how many deliveries were slow last week?",
    "compare grocery and restaurant on-time rate last week",
    "what was the cancellation rate by daypart on Jan 3?",
    "what data do you have?",
    "how good is the data?",
    "what drives on-time rate last week?",
    "SELECT region, count(*) AS orders FROM order_facts GROUP BY region ORDER BY region",
)


class Recording:
    """A warehouse connection that keeps every query it runs (the first parameters of each)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, queries: dict[str, Any]) -> None:
        self._con, self._queries = con, queries

    def execute(self, sql: str, parameters: object = None) -> duckdb.DuckDBPyConnection:
        given = parameters if isinstance(parameters, dict) else list(parameters or [])
        self._queries.setdefault(sql, given)
        return self._con.execute(sql, parameters or [])

    def cursor(self) -> Recording:  # the read-only SQL tool's: on the attached warehouse
        return Recording(warehouse_cursor(self._con), self._queries)

    def __getattr__(self, name: str) -> object:
        return getattr(self._con, name)


@pytest.fixture(scope="module")
def world(small_scenario, make_world) -> Path:
    return make_world(small_scenario("demo"))


@pytest.fixture(scope="module")
def queries(world: Path) -> Iterator[dict[str, Any]]:
    recorded: dict[str, Any] = {}
    opened = tools.base.open_warehouse
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            tools.base, "open_warehouse", lambda *a, **k: Recording(opened(*a, **k), recorded)
        )
        agent = Agent(world)
        for question in QUESTIONS:
            agent.ask(question)
        agent.close()
    yield recorded


@pytest.fixture(scope="module")
def catalog(world: Path) -> Catalog:
    con = open_warehouse(world)
    try:
        rows = con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "ORDER BY table_name, ordinal_position"
        ).fetchall()
    finally:
        con.close()
    columns: dict[str, list[str]] = {}
    types: dict[str, list[str]] = {}
    for table, column, kind in rows:
        columns.setdefault(table, []).append(column)
        types.setdefault(table, []).append(kind)
    return Catalog(columns=columns, types=types)


def test_the_conversation_sends_many_kinds_of_query(queries: dict[str, Any]) -> None:
    assert len(queries) > 40  # the detectors, slices, tests, models, plans, lookups
    assert any("GROUP BY region ORDER BY region) AS q LIMIT" in sql for sql in queries)  # run_sql


def test_no_query_names_a_function_only_duckdb_has(queries: dict[str, Any]) -> None:
    unknown = {
        function.name
        for sql in queries
        for function in sqlglot.parse_one(sql, read=READ_DIALECT).find_all(exp.Anonymous)
    }
    assert not unknown, f"functions sqlglot cannot write for another engine: {sorted(unknown)}"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_query_is_written_for(
    dialect: str, queries: dict[str, Any], catalog: Catalog
) -> None:
    failures = []
    for sql, parameters in queries.items():
        try:
            transpile(sql, dialect, parameters, catalog=catalog)
        except Exception as error:  # noqa: BLE001 (each failure is listed)
            failures.append(f"{error}: {sql[:200]}")
    assert not failures, "\n".join(failures)


def test_a_duckdb_only_function_would_be_caught(catalog: Catalog) -> None:
    """The check above can fail: DuckDB's `list_aggregate` is unknown to sqlglot."""
    sql = "SELECT list_aggregate([1, 2], 'sum') AS total"
    assert any(sqlglot.parse_one(sql, read=READ_DIALECT).find_all(exp.Anonymous))
