"""The Spark engine gives the DuckDB warehouse's metric series and incidents; the metric and
driver queries transpile to the other warehouses' dialects as their golden files say."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

import tools.catalog  # noqa: F401  (registers the tools)
from agent.service import Agent
from agent.settings import AgentSettings
from analytics.alarms import PERIOD_LENGTH, DetectorSettings, alarms_frame, data_span, scan_series
from analytics.drivers import Window, group_stats
from analytics.incidents import Incident, build_incidents
from analytics.key_drivers import key_drivers
from analytics.metrics import metric_frame, per_warehouse_file
from analytics.sampling import sampled_predicate, window_samples
from cxagent.cli import app
from data.engines.base import EngineError
from data.engines.spark_engine import (
    FACTS_FILE,
    FACTS_SOURCES_FILE,
    SparkEngine,
    files_stamp,
    java_available,
    open_spark_world,
    start_spark,
)
from data.engines.transpile import Catalog, rewritten, transpile
from data.schema import ORDER_FACTS
from data.warehouse import open_warehouse
from tools.base import ToolContext, WorldCache

GOLDEN = Path(__file__).parent / "golden"
DIALECTS = ("snowflake", "bigquery", "trino")
MATURITY = dt.timedelta(hours=6)
needs_java = pytest.mark.skipif(
    not java_available(), reason="Spark needs Java 17+ (no `java`): `make java` installs it"
)


@pytest.fixture(scope="module")
def world(small_scenario, make_world) -> Path:
    return make_world(small_scenario("demo", orders_per_day=800))


@pytest.fixture(scope="module")
def spark(world: Path, spark_session) -> Iterator[SparkEngine]:
    engine = open_spark_world(world, session=spark_session)  # started once (tests/conftest.py)
    yield engine
    spark_session.catalog.clearCache()


class Recording:
    """A DuckDB connection that keeps the SQL and parameters of every query it runs."""

    def __init__(self, con) -> None:
        self.con = con
        self.queries: list[tuple[str, list[object]]] = []

    def execute(self, sql: str, parameters: Sequence[object] | None = None):
        self.queries.append((sql, list(parameters or [])))
        return self.con.execute(sql, parameters or [])


def _incidents(con) -> list[Incident]:
    settings = DetectorSettings()
    results = scan_series(con, "hour", None, settings)
    as_of = data_span(con).last + PERIOD_LENGTH["hour"] + settings.maturity
    return build_incidents(
        results, alarms_frame(results, "hour", settings), "hour", as_of, settings
    )


def _fields(incident: Incident) -> tuple[object, ...]:
    """The incident's fields, NaN read as None (NaN is not equal to itself)."""
    return tuple(
        None if isinstance(value, float) and math.isnan(value) else value
        for value in dataclasses.astuple(incident)
    )


@needs_java
def test_hourly_metric_series_on_spark_equal_duckdb(world: Path, spark: SparkEngine) -> None:
    duckdb_frame = metric_frame(open_warehouse(world), grain="hour", maturity=MATURITY)
    spark_frame = metric_frame(spark, grain="hour", maturity=MATURITY)
    assert list(spark_frame.columns) == list(duckdb_frame.columns)
    assert len(spark_frame) == len(duckdb_frame) > 500
    assert (spark_frame["period"] == duckdb_frame["period"]).all()
    for column in duckdb_frame.columns.drop("period"):
        expected = duckdb_frame[column].astype(float).tolist()
        # metric values to 1e-9; sums of squares (up to ~1e5) to 1e-9 of their size
        assert spark_frame[column].astype(float).tolist() == pytest.approx(
            expected, rel=1e-9, abs=1e-9, nan_ok=True
        ), column


@needs_java
def test_incident_scan_on_spark_finds_the_duckdb_incidents(world: Path, spark: SparkEngine) -> None:
    on_duckdb = _incidents(open_warehouse(world))
    on_spark = _incidents(spark)
    assert on_duckdb, "the demo world has incidents"
    assert [_fields(i) for i in on_spark] == [_fields(i) for i in on_duckdb]


def _hourly_metric_query(world: Path) -> tuple[str, list[object]]:
    recording = Recording(open_warehouse(world))
    metric_frame(recording, grain="hour", maturity=MATURITY)  # type: ignore[arg-type]
    return recording.queries[-1]


def _driver_query(world: Path) -> tuple[str, list[object]]:
    recording = Recording(open_warehouse(world))
    windows = {
        "baseline": Window(dt.datetime(2025, 12, 28), dt.datetime(2026, 1, 3)),
        "incident": Window(dt.datetime(2026, 1, 4, 18), dt.datetime(2026, 1, 4, 21)),
    }
    group_stats(recording, ["batch_detour_min"], {"category": "grocery"}, windows)  # type: ignore[arg-type]
    return next(q for q in reversed(recording.queries) if "WHEN t >= ?" in q[0])


