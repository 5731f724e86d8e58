"""Scoring one agent answer against a scenario's expected findings and the measured truth.

Pure functions over the agent's JSON answer (the `--json` contract) and what the runner measured
in the world; every check that fails becomes a miss saying what was expected and what was got.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field, computed_field

from evals.detection import DelayResult, FalseAlarms
from evals.exact_impact import ExactImpact
from evals.suite import SuiteCase
from evals.whatif_accuracy import WhatIfCheck

COUNTED = ("supported", "weak")  # statuses that make a ranked cause a finding
INCIDENT_PATH = (
    "parse_question", "detect", "hypothesize", "gather_evidence", "rank", "recommend", "plan",
    "narrate", "check_grounding",
)  # fmt: skip
NO_INCIDENT_PATH = ("parse_question", "detect", "narrate", "check_grounding")
FOLLOW_UP_PATH = ("parse_question", "answer", "narrate", "check_grounding")
# With an LLM the tool loop answers: a diagnosis runs the investigation's nodes inside it.
LLM_INCIDENT_PATH = (*INCIDENT_PATH[:-2], "tool_loop", "check_grounding")
LLM_NO_INCIDENT_PATH = ("parse_question", "detect", "tool_loop", "check_grounding")
INCIDENT_KEYS = ("id", "start", "severity_label", "metric", "cohort")
# Checks that fail with the incident when none is reported: one miss line says it for all.
FOLLOWS_THE_INCIDENT = ("top1", "top_k", "slice", "plan", "recommendation", "trajectory")
PLAN_SECTIONS = (
    "Hypothesis", "Primary metrics", "Secondary metrics", "Guardrails", "Unit of randomization",
    "Duration and sample size", "Rollout plan", "Monitoring checklist", "Rollback criteria",
)  # fmt: skip


class Measured(BaseModel):
    """What the runner measured in the world, beside the agent's answer."""

    incident_on_cause: bool | None = None  # the reported incident overlaps the true cause
    slice_jaccard: float | None = None  # top slice vs the truly affected orders
    union_jaccard: float | None = None  # all reported slices vs the truly affected orders
    truth_orders: int | None = None  # truly affected orders in the incident window
    slice_orders: int | None = None  # orders of the top slice in the incident window
    delay: DelayResult | None = None
    false_alarms: FalseAlarms | None = None  # null worlds only
    whatif: WhatIfCheck | None = None
    whatif_note: str = ""  # why there is no what-if check
    exact_impact: ExactImpact | None = None  # the causes' loss against the counterfactual world


class Timings(BaseModel):
    """Wall seconds of one scenario's stages."""

    generate: float = 0.0  # world and counterfactual generation (0 when cached)
    agent: float = 0.0  # the question (and the follow-up)
    scoring: float = 0.0  # replay, slice overlap, counterfactual metrics
    total: float = 0.0
    cpu: float = 0.0  # CPU seconds of the worker over the whole scenario (all its threads)


class ScenarioScore(BaseModel):
    """One scenario's findings against its expectations."""

    name: str
    source: str
    orders_per_day: int
    question: str
    expected_causes: list[str]
    expected_slice: dict[str, list[str | int]] | None
    backend: str = ""
    incident: dict[str, Any] | None = None  # id, start, severity_label, metric, cohort
    found_causes: list[str] = Field(default_factory=list)  # supported or weak, in rank order
    ranking: list[str] = Field(default_factory=list)  # "kind status confidence: reasons"
    top1: bool | None = None
    top2: bool | None = None
    found_slice: dict[str, Any] | None = None
    top_action: str | None = None
    recommendation_relevant: bool | None = None
    grounding_numbers: int = 0
    grounding_grounded: int = 0
    grounding_ok: bool = False
    plan_sections: int = 0
    plan_complete: bool | None = None
    trajectory: list[str] = Field(default_factory=list)
    node_seconds: dict[str, float] = Field(default_factory=dict)  # summed per node
    follow_up_trajectory: list[str] | None = None
    measured: Measured = Field(default_factory=Measured)
    timings: Timings = Field(default_factory=Timings)
    checks: dict[str, bool] = Field(default_factory=dict)  # the gating checks
    misses: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    answer: str = ""  # the narrative
    error: str | None = None  # the run failed before it could be scored

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        return self.error is None and all(self.checks.values())


