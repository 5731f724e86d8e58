"""One answer handler per question kind (the diagnosis is the graph's own path): plan -> tool
calls -> figures -> the cited template answer. Both backends use the same handlers."""

from __future__ import annotations

from agent.answers import actions, drivers, events, meta, values
from agent.answers.base import Answer, AnswerContext, Handler, ThreadIncident
from agent.question import QuestionPlan


def _lookup(plan: QuestionPlan, context: AnswerContext) -> Answer:
    """A value, or a health check's value and incidents."""
    return events.overview(plan, context) if plan.overview else values.lookup(plan, context)


ANSWERS: dict[str, Handler] = {
    "lookup": _lookup,
    "trend": values.trend,
    "compare": values.compare,
    "rank": values.rank,
    "drivers": drivers.drivers,
    "incidents": events.incidents,
    "changes": events.changes,
    "what_if": actions.what_if,
    "plan": actions.plan,
    "explain": meta.explain,
    "sql": meta.sql,
    "help": meta.help_answer,
    "out_of_scope": meta.out_of_scope,
}
SHOWN_AS_IS = frozenset({"explain", "sql", "help", "out_of_scope"})  # never re-narrated by an LLM

__all__ = ["ANSWERS", "SHOWN_AS_IS", "Answer", "AnswerContext", "ThreadIncident"]
