"""The product manager's brief of an incident: what broke, for whom, since when, what it costs,
what to do and how urgent it is, in business terms (no model internals or test statistics).
Values from the data (cohorts, the change log) are escaped: the brief shows them as text."""

from __future__ import annotations

import math
from typing import Any

from analytics.metrics import METRICS
from cxagent.web.escaping import markdown_text
from cxagent.web.workbench import Analysis, Workbench
from tools.base import ToolError
from tools.causes import CAUSES
from tools.hypotheses import LIBRARY
from tools.recommend import MARGIN_PER_ORDER_USD, Recommendation
from tools.report import expected_vs_observed
from watching.feedback import OTHER_CAUSE, VERDICT_LABELS, Feedback, FeedbackStore

MAX_FEEDBACK_SHOWN = 5  # the brief's latest feedbacks on an incident
PRIORITY = {
    "high": ("P1", "decide today"),
    "medium": ("P2", "decide this week"),
    "low": ("P3", "monitor"),
}


def describe_scope(filters: dict[str, list[Any]]) -> str:
    """'grocery orders placed 18:00-20:59 in all regions' from cohort filters, as Markdown that
    shows the filters' values as text."""

    def values(name: str) -> str:
        readable = (
            str(value).replace("_", " ") if name == "daypart" else value for value in filters[name]
        )
        return "/".join(map(markdown_text, readable))

    parts = [f"{values('category')} orders" if "category" in filters else "orders"]
    if "basket_size" in filters:
        parts.append(f"with {values('basket_size')} baskets")
    if "daypart" in filters:
        parts.append(f"at {values('daypart')}")
    if "hour" in filters:
        hours = sorted(int(h) for h in filters["hour"])
        if hours == list(range(hours[0], hours[-1] + 1)):
            parts.append(f"placed {hours[0]:02d}:00-{hours[-1]:02d}:59")
        else:
            parts.append("placed in hours " + ", ".join(f"{h:02d}" for h in hours))
    if "store" in filters:
        parts.append(f"at {len(filters['store'])} store(s)")
    parts.append(
        f"in the {values('region')} region(s)" if "region" in filters else "in all regions"
    )
    return " ".join(parts)


def _confidence(value: float) -> str:
    return "high" if value >= 0.8 else ("medium" if value >= 0.5 else "low")


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def _known(change: dict[str, float]) -> bool:
    """Whether a window change has both values (the data supports the metric there)."""
    return math.isfinite(change["baseline"]) and math.isfinite(change["incident"])


def _shown(metric: str, value: float) -> str:
    return _pct(value) if METRICS[metric].unit == "share" else f"{value:.1f} {METRICS[metric].unit}"


def _what_broke(
    who: str, on_time: dict[str, float], canceled: dict[str, float], slow: dict[str, float],
    slice_metric: str,
) -> str:  # fmt: skip
    """The change in words, from what the data supports: on-time and cancellations, else the
    metric the incident's slices were sought on (e.g. the slow-delivery rate)."""
    if _known(on_time):
        text = (
            f"Deliveries arrive late more often: {_pct(on_time['baseline'])} of {who} arrived on "
            f"time in the two weeks before, {_pct(on_time['incident'])} since the incident began."
        )
    elif _known(slow):
        text = (
            f"{METRICS[slice_metric].label} of {who}: {_shown(slice_metric, slow['baseline'])} "
            f"in the two weeks before, {_shown(slice_metric, slow['incident'])} since the "
            "incident began."
        )
    else:
        text = "The incident's metrics have no values for these orders."
    if _known(canceled):
        text += (
            f" Cancellations went from {_pct(canceled['baseline'])} to "
            f"{_pct(canceled['incident'])}."
        )
    return text


