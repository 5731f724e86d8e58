"""The facts an answer is written from: what each graph node found, with the evidence ids behind
it, as typed models.

The graph state keeps them as JSON (`Facts.model_dump`, so a thread's checkpoint stays plain
data); the nodes add to them through `Facts.extended` and the narrators (the template in
agent/narrative.py, the LLM's prompt in agent/llm.py) and the meaning check (agent/meaning.py)
read them as `Facts`. Numbers are never facts: the narrative reads every number from the cited
evidence items' figures.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Fact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Focus(_Fact):
    """The cohort a question asked about and the slice of it the causes were tested in."""

    asked: str
    site: str


class AskedMetric(_Fact):
    """The metric the question named, read in the incident's slice ('duration_min')."""

    id: str  # the metric_summary evidence item
    metric: str
    where: str


class ChangeFact(_Fact):
    """A logged change that would implement a cause, overlapping the incident's slice."""

    evidence: str  # the change_log item
    change_id: str
    name: str


class RefutationFact(_Fact):
    """A refuting check of a leading cause that held: its driver_shift item, what it says and
    how to label its driver."""

    evidence: str
    why: str
    label: str
    unit: str


class CauseFact(_Fact):
    """A leading cause: its kind and title, its primary driver's item and how to label it, the
    logged change behind it and its diff-in-diff, where the evidence holds them."""

    kind: str
    title: str
    primary: str | None = None  # the driver_shift item of the hypothesis's primary driver
    primary_label: str | None = None
    primary_unit: str | None = None
    change: ChangeFact | None = None
    did: str | None = None  # the diff_in_diff item
    did_outcome: str | None = None  # the outcome it measured, as labelled
    against: list[RefutationFact] = Field(default_factory=list)  # refuting checks that held


class NotTestableFact(_Fact):
    kind: str
    reason: str


class RecommendationFact(_Fact):
    action: str
    title: str
    evidence: str


class Facts(_Fact):
    """Everything an answer may say, by the node that found it; None or empty where the node did
    not run or found nothing."""

    kind: str | None = None  # the question's kind
    # An answer handler's own template and what it lets an LLM narrator use (agent/answers/).
    text: str | None = None
    handler: dict[str, Any] = {}
    loop_calls: tuple[str, ...] = ()  # the tools the LLM loop called, in order
    # detect: the scan and the incident asked about.
    detect: str | None = None  # the detect_incidents item
    question_day: str | None = None
    asked_day_detect: str | None = None  # the asked day's scan, when it held no serious one
    asked_day_incident: str | None = None  # the most severe on that day, all of them low
    incident: str | None = None
    primary_cohort: str | None = None
    severity_label: str | None = None
    slices: str | None = None  # the top_slices item
    top_slice: str | None = None
    slice_metric_label: str | None = None
    focus: Focus | None = None
    # The worst_stretch item that narrowed the first site's tests to part of the incident window.
    stretch: str | None = None
    asked_metric: AskedMetric | None = None
    # rank: the ranked causes.
    rank: str | None = None  # the rank_causes item
    causes: tuple[CauseFact, ...] = ()
    ruled_out: tuple[str, ...] = ()
    not_testable: tuple[NotTestableFact, ...] = ()
    # recommend and plan.
    recommend: str | None = None  # the recommend_actions item
    recommendations: tuple[RecommendationFact, ...] = ()
    plan: str | None = None  # the experiment_plan item

    @classmethod
    def of(cls, state: dict[str, Any] | None) -> Facts:
        """The facts a graph state holds (as JSON)."""
        return cls.model_validate(state or {})

    def extended(self, **found: Any) -> dict[str, Any]:
        """These facts with what a node found, validated, as the graph state keeps them."""
        return self.model_validate({**self.model_dump(), **found}).state()

    def state(self) -> dict[str, Any]:
        """As the graph state keeps them: JSON, without the fields no node set."""
        return self.model_dump(mode="json", exclude_defaults=True)
