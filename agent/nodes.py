"""The agent's nodes, one function each. Nodes reach analytics only through the typed tools
(ToolContext.call), so every number they produce is an evidence item."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import time
from collections.abc import Callable
from typing import Any, Literal, Protocol, TypeVar, cast

from langgraph.runtime import Runtime
from pydantic import BaseModel, ValidationError

from agent.answers import ANSWERS, SHOWN_AS_IS, Answer, AnswerContext, ThreadIncident
from agent.answers.diagnose import (
    no_regression,
    outside_data,
    unknown_incident,
    unreadable,
    wanted_by,
)
from agent.answers.format import cohort
from agent.answers.values import label
from agent.facts import (
    AskedMetric,
    CauseFact,
    ChangeFact,
    Facts,
    Focus,
    NotTestableFact,
    RecommendationFact,
    RefutationFact,
)
from agent.grounding import check_grounding
from agent.llm import LLMFailure, LoopLimits, MalformedCall, untrusted
from agent.loop import (
    INVESTIGATE,
    InvestigateInput,
    answer_kind,
    answer_table,
    callable_tools,
    loop_messages,
    shown,
    tool_schemas,
)
from agent.meaning import check_meaning, cites_evidence
from agent.narrative import template_narrative
from agent.parsing import read_question
from agent.question import STANDALONE_KINDS, Period, QuestionPlan
from agent.settings import AgentSettings
from agent.state import AgentContext, AgentState
from agent.vocabulary import Vocabulary, world_vocabulary
from analytics.alarms import data_span
from analytics.comparisons import world_profile
from analytics.incidents import cohort_slice
from analytics.metrics import CX_SCORE, METRICS, metric_gaps, stand_in_for
from tools.actions import ACTIONS
from tools.base import REGISTRY, Ledger, ToolContext, ToolError
from tools.hypotheses import LIBRARY
from tools.investigation import (
    Investigation,
    assess,
    find_incident,
    gather,
    localize_incident,
    plan_tests,
    rank,
    window_of,
)
from tools.plan import ExperimentPlanOutput
from tools.rca import RankedCause
from tools.recommend import RecommendOutput

Arguments = TypeVar("Arguments", bound=BaseModel)


class Node(Protocol):
    """A graph node: the state in, its update out (LangGraph passes `runtime` by name)."""

    def __call__(self, state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]: ...


def traced(name: str) -> Callable[[Node], Node]:
    """Record the node, its tool calls (evidence ids) and time in the trace; mirror the ledger."""

    def wrap(node: Node) -> Node:
        @functools.wraps(node)
        def run(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
            ledger = runtime.context.tools.ledger
            before, started = len(ledger.items), time.perf_counter()
            update = node(state, runtime)
            trace = [] if name == "parse_question" else list(state.get("trace", []))
            # A node that ran other nodes (the loop's investigation) returns their entries:
            # keep them, and list here only the calls they did not.
            inner = update.get("trace") or trace
            theirs = {c["id"] for entry in inner[len(trace) :] for c in entry["tool_calls"]}
            calls = [
                {"id": item.id, "tool": item.tool, "ok": item.ok, "seconds": item.seconds,
                 "summary": item.summary, **({"sql": item.sql} if item.sql else {})}
                for item in ledger.items[before:] if item.id not in theirs
            ]  # fmt: skip
            entry = {
                "node": name,
                "seconds": round(time.perf_counter() - started, 3),
                "tool_calls": calls,
            }
            update["trace"] = [*inner, entry]
            update["evidence"] = [item.model_dump(mode="json") for item in ledger.items]
            return update

        return run

    return wrap


def _notes(state: AgentState, *more: str) -> list[str]:
    return [*state.get("notes", []), *more]


def _span(tools: ToolContext) -> tuple[dt.date, dt.date]:
    """The data's first and last day (computed once per world)."""

    def measure() -> tuple[dt.date, dt.date]:
        span = data_span(tools.con)
        return span.first.date(), span.last.date()

    return tools.shared.get("data_span_days", measure)


def _vocabulary(tools: ToolContext) -> Vocabulary:
    """The world's regions, categories and custom dimensions with their groups, as the reader
    matches them (once per world)."""
    return tools.shared.get("vocabulary", lambda: world_vocabulary(world_profile(tools.con)))


