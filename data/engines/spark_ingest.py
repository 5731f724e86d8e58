"""Ingest real order logs with Spark (`cxagent ingest --engine spark`): the mapping file of the
DuckDB ingest, its sources read by Spark and each expression (DuckDB's dialect) transpiled and
evaluated there, the world's tables written as Parquet by Spark.

What data/ingest.py does, done by Spark: each column coerced to the schema's type, naive source
times moved from the source's zone to the marketplace's local time, values that do not convert
counted with sample rows, null and duplicate keys refused, every problem collected and reported
naming file, column and problem, and the world staged and renamed into place (a failure leaves
nothing). The data-quality report is data.quality.quality_report run over the Spark engine.
No warehouse.duckdb is written: Spark writes order_facts into the world as Parquet (as the
DuckDB ingest builds its warehouse) and the world is read with `--engine spark`
(open_spark_world reads those facts while the sources are unchanged).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlglot import exp

from data.dimensions import VALUES_FILE
from data.engines.base import EngineError
from data.engines.spark_engine import DIALECT, duckdb_type, open_spark_world, start_spark
from data.engines.transpile import transpile
from data.ingest import IngestError, IngestResult, local_now, quality_sources, staged_ingest
from data.ingest_loader import TableLoader, first_line
from data.mapping import Mapping
from data.quality import DataQualityReport, quality_report
from data.schema import TABLES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row, SparkSession

# DuckDB's read_csv options (a mapping's read_options) and the Spark CSV options they become.
CSV_OPTIONS = {
    "delim": "sep",
    "sep": "sep",
    "delimiter": "sep",
    "quote": "quote",
    "escape": "escape",
    "header": "header",
    "nullstr": "nullValue",
    "comment": "comment",
    "encoding": "encoding",
}
# Options whose effect Spark's reader has anyway: it pads short rows with nulls and infers
# types over every row.
IMPLIED_OPTIONS = frozenset({"null_padding", "sample_size"})
READ_OPTIONS = (*CSV_OPTIONS, "all_varchar", "ignore_errors", *sorted(IMPLIED_OPTIONS))
_SPARK_COLUMN = re.compile(r"_c(\d+)")
_NUMBERS = ("FLOAT", "DOUBLE", "DECIMAL")


@contextlib.contextmanager
def quiet_query_errors() -> Iterator[None]:
    """PySpark logs each failed query with its stack trace (SQLQueryContextLogger); a failing
    expression is a problem the ingest reports, so those logs are off meanwhile."""
    from pyspark.logger import PySparkLogger

    loggers = [
        PySparkLogger.getLogger(name)
        for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger")
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def spark_ingest(
    mapping_path: Path | str,
    out_dir: Path | str,
    master: str = "local[2]",
    session: SparkSession | None = None,
) -> IngestResult:
    """Build a world (Parquet tables, data_quality.json, world.json) from real data with Spark;
    IngestError listing every problem, EngineError when Spark cannot start."""

    def build(mapping: Mapping, staging: Path) -> tuple[dict[str, int], DataQualityReport]:
        spark = session or start_spark(master)
        with quiet_query_errors():
            counts = load_tables(mapping, staging, spark)
            engine = open_spark_world(
                staging,
                session=spark,
                dimension_expressions=mapping.tables["orders"].dimensions,
                materialize=True,  # as the DuckDB ingest builds its warehouse
            )
            try:
                report = quality_report(
                    cast(Any, engine),  # an Engine: the DuckDB calls it makes, transpiled
                    source=quality_sources(mapping, counts),
                    now=local_now(mapping),
                )
            finally:  # the views read the staging directory, which is about to move
                for name in engine.catalog.columns:
                    spark.catalog.dropTempView(name)
        return counts, report

    return staged_ingest(mapping_path, out_dir, build, warehouse=None)


def load_tables(mapping: Mapping, staging: Path, session: SparkSession) -> dict[str, int]:
    """Write each mapped table to `staging/<table>.parquet` with Spark (a directory of parts);
    raise IngestError listing the problems."""
    loader = _SparkLoader(mapping, staging, session)
    counts = loader.load()
    if loader.problems:
        raise IngestError(loader.problems)
    return counts


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _staged_view(table: str) -> str:
    return f"cx_staged_{table}"


def _string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _duckdb_column_names(names: Sequence[str]) -> list[str]:
    """Spark names a column without a header `_c<i>`; DuckDB `column<i>`, zero-padded to the
    width of the last index (column00 of 19 columns), which is what mappings name."""
    width = len(str(len(names) - 1))
    renamed = []
    for index, name in enumerate(names):
        match = _SPARK_COLUMN.fullmatch(name)
        unnamed = match is not None and int(match.group(1)) == index
        renamed.append(f"column{index:0{width}d}" if unnamed else name)
    return renamed


def _as_duckdb_reads(frame: DataFrame) -> DataFrame:
    """A CSV file's columns as DuckDB's reader gives them, which is what mappings are written
    against: unnamed columns named as DuckDB names them, and whole numbers as BIGINT (DuckDB's
    sniffer has no 32-bit candidate; Spark infers int where the values fit)."""
    from pyspark.sql.types import IntegerType

    names = _duckdb_column_names(frame.columns)
    return frame.select(
        *(
            frame[old].cast("bigint").alias(new)
            if isinstance(frame.schema[old].dataType, IntegerType)
            else frame[old].alias(new)
            for old, new in zip(frame.columns, names, strict=True)
        )
    )


class _SparkLoader(TableLoader):
    """One Spark session that reads the sources and stages each mapped table."""

    def __init__(self, mapping: Mapping, staging: Path, session: SparkSession) -> None:
        from pyspark.errors import PySparkException

        super().__init__(mapping, staging, PySparkException)
        self.session = session
        self.unreadable: set[tuple[str, str, str]] = set()
        self.staged_frames: dict[str, DataFrame] = {}  # table -> its persisted staged rows

    def close(self) -> None:
        for view, _ in self.views.values():
            self.session.catalog.dropTempView(view)

    def rows(self, query: str) -> list[Row]:
        return self.session.sql(query).collect()

    def quote(self, name: str) -> str:
        return _quoted(name)

    def _reader_options(self, table: str, path: Path) -> dict[str, str] | None:
        """Spark's CSV options for the table's read_options (None: one has no equivalent)."""
        options = {"header": "true", "inferSchema": "true", "escape": '"'}
        for name, value in self.mapping.tables[table].read_options.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            if name in CSV_OPTIONS:
                options[CSV_OPTIONS[name]] = text
            elif name == "all_varchar":
                options["inferSchema"] = "false" if value else "true"
            elif name == "ignore_errors":
                options["mode"] = "DROPMALFORMED" if value else "PERMISSIVE"
            elif name not in IMPLIED_OPTIONS:
                self.problem(
                    path, f"tables.{table}.read_options",
                    f"{name} has no Spark equivalent here; Spark reads: {', '.join(READ_OPTIONS)}",
                )  # fmt: skip
                return None
        return options

    def source_view(self, table: str) -> tuple[str, list[str], Path] | None:
        """A view over the table's source and its column names (None if unreadable)."""
        from pyspark.errors import PySparkException

        path = self.mapping.source_path(table)
        file_format = self.mapping.source_format(table)
        options = self._reader_options(table, path) if file_format == "csv" else {}
        if options is None:
            return None
        key = (str(path), file_format, repr(sorted(options.items())))
        if key in self.unreadable:  # already reported with the first table reading it
            return None
        if key not in self.views:
            try:
                reader = self.session.read.options(**options)
                if file_format == "parquet":
                    frame = reader.parquet(str(path))
                else:
                    frame = _as_duckdb_reads(reader.csv(str(path)))
            except PySparkException as error:
                self.unreadable.add(key)
                if error.getCondition() == "PATH_NOT_FOUND":
                    self.problem(path, f"tables.{table}.source", "file not found")
                else:
                    self.problem(path, table, f"cannot read as {file_format}: {first_line(error)}")
                return None
            view = f"cx_source_{len(self.views)}"
            frame.createOrReplaceTempView(view)
            self.views[key] = (view, list(frame.columns))
        view, columns = self.views[key]
        return view, columns, path

    def translate(self, expression: str) -> str:
        """A mapping's DuckDB-dialect expression as Spark SQL (EngineError if it cannot be)."""
        return transpile(expression, DIALECT)

    def bind(
        self, path: Path, view: str, columns: list[str], where: str, label: str, expression: str
    ) -> str | None:
        try:
            return super().bind(path, view, columns, where, label, expression)
        except EngineError as error:  # the expression has no Spark SQL
            self.problem(path, label, f"expression {expression!r}: {error}")
            return None

    def expression_type(self, expression: str, view: str, where: str) -> str:
        frame = self.session.sql(
            f"SELECT ({self.translate(expression)}) AS value FROM {view} WHERE {where}"
        )
        return duckdb_type(frame.schema["value"].dataType)

    def missing_column_name(self, error: Exception) -> str | None:
        from pyspark.errors import PySparkException

        if not isinstance(error, PySparkException) or not (error.getCondition() or "").startswith(
            "UNRESOLVED_COLUMN"
        ):
            return None
        name = str((error.getMessageParameters() or {}).get("objectName", "?"))
        return name.replace("`", "")

    def coerced(self, table: str, column: str, raw_type: str) -> str:
        """Spark SQL converting the column's expression to its schema type (NULL where it
        cannot: ANSI mode is off); timestamps move from the source's zone to local time.
        Numbers become integers rounded, as DuckDB casts them, not truncated."""
        expression = f"({self.translate(self.mapping.tables[table].columns[column])})"
        target = TABLES[table].column(column).type
        if target != "TIMESTAMP":
            if target in ("INTEGER", "BIGINT") and raw_type.startswith(_NUMBERS):
                expression = f"round({expression})"
            spark_type = exp.DataType.build(target, dialect="duckdb").sql(DIALECT)
            return f"CAST({expression} AS {spark_type})"
        local = _string(self.mapping.local_timezone)
        if raw_type.startswith("TIMESTAMP WITH TIME ZONE"):
            return f"CAST(from_utc_timestamp({expression}, {local}) AS TIMESTAMP_NTZ)"
        naive = f"CAST({expression} AS TIMESTAMP_NTZ)"
        source_zone = self.mapping.zone_of(table)
        if source_zone == self.mapping.local_timezone:
            return naive
        utc = f"to_utc_timestamp({naive}, {_string(source_zone)})"
        return f"CAST(from_utc_timestamp({utc}, {local}) AS TIMESTAMP_NTZ)"

    def define_staged(self, table: str, select: list[str], view: str, where: str) -> str:
        """A temporary view of a persisted frame, computed by its first scan."""
        from pyspark import StorageLevel

        staged = _staged_view(table)
        frame = self.session.sql(f"SELECT {', '.join(select)} FROM {view} WHERE {where}")
        frame.persist(StorageLevel.MEMORY_AND_DISK).createOrReplaceTempView(staged)
        self.staged_frames[table] = frame
        return staged

    def drop_staged(self, table: str) -> None:
        self.session.catalog.dropTempView(_staged_view(table))
        frame = self.staged_frames.pop(table, None)
        if frame is not None:
            frame.unpersist()

    def write(
        self, table: str, staged: str, mapped: list[str], raw_types: dict[str, str],
        dimensions: list[str],
    ) -> None:  # fmt: skip
        """Write the mapped columns and the dimensions' values as Parquet, by Spark."""
        frame = self.staged_frames[table]
        frame.select(*mapped).write.parquet(str(self.staging / f"{table}.parquet"))
        if dimensions:
            frame.selectExpr(
                "order_id", *(f"{_quoted(f'dim:{n}')} AS {_quoted(n)}" for n in dimensions)
            ).write.parquet(str(self.staging / VALUES_FILE))
