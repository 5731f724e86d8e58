"""DuckDB-dialect SQL for other engines: `?` parameters bound as literals, then sqlglot's
transpiler, after the rewrites below where sqlglot keeps a DuckDB-only form.

The rewrites (one function each, applied in order by `REWRITES`; adding one is one line):

- `epoch_us(t)` -> `unix_micros(CAST(t AS TIMESTAMP_LTZ))` on Spark (its session zone is UTC).
- `dayname(d)` -> `date_format(d, 'EEEE')` on Spark (its own dayname gives 'Mon', not 'Monday').
- `SELECT * REPLACE (e AS c) FROM t` -> every column of `t` (from the catalog), `e AS c` in
  place of `c`, for every dialect (Spark and Trino have no REPLACE).
- `agg(x) FILTER (WHERE c) OVER w` -> `agg(IF(c, x)) OVER w` (Spark has no FILTER on window
  aggregates; the aggregates we use skip NULLs, so the result is the same).
- `SELECT e AS a FROM t WHERE a ...` -> `WHERE e ...` where `a` is no column of `t` (DuckDB
  reads select aliases in WHERE, Spark does not).
- `regr_slope(y, x)` / `regr_intercept(y, x)` (also over a window) -> `covar_pop / var_pop`
  and `avg(y) - slope * avg(x)` over the pairs where both are present, on BigQuery (no REGR_*).
- `information_schema.tables` / `.columns`, `duckdb_databases()` -> the engine's catalog views
  (CATALOG_VIEWS); the databases view names no file, so nothing is kept per warehouse file.
- `quantile_cont(x, q)` (q a fraction or a list of them) -> `percentile(x, q)` on Spark (exact,
  interpolated linearly between the closest ranks as DuckDB's is; Spark's percentile_cont takes
  one fraction and WITHIN GROUP only).
- `CAST(x AS TIME)` -> the time of day as a TIMESTAMP on 1970-01-01 on Spark (which has no
  TIME type yet; comparisons and differences of times of day keep their results), from text
  ('10:20:30') or from a timestamp.
- `to_days(n)`, `to_hours(n)`, `to_minutes(n)`, `to_seconds(n)` -> `make_dt_interval(...)` on
  Spark (which has no to_* interval functions).

Parameters are rendered by sqlglot as typed literals (strings escaped for the target
dialect), never pasted as text.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from data.engines.base import EngineError

READ_DIALECT = "duckdb"
# The catalog views an engine registers in place of DuckDB's system tables.
CATALOG_VIEWS = {
    "tables": "cx_information_schema_tables",
    "columns": "cx_information_schema_columns",
    "duckdb_databases": "cx_duckdb_databases",
}


@dataclass(frozen=True)
class Catalog:
    """What the rewrites may need to know of the engine's tables: columns per table, in order."""

    columns: Mapping[str, Sequence[str]] = field(default_factory=dict)
    types: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """DuckDB's name of each column's type (VARCHAR, TIMESTAMP, ...), per table where known."""


def literal(value: object) -> exp.Expression:
    """A parameter value as a typed SQL literal (DuckDB dialect).

    >>> literal(dt.datetime(2026, 1, 4, 18)).sql("duckdb")
    "CAST('2026-01-04 18:00:00' AS TIMESTAMP)"
    >>> literal("it's").sql("spark")
    "'it\\\\'s'"
    """
    if value is None or value is pd.NaT:
        return exp.null()
    if isinstance(value, bool | np.bool_):
        return exp.true() if value else exp.false()
    if isinstance(value, np.integer):
        value = int(value)
    if isinstance(value, np.floating):
        value = float(value)
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value).to_pydatetime()
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return exp.Literal.number(repr(value))
        return exp.cast(exp.Literal.string(str(value)), "DOUBLE")
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            raise EngineError(f"timestamp parameter {value} has a time zone; ours are local time")
        text = value.isoformat(sep=" ", timespec="microseconds" if value.microsecond else "seconds")
        return exp.cast(exp.Literal.string(text), "TIMESTAMP")
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    if isinstance(value, list | tuple):
        return exp.Array(expressions=[literal(item) for item in value])
    raise EngineError(f"cannot bind a parameter of type {type(value).__name__}: {value!r}")


