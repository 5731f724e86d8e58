"""Cohort dimensions: the names users slice by, mapped to order_facts columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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


def dimension_column(name: str) -> str:
    """The order_facts column of a cohort dimension (accepts a few aliases)."""
    key = _ALIASES.get(name, name)
    if key not in DIMENSIONS:
        raise CohortError(f"unknown dimension {name!r}; known: {', '.join(DIMENSIONS)}")
    return DIMENSIONS[key]


def canonical_dimension(name: str) -> str:
    """The canonical dimension name of `name` or an alias of it."""
    dimension_column(name)
    return _ALIASES.get(name, name)


def where_clause(filters: Mapping[str, FilterValue]) -> tuple[str, list[object]]:
    """A parameterized SQL condition for cohort filters: {dim: value or [values]} (AND of ORs)."""
    conditions, parameters = [], []
    for name, value in filters.items():
        column = dimension_column(name)
        values = [value] if isinstance(value, str | int) else list(value)
        if not values:
            raise CohortError(f"filter {name!r} has no values")
        placeholders = ", ".join("?" for _ in values)
        conditions.append(f"{column} IN ({placeholders})")
        parameters.extend(values)
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
