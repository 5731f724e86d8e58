"""Facts of a chat answer, recomputed from the warehouse with plain SQL and checked in the answer.

A fact is a query (or a literal) in a case file, the format the answer writes it in, and a check:
- `contains`: the query's value (every value, when it returns one column of several rows),
  formatted, appears in the answer text;
- `not_contains`: none of them does;
- `ranking`: the query's rows (first column: the group) are, in order, the first rows of the
  answer's table (its column named like the query's first column);
- `groups`: the query's first column holds the same set of values as that column of the table;
- `top_cause`: the answer's leading cause (`causes[0].kind` of the JSON contract) is `text`.

Formats are those of the agent's answers: shares '81.3%' (`share`; `share2` '46.67%'), share
differences '+5.5 pp', CX scores '92.79', CX differences '+1.05 points', minutes '39.1 min',
counts '21,683', dollars '$2.56', days 'Jan 4, 2026'.

Tolerance: formatted strings are compared. A neighbour in the last digit is accepted only when the
query's value lies within 0.05 of a rounding boundary (in units of that digit: 81.349% may be
written 81.3% or 81.4%, 81.33% only 81.3%), since the agent may sum the same orders in another
order; a value that rounds to zero may carry either sign ('+0.0 pp', '-0.0 pp').

The queries may use the harness's own metric definitions as `{on_time_rate}`, `{cx_score}`, ...
(METRIC_SQL below), written from the metric list of DESIGN.md, never from the agent's code.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

import duckdb
from pydantic import BaseModel, ConfigDict, model_validator

Check = Literal["contains", "not_contains", "ranking", "groups", "top_cause"]
FormatName = Literal[
    "share", "share2", "pp", "score", "points", "minutes", "minutes_change", "count", "usd",
    "date", "datetime", "text",
]  # fmt: skip
BOUNDARY = 0.05  # how near a rounding boundary (in last-digit units) a neighbour is accepted

_RATE = "count(*) FILTER (WHERE {event}) / count({event})"
METRIC_SQL: dict[str, str] = {
    "on_time_rate": _RATE.format(event="on_time"),
    "cancellation_rate": _RATE.format(event="canceled"),
    "refund_rate": _RATE.format(event="refunded"),
    "support_rate": _RATE.format(event="support_contact"),
    "item_accuracy": "(sum(item_lines - substituted_lines - missing_lines) FILTER (WHERE delivered)"
    " / sum(item_lines) FILTER (WHERE delivered))",
    "rating": "avg(stars)",
    "eta_abs_error_min": "avg(abs(eta_error_min))",
    "duration_min": "avg(duration_min)",
}
METRIC_SQL["cx_score"] = (
    "(0.30 * 100 * {on_time_rate} + 0.25 * 100 * {item_accuracy}"
    " + 0.15 * 100 * (1 - {cancellation_rate}) + 0.15 * 100 * (1 - {refund_rate})"
    " + 0.10 * 100 * (1 - {support_rate}) + 0.05 * 100 * ({rating} - 1) / 4)"
)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class FactError(ValueError):
    """A fact that cannot be computed (unknown metric name, a query that fails or is empty)."""


def expand(sql: str) -> str:
    """`sql` with `{metric}` placeholders replaced by METRIC_SQL (recursively)."""

    def replace(match: re.Match[str]) -> str:
        name = match[1]
        if name not in METRIC_SQL:
            raise FactError(f"unknown metric {{{name}}}; known: {', '.join(METRIC_SQL)}")
        return expand(METRIC_SQL[name])

    return _PLACEHOLDER.sub(replace, sql)


class Fact(BaseModel):
    """One expected fact of a turn: a query (or a literal text or pattern) and its check."""

    model_config = ConfigDict(extra="forbid")

    label: str  # what the fact is, e.g. "grocery on-time rate on Jan 4"
    check: Check = "contains"
    sql: str | None = None  # one value (contains, not_contains) or rows (ranking, groups)
    text: str | None = None  # a literal the answer must (not) hold, case-insensitive
    pattern: str | None = None  # a regular expression the answer must (not) match
    format: FormatName = "text"
    template: str = "{}"  # where the formatted value sits, e.g. "{} orders"
    k: int | None = None  # ranking: compare the first k rows (default: all the query's rows)

    @model_validator(mode="after")
    def _consistent(self) -> Fact:
        given = [name for name in ("sql", "text", "pattern") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of sql, text or pattern (got {given or 'none'})")
        if self.check in ("ranking", "groups") and self.sql is None:
            raise ValueError(f"a {self.check} check needs sql")
        if self.check == "top_cause" and self.text is None:
            raise ValueError("a top_cause check needs text (the cause kind)")
        if "{}" not in self.template:
            raise ValueError("the template needs a {} for the value")
        if self.sql is not None:
            expand(self.sql)
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as error:
                raise ValueError(f"bad pattern {self.pattern!r}: {error}") from None
        return self


class FactResult(BaseModel):
    """A fact as checked: what was expected, whether the answer holds it, and why not."""

    label: str
    check: Check
    expected: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class NumberFormat:
    """How the answers write a number: scale, decimals, sign, unit text."""

    scale: float
    decimals: int
    signed: bool = False
    prefix: str = ""
    suffix: str = ""
    thousands: bool = False

    def write(self, number: float) -> str:
        sign = "+" if self.signed else ""
        comma = "," if self.thousands else ""
        text = f"{number:{sign}{comma}.{self.decimals}f}"
        if self.prefix and text[0] in "+-":
            return f"{text[0]}{self.prefix}{text[1:]}{self.suffix}"
        return f"{self.prefix}{text}{self.suffix}"


NUMBER_FORMATS: dict[str, NumberFormat] = {
    "share": NumberFormat(100, 1, suffix="%"),
    "share2": NumberFormat(100, 2, suffix="%"),
    "pp": NumberFormat(100, 1, signed=True, suffix=" pp"),
    "score": NumberFormat(1, 2),
    "points": NumberFormat(1, 2, signed=True, suffix=" points"),
    "minutes": NumberFormat(1, 1, suffix=" min"),
    "minutes_change": NumberFormat(1, 1, signed=True, suffix=" min"),
    "count": NumberFormat(1, 0, thousands=True),
    "usd": NumberFormat(1, 2, prefix="$", thousands=True),
}


def spellings(value: Any, format_name: str) -> list[str]:
    """How the answer may write `value`: its formatted string first, then the neighbour in the
    last digit when the value lies within BOUNDARY of a rounding boundary, or the other sign of
    a zero.

    >>> spellings(0.81349, "share")
    ['81.3%', '81.4%']
    >>> spellings(0.8133, "share")
    ['81.3%']
    >>> spellings(dt.date(2026, 1, 4), "date")
    ['Jan 4, 2026']
    """
    if format_name in ("date", "datetime"):
        return [_day(value, with_time=format_name == "datetime")]
    if format_name == "text" or isinstance(value, str):
        return [str(value)]
    spec = NUMBER_FORMATS[format_name]
    number = float(value) * spec.scale
    if not math.isfinite(number):
        return ["n/a"]
    written = [spec.write(number)]
    steps = number * 10**spec.decimals
    if abs(steps - math.floor(steps) - 0.5) < BOUNDARY:
        for neighbour in (math.floor(steps), math.ceil(steps)):
            written.append(spec.write(neighbour / 10**spec.decimals))
    zero = spec.write(0.0).lstrip("+")
    if written[0].lstrip("+-") == zero:
        written += [f"+{zero}", f"-{zero}", zero]
    return list(dict.fromkeys(written))


def _day(value: Any, with_time: bool) -> str:
    moment = value if isinstance(value, dt.date) else dt.datetime.fromisoformat(str(value))
    text = f"{moment:%b} {moment.day}, {moment.year}"
    if with_time and isinstance(moment, dt.datetime):
        text += f" {moment:%H:%M}"
    return text


def found_in(spelling: str, text: str) -> bool:
    """Whether `spelling` appears in `text` as a whole number ('5' is not in '5,340' or '15')."""
    pattern = r"(?<![\w.,])" + re.escape(spelling) + r"(?![\w]|[.,]\d)"
    return re.search(pattern, text, flags=re.IGNORECASE) is not None


def check_fact(fact: Fact, con: duckdb.DuckDBPyConnection, result: dict[str, Any]) -> FactResult:
    """Check one fact against an answer (`result`, the agent's JSON); a query that fails or
    returns nothing makes the fact fail with the reason."""
    answer = str(result.get("answer") or "")
    try:
        if fact.check in ("ranking", "groups"):
            return _check_table(fact, con, result.get("table") or [])
        if fact.check == "top_cause":
            return _check_cause(fact, result.get("causes") or [])
        if fact.pattern is not None:
            found = re.search(fact.pattern, answer, flags=re.IGNORECASE) is not None
            return _verdict(fact, f"/{fact.pattern}/", found)
        values = [fact.text] if fact.text is not None else _values(con, fact.sql or "")
        expected, hits = [], []
        for value in values:
            written = [fact.template.replace("{}", s) for s in spellings(value, fact.format)]
            expected.append(" or ".join(f"'{s}'" for s in written))
            hits.append(any(found_in(spelling, answer) for spelling in written))
        wanted = fact.check == "contains"
        wrong = [shown for shown, hit in zip(expected, hits, strict=True) if hit != wanted]
        detail = "not in the answer" if wanted else "in the answer"
        if len(values) > 1:
            detail += f": {'; '.join(wrong)}"
        return FactResult(
            label=fact.label, check=fact.check, expected="; ".join(expected), ok=not wrong,
            detail=detail if wrong else "",
        )  # fmt: skip
    except FactError as error:
        return FactResult(label=fact.label, check=fact.check, expected="-", ok=False,
                          detail=str(error))  # fmt: skip


def _check_cause(fact: Fact, causes: list[dict[str, Any]]) -> FactResult:
    leading = str(causes[0].get("kind")) if causes and isinstance(causes[0], dict) else None
    ok = leading == fact.text
    detail = "" if ok else f"the leading cause is {leading or 'none'}"
    return FactResult(
        label=fact.label, check=fact.check, expected=str(fact.text), ok=ok, detail=detail
    )


def _verdict(fact: Fact, expected: str, found: bool) -> FactResult:
    ok = found if fact.check == "contains" else not found
    detail = "" if ok else ("not in the answer" if fact.check == "contains" else "in the answer")
    return FactResult(label=fact.label, check=fact.check, expected=expected, ok=ok, detail=detail)


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple]]:
    try:
        cursor = con.execute(expand(sql))
        columns = [column[0] for column in cursor.description]
        return columns, cursor.fetchall()
    except duckdb.Error as error:
        raise FactError(f"the fact's query failed: {error}") from None


def _values(con: duckdb.DuckDBPyConnection, sql: str) -> list[Any]:
    """The values of a one-column query (at least one, none of them null)."""
    _, rows = _rows(con, sql)
    if not rows or any(len(row) != 1 or row[0] is None for row in rows):
        raise FactError(f"the fact's query must return one column of values, got {rows[:3]}")
    return [row[0] for row in rows]


def _check_table(
    fact: Fact, con: duckdb.DuckDBPyConnection, table: list[dict[str, Any]]
) -> FactResult:
    columns, rows = _rows(con, fact.sql or "")
    column = columns[0]
    shown = [row for row in table if isinstance(row, dict)]
    if shown and column not in shown[0]:
        return FactResult(
            label=fact.label, check=fact.check, expected=f"a column {column!r}", ok=False,
            detail=f"the table has no column {column!r} (columns: {', '.join(shown[0])})",
        )  # fmt: skip
    expected = [_name(row[0]) for row in rows]
    got = [_name(row.get(column)) for row in shown]
    if fact.check == "ranking":
        expected = expected[: fact.k] if fact.k else expected
        ok = got[: len(expected)] == expected
        shown_got = got[: len(expected)]
    else:
        ok = sorted(set(got)) == sorted(set(expected))
        shown_got = sorted(set(got))
    detail = "" if ok else f"table column {column!r}: {shown_got or 'no rows'}"
    return FactResult(
        label=fact.label, check=fact.check, expected=f"{column}: {expected}", ok=ok, detail=detail
    )


def _name(value: Any) -> str:
    return "" if value is None else str(value)
