"""Cohort dimensions: the names users slice by, mapped to order_facts columns.

The built-in dimensions are the same in every world; a world's custom dimensions (declared in
its mapping, data/dimensions.py) are read from its warehouse by `world_dimensions` into a
`Dimensions` value, which every function resolving a name takes (default: built-ins only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb

from data.dimensions import CustomDimension, DimensionError, check_name, declared_dimensions

DIMENSIONS: dict[str, str] = {
    "region": "region",
    "category": "category",
    "daypart": "daypart",
    "hour": "hour",
    "basket_size": "basket_size",
    "store": "store_id",
    "day": "day",
    "weekday": "dayname(day)",
}
_ALIASES = {
    "store_id": "store",
    "hour_of_day": "hour",
    "time_of_day": "daypart",
    "day_of_week": "weekday",
}

FilterValue = str | int | Sequence[str | int]


class CohortError(ValueError):
    """An unknown dimension or a malformed filter."""


@dataclass(frozen=True)
class Dimensions:
    """The cohort dimensions of one world: the built-in ones and its custom ones (their
    declarations: kind, groups, bin edges). Custom dimensions are order_facts columns of their
    own name holding each order's group label."""

    custom: tuple[CustomDimension, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every dimension name, built-in first."""
        return (*DIMENSIONS, *(d.name for d in self.custom))

    @property
    def custom_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.custom)

    def declared(self, name: str) -> CustomDimension | None:
        """The declaration of a custom dimension (None for a built-in one)."""
        return next((d for d in self.custom if d.name == name), None)

    def column(self, name: str) -> str:
        """The order_facts column (SQL) of a dimension (accepts a few aliases)."""
        key = _ALIASES.get(name, name)
        if key in DIMENSIONS:
            return DIMENSIONS[key]
        if key in self.custom_names:
            return key
        raise CohortError(f"unknown dimension {name!r}; known: {', '.join(self.names)}")

    def canonical(self, name: str) -> str:
        """The canonical name of a dimension or an alias of it."""
        self.column(name)
        return _ALIASES.get(name, name)


BUILT_IN = Dimensions()


def world_dimensions(con: duckdb.DuckDBPyConnection) -> Dimensions:
    """The dimensions of the world the connection reads (its custom ones from the warehouse)."""
    return Dimensions(custom=tuple(declared_dimensions(con)))


def dimension_column(name: str, dimensions: Dimensions = BUILT_IN) -> str:
    """The order_facts column of a cohort dimension (accepts a few aliases)."""
    return dimensions.column(name)


def canonical_dimension(name: str, dimensions: Dimensions = BUILT_IN) -> str:
    """The canonical dimension name of `name` or an alias of it."""
    return dimensions.canonical(name)


def dimension_name(name: str) -> str:
    """`name` as a plan or tool argument may hold it before the world is known: a built-in
    dimension's canonical name, or a name a custom dimension may have (resolved against the
    world when the query is made); CohortError otherwise."""
    key = _ALIASES.get(name, name)
    if key in DIMENSIONS:
        return key
    try:
        return check_name(key)
    except DimensionError:
        raise CohortError(
            f"unknown dimension {name!r}; built-in: {', '.join(DIMENSIONS)}, or a custom "
            "dimension of the world"
        ) from None


def where_clause(
    filters: Mapping[str, FilterValue], dimensions: Dimensions = BUILT_IN
) -> tuple[str, list[object]]:
    """A parameterized SQL condition for cohort filters: {dim: value or [values]} (AND of ORs)."""
    conditions: list[str] = []
    parameters: list[object] = []
    for name, value in filters.items():
        column = dimensions.column(name)
        values = [value] if isinstance(value, str | int) else list(value)
        if not values:
            raise CohortError(f"filter {name!r} has no values")
        placeholders = ", ".join("?" for _ in values)
        conditions.append(f"{column} IN ({placeholders})")
        custom = dimensions.declared(_ALIASES.get(name, name)) is not None
        parameters.extend([str(v) for v in values] if custom else values)
    return (" AND ".join(conditions) or "TRUE"), parameters


def hour_run(hours: list) -> tuple[int, int]:
    """First and last hour of a run of hours, wrapping at midnight (23, 0, 1 -> 23, 1)."""
    present = {int(h) for h in hours}
    starts = [h for h in sorted(present) if (h - 1) % 24 not in present]
    if len(starts) != 1:  # not one run: the range it spans
        return min(present), max(present)
    last = starts[0]
    while (last + 1) % 24 in present and (last + 1) % 24 != starts[0]:
        last = (last + 1) % 24
    return starts[0], last


def describe_slice(filters: Mapping[str, Sequence[str | int]]) -> str:
    """Cohort filters as a slice is named: 'category=grocery, hour=18-20' (an hour run as a
    range, wrapping at midnight)."""
    parts = []
    for name, values in filters.items():
        present = {int(v) for v in values} if name == "hour" else set()
        one_run = sum((h - 1) % 24 not in present for h in present) == 1
        if name == "hour" and len(values) > 1 and one_run:
            first, last = hour_run(list(values))
            parts.append(f"hour={first:02d}-{last:02d}")
        else:
            parts.append(f"{name}={'/'.join(str(v) for v in values)}")
    return ", ".join(parts)
