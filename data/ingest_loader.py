"""The engine-neutral steps of an ingest: stage each mapped table from its source, checked.

`TableLoader` binds a mapping's expressions over a table's source, coerces each column to the
schema's type, counts the values that did not convert and the null keys in one scan, refuses
duplicate keys and writes the table, collecting every `Problem` found (file, column, what).
An engine (DuckDB in data/ingest.py, Spark in data/engines/spark_ingest.py) supplies the SQL
that differs: reading a source, typing an expression, the coercion, staging and writing the
rows. The helpers that word problems (clipped samples, first lines of errors) live here too.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data.dimensions import DimensionError, check_type
from data.mapping import Mapping
from data.schema import TABLES

_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL",
           "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")  # fmt: skip
SAMPLE_ROWS = 3
SAMPLE_CHARS = 40  # longest stretch of a data value an error message quotes
MAX_LISTED_COLUMNS = 100
MESSAGE_CHARS = 300  # of an engine error's first line
# What a column name looks like (letters, digits, spaces and a little punctuation, not too
# long); anything else in a header is more likely a file's first line than names.
_COLUMN_NAME = re.compile(r"\w[\w .,()/%#&+$-]{0,63}")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: which file, which table column, what."""

    file: str
    column: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: {self.column}: {self.problem}"


def conversion_can_fail(raw_type: str, target: str) -> bool:
    """Whether converting a value of `raw_type` to `target` can fail (and needs checking)."""
    base = raw_type.split("(")[0]
    if target == "VARCHAR" or base == target:
        return False
    if target == "TIMESTAMP":
        return not base.startswith(("TIMESTAMP", "DATE"))
    if target == "DOUBLE":
        return base not in _NUMERIC and base != "BOOLEAN"
    return True


def first_line(error: Exception) -> str:
    """An engine's message cut to its first line (later lines can quote the file), capped, with
    control characters escaped."""
    line = str(error).strip().splitlines()[0]
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in line)
    return shown[:MESSAGE_CHARS] + "..." if len(shown) > MESSAGE_CHARS else shown


def listed_header(columns: list[str]) -> str:
    """The file's columns for an error message, listed only when they look like column names:
    a file that is not a CSV with a header (a key, a log) has its first line read as names,
    and an error must not repeat the contents of a file."""
    if all(_COLUMN_NAME.fullmatch(column) for column in columns):
        shown = columns[:MAX_LISTED_COLUMNS]
        more = f" and {len(columns) - len(shown)} more" if len(columns) > len(shown) else ""
        return f"the file's columns: {', '.join(shown)}{more}"
    return (
        f"the file's header has {len(columns)} column(s) that do not look like column names "
        "(is it a CSV file with a header row? see read_options for delim and header)"
    )


def sample(value: object) -> str:
    """A data value as an error message quotes it: clipped and with control characters
    escaped (repr), so a message cannot carry a long stretch of a file or terminal escapes.
    Conversion failures keep their samples because the user needs them to fix the mapping."""
    if isinstance(value, str):
        return repr(value[:SAMPLE_CHARS] + "..." if len(value) > SAMPLE_CHARS else value)
    text = repr(value)
    return text[:SAMPLE_CHARS] + "..." if len(text) > SAMPLE_CHARS else text


