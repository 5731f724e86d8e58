"""Ingest real order logs through a mapping file into a world directory, like `generate` does.

DuckDB reads each source (CSV or Parquet) in place, evaluates the mapping's SQL expression per
column, coerces the result to the schema's type and converts timestamps from the source's time
zone to the marketplace's local time. Every problem found is collected and reported together,
each naming the file, the column and what is wrong: a missing file or column, an expression
that fails, values that do not convert (unparseable timestamps with their count and sample
rows), null or duplicate keys. The world is written to a temporary directory and renamed into
place, so a failed ingest leaves nothing behind; the temporary directory of an ingest that was
killed (SIGKILL skips every cleanup) is removed by the next ingest to the same place. Error
messages quote column names and clipped sample values, never a stretch of a file.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from data.dimensions import VALUES_FILE
from data.generator import MANIFEST_FILE, _check_replaceable, _replace_directory
from data.ingest_loader import Problem, TableLoader, first_line, sample
from data.mapping import Mapping, load_mapping
from data.quality import QUALITY_FILE, DataQualityReport, quality_report
from data.schema import TABLES
from data.warehouse import WAREHOUSE_FILE, build_warehouse, open_warehouse

# DuckDB quotes the name without escaping: it may hold spaces, parentheses or quotes.
_MISSING_COLUMN = re.compile(r'Referenced column (?:"(.+?)"|(\S+)) not found')


class IngestError(ValueError):
    """Ingestion failed; `problems` lists everything found, each naming file and column."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        listed = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"ingest failed with {len(problems)} problem(s):\n{listed}")


@dataclass
class IngestResult:
    """What an ingest wrote: the world directory, rows per table and the quality report."""

    out_dir: Path
    row_counts: dict[str, int]
    report: DataQualityReport
    seconds: float
    sources: dict[str, str] = field(default_factory=dict)


def ingest(
    mapping_path: Path | str,
    out_dir: Path | str,
    threads: int = 2,
    memory_limit: str = "4GB",
) -> IngestResult:
    """Build a world (Parquet tables, warehouse, data_quality.json, world.json) from real data."""

    def build(mapping: Mapping, staging: Path) -> tuple[dict[str, int], DataQualityReport]:
        counts = load_tables(mapping, staging, threads, memory_limit)
        build_warehouse(
            staging,
            threads=threads,
            memory_limit=memory_limit,
            dimension_expressions=mapping.tables["orders"].dimensions,
        )
        con = open_warehouse(staging)
        try:
            report = quality_report(
                con, source=quality_sources(mapping, counts), now=local_now(mapping)
            )
        finally:
            con.close()
        return counts, report

    return staged_ingest(mapping_path, out_dir, build, WAREHOUSE_FILE)


# What an ingest's engine does in the staging directory: write the tables and their
# data-quality report (the caller saves it), returning rows per table.
Build = Callable[[Mapping, Path], tuple[dict[str, int], DataQualityReport]]


