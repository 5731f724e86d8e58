"""Answers about events: the incidents in a period, and the logged changes (what changed, and
the effect of one named change)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from agent.answers.base import Answer, AnswerContext, failed, metric_of
from agent.answers.diagnose import unjudged, wanted_by
from agent.answers.format import change, cohort, cohort_name, figure, p_value, period, value, when
from agent.answers.values import compare, label, lookup, named, parts_moved, worsened
from agent.question import Period, QuestionPlan, Side
from analytics.alarms import scanned_series
from analytics.metrics import CX_SCORE, METRICS, OUTCOME_METRICS
from tools.base import EvidenceItem, ToolError

MAX_LISTED = 8
BEFORE_AFTER_DAYS = 3  # a marketplace-wide change is compared over this many days on each side


def incidents(plan: QuestionPlan, context: AnswerContext) -> Answer:
    """The incidents active in a period (the whole data by default), most severe first."""
    window = context.clip(plan.period)[0] if plan.period else context.data_span()
    resolved = plan.model_copy(update={"periods": [window]})
    try:
        output, item = context.call(
            "detect_incidents", {"grain": "auto", "start": window.start, "end": window.end}
        )
    except ToolError as error:
        return failed(resolved, context, error, "list the incidents")
    wanted = wanted_by(plan, context)
    found = [i for i in getattr(output, "incidents", []) if wanted is None or wanted(i)]
    when_text = period(window)
    scope = f" in a scope that includes {cohort(plan.filters)}" if plan.filters else ""
    if not found:
        text = (
            f"No incident was active {when_text}{scope}: "
            f"{scanned_series(value(figure(item, 'series_scanned')))} [{item.id}]."
        )
        text = " ".join(part for part in (text, unjudged(item, when_text)) if part)
        return Answer(text=text, resolved=resolved)
    lines = []
    for incident in found[:MAX_LISTED]:
        key = incident.incident_id
        ended = figure(item, f"{key}.end")
        until = (
            f"until {value(ended)}" if ended is not None else "still open at the end of the data"
        )
        severity = figure(item, f"{key}.severity")
        score = f"{float(severity.value):.1f}" if severity is not None else "n/a"
        impact = figure(item, f"{key}.impact_orders")
        # order-equivalents: CX points lost x orders / 100, a heuristic (analytics.incidents)
        lost = f", about {value(impact)} orders' worth of CX lost" if impact is not None else ""
        lines.append(
            f"{key} ({incident.severity_label}, severity {score} out of 100{lost}): "
            f"{named(incident.primary_metric)} in {cohort_name(incident.primary_cohort)}, from "
            f"{value(figure(item, f'{key}.start'))}, {until}"
        )
    listed = "; ".join(lines)
    text = (
        f"Incidents active {when_text}{scope}, most severe first [{item.id}]: {listed} [{item.id}]."
    )
    if len(found) > MAX_LISTED:
        text += f" The table lists the rest [{item.id}]."
    serious = [i for i in found if i.severity_label in ("medium", "high")]
    if serious:
        top = serious[0]
        day = when(top.start.date().isoformat())
        what = named(top.primary_metric)
        moved = worsened(top.primary_metric)
        text += f" Ask why {what} {moved} on {day} to diagnose {top.incident_id} [{item.id}]."
    return Answer(text=text, resolved=resolved, table=item.table)


def overview(plan: QuestionPlan, context: AnswerContext) -> Answer:
    """A health check ('how are we doing?'): the headline metric against the days before, then
    the incidents active in the same period and scope."""
    answer = lookup(plan, context)
    active = incidents(answer.resolved, context)
    answer.text = f"{answer.text} {active.text}"
    answer.table = answer.table or active.table
    return answer


def changes(plan: QuestionPlan, context: AnswerContext) -> Answer:
    """What was changed (in a period, a scope), or the effect of the change the question names;
    asked against another period, how the metric moved between the two and what was changed
    from the first to the last."""
    if len(plan.periods) == 2 and not plan.change:
        return _changes_between(plan, context)
    window = context.clip(plan.period)[0] if plan.period else context.data_span()
    resolved = plan.model_copy(update={"periods": [window]})
    if plan.change:
        return _effect(plan, resolved, context)
    return _logged(plan, context, window, resolved)


def _logged(
    plan: QuestionPlan, context: AnswerContext, window: Period, resolved: QuestionPlan
) -> Answer:
    """The changes logged in `window` touching the plan's cohort (change_log)."""
    start, end = window.bounds()
    try:
        output, item = context.call(
            "change_log", {"start": start, "end": end, "filters": plan.filters}
        )
    except ToolError as error:
        return failed(resolved, context, error, "read the change log")
    rows = getattr(output, "changes", [])
    where = "" if not plan.filters else f" touching {cohort(plan.filters)}"
    if not rows:
        text = f"No change was logged {period(window)}{where} [{item.id}]."
        return Answer(text=text, resolved=resolved)
    described = [_change_text(item, row.change_id) for row in rows[:MAX_LISTED]]
    text = (
        f"{value(figure(item, 'changes'))} change(s) logged {period(window)}{where} [{item.id}]: "
        f"{'; '.join(described)} [{item.id}]."
    )
    scoped = [row for row in rows if row.scope]
    if scoped:
        text += (
            f" Ask what the {scoped[-1].name} change did to test its effect with a "
            "difference-in-differences."
        )
    return Answer(text=text, resolved=resolved, table=item.table)


