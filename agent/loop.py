"""The LLM's tool loop, apart from the graph: the tools it may call (the registry's, plus
`investigate` for a whole diagnosis), the messages it starts from (bounded: the last few turns
only), what a tool result looks like to it (evidence id, summary, figures, a capped table, data
text quoted and capped), and the answer's kind and table read back from the calls it made."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pydantic import BaseModel, Field

from agent.llm import prompt, untrusted
from agent.question import Filters, QuestionPlan
from agent.settings import AgentSettings
from tools.base import REGISTRY, EvidenceItem

INVESTIGATE = "investigate"
INTERNAL_TOOLS = frozenset({"rank_causes"})  # takes the investigation's own scoring input
MAX_SHOWN_FIGURES = 60
SUMMARY_CHARS = 800  # a tool's one-line summary, which can name stores
HISTORY_ANSWER_CHARS = 600
# The answer's kind, by the last answering tool the model called.
TOOL_KINDS: dict[str, str] = {
    INVESTIGATE: "diagnose", "metric_summary": "lookup", "cx_timeseries": "trend",
    "compare_metric": "compare", "rank_cohorts": "rank", "rank_changes": "rank",
    "key_drivers": "drivers",
    "detect_incidents": "incidents",
    "change_log": "changes", "diff_in_diff": "changes", "what_if": "what_if",
    "sensitivity": "what_if", "experiment_plan": "plan", "metric_definition": "explain",
    "run_sql": "sql", "describe_world": "help",
}  # fmt: skip


class InvestigateInput(BaseModel):
    """Diagnose why a metric moved: detect the incident active in the asked days (and asked
    metric and cohort), localize it, test every root-cause hypothesis, rank the causes, simulate
    the fixes and write the experiment plan. Returns the incident, the ranked causes, the
    recommendations (each with its evidence ids) and a cited draft answer."""

    first_day: dt.date | None = Field(None, description="First day asked about (local time)")
    last_day: dt.date | None = Field(None, description="Last day asked about; the first if one")
    metric: str | None = Field(None, description="The metric asked about, e.g. cx_score")
    filters: Filters = Field(
        default_factory=dict, description="The asked cohort, e.g. {'region': ['north']}"
    )


def tool_schemas() -> list[dict[str, Any]]:
    """OpenAI function schemas: `investigate` and every registry tool a model may call."""
    schemas = [
        {
            "name": INVESTIGATE,
            "description": InvestigateInput.__doc__ or INVESTIGATE,
            "parameters": InvestigateInput.model_json_schema(),
        }
    ]
    schemas += [
        tool.json_schema() for name, tool in sorted(REGISTRY.items()) if name not in INTERNAL_TOOLS
    ]
    return schemas


def callable_tools() -> frozenset[str]:
    return frozenset({INVESTIGATE, *REGISTRY}) - INTERNAL_TOOLS


def loop_messages(
    question: str,
    plan: QuestionPlan,
    history: list[dict[str, Any]],
    span: tuple[dt.date, dt.date],
    settings: AgentSettings,
) -> list[tuple[str, str]]:
    """The system prompt (rules, the data's span, the reader's plan, the last turns) and the
    question. Only `settings.llm_history_turns` earlier turns are quoted, each capped, so the
    prompt does not grow with the conversation."""
    cap = settings.untrusted_text_cap
    turns = history[-settings.llm_history_turns :] if settings.llm_history_turns else []
    earlier = "\n".join(
        f"- asked: {untrusted(turn['question'], 300)!r} ({turn.get('kind', '')}); answered: "
        f"{untrusted(turn.get('answer', ''), HISTORY_ANSWER_CHARS)!r}"
        for turn in turns
    )
    hint = plan.model_dump(mode="json", exclude_defaults=True, exclude={"notes"})
    system = prompt(
        "tool_loop",
        data_start=span[0],
        data_end=span[1],
        plan=json.dumps(untrusted(hint, cap), default=str),
        history=f"Earlier in this conversation (evidence ids still valid):\n{earlier}"
        if earlier
        else "",
    )
    return [("system", system), ("human", untrusted(question, 2000))]


def shown(item: EvidenceItem, settings: AgentSettings) -> str:
    """A tool result as the model sees it: id, summary and figures, the first rows of its
    table; all text from the data quoted inside <data>, capped."""
    cap = settings.untrusted_text_cap
    figures = {
        name: {"value": figure.value, "unit": figure.unit}
        for name, figure in list(item.figures.items())[:MAX_SHOWN_FIGURES]
    }
    body = {
        "evidence_id": item.id,
        "tool": item.tool,
        "ok": item.ok,
        "summary": untrusted(item.summary, SUMMARY_CHARS),
        "figures": figures,
        "table": (item.table or [])[: settings.llm_tool_rows],
    }
    shown_body = {**untrusted({k: v for k, v in body.items() if k != "summary"}, cap),
                  "summary": body["summary"]}  # fmt: skip
    return f"<data>\n{json.dumps(shown_body, default=str)}\n</data>"


def answer_kind(calls: list[str], plan: QuestionPlan) -> str:
    """The kind of a loop's answer: the last answering tool it called (an investigation wins);
    without any, the reader's kind."""
    if INVESTIGATE in calls:
        return "diagnose"
    kinds = [TOOL_KINDS[name] for name in calls if name in TOOL_KINDS]
    return kinds[-1] if kinds else plan.kind


def answer_table(items: list[EvidenceItem], calls: list[str]) -> list[dict[str, Any]] | None:
    """The table of the last answering tool call of the loop, if it has one."""
    answering = {name for name in calls if name in TOOL_KINDS and name != INVESTIGATE}
    for item in reversed(items):
        if item.ok and item.tool in answering and item.table:
            return [dict(row) for row in item.table]
    return None
