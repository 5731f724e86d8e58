"""Custom dimensions: per-order attributes a mapping declares beyond our schema (weather, road
traffic, a festival flag, vehicle type), under `orders.dimensions` as `name: SQL expression`.

Ingestion evaluates each expression per order into `order_dimensions` (order_id plus one column
per dimension, the raw values). Building the warehouse types each dimension from its values:
- boolean: a BOOLEAN expression; its groups are 'yes' and 'no';
- numeric: a number with more than MAX_LEVELS distinct values, cut at its quartiles (edges
  rounded to 3 significant digits, duplicates dropped) into labelled bins '<12.3', '12.3-20',
  '>=20' (each bin holds [lower, upper));
- categorical: anything else (text, dates, numbers with few distinct values), one group per
  value as text.
The declarations (name, kind, expression, edges, labels) are kept in `custom_dimensions`, and
order_facts holds each dimension's group label in a column of the dimension's name, so a world
knows its own dimensions and every cohort query reads them like region or category.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Literal

import duckdb
from pydantic import BaseModel, Field

from data.schema import ORDER_FACTS

VALUES_TABLE = "order_dimensions"
DECLARATIONS_TABLE = "custom_dimensions"
VALUES_FILE = f"{VALUES_TABLE}.parquet"
MAX_LEVELS = 12  # a number with more distinct values than this is binned
QUANTILES = (0.25, 0.5, 0.75)  # bin edges of a numeric dimension
MAX_NAME_CHARS = 40
# The built-in cohort dimensions and their aliases (analytics/cohorts.py reads the same names;
# a test keeps the two in step): a custom dimension may not take any of them.
BUILT_IN_NAMES = frozenset(
    {"region", "category", "daypart", "hour", "basket_size", "store", "day", "weekday"}
    | {"store_id", "hour_of_day", "time_of_day", "day_of_week"}
)
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_NUMBER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                 "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL")  # fmt: skip
_TEXT_TYPES = (*_NUMBER_TYPES, "VARCHAR", "BOOLEAN", "DATE", "TIMESTAMP", "TIME", "UUID")

Kind = Literal["categorical", "boolean", "numeric"]


class DimensionError(ValueError):
    """A custom dimension that cannot be declared: its name or its values' type."""


@functools.cache
def _reserved_words() -> frozenset[str]:
    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category = 'reserved'"
        ).fetchall()
    return frozenset(word.lower() for (word,) in rows)


def check_name(name: str) -> str:
    """`name` if it can name a custom dimension, else DimensionError saying why.

    >>> check_name("weather")
    'weather'
    >>> check_name("region")
    Traceback (most recent call last):
    ...
    data.dimensions.DimensionError: 'region' is a built-in dimension; choose another name
    """
    if not _NAME.fullmatch(name) or len(name) > MAX_NAME_CHARS:
        raise DimensionError(
            f"{name[:MAX_NAME_CHARS]!r} is not a dimension name (lower-case letters, digits and "
            f"_, starting with a letter, at most {MAX_NAME_CHARS} characters; e.g. road_traffic)"
        )
    if name in BUILT_IN_NAMES:
        raise DimensionError(f"{name!r} is a built-in dimension; choose another name")
    if name in ORDER_FACTS.column_names:
        raise DimensionError(f"{name!r} is an order_facts column; choose another name")
    if name in _reserved_words():
        raise DimensionError(f"{name!r} is an SQL keyword; choose another name")
    return name


class CustomDimension(BaseModel):
    """A declared dimension as the warehouse keeps it."""

    name: str
    kind: Kind
    expression: str = Field(description="The mapping's SQL expression over the source row.")
    source_type: str = Field(description="The DuckDB type of the expression's values.")
    edges: list[float] = Field(
        default_factory=list, description="numeric: the bin edges, ascending (bins [a, b))."
    )
    labels: list[str] = Field(
        default_factory=list, description="The groups in their natural order (bins low to high)."
    )


def _round(value: float) -> float:
    """3 significant digits: the bin edges a reader can remember."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, 2 - int(math.floor(math.log10(abs(value)))))


def bin_labels(edges: Sequence[float]) -> list[str]:
    """Labels of the bins cut at `edges`: '<e1', 'e1-e2', ..., '>=ek'.

    >>> bin_labels([10, 20.5])
    ['<10', '10-20.5', '>=20.5']
    """
    inner = [f"{low:g}-{high:g}" for low, high in zip(edges, edges[1:], strict=False)]
    return [f"<{edges[0]:g}", *inner, f">={edges[-1]:g}"]


def label_sql(dimension: CustomDimension, value: str) -> str:
    """SQL giving a raw value's group label (VARCHAR; NULL stays NULL)."""
    if dimension.kind == "boolean":
        return f"CASE WHEN {value} THEN 'yes' WHEN NOT {value} THEN 'no' END"
    if dimension.kind == "numeric" and dimension.edges:
        cases = " ".join(
            f"WHEN {value} < {edge!r} THEN '{label}'"
            for edge, label in zip(dimension.edges, dimension.labels, strict=False)
        )
        return f"CASE WHEN {value} IS NULL THEN NULL {cases} ELSE '{dimension.labels[-1]}' END"
    if dimension.source_type.startswith(("FLOAT", "DOUBLE", "DECIMAL", "REAL")):
        return f"regexp_replace(CAST({value} AS VARCHAR), '\\.0+$', '')"
    return f"CAST({value} AS VARCHAR)"


