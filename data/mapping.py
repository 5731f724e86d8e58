"""The mapping file for real data: which source file feeds each table, and how each column is
computed from the source's columns (a DuckDB SQL expression), plus the time zones.

A source path is relative to the mapping file and may use environment variables, `${NAME}` or
`${NAME:-default}`, so a mapping can point at data that lives outside the repository.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from data.schema import TABLES

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


class TableMapping(BaseModel):
    """One of our tables: its source file and an SQL expression per column."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="CSV or Parquet file, relative to the mapping file.")
    format: Literal["csv", "parquet"] | None = Field(
        default=None, description="Default: from the file's extension."
    )
    columns: dict[str, str] = Field(description="Our column -> SQL over the source's columns.")
    where: str | None = Field(default=None, description="Keep only source rows matching this.")
    source_timezone: str | None = Field(default=None, description="Overrides the file's zone.")
    read_options: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Extra read_csv options, e.g. {delim: ';'}."
    )

    @field_validator("source_timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return value if value is None else _zone(value)

    @field_validator("columns")
    @classmethod
    def _expressions_are_not_empty(cls, columns: dict[str, str]) -> dict[str, str]:
        for name, expression in columns.items():
            if not str(expression).strip():
                raise ValueError(f"column {name!r} has an empty expression")
        return columns


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
