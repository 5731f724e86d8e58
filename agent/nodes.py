"""The agent's nodes, one function each. Nodes reach analytics only through the typed tools
(ToolContext.call), so every number they produce is an evidence item."""

from __future__ import annotations

import datetime as dt
import functools
import re
import time
from collections.abc import Callable
from typing import Any, Literal

from langgraph.runtime import Runtime

from agent.answers import ANSWERS, SHOWN_AS_IS, Answer, AnswerContext, ThreadIncident
from agent.answers.diagnose import no_regression, outside_data, unreadable, wanted_by
from agent.answers.format import cohort
from agent.grounding import check_grounding
from agent.llm import LLMFailure, OfflineBackend
from agent.narrative import template_narrative
from agent.question import Period, QuestionPlan
from agent.state import AgentContext, AgentState
from agent.vocabulary import Vocabulary
from analytics.alarms import data_span
from analytics.comparisons import world_profile
from analytics.metrics import METRICS
from tools.actions import ACTIONS
from tools.base import ToolContext, ToolError
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


def _span(tools: ToolContext) -> tuple[dt.date, dt.date]:
    """The data's first and last day (computed once per world)."""

    def measure() -> tuple[dt.date, dt.date]:
        span = data_span(tools.con)
        return span.first.date(), span.last.date()

    return tools.shared.get("data_span_days", measure)


def _vocabulary(tools: ToolContext) -> Vocabulary:
    """The world's regions and categories, as the reader matches them (once per world)."""

    def read() -> Vocabulary:
        profile = world_profile(tools.con)
        return Vocabulary(regions=profile.regions, categories=profile.categories)

    return tools.shared.get("vocabulary", read)