def bind_parameters(sql: str, parameters: Sequence[object] | Mapping[str, object] | None) -> str:
    """`sql` (DuckDB dialect) with its parameters written as literals: `?` in order from a
    sequence, `$1` by position in it, `$name` by name from a mapping."""
    tokens = sqlglot.Dialect.get_or_raise(READ_DIALECT).tokenize(sql)
    places: list[tuple[int, int, object]] = []  # start, end, value
    given: dict[str, object] = {}
    if isinstance(parameters, Mapping):
        given = {str(name): value for name, value in parameters.items()}
    else:
        given = {str(i + 1): value for i, value in enumerate(parameters or [])}
    question_marks = 0
    for index, token in enumerate(tokens):
        if token.token_type == TokenType.PLACEHOLDER:
            question_marks += 1
            key, end = str(question_marks), token.end
        elif token.token_type == TokenType.PARAMETER and index + 1 < len(tokens):
            key, end = tokens[index + 1].text, tokens[index + 1].end
        else:
            continue
        if key not in given:
            raise EngineError(f"no value given for the query's parameter {key!r}")
        places.append((token.start, end, given[key]))
    if question_marks and question_marks != len(given):
        raise EngineError(f"the query has {question_marks} parameters, {len(given)} were given")
    for start, end, value in reversed(places):
        sql = sql[:start] + literal(value).sql(READ_DIALECT) + sql[end + 1 :]
    return sql


def _epoch_us(node: exp.Expression, dialect: str, catalog: Catalog) -> exp.Expression:
    if dialect == "spark" and _named(node, "epoch_us"):
        (argument,) = _arguments(node)
        return exp.Anonymous(this="unix_micros", expressions=[exp.cast(argument, "TIMESTAMPLTZ")])
    return node


def _dayname(node: exp.Expression, dialect: str, catalog: Catalog) -> exp.Expression:
    if dialect == "spark" and _named(node, "dayname"):
        (argument,) = _arguments(node)
        return exp.Anonymous(this="date_format", expressions=[argument, exp.Literal.string("EEEE")])
    return node


def _star_replace(node: exp.Expression, dialect: str, catalog: Catalog) -> exp.Expression:
    if not (isinstance(node, exp.Select) and any(_replacing(e) for e in node.expressions)):
        return node
    source = node.args.get("from_") or node.args.get("from")
    table = source.this if source is not None else None
    if not isinstance(table, exp.Table) or table.name not in catalog.columns:
        raise EngineError("SELECT * REPLACE is rewritten only over a table of the catalog")
    expressions: list[exp.Expression] = []
    for item in node.expressions:
        if not _replacing(item):
            expressions.append(item)
            continue
        replaced = {alias.alias: alias for alias in item.args["replace"]}
        expressions += [replaced.get(c) or exp.column(c) for c in catalog.columns[table.name]]
    node.set("expressions", expressions)
    return node


def _window_filter(node: exp.Expression, dialect: str, catalog: Catalog) -> exp.Expression:
    if not (isinstance(node, exp.Window) and isinstance(node.this, exp.Filter)):
        return node
    aggregate, condition = node.this.this, node.this.expression.this
    for key, argument in list(aggregate.args.items()):
        if isinstance(argument, exp.Expression) and not isinstance(argument, exp.Star):
            aggregate.set(key, exp.If(this=condition.copy(), true=argument, false=exp.null()))
    if isinstance(aggregate.this, exp.Star):  # count(*) FILTER (...)
        aggregate.set(
            "this", exp.If(this=condition.copy(), true=exp.Literal.number(1), false=exp.null())
        )
    node.set("this", aggregate)
    return node


def _where_aliases(node: exp.Expression, dialect: str, catalog: Catalog) -> exp.Expression:
    where = node.args.get("where") if isinstance(node, exp.Select) else None
    if where is None:
        return node
    source = node.args.get("from_") or node.args.get("from")
    table = source.this if source is not None else None
    if not isinstance(table, exp.Table) or table.name not in catalog.columns:
        return node  # without the source's columns an alias cannot be told from a column
    columns = set(catalog.columns[table.name])
    aliases = {
        e.alias: e.this
        for e in node.expressions
        if isinstance(e, exp.Alias) and e.alias not in columns
    }
    for column in list(where.find_all(exp.Column)):
        if not column.table and column.name in aliases:
            column.replace(exp.paren(aliases[column.name].copy()))
    return node


def _regression(node: exp.Expression, dialect: str, catalog: Catalog) -> exp.Expression:
    window = node if isinstance(node, exp.Window) else None
    function = window.this if window is not None else node
    if dialect != "bigquery" or not isinstance(function, exp.RegrSlope | exp.RegrIntercept):
        return node
    if window is None and isinstance(node.parent, exp.Window):
        return node  # rewritten with its window
    y, x = function.this, function.expression
    y_paired = exp.If(this=exp.Is(this=x.copy(), expression=exp.null()), true=exp.null(), false=y)
    x_paired = exp.If(this=exp.Is(this=y.copy(), expression=exp.null()), true=exp.null(), false=x)

    def over(aggregate: exp.Expression) -> exp.Expression:
        if window is None:
            return aggregate
        copied = window.copy()
        copied.set("this", aggregate)
        return copied

    slope = exp.Div(
        this=over(exp.CovarPop(this=y_paired.copy(), expression=x_paired.copy())),
        expression=exp.Nullif(
            this=over(exp.VariancePop(this=x_paired.copy())), expression=exp.Literal.number(0)
        ),
    )
    if isinstance(function, exp.RegrSlope):
        return exp.paren(slope)
    intercept = exp.Sub(
        this=over(exp.Avg(this=y_paired)),
        expression=exp.Mul(this=exp.paren(slope), expression=over(exp.Avg(this=x_paired))),
    )
    return exp.paren(intercept)