def check_type(source_type: str) -> str:
    """`source_type` if a dimension's values may have it (text, boolean, number, date or time),
    else DimensionError."""
    if source_type.split("(")[0] not in _TEXT_TYPES:
        raise DimensionError(
            f"the expression gives {source_type} values; a dimension must be text, a boolean, "
            "a number or a date"
        )
    return source_type


def _typed(
    con: duckdb.DuckDBPyConnection, name: str, source_type: str, expression: str
) -> CustomDimension:
    """A dimension's kind (and bins) from its values in `order_dimensions`."""
    base = check_type(source_type).split("(")[0]
    column = f'"{name}"'
    if base == "BOOLEAN":
        return CustomDimension(
            name=name, kind="boolean", expression=expression, source_type=source_type,
            labels=["no", "yes"],
        )  # fmt: skip
    distinct = int(
        con.execute(f"SELECT count(DISTINCT {column}) FROM {VALUES_TABLE}").fetchone()[0]  # type: ignore[index]
    )
    numeric = source_type.startswith(_NUMBER_TYPES)
    if numeric and distinct > MAX_LEVELS:
        quantiles = con.execute(
            f"SELECT quantile_cont({column}, {list(QUANTILES)}) FROM {VALUES_TABLE}"
        ).fetchone()[0]  # type: ignore[index]
        edges = sorted({_round(float(q)) for q in quantiles})
        return CustomDimension(
            name=name, kind="numeric", expression=expression, source_type=source_type,
            edges=edges, labels=bin_labels(edges),
        )  # fmt: skip
    draft = CustomDimension(
        name=name, kind="categorical", expression=expression, source_type=source_type
    )
    order = column if numeric else "label"
    labels = con.execute(
        f"SELECT DISTINCT {label_sql(draft, column)} AS label, {column} FROM {VALUES_TABLE} "
        f"WHERE {column} IS NOT NULL ORDER BY {order} LIMIT 1000"
    ).fetchall()
    return draft.model_copy(update={"labels": list(dict.fromkeys(str(row[0]) for row in labels))})


# The columns of `custom_dimensions`, one row per declared dimension (declaration_row).
DECLARATION_COLUMNS = ("name", "kind", "expression", "source_type", "edges", "labels")


def typed_dimensions(
    con: duckdb.DuckDBPyConnection, expressions: Mapping[str, str]
) -> list[CustomDimension]:
    """Each column of `order_dimensions` typed (see the module docstring), in column order;
    `expressions` are the mapping's, by name. Any engine whose catalog lists the columns."""
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? AND column_name <> 'order_id' ORDER BY ordinal_position",
            [VALUES_TABLE],
        ).fetchall()
    )
    return [
        _typed(con, check_name(name), types[name], expressions.get(name, name)) for name in types
    ]


def declaration_row(dimension: CustomDimension) -> tuple[str, ...]:
    """A declaration as stored in `custom_dimensions` (DECLARATION_COLUMNS; lists as JSON)."""
    return (
        dimension.name, dimension.kind, dimension.expression, dimension.source_type,
        json.dumps(dimension.edges), json.dumps(dimension.labels),
    )  # fmt: skip


def declare(con: duckdb.DuckDBPyConnection, expressions: dict[str, str]) -> list[CustomDimension]:
    """Type each column of `order_dimensions` and record the declarations in
    `custom_dimensions`. `expressions` are the mapping's, by name."""
    declared = typed_dimensions(con, expressions)
    columns = ", ".join(f"{name} VARCHAR" for name in DECLARATION_COLUMNS)
    con.execute(f"CREATE OR REPLACE TABLE {DECLARATIONS_TABLE} ({columns})")
    for dimension in declared:
        con.execute(
            f"INSERT INTO {DECLARATIONS_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
            list(declaration_row(dimension)),
        )
    return declared


def declared_dimensions(con: duckdb.DuckDBPyConnection) -> list[CustomDimension]:
    """The custom dimensions a warehouse declares (none for a synthetic world)."""
    present = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
        [DECLARATIONS_TABLE],
    ).fetchone()[0]  # type: ignore[index]
    if not present:
        return []
    rows = con.execute(
        f"SELECT name, kind, expression, source_type, edges, labels FROM {DECLARATIONS_TABLE} "
        "ORDER BY rowid"
    ).fetchall()
    return [
        CustomDimension(
            name=name, kind=kind, expression=expression, source_type=source_type,
            edges=json.loads(edges), labels=json.loads(labels),
        )
        for name, kind, expression, source_type, edges, labels in rows
    ]  # fmt: skip
