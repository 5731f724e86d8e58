"""The change log: logged changes in a time range, and whether their scope overlaps a slice."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb

from analytics.cohorts import FilterValue, dimension_name
from analytics.rows import one_row

# Scope keys in the change log mapped to cohort dimensions.
_SCOPE_DIMENSIONS = {
    "region": "region",
    "category": "category",
    "hours": "hour",
    "store_ids": "store",
}


@dataclass(frozen=True)
class LoggedChange:
    """One row of the change log, with its relation to a slice and (when a reference time was
    given, usually an incident start) how many hours before that time it was logged."""

    change_id: str
    change_time: dt.datetime
    kind: str
    name: str
    scope: dict[str, list]
    old_value: str | None
    new_value: str | None
    description: str
    hours_before_incident: float | None
    overlaps_slice: bool


def scope_filters(scope: Mapping[str, list]) -> dict[str, list]:
    """A change's scope as cohort filters, e.g. {"category": [...], "hour": [...]}."""
    return {_SCOPE_DIMENSIONS[key]: list(values) for key, values in scope.items() if values}


def overlaps(scope: Mapping[str, list], filters: Mapping[str, FilterValue]) -> bool:
    """Whether a change scope and a slice can share orders (an absent dimension is everything)."""
    as_filters = scope_filters(scope)
    for name, value in filters.items():
        dimension = dimension_name(name)  # a custom dimension is in no change's scope
        if dimension not in as_filters:
            continue
        values = {value} if isinstance(value, str | int) else set(value)
        if not values & set(as_filters[dimension]):
            return False
    return True


def describe_scope(scope: Mapping[str, list]) -> str:
    """A change's scope as text, e.g. 'category=grocery, hours=18-20' or 'marketplace-wide'.

    >>> describe_scope({"category": ["grocery"], "hours": [18, 19, 20]})
    'category=grocery, hours=18-20'
    >>> describe_scope({})
    'marketplace-wide'
    """
    parts = []
    for key, values in scope.items():
        if not values:
            continue
        values = list(values)
        numbers = sorted(v for v in values if isinstance(v, int))
        consecutive = (
            len(numbers) == len(values) > 2 and numbers[-1] - numbers[0] == len(values) - 1
        )
        shown = f"{numbers[0]}-{numbers[-1]}" if consecutive else "/".join(map(str, values))
        parts.append(f"{key}={shown}")
    return ", ".join(parts) or "marketplace-wide"


# What a change log without a column reads in its place: a change is named by its id.
_STAND_INS = {
    "kind": "'unknown'",
    "name": "change_id",
    "scope": "'{}'",
    "old_value": "CAST(NULL AS VARCHAR)",
    "new_value": "CAST(NULL AS VARCHAR)",
    "description": "''",
}


def _change_columns(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'changes'"
    ).fetchall()
    return {row[0] for row in rows}


def has_change_log(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the warehouse holds a `changes` table that says when each change was made."""
    return "change_time" in _change_columns(con)


def changes_source(con: duckdb.DuckDBPyConnection) -> str:
    """The change log with every column of the schema (stand-ins for those it lacks) for a
    FROM clause; call only where `has_change_log`."""
    present = _change_columns(con)
    columns = ", ".join(
        name if name in present or name not in _STAND_INS else f"{_STAND_INS[name]} AS {name}"
        for name in ("change_id", "change_time", *_STAND_INS)
    )
    return f"(SELECT {columns} FROM changes) AS changes"


def logged_changes(
    con: duckdb.DuckDBPyConnection,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    filters: Mapping[str, FilterValue] | None = None,
    name: str | None = None,
    reference: dt.datetime | None = None,
) -> list[LoggedChange]:
    """Changes logged in [start, end] (either bound may be open), optionally only those named
    `name`, latest first; each marked with whether its scope overlaps the slice `filters` and,
    with a `reference` time, the hours from the change to it."""
    if not has_change_log(con):
        return []
    rows = con.execute(
        "SELECT change_id, change_time, kind, name, scope, old_value, new_value, description "
        f"FROM {changes_source(con)} "
        "WHERE (? IS NULL OR change_time >= ?) AND (? IS NULL OR change_time <= ?) "
        "AND (? IS NULL OR name = ?) ORDER BY change_time DESC, change_id",
        [start, start, end, end, name, name],
    ).fetchall()
    found = []
    for change_id, when, kind, change_name, scope_json, old, new, description in rows:
        try:
            scope = json.loads(scope_json or "{}")
        except json.JSONDecodeError:
            scope = {}
        found.append(
            LoggedChange(
                change_id=change_id,
                change_time=when,
                kind=kind,
                name=change_name,
                scope=scope,
                old_value=old,
                new_value=new,
                description=description,
                hours_before_incident=(
                    (reference - when).total_seconds() / 3600 if reference is not None else None
                ),
                overlaps_slice=overlaps(scope, filters or {}),
            )
        )
    return found


def change_count(con: duckdb.DuckDBPyConnection) -> int:
    """How many changes the log holds (0 without a change log)."""
    if not has_change_log(con):
        return 0
    return int(one_row(con.execute("SELECT count(*) FROM changes"))[0])
