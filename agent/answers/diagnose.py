"""The parts of a diagnosis that decide what not to diagnose: which incidents a question asks
about, the answer when none of them regressed (its numbers, and the nearest incident named but
not diagnosed), and the answers for dates outside the data or that are no dates at all."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import cast

from agent.answers.base import Answer, AnswerContext, failed, metric_of
from agent.answers.format import cohort, cohort_name, day, figure, period, value
from agent.answers.values import against_before, label, named, test_text
from agent.question import ORDERS_METRIC, Filters, Period, QuestionPlan, other_group
from analytics.alarms import DETECTION_METRICS, scanned_series
from analytics.incidents import SERIOUS, cohort_slice
from analytics.metrics import CX_SCORE, higher_is_better
from data.schema import DAYPARTS
from tools.base import EvidenceItem, ToolError
from tools.detection import DetectIncidentsOutput, IncidentSummary


def wanted_by(
    plan: QuestionPlan, context: AnswerContext | None = None
) -> Callable[[IncidentSummary], bool] | None:
    """Which incidents answer the question: those that alarmed on the asked metric (the CX score
    and metrics the detector does not scan accept any) and whose scope meets the asked cohort.
    The scope is the incident's top slice (top_slices, as its investigation would localize it)
    when `context` is given, else its primary cohort. None when any incident does."""
    metric = plan.metric
    checks_metric = metric in DETECTION_METRICS and metric != CX_SCORE
    if not checks_metric and not plan.filters:
        return None

    def wanted(incident: IncidentSummary) -> bool:
        if checks_metric and metric not in incident.metrics:
            return False
        scope = incident_scope(incident, context)
        asked_hours, scope_hours = _hours(plan.filters), _hours(scope)
        if asked_hours is not None and scope_hours is not None and not asked_hours & scope_hours:
            return False  # 'at lunch' is not an incident at 18-20, whichever names the hours
        return all(
            set(map(str, plan.filters[dimension])) & set(map(str, scope[dimension]))
            for dimension in plan.filters.keys() & scope.keys()
        )

    return wanted


def _hours(filters: Filters) -> set[int] | None:
    """The hours of the day a cohort's hour and daypart filters allow (None: any hour)."""
    hours: set[int] | None = None
    if "hour" in filters:
        hours = {int(h) for h in filters["hour"]}
    if "daypart" in filters:
        parts: set[int] = set()
        for name in filters["daypart"]:
            first, last = DAYPARTS.get(str(name), (0, 24))
            parts |= {h % 24 for h in range(first, last if last > first else last + 24)}
        hours = parts if hours is None else hours & parts
    return hours


def incident_scope(incident: IncidentSummary, context: AnswerContext | None) -> Filters:
    """Where an incident lies: its top slice's filters (e.g. region=south, category=convenience)
    from top_slices; its primary cohort when no context is given or no slice is significant."""
    if context is not None:
        try:
            output, _ = context.call(
                "top_slices", {"incident_id": incident.incident_id, "grain": incident.grain}
            )
            slices = getattr(output, "slices", [])
            if slices:
                return dict(slices[0].filters)
        except ToolError:
            pass
    return cohort_slice(incident.primary_cohort)


def no_regression(
    plan: QuestionPlan, context: AnswerContext, detection_id: str, window: Period | None
) -> Answer:
    """Nothing asked about regressed: say so with the asked metric's numbers against its
    baseline, and name the nearest serious incident without diagnosing it."""
    metric = metric_of(plan, context)
    if metric == ORDERS_METRIC:
        metric = context.default_metric()
    resolved = plan.model_copy(update={"metric": metric})
    scanned = context.tools.ledger.get(detection_id)
    where = cohort(plan.filters)
    when_text = period(window) if window else "in the data"
    lead = (
        f"No incident on {named(metric)} in {where} was active {when_text}: "
        f"{scanned_series(value(figure(scanned, 'series_scanned')))} [{detection_id}]."
    )
    parts = [lead, unjudged(scanned, when_text)]
    if window is not None:
        start, end = window.bounds()
        try:
            _, item = context.call(
                "metric_summary",
                {"metrics": [metric], "filters": plan.filters, "start": start, "end": end},
            )
            key, days = f"{metric}.", item.args.get("baseline_days", 14)
            parts.append(
                f"{label(metric)} there was {value(figure(item, key + 'value'))} "
                f"{against_before(item, key, days)} [{item.id}]."
            )
        except ToolError as error:
            parts.append(failed(resolved, context, error, "measure it").text)
    elif plan.filters:
        parts.append(_standing_gap(metric, plan.filters, context))
    parts.append(_nearest(context, window, metric))
    if window is None and not plan.filters:  # "why are deliveries slow?": no regression to find
        parts.append(f"What goes with {named(metric)} across orders: ask what drives it.")
    return Answer(text=" ".join(p for p in parts if p), resolved=resolved)


def unjudged(scanned: EvidenceItem | None, when_text: str) -> str:
    """What a scan that found nothing can add: '' when the whole marketplace's series held a
    verdict then; else that they could not be judged (their baselines need earlier weeks)."""
    if scanned is None:
        return ""
    judged = figure(scanned, "series_judged")
    marketplace = figure(scanned, "marketplace_judged")
    if judged is None or marketplace is None or int(marketplace.value) > 0:
        return ""
    why = "a baseline needs earlier weeks of the same hour or weekday, too few before then"
    if int(judged.value) == 0:
        return f"None of them could be judged {when_text} ({why}) [{scanned.id}]."
    return (
        f"None of the whole marketplace's series could be judged {when_text} ({why}); "
        f"{value(judged)} of the cohorts' could [{scanned.id}]."
    )