def counted_causes(answer: dict[str, Any]) -> list[str]:
    """Cause kinds the agent holds (supported or weak), in its rank order."""
    return [c["kind"] for c in answer.get("causes") or [] if c.get("status") in COUNTED]


def _follow_up_path_ok(path: list[str], backend: str) -> bool:
    """Offline, a follow-up takes the answer path; with an LLM, the tool loop (or, when the
    model does not answer it, the offline path after the loop)."""
    if backend == "openai":
        return path[:2] == ["parse_question", "tool_loop"] and path[-1] == "check_grounding"
    return tuple(path) == FOLLOW_UP_PATH


def collapse_retries(nodes: list[str]) -> list[str]:
    """The node path with repeated narrate -> check_grounding rounds counted once."""
    path: list[str] = []
    for node in nodes:
        if node == "narrate" and path[-2:] == ["narrate", "check_grounding"]:
            del path[-2:]
        path.append(node)
    return path


def trajectory(answer: dict[str, Any] | None) -> list[str]:
    """The nodes an answer went through, in order."""
    return [step["node"] for step in (answer or {}).get("trace") or []]


def node_seconds(answer: dict[str, Any]) -> dict[str, float]:
    """Seconds spent in each node of an answer (summed over retries)."""
    seconds: dict[str, float] = {}
    for step in answer.get("trace") or []:
        seconds[step["node"]] = round(seconds.get(step["node"], 0.0) + step["seconds"], 3)
    return seconds


def plan_sections_present(markdown: str | None) -> int:
    """How many of the required experiment-plan sections a plan has (as `## ` headings)."""
    headings = {m.strip().lower() for m in re.findall(r"^##\s+(.+)$", markdown or "", re.M)}
    return sum(section.lower() in headings for section in PLAN_SECTIONS)


def is_top(found: list[str], expected: list[str], ordered: bool) -> bool:
    if not found or not expected:
        return False
    return found[0] == expected[0] if ordered else found[0] in expected