def staged_ingest(
    mapping_path: Path | str, out_dir: Path | str, build: Build, warehouse: str | None
) -> IngestResult:
    """Read the mapping, `build` the world in a staging directory beside `out_dir`, write its
    data_quality.json and world.json (`warehouse`: the file the world is read from, None when
    it has none) and rename it into place; a failure leaves nothing behind."""
    started = time.perf_counter()
    mapping = load_mapping(mapping_path)
    out_dir = Path(out_dir)
    _check_replaceable(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = new_staging_dir(out_dir)
    try:
        counts, report = build(mapping, staging)
        report.save(staging)
        write_manifest(staging, mapping, counts, report, warehouse)
        _replace_directory(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    sources = {name: str(mapping.source_path(name)) for name in counts}
    return IngestResult(out_dir, counts, report, time.perf_counter() - started, sources)


def quality_sources(mapping: Mapping, counts: dict[str, int]) -> dict[str, str]:
    """The data-quality report's `source`: the mapping file and each loaded table's file."""
    return {"mapping": str(mapping.path)} | {
        name: str(mapping.source_path(name)) for name in counts
    }


def local_now(mapping: Mapping) -> dt.datetime:
    """Now in the marketplace's local time (naive), against which rows are in the future."""
    return dt.datetime.now(ZoneInfo(mapping.local_timezone)).replace(tzinfo=None)


def new_staging_dir(out_dir: Path) -> Path:
    """An empty staging directory beside `out_dir` for this process, after sweeping those that
    dead processes left there."""
    sweep_stale_staging(out_dir)
    staging = out_dir.with_name(f"{staging_prefix(out_dir)}{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def staging_prefix(out_dir: Path) -> str:
    """Staging directories of `out_dir` are named this plus the pid of the process writing."""
    return f".{out_dir.name}.tmp-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sweep_stale_staging(out_dir: Path) -> list[Path]:
    """Remove the staging directories (and their DuckDB spill) of `out_dir` whose process is
    gone: a SIGKILLed ingest or generate cannot clean up after itself. A staging directory of
    a live process is left alone, as is this process's own (a dead ingest's pid taken by a new
    process keeps its directory until that process ends). Returns what was removed."""
    prefix = staging_prefix(out_dir)
    removed = []
    for candidate in sorted(out_dir.parent.glob(f"{glob.escape(prefix)}*")):
        pid = candidate.name.removeprefix(prefix)
        if not candidate.is_dir() or not pid.isdigit() or int(pid) == os.getpid():
            continue
        if not _alive(int(pid)):
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    return removed


def write_manifest(
    staging: Path,
    mapping: Mapping,
    counts: dict[str, int],
    report: DataQualityReport,
    warehouse: str | None = WAREHOUSE_FILE,
) -> None:
    """world.json of an ingested world: its mapping, sources, zones, days, rows per table,
    custom dimensions' expressions and the warehouse file (None: read with --engine spark)."""
    orders = report.tables["orders"]
    manifest = {
        "kind": "ingested",
        "mapping": str(mapping.path),
        "sources": {name: str(mapping.source_path(name)) for name in counts},
        "source_timezone": mapping.source_timezone,
        "local_timezone": mapping.local_timezone,
        "first_day": orders.first.date().isoformat() if orders.first else None,
        "last_day": orders.last.date().isoformat() if orders.last else None,
        "row_counts": counts,
        "dimensions": mapping.tables["orders"].dimensions,
        "warehouse": warehouse,
        "quality": QUALITY_FILE,
        "ingested_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _option(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else _quoted(value)


def _name(column: str) -> str:
    return f'"{column}"'


def _bucket(timestamp: str) -> str:
    return f"time_bucket(INTERVAL 15 MINUTE, {timestamp})"


def _naive_time(raw_type: str) -> bool:
    """A timestamp or date without a zone (read in the source's zone)."""
    return raw_type.startswith(("TIMESTAMP", "DATE")) and "TIME ZONE" not in raw_type


_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")
_CONVERTING = re.compile(
    r'Error when converting column "(.+?)"\. Could not convert string "(.*?)" to \'(\w+)\''
)
_FIELDS_FOUND = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")


def _read_error(error: Exception) -> str | None:
    """A CSV row DuckDB could not read, explained without quoting the row: its line, the
    column and value (clipped) that did not convert or its number of fields, and the
    read_options that help. None when `error` is not such a failure.

    A type is detected from the first rows (20,480 by default), so a footer or a junk row
    further down fails the whole read, not one column's expression."""
    text = str(error)
    line = _CSV_LINE.search(text)
    if not line:
        return None
    where = f"line {int(line.group(1)):,} of the file"
    converting = _CONVERTING.search(text)
    if converting:
        column, value, sql_type = converting.groups()
        return (
            f"{where}: column {sample(column)} holds {sample(value)}, not {sql_type} as "
            "detected from the file's first rows; read the file as text (read_options "
            "{all_varchar: true}, converting in the expressions with TRY_CAST) or detect "
            "types over every row (read_options {sample_size: -1})"
        )
    fields = _FIELDS_FOUND.search(text)
    if fields:
        return (
            f"{where} has {fields.group(2)} fields where the header has {fields.group(1)}; "
            "pad short rows with nulls (read_options {null_padding: true}) and leave them out "
            "with where, or skip the rows that do not parse (read_options {ignore_errors: true})"
        )
    return f"{where}: {first_line(error)}"


class _Loader(TableLoader):
    """One DuckDB session that reads the sources and stages each mapped table."""

    def __init__(self, mapping: Mapping, staging: Path, threads: int, memory_limit: str) -> None:
        super().__init__(mapping, staging, duckdb.Error)
        self.spill = staging / ".spill"
        self.con = duckdb.connect()
        self.con.execute(f"SET threads = {int(threads)}")
        self.con.execute(f"SET memory_limit = {_quoted(memory_limit)}")
        self.con.execute(f"SET temp_directory = {_quoted(str(self.spill))}")
        self.con.execute("SET preserve_insertion_order = false")
        self.con.execute("SET enable_progress_bar = false")
        # The session reads the mapping's sources and writes the staging directory, nothing
        # else: no other file, no extension download, whatever a mapping's SQL says.
        sources = sorted({str(mapping.source_path(table)) for table in mapping.tables})
        self.con.execute("SET allowed_paths = ?", [sources])
        self.con.execute("SET allowed_directories = ?", [[f"{staging}{os.sep}"]])
        self.con.execute("SET autoinstall_known_extensions = false")
        self.con.execute("SET autoload_known_extensions = false")
        self.con.execute("SET enable_external_access = false")
        self.uses = Counter(self._source_key(table) for table in mapping.tables)
        self.shared: set[str] = set()  # views of files that several tables read
        self.materialized: dict[str, str] = {}  # shared view -> a table of its rows
        self.unreadable: set[str] = set()  # shared views whose file failed to parse

    def _source_key(self, table: str) -> tuple[str, str, str]:
        options = json.dumps(self.mapping.tables[table].read_options, sort_keys=True)
        return str(self.mapping.source_path(table)), self.mapping.source_format(table), options

    def close(self) -> None:
        self.con.close()
        shutil.rmtree(self.spill, ignore_errors=True)

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        return self.con.execute(query).fetchall()

    def quote(self, name: str) -> str:
        return _name(name)

    def read_failure(self, error: Exception) -> str | None:
        return _read_error(error)

    def source_view(self, table: str) -> tuple[str, list[str], Path] | None:
        """A view over the table's source file and its column names (None if unreadable)."""
        path = self.mapping.source_path(table)
        if not path.is_file():
            self.problem(path, f"tables.{table}.source", "file not found")
            return None
        file_format = self.mapping.source_format(table)
        options = self.mapping.tables[table].read_options
        key = self._source_key(table)
        if key not in self.views:
            name = f"source_{len(self.views)}"
            if file_format == "parquet":
                reader = f"read_parquet({_quoted(str(path))})"
            else:
                extra = "".join(f", {k} = {_option(v)}" for k, v in options.items())
                reader = f"read_csv({_quoted(str(path))}{extra})"
            try:
                self.con.execute(f"CREATE VIEW {name} AS SELECT * FROM {reader}")
                columns = [row[0] for row in self.con.execute(f"DESCRIBE {name}").fetchall()]
            except duckdb.Error as error:
                self.problem(path, table, f"cannot read as {file_format}: {first_line(error)}")
                return None
            self.views[key] = (name, columns)
            if self.uses[key] > 1:
                self.shared.add(name)
        view, columns = self.views[key]
        return view, columns, path

    def rows_of(self, view: str, path: Path, table: str) -> str | None:
        """What to select from: a file several tables read is parsed once into a table."""
        if view not in self.shared:
            return view
        if view in self.unreadable:  # already reported with the first table reading it
            return None
        if view not in self.materialized:
            try:
                self.con.execute(f"CREATE TEMP TABLE {view}_rows AS SELECT * FROM {view}")
            except duckdb.Error as error:
                self.unreadable.add(view)
                self.problem(path, table, f"cannot read: {_read_error(error) or first_line(error)}")
                return None
            self.materialized[view] = f"{view}_rows"
        return self.materialized[view]

    def expression_type(self, expression: str, view: str, where: str) -> str:
        row = self.con.execute(
            f"DESCRIBE SELECT ({expression}) AS value FROM {view} WHERE {where}"
        ).fetchone()
        return str(row[1])

    def missing_column_name(self, error: Exception) -> str | None:
        missing = _MISSING_COLUMN.search(str(error))
        return (missing.group(1) or missing.group(2)) if missing else None

    def coerced(self, table: str, column: str, raw_type: str) -> str:
        """SQL converting the column's expression to its schema type (NULL where it cannot);
        zoned timestamps are converted to local time, naive ones are read in the source's
        zone as they are (write moves them to local time)."""
        expression = self.mapping.tables[table].columns[column]
        target = TABLES[table].column(column).type
        if target != "TIMESTAMP":
            return f"TRY_CAST(({expression}) AS {target})"
        if _naive_time(raw_type):
            return f"CAST(({expression}) AS TIMESTAMP)"
        zoned = (
            f"({expression})"
            if raw_type.startswith("TIMESTAMP WITH TIME ZONE")
            else f"TRY_CAST(({expression}) AS TIMESTAMPTZ)"
        )
        return f"timezone({_quoted(self.mapping.local_timezone)}, {zoned})"

    def define_staged(self, table: str, select: list[str], view: str, where: str) -> str:
        """A temporary table named after the table, its rows read in the source's zone."""
        self.con.execute(f"SET TimeZone = {_quoted(self.mapping.zone_of(table))}")
        return table

    def compute_staged(self, table: str, select: list[str], view: str, where: str) -> None:
        self.con.execute(
            f"CREATE TEMP TABLE {table} AS SELECT {', '.join(select)} FROM {view} WHERE {where}"
        )

    def drop_staged(self, table: str) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS {table}")
        self.con.execute(f"DROP TABLE IF EXISTS shifts_{table}")

    def write(
        self, table: str, staged: str, mapped: list[str], raw_types: dict[str, str],
        dimensions: list[str],
    ) -> None:  # fmt: skip
        """COPY the mapped columns (naive times moved to local time) and the dimensions'
        values to Parquet in the staging directory."""
        schema = TABLES[table]
        shifted = [
            c for c in mapped
            if schema.column(c).type == "TIMESTAMP" and _naive_time(raw_types[c])
        ]  # fmt: skip
        target_file = _quoted(str(self.staging / f"{table}.parquet"))
        self.con.execute(
            f"COPY ({self._local_select(table, mapped, shifted)}) TO {target_file} (FORMAT parquet)"
        )
        if dimensions:
            values = ", ".join(f'"dim:{name}" AS "{name}"' for name in dimensions)
            self.con.execute(
                f'COPY (SELECT "order_id", {values} FROM {staged}) TO '
                f"{_quoted(str(self.staging / VALUES_FILE))} (FORMAT parquet)"
            )

    def _local_select(self, table: str, mapped: list[str], shifted: list[str]) -> str:
        """The staged table's mapped columns, naive source times moved to local time."""
        if not shifted or self.mapping.zone_of(table) == self.mapping.local_timezone:
            return f"SELECT {', '.join(_name(c) for c in mapped)} FROM {table}"
        buckets = " UNION ".join(
            f"SELECT DISTINCT {_bucket(_name(c))} AS b FROM {table}" for c in shifted
        )
        local = _quoted(self.mapping.local_timezone)
        self.con.execute(  # the session's TimeZone is the source's: the cast reads b in it
            f"CREATE TEMP TABLE shifts_{table} AS SELECT b, "
            f"timezone({local}, CAST(b AS TIMESTAMPTZ)) - b AS shift FROM ({buckets}) "
            "WHERE b IS NOT NULL"
        )
        columns, joins = [], []
        for index, column in enumerate(mapped):
            if column not in shifted:
                columns.append(f"t.{_name(column)}")
                continue
            columns.append(f"s{index}.shift + t.{_name(column)} AS {_name(column)}")
            joins.append(
                f"LEFT JOIN shifts_{table} s{index} ON s{index}.b = {_bucket(f't.{_name(column)}')}"
            )
        return f"SELECT {', '.join(columns)} FROM {table} t {' '.join(joins)}"


def load_tables(
    mapping: Mapping, staging: Path, threads: int = 2, memory_limit: str = "4GB"
) -> dict[str, int]:
    """Write each mapped table to `staging/<table>.parquet`; raise IngestError listing problems."""
    loader = _Loader(mapping, staging, threads, memory_limit)
    counts = loader.load()
    if loader.problems:
        raise IngestError(loader.problems)
    return counts
