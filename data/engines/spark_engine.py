"""The Spark engine: a world's Parquet tables read in place by PySpark (`local[N]` or a Spark
Connect server at `sc://host:port`), behind the same `execute(sql, params)` as DuckDB.

Queries arrive in DuckDB's dialect and are transpiled (data/engines/transpile.py); the
aggregation runs in Spark and only results come back (`df()` through Arrow).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlparse

import pandas as pd
import pyarrow as pa

from data.dimensions import (
    DECLARATION_COLUMNS,
    DECLARATIONS_TABLE,
    VALUES_FILE,
    VALUES_TABLE,
    CustomDimension,
    declaration_row,
    typed_dimensions,
)
from data.engines.base import EngineError
from data.engines.transpile import CATALOG_VIEWS, Catalog, transpile
from data.generator import MANIFEST_FILE
from data.schema import ORDER_FACTS, TABLES
from data.warehouse import order_facts_sql

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType

DIALECT = "spark"
# pyspark 4.3 warns on every conversion that pandas 3 is not fully supported; our conversions
# (numbers, strings, booleans, timestamps through Arrow) are checked by the equivalence tests.
warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
warnings.filterwarnings("ignore", "The copy keyword is deprecated", module="pyspark")
# Every session: timestamps are local time without zone (TIMESTAMP means TIMESTAMP_NTZ, and the
# session's zone is UTC so the few functions that take zoned timestamps add no offset), and
# results come back through Arrow.
SESSION_CONFIG: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.ansi.enabled": "false",  # DuckDB's x / 0 is NULL, ANSI Spark's an error
}
# A local session only (a cluster's own configuration decides these).
LOCAL_CONFIG: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.driver.memory": os.environ.get("CXAGENT_SPARK_DRIVER_MEMORY", "2g"),
    # Errors only on the console (Spark's default profile warns about the host name and
    # native libraries on every start).
    "spark.driver.extraJavaOptions": "-Dlog4j2.configurationFile="
    + (Path(__file__).parent / "log4j2.properties").as_uri(),
}
CONNECT_TIMEOUT_SECONDS = 3.0
# order_facts as Spark wrote it into the world (open_spark_world's `materialize`), with the
# stamp of the sources it was computed from; read instead of computing the join when fresh.
FACTS_FILE = "order_facts.parquet"
FACTS_SOURCES_FILE = "_cxagent_sources.json"
# Shuffle partitions while materializing order_facts (adaptive execution merges small ones):
# the session's 4 suit a question's aggregates, not a join of every order with its items.
MATERIALIZE_SHUFFLE_PARTITIONS = 200


class SparkResult:
    """The rows of one Spark query, with the fetch methods of a DuckDB result."""

    def __init__(self, frame: DataFrame) -> None:
        self._frame = frame
        self._rows: list[tuple[Any, ...]] | None = None
        self._position = 0

    @property
    def description(self) -> list[tuple[Any, ...]]:
        return [(f.name, f.dataType.simpleString(), None, None, None, None, None)
                for f in self._frame.schema.fields]  # fmt: skip

    def _collected(self) -> list[tuple[Any, ...]]:
        from pyspark.errors import PySparkException

        if self._rows is None:
            try:
                self._rows = [tuple(row) for row in self._frame.collect()]
            except PySparkException as error:
                raise EngineError(f"Spark failed running the query: {_first_line(error)}") from None
        return self._rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows = self._collected()[self._position :]
        self._position += len(rows)
        return rows

    def fetchmany(self, size: int = 1) -> list[tuple[Any, ...]]:
        rows = self._collected()[self._position : self._position + size]
        self._position += len(rows)
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        rows = self.fetchmany(1)
        return rows[0] if rows else None

    def df(self) -> pd.DataFrame:
        """The rows as a pandas frame, decimals as floats (as DuckDB's `df()` gives them)."""
        from pyspark.sql.types import DecimalType

        frame = self._frame
        decimals = [f.name for f in frame.schema.fields if isinstance(f.dataType, DecimalType)]
        if decimals:
            frame = frame.withColumns({name: frame[name].cast("double") for name in decimals})
        return frame.toPandas()

    def fetchdf(self) -> pd.DataFrame:
        return self.df()

    def arrow(self) -> pa.Table:
        return self._frame.toArrow()

    def to_arrow_table(self) -> pa.Table:
        return self.arrow()


class SparkEngine:
    """A Spark session answering DuckDB-dialect SQL over the views `open_spark_world` made."""

    def __init__(self, session: SparkSession, catalog: Catalog | None = None) -> None:
        self.session = session
        self.catalog = catalog or Catalog()
        self._lock = threading.Lock()
        # What identifies the data the views read (data.engines.base.data_stamp): results kept
        # per data (metric availability, degenerate metrics) are reused while it holds.
        self.stamp: tuple[object, ...] | None = None

    def spark_sql(
        self, query: str, parameters: Sequence[object] | Mapping[str, object] | None = None
    ) -> str:
        """The Spark SQL `execute` runs for this DuckDB-dialect query."""
        return transpile(query, DIALECT, parameters, self.catalog)

    def execute(
        self, query: str, parameters: Sequence[object] | Mapping[str, object] | None = None
    ) -> SparkResult:
        from pyspark.errors import PySparkException

        spark_sql = self.spark_sql(query, parameters)
        try:
            return SparkResult(self.session.sql(spark_sql))
        except PySparkException as error:
            raise EngineError(f"Spark cannot run the query: {_first_line(error)}") from None

    def cursor(self) -> SparkEngine:
        """The engine itself: a Spark session serves every thread."""
        return self

    def interrupt(self) -> None:
        """Cancel the session's running queries."""
        if hasattr(self.session, "interruptAll"):
            self.session.interruptAll()
        else:
            self.session.sparkContext.cancelAllJobs()

    def close(self) -> None:
        """Nothing to release per use: the session's owner stops it (`session.stop()`)."""

    def register(self, name: str, frame: DataFrame, columns: Sequence[str]) -> None:
        """Make `frame` a temporary view `name` and enter its columns (and their types, by
        DuckDB's names) in the catalog."""
        frame.createOrReplaceTempView(name)
        types = [duckdb_type(frame.schema[column].dataType) for column in columns]
        with self._lock:
            known = dict(self.catalog.columns) | {name: list(columns)}
            self.catalog = Catalog(known, dict(self.catalog.types) | {name: types})
        self._register_catalog_views()

    def _register_catalog_views(self) -> None:
        """The views that answer DuckDB's system tables (data/engines/transpile.py)."""
        tables = sorted(self.catalog.columns)
        columns: list[tuple[str, str, str | None, int]] = []
        for t in tables:
            names = self.catalog.columns[t]
            kinds: Sequence[str | None] = self.catalog.types.get(t) or [None] * len(names)
            columns += [
                (t, c, kind, position)
                for position, (c, kind) in enumerate(zip(names, kinds, strict=True), start=1)
            ]
        views = {
            CATALOG_VIEWS["tables"]: (
                pd.DataFrame(
                    {
                        "table_name": tables,
                        "table_schema": "main",
                        # DuckDB's current_database() is the warehouse; Spark's, its own
                        "table_catalog": self.session.catalog.currentDatabase(),
                    }
                ),
                "table_name string, table_schema string, table_catalog string",
            ),
            CATALOG_VIEWS["columns"]: (
                pd.DataFrame(
                    {
                        "table_name": [column[0] for column in columns],
                        "column_name": [column[1] for column in columns],
                        "data_type": [column[2] for column in columns],
                        "ordinal_position": [column[3] for column in columns],
                        "table_schema": "main",
                    }
                ),  # fmt: skip
                "table_name string, column_name string, data_type string, "
                "ordinal_position int, table_schema string",
            ),
            # no database file: nothing is kept per warehouse file (analytics.metrics)
            CATALOG_VIEWS["duckdb_databases"]: (
                pd.DataFrame({"database_name": ["spark"], "path": [None], "internal": [False]}),
                "database_name string, path string, internal boolean",
            ),
        }
        for name, (frame, schema) in views.items():
            self.session.createDataFrame(frame, schema=schema).createOrReplaceTempView(name)


def start_spark(master: str = "local[2]", app_name: str = "cx-agent") -> SparkSession:
    """A Spark session: local (`local[N]`, needs Java 17+) or Spark Connect (`sc://host:port`).
    EngineError, with what to do, when Java is missing or the server cannot be reached."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineError(
            "the Spark engine needs pyspark: `make install` (or `uv pip install pyspark`)"
        ) from None
    if master.startswith("sc://"):
        _check_reachable(master)
        builder = SparkSession.builder.remote(master)
    else:
        if not java_available():
            raise EngineError(
                "Spark needs Java 17 or later and no `java` was found (JAVA_HOME or PATH): "
                "`make java` installs Debian's openjdk-17-jre-headless"
            )
        builder = SparkSession.builder.master(master).appName(app_name)
        for key, value in LOCAL_CONFIG.items():
            builder = builder.config(key, value)
    for key, value in SESSION_CONFIG.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as error:  # pyspark raises many kinds; the message is what matters here
        raise EngineError(f"cannot start Spark at {master}: {_first_line(error)}") from None
    for key, value in SESSION_CONFIG.items():  # a session that already existed keeps its own
        session.conf.set(key, value)
    if not master.startswith("sc://"):
        session.sparkContext.setLogLevel("ERROR")
    _quiet_query_error_logs()
    return session


def _quiet_query_error_logs() -> None:
    """PySpark logs every failed query with its stack trace as JSON on stderr; SparkEngine
    raises each as an EngineError whose message says what failed (a tool call records it), so
    those logs would only repeat it in the user's terminal."""
    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


def _first_line(error: Exception) -> str:
    """The first line of an error's message (Spark's go on with the query plan)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else repr(error)


def java_available() -> bool:
    """Whether a `java` executable is on JAVA_HOME or the PATH (as pyspark looks for it)."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and Path(java_home, "bin", "java").is_file():
        return True
    return shutil.which("java") is not None


def _check_reachable(url: str) -> None:
    """EngineError unless a TCP connection to the Spark Connect server opens (grpc would
    otherwise retry for minutes)."""
    parsed = urlparse(url)
    host, port = parsed.hostname or "localhost", parsed.port or 15002
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS):
            pass
    except OSError as error:
        raise EngineError(
            f"cannot reach the Spark Connect server at {url} ({error.strerror or error}); "
            "start it (sbin/start-connect-server.sh) or check the host and port"
        ) from None


