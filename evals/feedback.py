"""The feedback suite: each incident's latest user feedback on a world becomes an eval case.

The case asks the agent "why did <metric> drop on <day> in <cohort>?" and expects, as its top
cause, the cause users confirmed (verdict right) or named instead (wrong + a cause kind).
Feedback that names no cause of the library (not quite; wrong with 'other' or none) is run and
recorded, but informational: it has no expected cause to score.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from rich.table import Table

from agent.service import Agent
from agent.settings import AgentSettings
from analytics.incidents import cohort_filters
from analytics.metrics import CX_SCORE, METRICS
from tools.base import ToolContext
from tools.detection import IncidentSummary
from watching.feedback import Feedback, FeedbackStore

# The cohort words the question reader understands, by dimension ('{}': the value).
COHORT_WORDS = {
    "region": "{}",
    "category": "{}",
    "daypart": "{}",
    "basket_size": "{} basket",
    "hour": "at {}:00",
    "store": "at store {}",
}


class FeedbackCase(BaseModel):
    """One incident's latest feedback as a question with an expected top cause."""

    incident_id: str
    question: str
    start: dt.datetime
    verdict: str
    judged_cause: str | None = None
    expected_cause: str | None = Field(default=None, description="None: informational")
    comment: str = ""

    @property
    def scored(self) -> bool:
        return self.expected_cause is not None


class FeedbackResult(BaseModel):
    """What the agent answered to a case."""

    case: FeedbackCase
    top_cause: str | None = None
    answered_start: dt.datetime | None = Field(
        default=None, description="the start of the incident the answer diagnosed"
    )
    seconds: float = 0.0
    error: str | None = None

    @property
    def top1(self) -> bool | None:
        """Whether the top cause is the expected one (None for an informational case)."""
        return self.top_cause == self.case.expected_cause if self.case.scored else None

    @property
    def same_incident(self) -> bool:
        return self.answered_start == self.case.start


class FeedbackReport(BaseModel):
    """The suite's results on one world, with top-1 accuracy over the scored cases."""

    world: str
    backend: str
    results: list[FeedbackResult]
    skipped: list[str] = Field(default_factory=list, description="feedback with no case, why")
    seconds: float = 0.0

    @property
    def scored(self) -> list[FeedbackResult]:
        return [r for r in self.results if r.case.scored]

    @property
    def top1_rate(self) -> float | None:
        scored = self.scored
        return sum(bool(r.top1) for r in scored) / len(scored) if scored else None

    @property
    def passed(self) -> bool:
        return all(r.top1 for r in self.scored)


def question_for(incident: IncidentSummary) -> str:
    """'why did on-time rate drop on Jan 4 in grocery?' for an incident."""
    metric = incident.primary_metric
    if metric == CX_SCORE:
        phrase, verb = "CX", "drop"
    else:
        spec = METRICS[metric]
        phrase = spec.label.split(" (")[0].lower()
        verb = "drop" if spec.higher_is_better else "go up"
    words = [
        COHORT_WORDS.get(dimension, "{}").format(value.replace("_", " "))
        for dimension, value in cohort_filters(incident.primary_cohort).items()
    ]
    cohort = f" in {' '.join(words)}" if words else ""
    return f"why did {phrase} {verb} on {incident.start:%b} {incident.start.day}{cohort}?"


def feedback_cases(
    feedback: dict[str, Feedback], incidents: list[IncidentSummary]
) -> tuple[list[FeedbackCase], list[str]]:
    """A case per incident with feedback (its latest), and why any feedback made no case."""
    by_id = {incident.incident_id: incident for incident in incidents}
    cases, skipped = [], []
    for incident_id, latest in sorted(feedback.items()):
        incident = by_id.get(incident_id)
        if incident is None:
            skipped.append(f"{incident_id}: not an incident the world's detection reports")
            continue
        cases.append(
            FeedbackCase(
                incident_id=incident_id,
                question=question_for(incident),
                start=incident.start,
                verdict=latest.verdict,
                judged_cause=latest.judged_cause,
                expected_cause=latest.expected_cause,
                comment=latest.comment,
            )
        )
    return cases, skipped