def _stood_in(plan: QuestionPlan, tools: ToolContext, notes: list[str]) -> QuestionPlan:
    """The plan, on its metric's registry stand-in where the warehouse cannot compute the
    metric and can the stand-in ('are deliveries later on weekends?' without promised times:
    the slow-delivery rate), with a note saying so."""
    if plan.metric not in METRICS:
        return plan
    stand_in = stand_in_for(tools.con, plan.metric)
    if stand_in is None:
        return plan
    metric, reading = METRICS[plan.metric], METRICS[stand_in]
    notes.append(
        f"the {metric.label.lower()} cannot be computed here (missing "
        f"{', '.join(metric_gaps(tools.con)[metric.name])}); the {reading.label.lower()} stands "
        f"in for it: {reading.description.split('. ')[0].rstrip('.').lower()}"
    )
    return plan.model_copy(update={"metric": stand_in})


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
    # The rules read every question (routing, follow-ups, refusals); with an LLM its tool loop
    # then answers, the reader's plan given to it as a hint.
    plan = read_question(
        question, first, last, previous, scope, vocabulary=_vocabulary(context.tools)
    )
    notes.extend(plan.notes)
    plan = _stood_in(plan, context.tools, notes)
    use_loop = (
        context.backend.name != "offline"
        and plan.kind not in ("out_of_scope", "help")
        and not plan.problem
    )
    return {
        "plan": plan.model_dump(mode="json"),
        "kind": plan.kind,
        "use_loop": use_loop,
        "offline": not use_loop,
        "loop_failed": False,
        "fallback": False,
        "usage": {},
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


def route_after_parse(state: AgentState) -> Literal["tool_loop", "detect", "answer"]:
    """With an LLM, its tool loop answers; offline (and for refusals and unreadable dates) a
    diagnosis takes the investigation path and every other kind its answer handler."""
    if state.get("use_loop"):
        return "tool_loop"
    return _offline_route(state)


def _offline_route(state: AgentState) -> Literal["detect", "answer"]:
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
        ranked=state.get("causes", []),
        recommendations=state.get("recommendations", []),
    )


def _answer_context(state: AgentState, runtime: Runtime[AgentContext]) -> AnswerContext:
    tools = runtime.context.tools
    first, last = _span(tools)
    return AnswerContext(tools, first, last, _thread_incident(state))


def _answered(plan: QuestionPlan, answer: Answer, state: AgentState) -> dict[str, Any]:
    """The state update of an answer handler's result."""
    resolved = answer.resolved
    allowed = [*_plan_dates(plan), *_plan_dates(resolved), *answer.allowed]
    update: dict[str, Any] = {
        "facts": Facts(kind=plan.kind, text=answer.text, handler=answer.facts).state(),
        "kind": plan.kind,
        "table": answer.table,
        "chart": answer.chart,
        "allowed": [str(a) for a in allowed],
        "plan": resolved.model_dump(mode="json"),
        "notes": _notes(state, *answer.notes),
    }
    if plan.kind not in STANDALONE_KINDS:  # "how confident are you?" keeps the incident's scope
        update["scope"] = resolved.model_dump(mode="json")
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


_DIAGNOSIS_KEYS = (
    "facts", "found", "incident", "causes", "recommendations", "action_filters",
    "experiment_plan", "sites", "window", "scope", "test_plan", "allowed", "notes", "trace",
)  # fmt: skip