def _standing_gap(metric: str, filters: Filters, context: AnswerContext) -> str:
    """A cohort asked about with no date and no incident ('why are deliveries slow in
    Semi-Urban?'): how it compares over the whole data with the whole marketplace (with the
    other group, for one group of a yes/no dimension), a standing difference rather than a
    regression, and where to look for what goes with it."""
    start, end = context.data_span().bounds()
    other = other_group(filters) or {}
    against = cohort(other) if other else "the whole marketplace"
    sides = [
        {"label": against, "filters": other, "start": start, "end": end},
        {"label": cohort(filters), "filters": filters, "start": start, "end": end},
    ]
    try:
        _, item = context.call("compare_metric", {"metric": metric, "sides": sides})
    except ToolError:
        return ""
    return (
        f"Over the whole data, {named(metric)} in {cohort(filters)} was "
        f"{value(figure(item, 'b.value'))} against {value(figure(item, 'a.value'))} in "
        f"{against} ({test_text(item, '')}) [{item.id}]: a standing difference, not a change. "
        f"What goes with it: ask what drives {named(metric)} in {cohort(filters)}."
    )


def _nearest(context: AnswerContext, window: Period | None, asked: str) -> str:
    """The serious incident nearest the asked period, named with its day (not diagnosed); one
    active in the period (on another metric than the `asked` one, or elsewhere) comes with the
    question that diagnoses it."""
    try:
        output, item = context.call("detect_incidents", {"grain": "auto"})
    except ToolError:
        return ""
    serious = [i for i in getattr(output, "incidents", []) if i.severity_label in SERIOUS]
    if not serious:
        return f"No medium or high severity incident was found anywhere in the data [{item.id}]."
    if window is None:
        nearest = serious[0]
    else:
        middle = window.bounds()[0]
        nearest = min(serious, key=lambda i: abs((i.start - middle).total_seconds()))
    key, metric = nearest.incident_id, nearest.primary_metric
    began = value(figure(item, f"{key}.start"))
    severity = figure(item, f"{key}.severity")
    score = f"{float(severity.value):.1f}" if severity is not None else "n/a"
    about = (
        f"{named(metric)} in {cohort_name(nearest.primary_cohort)}, from {began}, severity "
        f"{score} out of 100 [{item.id}]"
    )
    if window is not None and _overlaps(nearest, window):
        verb = "drop" if higher_is_better(metric) else "rise"
        question = f"why did {named(metric)} {verb} on {day(figure(item, f'{key}.start'))}?"
        where = "elsewhere" if metric == asked else "on another metric"
        return (
            f"An incident {where} was active then, {key}: {about}. Ask '{question}' to "
            f"diagnose it [{item.id}]."
        )
    return f"The nearest incident is {key}: {about}. Ask about its day to diagnose it."


def _overlaps(incident: IncidentSummary, window: Period) -> bool:
    """Whether an incident was active at some time in the asked period."""
    start, end = window.bounds()
    return incident.start < end and (incident.end is None or incident.end > start)


def unknown_incident(plan: QuestionPlan, context: AnswerContext) -> Answer:
    """An incident id the scan does not hold: say so, and list the ones it found."""
    try:
        output, item = context.call("detect_incidents", {})
    except ToolError as error:
        return failed(plan, context, error, "list the incidents")
    found = [incident.incident_id for incident in cast(DetectIncidentsOutput, output).incidents]
    shown = ", ".join(found[:_LISTED]) + (
        f" and {len(found) - _LISTED} more" if len(found) > _LISTED else ""
    )
    listed = (
        f"the incidents found, most severe first: {shown} [{item.id}]. Ask about one by its id"
        if found
        else f"no incident was found in it [{item.id}]"
    )
    text = f"No incident {plan.incident} was detected in this data; {listed}."
    return Answer(text=text, resolved=plan, allowed=[plan.incident or ""])


_LISTED = 8  # incident ids listed when the one asked about is unknown


def outside_data(plan: QuestionPlan, context: AnswerContext) -> Answer:
    """A period outside the data: say which span the data covers."""
    asked = next(
        p
        for p in [*plan.periods, *(s.period for s in plan.sides if s.period)]
        if context.outside(p)
    )
    return _with_span(plan, context, f"{asked.describe()} is outside the data")


def unreadable(plan: QuestionPlan, context: AnswerContext) -> Answer:
    """A date that is no date ('Feb 30'): say so, and which span the data covers. The numbers
    of the user's own phrase, quoted back, need no citation."""
    answer = _with_span(plan, context, f"I cannot answer that: {plan.problem}")
    problem = plan.problem or ""
    answer.allowed = [*re.findall(r"'([^']+)'", problem), *re.findall(r"\d+", problem)]
    return answer


def _with_span(plan: QuestionPlan, context: AnswerContext, lead: str) -> Answer:
    """`lead`, then the span the data covers (describe_world) and where to ask instead."""
    try:
        _, item = context.call("describe_world", {})
    except ToolError as error:
        return failed(plan, context, error, "read the data's span")
    text = (
        f"{lead}. The data covers {day(figure(item, 'data_start'))} to "
        f"{day(figure(item, 'data_end'))} [{item.id}]; ask about a day inside that range."
    )
    return Answer(text=text, resolved=plan)