def _impact(
    incident: Any, on_time: dict[str, float], canceled: dict[str, float],
    slow: dict[str, float], slice_metric: str,
) -> list[str]:  # fmt: skip
    """Extra late orders, cancellations and their margin, and the lead metric's drop, each
    where the data supports it."""
    lines = []
    orders = (on_time if _known(on_time) else slow)["incident_orders"]
    if _known(on_time):
        extra_late = max(0.0, -on_time["delta"]) * orders
        lines.append(f"- About {extra_late:,.0f} more late orders than the usual rate would give.")
    elif _known(slow) and METRICS[slice_metric].event_phrase:
        worse = -slow["delta"] if METRICS[slice_metric].higher_is_better else slow["delta"]
        lines.append(
            f"- About {max(0.0, worse) * orders:,.0f} more orders that "
            f"{METRICS[slice_metric].event_phrase} than the usual rate would give."
        )
    if _known(canceled):
        extra_canceled = max(0.0, canceled["delta"]) * orders
        lines.append(
            f"- About {extra_canceled:,.0f} more cancellations, about "
            f"${extra_canceled * MARGIN_PER_ORDER_USD:,.0f} of contribution margin lost (at "
            f"${MARGIN_PER_ORDER_USD:.2f} per order, a planning assumption), plus the repeat "
            "orders that late deliveries cost, which this does not count."
        )
    lead = expected_vs_observed(incident)
    if lead is not None:
        what = "customer-experience score" if lead[0] == "CX score" else lead[0].lower()
        unit = " of 100" if lead[0] == "CX score" else ""
        lines.append(
            f"- The {what} of the worst-hit group went from {lead[1]} (expected) to "
            f"{lead[2]}{unit}."
        )
    return lines


def pm_summary(workbench: Workbench, incident_id: str) -> str:
    """Markdown brief of one incident for a product manager."""
    analysis = workbench.recommendations(incident_id)
    incident = analysis.incident
    scope = analysis.scope
    who = describe_scope(scope)
    on_time = workbench.window_change(incident_id, "on_time_rate", scope)
    canceled = workbench.window_change(incident_id, "cancellation_rate", scope)
    slow = workbench.window_change(incident_id, incident.slice_metric, scope)
    volume = on_time if _known(on_time) else slow
    orders, days = volume["incident_orders"], max(volume["incident_days"], 1)
    priority, urgency = PRIORITY.get(incident.severity_label, ("P3", "monitor"))
    if incident.end is None and incident.severity_label != "low":
        urgency += "; still ongoing"
    delay = incident.detection_delay_hours
    lines = [
        f"# Incident brief: {incident_id}",
        "",
        f"**Priority {priority}** ({urgency}). Severity {incident.severity:.0f} of 100.",
        "",
        "## What broke",
        "",
        _what_broke(who, on_time, canceled, slow, incident.slice_metric),
        "",
        "## Who is affected",
        "",
        f"{who[0].upper() + who[1:]}: {orders:,} orders so far (about {orders / days:,.0f} a day).",
        "",
        "## Since when",
        "",
        f"Since {incident.start:%a %b %d, %H:%M}; we noticed it {delay:.0f} hour(s) later "
        f"({incident.detected_at:%b %d %H:%M}). "
        + (f"It ended {incident.end:%b %d %H:%M}." if incident.end else "It is still going on."),
        "",
        "## Impact",
        "",
        *_impact(incident, on_time, canceled, slow, incident.slice_metric),
        "",
        "## Why",
        "",
    ]
    lines += _why(analysis)
    ranked = analysis.recommendations.recommendations if analysis.recommendations else []
    lines += ["", "## Recommended action", "", *_actions(ranked, orders, days)]
    if ranked:
        lines += ["", "## Next step", "", _next_step(workbench, incident_id)]
    lines += ["", "## Feedback", "", *feedback_lines(workbench, incident_id)]
    lines += [
        "",
        "---",
        f"*From cx-agent's analysis of {markdown_text(workbench.world_dir.name)}; figures are "
        "estimates from the order data, with the engineers' evidence behind each.*",
        "",
    ]
    return "\n".join(lines)


def _why(analysis: Analysis) -> list[str]:
    """The leading causes (up to 3) in plain words, with the logged change behind each."""
    leading = analysis.leading_causes()
    if not leading:
        return ["No cause stands out yet; the engineers are still investigating."]
    lines = []
    for rank, cause in enumerate(leading[:3], start=1):
        plain = CAUSES[cause.kind].plain if cause.kind in CAUSES else cause.title
        change = _logged_change(analysis, cause.kind)
        lines.append(
            f"{rank}. {'Main cause' if rank == 1 else 'Also contributing'}: {plain} "
            f"({_confidence(cause.confidence)} confidence)." + (f" {change}" if change else "")
        )
    return lines


