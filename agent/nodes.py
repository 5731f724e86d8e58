"""The agent's nodes, one function each. Nodes reach analytics only through the typed tools
(ToolContext.call), so every number they produce is an evidence item."""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable
from typing import Any, Literal

from langgraph.runtime import Runtime

from agent.grounding import check_grounding
from agent.llm import LLMFailure, OfflineBackend
from agent.narrative import template_narrative
from agent.parsing import ParsedQuestion
from agent.state import AgentContext, AgentState
from analytics.alarms import data_span
from analytics.metrics import METRICS
from tools.actions import ACTIONS
from tools.base import ToolError
from tools.hypotheses import LIBRARY
from tools.investigation import (
    Investigation,
    assess,
    find_incident,
    gather,
    localize_incident,
    plan_tests,
    rank,
)

Node = Callable[[AgentState, Runtime[AgentContext]], dict[str, Any]]
_OFFLINE = OfflineBackend()
_INVESTIGATION = "investigation"


def traced(name: str) -> Callable[[Node], Node]:
    """Record the node, its tool calls (evidence ids) and time in the trace; mirror the ledger."""

    def wrap(node: Node) -> Node:
        @functools.wraps(node)
        def run(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
            ledger = runtime.context.tools.ledger
            before, started = len(ledger.items), time.perf_counter()
            update = node(state, runtime)
            calls = [
                {"id": item.id, "tool": item.tool, "ok": item.ok, "seconds": item.seconds,
                 "summary": item.summary, **({"sql": item.sql} if item.sql else {})}
                for item in ledger.items[before:]
            ]  # fmt: skip
            entry = {
                "node": name,
                "seconds": round(time.perf_counter() - started, 3),
                "tool_calls": calls,
            }
            trace = [] if name == "parse_question" else list(state.get("trace", []))
            update["trace"] = [*trace, entry]
            update["evidence"] = [item.model_dump(mode="json") for item in ledger.items]
            return update

        return run

    return wrap


def _notes(state: AgentState, *more: str) -> list[str]:
    return [*state.get("notes", []), *more]


def _investigation(runtime: Runtime[AgentContext]) -> Investigation | None:
    return runtime.context.tools.cache.get(_INVESTIGATION)


@traced("parse_question")
def parse_question(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Turn the question into intent, day, metric, scope and action (LLM or rules)."""
    context = runtime.context
    span = data_span(context.tools.con)
    notes: list[str] = []
    question = state["question"]
    try:
        parsed = context.backend.parse(question, span.first.date(), span.last.date())
    except LLMFailure as error:
        notes.append(f"LLM failed ({error}); the question was parsed offline")
        parsed = _OFFLINE.parse(question, span.first.date(), span.last.date())
    notes.extend(parsed.notes)
    return {
        "parsed": parsed.model_dump(mode="json"),
        "turn": state.get("turn", 0) + 1,
        "notes": notes,
        "narrative_attempts": 0,
        "facts": {},
        "answer": "",
        "grounding": {},
        "retry": False,
        "narrator": "",
    }


def route_after_parse(state: AgentState) -> Literal["detect", "follow_up"]:
    """Follow-ups reuse the thread's incident; anything else is a fresh diagnosis."""
    intent = state["parsed"]["intent"]
    if intent in ("what_if", "plan", "show_sql", "drill_down", "unknown") and state.get("incident"):
        return "follow_up"
    return "detect"


@traced("detect")
def detect(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Scan for incidents (as of the end of the data) and localize the one asked about."""
    tools = runtime.context.tools
    parsed = ParsedQuestion.model_validate(state["parsed"])
    span = data_span(tools.con)
    if parsed.day is not None and not span.first.date() <= parsed.day <= span.last.date():
        _, item = tools.call("detect_incidents", {"grain": "hour"})  # cites the data's span
        facts = {"outside_data": {"day": parsed.day.isoformat(), "detect": item.id}}
        return {"facts": facts, "found": False}  # the thread keeps its incident
    investigation = find_incident(tools, day=parsed.day)
    tools.cache[_INVESTIGATION] = investigation
    facts: dict[str, Any] = {
        "detect": investigation.detection_id,
        "question_day": parsed.day.isoformat() if parsed.day else None,
        "asked_day_detect": investigation.asked_day_detection_id,
    }
    if investigation.incident is None:
        return {
            "facts": facts, "found": False, "incident": None, "causes": [],
            "recommendations": [], "experiment_plan": None,
        }  # fmt: skip
    localize_incident(tools, investigation)
    incident = investigation.incident
    slices = investigation.slices.slices if investigation.slices else []
    facts.update(
        incident=incident.incident_id,
        primary_cohort=incident.primary_cohort,
        severity_label=incident.severity_label,
        slices=investigation.slices_id if slices else None,
        top_slice=slices[0].description if slices else incident.primary_cohort,
        slice_metric_label=METRICS[incident.slice_metric].label.lower(),
    )
    return {
        "facts": facts,
        "found": True,
        "incident": {
            "id": incident.incident_id,
            "start": incident.start.isoformat(),
            "end": incident.end.isoformat() if incident.end else None,
            "detected_at": incident.detected_at.isoformat(),
            "metric": incident.primary_metric,
            "cohort": incident.primary_cohort,
            "severity": incident.severity,
            "severity_label": incident.severity_label,
            "slices": [
                {
                    "filters": s.filters,
                    "delta": s.delta,
                    "orders": s.orders,
                    "baseline": s.baseline_value,
                    "current": s.current_value,
                }
                for s in slices
            ],  # fmt: skip
            "evidence": [
                investigation.detection_id,
                *([investigation.slices_id] if slices else []),
            ],
        },
        "sites": [vars(site) for site in investigation.sites],
        "window": [t.isoformat() for t in investigation.window],  # type: ignore[union-attr]
    }


def route_after_detect(state: AgentState) -> Literal["hypothesize", "narrate"]:
    """The short path: no incident (or a day outside the data) goes straight to the answer."""
    return "hypothesize" if state.get("found") else "narrate"


@traced("hypothesize")
def hypothesize(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """The hypothesis library becomes the tool plan."""
    investigation = _investigation(runtime)
    assert investigation is not None
    plan = plan_tests(investigation)
    runtime.context.tools.cache["plan"] = plan
    return {
        "plan": [
            {
                "tool": c.tool,
                "purpose": c.purpose,
                "site": c.site,
                "hypothesis": c.hypothesis,
                "role": c.role,
            }
            for c in plan
        ]  # fmt: skip
    }


@traced("gather_evidence")
def gather_evidence(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Run the plan's tool calls (plus a diff-in-diff per logged change in scope)."""
    tools = runtime.context.tools
    investigation = _investigation(runtime)
    assert investigation is not None
    tools.cache["results"] = gather(tools, investigation, tools.cache["plan"])
    return {"notes": _notes(state, *investigation.notes)}


@traced("rank")
def rank_causes(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Score every hypothesis and rank the causes."""
    tools = runtime.context.tools
    investigation = _investigation(runtime)
    assert investigation is not None and investigation.incident is not None
    rank(tools, investigation, assess(investigation, tools.cache["results"]))
    ranked = investigation.causes.causes if investigation.causes else []
    leading = [c for c in ranked if c.status in ("supported", "weak")]
    facts = dict(state["facts"])
    facts["rank"] = investigation.causes_id
    facts["causes"] = [_cause_facts(cause, investigation, tools.ledger) for cause in leading]
    facts["ruled_out"] = [c.kind for c in ranked if c.status == "ruled_out"]
    facts["not_testable"] = [
        {"kind": c.kind, "reason": c.reasons[0] if c.reasons else "missing data"}
        for c in ranked
        if c.status == "not_testable"
    ]
    return {
        "facts": facts,
        "causes": [
            {
                "kind": c.kind,
                "title": c.title,
                "status": c.status,
                "confidence": c.confidence,
                "impact": {"share_of_change": c.impact_share, "orders": c.orders_affected},
                "evidence": c.evidence,
                "reasons": c.reasons,
            }
            for c in ranked
        ],  # fmt: skip
    }


def _cause_facts(cause: Any, investigation: Investigation, ledger: Any) -> dict[str, Any]:
    hypothesis = investigation.library[cause.kind]  # as tested on this data (fallbacks)
    primary = next(
        (e for e in cause.evidence if ledger.get(e).tool == "driver_shift"
         and ledger.get(e).args.get("driver") == hypothesis.primary.driver),
        None,
    )  # fmt: skip
    facts: dict[str, Any] = {"kind": cause.kind, "title": LIBRARY[cause.kind].title}
    if primary:
        item = ledger.get(primary)
        facts.update(
            primary=primary,
            primary_label=item.summary.split(":")[0],
            primary_unit=item.figures["baseline"].unit,
        )
    change_log = next((e for e in cause.evidence if ledger.get(e).tool == "change_log"), None)
    if change_log and investigation.changes:
        matching = [
            c for c in investigation.changes.changes
            if c.overlaps_slice and c.name in hypothesis.change_names
        ]  # fmt: skip
        if matching:
            facts["change"] = {
                "evidence": change_log, "change_id": matching[0].change_id,
                "name": matching[0].name,
            }  # fmt: skip
    did = next((e for e in cause.evidence if ledger.get(e).tool == "diff_in_diff"), None)
    if did:
        facts["did"] = did
        facts["did_outcome"] = ledger.get(did).summary.split(":")[1].split(" in scope")[0].strip()
    return facts


@traced("recommend")
def recommend(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Simulate the actions that address the supported causes; rank them with tradeoffs."""
    tools = runtime.context.tools
    leading = [c for c in state.get("causes", []) if c["status"] in ("supported", "weak")]
    if not leading or not state.get("sites"):
        return {"recommendations": []}
    site, window = state["sites"][0], state["window"]
    try:
        output, item = tools.call(
            "recommend_actions",
            {"filters": site["filters"], "start": window[0], "end": window[1],
             "causes": [{"kind": c["kind"], "confidence": c["confidence"]} for c in leading]},
        )  # fmt: skip
    except ToolError as error:
        return {"recommendations": [], "notes": _notes(state, f"recommendations: {error}")}
    facts = dict(state["facts"])
    facts["recommend"] = item.id
    facts["recommendations"] = [
        {"action": r.action, "title": r.title, "evidence": r.evidence}
        for r in output.recommendations
    ]
    return {
        "facts": facts,
        "recommendations": [
            r.model_dump(mode="json") | {"evidence_id": item.id} for r in output.recommendations
        ],
    }


def _plan_arguments(state: AgentState, action: str) -> dict[str, Any]:
    site, window = state["sites"][0], state["window"]
    recommendation = next(
        (r for r in state.get("recommendations", []) if r["action"] == action), None
    )
    arguments: dict[str, Any] = {
        "action": action,
        "description": ACTIONS[action].title,
        "cause": (recommendation or {}).get("addresses", [None])[0]
        or next((c["kind"] for c in state.get("causes", [])), None),
        "filters": site["filters"],
        "primary_metric": recommendation["test_metric"] if recommendation else "on_time_rate",
        "start": window[0],
        "end": window[1],
    }
    if recommendation:
        gain = recommendation["test_metric_gain"]
        arguments["expected_effect"] = {
            "estimate": gain["estimate"], "low": gain["low"], "high": gain["high"],
        }  # fmt: skip
    return arguments


@traced("plan")
def plan_experiment(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Write the experiment plan for the top recommendation."""
    recommendations = state.get("recommendations", [])
    if not recommendations:
        return {"experiment_plan": None}
    try:
        output, item = runtime.context.tools.call(
            "experiment_plan", _plan_arguments(state, recommendations[0]["action"])
        )
    except ToolError as error:
        return {"experiment_plan": None, "notes": _notes(state, f"experiment plan: {error}")}
    facts = dict(state["facts"])
    facts["plan"] = item.id
    return {"facts": facts, "experiment_plan": output.markdown}


@traced("follow_up")
def follow_up(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Answer a follow-up with the thread's incident: what-if, plan, SQL or drill-down."""
    parsed = ParsedQuestion.model_validate(state["parsed"])
    tools = runtime.context.tools
    site, window = state["sites"][0], state["window"]
    facts = dict(state.get("facts", {}))
    try:
        if parsed.intent == "what_if":
            action = parsed.action or _undo_action(state)
            output, item = tools.call(
                "what_if",
                {"filters": site["filters"], "start": window[0], "end": window[1],
                 "action": action, "parameters": parsed.parameters},
            )  # fmt: skip
            facts["followup"] = {"kind": "what_if", "evidence": item.id, "title": output.title}
            return {"facts": facts}
        if parsed.intent == "plan":
            action = parsed.action or (state.get("recommendations") or [{}])[0].get("action")
            action = action or _undo_action(state)
            output, item = tools.call("experiment_plan", _plan_arguments(state, action))
            facts["followup"] = {"kind": "plan", "evidence": item.id}
            return {"facts": facts, "experiment_plan": output.markdown}
        if parsed.intent == "unknown":
            facts["followup"] = {"kind": "help", "text": _HELP}
            return {"facts": facts}
        if parsed.intent == "show_sql":
            facts["followup"] = {"kind": "show_sql", "text": _sql_answer(state, tools)}
            return {"facts": facts}
        text, notes = _drill_down(state, runtime, parsed)
        facts["followup"] = {"kind": "drill_down", "text": text}
        return {"facts": facts, "notes": _notes(state, *notes)}
    except ToolError as error:
        facts["followup"] = {"kind": "error", "text": f"I could not answer that: {error}"}
        return {"facts": facts}


def _undo_action(state: AgentState) -> str:
    for cause in state.get("causes", []):
        for action in ACTIONS.values():
            if cause["kind"] in action.undoes:
                return action.name
    return "eta_buffer"


_HELP = (
    "I did not recognize a question there. About this incident you can ask: what if we cut the "
    "batching threshold back (or another action), write the experiment plan, show me the SQL, "
    "or which stores (regions, hours) are worst. A new question with a day starts a new diagnosis."
)


def _sql_answer(state: AgentState, tools: Any) -> str:
    """The trace of this conversation: every tool call in order, and the SQL that ran."""
    calls = [
        f"{item.id} {item.tool}({json.dumps(item.args, default=str, sort_keys=True)[:160]})"
        for item in tools.ledger.items
    ]
    text = (
        "Every number in this conversation came from these tool calls, in order; the typed "
        "tools run the queries of the metric registry in analytics/, and hand-written "
        "drill-down SQL is shown below it.\n\n```text\n" + "\n".join(calls) + "\n```"
    )
    ran = [item for item in tools.ledger.items if item.sql]
    if not ran:
        return text + "\n\nNo drill-down SQL ran yet: ask e.g. which stores are worst?"
    blocks = [f"{item.id} ({item.tool}):\n```sql\n{item.sql}\n```" for item in ran]
    return text + "\n\nDrill-down SQL:\n\n" + "\n\n".join(blocks)


_DIMENSION_WORDS = {"store": "store_id", "stores": "store_id", "region": "region",
                    "regions": "region", "hour": "hour", "hours": "hour",
                    "category": "category", "categories": "category"}  # fmt: skip


def _drill_down(
    state: AgentState, runtime: Runtime[AgentContext], parsed: ParsedQuestion
) -> tuple[str, list[str]]:
    tools = runtime.context.tools
    notes: list[str] = []
    site, window = state["sites"][0], state["window"]
    context = {"incident_window": window, "scope": site["filters"]}
    queries: list[str] = []
    backend = runtime.context.backend
    if backend.name != "offline":
        try:
            queries = backend.drilldown_sql(parsed.model_dump_json(), _schema_text(), context)
        except LLMFailure as error:
            notes.append(f"LLM drill-down failed ({error}); used the built-in query")
    if not queries:
        queries = [_drill_down_sql(state["question"], site["filters"], window)]
    answers = []
    for sql in queries:
        try:
            output, item = tools.call("run_sql", {"sql": sql, "reason": state["question"][:200]})
        except ToolError as error:  # an LLM's query that fails validation is skipped, visibly
            notes.append(f"a proposed drill-down query was refused: {error}")
            continue
        answers.append(_rows_text(output, item.id) + f"\n\n```sql\n{item.sql or sql}\n```")
    if not answers:
        sql = _drill_down_sql(state["question"], site["filters"], window)
        output, item = tools.call("run_sql", {"sql": sql, "reason": state["question"][:200]})
        answers.append(_rows_text(output, item.id) + f"\n\n```sql\n{item.sql or sql}\n```")
    return "\n".join(answers), notes


def _drill_down_sql(question: str, filters: dict[str, list], window: list[str]) -> str:
    words = re.findall(r"[a-z]+", question.lower())
    dimension = next((_DIMENSION_WORDS[w] for w in words if w in _DIMENSION_WORDS), "store_id")
    conditions = [f"order_time >= TIMESTAMP '{window[0]}'", f"order_time < TIMESTAMP '{window[1]}'"]
    columns = {"store": "store_id", "hour": "hour", "region": "region", "category": "category",
               "basket_size": "basket_size", "daypart": "daypart"}  # fmt: skip
    for name, values in filters.items():
        if name == dimension or columns.get(name) == dimension:
            continue
        rendered = ", ".join(
            str(int(v)) if name == "hour" else "'" + str(v).replace("'", "''") + "'" for v in values
        )
        conditions.append(f"{columns.get(name, name)} IN ({rendered})")
    return (
        f"SELECT {dimension}, count(*) AS orders, "
        "round(avg(CASE WHEN on_time THEN 1.0 WHEN NOT on_time THEN 0.0 END), 4) AS on_time_rate, "
        "round(avg(CAST(canceled AS INTEGER)), 4) AS cancellation_rate "
        f"FROM order_facts WHERE {' AND '.join(conditions)} "
        f"GROUP BY {dimension} HAVING count(*) >= 20 ORDER BY on_time_rate ASC LIMIT 10"
    )


def _rows_text(output: Any, evidence_id: str) -> str:
    rows = output.rows[:5]
    if not rows:
        return f"The drill-down returned no rows [{evidence_id}]."
    key = output.columns[0]
    lines = [f"Worst by on-time rate [{evidence_id}]:"]
    for index, row in enumerate(rows):
        parts = [f"{key} {row[key]}"]
        if "orders" in row:
            parts.append(f"{row['orders']:,} orders")
        if row.get("on_time_rate") is not None:
            parts.append(f"on-time {100 * row['on_time_rate']:.1f}%")
        if row.get("cancellation_rate") is not None:
            parts.append(f"canceled {100 * row['cancellation_rate']:.1f}%")
        lines.append(f"- {', '.join(parts)} [{evidence_id}]" if index < 5 else "")
    return "\n".join(lines)


def _schema_text() -> str:
    from data.schema import ORDER_FACTS

    return "order_facts(" + ", ".join(f"{c.name} {c.type}" for c in ORDER_FACTS.columns) + ")"


@traced("narrate")
def narrate(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Write the cited answer (LLM if configured, else the template)."""
    attempts = state.get("narrative_attempts", 0) + 1
    backend = runtime.context.backend
    evidence = state.get("evidence", [])
    feedback = ""
    if state.get("grounding") and not state["grounding"].get("ok", True):
        problems = "; ".join(
            p["text"] + ": " + p["reason"] for p in state["grounding"]["problems"][:10]
        )
        feedback = f"Your previous answer failed the number check: {problems}. Fix every one."
    followup = state.get("facts", {}).get("followup", {}).get("kind")
    if followup in ("show_sql", "drill_down", "help", "error"):  # tables and SQL, shown as is
        answer = template_narrative(state.get("facts", {}), evidence)
        return {"answer": answer, "narrative_attempts": attempts, "narrator": "template"}
    try:
        answer = backend.narrate(state["question"], state.get("facts", {}), evidence, feedback)
    except LLMFailure as error:
        return {
            "answer": template_narrative(state.get("facts", {}), evidence),
            "narrative_attempts": attempts,
            "notes": _notes(state, f"LLM failed ({error}); the answer is the template narrative"),
            "narrator": "template",
        }
    return {"answer": answer, "narrative_attempts": attempts, "narrator": backend.name}


@traced("check_grounding")
def check_answer(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Check every number of the answer against the evidence it cites."""
    evidence = runtime.context.tools.ledger.items
    allowed = [state["parsed"]["day"]] if state["parsed"].get("day") else []
    result = check_grounding(_without_code(state["answer"]), evidence, allowed=allowed)
    grounding = result.model_dump(mode="json")
    settings_attempts = runtime.context.max_narrations
    if result.ok or state.get("narrator") in ("template", "offline"):
        return {"grounding": grounding, "retry": False}
    if state.get("narrative_attempts", 1) < settings_attempts:
        return {"grounding": grounding, "retry": True}  # narrate again, problems as feedback
    fallback = template_narrative(state.get("facts", {}), state.get("evidence", []))
    recheck = check_grounding(_without_code(fallback), evidence, allowed=allowed)
    return {
        "answer": fallback,
        "retry": False,
        "narrator": "template",
        "grounding": recheck.model_dump(mode="json") | {"replaced_llm_answer": True},
        "notes": _notes(
            state,
            f"the LLM's answer had {result.numbers - result.grounded} ungrounded number(s); "
            "replaced by the template answer",
        ),
    }


def route_after_grounding(state: AgentState) -> Literal["narrate", "__end__"]:
    """Regenerate an ungrounded LLM answer (bounded); otherwise finish."""
    return "narrate" if state.get("retry") else "__end__"


def _without_code(text: str) -> str:
    """Code blocks (SQL shown to the user) are quoted text, not claims to ground."""
    return re.sub(r"```.*?```", " ", text, flags=re.DOTALL)