def _changes_between(plan: QuestionPlan, context: AnswerContext) -> Answer:
    """'What changed on Jan 4 compared with the week before?': the metric on both periods (the
    compare answer), then the changes logged from the start of the earlier to the end of the
    later (a change made in between is one the question may be after)."""
    sides = [
        Side(label=p.label or p.describe(), filters=plan.filters, period=p) for p in plan.periods
    ]
    compared = compare(plan.model_copy(update={"sides": sides}), context, with_parts=False)
    parts, allowed = "", list[str]()
    if compared.table is not None and compared.resolved.metric == CX_SCORE:
        parts, allowed = parts_moved(compared.resolved.sides, context)  # which parts moved
    first = min(p.start for p in plan.periods)
    last = max(p.end for p in plan.periods)
    window, _ = context.clip(Period(start=first, end=last, label="between them"))
    logged = _logged(plan, context, window, plan)
    resolved = plan.model_copy(update={"metric": compared.resolved.metric})
    return Answer(
        text=f"{compared.text}{parts} {logged.text}",
        resolved=resolved,
        table=logged.table or compared.table,
        notes=compared.notes,
        allowed=allowed,
    )


def _change_text(item: EvidenceItem, change_id: str) -> str:
    """'C0007 batching_threshold (policy) at Jan 3, 2026 21:00 in category=grocery, hours=18-20:
    5 min detour -> 15 min detour'."""

    def text(name: str) -> str:
        found = figure(item, f"{change_id}.{name}")
        return "" if found is None else str(found.value)

    return (
        f"{change_id} {text('name')} ({text('kind')}) at "
        f"{value(figure(item, f'{change_id}.change_time'))}, scope {text('scope')}, from "
        f"{text('old_value')} to {text('new_value')}"
    )


