"""Numbers and names written from evidence figures exactly as the grounding checker reads them:
shares as percentages at one decimal, CX scores and points at two, minutes at one, counts with
thousands separators, money in dollars and cents."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from agent.question import Filters, Period
from analytics.cohorts import describe_slice
from tools.base import EvidenceItem, Figure


def value(figure: Figure | None, precise: bool = False) -> str:
    """A figure as a reader sees it: '87.0%', '93.84', '39.1 min', '21,683', '$2.56'; with
    `precise`, shares at two decimals ('2.04%') to tell close values apart."""
    if figure is None:
        return "n/a"
    number = figure.value
    if isinstance(number, str):
        return when(number) if figure.unit == "datetime" else number
    if not math.isfinite(number):
        return "n/a"
    match figure.unit:
        case "share":
            return f"{100 * number:.2f}%" if precise else f"{100 * number:.1f}%"
        case "score" | "stars":
            return f"{number:.2f}"
        case "points":
            return f"{number:.2f} points"
        case "minutes":
            return f"{number:.1f} min"
        case "seconds":
            return f"{number:.0f} s"
        case "orders" | "count":
            return f"{round(number):,}"
        case "usd":
            return f"${number:,.2f}"
        case _:
            return p_value(number) if abs(number) < 0.01 and number else f"{number:.3g}"


def change(figure: Figure | None) -> str:
    """A signed difference: '+1.2 pp' (shares), '-0.85 points' (CX), '+1.4 min', '+0.05 stars'."""
    if figure is None or isinstance(figure.value, str) or not math.isfinite(figure.value):
        return "n/a"
    number = figure.value
    match figure.unit:
        case "share":
            return f"{100 * number:+.1f} pp"
        case "score" | "points":
            return f"{number:+.2f} points"
        case "minutes":
            return f"{number:+.1f} min"
        case "stars":
            return f"{number:+.2f} stars"
        case "orders" | "count":
            return f"{round(number):+,}"
        case "usd":
            return f"{'+' if number >= 0 else '-'}${abs(number):,.2f}"
        case _:
            return f"{number:+.3g}"


def day(figure: Figure | None) -> str:
    """A datetime figure as its day only: 'Jan 5, 2026'."""
    if figure is None or not isinstance(figure.value, str):
        return "n/a"
    return when(figure.value[:10])


def p_value(number: float) -> str:
    """A p-value as written: 'p < 0.001' or 'p = 0.034'."""
    if number < 0.001:
        return "p < 0.001"
    return f"p = {number:.2g}" if number < 0.1 else f"p = {number:.2f}"


def when(text: str) -> str:
    """An ISO date or datetime as 'Jan 4, 2026' or 'Jan 4, 2026 18:00'."""
    moment = dt.datetime.fromisoformat(text)
    day = f"{moment:%b} {moment.day}, {moment.year}"
    return day if moment.time() == dt.time() and len(text) <= 10 else f"{day} {moment:%H:%M}"


def figure(item: EvidenceItem, name: str) -> Figure | None:
    """A figure of an evidence item, or None."""
    return item.figures.get(name)


def cohort(filters: Filters) -> str:
    """'category=grocery, hour=18-20' or 'the whole marketplace'."""
    return describe_slice(filters) if filters else "the whole marketplace"


def cohort_name(name: str) -> str:
    """An incident's cohort as written: 'category=grocery', or 'the whole marketplace'."""
    return "the whole marketplace" if name in ("all", "") else name


def period(window: Period) -> str:
    """'on Jan 4, 2026' or 'from Dec 29, 2025 to Jan 4, 2026'."""
    text = window.describe()
    return f"on {text}" if window.days == 1 else f"from {text}"


def table_rows(rows: list[dict[str, Any]] | None, limit: int = 50) -> list[dict[str, Any]] | None:
    """At most `limit` rows of a tool's table, for the answer's `table`."""
    return None if rows is None else [dict(row) for row in rows[:limit]]