def _catalog_tables(node: exp.Expression, dialect: str, catalog: Catalog) -> exp.Expression:
    if not isinstance(node, exp.Table):
        return node
    if node.db == "information_schema" and node.name in CATALOG_VIEWS:
        return exp.to_table(CATALOG_VIEWS[node.name]).as_(node.alias or node.name)
    if _named(node.this, "duckdb_databases"):
        return exp.to_table(CATALOG_VIEWS["duckdb_databases"]).as_(node.alias or "databases")
    return node


def _quantile(node: exp.Expression, dialect: str, catalog: Catalog) -> exp.Expression:
    if (
        dialect == "spark"
        and isinstance(node, exp.PercentileCont)
        and node.expression is not None
        and not isinstance(node.parent, exp.WithinGroup)
    ):
        return exp.Anonymous(this="percentile", expressions=[node.this, node.expression])
    return node


_EPOCH_DAY = "1970-01-01 "


def _time_of_day(node: exp.Expression, dialect: str, catalog: Catalog) -> exp.Expression:
    if not (
        dialect == "spark"
        and isinstance(node, exp.Cast)
        and node.to.is_type(exp.DataType.Type.TIME)
    ):
        return node
    value = node.this

    def on_epoch_day(text: exp.Expression) -> exp.Expression:
        return exp.cast(
            exp.DPipe(this=exp.Literal.string(_EPOCH_DAY), expression=text), "TIMESTAMP"
        )

    clock = exp.Anonymous(
        this="date_format", expressions=[value.copy(), exp.Literal.string("HH:mm:ss.SSSSSS")]
    )
    return exp.Coalesce(
        this=on_epoch_day(exp.cast(value, "VARCHAR")), expressions=[on_epoch_day(clock)]
    )


# DuckDB's interval constructors and the argument of Spark's make_dt_interval(days, hours,
# mins, secs) each fills.
_INTERVAL_PARTS = {"to_days": 0, "to_hours": 1, "to_minutes": 2, "to_seconds": 3}


def _interval(node: exp.Expression, dialect: str, catalog: Catalog) -> exp.Expression:
    name = next((n for n in _INTERVAL_PARTS if _named(node, n)), None)
    if dialect != "spark" or name is None:
        return node
    (argument,) = _arguments(node)
    parts: list[exp.Expression] = [exp.Literal.number(0) for _ in range(4)]
    whole = name != "to_seconds"
    parts[_INTERVAL_PARTS[name]] = exp.cast(argument, "INT") if whole else argument
    return exp.Anonymous(this="make_dt_interval", expressions=parts)


Rewrite = Callable[[exp.Expression, str, Catalog], exp.Expression]
REWRITES: tuple[Rewrite, ...] = (
    _epoch_us,
    _dayname,
    _star_replace,
    _window_filter,
    _where_aliases,
    _regression,
    _catalog_tables,
    _quantile,
    _interval,
    _time_of_day,
)


def transpile(
    sql: str,
    dialect: str,
    parameters: Sequence[object] | Mapping[str, object] | None = None,
    catalog: Catalog | None = None,
    pretty: bool = False,
) -> str:
    """One DuckDB-dialect statement in `dialect` (sqlglot's name: spark, snowflake, bigquery,
    trino, ...), its parameters bound as literals and the rewrites of `REWRITES` applied."""
    try:
        tree = rewritten(bind_parameters(sql, parameters), dialect, catalog or Catalog())
        return tree.sql(dialect=dialect, pretty=pretty, unsupported_level=sqlglot.ErrorLevel.RAISE)
    except sqlglot.errors.SqlglotError as error:
        raise EngineError(f"cannot write this query for {dialect}: {error}") from None


def rewritten(sql: str, dialect: str, catalog: Catalog) -> exp.Expression:
    """The parsed DuckDB-dialect statement after the REWRITES for `dialect` (the tree is
    generic: the tests run a rewrite on DuckDB to check that it keeps the results)."""
    tree = sqlglot.parse_one(sql, read=READ_DIALECT)
    for rewrite in REWRITES:
        tree = tree.transform(lambda node, rewrite=rewrite: rewrite(node, dialect, catalog))
    return tree


def _named(node: exp.Expression | None, name: str) -> bool:
    """Whether `node` is a call of the function `name` (sqlglot's class or an unknown one)."""
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower() == name
    return isinstance(node, exp.Func) and node.sql_name().lower() == name


def _arguments(node: exp.Expression) -> list[exp.Expression]:
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    return [value for value in node.args.values() if isinstance(value, exp.Expression)]


def _replacing(node: exp.Expression) -> bool:
    return isinstance(node, exp.Star) and bool(node.args.get("replace"))