def _effect(plan: QuestionPlan, resolved: QuestionPlan, context: AnswerContext) -> Answer:
    """The effect of the named change: a diff-in-diff in its scope against comparable orders;
    a marketplace-wide change (no control group) gets a before/after comparison, said to be
    weaker evidence."""
    first, last = context.data_span().bounds()
    try:
        output, log_item = context.call("change_log", {"start": first, "end": last})
    except ToolError as error:
        return failed(resolved, context, error, "read the change log")
    rows = getattr(output, "changes", [])
    matching = _matching(plan.change or "", rows)
    if not matching:
        names = ", ".join(sorted({row.name for row in rows})) or "none"
        text = (
            f"No logged change matches '{plan.change}' [{log_item.id}]. Logged changes: {names} "
            f"[{log_item.id}]."
        )
        return Answer(text=text, resolved=resolved)
    row = max(matching, key=lambda found: found.change_time)
    lead = f"{_change_text(log_item, row.change_id)} [{log_item.id}]."
    metric = plan.metric if plan.metric in OUTCOME_METRICS else "on_time_rate"
    if row.scope:
        try:
            _, did = context.call("diff_in_diff", {"change_id": row.change_id, "metric": metric})
        except ToolError as error:
            return failed(resolved, context, error, f"test the effect of {row.change_id}")
        tested_p = float(did.figures["p_value"].value)
        pre = figure(did, "pre_trend_p")
        trend = f"; the pre-trend test gives {p_value(float(pre.value))}" if pre is not None else ""
        text = (
            f"{lead} In its scope, the {_outcome(metric)} moved {change(figure(did, 'estimate'))} "
            f"against comparable orders outside it (95% interval "
            f"{change(figure(did, 'ci_low'))} to {change(figure(did, 'ci_high'))}, "
            f"{p_value(tested_p)}{trend}) [{did.id}]."
        )
        significant = tested_p < 0.05
        text += (
            " The change made a significant difference there."
            if significant
            else " The test finds no significant effect."
        )
        return Answer(text=text, resolved=resolved.model_copy(update={"change": row.change_id}))
    return _before_after(plan, resolved, context, row, lead)


def _outcome(metric: str) -> str:
    """The name of the rate of a metric's bad outcome ("late rate")."""
    outcome = METRICS[metric].outcome
    return outcome.phrase if outcome is not None else METRICS[metric].label.lower()


def _before_after(
    plan: QuestionPlan, resolved: QuestionPlan, context: AnswerContext, row: Any, lead: str
) -> Answer:
    metric = metric_of(plan, context)
    moment = row.change_time.date()
    step = dt.timedelta(days=BEFORE_AFTER_DAYS)
    before = Period(start=moment - step, end=moment - dt.timedelta(days=1))
    after = Period(start=moment + dt.timedelta(days=1), end=moment + step)
    before, after = context.clip(before)[0], context.clip(after)[0]
    sides = [
        {"label": "before", "filters": {}, "start": before.bounds()[0], "end": before.bounds()[1]},
        {"label": "after", "filters": {}, "start": after.bounds()[0], "end": after.bounds()[1]},
    ]
    try:
        _, item = context.call("compare_metric", {"metric": metric, "sides": sides})
    except ToolError as error:
        return failed(resolved, context, error, f"compare before and after {row.change_id}")
    tested = figure(item, "p_value")
    test = p_value(float(tested.value)) if tested is not None else "no test"
    text = (
        f"{lead} It was marketplace-wide, so there is no comparison group: {label(metric)} "
        f"{period(before)} was {value(figure(item, 'a.value'))} and {period(after)} "
        f"{value(figure(item, 'b.value'))} ({change(figure(item, 'difference'))}, {test}) "
        f"[{item.id}]. A before/after difference is not an effect: anything else that changed "
        "then moves it too."
    )
    allowed = [d.isoformat() for p in (before, after) for d in (p.start, p.end)]
    return Answer(
        text=text, resolved=resolved.model_copy(update={"change": row.change_id}), allowed=allowed
    )


def _matching(asked: str, rows: list[Any]) -> list[Any]:
    """Changes whose id, name or description holds the asked words, oldest first."""
    words = [w for w in re.split(r"[\s_]+", asked.lower()) if w]
    if re.fullmatch(r"c\d{4}", asked.lower()):
        return [row for row in rows if row.change_id.lower() == asked.lower()]
    return [
        row
        for row in rows
        if all(w in f"{row.name} {row.description}".lower().replace("_", " ") for w in words)
    ]