def duckdb_type(data_type: DataType) -> str:
    """DuckDB's name of a Spark column type (as information_schema.columns and DESCRIBE give
    it: VARCHAR, TIMESTAMP, DECIMAL(18,3), ...); Spark's own name, upper-cased, for the rest."""
    from pyspark.sql import types

    if isinstance(data_type, types.DecimalType):
        return f"DECIMAL({data_type.precision},{data_type.scale})"
    names: dict[type[DataType], str] = {
        types.StringType: "VARCHAR",
        types.BooleanType: "BOOLEAN",
        types.ByteType: "TINYINT",
        types.ShortType: "SMALLINT",
        types.IntegerType: "INTEGER",
        types.LongType: "BIGINT",
        types.FloatType: "FLOAT",
        types.DoubleType: "DOUBLE",
        types.DateType: "DATE",
        types.TimestampNTZType: "TIMESTAMP",
        types.TimestampType: "TIMESTAMP WITH TIME ZONE",
    }
    return names.get(type(data_type), data_type.simpleString().upper())


def open_spark_world(
    world_dir: Path | str,
    master: str = "local[2]",
    session: SparkSession | None = None,
    cache: bool = True,
    dimension_expressions: Mapping[str, str] | None = None,
    materialize: bool = False,
    progress: Callable[[str], object] | None = None,
) -> SparkEngine:
    """A SparkEngine over a world directory's Parquet tables, read in place.

    Each table of data/schema.py found as `<name>.parquet` (a file or a directory of parts)
    becomes a temporary view of its schema columns, cast to their schema types; `order_facts`
    is the DuckDB warehouse's own SELECT (data.warehouse.order_facts_sql), transpiled. It is
    read from `order_facts.parquet` when an earlier `materialize` wrote it from the same
    sources (files, sizes, times and custom dimensions: materialized_facts); with
    `materialize`, it is written there first when missing or stale (the warehouse's build, as
    Parquet: what makes a 100M-order world answerable on one machine); otherwise, with
    `cache`, Spark keeps it once computed (memory, spilling to disk). `progress` hears of the
    write. Custom dimensions (`order_dimensions.parquet`) are typed and
    declared as the warehouse does (data/dimensions.py, the same queries transpiled), their
    expressions from `dimension_expressions` or else the world's manifest.
    """
    world_dir = Path(world_dir)
    if not world_dir.is_dir():
        raise EngineError(f"no world directory at {world_dir}")
    engine = SparkEngine(session or start_spark(master))
    available: set[str] = set()
    for name, table in TABLES.items():
        source = world_dir / f"{name}.parquet"
        if not source.exists():
            if not table.optional:
                raise EngineError(f"{world_dir}: required table {name} ({source.name}) is missing")
            continue
        frame = engine.session.read.parquet(str(source))
        present = set(frame.columns)
        columns = [c for c in table.columns if c.name in present]
        casts = [transpile(f"CAST({c.name} AS {c.type}) AS {c.name}", DIALECT) for c in columns]
        engine.register(name, frame.selectExpr(*casts), [c.name for c in columns])
        available |= {f"{name}.{c.name}" for c in columns}
    dimensions: list[CustomDimension] = []
    if (world_dir / VALUES_FILE).exists():
        values = engine.session.read.parquet(str(world_dir / VALUES_FILE))
        engine.register(VALUES_TABLE, values, values.columns)
        expressions = dimension_expressions
        dimensions = _declare(
            engine, _manifest_dimensions(world_dir) if expressions is None else expressions
        )
    files = source_files(world_dir)
    sources = {
        "files": [list(f) for f in files],
        "dimensions": [list(declaration_row(d)) for d in dimensions],
    }
    stored = materialized_facts(world_dir, sources)
    if stored is None and materialize:
        select = order_facts_sql(available, dimensions=dimensions, ordered=False)
        stored = _write_facts(
            engine, engine.session.sql(engine.spark_sql(select)), world_dir, sources, progress
        )
    if stored is not None:
        facts = engine.session.read.parquet(str(stored))
    else:
        facts = engine.session.sql(
            engine.spark_sql(order_facts_sql(available, dimensions=dimensions))
        )
    engine.register(ORDER_FACTS.name, facts, ORDER_FACTS.column_names)
    if stored is None and cache:
        engine.session.catalog.cacheTable(ORDER_FACTS.name)
    engine.stamp = files_stamp(world_dir, files)
    return engine


