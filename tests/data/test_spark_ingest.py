"""`ingest --engine spark` writes the world the DuckDB ingest writes (DoorDash's 2015 sample
through its shipped mapping), detection on it finds the same incidents, a bad mapping fails as
it does on DuckDB, and custom dimensions answer on Spark as on DuckDB."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
import pytest
import yaml

import tools.catalog  # noqa: F401  (registers the tools)
from data.dimensions import VALUES_FILE, declared_dimensions
from data.engines.spark_engine import FACTS_FILE, open_spark_world
from data.engines.spark_ingest import spark_ingest
from data.engines.transpile import transpile
from data.generator import MANIFEST_FILE
from data.ingest import IngestError, IngestResult, ingest
from data.mapping import load_mapping
from data.warehouse import WAREHOUSE_FILE, open_warehouse
from tools.base import ToolContext, WorldCache

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MAPPING = Path(__file__).resolve().parents[2] / "examples" / "doordash_2015" / "mapping.yaml"
SAMPLE = load_mapping(MAPPING).source_path("orders")
needs_sample = pytest.mark.skipif(
    not SAMPLE.is_file(),
    reason=f"the DoorDash sample is not at {SAMPLE} (set CXAGENT_DOORDASH_CSV to its path)",
)
KEYS = {"orders": ["order_id"], "deliveries": ["order_id"], "order_dimensions": ["order_id"]}
DIMENSIONS = {
    "protocol": "CAST(CAST(order_protocol AS INTEGER) AS VARCHAR)",  # categorical
    "busy_market": "total_busy_dashers > 50",  # boolean
    "items": "total_items",  # numeric, binned at its quartiles
}


@pytest.fixture(scope="module")
def spark(spark_session: SparkSession) -> Iterator[SparkSession]:
    yield spark_session  # the session's (tests/conftest.py): started once for every module
    spark_session.catalog.clearCache()


@pytest.fixture(scope="module")
def doordash(
    tmp_path_factory: pytest.TempPathFactory, spark: SparkSession
) -> tuple[IngestResult, IngestResult]:
    """The sample ingested by DuckDB and by Spark."""
    base = tmp_path_factory.mktemp("doordash")
    return ingest(MAPPING, base / "duckdb"), spark_ingest(MAPPING, base / "spark", session=spark)


def _mapping(tmp_path: Path, orders: dict[str, Any] | None = None) -> Path:
    """The shipped mapping with its source made absolute and `orders` entries replaced."""
    raw = yaml.safe_load(MAPPING.read_text())
    source = str(load_mapping(MAPPING).source_path("orders"))
    for table in raw["tables"].values():
        table["source"] = source
    raw["tables"]["orders"] |= orders or {}
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _table(world: Path, name: str) -> pd.DataFrame:
    frame = pd.read_parquet(world / f"{name}.parquet")
    return frame.sort_values(KEYS[name]).reset_index(drop=True)


def _assert_same_values(duckdb_world: Path, spark_world: Path, name: str) -> None:
    """Equal columns, types and values: timestamps and text exactly, floats to 1e-9."""
    expected, found = _table(duckdb_world, name), _table(spark_world, name)
    assert list(found.columns) == list(expected.columns)
    assert found.dtypes.to_dict() == expected.dtypes.to_dict()
    for column in expected.columns:
        if expected[column].dtype.kind == "f":
            assert found[column].isna().equals(expected[column].isna()), column
            assert (found[column] - expected[column]).abs().max() <= 1e-9 or math.isnan(
                (found[column] - expected[column]).abs().max()
            ), column
        else:
            assert found[column].equals(expected[column]), column


def _assert_close(found: object, expected: object, where: str = "") -> None:
    """Equal nested outputs, floats to 1e-9 relative (NaN equal to NaN)."""
    if isinstance(expected, dict):
        assert isinstance(found, dict) and found.keys() == expected.keys(), where
        for key, value in expected.items():
            _assert_close(found[key], value, f"{where}.{key}")
    elif isinstance(expected, list | tuple):
        assert isinstance(found, list | tuple) and len(found) == len(expected), where
        for index, (item, value) in enumerate(zip(found, expected, strict=True)):
            _assert_close(item, value, f"{where}[{index}]")
    elif isinstance(expected, float) and not isinstance(found, bool):
        assert isinstance(found, float | int), where
        assert (math.isnan(found) and math.isnan(expected)) or found == pytest.approx(
            expected, rel=1e-9, abs=1e-12
        ), where
    else:
        assert found == expected, where


@needs_sample
def test_spark_ingest_writes_the_tables_the_duckdb_ingest_writes(
    doordash: tuple[IngestResult, IngestResult],
) -> None:
    on_duckdb, on_spark = doordash
    assert on_spark.row_counts == on_duckdb.row_counts == {"orders": 19743, "deliveries": 19743}
    for name in on_duckdb.row_counts:
        _assert_same_values(on_duckdb.out_dir, on_spark.out_dir, name)
    assert on_spark.report.model_dump() == on_duckdb.report.model_dump()
    manifest = json.loads((on_spark.out_dir / MANIFEST_FILE).read_text())
    assert manifest["warehouse"] is None
    assert manifest["row_counts"] == on_duckdb.row_counts
    assert not (on_spark.out_dir / WAREHOUSE_FILE).exists()


@needs_sample
def test_detect_incidents_on_the_spark_world_finds_the_duckdb_incidents(
    doordash: tuple[IngestResult, IngestResult], spark: SparkSession
) -> None:
    on_duckdb, on_spark = doordash
    arguments = {"grain": "auto"}
    duckdb_context = ToolContext(world_dir=on_duckdb.out_dir, shared=WorldCache(persist=False))
    engine = open_spark_world(on_spark.out_dir, session=spark)
    # the ingest wrote order_facts in its staging directory; renamed into place, still fresh
    read = engine.session.table("order_facts").inputFiles()
    assert read and all(f"/{FACTS_FILE}/" in f for f in read)
    spark_context = ToolContext(world_dir=on_spark.out_dir, engine=engine)
    try:
        expected, _ = duckdb_context.call("detect_incidents", arguments)
        found, _ = spark_context.call("detect_incidents", arguments)
    finally:
        duckdb_context.close()
        spark_context.close()
    assert expected is not None and found is not None
    _assert_close(found.model_dump(), expected.model_dump())


@needs_sample
def test_a_missing_column_fails_naming_file_and_column_and_leaves_nothing(
    tmp_path: Path, spark: SparkSession
) -> None:
    mapping = _mapping(
        tmp_path, {"columns": {"order_id": "order_number", "order_time": "created_at"}}
    )
    out = tmp_path / "world"
    with pytest.raises(IngestError) as raised:
        spark_ingest(mapping, out, session=spark)
    (problem,) = raised.value.problems
    assert problem.file == str(load_mapping(mapping).source_path("orders"))
    assert problem.column == "orders.order_id"
    assert "'order_number' is not in the file" in problem.problem
    assert "column00" in problem.problem  # the file's columns, named as DuckDB names them
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mapping.yaml"]


@needs_sample
def test_a_value_spark_cannot_cast_fails_naming_the_column_not_with_a_traceback(
    tmp_path: Path, spark: SparkSession
) -> None:
    """A timestamp mapped to a count: DuckDB reports the values that do not convert; Spark
    refuses the cast before reading, which is reported on the column, not raised."""
    mapping = _mapping(tmp_path)
    raw = yaml.safe_load(mapping.read_text())
    raw["tables"]["deliveries"]["columns"]["onshift_dashers"] = "created_at"
    mapping.write_text(yaml.safe_dump(raw))
    with pytest.raises(IngestError) as raised:
        spark_ingest(mapping, tmp_path / "world", session=spark)
    (problem,) = raised.value.problems
    assert problem.column == "deliveries.onshift_dashers"
    assert "'created_at' gives TIMESTAMP, which cannot become INTEGER" in problem.problem
    assert not (tmp_path / "world").exists()


@needs_sample
def test_custom_dimensions_answer_on_spark_as_on_duckdb(
    tmp_path: Path, spark: SparkSession
) -> None:
    """The values Spark ingests equal DuckDB's, and a DuckDB-ingested world's dimensions read
    on Spark are declared as its warehouse declares them and rank the same."""
    mapping = _mapping(tmp_path, {"dimensions": DIMENSIONS})
    on_duckdb = ingest(mapping, tmp_path / "duckdb").out_dir
    on_spark = spark_ingest(mapping, tmp_path / "spark", session=spark).out_dir
    assert (on_spark / VALUES_FILE).exists()
    _assert_same_values(on_duckdb, on_spark, "order_dimensions")

    engine = open_spark_world(on_duckdb, session=spark)
    expected = declared_dimensions(open_warehouse(on_duckdb))
    kinds = {"protocol": "categorical", "busy_market": "boolean", "items": "numeric"}
    assert {d.name: d.kind for d in expected} == kinds
    assert declared_dimensions(engine) == expected  # type: ignore[arg-type]
    arguments = {"dimension": "items", "metric": "duration_min", "order": "worst", "k": 4}
    duckdb_context = ToolContext(world_dir=on_duckdb, shared=WorldCache(persist=False))
    spark_context = ToolContext(world_dir=on_duckdb, engine=engine)
    try:
        ranked, _ = duckdb_context.call("rank_cohorts", arguments)
        ranked_on_spark, _ = spark_context.call("rank_cohorts", arguments)
    finally:
        duckdb_context.close()
        spark_context.close()
    assert ranked is not None and ranked_on_spark is not None
    _assert_close(ranked_on_spark.model_dump(), ranked.model_dump())


@pytest.mark.parametrize(
    "expression",
    [
        "CAST(a AS TIME) < CAST(b AS TIME)",  # a pickup after midnight
        "CAST(t AS TIME) > CAST('10:00:00' AS TIME)",
        "t + to_minutes(CAST(n AS INTEGER))",
        "t + to_hours(2) + to_seconds(30) + to_days(1)",
    ],
)
def test_duckdb_time_and_interval_functions_give_duckdb_values_on_spark(
    spark: SparkSession, expression: str
) -> None:
    source = (
        "SELECT '00:05:00' AS a, '23:50:00' AS b, TIMESTAMP '2022-03-01 10:20:30' AS t, '25' AS n"
    )
    sql = f"SELECT {expression} AS value FROM ({source}) AS s"
    with duckdb.connect() as con:
        expected = con.execute(sql).fetchone()
    found = spark.sql(transpile(sql, "spark")).collect()[0]
    assert tuple(found) == expected


def test_quantile_list_gives_duckdb_values_on_spark(spark: SparkSession) -> None:
    sql = "SELECT quantile_cont(x, [0.25, 0.5, 0.75]) FROM (SELECT * FROM range(1, 11) r(x)) s"
    with duckdb.connect() as con:
        (expected,) = con.execute(sql).fetchone() or (None,)
    values = "VALUES (1), (2), (3), (4), (5), (6), (7), (8), (9), (10)"
    spark_sql = transpile(
        f"SELECT quantile_cont(x, [0.25, 0.5, 0.75]) FROM ({values}) AS s(x)", "spark"
    )
    assert list(spark.sql(spark_sql).collect()[0][0]) == pytest.approx(expected)
