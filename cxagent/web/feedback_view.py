"""The incident view's feedback panel and similar past incidents: what users said of the
diagnosis, the form to say it, and the earlier incidents closest to this one. Data text (comments,
authors, cohorts) is escaped as cxagent/web/escaping.py does."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from cxagent.web.escaping import markdown_text
from cxagent.web.summary import shown_cause
from cxagent.web.workbench import Workbench
from tools.detection import IncidentSummary
from watching.feedback import VERDICT_LABELS, Feedback, FeedbackRequest, FeedbackStore
from watching.similar import (
    IncidentRecord,
    changes_near,
    cohort_filters,
    describe_filters,
    similar_incidents,
)
from watching.state import stored_records

MAX_SHOWN = 5  # feedbacks listed under the form, newest first
VERDICT_CHOICES = [(label, verdict) for verdict, label in VERDICT_LABELS.items()]


def feedback_markdown(workbench: Workbench, incident_id: str) -> str:
    """The stored feedback on an incident, newest first (the first one counts)."""
    given = FeedbackStore.open(workbench.world_dir).for_incident(incident_id)
    if not given:
        return "*No feedback on this incident yet.*"
    lines = [f"**Feedback** ({len(given)}; the latest counts):", ""]
    for feedback in reversed(given[-MAX_SHOWN:]):
        who = f" by {markdown_text(feedback.author)}" if feedback.author else ""
        said = f": {markdown_text(feedback.comment)}" if feedback.comment else ""
        lines.append(
            f"- {feedback.created_at:%Y-%m-%d %H:%M} UTC{who}: "
            f"**{markdown_text(feedback.describe())}**{said}"
        )
    return "\n".join(lines)


def submit_feedback(
    workbench: Workbench,
    incident_id: str | None,
    verdict: str | None,
    correct_cause: str | None,
    comment: str | None,
    author: str | None,
) -> str:
    """Store a feedback from the form; returns the status line (what was stored, or why not).
    The cause judged is the top cause the workbench shows (the RCA runs if it has not)."""
    if not incident_id:
        return "No incident to give feedback on."
    try:
        request = FeedbackRequest(
            verdict=verdict, correct_cause=correct_cause, comment=comment or "", author=author
        )
        feedback = record_feedback(workbench, incident_id, request)
    except ValidationError as error:
        problems = "; ".join(problem["msg"] for problem in error.errors())
        return f"Not stored: {markdown_text(problems)}"
    return f"Stored: {markdown_text(feedback.describe())}."


def record_feedback(workbench: Workbench, incident_id: str, request: FeedbackRequest) -> Feedback:
    """Store what a user said of an incident (the form's and the REST API's one path): the cause
    judged is the one asked, else the top cause the workbench shows (the RCA runs if it has
    not). Raises ValidationError for a feedback the model refuses. Returns it as stored."""
    fields = request.model_dump()
    fields["judged_cause"] = fields["judged_cause"] or shown_cause(workbench, incident_id)
    feedback = Feedback(incident_id=incident_id, **fields)
    return FeedbackStore.open(workbench.world_dir).add(feedback)


def incident_record(
    incident: IncidentSummary,
    workbench: Workbench,
    slice_filters: dict[str, list[Any]] | None = None,
    feedback: Feedback | None = None,
) -> IncidentRecord:
    """An incident of the workbench's detection as a record to compare: its slice (given, else
    its primary cohort), its cause as last judged by users (the workbench keeps no RCA of
    incidents nobody opened) and the changes logged near its start."""
    filters = slice_filters or cohort_filters(incident.primary_cohort)
    return IncidentRecord(
        incident_id=incident.incident_id,
        start=incident.start,
        end=incident.end,
        detected_at=incident.detected_at,
        metric=incident.primary_metric,
        cohort=incident.primary_cohort,
        severity_label=incident.severity_label,  # type: ignore[arg-type]
        top_slice_filters=filters,
        top_cause=feedback.judged_cause if feedback else None,
        change_ids=changes_near(incident.start, filters, workbench.overview().changes),
    )


def similar_markdown(
    workbench: Workbench, incident_id: str, slice_filters: dict[str, list[Any]]
) -> str:
    """The earlier incidents of this world closest to this one, with outcome and feedback."""
    latest = FeedbackStore.open(workbench.world_dir).latest_by_incident()
    records = {
        incident.incident_id: incident_record(
            incident, workbench, feedback=latest.get(incident.incident_id)
        )
        for incident in workbench.incidents()
    }
    # The watcher's records, where it ran, carry the investigated slice, cause and changes.
    watched = stored_records(workbench.world_dir)
    records.update({key: record for key, record in watched.items() if key in records})
    current = incident_record(
        workbench.incident(incident_id), workbench, slice_filters, latest.get(incident_id)
    )
    found = similar_incidents(current, list(records.values()), latest)
    if not found:
        return "*No similar earlier incident in this world.*"
    lines = ["**Similar past incidents**", ""]
    for similar in found:
        record = records[similar.incident_id]
        said = f"; feedback: {markdown_text(similar.feedback)}" if similar.feedback else ""
        cause = f"; cause {markdown_text(similar.top_cause)}" if similar.top_cause else ""
        lines.append(
            f"- {similar.incident_id} ({similar.start:%Y-%m-%d %H:%M}, {record.metric} @ "
            f"{markdown_text(describe_filters(cohort_filters(record.cohort)))}): "
            f"{markdown_text('; '.join(similar.reasons))}; {similar.outcome}{cause}{said}"
        )
    return "\n".join(lines)
