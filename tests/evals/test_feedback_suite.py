"""`cxagent eval --suite feedback`: each incident's latest feedback on a small world becomes a
question scored top-1 against the cause users confirmed or named; 'not quite' is informational."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data.scenario import Scenario
from evals.feedback import feedback_cases, question_for
from tools.detection import IncidentSummary
from watching.feedback import Feedback, FeedbackStore

DEMO_INCIDENT = "INC-20260104-1800"


def _incident(**fields: object) -> IncidentSummary:
    values: dict[str, object] = {
        "incident_id": DEMO_INCIDENT, "grain": "hour", "start": dt.datetime(2026, 1, 4, 18),
        "end": None, "detected_at": dt.datetime(2026, 1, 4, 19), "detection_delay_hours": 1.0,
        "metrics": ["on_time_rate"], "cohorts": ["category=grocery"],
        "primary_metric": "on_time_rate", "primary_cohort": "category=grocery",
        "slice_metric": "on_time_rate", "impact_orders": 100.0, "severity": 80.0,
        "severity_label": "high", "peak_z": 6.0, "cx_expected": 90.0, "cx_observed": 80.0,
        **fields,
    }  # fmt: skip
    return IncidentSummary.model_validate(values)


@pytest.mark.parametrize(
    ("fields", "question"),
    [
        ({}, "why did on-time rate drop on Jan 4 in grocery?"),
        (
            {"primary_metric": "cx_score", "primary_cohort": "region=central,daypart=late_night"},
            "why did CX drop on Jan 4 in central late night?",
        ),
        ({"primary_metric": "cancellation_rate", "primary_cohort": "all"},
         "why did cancellation rate go up on Jan 4?"),
    ],
)  # fmt: skip
def test_the_question_names_the_metric_the_day_and_the_cohort(
    fields: dict[str, object], question: str
) -> None:
    assert question_for(_incident(**fields)) == question


def test_cases_expect_the_cause_named_not_quite_is_informational_unknown_skipped() -> None:
    other = "INC-20260102-0600"
    latest = {
        DEMO_INCIDENT: Feedback(
            incident_id=DEMO_INCIDENT, verdict="wrong", correct_cause="prep_time_drift"
        ),
        other: Feedback(incident_id=other, verdict="not_quite", judged_cause="inventory_drop"),
        "INC-19990101-0000": Feedback(incident_id="INC-19990101-0000", verdict="right"),
    }

    cases, skipped = feedback_cases(latest, [_incident(), _incident(incident_id=other)])

    assert [(c.incident_id, c.expected_cause, c.scored) for c in cases] == [
        (other, None, False),
        (DEMO_INCIDENT, "prep_time_drift", True),
    ]
    assert skipped == ["INC-19990101-0000: not an incident the world's detection reports"]


def test_eval_suite_feedback_scores_the_latest_feedback_of_each_incident(
    small_scenario: Callable[..., Scenario],
    make_world: Callable[[Scenario], Path],
    tmp_path: Path,
) -> None:
    from cxagent.cli import app

    world = tmp_path / "world"
    shutil.copytree(make_world(small_scenario("demo")), world)
    store = FeedbackStore.open(world)
    store.add(Feedback(incident_id=DEMO_INCIDENT, verdict="not_quite", comment="first look"))
    store.add(
        Feedback(incident_id=DEMO_INCIDENT, verdict="right", judged_cause="batching_threshold")
    )
    report = tmp_path / "feedback.json"

    result = CliRunner().invoke(
        app, ["eval", "--suite", "feedback", "--world", str(world), "--json", str(report)]
    )

    assert result.exit_code == 0, result.output
    assert "top-1 1/1 (100%) on scored cases; 0 informational" in result.output
    written = json.loads(report.read_text())
    (case,) = written["cases"]
    assert case["case"]["question"] == "why did on-time rate drop on Jan 4 in grocery?"
    assert case["top_cause"] == "batching_threshold"
    assert case["top1"] is True and case["same_incident"] is True
    assert report.with_suffix(".md").read_text().startswith("# Feedback suite:")


def test_eval_suite_feedback_without_a_world_is_a_usage_error(tmp_path: Path) -> None:
    from cxagent.cli import app

    result = CliRunner().invoke(app, ["eval", "--suite", "feedback", "--world", str(tmp_path)])

    assert result.exit_code == 2
    assert "no world" in result.output
