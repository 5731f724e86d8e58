"""What the watcher tells a route about an incident: one typed alert, rendered by each route."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

AlertEvent = Literal["opened", "escalated", "resolved"]
SeverityLabel = Literal["low", "medium", "high"]
SEVERITY_ORDER: dict[str, int] = {"low": 0, "medium": 1, "high": 2}


class SimilarIncident(BaseModel):
    """An earlier incident close to this one, with how it ended and what users said of it."""

    incident_id: str
    start: dt.datetime
    reasons: list[str] = Field(description="what they share: slice, cause kind, change")
    top_cause: str | None = None
    outcome: str = Field(description="e.g. 'resolved after 30 h' or 'still open'")
    feedback: str | None = Field(default=None, description="users' verdict, if any")


class Alert(BaseModel):
    """One event of one incident, as of the watcher's clock (`as_of`).

    `key` identifies the event for dedupe: a route is sent each key at most once."""

    event: AlertEvent
    incident_id: str
    as_of: dt.datetime
    start: dt.datetime
    end: dt.datetime | None = None
    detected_at: dt.datetime
    metric: str
    metric_label: str
    cohort: str
    severity: float
    severity_label: SeverityLabel
    expected: float | None = Field(default=None, description="the primary metric's expected value")
    observed: float | None = Field(default=None, description="its observed value")
    top_slice: str | None = None
    top_cause: str | None = None
    top_cause_title: str | None = None
    cause_confidence: float | None = None
    action: str | None = None
    action_title: str | None = None
    cx_gain: float | None = Field(default=None, description="CX points the action would win back")
    link: str | None = Field(default=None, description="the incident in the workbench")
    similar: list[SimilarIncident] = Field(default_factory=list)

    @property
    def key(self) -> str:
        """The event's identity: opened once, escalated once per level, resolved once."""
        level = self.severity_label if self.event == "escalated" else ""
        return f"{self.incident_id}:{self.event}:{level}"

    def headline(self) -> str:
        """One line for a notification's title."""
        verb = {"opened": "CX incident", "escalated": "CX incident escalated",
                "resolved": "CX incident resolved"}[self.event]  # fmt: skip
        return f"{verb}: {self.metric_label} in {self.cohort} ({self.severity_label})"