QUERIES = {"hourly_metrics": _hourly_metric_query, "driver_group_stats": _driver_query}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("query", sorted(QUERIES))
def test_query_transpiles_as_golden_file(world: Path, query: str, dialect: str) -> None:
    sql, parameters = QUERIES[query](world)
    catalog = Catalog({ORDER_FACTS.name: ORDER_FACTS.column_names})
    written = transpile(sql, dialect, parameters, catalog, pretty=True) + "\n"
    golden = GOLDEN / f"{query}.{dialect}.sql"
    if os.environ.get("CXAGENT_WRITE_GOLDEN"):
        golden.write_text(written)
    assert written == golden.read_text()


def test_missing_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", "/nonexistent")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(EngineError, match=r"Java 17 .*`make java`"):
        start_spark("local[1]")


def test_unreachable_spark_connect_is_a_clear_error() -> None:
    with pytest.raises(EngineError, match="cannot reach the Spark Connect server at sc://"):
        start_spark("sc://127.0.0.1:9")


def test_cli_on_unreachable_spark_connect_says_so_without_traceback(world: Path) -> None:
    result = CliRunner().invoke(
        app, ["incidents", "--world", str(world), "--engine", "spark",
              "--spark-master", "sc://127.0.0.1:9"],
    )  # fmt: skip
    assert result.exit_code != 0
    assert "cannot reach the Spark Connect server" in result.output
    assert "Traceback" not in result.output


def test_materialize_without_spark_is_a_clear_error(world: Path) -> None:
    result = CliRunner().invoke(app, ["ask", "why did CX drop?", "--world", str(world),
                                      "--materialize"])  # fmt: skip
    assert result.exit_code != 0
    assert "--materialize is for --engine spark" in result.output
    assert "Traceback" not in result.output


def test_parameters_are_bound_as_escaped_literals() -> None:
    sql = transpile(
        "SELECT * FROM order_facts WHERE region = ? AND order_time < ?",
        "spark",
        ["north' OR '1'='1", pd.Timestamp("2026-01-04 18:00")],
    )
    assert sql == (
        "SELECT * FROM order_facts WHERE region = 'north\\' OR \\'1\\'=\\'1' "
        "AND order_time < CAST('2026-01-04 18:00:00' AS TIMESTAMP_NTZ)"
    )


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT r, regr_intercept(y, x) FILTER (WHERE NOT b) OVER w, regr_slope(y, x) OVER w "
        "FROM t WINDOW w AS (PARTITION BY r)",
        "SELECT r, regr_intercept(y, x), regr_slope(y, x) FROM t GROUP BY r",
    ],
)
def test_regression_rewrite_for_bigquery_keeps_duckdb_values(sql: str) -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT i % 3 AS r, i % 4 = 0 AS b, "
        "CASE WHEN i % 7 = 0 THEN NULL ELSE i * 0.5 + sin(i) END AS x, "
        "CASE WHEN i % 11 = 0 THEN NULL ELSE 3 + 2 * i + 5 * cos(i) END AS y FROM range(200) r(i)"
    )
    rewritten_sql = rewritten(sql, "bigquery", Catalog()).sql("duckdb")
    assert "regr_" not in rewritten_sql.lower()
    expected = con.execute(f"{sql} ORDER BY ALL").fetchall()
    found = con.execute(f"{rewritten_sql} ORDER BY ALL").fetchall()
    assert [list(row) for row in found] == [pytest.approx(list(row), rel=1e-9) for row in expected]


def test_a_spark_context_neither_reads_nor_writes_the_duckdb_results_stored_on_disk(
    world: Path, spark: SparkEngine
) -> None:
    """The world's result store holds the DuckDB warehouse's results (as `generate` leaves
    it): a ToolContext on the Spark engine must compute its own, or `--engine spark` would
    print DuckDB's incidents (it did: 15 s instead of 44 s on the demo world), and must not
    store Spark's results as the warehouse's."""
    duckdb_context = ToolContext(world_dir=world, shared=WorldCache(persist=True))
    try:
        duckdb_context.call("describe_world", {})
        assert duckdb_context.shared.store is not None
    finally:
        duckdb_context.close()
    stored = sorted(p.name for p in world.rglob("*") if p.is_file())
    context = ToolContext(world_dir=world, engine=spark, shared=WorldCache(persist=True))
    try:
        assert context.shared.store is None
        output, _ = context.call("describe_world", {})
    finally:
        context.close()
    assert output is not None
    assert sorted(p.name for p in world.rglob("*") if p.is_file()) == stored


