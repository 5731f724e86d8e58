"""What every answer handler works with: the question plan, the tools, the data's span and the
thread's incident; what it returns: the cited answer, its table and the plan as resolved."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.question import Filters, Period, QuestionPlan
from analytics.metrics import CX_SCORE, usable_metrics
from tools.base import EvidenceItem, ToolContext, ToolError, ToolOutput

DEFAULT_DAYS = 7  # a lookup, ranking or comparison without a period covers the last week of data
HOURLY_DEFAULT_DAYS = 2  # an hourly trend without a period covers the last two days
HOURLY_MAX_DAYS = 14  # an hourly trend over more days is cut to the last ones (a table, a chart)
DEFAULT_METRICS = (CX_SCORE, "on_time_rate", "duration_min")  # the first the data supports


@dataclass
class ThreadIncident:
    """The incident a thread diagnosed: where and when, and what was found."""

    incident_id: str
    filters: Filters  # the top slice where hypotheses were tested
    start: dt.datetime
    end: dt.datetime
    metric: str | None  # the slice metric
    ranked: list[dict[str, Any]] = field(default_factory=list)  # every cause, ruled out too
    recommendations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def causes(self) -> list[dict[str, Any]]:
        """The causes the ranking supports (strongly or weakly), leading first."""
        return [c for c in self.ranked if c["status"] in ("supported", "weak")]

    def period(self) -> Period:
        last = (self.end - dt.timedelta(seconds=1)).date()
        return Period(start=self.start.date(), end=max(last, self.start.date()), label="")


@dataclass
class AnswerContext:
    """What a handler may use."""

    tools: ToolContext
    first_day: dt.date
    last_day: dt.date
    incident: ThreadIncident | None = None

    def call(self, name: str, arguments: dict[str, Any]) -> tuple[ToolOutput, EvidenceItem]:
        """Call a tool (its evidence is recorded; a ToolError propagates)."""
        return self.tools.call(name, arguments)

    def data_span(self) -> Period:
        return Period(start=self.first_day, end=self.last_day, label="the whole data")

    def default_period(self, days: int = DEFAULT_DAYS) -> Period:
        """The last `days` days of the data."""
        start = max(self.first_day, self.last_day - dt.timedelta(days=days - 1))
        return Period(start=start, end=self.last_day, label=f"the last {days} days of data")

    def clip(self, period: Period) -> tuple[Period, str | None]:
        """The part of `period` inside the data, and a note when it was cut."""
        start, end = max(period.start, self.first_day), min(period.end, self.last_day)
        if (start, end) == (period.start, period.end):
            return period, None
        clipped = Period(start=start, end=end, label=period.label)
        return clipped, (
            f"the data covers only {clipped.describe()} of {period.describe()}; answered for that"
        )

    def default_metric(self) -> str:
        """The metric a question that names none is about (once per world)."""

        def choose() -> str:
            usable = usable_metrics(self.tools.con, DEFAULT_METRICS)
            return usable[0] if usable else CX_SCORE

        return self.tools.shared.get("default_metric", choose)

    def outside(self, period: Period) -> bool:
        return period.end < self.first_day or period.start > self.last_day


@dataclass
class Answer:
    """A handler's result: the cited answer, its table, and the plan with its defaults filled
    (what a follow-up inherits)."""

    text: str
    resolved: QuestionPlan
    table: list[dict[str, Any]] | None = None
    chart: dict[str, Any] | None = None  # for a trend: {"x": ..., "y": ..., "unit": ...}
    experiment_plan: str | None = None
    notes: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # what an LLM narrator may use
    allowed: list[str] = field(default_factory=list)  # values the answer states without a cite


Handler = Callable[[QuestionPlan, AnswerContext], Answer]


def metric_of(plan: QuestionPlan, context: AnswerContext) -> str:
    """The asked metric, else the CX score, or where the data lacks it the first of
    DEFAULT_METRICS it supports (delivery duration needs only arrival times)."""
    return plan.metric or context.default_metric()


def failed(plan: QuestionPlan, context: AnswerContext, error: ToolError, what: str) -> Answer:
    """A tool's refusal, shown with its message and the failed call's evidence id."""
    items = context.tools.ledger.items
    cited = f" [{items[-1].id}]" if items and not items[-1].ok else ""
    return Answer(text=f"I could not {what}: {error}{cited}.", resolved=plan)