@traced("tool_loop")
def tool_loop(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """The LLM answers by calling tools in a bounded loop (native function calling): each call
    validated and recorded as evidence; `investigate` runs the diagnosis nodes. A failed loop
    (LLM failure, a second malformed call, a cap) hands the question to the offline path."""
    context = runtime.context
    settings = context.settings or AgentSettings()
    tools = context.tools
    plan = QuestionPlan.model_validate(state["plan"])
    local: dict[str, Any] = dict(state)  # what the investigation nodes work on

    def execute(name: str, arguments: dict[str, Any]) -> str:
        if name not in callable_tools():
            raise MalformedCall(
                f"unknown tool {name!r}; known: {', '.join(sorted(callable_tools()))}"
            )
        if name == INVESTIGATE:
            return _investigate(local, runtime, _validated(InvestigateInput, arguments))
        checked = _validated(REGISTRY[name].input_model, arguments)
        try:
            _, item = tools.call(name, checked)
        except ToolError:
            item = tools.ledger.items[-1]  # the refusal is evidence too; the model reads why
        return shown(item, settings)

    limits = LoopLimits(settings.llm_max_steps, settings.llm_time_budget_s, settings.llm_max_tokens)
    messages = loop_messages(
        state["question"], plan, state.get("history", []), _span(tools), settings
    )
    try:
        result = context.backend.run_tools(messages, tool_schemas(), execute, limits, context.usage)
    except LLMFailure as error:
        note = f"LLM tool loop failed ({error}); answered offline"
        return {"loop_failed": True, "offline": True, "notes": _notes(state, note),
                "usage": _usage(context)}  # fmt: skip
    kind = answer_kind(result.calls, plan)
    update: dict[str, Any] = {key: local[key] for key in _DIAGNOSIS_KEYS if key in local}
    if INVESTIGATE not in result.calls:
        update["facts"] = Facts(kind=kind).state()
    update.update(
        answer=result.text,
        narrator=context.backend.name,
        narrative_attempts=1,
        kind=kind,
        table=answer_table(tools.ledger.items, result.calls),
        chart=_chart(tools.ledger.items, kind),
        usage=_usage(context),
    )
    update["facts"] = Facts.of(update["facts"]).extended(loop_calls=result.calls)
    return update


def _validated(model: type[Arguments], arguments: dict[str, Any]) -> Arguments:
    try:
        return model.model_validate(arguments)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
            for e in error.errors()
        )
        raise MalformedCall(f"invalid arguments: {problems}") from None


def _investigate(
    local: dict[str, Any], runtime: Runtime[AgentContext], asked: InvestigateInput
) -> str:
    """The diagnosis nodes run on `local` for the asked days, metric and cohort; the model gets
    the incident, the ranked causes and recommendations with their evidence ids, and the
    template answer as a cited draft."""
    periods = []
    if asked.first_day is not None:
        last = asked.last_day or asked.first_day
        periods = [Period(start=min(asked.first_day, last), end=max(asked.first_day, last))]
    plan = QuestionPlan(
        kind="diagnose", metric=asked.metric, filters=asked.filters, periods=periods
    )
    local["plan"] = plan.model_dump(mode="json")
    for node in (detect, hypothesize, gather_evidence, rank_causes, recommend, plan_experiment):
        if node is not detect and not local.get("found"):
            break
        local.update(node(cast(AgentState, local), runtime))  # `local` is a copy of the state
    draft = template_narrative(Facts.of(local.get("facts")), local.get("evidence", []))
    summary = {
        "incident": local.get("incident"),
        "causes": [
            {k: c[k] for k in ("kind", "status", "confidence", "evidence")}
            for c in local.get("causes", [])
        ],
        "recommendations": [
            {k: r.get(k) for k in ("action", "title", "evidence_id")}
            for r in local.get("recommendations", [])
        ],
        "draft_answer": draft,
    }
    settings = runtime.context.settings or AgentSettings()
    text = json.dumps(untrusted(summary, max(settings.untrusted_text_cap, 4000)), default=str)
    return f"<data>\n{text}\n</data>"


def _chart(items: list[Any], kind: str) -> dict[str, Any] | None:
    """A trend's chart: the last series the loop read."""
    if kind != "trend":
        return None
    series = next((i for i in reversed(items) if i.ok and i.tool == "cx_timeseries"), None)
    if series is None:
        return None
    metric = (series.args.get("metrics") or ["cx_score"])[0]
    return {"x": "period", "y": metric, "label": label(metric), "grain": series.args.get("grain")}


def _usage(context: AgentContext) -> dict[str, int]:
    usage = context.usage
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "calls": usage.calls,
    }


def route_after_loop(state: AgentState) -> Literal["check_grounding", "detect", "answer"]:
    """A loop that answered is checked; one that failed hands over to the offline path."""
    return _offline_route(state) if state.get("loop_failed") else "check_grounding"