def _difference(found: Any, expected: Any, path: str = "") -> str | None:
    """Where `found` differs from `expected` (floats to 1e-6 relative, 1e-9 absolute, through
    lists and dicts), or None."""
    if isinstance(expected, float) and isinstance(found, float | int):
        close = found == pytest.approx(expected, rel=1e-6, abs=1e-9)
        return None if close else f"{path}: {found!r} != {expected!r}"
    if isinstance(expected, dict) and isinstance(found, dict):
        if found.keys() != expected.keys():
            return f"{path}: keys {sorted(found)} != {sorted(expected)}"
        differences = (_difference(found[k], v, f"{path}.{k}") for k, v in expected.items())
        return next((d for d in differences if d), None)
    if isinstance(expected, list) and isinstance(found, list):
        if len(found) != len(expected):
            return f"{path}: {len(found)} items != {len(expected)}"
        pairs = enumerate(zip(found, expected, strict=True))
        return next((d for i, (f, e) in pairs if (d := _difference(f, e, f"{path}[{i}]"))), None)
    return None if found == expected else f"{path}: {found!r} != {expected!r}"


def test_the_demo_question_on_spark_answers_as_on_duckdb(world: Path, spark: SparkEngine) -> None:
    """The whole diagnosis (incidents, slices, hypothesis tests, SHAP, what-if, plan) on Spark:
    the same tool calls in the same order with the same arguments and figures, so the same
    answer, every number grounded. Figures to 1e-6 relative: the metric values agree to 1e-9
    (test_hourly_metric_series_on_spark_equal_duckdb), statistics built on floating-point
    aggregates summed in another order (a regression's slope) to about 1e-8; the model fits
    (SHAP, what-if) read the same orders in the same order, so they agree too."""
    settings = AgentSettings()  # the result store is off in tests (tests/conftest.py)
    question = "why did CX drop on Jan 4?"
    on_duckdb = Agent(world, settings).ask(question)
    on_spark = Agent(world, settings, engine=spark).ask(question)
    assert on_spark["grounding"]["ok"] and on_spark["answer"] == on_duckdb["answer"]
    assert [c["kind"] for c in on_spark["causes"]] == [c["kind"] for c in on_duckdb["causes"]]
    calls = [(item["tool"], item["ok"]) for item in on_duckdb["evidence"]]
    assert [(item["tool"], item["ok"]) for item in on_spark["evidence"]] == calls
    assert ("what_if", True) in calls and ("shap_attribution", True) in calls
    for found, expected in zip(on_spark["evidence"], on_duckdb["evidence"], strict=True):
        assert _difference(found["args"], expected["args"], expected["id"]) is None
        assert _difference(found["figures"], expected["figures"], expected["id"]) is None


def test_an_engine_sample_is_the_same_orders_on_spark(world: Path, spark: SparkEngine) -> None:
    """The model fits' samples (analytics/sampling.py) keep the same orders on both engines."""
    window = (dt.datetime(2025, 12, 21), dt.datetime(2026, 1, 4))
    con = open_warehouse(world)
    try:
        kept = []
        for engine in (con, spark):
            (sample,) = window_samples(engine, "category = ?", ["grocery"], [window], cap=300)
            predicate, parameters = sampled_predicate([sample])
            rows = engine.execute(
                f"SELECT order_id FROM order_facts WHERE {predicate} ORDER BY order_id", parameters
            ).fetchall()
            kept.append((sample.rows, [row[0] for row in rows]))
    finally:
        con.close()
    assert kept[0] == kept[1] and kept[0][0] > 300 and 0 < len(kept[0][1]) < kept[0][0]


def test_whole_data_checks_are_kept_per_world_files_on_spark(
    world: Path, spark: SparkEngine, tmp_path: Path
) -> None:
    """Metric availability and degenerate-metric checks scan all of order_facts; on Spark they
    are kept while the world's Parquet files are unchanged (they ran before every metric query:
    393 queries for the demo question, 91 with them kept)."""
    computed = []

    def compute(con: object) -> int:
        computed.append(con)
        return len(computed)

    assert per_warehouse_file(spark, "test-kept", compute) == 1
    assert per_warehouse_file(spark, "test-kept", compute) == 1 and len(computed) == 1
    copy = tmp_path / "world"
    shutil.copytree(world, copy, ignore=shutil.ignore_patterns("*.duckdb*", ".cache"))
    before = files_stamp(copy)
    assert files_stamp(copy) == before
    orders = copy / "orders.parquet"
    os.utime(orders, ns=(orders.stat().st_atime_ns, orders.stat().st_mtime_ns + 10**9))
    assert files_stamp(copy) != before  # a rewritten table is read again