class TableLoader(ABC):
    """One engine session that reads a mapping's sources and stages each mapped table;
    `problems` collects everything found wrong.

    Parameters
    ----------
    mapping : the mapping file read.
    staging : the directory the tables are written to.
    query_error : the exception the engine raises for a query that fails.
    """

    def __init__(self, mapping: Mapping, staging: Path, query_error: type[Exception]) -> None:
        self.mapping = mapping
        self.staging = staging
        self.query_error = query_error
        self.problems: list[Problem] = []
        # A view over each source read: (file, format, read options) -> (view, its columns).
        self.views: dict[tuple[str, str, str], tuple[str, list[str]]] = {}

    @abstractmethod
    def close(self) -> None:
        """Release what the session holds."""

    @abstractmethod
    def source_view(self, table: str) -> tuple[str, list[str], Path] | None:
        """A view over the table's source, its column names and file (None if unreadable)."""

    @abstractmethod
    def expression_type(self, expression: str, view: str, where: str) -> str:
        """DuckDB's name of the expression's type over `view` (raising `query_error`)."""

    @abstractmethod
    def missing_column_name(self, error: Exception) -> str | None:
        """The column an expression names that the source lacks, if that is what failed."""

    @abstractmethod
    def quote(self, name: str) -> str:
        """A column name quoted as an identifier in the engine's SQL."""

    @abstractmethod
    def coerced(self, table: str, column: str, raw_type: str) -> str:
        """SQL converting the column's expression to its schema type (NULL where it cannot)."""

    @abstractmethod
    def define_staged(self, table: str, select: list[str], view: str, where: str) -> str:
        """Define the table's staged rows (`select` over `view` where `where`); their name."""

    def compute_staged(self, table: str, select: list[str], view: str, where: str) -> None:
        """Compute the staged rows now, for an engine that does not on their first scan
        (raising `query_error` when an expression fails on the data)."""
        return None  # a lazy engine (Spark) computes them on the scan that checks them

    @abstractmethod
    def drop_staged(self, table: str) -> None:
        """Drop what define_staged and compute_staged made (also when computing failed)."""

    @abstractmethod
    def write(
        self, table: str, staged: str, mapped: list[str], raw_types: dict[str, str],
        dimensions: list[str],
    ) -> None:  # fmt: skip
        """Write the staged table's mapped columns, and the orders' dimension values."""

    @abstractmethod
    def rows(self, query: str) -> Sequence[Sequence[Any]]:
        """The rows a query returns (raising `query_error` if it fails)."""

    def translate(self, expression: str) -> str:
        """A mapping's expression (DuckDB's dialect) in the engine's SQL."""
        return expression

    def rows_of(self, view: str, path: Path, table: str) -> str | None:
        """What to select the table's rows from (None: unreadable, a problem is recorded)."""
        return view

    def read_failure(self, error: Exception) -> str | None:
        """Why the source file itself could not be parsed, if that is what `error` says."""
        return None

    def problem(self, file: Path | str, column: str, text: str) -> None:
        self.problems.append(Problem(str(file), column, text))

    def bind(
        self, path: Path, view: str, columns: list[str], where: str, label: str, expression: str
    ) -> str | None:
        """DuckDB's name of the expression's type over the source (None: a problem is
        recorded)."""
        try:
            return self.expression_type(expression, view, where)
        except self.query_error as error:
            name = self.missing_column_name(error)
            if name is None:
                self.problem(path, label, f"expression {expression!r} fails: {first_line(error)}")
            else:
                self.problem(
                    path, label,
                    f"column {name!r} is not in the file (expression {expression!r}); "
                    f"{listed_header(columns)}",
                )  # fmt: skip
        return None

    def load(self) -> dict[str, int]:
        """Stage every mapped table in the schema's order, then close the session; rows per
        table staged (the others have problems recorded)."""
        counts: dict[str, int] = {}
        try:
            for table in TABLES:
                if table in self.mapping.tables:
                    rows = self.stage(table)
                    if rows is not None:
                        counts[table] = rows
        finally:
            self.close()
        return counts

    def stage(self, table: str) -> int | None:
        """Evaluate, coerce, check and write one table; its row count or None."""
        spec = self.mapping.tables[table]
        source = self.source_view(table)
        if source is None:
            return None
        view, source_columns, path = source
        where = "TRUE"
        if spec.where:
            if self.bind(path, view, source_columns, where, f"{table}.where", spec.where) is None:
                return None
            where = f"({self.translate(spec.where)})"
        mapped = [c for c in TABLES[table].column_names if c in spec.columns]
        raw_types = self._column_types(table, path, view, source_columns, where)
        dimensions = self._dimension_types(table, path, view, source_columns, where)
        if len(raw_types) < len(mapped) or dimensions is None:
            return None
        rows_from = self.rows_of(view, path, table)
        if rows_from is None:
            return None
        return self._stage_checked(path, table, rows_from, where, raw_types, list(dimensions))

    def _column_types(
        self, table: str, path: Path, view: str, source_columns: list[str], where: str
    ) -> dict[str, str]:
        """DuckDB's name of each mapped column's type, for those that bind to a usable one."""
        spec = self.mapping.tables[table]
        schema = TABLES[table]
        raw_types: dict[str, str] = {}
        for column in [c for c in schema.column_names if c in spec.columns]:
            expression, label = spec.columns[column], f"{table}.{column}"
            raw_type = self.bind(path, view, source_columns, where, label, expression)
            if raw_type is None:
                continue
            if schema.column(column).type == "TIMESTAMP" and raw_type.split("(")[0] in _NUMERIC:
                self.problem(
                    path, label,
                    f"expression {expression!r} is a number ({raw_type}), not a timestamp; "
                    "for epoch seconds write to_timestamp(...)",
                )  # fmt: skip
                continue
            raw_types[column] = raw_type
        return raw_types

    def _dimension_types(
        self, table: str, path: Path, view: str, source_columns: list[str], where: str
    ) -> dict[str, str] | None:
        """DuckDB's name of each custom dimension's type (orders only), or None when one fails
        or gives values a dimension cannot have (a problem is recorded)."""
        expressions = self.mapping.tables[table].dimensions
        types: dict[str, str] = {}
        for name, expression in expressions.items():
            label = f"{table}.dimensions.{name}"
            raw_type = self.bind(path, view, source_columns, where, label, expression)
            if raw_type is None:
                continue
            try:
                types[name] = check_type(raw_type)
            except DimensionError as error:
                self.problem(path, label, f"expression {expression!r}: {error}")
        return types if len(types) == len(expressions) else None

    def _stage_checked(
        self,
        path: Path,
        table: str,
        view: str,
        where: str,
        raw_types: dict[str, str],
        dimensions: list[str],
    ) -> int | None:
        """Stage the coerced rows (with each raw value whose conversion can fail and each
        dimension's value), check them in one scan and write them; the row count or None."""
        spec, schema, quote = self.mapping.tables[table], TABLES[table], self.quote
        mapped = list(raw_types)
        fallible = [c for c in mapped if conversion_can_fail(raw_types[c], schema.column(c).type)]
        select = [f"{self.coerced(table, c, raw_types[c])} AS {quote(c)}" for c in mapped]
        select += [f"({self.translate(spec.columns[c])}) AS {quote(f'raw:{c}')}" for c in fallible]
        select += [
            f"({self.translate(spec.dimensions[name])}) AS {quote(f'dim:{name}')}"
            for name in dimensions
        ]
        failing = {c: f"{quote(f'raw:{c}')} IS NOT NULL AND {quote(c)} IS NULL" for c in fallible}
        required = [*schema.primary_key, *(["order_time"] if table == "orders" else [])]
        conditions = [*failing.values(), *(f"{quote(c)} IS NULL" for c in required)]
        try:
            try:  # one scan: rows, values that did not convert, null keys
                staged = self.define_staged(table, select, view, where)  # Spark analyses here
                self.compute_staged(table, select, view, where)
                counts = self.rows(
                    f"SELECT count(*), {', '.join(f'count_if({c})' for c in conditions)} "
                    f"FROM {staged}"
                )[0]
            except self.query_error as error:
                self._locate_failure(path, table, view, where, raw_types, error, dimensions)
                return None
            rows, bad, nulls = counts[0], counts[1 : len(failing) + 1], counts[len(failing) + 1 :]
            if not (
                self._check_coercion(path, table, staged, failing, rows, bad)
                and self._check_keys(path, table, staged, dict(zip(required, nulls, strict=True)))
            ):
                return None
            self.write(table, staged, mapped, raw_types, dimensions)
        finally:
            self.drop_staged(table)
        return int(rows)

    def _check_coercion(
        self,
        path: Path,
        table: str,
        staged: str,
        failing: dict[str, str],
        total: int,
        bad_counts: Sequence[int],
    ) -> bool:
        """Record values that did not convert to their schema type (`failing`: the condition
        of each column that can fail, `bad_counts` its rows), with sample rows."""
        schema = TABLES[table]
        ok = True
        keys = [k for k in schema.primary_key if k in self.mapping.tables[table].columns]
        for (column, condition), bad in zip(failing.items(), bad_counts, strict=True):
            if not bad:
                continue
            ok = False
            names = [k for k in keys if k != column] + [column]
            shown = [self.quote(k) for k in names[:-1]] + [self.quote(f"raw:{column}")]
            samples = self.rows(
                f"SELECT {', '.join(shown)} FROM {staged} WHERE {condition} LIMIT {SAMPLE_ROWS}"
            )
            rows = "; ".join(
                ", ".join(f"{name}={sample(value)}" for name, value in zip(names, row, strict=True))
                for row in samples
            )
            target = schema.column(column).type
            what = "unparseable timestamps" if target == "TIMESTAMP" else f"not {target} values"
            self.problem(
                path, f"{table}.{column}",
                f"{int(bad):,} of {total:,} rows hold {what} (expression "
                f"{self.mapping.tables[table].columns[column]!r}); sample rows: {rows}",
            )  # fmt: skip
        return ok

    def _check_keys(self, path: Path, table: str, staged: str, nulls: dict[str, int]) -> bool:
        """Null (`nulls`: rows per required column) or duplicate primary keys, and orders
        without an order time, are errors."""
        for column, count in nulls.items():
            if count:
                self.problem(path, f"{table}.{column}", f"{count:,} rows have no value (null)")
        if any(nulls.values()):
            return False
        keys = list(TABLES[table].primary_key)
        key_list = ", ".join(self.quote(k) for k in keys)
        duplicated = (
            f"SELECT {key_list}, count(*) AS n FROM {staged} GROUP BY {key_list} "
            "HAVING count(*) > 1"
        )
        duplicates, extra = self.rows(
            f"SELECT count(*), coalesce(sum(n) - count(*), 0) FROM ({duplicated})"
        )[0]
        if not duplicates:
            return True
        samples = self.rows(f"{duplicated} ORDER BY n DESC, {key_list} LIMIT {SAMPLE_ROWS}")
        shown = "; ".join(f"{'+'.join(sample(v) for v in row[:-1])} x{row[-1]}" for row in samples)
        self.problem(
            path, f"{table}.{'+'.join(keys)}",
            f"{duplicates:,} duplicate keys ({extra:,} extra rows), e.g. {shown}",
        )  # fmt: skip
        return False

    def _locate_failure(
        self,
        path: Path,
        table: str,
        view: str,
        where: str,
        raw_types: dict[str, str],
        error: Exception,
        dimensions: Sequence[str] = (),
    ) -> None:
        """Find which column's (or dimension's) expression failed on the data (each alone), or
        whose value cannot convert to its column's type at all (Spark refuses a cast of a
        timestamp to a number before reading), unless the file itself could not be parsed."""
        unreadable = self.read_failure(error)
        if unreadable:
            self.problem(path, table, f"cannot read: {unreadable}")
            return
        spec = self.mapping.tables[table]
        expressions = {column: spec.columns[column] for column in raw_types}
        expressions |= {f"dimensions.{name}": spec.dimensions[name] for name in dimensions}
        found = False
        for column, expression in expressions.items():
            checks = [(self.translate(expression), f"expression {expression!r} fails on the data")]
            if column in raw_types:  # the value, then its conversion to the column's type
                target = TABLES[table].column(column).type
                checks.append((
                    self.coerced(table, column, raw_types[column]),
                    f"expression {expression!r} gives {raw_types[column]}, which cannot become "
                    f"{target}",
                ))  # fmt: skip
            for sql, what in checks:
                try:
                    self.rows(f"SELECT count(({sql})) FROM {view} WHERE {where}")
                except self.query_error as failure:
                    found = True
                    self.problem(path, f"{table}.{column}", f"{what}: {first_line(failure)}")
                    break
        if not found:
            self.problem(path, table, f"reading failed: {first_line(error)}")
