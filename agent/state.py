"""The agent's state: what a caller gives, what the graph keeps, what a caller gets back, and
the per-turn context its nodes work in.

The graph state is JSON-friendly so the checkpointer can keep a thread between turns; the
investigation a diagnosis works on is not, and lives in the turn's context (TurnWork) instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

from agent.llm import Backend, Usage
from agent.settings import AgentSettings
from tools.base import ToolContext
from tools.investigation import Investigation, PlannedCall, Result


class AgentInput(TypedDict):
    """What a caller gives: one question in a thread."""

    question: str


class AgentOutput(TypedDict, total=False):
    """What a caller gets back (the `--json` contract of DESIGN.md)."""

    kind: str  # the question's kind (agent/question.py): diagnose, lookup, trend, ...
    answer: str  # the narrative, citing evidence ids
    table: list[dict[str, Any]] | None  # rows of a tabular answer (rank, trend, compare, ...)
    chart: dict[str, Any] | None  # a trend's chart: x and y columns of `table`, label, grain
    plan: dict[str, Any]  # the question plan as answered (defaults filled in)
    incident: dict[str, Any] | None  # start, metric, severity, slices
    causes: list[dict[str, Any]]  # ranked: kind, confidence, impact, evidence
    recommendations: list[dict[str, Any]]
    experiment_plan: str | None  # Markdown
    evidence: list[dict[str, Any]]  # every tool call of the thread: id, tool, args, figures
    grounding: dict[str, Any]  # numbers, grounded, ok, problems
    trace: list[dict[str, Any]]  # nodes and their tool calls, in order
    notes: list[str]  # fallbacks, caveats, ignored input
    usage: dict[str, int]  # LLM tokens of this answer: prompt_tokens, completion_tokens, calls


def _replace(_old: Any, new: Any) -> Any:
    return new


class AgentState(TypedDict, total=False):
    """The graph's internal state (a superset of input and output)."""

    question: str  # this turn's question
    plan: dict[str, Any]  # this turn's QuestionPlan (the previous turn's until parse replaces it)
    scope: dict[str, Any]  # what a new kind of question inherits: the incident's scope after a
    # diagnosis, else the last plan as answered
    kind: str  # this turn's question kind
    table: list[dict[str, Any]] | None  # this turn's tabular answer
    chart: dict[str, Any] | None  # this turn's chart (a trend)
    allowed: list[str]  # values an answer may state without a citation (the asked dates)
    use_loop: bool  # this turn is answered by the LLM's tool loop
    offline: bool  # answer with the offline path's template (no LLM narration) this turn
    loop_failed: bool  # the LLM's tool loop failed: the offline path answers instead
    fallback: bool  # the LLM's answer failed its checks and has no template: answer offline
    history: list[dict[str, Any]]  # earlier turns (question, kind, answer), the last few
    turn: int  # 1 for the first question of a thread
    found: bool  # this turn's detection found an incident to investigate
    incident: dict[str, Any] | None  # the incident under investigation (kept across turns)
    incident_summary: dict[str, Any] | None  # the incident as the tools reported it
    sites: list[dict[str, Any]]  # slices where hypotheses are tested
    window: list[str]  # [start, end) of the incident window, ISO
    test_plan: list[dict[str, Any]]  # the tool plan from the hypothesis library
    causes: list[dict[str, Any]]
    ruled_out: list[dict[str, Any]]
    recommendations: list[dict[str, Any]]
    action_filters: dict[str, list[Any]] | None  # where the recommendations were simulated
    experiment_plan: str | None
    answer: str
    narrative_attempts: int  # narrations tried this turn (capped)
    narrator: str  # who wrote the answer: the backend's name or "template"
    grounding: dict[str, Any]
    retry: bool  # the answer failed the check and may be narrated again
    evidence: Annotated[list[dict[str, Any]], _replace]  # the thread's ledger, all turns
    facts: dict[str, Any]  # agent.facts.Facts as JSON: evidence ids the narrative is built from
    trace: list[dict[str, Any]]  # this turn's nodes and tool calls
    notes: list[str]  # this turn's fallbacks and caveats


@dataclass
class TurnWork:
    """What a diagnosis's nodes hand each other within one turn (not checkpointed: the state
    keeps what later turns need, such as the incident, sites and window)."""

    investigation: Investigation | None = None  # detect's, localized; tested and ranked later
    test_plan: list[PlannedCall] = field(default_factory=list)  # hypothesize's tool plan
    results: list[tuple[PlannedCall, Result]] = field(default_factory=list)  # gather_evidence's


@dataclass
class AgentContext:
    """Per-run dependencies the nodes use (not checkpointed): tools and the LLM backend. A run
    is one turn (Agent.ask builds a context per question), so `work` starts empty each turn."""

    tools: ToolContext
    backend: Backend
    max_narrations: int = 2  # LLM narrations before falling back to the template
    settings: AgentSettings | None = None  # the agent's (the environment's when None)
    usage: Usage = field(default_factory=Usage)  # this answer's LLM tokens
    work: TurnWork = field(default_factory=TurnWork)  # this turn's investigation