def _asked_metric(
    tools: ToolContext, plan: QuestionPlan, investigation: Investigation
) -> AskedMetric | None:
    """The metric the question names, in the incident's top slice (or cohort) over its window
    against the days before, when the incident is led by another metric: a question about
    delivery times gets their numbers first, then the incident that carries them."""
    incident = investigation.incident
    metric = plan.metric
    if (
        incident is None
        or investigation.window is None
        or metric is None
        or metric not in METRICS
        or metric in (CX_SCORE, incident.primary_metric)
    ):
        return None
    slices = investigation.slices.slices if investigation.slices else []
    filters: dict[str, list[str | int]] = (
        dict(slices[0].filters) if slices else cohort_slice(incident.primary_cohort)
    )
    start, end = investigation.window
    try:
        _, item = tools.call(
            "metric_summary", {"metrics": [metric], "filters": filters, "start": start, "end": end}
        )
    except ToolError:
        return None  # the metric cannot be read there: the incident's own lead stays
    return AskedMetric(id=item.id, metric=metric, where=cohort(filters))


# A diagnosis that found no incident to investigate: none of the last one's results stand.
_NOTHING_FOUND: dict[str, Any] = {
    "found": False, "incident": None, "causes": [], "recommendations": [], "experiment_plan": None,
}  # fmt: skip


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
    if plan.incident is not None:  # named by its id: that one, whatever its day
        window = None
        try:
            investigation = find_incident(tools, incident_id=plan.incident)
        except ToolError:
            result = unknown_incident(plan, context)
            return {**_answered(plan, result, state), **_NOTHING_FOUND}
    else:
        investigation = find_incident(
            tools,
            day=window.start if window else None,
            last_day=window.end if window else None,
            wanted=wanted_by(plan, context),
        )
    runtime.context.work.investigation = investigation
    if investigation.incident is None:
        result = no_regression(plan, context, investigation.detection_id, window)
        return {**_answered(plan, result, state), **_NOTHING_FOUND}
    incident = investigation.incident
    localize_incident(
        tools, investigation, metric=_slice_metric(plan, incident), focus=plan.filters or None
    )
    sites = [site.state() for site in investigation.sites]
    focus = (
        Focus(asked=cohort(plan.filters), site=cohort(sites[0]["filters"]))
        if plan.filters and sites
        else None
    )
    facts = _incident_facts(investigation, window.start if window else None).model_copy(
        update={"focus": focus, "asked_metric": _asked_metric(tools, plan, investigation)}
    )
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
        "facts": facts.state(),
        "found": True,
        "kind": "diagnose",
        "allowed": _plan_dates(plan),
        "scope": scope.model_dump(mode="json"),
        "incident": _incident_state(investigation),
        "sites": sites,
        "window": [t.isoformat() for t in window_of(investigation)],
    }


def _incident_facts(investigation: Investigation, day: dt.date | None) -> Facts:
    """What a diagnosis's narrative says of the incident, with the evidence ids behind it."""
    incident = investigation.incident
    assert incident is not None
    slices = investigation.slices.slices if investigation.slices else []
    return Facts(
        kind="diagnose",
        detect=investigation.detection_id,
        question_day=day.isoformat() if day else None,
        asked_day_detect=investigation.asked_day_detection_id,
        asked_day_incident=investigation.asked_day_incident,
        incident=incident.incident_id,
        primary_cohort=incident.primary_cohort,
        severity_label=incident.severity_label,
        slices=investigation.slices_id if slices else None,
        top_slice=slices[0].description if slices else incident.primary_cohort,
        slice_metric_label=METRICS[
            investigation.slices.metric if investigation.slices else incident.slice_metric
        ].label.lower(),
        stretch=investigation.sites[0].window_id if investigation.sites else None,
    )


def _incident_state(investigation: Investigation) -> dict[str, Any]:
    """The incident as the graph state keeps it (the --json contract's `incident`)."""
    incident = investigation.incident
    assert incident is not None
    slices = investigation.slices.slices if investigation.slices else []
    return {
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
        "evidence": [investigation.detection_id, *([investigation.slices_id] if slices else [])],
    }