def source_files(world_dir: Path) -> list[tuple[str, int, int]]:
    """The world's data files (each part of a table's directory too; not order_facts as
    written by `materialize`, nor a write under way in a hidden directory): path within the
    world, size and modification time. A changed, added or removed file changes the list."""
    listed = []
    for path in sorted(world_dir.rglob("*.parquet*")):
        top = path.relative_to(world_dir).parts[0]
        if path.is_file() and top != FACTS_FILE and not top.startswith("."):
            info = path.stat()
            listed.append((str(path.relative_to(world_dir)), info.st_size, info.st_mtime_ns))
    return listed


def files_stamp(
    world_dir: Path, files: Sequence[tuple[str, int, int]] | None = None
) -> tuple[object, ...]:
    """The world's identity of its data, as SparkEngine.stamp holds it: its `source_files`
    (listed now unless given)."""
    listed = source_files(world_dir) if files is None else files
    return ("parquet", str(world_dir.resolve()), *listed)


def materialized_facts(world_dir: Path, sources: Mapping[str, Any]) -> Path | None:
    """`order_facts.parquet` in the world when it was written from exactly these sources (its
    files and the custom dimensions' declarations, as JSON)."""
    stored = world_dir / FACTS_FILE
    try:
        stamp = json.loads((stored / FACTS_SOURCES_FILE).read_text())
    except (OSError, ValueError):
        return None
    return stored if stamp == sources else None