def _sorted_facts(frame: pd.DataFrame) -> pd.DataFrame:
    """By order id; numbers and booleans as floats (NaN for null), dates as timestamps: DuckDB's
    df() and Spark's Arrow conversion type nullable columns differently."""
    frame = frame.sort_values("order_id").reset_index(drop=True)
    for column in frame.columns:
        values = frame[column].dropna()
        first = values.iloc[0] if len(values) else None
        if pd.api.types.is_numeric_dtype(frame[column]) or isinstance(first, bool | int | float):
            frame[column] = frame[column].astype("Float64").astype(float)
        elif isinstance(first, dt.date):
            frame[column] = pd.to_datetime(frame[column])
    return frame


@needs_java
def test_materialized_order_facts_equal_the_warehouse_and_go_stale_with_their_sources(
    world: Path, spark_session, tmp_path: Path
) -> None:
    """`materialize` writes order_facts into the world once (the warehouse's rows, as Parquet);
    a reopened world reads those files, not the join; a changed source file makes them stale,
    so the next open computes order_facts again rather than answer from old facts."""
    copy = tmp_path / "world"
    shutil.copytree(world, copy, ignore=shutil.ignore_patterns("*.duckdb*", ".cache"))
    heard: list[str] = []
    before = files_stamp(copy)
    session = spark_session.newSession()  # its own views: the module's `spark` keeps its own
    written = open_spark_world(copy, session=session, materialize=True, progress=heard.append)
    stored = copy / FACTS_FILE
    assert stored.is_dir() and (stored / FACTS_SOURCES_FILE).is_file()
    assert [line.split(" ")[0] for line in heard] == ["writing", "order_facts"]
    with duckdb.connect(str(world / "warehouse.duckdb"), read_only=True) as con:
        expected = _sorted_facts(con.execute("SELECT * FROM order_facts").df())
    found = _sorted_facts(written.execute("SELECT * FROM order_facts").df())
    # Spark rounds a few minute figures' division to 6 decimals (as on every Spark query)
    pd.testing.assert_frame_equal(
        found[expected.columns], expected, check_dtype=False, rtol=0, atol=1e-6
    )
    assert files_stamp(copy) == before  # the facts written are not a source

    def reads_stored(engine: SparkEngine) -> bool:
        files = engine.session.table("order_facts").inputFiles()
        return bool(files) and all(f"/{FACTS_FILE}/" in f for f in files)

    reopened = open_spark_world(copy, session=session, cache=False, progress=heard.append)
    assert reads_stored(reopened) and len(heard) == 2  # read, not written again
    orders = copy / "orders.parquet"
    os.utime(orders, ns=(orders.stat().st_atime_ns, orders.stat().st_mtime_ns + 10**9))
    stale = open_spark_world(copy, session=session, cache=False)
    assert not reads_stored(stale)
    assert stale.execute("SELECT count(*) FROM order_facts").fetchone() == (len(expected),)
    rewritten = open_spark_world(copy, session=session, materialize=True, progress=heard.append)
    assert reads_stored(rewritten) and len(heard) == 4  # stale facts written again
    assert rewritten.execute("SELECT count(*) FROM order_facts").fetchone() == (len(expected),)


@needs_java
@pytest.mark.parametrize("model_cap", [None, 2_000])
def test_key_drivers_on_spark_equal_duckdb(
    world: Path, spark: SparkEngine, model_cap: int | None
) -> None:
    """Key drivers' group sums (GROUPING SETS) and the model's engine sample (capped: the same
    orders by md5 of the order id) give DuckDB's drivers, effects and attributions."""
    found = []
    con = open_warehouse(world)
    try:
        for engine in (con, spark):
            found.append(key_drivers(engine, "duration_min", model_cap=model_cap))
    finally:
        con.close()
    duck, on_spark = found
    assert on_spark.orders == duck.orders and on_spark.model_orders == duck.model_orders
    assert (on_spark.sample_note is None) == (model_cap is None)
    assert on_spark.sample_note == duck.sample_note
    assert [d.dimension for d in on_spark.drivers] == [d.dimension for d in duck.drivers]
    for mine, theirs in zip(on_spark.drivers, duck.drivers, strict=True):
        assert mine.attribution == pytest.approx(theirs.attribution, rel=1e-9, abs=1e-12)
        assert mine.agreement == theirs.agreement
    assert [(e.dimension, e.group, e.orders) for e in on_spark.effects] == [
        (e.dimension, e.group, e.orders) for e in duck.effects
    ]
    for mine, theirs in zip(on_spark.effects, duck.effects, strict=True):
        assert mine.value == pytest.approx(theirs.value, rel=1e-9)
        assert mine.difference.p_value == pytest.approx(theirs.difference.p_value, rel=1e-6)
