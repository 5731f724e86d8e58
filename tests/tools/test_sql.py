"""The read-only SQL tool: checked SELECTs run row- and time-capped, everything else is refused
with a clear error and recorded as a failed call; the SQL that ran is in the ledger."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlglot

import tools.sql as sql_tool
from data.scenario import Scenario
from data.warehouse import warehouse_cursor
from tools.base import REGISTRY, ToolContext, ToolError
from tools.sql import RunSqlOutput, figure_unit

ScenarioFactory = Callable[..., Scenario]
WorldFactory = Callable[[Scenario], Path]


@pytest.fixture(scope="module")
def demo_world(small_scenario: ScenarioFactory, make_world: WorldFactory) -> Path:
    return make_world(small_scenario("demo"))


@pytest.fixture
def context(demo_world: Path) -> Iterator[ToolContext]:
    """A fresh context (empty ledger) on the small demo world."""
    fresh = ToolContext(world_dir=demo_world)
    yield fresh
    fresh.close()


def run(context: ToolContext, sql: str, **arguments: object) -> RunSqlOutput:
    output, _ = context.call("run_sql", {"sql": sql, **arguments})
    assert isinstance(output, RunSqlOutput)
    return output


def test_run_sql_is_registered_with_its_docstring_as_description() -> None:
    assert REGISTRY["run_sql"].description.startswith("Run one read-only SELECT")


# --- queries that run --------------------------------------------------------------------------


def test_aggregate_query_returns_rows_figures_and_its_sql_is_recorded_in_the_ledger(
    context: ToolContext,
) -> None:
    query = (
        "SELECT region, count(*) AS orders, avg(duration_min) AS duration_min, "
        "avg(CAST(on_time AS INTEGER)) AS on_time_rate FROM order_facts "
        "GROUP BY region ORDER BY region"
    )
    expected = context.con.execute(query).fetchall()

    output = run(context, query, reason="per-region delivery times")

    item = context.ledger.items[-1]
    assert (item.tool, item.ok) == ("run_sql", True)
    assert item.sql == output.sql() == output.executed_sql
    assert "FROM (SELECT * FROM (SELECT region, COUNT(*) AS orders" in item.sql
    assert item.sql.endswith("LIMIT 201) AS capped")
    assert item.sql.startswith("SELECT CASE WHEN strlen(CAST(COLUMNS(*) AS VARCHAR)) > 10000")
    assert output.columns == ["region", "orders", "duration_min", "on_time_rate"]
    assert output.row_count == len(expected) == len(output.rows) > 1
    assert not output.truncated
    assert f"{len(expected)} rows" in item.summary
    assert [tuple(row.values()) for row in output.rows] == [
        (region, orders, pytest.approx(duration), pytest.approx(rate))
        for region, orders, duration, rate in expected
    ]
    first_region = expected[0][0]
    assert item.figures["r1.orders"].value == expected[0][1]
    assert item.figures["r1.orders"].unit == "count"
    assert item.figures["r1.duration_min"].unit == "minutes"
    assert item.figures["r1.on_time_rate"].unit == "share"
    assert f"region={first_region}" in item.figures["r1.orders"].label
    assert item.table == output.rows


def test_cte_and_union_queries_run(context: ToolContext) -> None:
    query = (
        "WITH by_day AS (SELECT day, count(*) AS orders FROM order_facts GROUP BY day) "
        "SELECT 'busiest' AS which, max(orders) AS orders FROM by_day "
        "UNION ALL SELECT 'quietest', min(orders) FROM by_day"
    )

    output = run(context, query)

    assert [row["which"] for row in output.rows] == ["busiest", "quietest"]
    assert output.rows[0]["orders"] >= output.rows[1]["orders"] > 0


def test_comments_and_trailing_semicolons_are_accepted_and_dropped_from_the_sql_that_ran(
    context: ToolContext,
) -> None:
    query = (
        "-- orders per category\n"
        "SELECT category /* the store's category */, count(*) AS orders\n"
        "FROM order_facts GROUP BY category ORDER BY category;;  -- done\n"
    )

    output = run(context, query)

    assert output.row_count == 3
    assert "--" not in output.executed_sql and "/*" not in output.executed_sql
    assert output.query == (
        "SELECT category, COUNT(*) AS orders FROM order_facts GROUP BY category ORDER BY category"
    )


def test_values_are_json_safe_and_units_follow_column_names(context: ToolContext) -> None:
    query = (
        "SELECT min(order_time) AS first_order, min(day) AS first_day, "
        "CAST(avg(basket_value) AS DECIMAL(10, 2)) AS basket_usd, "
        "INTERVAL 5 MINUTE AS grace, [1, 2] AS pair, avg(stars) AS stars "
        "FROM order_facts"
    )

    output = run(context, query)

    (row,) = output.rows
    json.dumps(row, allow_nan=False)
    assert row["first_order"].startswith(row["first_day"] + "T")
    assert isinstance(row["basket_usd"], float)
    assert (row["grace"], row["pair"]) == ("0:05:00", [1, 2])
    figures = output.figures()
    assert figures["r1.basket_usd"].unit == "usd"
    assert figures["r1.stars"].unit == "stars"
    assert {"r1.first_order", "r1.grace", "r1.pair"}.isdisjoint(figures)


def test_information_schema_columns_lists_a_tables_columns(context: ToolContext) -> None:
    output = run(
        context,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'order_facts' ORDER BY ordinal_position",
    )

    assert {"duration_min", "on_time", "region"} <= {row["column_name"] for row in output.rows}


@pytest.mark.parametrize(
    "column, value, unit",
    [
        ("orders", 12, "count"),
        ("z", 1.5, "ratio"),
        ("on_time_rate", 0.9, "share"),
        ("late_share", 0.1, "share"),
        ("avg(duration_min)", 31.2, "minutes"),
        ("refund_amount", 2.6, "usd"),
        ("basket_value", 40.0, "usd"),
        ("wait_seconds", 75, "seconds"),
        ("min(basket_value)", 3.0, "usd"),
        ("separate", 0.5, "ratio"),
    ],
)
def test_figure_unit_reads_the_column_name(column: str, value: float, unit: str) -> None:
    assert figure_unit(column, value) == unit


# --- the caps ----------------------------------------------------------------------------------


def test_row_cap_truncates_keeps_the_order_and_says_so(context: ToolContext) -> None:
    query = "SELECT order_id, basket_value FROM order_facts ORDER BY basket_value DESC, order_id"
    top_five = context.con.execute(f"{query} LIMIT 5").fetchall()

    output = run(context, query, max_rows=5)

    assert output.truncated and output.row_count == 5
    assert [tuple(row.values()) for row in output.rows] == top_five
    assert "truncated at max_rows=5" in output.summary
    assert output.executed_sql.endswith("LIMIT 6) AS capped")


def test_exactly_max_rows_is_not_truncated(context: ToolContext) -> None:
    output = run(context, "SELECT * FROM range(5)", max_rows=5)

    assert (output.row_count, output.truncated) == (5, False)


def test_max_rows_above_the_cap_is_lowered_to_1000(context: ToolContext) -> None:
    output = run(context, "SELECT order_id FROM order_facts", max_rows=50_000)

    assert context.ledger.items[-1].args["max_rows"] == 1000
    assert (output.row_count, output.truncated) == (1000, True)
    assert set(output.figures()) == {"row_count"} and len(output.table()) == sql_tool.TABLE_ROWS


def test_slow_query_is_stopped_with_a_clear_error(
    context: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_tool, "TIME_LIMIT_SECONDS", 0.5)
    cross_join = (
        "SELECT count(*) FROM order_facts a, order_facts b, order_facts c "
        "WHERE a.basket_value + b.basket_value > c.basket_value"
    )

    with pytest.raises(ToolError, match=r"ran longer than 0\.5 s and was stopped"):
        context.call("run_sql", {"sql": cross_join})

    assert context.ledger.items[-1].ok is False
    assert run(context, "SELECT count(*) AS orders FROM orders").row_count == 1


# --- refusals ----------------------------------------------------------------------------------

REFUSED: dict[str, tuple[str, str]] = {
    "delete": ("DELETE FROM orders", r"only SELECT .*DELETE"),
    "update": ("UPDATE orders SET region = 'x'", r"only SELECT .*UPDATE"),
    "insert": ("INSERT INTO orders SELECT * FROM orders", r"only SELECT .*INSERT"),
    "drop": ("DROP TABLE orders", r"only SELECT .*DROP"),
    "create": ("CREATE TABLE copy AS SELECT * FROM orders", r"only SELECT .*CREATE"),
    "two statements": ("SELECT 1; SELECT 2", r"only one statement is allowed; got 2"),
    "select then delete": ("SELECT 1; DELETE FROM orders", r"only one statement"),
    "read_csv": ("SELECT * FROM read_csv('/etc/passwd')", r"table function read_csv\(\)"),
    "read_parquet in a subquery": (
        "SELECT count(*) FROM orders WHERE order_id IN "
        "(SELECT order_id FROM read_parquet('orders.parquet'))",
        r"table function read_parquet\(\)",
    ),
    "glob": ("SELECT * FROM glob('/*')", r"table function glob\(\)"),
    "sqlite_scan": ("SELECT * FROM sqlite_scan('x.db', 't')", r"sqlite_scan\(\)"),
    "file as a table": ("SELECT * FROM 'orders.parquet'", r"'orders.parquet' is a file or URL"),
    "url as a table": ("SELECT * FROM 's3://bucket/x.parquet'", r"is a file or URL"),
    "unknown table": ("SELECT * FROM customers", r"unknown table 'customers'; tables: .*orders"),
    "system catalog": ("SELECT * FROM duckdb_tables()", r"table function duckdb_tables\(\)"),
    "pg_catalog": ("SELECT * FROM pg_catalog.pg_class", r"information_schema\.columns"),
    "sqlite_master": ("SELECT * FROM sqlite_master", r"unknown table 'sqlite_master'"),
    "current_setting": ("SELECT current_setting('threads')", r"current_setting\(\) is not"),
    "attach": ("ATTACH '/tmp/other.duckdb' AS other", r"only SELECT .*ATTACH"),
    "detach": ("DETACH warehouse", r"only SELECT .*DETACH"),
    "pragma": ("PRAGMA table_info('orders')", r"only SELECT .*PRAGMA"),
    "copy": ("COPY orders TO '/tmp/orders.csv'", r"only SELECT .*COPY"),
    "copy a query": ("COPY (SELECT * FROM orders) TO '/tmp/o.csv'", r"only SELECT .*COPY"),
    "set": ("SET threads = 1", r"only SELECT .*SET"),
    "install": ("INSTALL httpfs", r"only SELECT .*INSTALL"),
    "load": ("LOAD httpfs", r"only SELECT .*LOAD"),
    "call": ("CALL pragma_version()", r"only SELECT .*CALL"),
    "export": ("EXPORT DATABASE '/tmp/out'", r"could not parse the SQL as one DuckDB SELECT"),
    "select into": ("SELECT * INTO copy FROM orders", r"INTO writes a table"),
    "cte hiding a delete": (
        "WITH gone AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM gone",
        r"the query contains DELETE",
    ),
    "cte name reused outside its scope": (
        "SELECT * FROM sqlite_master, "
        "(WITH sqlite_master AS (SELECT 1) SELECT * FROM sqlite_master)",
        r"unknown table 'sqlite_master'",
    ),
    "cte naming a file before a sibling reads it": (
        "WITH a AS (SELECT * FROM 'x.csv'), \"x.csv\" AS (SELECT 1) SELECT * FROM a",
        r"'x.csv' is a file or URL",
    ),
    "other database": ("SELECT * FROM other.main.orders", r"database 'other' is not allowed"),
    "syntax error": ("SELEC region FROM orders", r"could not parse the SQL"),
    "only a comment": ("-- nothing to run\n;", r"no SQL statement"),
}


@pytest.mark.parametrize("sql, message", REFUSED.values(), ids=REFUSED)
def test_refused_sql_raises_a_tool_error_naming_the_problem_and_is_recorded_as_not_ok(
    sql: str, message: str, context: ToolContext
) -> None:
    with pytest.raises(ToolError, match=message):
        context.call("run_sql", {"sql": sql})

    (item,) = context.ledger.items
    assert (item.tool, item.ok, item.sql) == ("run_sql", False, None)
    assert item.args["sql"] == sql


def test_a_cte_hiding_a_delete_fails_in_duckdb_too_if_validation_let_it_through(
    context: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        sql_tool, "check_query", lambda sql, *_: sqlglot.parse_one(sql, read="duckdb")
    )

    with pytest.raises(ToolError, match="data-modifying statement"):
        context.call(
            "run_sql",
            {"sql": "WITH gone AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM gone"},
        )

    assert context.ledger.items[-1].ok is False


@pytest.mark.parametrize(
    "write",
    [
        "DELETE FROM orders",
        "INSERT INTO orders SELECT * FROM orders",
        "CREATE TABLE leaked AS SELECT * FROM orders",
        "DROP TABLE orders",
    ],
)
def test_writes_fail_on_the_connection_run_sql_uses(write: str, context: ToolContext) -> None:
    orders_before = context.con.execute("SELECT count(*) FROM orders").fetchone()
    cursor = warehouse_cursor(context.con)

    with pytest.raises(ToolError, match="read-only"):
        sql_tool.run_capped(cursor, write, seconds=5.0)

    cursor.close()
    assert context.con.execute("SELECT count(*) FROM orders").fetchone() == orders_before
