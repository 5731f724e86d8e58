"""Scoring hand-made answers against expected findings: every check and the misses it reports."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from data.scenario import parse_scenario
from evals.detection import DelayResult, FalseAlarms, cohort_in_scope, on_intervention
from evals.localization import Overlap
from evals.proportions import Proportion, wilson_interval
from evals.report import build_report, markdown
from evals.scoring import (
    INCIDENT_PATH,
    NO_INCIDENT_PATH,
    PLAN_SECTIONS,
    Measured,
    collapse_retries,
    plan_sections_present,
    score,
)
from evals.suite import ExpectedFindings, SuiteCase
from evals.whatif_accuracy import WhatIfCheck

SCENARIO = parse_scenario(
    {
        "name": "unit",
        "start": "2025-12-06",
        "days": 10,
        "orders_per_day": 100,
        "interventions": [
            {"kind": "batching_threshold", "onset": "2025-12-12T10:00", "magnitude": 0.0,
             "logged": True},
            {"kind": "dasher_shortage", "onset": "2025-12-12T17:00"},
        ],
    }
)  # fmt: skip
EXPECTED = ExpectedFindings(
    question="why did CX drop on Dec 12?",
    causes=["dasher_shortage"],
    ruled_out=["batching_threshold"],
    actions=["peak_pay"],
    max_detection_delay_hours=6,
    min_slice_jaccard=0.5,
)
CASE = SuiteCase("unit", SCENARIO, EXPECTED, "unit test")
PLAN = "\n".join(f"## {section}\n\ntext\n" for section in PLAN_SECTIONS)
GOOD_MEASURED = Measured(
    incident_on_cause=True,
    slice_jaccard=0.8,
    delay=DelayResult(hours=2.0, metric="on_time_rate", cohort="region=west", scans=3),
)


def _answer(**overrides: Any) -> dict[str, Any]:
    answer = {
        "answer": "CX fell [E1].",
        "incident": {"id": "INC-1", "start": "2025-12-12T17:00:00", "cohort": "region=west",
                     "slices": [{"filters": {"region": ["west"]}, "delta": -0.1, "orders": 9}]},
        "causes": [
            {"kind": "dasher_shortage", "status": "supported", "confidence": 0.9},
            {"kind": "batching_threshold", "status": "ruled_out", "confidence": 0.0},
        ],
        "recommendations": [{"action": "peak_pay"}],
        "experiment_plan": PLAN,
        "grounding": {"numbers": 4, "grounded": 4, "ok": True},
        "trace": [{"node": node, "seconds": 0.1, "tool_calls": []} for node in INCIDENT_PATH],
    }  # fmt: skip
    return answer | overrides


def test_a_right_answer_passes_every_check() -> None:
    result = score(CASE, _answer(), None, GOOD_MEASURED)
    assert result.passed, result.misses
    assert result.top1 and result.top2 and result.recommendation_relevant
    assert set(result.checks) == {
        "incident", "top1", "slice", "detection", "plan", "decoy", "recommendation", "grounding",
        "trajectory",
    }  # fmt: skip


def test_a_held_decoy_is_a_miss_even_when_the_true_cause_leads() -> None:
    causes = [
        {"kind": "dasher_shortage", "status": "supported", "confidence": 0.9},
        {"kind": "batching_threshold", "status": "weak", "confidence": 0.4},
    ]
    result = score(CASE, _answer(causes=causes), None, GOOD_MEASURED)
    assert result.top1 and not result.checks["decoy"]
    assert result.misses == ["decoy: expected ['batching_threshold'] ruled out; still held: "
                             "['batching_threshold']"]  # fmt: skip


def test_a_wrong_leading_cause_misses_top1_and_says_what_was_found() -> None:
    causes = [{"kind": "batching_threshold", "status": "supported", "confidence": 0.9}]
    result = score(CASE, _answer(causes=causes), None, GOOD_MEASURED)
    assert result.top1 is False and not result.passed
    assert "top1: expected dasher_shortage first; got ['batching_threshold']" in result.misses


def test_ruled_out_causes_are_not_findings() -> None:
    causes = [
        {"kind": "batching_threshold", "status": "ruled_out", "confidence": 0.0},
        {"kind": "dasher_shortage", "status": "weak", "confidence": 0.3},
    ]
    result = score(CASE, _answer(causes=causes), None, GOOD_MEASURED)
    assert result.found_causes == ["dasher_shortage"] and result.top1


def test_late_detection_a_poor_slice_and_an_ungrounded_number_are_misses() -> None:
    measured = GOOD_MEASURED.model_copy(
        update={"slice_jaccard": 0.2, "delay": DelayResult(hours=None, scans=25)}
    )
    grounding = {"numbers": 4, "grounded": 3, "ok": False, "problems": ["7 min"]}
    result = score(CASE, _answer(grounding=grounding), None, measured)
    assert {name for name, ok in result.checks.items() if not ok} == {
        "slice", "detection", "grounding",
    }  # fmt: skip


def test_unordered_causes_accept_either_leader_but_need_both_in_the_top_two() -> None:
    two = parse_scenario(
        {"name": "two", "start": "2025-12-06", "days": 10, "orders_per_day": 100,
         "interventions": [{"kind": "eta_model_bias", "onset": "2025-12-12T09:00"},
                           {"kind": "prep_time_drift", "onset": "2025-12-12T09:00"}]}
    )  # fmt: skip
    expected = ExpectedFindings(
        question="why?", causes=["eta_model_bias", "prep_time_drift"], ordered=False,
        min_slice_jaccard=None, max_detection_delay_hours=None,
    )  # fmt: skip
    case = SuiteCase("two", two, expected, "unit test")
    both = [{"kind": k, "status": "supported", "confidence": 0.5}
            for k in ("prep_time_drift", "eta_model_bias")]  # fmt: skip
    assert score(case, _answer(causes=both), None, GOOD_MEASURED).passed
    one = both[:1] + [{"kind": "eta_model_bias", "status": "ruled_out", "confidence": 0.0}]
    result = score(case, _answer(causes=one), None, GOOD_MEASURED)
    assert result.top1 and not result.checks["top_k"]


def test_a_null_world_passes_only_with_no_incident_reported_and_none_serious_in_the_scan() -> None:
    null = parse_scenario(
        {"name": "null", "start": "2025-12-06", "days": 10, "orders_per_day": 100}
    )
    case = SuiteCase("null", null, ExpectedFindings(question="why?", incident=False), "unit")
    quiet = _answer(
        incident=None, causes=[], recommendations=[], experiment_plan=None,
        trace=[{"node": n, "seconds": 0.1, "tool_calls": []} for n in NO_INCIDENT_PATH],
    )  # fmt: skip
    calm = Measured(false_alarms=FalseAlarms(incidents=1, serious=0, per_30_days=0.0))
    assert score(case, quiet, None, calm).passed
    alarmed = Measured(false_alarms=FalseAlarms(incidents=2, serious=1, per_30_days=3.0))
    assert not score(case, quiet, None, alarmed).passed
    assert not score(case, _answer(), None, calm).passed


def test_narration_retries_collapse_to_the_expected_path() -> None:
    nodes = [*INCIDENT_PATH, "narrate", "check_grounding"]
    assert collapse_retries(nodes) == list(INCIDENT_PATH)
    assert collapse_retries(["detect", "narrate", "detect"]) == ["detect", "narrate", "detect"]


def test_plan_completeness_counts_the_required_headings() -> None:
    assert plan_sections_present(PLAN) == len(PLAN_SECTIONS)
    assert plan_sections_present("# Plan\n\n## Hypothesis\n\n## Guardrails\n") == 2
    assert plan_sections_present(None) == 0


def test_wilson_interval_holds_the_rate_and_stays_inside_zero_one() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(47, 50)
    assert low < 47 / 50 < high
    assert (low, high) == pytest.approx((0.8378, 0.9794), abs=1e-4)
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert Proportion.of(3, 4).text().startswith("3/4 = 75.0%")


def test_jaccard_and_scope_helpers() -> None:
    assert Overlap(truth=10, selected=10, both=10).jaccard == 1.0
    assert Overlap(truth=10, selected=30, both=10).jaccard == pytest.approx(1 / 3)
    assert Overlap(truth=0, selected=0, both=0).jaccard == 0.0
    scope = {"region": ["west"], "hours": [17, 18]}
    assert cohort_in_scope("region=west", scope) and cohort_in_scope("category=grocery", scope)
    assert not cohort_in_scope("region=east", scope) and cohort_in_scope("all", scope)
    assert cohort_in_scope("region=west,category=grocery", scope)
    assert not cohort_in_scope("region=east,category=grocery", scope)
    assert not cohort_in_scope("region=west,category=retail", {"category": ["grocery"]})

    class Incident:
        start = dt.datetime(2025, 12, 12, 18)
        end = None
        cohorts = ("region=east", "region=west")

    affected = (dt.datetime(2025, 12, 12, 17), dt.datetime(2025, 12, 16))
    assert on_intervention(Incident(), affected, scope)
    assert not on_intervention(Incident(), (affected[0], Incident.start), scope)


def test_whatif_coverage_and_the_markdown_report() -> None:
    check = WhatIfCheck(action="peak_pay", undoes=["dasher_shortage"], estimate=2.0, low=1.5,
                        high=2.5, exact=2.7)  # fmt: skip
    assert not check.covered and check.error == pytest.approx(-0.7)
    measured = GOOD_MEASURED.model_copy(update={"whatif": check})
    result = score(CASE, _answer(), None, measured)
    report = build_report([result], 12.0, command="cxagent eval", mode="suite",
                          backend="offline", model=None, source="unit", jobs=1)  # fmt: skip
    assert report.summary.whatif_coverage.hits == 0 and report.summary.top1.hits == 1
    text = markdown(report)
    assert "| unit | shortage | shortage |" in text and "OUT" in text
    assert "## Misses\n\nnone" in text