def run_feedback_suite(
    world_dir: Path, llm: Literal["offline", "openai"] = "offline"
) -> FeedbackReport:
    """Build the cases from the world's feedback and ask the agent each one (a thread per case)."""
    started = time.perf_counter()
    agent = Agent(world_dir, AgentSettings(llm=llm))
    try:
        context = ToolContext(world_dir=agent.world_dir, shared=agent.shared)
        detection, _ = context.call("detect_incidents", {"grain": "hour"})
        context.close()
        latest = FeedbackStore.open(world_dir).latest_by_incident()
        cases, skipped = feedback_cases(latest, list(detection.incidents))
        results = [_ask(agent, case) for case in cases]
    finally:
        agent.close()
    return FeedbackReport(
        world=str(world_dir),
        backend=llm,
        results=results,
        skipped=skipped,
        seconds=time.perf_counter() - started,
    )


def _ask(agent: Agent, case: FeedbackCase) -> FeedbackResult:
    began = time.perf_counter()
    try:
        answer: dict[str, Any] = agent.ask(case.question, thread_id=f"feedback-{case.incident_id}")
    except Exception as error:  # noqa: BLE001  (a failed case is a miss, not a failed suite)
        return FeedbackResult(case=case, error=repr(error), seconds=time.perf_counter() - began)
    causes = answer.get("causes") or []
    incident = answer.get("incident") or {}
    return FeedbackResult(
        case=case,
        top_cause=causes[0]["kind"] if causes else None,
        answered_start=incident.get("start"),
        seconds=time.perf_counter() - began,
    )


def table_rows(report: FeedbackReport) -> list[dict[str, str]]:
    """The printed table's rows: one per case."""
    rows = []
    for result in report.results:
        case = result.case
        verdict = {True: "pass", False: "MISS", None: "info"}[result.top1]
        rows.append(
            {
                "incident": case.incident_id,
                "feedback": case.verdict.replace("_", " "),
                "expected": case.expected_cause or "-",
                "top cause": result.top_cause or (result.error and "error") or "none",
                "same incident": "yes" if result.same_incident else "no",
                "top-1": verdict,
                "seconds": f"{result.seconds:.1f}",
            }
        )
    return rows


def console_table(report: FeedbackReport) -> Table:
    """The case table for the terminal; misses in red."""
    table = Table(title=f"cxagent eval (feedback, {report.backend})", padding=(0, 1))
    rows = table_rows(report)
    for column in rows[0] if rows else ("incident", "feedback", "expected", "top cause"):
        table.add_column(column, no_wrap=column == "incident")
    for row in rows:
        table.add_row(*row.values(), style="red" if row["top-1"] == "MISS" else None)
    return table


def summary_line(report: FeedbackReport) -> str:
    """'top-1 2/3 (67%) on scored cases; 1 informational; 0 skipped; 12 s'."""
    scored = report.scored
    hits = sum(bool(r.top1) for r in scored)
    rate = f" ({100 * report.top1_rate:.0f}%)" if report.top1_rate is not None else ""
    informational = len(report.results) - len(scored)
    return (
        f"top-1 {hits}/{len(scored)}{rate} on scored cases; {informational} informational; "
        f"{len(report.skipped)} skipped; {report.seconds:.0f} s"
    )


def markdown_report(report: FeedbackReport) -> str:
    """The report as Markdown: the summary line and the table."""
    rows = table_rows(report)
    lines = [f"# Feedback suite: {report.world}", "", summary_line(report), ""]
    if rows:
        header = list(rows[0])
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row[k] for k in header) + " |" for row in rows]
    lines += [f"- skipped {reason}" for reason in report.skipped]
    return "\n".join(lines) + "\n"


def json_report(report: FeedbackReport) -> dict[str, Any]:
    """The report as JSON: the summary figures and, per case, the case and the answer."""
    return {
        "world": report.world,
        "backend": report.backend,
        "summary": {
            "scored": len(report.scored),
            "top1_correct": sum(bool(r.top1) for r in report.scored),
            "top1_rate": report.top1_rate,
            "informational": len(report.results) - len(report.scored),
            "skipped": report.skipped,
            "seconds": round(report.seconds, 2),
        },
        "cases": [
            {**r.model_dump(mode="json"), "top1": r.top1, "same_incident": r.same_incident}
            for r in report.results
        ],
    }
