"""Answers about actions: a what-if with the asked parameters, and an experiment plan for any
named action, on the asked scope and window (or the thread's incident, or the latest serious
incident in that scope, or the last week of data)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from agent.answers.base import Answer, AnswerContext, failed
from agent.answers.diagnose import incident_scope
from agent.answers.format import change, cohort, figure, value
from agent.answers.values import named
from agent.question import Filters, Period, QuestionPlan
from analytics.experiment_design import PRIMARY_METRICS
from analytics.incidents import SERIOUS
from analytics.metrics import CX_SCORE, METRICS
from tools.actions import ACTIONS, supported_action_lines
from tools.base import Figure, ToolError


def _which_action(plan: QuestionPlan, context: AnswerContext) -> str | None:
    """The asked action, else the thread's top recommendation, else the undo of its top cause."""
    if plan.action:
        return plan.action
    incident = context.incident
    if incident is None:
        return None
    if incident.recommendations:
        return incident.recommendations[0]["action"]
    for cause in incident.causes:
        for spec in ACTIONS.values():
            if cause["kind"] in spec.undoes:
                return spec.name
    return None


@dataclass(frozen=True)
class _Window:
    """Where and when an action is simulated, why there, and the days asked or defaulted to
    (None for an incident's own window)."""

    filters: Filters
    start: dt.datetime
    end: dt.datetime
    why: str
    days: Period | None = None


def _scope(plan: QuestionPlan, context: AnswerContext) -> _Window:
    """The asked days (or the thread's incident, or the latest serious incident in the asked
    scope, or the last week of data) and the asked cohort (or that incident's top slice)."""
    incident = context.incident
    filters = plan.filters
    if not filters and incident is not None and not plan.period:
        filters = incident.filters
    inherited = (
        incident is not None
        and plan.period is not None
        and (plan.period.start, plan.period.end) == (incident.period().start, incident.period().end)
    )
    if plan.period is not None and not inherited:
        window, _ = context.clip(plan.period)
        start, end = window.bounds()
        return _Window(filters, start, end, f"over {window.describe()}", window)
    if incident is not None and _overlaps(filters, incident.filters):
        return _Window(
            filters, incident.start, incident.end, f"over incident {incident.incident_id}"
        )
    found = _serious_incident(context, filters)
    if found is not None:
        start, end, incident_id, slice_filters = found
        if not filters:  # no scope asked: the incident's own slice
            return _Window(slice_filters, start, end, f"over incident {incident_id}")
        return _Window(
            filters, start, end, f"over incident {incident_id}, the latest in that scope"
        )
    window = context.default_period()
    start, end = window.bounds()
    return _Window(
        filters, start, end, f"over {window.describe()} (no incident in that scope)", window
    )


def _periods(plan: QuestionPlan, window: _Window) -> list[Period]:
    """The periods a follow-up inherits: the simulated days, or the asked ones when the window
    was an incident's (so the next turn finds that incident again)."""
    return [window.days] if window.days is not None else list(plan.periods)


def _overlaps(first: Filters, second: Filters) -> bool:
    return all(set(first[d]) & set(second[d]) for d in first.keys() & second.keys())


def _serious_incident(
    context: AnswerContext, filters: Filters
) -> tuple[dt.datetime, dt.datetime, str, Filters] | None:
    """The most severe medium or high incident whose cohort does not exclude `filters`: its
    window, id and cohort."""
    try:
        output, _ = context.call("detect_incidents", {"grain": "auto"})
    except ToolError:
        return None
    for incident in getattr(output, "incidents", []):
        if incident.severity_label not in SERIOUS:
            continue
        scope = incident_scope(incident, context)
        if _overlaps(filters, scope):
            end = incident.end or dt.datetime.combine(
                context.last_day + dt.timedelta(days=1), dt.time()
            )
            return incident.start, end, incident.incident_id, scope
    return None


def _supported() -> str:
    """The action library, one action per line (shown as quoted reference, not as claims)."""
    return "\n".join(supported_action_lines())


def _signed(found: Figure | None) -> str:
    return "n/a" if found is None or isinstance(found.value, str) else f"{found.value:+.2f}"