def _write_facts(
    engine: SparkEngine,
    facts: DataFrame,
    world_dir: Path,
    sources: Mapping[str, Any],
    progress: Callable[[str], object] | None,
) -> Path:
    """Write order_facts as Parquet next to the stamp of its sources, then rename it into place
    (an interrupted write leaves the old files, or none, never a partial table); its path."""
    target = world_dir / FACTS_FILE
    writing = world_dir / f".{FACTS_FILE}.writing"
    if progress:
        progress(f"writing order_facts to {target} (once; later runs read it)")
    started = time.perf_counter()
    shutil.rmtree(writing, ignore_errors=True)
    conf = engine.session.conf
    partitions = conf.get("spark.sql.shuffle.partitions")
    conf.set("spark.sql.shuffle.partitions", str(MATERIALIZE_SHUFFLE_PARTITIONS))
    try:
        facts.write.mode("overwrite").parquet(str(writing))
    except Exception as error:  # pyspark raises many kinds; the message is what matters
        shutil.rmtree(writing, ignore_errors=True)
        raise EngineError(f"cannot write {target}: {_first_line(error)}") from None
    finally:
        conf.set("spark.sql.shuffle.partitions", str(partitions))
    (writing / FACTS_SOURCES_FILE).write_text(json.dumps(sources))
    shutil.rmtree(target, ignore_errors=True)
    writing.rename(target)
    if progress:
        progress(f"order_facts written in {time.perf_counter() - started:,.0f} s")
    return target


def _declare(engine: SparkEngine, expressions: Mapping[str, str]) -> list[CustomDimension]:
    """Each custom dimension of `order_dimensions` typed (and binned) by data/dimensions.py's
    own queries run on Spark, and the declarations registered as `custom_dimensions`, as
    data.dimensions.declare keeps them in the warehouse (a `rowid` column keeps their order
    for declared_dimensions)."""
    declared = typed_dimensions(cast(Any, engine), expressions)  # an Engine, as a connection
    rows = pd.DataFrame(
        [(*declaration_row(d), rowid) for rowid, d in enumerate(declared)],
        columns=[*DECLARATION_COLUMNS, "rowid"],
    )
    schema = ", ".join(f"{name} string" for name in DECLARATION_COLUMNS) + ", rowid bigint"
    frame = engine.session.createDataFrame(rows, schema=schema)
    engine.register(DECLARATIONS_TABLE, frame, DECLARATION_COLUMNS)
    return declared


def _manifest_dimensions(world_dir: Path) -> dict[str, str]:
    """The custom dimensions' expressions an ingest wrote to world.json (none if absent)."""
    try:
        manifest = json.loads((world_dir / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return {}
    dimensions = manifest.get("dimensions") if isinstance(manifest, dict) else None
    return {str(k): str(v) for k, v in dimensions.items()} if isinstance(dimensions, dict) else {}
