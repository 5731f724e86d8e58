"""The typed question plan: what a question asks, filled by the offline reader or by an LLM's
structured output, and acted on by one answer handler per kind.

Kinds (DESIGN.md, "Conversation"):
- diagnose: why a metric moved (the investigation, scoped to the metric, cohort and period
  asked), or the incident an id names ('tell me about INC-20260104-1800')
- lookup: a metric's value for a cohort and period, beside its baseline
- trend: a metric over a range at a grain (hour, day, week)
- compare: two cohorts or two periods (`sides`), with the difference and a test
- rank: the worst/best `k` groups of a `dimension` by a metric (or an event count)
- drivers: what drives a metric across orders (key drivers over every dimension, built-in and
  custom), for a cohort and period
- incidents: the incidents active in a period
- changes: what was changed in a period or scope, or the effect of one named change
- what_if: an action with its parameters, on a scope and window
- plan: an experiment plan for an action
- explain: how a cited number (by evidence id) or a metric was computed, or what the latest
  diagnosis found of one cause ('was it the dashers?')
- sql: read-only SQL for a described query (or the SQL behind the last answer), shown and run
- help: what the world holds and what the agent can do
- out_of_scope: anything else (off-topic, hostile, nonsense): a short reply, no tools
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, get_args

from pydantic import BaseModel, Field, field_validator, model_validator

from analytics.cohorts import DIMENSIONS, dimension_name
from analytics.drivers import DRIVERS
from analytics.metrics import CX_SCORE, METRICS
from tools.actions import ACTIONS
from tools.hypotheses import LIBRARY

Kind = Literal[
    "diagnose",
    "lookup",
    "trend",
    "compare",
    "rank",
    "drivers",
    "incidents",
    "changes",
    "what_if",
    "plan",
    "explain",
    "sql",
    "help",
    "out_of_scope",
]
KINDS: tuple[str, ...] = get_args(Kind)
# Kinds that stand alone: they inherit nothing, and leave the thread's scope (an incident's
# cohort and day) to the next question ("how confident are you?" between two follow-ups).
STANDALONE_KINDS: tuple[Kind, ...] = ("help", "out_of_scope", "explain", "sql")
Grain = Literal["hour", "day", "week"]
Order = Literal["worst", "best", "highest", "lowest"]
ORDERS_METRIC = "orders"  # order counts, beside the registry's ratio metrics
CONFIDENCE = "confidence"  # explain's `number` for how sure the latest cause ranking is
METRIC_NAMES: tuple[str, ...] = (CX_SCORE, *METRICS, ORDERS_METRIC)
Filters = dict[str, list[str | int]]


def _canonical(filters: Filters) -> Filters:
    canonical: Filters = {}
    for name, values in filters.items():
        if not values:
            raise ValueError(f"filter {name!r} has no values")
        merged = canonical.setdefault(dimension_name(name), [])
        merged.extend(value for value in values if value not in merged)
    return canonical


class Period(BaseModel):
    """Whole local days, `start` to `end` inclusive, and how the question named them."""

    start: dt.date
    end: dt.date
    label: str = Field("", description="As the question named it, e.g. 'last week', 'Jan 4'")

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError(f"a period ends ({self.end}) before it starts ({self.start})")
        return self

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """[start 00:00, the day after end 00:00), as tools take windows."""
        start = dt.datetime.combine(self.start, dt.time())
        return start, dt.datetime.combine(self.end, dt.time()) + dt.timedelta(days=1)

    def describe(self) -> str:
        """'Jan 4, 2026' or 'Dec 29, 2025 to Jan 4, 2026'."""
        first = f"{self.start:%b} {self.start.day}, {self.start.year}"
        if self.start == self.end:
            return first
        return f"{first} to {self.end:%b} {self.end.day}, {self.end.year}"


class Side(BaseModel):
    """One side of a comparison: a cohort, a period, or both."""

    label: str
    filters: Filters = Field(default_factory=dict)
    period: Period | None = None

    @field_validator("filters")
    @classmethod
    def _canonical_filters(cls, value: Filters) -> Filters:
        return _canonical(value)


class QuestionPlan(BaseModel):
    """A question as the agent acts on it (also the schema an LLM backend fills)."""

    kind: Kind = Field("out_of_scope", description="What the question asks; see the kinds above")
    metric: str | None = Field(
        None, description=f"One of {', '.join(METRIC_NAMES)}; null when none is named"
    )
    filters: Filters = Field(
        default_factory=dict,
        description=f"Cohort filters {{dimension: [values]}}; dimensions {', '.join(DIMENSIONS)} "
        "and the world's custom ones",
    )
    periods: list[Period] = Field(
        default_factory=list,
        max_length=2,
        description="The days asked about (local time); two for a comparison of periods",
    )
    sides: list[Side] = Field(
        default_factory=list, description="compare: exactly two sides (cohorts and/or periods)"
    )
    grain: Grain | None = Field(None, description="trend: hour, day or week")
    dimension: str | None = Field(
        None,
        description=f"rank: one of {', '.join(DIMENSIONS)} or a custom dimension (the groups)",
    )
    driver: str | None = Field(
        None,
        description="lookup: a driver of the metrics (analytics.drivers.DRIVERS) asked about in "
        "a question that names no metric ('how busy were dashers on Jan 4?')",
    )
    overview: bool = Field(
        False,
        description="lookup: a health check naming no metric ('how are we doing?'): the "
        "headline metric, then the incidents active in the period",
    )
    dimensions: list[str] = Field(
        default_factory=list,
        description="drivers: the dimensions the question asks about ('does traffic matter more "
        "than weather?'), reported beside the ranking of all",
    )
    k: int | None = Field(None, ge=1, le=50, description="rank: how many groups")
    order: Order | None = Field(None, description="rank: worst, best, highest or lowest")
    count: bool = Field(False, description="rank: by the number of events instead of the rate")
    by_change: bool = Field(
        False,
        description="rank: by how much the metric moved from the period before to the period "
        "(worst = the largest move for the worse), not by its level",
    )
    action: str | None = Field(
        None, description=f"what_if and plan: one of {', '.join(ACTIONS)}; else null"
    )
    parameters: dict[str, float] = Field(
        default_factory=dict,
        description='Action parameters, e.g. {"minutes": 3} (eta_buffer), {"share": 0.1} '
        '(throttle_demand), {"target_share": 0.3} (revert_batching), {"usd_per_order": 2} '
        '(peak_pay), {"threshold": 0.4} (suppress_skus)',
    )
    incident: str | None = Field(
        None,
        pattern=r"^INC-\d{8}-\d{4}$",
        description="diagnose: an incident id the question names (INC-20260104-1800), "
        "diagnosed whatever its day",
    )
    cause: str | None = Field(
        None,
        description=f"explain: a cause of the library the question asks about ('was it the "
        f"dashers?'): one of {', '.join(LIBRARY)}",
    )
    change: str | None = Field(
        None, description="changes: a change id (C0007) or name (batching_threshold) asked about"
    )
    evidence_id: str | None = Field(
        None, pattern=r"^E\d{1,5}$", description="explain: the evidence id asked about (E5)"
    )
    number: str | None = Field(
        None,
        description="explain: a number the question quotes (e.g. '67.1%') to look up; 'last' "
        "for the last result, 'confidence' for how sure the latest cause ranking is",
    )
    sql: str | None = Field(None, description="sql: a query the user wrote, to check and run")
    follow_up: bool = Field(False, description="True when it builds on the previous turn")
    problem: str | None = Field(
        None, description="Why the question cannot be answered as asked (e.g. an impossible date)"
    )
    notes: list[str] = Field(
        default_factory=list, description="What was ignored, ambiguous or assumed"
    )

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str | None) -> str | None:
        if value is not None and value not in METRIC_NAMES:
            raise ValueError(f"unknown metric {value!r}; known: {', '.join(METRIC_NAMES)}")
        return value

    @field_validator("driver")
    @classmethod
    def _known_driver(cls, value: str | None) -> str | None:
        if value is not None and value not in DRIVERS:
            raise ValueError(f"unknown driver {value!r}; known: {', '.join(DRIVERS)}")
        return value

    @field_validator("cause")
    @classmethod
    def _known_cause(cls, value: str | None) -> str | None:
        if value is not None and value not in LIBRARY:
            raise ValueError(f"unknown cause {value!r}; known: {', '.join(LIBRARY)}")
        return value

    @field_validator("action")
    @classmethod
    def _known_action(cls, value: str | None) -> str | None:
        if value is not None and value not in ACTIONS:
            raise ValueError(f"unknown action {value!r}; known: {', '.join(ACTIONS)}")
        return value

    @field_validator("dimension")
    @classmethod
    def _known_dimension(cls, value: str | None) -> str | None:
        return None if value is None else dimension_name(value)

    @field_validator("filters")
    @classmethod
    def _canonical_filters(cls, value: Filters) -> Filters:
        return _canonical(value)

    @model_validator(mode="after")
    def _two_sides(self) -> QuestionPlan:
        if self.sides and len(self.sides) != 2:
            raise ValueError("a comparison has exactly two sides")
        return self

    @property
    def period(self) -> Period | None:
        """The first period asked about."""
        return self.periods[0] if self.periods else None

    @property
    def day(self) -> dt.date | None:
        """The day asked about, when the question names exactly one day."""
        period = self.period
        return period.start if period is not None and period.days == 1 else None


def other_group(filters: Filters) -> Filters | None:
    """For a cohort naming one group of a yes/no dimension ('festival=yes'), the same cohort
    with the other group ('festival=no'); None for any other cohort."""
    for dimension, values in filters.items():
        if values in (["yes"], ["no"]):
            return {**filters, dimension: ["no" if values == ["yes"] else "yes"]}
    return None