def _slice_metric(plan: QuestionPlan, incident: Any) -> str | None:
    """The asked metric when it is a share the incident alarmed on (its slices are sought on
    it); else None (the incident's own slice metric)."""
    metric = plan.metric
    if metric in METRICS and METRICS[metric].unit == "share" and metric in incident.metrics:
        return metric
    return None


def _incident_period(investigation: Investigation) -> Period:
    start, end = window_of(investigation)
    last = (end - dt.timedelta(seconds=1)).date()
    return Period(start=start.date(), end=max(last, start.date()))


def route_after_detect(state: AgentState) -> Literal["hypothesize", "narrate"]:
    """The short path: no incident (or a day outside the data) goes straight to the answer."""
    return "hypothesize" if state.get("found") else "narrate"


@traced("hypothesize")
def hypothesize(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """The hypothesis library becomes the tool plan."""
    work = runtime.context.work
    assert work.investigation is not None
    work.test_plan = plan_tests(work.investigation)
    return {
        "test_plan": [
            {
                "tool": c.tool,
                "purpose": c.purpose,
                "site": c.site,
                "hypothesis": c.hypothesis,
                "role": c.role,
            }
            for c in work.test_plan
        ]  # fmt: skip
    }


@traced("gather_evidence")
def gather_evidence(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Run the plan's tool calls (plus a diff-in-diff per logged change in scope)."""
    work = runtime.context.work
    investigation = work.investigation
    assert investigation is not None
    work.results = gather(runtime.context.tools, investigation, work.test_plan)
    return {"notes": _notes(state, *investigation.notes)}


@traced("rank")
def rank_causes(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Score every hypothesis and rank the causes."""
    tools, work = runtime.context.tools, runtime.context.work
    investigation = work.investigation
    assert investigation is not None and investigation.incident is not None
    rank(tools, investigation, assess(investigation, work.results))
    ranked = investigation.causes.causes if investigation.causes else []
    leading = [c for c in ranked if c.status in ("supported", "weak")]
    facts = Facts.of(state["facts"]).extended(
        rank=investigation.causes_id,
        causes=[_cause_facts(cause, investigation, tools.ledger) for cause in leading],
        ruled_out=[c.kind for c in ranked if c.status == "ruled_out"],
        not_testable=[
            NotTestableFact(kind=c.kind, reason=c.reasons[0] if c.reasons else "missing data")
            for c in ranked
            if c.status == "not_testable"
        ],
    )
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


def _cause_facts(cause: RankedCause, investigation: Investigation, ledger: Ledger) -> CauseFact:
    hypothesis = investigation.library[cause.kind]  # as tested on this data (fallbacks)
    primary = next(
        (e for e in cause.evidence if ledger.get(e).tool == "driver_shift"
         and ledger.get(e).args.get("driver") == hypothesis.primary.driver),
        None,
    )  # fmt: skip
    found: dict[str, Any] = {}
    if primary:
        figure = ledger.get(primary).figures["baseline"]
        found.update(primary=primary, primary_label=figure.label, primary_unit=figure.unit)
    change_log = next((e for e in cause.evidence if ledger.get(e).tool == "change_log"), None)
    if change_log and investigation.changes:
        matching = [
            c for c in investigation.changes.changes
            if c.overlaps_slice and c.name in hypothesis.change_names
        ]  # fmt: skip
        if matching:
            found["change"] = ChangeFact(
                evidence=change_log, change_id=matching[0].change_id, name=matching[0].name
            )
    did = next((e for e in cause.evidence if ledger.get(e).tool == "diff_in_diff"), None)
    if did:
        found.update(did=did, did_outcome=ledger.get(did).figures["estimate"].label)
    checks = {check.driver: check.why for check in hypothesis.refuting}
    found["against"] = [
        RefutationFact(
            evidence=e, why=checks[item.args["driver"]], label=baseline.label, unit=baseline.unit
        )
        for e in cause.refuted_by
        if (item := ledger.get(e)).args.get("driver") in checks
        and (baseline := item.figures.get("baseline")) is not None
    ]
    return CauseFact(kind=cause.kind, title=LIBRARY[cause.kind].title, **found)


@traced("recommend")
def recommend(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Simulate the actions that address the supported causes; rank them with tradeoffs."""
    tools = runtime.context.tools
    leading = [c for c in state.get("causes", []) if c["status"] in ("supported", "weak")]
    if not leading or not state.get("sites"):
        return {"recommendations": [], "action_filters": None}
    site, window = state["sites"][0], state["window"]
    causes = [{"kind": c["kind"], "confidence": c["confidence"]} for c in leading]
    errors: list[ToolError] = []
    for filters in _action_scopes(state):
        try:
            output, item = tools.call(
                "recommend_actions",
                {"filters": filters, "start": window[0], "end": window[1], "causes": causes},
            )
        except ToolError as error:
            errors.append(error)
            continue
        break
    else:
        return {
            "recommendations": [],
            "action_filters": None,
            "notes": _notes(state, f"recommendations: {errors[0]}"),
        }
    notes = state.get("notes", [])
    if errors:  # the site could not be simulated, the cohort holding it could
        notes = _notes(
            state,
            f"recommendations simulated in {cohort(filters)}: in {cohort(site['filters'])}, "
            f"{errors[0]}",
        )
    recommended = cast(RecommendOutput, output)
    facts = Facts.of(state["facts"]).extended(
        recommend=item.id,
        recommendations=[
            RecommendationFact(action=r.action, title=r.title, evidence=r.evidence)
            for r in recommended.recommendations
        ],
    )
    return {
        "facts": facts,
        "recommendations": [
            r.model_dump(mode="json") | {"evidence_id": item.id}
            for r in recommended.recommendations
        ],
        "action_filters": filters,
        "notes": notes,
    }


def _action_scopes(state: AgentState) -> list[dict[str, list[Any]]]:
    """Where to simulate actions: the first site, then the incident's cohort when it holds the
    site (a cohort narrowed to where the alarms were can hold too few orders to simulate)."""
    site = state["sites"][0]["filters"]
    incident = state.get("incident") or {}
    wider: dict[str, list[Any]] = cohort_slice(incident.get("cohort", "all"))
    holds = all(site.get(name) == values for name, values in wider.items())
    return [site, wider] if holds and wider != site else [site]


def _plan_arguments(state: AgentState, action: str) -> dict[str, Any]:
    window = state["window"]
    filters = state.get("action_filters")
    if filters is None:  # a graph state from before action_filters
        filters = state["sites"][0]["filters"]
    recommendation = next(
        (r for r in state.get("recommendations", []) if r["action"] == action), None
    )
    arguments: dict[str, Any] = {
        "action": action,
        "description": ACTIONS[action].title,
        "cause": (recommendation or {}).get("addresses", [None])[0]
        or next((c["kind"] for c in state.get("causes", [])), None),
        "filters": filters,
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
    facts = Facts.of(state["facts"]).extended(plan=item.id)
    return {"facts": facts, "experiment_plan": cast(ExperimentPlanOutput, output).markdown}


@traced("narrate")
def narrate(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Write the cited answer: the template offline (and for explanations, SQL, help and
    refusals, shown as the handlers wrote them); with an LLM, its answer again with the
    checker's problems as feedback."""
    attempts = state.get("narrative_attempts", 0) + 1
    backend = runtime.context.backend
    evidence = state.get("evidence", [])
    facts = Facts.of(state.get("facts"))
    shown_as_is = bool(facts.text) and facts.kind in SHOWN_AS_IS
    if backend.name == "offline" or state.get("offline") or shown_as_is:
        answer = template_narrative(facts, evidence)
        return {"answer": answer, "narrative_attempts": attempts, "narrator": "template",
                "fallback": False}  # fmt: skip
    problems = (state.get("grounding") or {}).get("problems", [])
    feedback = ""
    if problems:
        listed = "; ".join(f"{p['text']}: {p['reason']}" for p in problems[:10])
        feedback = f"Your previous answer failed the checks: {listed}. Fix every one."
    try:
        answer = backend.narrate(
            state["question"], facts, evidence, feedback, runtime.context.usage
        )
    except LLMFailure as error:
        note = f"LLM failed ({error}); the answer is the template narrative"
        if not _has_template(facts):
            return {"fallback": True, "offline": True, "narrative_attempts": attempts,
                    "notes": _notes(state, note), "usage": _usage(runtime.context)}  # fmt: skip
        return {
            "answer": template_narrative(facts, evidence),
            "narrative_attempts": attempts,
            "notes": _notes(state, note),
            "narrator": "template",
            "fallback": False,
            "usage": _usage(runtime.context),
        }
    return {"answer": answer, "narrative_attempts": attempts, "narrator": backend.name,
            "fallback": False, "usage": _usage(runtime.context)}  # fmt: skip


def _has_template(facts: Facts) -> bool:
    """Whether the facts hold an offline answer (a handler's text or a diagnosis)."""
    return bool(facts.text or facts.detect)


def route_after_narrate(state: AgentState) -> Literal["check_grounding", "detect", "answer"]:
    """An LLM that failed while re-narrating an answer with no template: the offline path."""
    return _offline_route(state) if state.get("fallback") else "check_grounding"


@traced("check_grounding")
def check_answer(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Check every number of the answer against the evidence it cites, and a diagnosis's
    conclusion against the ranking (agent/meaning.py); an LLM answer must cite evidence when
    the turn made tool calls. A failing LLM answer is narrated again (bounded), then replaced by
    the template, or answered by the offline path when it has none."""
    evidence = runtime.context.tools.ledger.items
    allowed = state.get("allowed", [])
    facts = Facts.of(state.get("facts"))
    answer = state.get("answer", "")
    result = check_grounding(_without_code(answer), evidence, allowed=allowed)
    grounding = result.model_dump(mode="json")
    problems = list(grounding.get("problems", []))
    problems += [{"text": "conclusion", "reason": p} for p in check_meaning(answer, facts)]
    made_calls = any(step.get("tool_calls") for step in state.get("trace", []))
    templated = state.get("narrator") in ("template", "offline")
    if not templated and made_calls and not cites_evidence(answer, evidence):
        problems.append({"text": "citations", "reason": "the answer cites no evidence item"})
    if not templated and not made_calls:  # the rules routed it to the model as answerable
        problems.append(
            {"text": "tools", "reason": "the answer called no tool: it has no evidence"}
        )
    grounding.update(ok=not problems, problems=problems)
    if not problems or templated:
        return {"grounding": grounding, "retry": False, "fallback": False,
                "history": _history(state)}  # fmt: skip
    if state.get("narrative_attempts", 1) < runtime.context.max_narrations:
        return {"grounding": grounding, "retry": True, "fallback": False}  # problems as feedback
    note = f"the LLM's answer failed its checks ({len(problems)} problem(s)); replaced"
    if not _has_template(facts):
        return {"grounding": grounding, "retry": False, "fallback": True, "offline": True,
                "notes": _notes(state, note + " by the offline answer")}  # fmt: skip
    fallback = template_narrative(facts, state.get("evidence", []))
    recheck = check_grounding(_without_code(fallback), evidence, allowed=allowed)
    return {
        "answer": fallback,
        "retry": False,
        "narrator": "template",
        "grounding": recheck.model_dump(mode="json") | {"replaced_llm_answer": True},
        "fallback": False,
        "notes": _notes(state, note + " by the template answer"),
        "history": _history(state, fallback),
    }


MAX_HISTORY = 20  # turns a thread keeps for the LLM's prompt (it quotes only the last few)


def _history(state: AgentState, answer: str | None = None) -> list[dict[str, Any]]:
    turn = {
        "question": state["question"][:500],
        "kind": state.get("kind", ""),
        "answer": (answer if answer is not None else state.get("answer", ""))[:1000],
    }
    return [*state.get("history", []), turn][-MAX_HISTORY:]


def route_after_grounding(
    state: AgentState,
) -> Literal["narrate", "detect", "answer", "__end__"]:
    """Narrate an LLM answer that failed the checks again (bounded); with no template to fall
    back on, answer on the offline path; otherwise finish."""
    if state.get("retry"):
        return "narrate"
    if state.get("fallback"):
        return _offline_route(state)
    return "__end__"


def _without_code(text: str) -> str:
    """Code blocks (SQL shown to the user) are quoted text, not claims to ground."""
    return re.sub(r"```.*?```", " ", text, flags=re.DOTALL)