def _actions(ranked: list[Recommendation], orders: float, days: float) -> list[str]:
    """The top action and one alternative: expected gains, tradeoff and daily cost at the
    incident's volume (`orders` over `days`)."""
    if not ranked:
        return ["No action to recommend until a cause is confirmed."]
    lines = []
    for position, action in enumerate(ranked[:2]):
        daily = action.cost_usd_per_order * orders / days
        lead = "**Do**" if position == 0 else "Alternative"
        cost = (
            f", about ${action.cost_usd_per_order:.2f} per order (${daily:,.0f} a day at "
            "current volume)"
            if action.cost_usd_per_order >= 0.005
            else ""
        )
        lines.append(
            f"- {lead}: {action.title[0].lower() + action.title[1:]}. Expected for these "
            f"orders: on-time deliveries {100 * action.on_time_gain.estimate:+.1f} percentage "
            f"points, experience score {action.cx_gain.estimate:+.1f} points. Tradeoff: "
            f"{action.tradeoff}{cost}."
        )
    return lines


def _next_step(workbench: Workbench, incident_id: str) -> str:
    """How the top action is confirmed: the experiment plan's unit and duration."""
    try:
        plan, _ = workbench.plan(incident_id)
    except ToolError as error:
        return f"The experiment plan could not be written: {markdown_text(error)}"
    days_figure = plan.numbers.get("recommended_days")
    duration = f"{days_figure.value:g} days" if days_figure else "two weeks"
    return (
        f"Confirm it with a controlled test ({plan.unit_label}) for {duration}, rolled "
        "out 10% -> 50% -> 100% with automatic rollback if deliveries get worse; the "
        "engineers' experiment plan has the details."
    )


def shown_cause(workbench: Workbench, incident_id: str) -> str | None:
    """The top cause the workbench shows for an incident (the one feedback judges), if any."""
    leading = workbench.analysis(incident_id).leading_causes()
    return leading[0].kind if leading else None


def _plain_cause(kind: str) -> str:
    if kind == OTHER_CAUSE:
        return "another cause"
    return CAUSES[kind].plain if kind in CAUSES else kind


def _verdict(feedback: Feedback) -> str:
    """A feedback's verdict in business terms."""
    if feedback.verdict == "right":
        return "the cause is right"
    named = f": {_plain_cause(feedback.correct_cause)}" if feedback.correct_cause else ""
    if feedback.verdict == "wrong":
        return f"the cause is wrong{named}"
    return f"{VERDICT_LABELS[feedback.verdict]}" + (f" (also{named[1:]})" if named else "")


def feedback_lines(workbench: Workbench, incident_id: str) -> list[str]:
    """The team's feedback on the diagnosis, newest first (the first one counts), as Markdown
    lines with the comments and authors shown as text."""
    given = FeedbackStore.open(workbench.world_dir).for_incident(incident_id)
    if not given:
        return ["No feedback yet: the team can mark the cause right, wrong or not quite."]
    lines = [f"The team's latest verdict: **{_verdict(given[-1])}**."]
    for feedback in reversed(given[-MAX_FEEDBACK_SHOWN:]):
        who = f", {markdown_text(feedback.author)}" if feedback.author else ""
        said = f': "{markdown_text(feedback.comment)}"' if feedback.comment else ""
        lines.append(f"- {feedback.created_at:%b %d %H:%M} UTC{who}: {_verdict(feedback)}{said}")
    if len(given) > MAX_FEEDBACK_SHOWN:
        lines.append(f"- and {len(given) - MAX_FEEDBACK_SHOWN} earlier feedback(s).")
    return lines


def _logged_change(analysis: Any, kind: str) -> str:
    changes = analysis.investigation.changes
    if changes is None or kind not in LIBRARY:
        return ""
    names = LIBRARY[kind].change_names
    for change in changes.changes:
        if change.overlaps_slice and change.name in names:
            logged = (change.description or change.name, change.old_value, change.new_value)
            what, old, new = map(markdown_text, logged)
            return (
                f"It follows the change logged {change.change_time:%b %d %H:%M} "
                f"({what}: {old} -> {new})."
            )
    return ""
