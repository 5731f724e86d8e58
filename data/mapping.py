"""The mapping file for real data: which source file feeds each table, and how each column is
computed from the source's columns (a DuckDB SQL expression), plus the time zones.

A source path is relative to the mapping file and may use environment variables, `${NAME}` or
`${NAME:-default}`, so a mapping can point at data that lives outside the repository.

Every column expression, dimension expression and `where` becomes part of the ingest's SQL
text, so each must be one SQL expression over the current source row: several statements, a
statement (COPY, ATTACH, SET, ...), a subquery or a function that reads files or tables are
refused when the mapping is read, before any SQL runs. `read_options` keys must be plain
option names. Custom dimensions' names are checked too (data/dimensions.py).
"""

from __future__ import annotations

import functools
import math
import os
import re
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import sqlglot
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.tokens import Token, TokenType

from data.dimensions import DimensionError, check_name
from data.schema import TABLES
from data.sql_policy import denied_function

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
REQUIRED_TABLES = tuple(name for name, table in TABLES.items() if not table.optional)
# Columns a mapped table cannot do without; any other column may be left out.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    name: (*table.primary_key, *(("order_time",) if name == "orders" else ()))
    for name, table in TABLES.items()
}


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the file and the entry."""


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name, e.g. UTC)") from None
    return name


_DUCKDB = Dialect.get_or_raise("duckdb")
_ONE = "must be one SQL expression"
# Tokens that open a statement rather than an expression, as sqlglot's own parser decides.
_STATEMENT_TOKENS = (
    frozenset(_DUCKDB.parser_class.STATEMENT_PARSERS) | frozenset(_DUCKDB.tokenizer_class.COMMANDS)
) - {TokenType.SEMICOLON}
_READS_BEYOND_THE_ROW = (exp.Query, exp.Subquery, exp.Table, exp.From, exp.Lateral, exp.Values)
_OPTION_NAME = re.compile(r"[a-z_][a-z0-9_]{0,63}", re.IGNORECASE)
_OPTION_VALUE_CHARS = 1000


@functools.cache
def _table_functions() -> frozenset[str]:
    """Names DuckDB knows only as table functions (read_csv, glob, query, ...)."""
    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT function_name, bool_and(function_type IN ('table', 'table_macro')) "
            "FROM duckdb_functions() GROUP BY 1"
        ).fetchall()
    return frozenset(name.lower() for name, table_only in rows if table_only)


def _forbidden_function(name: str) -> bool:
    """Denied everywhere (data/sql_policy.py), or one of DuckDB's table functions (they read
    files, tables or other queries, never the source row)."""
    return denied_function(name) or name.lower() in _table_functions() or name.endswith("_scan")


def _function_names(root: exp.Expression, text: str) -> list[str]:
    """Every function the expression calls, as DuckDB tokenizes it (a name followed by a
    parenthesis) and as sqlglot reads it, so that the two parsers cannot disagree about it."""
    tokens = duckdb.tokenize(text)
    ends = [start for start, _ in tokens[1:]] + [len(text)]
    code = [i for i, (_, kind) in enumerate(tokens) if kind != duckdb.token_type.comment]
    names = [
        text[tokens[i][0] : ends[i]].strip().strip('"')
        for i, following in zip(code, code[1:], strict=False)
        if tokens[i][1] != duckdb.token_type.string_const
        and text[tokens[following][0] :].startswith("(")
    ]
    return names + [
        node.name if isinstance(node, exp.Anonymous) else node.sql_name().lower()
        for node in root.find_all(exp.Func)
    ]


def _statements(tokens: list[Token]) -> list[list[Token]]:
    """The tokens of each statement (semicolons split them; empty ones dropped)."""
    statements: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(token)
    return [statement for statement in statements if statement]


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "AEIOU" else f"a {kind}"


def _duckdb_refusal(text: str) -> str | None:
    """Why DuckDB, which runs the text inside a SELECT, does not read it as one expression."""
    try:
        wrapped = duckdb.extract_statements(f"SELECT ({text})")
    except duckdb.Error as error:
        message = str(error)
        try:  # the message of the text alone does not point at the parenthesis added here
            duckdb.extract_statements(f"SELECT {text}")
        except duckdb.Error as bare_error:
            message = str(bare_error)
        return f"does not parse: {message.strip().splitlines()[0]}"
    if len(wrapped) == 1:
        return None
    kinds = [s.type.name for s in wrapped[1:] if s.type.name != "SELECT"]
    named = f", {_a(kinds[0])} among them" if kinds else ""
    return f"{_ONE}; DuckDB reads {len(wrapped)} statements in it{named}"


def one_expression(text: str) -> str:
    """`text` if it is one SQL expression over the current source row; otherwise ValueError
    saying what it is instead (several statements, a statement, a subquery, a file read).

    >>> one_expression("subtotal / 100.0")
    'subtotal / 100.0'
    >>> one_expression("TRUE; COPY (SELECT 1) TO 'x.csv'")
    Traceback (most recent call last):
    ...
    ValueError: must be one SQL expression; found 2 statements separated by ';', a COPY among them
    """
    if not text.strip():
        raise ValueError("the expression is empty")
    try:
        statements = _statements(_DUCKDB.tokenize(text))
        kinds = [s[0].text.upper() for s in statements if s[0].token_type in _STATEMENT_TOKENS]
        if len(statements) > 1:
            named = f", {_a(kinds[0])} among them" if kinds else ""
            raise ValueError(f"{_ONE}; found {len(statements)} statements separated by ';'{named}")
        if kinds:  # DuckDB reading it as an expression means a column named like a keyword
            word = statements[0][0].text
            hint = f' (if {word} is a column, write "{word}")' if not _duckdb_refusal(text) else ""
            raise ValueError(f"{_ONE}; found {_a(kinds[0])} statement{hint}")
        parsed = [statement for statement in sqlglot.parse(text, read="duckdb") if statement]
    except sqlglot.errors.SqlglotError as error:
        reason = str(error).strip().splitlines()[0]
        raise ValueError(
            _duckdb_refusal(text) or f"cannot be checked ({reason}); write it in plainer SQL"
        ) from None
    if len(parsed) != 1:
        raise ValueError(f"{_ONE}; found {len(parsed) or 'none'}")
    (root,) = parsed
    if isinstance(root, exp.Command | exp.DDL | exp.DML | exp.Summarize):
        raise ValueError(f"{_ONE}; found {_a(root.key.upper())} statement")
    beyond = next(root.find_all(*_READS_BEYOND_THE_ROW), None)
    if beyond is not None:
        raise ValueError(
            f"{_ONE} over the source's columns; found a subquery or table "
            f"({beyond.sql(dialect='duckdb')[:60]!r}), which reads beyond the row"
        )
    forbidden = next((n for n in _function_names(root, text) if _forbidden_function(n)), None)
    if forbidden:
        raise ValueError(
            f"{_ONE} over the source's columns; found {forbidden}(), which reads files, "
            "tables or settings"
        )
    refusal = _duckdb_refusal(text)
    if refusal:
        raise ValueError(refusal)
    return text


def _read_option(name: str, value: str | int | float | bool) -> None:
    """A read_csv option must be a plain name with a printable or finite value."""
    if not _OPTION_NAME.fullmatch(name):
        raise ValueError(f"{name[:40]!r} is not an option name (letters, digits and _, e.g. delim)")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name}: {value} is not a finite number")
    if isinstance(value, str):
        if len(value) > _OPTION_VALUE_CHARS:
            raise ValueError(f"{name}: the value is longer than {_OPTION_VALUE_CHARS} characters")
        if any(not c.isprintable() and c not in "\t\r\n" for c in value):
            raise ValueError(f"{name}: the value holds control characters")


SqlExpression = Annotated[str, AfterValidator(one_expression)]


class TableMapping(BaseModel):
    """One of our tables: its source file and an SQL expression per column."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="CSV or Parquet file, relative to the mapping file.")
    format: Literal["csv", "parquet"] | None = Field(
        default=None, description="Default: from the file's extension."
    )
    columns: dict[str, SqlExpression] = Field(
        description="Our column -> one SQL expression over the source's columns."
    )
    where: SqlExpression | None = Field(
        default=None, description="Keep only source rows matching this SQL expression."
    )
    dimensions: dict[str, SqlExpression] = Field(
        default_factory=dict,
        description="orders only: custom dimension name -> one SQL expression "
        "(data/dimensions.py).",
    )
    source_timezone: str | None = Field(default=None, description="Overrides the file's zone.")
    read_options: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Extra read_csv options, e.g. {delim: ';'}."
    )

    @field_validator("source_timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return value if value is None else _zone(value)

    @field_validator("dimensions")
    @classmethod
    def _dimension_names(cls, dimensions: dict[str, str]) -> dict[str, str]:
        for name in dimensions:
            try:
                check_name(name)
            except DimensionError as error:
                raise ValueError(str(error)) from None
        return dimensions

    @field_validator("read_options")
    @classmethod
    def _plain_options(
        cls, options: dict[str, str | int | float | bool]
    ) -> dict[str, str | int | float | bool]:
        for name, value in options.items():
            _read_option(name, value)
        return options


class Mapping(BaseModel):
    """A whole mapping file. `path` is where it was read from (sources are relative to it)."""

    model_config = ConfigDict(extra="forbid")

    source_timezone: str = "UTC"
    local_timezone: str
    tables: dict[str, TableMapping]
    path: Path | None = Field(default=None, exclude=True)

    @field_validator("source_timezone", "local_timezone")
    @classmethod
    def _known_zones(cls, value: str) -> str:
        return _zone(value)

    @model_validator(mode="after")
    def _tables_and_columns_are_ours(self) -> Mapping:
        for name, table in self.tables.items():
            if name not in TABLES:
                raise ValueError(f"unknown table {name!r}; tables: {', '.join(TABLES)}")
            known = TABLES[name].column_names
            for column in table.columns:
                if column not in known:
                    raise ValueError(
                        f"tables.{name}: unknown column {column!r}; columns: {', '.join(known)}"
                    )
            if table.dimensions and name != "orders":
                raise ValueError(
                    f"tables.{name}: dimensions are declared on orders only (one value per order)"
                )
            absent = [c for c in REQUIRED_COLUMNS[name] if c not in table.columns]
            if absent:
                raise ValueError(
                    f"tables.{name}: required column(s) not mapped: {', '.join(absent)}"
                )
        missing = [name for name in REQUIRED_TABLES if name not in self.tables]
        if missing:
            raise ValueError(f"required table(s) not mapped: {', '.join(missing)}")
        return self

    def zone_of(self, table: str) -> str:
        """The time zone of a table's source timestamps."""
        return self.tables[table].source_timezone or self.source_timezone

    def source_path(self, table: str) -> Path:
        """The table's source file, environment variables expanded, relative to the mapping."""
        raw = self.tables[table].source

        def expand(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            value = os.environ.get(name) or default
            if value is None:
                raise MappingError(
                    f"{self.path}: tables.{table}.source uses ${{{name}}}, which is not set"
                )
            return value

        path = Path(_VARIABLE.sub(expand, raw)).expanduser()
        base = self.path.parent if self.path else Path.cwd()
        return path if path.is_absolute() else (base / path).resolve()

    def source_format(self, table: str) -> Literal["csv", "parquet"]:
        """csv or parquet: as given, else from the extension (.parquet/.pq; anything else csv)."""
        given = self.tables[table].format
        if given:
            return given
        suffixes = self.source_path(table).suffixes
        return "parquet" if any(s in (".parquet", ".pq") for s in suffixes) else "csv"


def load_mapping(path: Path | str) -> Mapping:
    """Read and validate a mapping file; errors name the file and the offending entry."""
    path = Path(path)
    if not path.is_file():
        raise MappingError(f"{path}: mapping file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise MappingError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise MappingError(f"{path}: expected a mapping with local_timezone and tables")
    try:
        mapping = Mapping.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: "
            + e["msg"].removeprefix("Value error, ")
            for e in error.errors()
        )
        raise MappingError(f"{path}: {problems}") from None
    mapping.path = path.resolve()
    return mapping