def what_if(plan: QuestionPlan, context: AnswerContext) -> Answer:
    """Simulate a named action with its parameters on a scope and window (what_if)."""
    action = _which_action(plan, context)
    if action is None:
        text = (
            "Which action should I simulate? These are supported (name, what it does, what it "
            f"takes):\n\n```text\n{_supported()}\n```\n\nFor example: what if we pad ETAs in "
            "grocery by a few minutes?"
        )
        return Answer(text=text, resolved=plan)
    window = _scope(plan, context)
    filters, start, end, why = window.filters, window.start, window.end, window.why
    resolved = plan.model_copy(
        update={"action": action, "filters": filters, "periods": _periods(plan, window)}
    )
    arguments = {
        "action": action, "parameters": plan.parameters, "filters": filters,
        "start": start, "end": end,
    }  # fmt: skip
    try:
        output, item = context.call("what_if", arguments)
    except ToolError as error:
        return failed(resolved, context, error, f"simulate {action}")
    title = getattr(output, "title", ACTIONS[action].title)
    low, high = figure(item, "cx_score.low"), figure(item, "cx_score.high")
    text = (
        f"{title}, simulated in {cohort(filters)} {why}: CX "
        f"{change(figure(item, 'cx_score.estimate'))} (90% interval "
        f"{_signed(low)} to {_signed(high)}), "
        f"on-time {change(figure(item, 'on_time_rate.estimate'))}, over "
        f"{value(figure(item, 'orders'))} orders, at {value(figure(item, 'cost_usd_per_order'))} "
        f"per order [{item.id}]."
    )
    spec = ACTIONS[action]
    if spec.tradeoff:
        text += f" Tradeoff: {spec.tradeoff}."
    assumptions = getattr(output, "assumptions", [])
    notes = [f"what-if assumption: {a}" for a in assumptions]
    return Answer(
        text=text,
        resolved=resolved,
        table=item.table,
        notes=notes,
        facts={"window": [start.isoformat(), end.isoformat()]},
    )


def test_metric(deltas: dict[str, Any]) -> str:
    """The rate an experiment can test whose simulated change adds the most CX points."""

    def cx_points(name: str) -> float:
        spec = METRICS[name]
        return abs(float(deltas[name]["estimate"]) * spec.cx_weight * spec.score[1])

    rates = [name for name in PRIMARY_METRICS if name != CX_SCORE and name in deltas]
    return max(rates, key=cx_points) if rates else "on_time_rate"


def plan(plan: QuestionPlan, context: AnswerContext) -> Answer:
    """An experiment plan for a named action on a scope: its expected effect comes from the
    action's what-if there (experiment_plan)."""
    action = _which_action(plan, context)
    if action is None:
        text = (
            "Which action should the experiment test? These are supported:\n\n```text\n"
            f"{_supported()}\n```"
        )
        return Answer(text=text, resolved=plan)
    window = _scope(plan, context)
    filters, start, end, why = window.filters, window.start, window.end, window.why
    resolved = plan.model_copy(
        update={"action": action, "filters": filters, "periods": _periods(plan, window)}
    )
    arguments: dict[str, Any] = {
        "action": action, "description": ACTIONS[action].title_for(plan.parameters),
        "filters": filters, "start": start, "end": end,
    }  # fmt: skip
    causes = [*ACTIONS[action].undoes, *ACTIONS[action].mitigates]
    incident_causes = [c["kind"] for c in (context.incident.causes if context.incident else [])]
    cause = next((c for c in incident_causes if c in causes), causes[0] if causes else None)
    if cause:
        arguments["cause"] = cause
    try:
        output, _ = context.call(
            "what_if",
            {"action": action, "parameters": plan.parameters, "filters": filters,
             "start": start, "end": end},
        )  # fmt: skip
        deltas = {k: v.model_dump() for k, v in getattr(output, "deltas", {}).items()}
        metric = test_metric(deltas)
        gain = deltas[metric]
        arguments.update(
            primary_metric=metric,
            expected_effect={
                "estimate": gain["estimate"],
                "low": gain["low"],
                "high": gain["high"],
            },
        )
    except ToolError:
        arguments["primary_metric"] = "on_time_rate"  # the plan detects a 5% relative lift
    try:
        output, item = context.call("experiment_plan", arguments)
    except ToolError as error:
        return failed(resolved, context, error, f"plan an experiment for {action}")
    tested = named(getattr(output, "metric", "on_time_rate"))
    text = (
        f"Experiment plan for '{ACTIONS[action].title_for(plan.parameters)}' in "
        f"{cohort(filters)}, sized {why}: {value(figure(item, 'unit_label'))}, "
        f"{value(figure(item, 'n_per_arm'))} orders per arm to detect "
        f"{change(figure(item, 'effect'))} in {tested} (power "
        f"{value(figure(item, 'power'))}, two-sided alpha {value(figure(item, 'alpha'))}), for at "
        f"least {value(figure(item, 'min_days'))} days and "
        f"{value(figure(item, 'recommended_days'))} recommended [{item.id}]. The full plan "
        "(hypothesis, metrics, guardrails, ramp, decision rule) is attached."
    )
    return Answer(text=text, resolved=resolved, experiment_plan=getattr(output, "markdown", None))