def score(
    case: SuiteCase,
    answer: dict[str, Any],
    follow_answer: dict[str, Any] | None,
    measured: Measured,
) -> ScenarioScore:
    """Score an answer (and its follow-up) against the case's expectations."""
    expected = case.expected
    incident = answer.get("incident")
    found = counted_causes(answer)
    recommendations = answer.get("recommendations") or []
    slices = (incident or {}).get("slices") or []
    grounding = answer.get("grounding") or {}
    result = ScenarioScore(
        name=case.name,
        source=case.source,
        orders_per_day=case.scenario.orders_per_day,
        question=expected.question,
        expected_causes=list(expected.causes),
        expected_slice=expected.slice,
        backend=str(answer.get("backend", "")),
        incident=(
            {
                key: incident.get(key)
                for key in ("id", "start", "severity_label", "metric", "cohort")
            }
            if incident
            else None
        ),
        found_causes=found,
        ranking=[
            f"{c['kind']} {c.get('status')} {c.get('confidence', 0):.2f}: "
            + "; ".join(c.get("reasons") or [])
            for c in answer.get("causes") or []
        ],
        found_slice=slices[0]["filters"] if slices else None,
        top_action=recommendations[0]["action"] if recommendations else None,
        grounding_numbers=int(grounding.get("numbers", 0)),
        grounding_grounded=int(grounding.get("grounded", 0)),
        grounding_ok=bool(grounding.get("ok")),
        plan_sections=plan_sections_present(answer.get("experiment_plan")),
        trajectory=trajectory(answer),
        node_seconds=node_seconds(answer),
        follow_up_trajectory=trajectory(follow_answer) if follow_answer is not None else None,
        measured=measured,
        notes=[str(note) for note in answer.get("notes") or []],
        answer=str(answer.get("answer") or ""),
    )
    checks, misses = result.checks, result.misses

    unanswered = expected.incident and incident is None

    def check(name: str, ok: bool, miss: str) -> None:
        checks[name] = ok
        if not ok and not (unanswered and name in FOLLOWS_THE_INCIDENT):
            misses.append(f"{name}: {miss}")

    if expected.incident:
        check(
            "incident",
            incident is not None and bool(measured.incident_on_cause),
            "expected an incident on the true cause; got "
            + (f"{incident.get('id')} ({incident.get('cohort')})" if incident else "none")
            + (
                " (so no causes, slice, recommendation or plan)"
                if incident is None
                else ("" if measured.incident_on_cause else ", not on the cause")
            ),
        )
        result.top1 = is_top(found, expected.causes, expected.ordered)
        k = max(2, len(expected.causes))
        result.top2 = all(kind in found[:k] for kind in expected.causes)
        want = expected.causes[0] if expected.ordered else " or ".join(expected.causes)
        check("top1", result.top1, f"expected {want} first; got {found[:3] or 'no cause'}")
        if len(expected.causes) > 1:
            check(
                "top_k",
                result.top2,
                f"expected {expected.causes} in the top {k}; got {found[:k] or 'no cause'}",
            )
        if expected.min_slice_jaccard is not None:
            jaccard = measured.slice_jaccard
            check(
                "slice",
                jaccard is not None and jaccard >= expected.min_slice_jaccard,
                f"expected Jaccard >= {expected.min_slice_jaccard} with the true orders"
                f" ({expected.slice}); got "
                + ("no slice" if jaccard is None else f"{jaccard:.2f} for {result.found_slice}"),
            )
        if expected.max_detection_delay_hours is not None:
            delay = measured.delay.hours if measured.delay else None
            check(
                "detection",
                delay is not None and delay <= expected.max_detection_delay_hours,
                f"expected an alarm within {expected.max_detection_delay_hours:g} h; got "
                + ("none in the replay" if delay is None else f"{delay:g} h"),
            )
        result.plan_complete = plan_sections_present(answer.get("experiment_plan")) == len(
            PLAN_SECTIONS
        )
        check(
            "plan",
            result.plan_complete,
            f"expected all {len(PLAN_SECTIONS)} plan sections; got {result.plan_sections}",
        )
        path = LLM_INCIDENT_PATH if result.backend == "openai" else INCIDENT_PATH
    else:
        serious = measured.false_alarms.serious if measured.false_alarms else 0
        check(
            "no_incident",
            incident is None and serious == 0,
            f"expected no incident; the agent reported {incident.get('id') if incident else 'none'}"
            f" and the scan holds {serious} medium+ incident(s)",
        )
        path = LLM_NO_INCIDENT_PATH if result.backend == "openai" else NO_INCIDENT_PATH
    if expected.ruled_out:
        held = [kind for kind in expected.ruled_out if kind in found]
        check("decoy", not held, f"expected {expected.ruled_out} ruled out; still held: {held}")
    if expected.actions:
        top = recommendations[0] if recommendations else None
        result.recommendation_relevant = top is not None and top["action"] in expected.actions
        check(
            "recommendation",
            result.recommendation_relevant,
            f"expected the top action in {expected.actions}; got {result.top_action}",
        )
    check(
        "grounding",
        result.grounding_ok and result.grounding_grounded == result.grounding_numbers,
        f"{result.grounding_grounded}/{result.grounding_numbers} numbers grounded; "
        f"problems: {grounding.get('problems')}",
    )
    got_path = collapse_retries(result.trajectory)
    check("trajectory", tuple(got_path) == path, f"expected {list(path)}; got {got_path}")
    if expected.follow_up is not None:
        follow = follow_answer or {}
        follow_grounding = follow.get("grounding") or {}
        follow_path = collapse_retries(result.follow_up_trajectory or [])
        check(
            "follow_up",
            bool(follow.get("answer"))
            and bool(follow_grounding.get("ok"))
            and _follow_up_path_ok(follow_path, result.backend),
            f"expected a grounded answer via {list(FOLLOW_UP_PATH)}; got {follow_path}, "
            f"grounding ok {follow_grounding.get('ok')}",
        )
    return result
