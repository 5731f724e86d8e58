"""Similar past incidents: the earlier incidents closest to a new one (same slice or cohort, same
cause kind, same logged change), ranked, with how they ended and what users said of them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from pydantic import BaseModel, Field

from watching.alert import SeverityLabel, SimilarIncident
from watching.feedback import Feedback

MAX_SIMILAR = 3
CHANGE_LOOKBACK_HOURS = 72  # a change logged this long before an incident's start is "near"
SCOPE_DIMENSIONS = {"hours": "hour", "store_ids": "store"}  # change-log scope keys -> filters
# Weights of what two incidents share; a candidate needs a slice, cause or change in common.
SLICE_WEIGHT = 1.0
CAUSE_WEIGHT = 1.0
CHANGE_WEIGHT = 1.5
METRIC_WEIGHT = 0.25  # breaks ties; never a reason on its own

Filters = dict[str, list[Any]]


class IncidentRecord(BaseModel):
    """An incident as the watcher stores it: what was found, where, why, and what to do."""

    incident_id: str
    start: dt.datetime
    end: dt.datetime | None = Field(default=None, description="None while the incident is open")
    detected_at: dt.datetime
    metric: str = Field(description="the primary metric, e.g. on_time_rate")
    cohort: str = Field(description="the primary cohort, e.g. 'category=grocery' or 'all'")
    severity_label: SeverityLabel
    top_slice_filters: Filters = Field(
        default_factory=dict, description="the top slice, e.g. {'category': ['grocery']}"
    )
    top_cause: str | None = Field(default=None, description="the top cause kind, if any")
    cause_confidence: float | None = None
    change_ids: list[str] = Field(
        default_factory=list, description="changes logged near the start that overlap the slice"
    )
    action: str | None = Field(default=None, description="the recommended action, if any")


def cohort_filters(cohort: str) -> Filters:
    """'region=central,category=grocery' -> {'region': ['central'], 'category': ['grocery']};
    'all' -> {}."""
    filters: Filters = {}
    for part in cohort.split(","):
        dimension, _, value = part.strip().partition("=")
        if value:
            filters.setdefault(dimension, []).append(value)
    return filters


def _values(values: Iterable[Any]) -> set[str]:
    return {str(value) for value in values}


def slice_overlap(first: Filters, second: Filters) -> float:
    """How much two slices overlap, 0-1: 0 when a dimension both filter on has no value in
    common (disjoint orders), else the mean Jaccard of the value sets over the dimensions
    either filters on (a dimension only one filters on counts 0.5: the other is wider).
    Slices with no dimension in common (the whole marketplace included) share none: 0."""
    if not set(first) & set(second):
        return 0.0
    scores = []
    for dimension in set(first) | set(second):
        if dimension in first and dimension in second:
            one, other = _values(first[dimension]), _values(second[dimension])
            if not one & other:
                return 0.0
            scores.append(len(one & other) / len(one | other))
        else:
            scores.append(0.5)
    return sum(scores) / len(scores)


def _slice_of(record: IncidentRecord) -> Filters:
    return record.top_slice_filters or cohort_filters(record.cohort)


def describe_filters(filters: Filters) -> str:
    """'category=grocery, hour=18/19/20'."""
    return ", ".join(f"{k}={'/'.join(map(str, v))}" for k, v in filters.items()) or "all"


class LoggedChange(Protocol):
    """A row of the change log (tools.rca.ChangeRow has these)."""

    change_id: str
    change_time: dt.datetime
    scope: dict[str, Any]


def changes_near(
    start: dt.datetime,
    filters: Filters,
    changes: Iterable[LoggedChange],
    hours: float = CHANGE_LOOKBACK_HOURS,
) -> list[str]:
    """Ids of the changes logged in the `hours` before `start` (up to it) whose scope is the
    whole marketplace or overlaps the slice `filters`."""
    near = []
    for change in changes:
        if not start - dt.timedelta(hours=hours) <= change.change_time <= start:
            continue
        scope = {SCOPE_DIMENSIONS.get(k, k): v for k, v in (change.scope or {}).items()}
        disjoint = any(
            dimension in filters and not _values(values) & _values(filters[dimension])
            for dimension, values in scope.items()
        )
        if not disjoint:
            near.append(change.change_id)
    return near


def outcome(record: IncidentRecord, as_of: dt.datetime | None = None) -> str:
    """'resolved after 30 h', or 'still open' (for `as_of`, when given, ended later)."""
    if record.end is None or (as_of is not None and record.end > as_of):
        return "still open"
    hours = (record.end - record.start).total_seconds() / 3600
    return f"resolved after {hours:.0f} h"


def similar_incidents(
    incident: IncidentRecord,
    earlier: Sequence[IncidentRecord],
    feedback: Mapping[str, Feedback] | None = None,
    limit: int = MAX_SIMILAR,
) -> list[SimilarIncident]:
    """The earlier incidents closest to `incident`, best first, at most `limit`.

    Parameters
    ----------
    incident : the new incident.
    earlier : incidents stored before it (any that start at or after it are ignored).
    feedback : the feedback that counts per incident id (FeedbackStore.latest_by_incident()).

    Returns
    -------
    SimilarIncident records, ranked by a weighted sum of what they share (slice overlap,
    cause kind, logged changes, and the metric as a tie-break), then the most recent first;
    only those sharing a slice, a cause kind or a change are listed.
    """
    feedback = feedback or {}
    scored: list[tuple[float, dt.datetime, SimilarIncident]] = []
    for other in earlier:
        if other.incident_id == incident.incident_id or other.start >= incident.start:
            continue
        score, reasons = _shared(incident, other)
        if not reasons:
            continue
        if other.metric == incident.metric:
            score += METRIC_WEIGHT
        said = feedback.get(other.incident_id)
        scored.append(
            (
                score,
                other.start,
                SimilarIncident(
                    incident_id=other.incident_id,
                    start=other.start,
                    reasons=reasons,
                    top_cause=other.top_cause,
                    outcome=outcome(other, incident.detected_at),
                    feedback=said.describe() if said else None,
                ),
            )
        )
    scored.sort(key=lambda found: (found[0], found[1]), reverse=True)
    return [found for _, _, found in scored[:limit]]


def _shared(incident: IncidentRecord, other: IncidentRecord) -> tuple[float, list[str]]:
    """The weighted score of what two incidents share, and the reasons in words."""
    score, reasons = 0.0, []
    mine, theirs = _slice_of(incident), _slice_of(other)
    overlap = slice_overlap(mine, theirs)
    if overlap > 0:
        score += SLICE_WEIGHT * overlap
        word = "same slice" if overlap == 1 else "overlapping slice"
        reasons.append(f"{word}: {describe_filters(theirs)}")
    if incident.top_cause is not None and incident.top_cause == other.top_cause:
        score += CAUSE_WEIGHT
        reasons.append(f"same cause: {other.top_cause}")
    changes = [c for c in incident.change_ids if c in set(other.change_ids)]
    if changes:
        score += CHANGE_WEIGHT
        reasons.append(f"same change: {', '.join(changes)}")
    return score, reasons
