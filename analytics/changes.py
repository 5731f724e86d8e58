"""The change log: logged changes near a time, and whether their scope overlaps a slice."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb

from analytics.cohorts import FilterValue, canonical_dimension

# Scope keys in the change log mapped to cohort dimensions.
_SCOPE_DIMENSIONS = {
    "region": "region",
    "category": "category",
    "hours": "hour",
    "store_ids": "store",
}


@dataclass(frozen=True)
class LoggedChange:
    """One row of the change log, with its relation to a slice and an incident start."""

    change_id: str
    change_time: dt.datetime
    kind: str
    name: str
    scope: dict[str, list]
    old_value: str | None
    new_value: str | None
    description: str
    hours_before_incident: float
    overlaps_slice: bool


def scope_filters(scope: Mapping[str, list]) -> dict[str, list]:
    """A change's scope as cohort filters, e.g. {"category": [...], "hour": [...]}."""
    return {_SCOPE_DIMENSIONS[key]: list(values) for key, values in scope.items() if values}


def overlaps(scope: Mapping[str, list], filters: Mapping[str, FilterValue]) -> bool:
    """Whether a change scope and a slice can share orders (an absent dimension is everything)."""
    as_filters = scope_filters(scope)
    for name, value in filters.items():
        dimension = canonical_dimension(name)
        if dimension not in as_filters:
            continue
        values = {value} if isinstance(value, str | int) else set(value)
        if not values & set(as_filters[dimension]):
            return False
    return True


def changes_near(
    con: duckdb.DuckDBPyConnection,
    incident_start: dt.datetime,
    filters: Mapping[str, FilterValue],
    before: dt.timedelta = dt.timedelta(days=3),
    after: dt.timedelta = dt.timedelta(hours=6),
) -> list[LoggedChange]:
    """Changes logged from `before` the incident start until `after` it, nearest first."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'changes'"
    ).fetchone()[0]
    if not exists:
        return []
    rows = con.execute(
        "SELECT change_id, change_time, kind, name, scope, old_value, new_value, description "
        "FROM changes WHERE change_time >= ? AND change_time <= ? ORDER BY change_time DESC",
        [incident_start - before, incident_start + after],
    ).fetchall()
    found = []
    for change_id, when, kind, name, scope_json, old, new, description in rows:
        try:
            scope = json.loads(scope_json or "{}")
        except json.JSONDecodeError:
            scope = {}
        found.append(
            LoggedChange(
                change_id=change_id,
                change_time=when,
                kind=kind,
                name=name,
                scope=scope,
                old_value=old,
                new_value=new,
                description=description,
                hours_before_incident=(incident_start - when).total_seconds() / 3600,
                overlaps_slice=overlaps(scope, filters),
            )
        )
    return found