@traced("parse_question")
def parse_question(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Turn the question into a typed plan (LLM or rules), reading follow-ups against the
    previous turn's plan and scope."""
    context = runtime.context
    first, last = _span(context.tools)
    notes: list[str] = []
    question = state["question"]
    previous = QuestionPlan.model_validate(state["plan"]) if state.get("plan") else None
    scope = QuestionPlan.model_validate(state["scope"]) if state.get("scope") else previous
    vocabulary = _vocabulary(context.tools)
    try:
        plan = context.backend.parse(question, first, last, previous, scope, vocabulary)
    except LLMFailure as error:
        notes.append(f"LLM failed ({error}); the question was read offline")
        plan = _OFFLINE.parse(question, first, last, previous, scope, vocabulary)
    notes.extend(plan.notes)
    return {
        "plan": plan.model_dump(mode="json"),
        "kind": plan.kind,
        "turn": state.get("turn", 0) + 1,
        "notes": notes,
        "narrative_attempts": 0,
        "facts": {},
        "answer": "",
        "table": None,
        "chart": None,
        "allowed": [],
        "grounding": {},
        "retry": False,
        "narrator": "",
    }


def route_after_parse(state: AgentState) -> Literal["detect", "answer"]:
    """A diagnosis takes the investigation path; every other kind (and a question whose date
    cannot be answered) goes to its answer handler."""
    plan = state["plan"]
    return "detect" if plan["kind"] == "diagnose" and not plan.get("problem") else "answer"


def _thread_incident(state: AgentState) -> ThreadIncident | None:
    """The incident this thread diagnosed last, for follow-ups that act on it."""
    incident, sites, window = state.get("incident"), state.get("sites"), state.get("window")
    if not incident or not sites or not window:
        return None
    return ThreadIncident(
        incident_id=incident["id"],
        filters=sites[0]["filters"],
        start=dt.datetime.fromisoformat(window[0]),
        end=dt.datetime.fromisoformat(window[1]),
        metric=(state.get("scope") or {}).get("metric"),
        causes=[c for c in state.get("causes", []) if c["status"] in ("supported", "weak")],
        recommendations=state.get("recommendations", []),
    )


def _answer_context(state: AgentState, runtime: Runtime[AgentContext]) -> AnswerContext:
    tools = runtime.context.tools
    first, last = _span(tools)
    backend = runtime.context.backend
    writer = None
    if backend.name != "offline":

        def writer(plan: QuestionPlan, schema: str) -> list[str]:
            try:
                return backend.write_sql(plan.model_dump_json(), schema)
            except LLMFailure:
                return []

    return AnswerContext(tools, first, last, _thread_incident(state), writer)


def _answered(plan: QuestionPlan, answer: Answer, state: AgentState) -> dict[str, Any]:
    """The state update of an answer handler's result."""
    resolved = answer.resolved
    allowed = [*_plan_dates(plan), *_plan_dates(resolved), *answer.allowed]
    update: dict[str, Any] = {
        "facts": {"kind": plan.kind, "text": answer.text, **answer.facts},
        "kind": plan.kind,
        "table": answer.table,
        "chart": answer.chart,
        "allowed": [str(a) for a in allowed],
        "plan": resolved.model_dump(mode="json"),
        "scope": resolved.model_dump(mode="json"),
        "notes": _notes(state, *answer.notes),
    }
    if answer.experiment_plan is not None:
        update["experiment_plan"] = answer.experiment_plan
    return update


def _plan_dates(plan: QuestionPlan) -> list[str]:
    periods: list[Period] = [*plan.periods, *(s.period for s in plan.sides if s.period)]
    return [d.isoformat() for p in periods for d in (p.start, p.end)]


@traced("answer")
def answer(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Answer a question that is not a diagnosis with its kind's handler (typed tool calls,
    cited template); a date that cannot be read or lies outside the data is said so."""
    plan = QuestionPlan.model_validate(state["plan"])
    context = _answer_context(state, runtime)
    periods = [*plan.periods, *(s.period for s in plan.sides if s.period)]
    if plan.kind in ("out_of_scope", "help"):
        result = ANSWERS[plan.kind](plan, context)
    elif plan.problem:
        result = unreadable(plan, context)
    elif any(context.outside(p) for p in periods):
        result = outside_data(plan, context)
    else:
        result = ANSWERS[plan.kind](plan, context)
    return _answered(plan, result, state)


@traced("detect")
def detect(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Scan for incidents (as of the end of the data) and localize the one asked about: active
    in the asked period, on the asked metric and cohort. None matching: the asked metric's
    numbers and the nearest incident, without diagnosing another one."""
    tools = runtime.context.tools
    plan = QuestionPlan.model_validate(state["plan"])
    context = _answer_context(state, runtime)
    window = plan.period
    if window is not None and context.outside(window):
        return {**_answered(plan, outside_data(plan, context), state), "found": False}
    if window is not None:
        window = context.clip(window)[0]
    investigation = find_incident(
        tools,
        day=window.start if window else None,
        last_day=window.end if window else None,
        wanted=wanted_by(plan, context),
    )
    tools.cache[_INVESTIGATION] = investigation
    if investigation.incident is None:
        result = no_regression(plan, context, investigation.detection_id, window)
        return {**_answered(plan, result, state), "found": False, "incident": None,
                "causes": [], "recommendations": [], "experiment_plan": None}  # fmt: skip
    incident = investigation.incident
    localize_incident(
        tools, investigation, metric=_slice_metric(plan, incident), focus=plan.filters or None
    )
    slices = investigation.slices.slices if investigation.slices else []
    facts: dict[str, Any] = {
        "detect": investigation.detection_id,
        "question_day": window.start.isoformat() if window else None,
        "asked_day_detect": investigation.asked_day_detection_id,
        "incident": incident.incident_id,
        "primary_cohort": incident.primary_cohort,
        "severity_label": incident.severity_label,
        "slices": investigation.slices_id if slices else None,
        "top_slice": slices[0].description if slices else incident.primary_cohort,
        "slice_metric_label": METRICS[
            investigation.slices.metric if investigation.slices else incident.slice_metric
        ].label.lower(),
    }
    sites = [vars(site) for site in investigation.sites]
    if plan.filters and sites:
        facts["focus"] = {"asked": cohort(plan.filters), "site": cohort(sites[0]["filters"])}
    scope = plan.model_copy(
        update={
            "filters": sites[0]["filters"] if sites else plan.filters,
            "periods": [_incident_period(investigation)],
            "metric": investigation.slices.metric
            if investigation.slices
            else incident.slice_metric,
        }
    )
    return {
        "facts": facts,
        "found": True,
        "kind": "diagnose",
        "allowed": _plan_dates(plan),
        "scope": scope.model_dump(mode="json"),
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
        "sites": sites,
        "window": [t.isoformat() for t in investigation.window],  # type: ignore[union-attr]
    }


def _slice_metric(plan: QuestionPlan, incident: Any) -> str | None:
    """The asked metric when it is a share the incident alarmed on (its slices are sought on
    it); else None (the incident's own slice metric)."""
    metric = plan.metric
    if metric in METRICS and METRICS[metric].unit == "share" and metric in incident.metrics:
        return metric
    return None


def _incident_period(investigation: Investigation) -> Period:
    start, end = investigation.window  # type: ignore[misc]
    last = (end - dt.timedelta(seconds=1)).date()
    return Period(start=start.date(), end=max(last, start.date()))


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
        "test_plan": [
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


@traced("narrate")
def narrate(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Write the cited answer (LLM if configured, else the template): a handler's answer is its
    own template; explanations, SQL, help and refusals are shown as they are."""
    attempts = state.get("narrative_attempts", 0) + 1
    backend = runtime.context.backend
    evidence = state.get("evidence", [])
    facts = state.get("facts", {})
    template = template_narrative(facts, evidence)
    feedback = ""
    if state.get("grounding") and not state["grounding"].get("ok", True):
        problems = "; ".join(
            p["text"] + ": " + p["reason"] for p in state["grounding"]["problems"][:10]
        )
        feedback = f"Your previous answer failed the number check: {problems}. Fix every one."
    if backend.name == "offline" or facts.get("kind") in SHOWN_AS_IS:
        return {"answer": template, "narrative_attempts": attempts, "narrator": "template"}
    try:
        answer = backend.narrate(state["question"], facts, evidence, feedback)
    except LLMFailure as error:
        return {
            "answer": template,
            "narrative_attempts": attempts,
            "notes": _notes(state, f"LLM failed ({error}); the answer is the template narrative"),
            "narrator": "template",
        }
    return {"answer": answer, "narrative_attempts": attempts, "narrator": backend.name}


@traced("check_grounding")
def check_answer(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Check every number of the answer against the evidence it cites."""
    evidence = runtime.context.tools.ledger.items
    allowed = state.get("allowed", [])
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
