"""Similar past incidents: ranked by shared slice, cause kind and change, with outcome and
feedback; later incidents, disjoint slices and strangers are left out."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest

from watching.feedback import Feedback
from watching.similar import (
    IncidentRecord,
    changes_near,
    cohort_filters,
    outcome,
    similar_incidents,
    slice_overlap,
)

DAY = dt.datetime(2026, 1, 4, 18)


def record(incident_id: str, days_before: float, **fields: Any) -> IncidentRecord:
    start = DAY - dt.timedelta(days=days_before)
    values: dict[str, Any] = {
        "incident_id": incident_id,
        "start": start,
        "detected_at": start + dt.timedelta(hours=1),
        "metric": "on_time_rate",
        "cohort": "category=grocery",
        "severity_label": "medium",
        **fields,
    }
    return IncidentRecord(**values)


NEW = record(
    "INC-NEW",
    0,
    top_slice_filters={"category": ["grocery"], "hour": [18, 19, 20]},
    top_cause="batching_threshold",
    change_ids=["C1"],
)


def test_cohort_strings_become_filters() -> None:
    assert cohort_filters("region=central,category=grocery") == {
        "region": ["central"],
        "category": ["grocery"],
    }
    assert cohort_filters("all") == {}


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ({"category": ["grocery"]}, {"category": ["grocery"]}, 1.0),
        ({"category": ["grocery"]}, {"category": ["retail"]}, 0.0),
        ({"category": ["grocery"], "hour": [18]}, {"category": ["grocery"]}, 0.75),
        ({"hour": [18, 19]}, {"hour": [19, 20]}, pytest.approx(1 / 3)),
        ({"region": ["east"]}, {"category": ["grocery"]}, 0.0),
        ({}, {}, 0.0),
    ],
)
def test_slice_overlap_is_zero_for_disjoint_slices_and_one_for_the_same(
    first: dict[str, list[Any]], second: dict[str, list[Any]], expected: float
) -> None:
    assert slice_overlap(first, second) == expected


def test_the_incident_sharing_slice_cause_and_change_ranks_first() -> None:
    earlier = [
        record("INC-SLICE", 10, top_slice_filters={"category": ["grocery"]}),
        record(
            "INC-ALL",
            20,
            top_slice_filters={"category": ["grocery"], "hour": [18, 19, 20]},
            top_cause="batching_threshold",
            change_ids=["C1"],
            end=DAY - dt.timedelta(days=20) + dt.timedelta(hours=30),
        ),
        record("INC-CAUSE", 5, cohort="region=east", top_cause="batching_threshold"),
    ]

    found = similar_incidents(NEW, earlier, {})

    assert [s.incident_id for s in found] == ["INC-ALL", "INC-CAUSE", "INC-SLICE"]
    best = found[0]
    assert best.reasons == [
        "same slice: category=grocery, hour=18/19/20",
        "same cause: batching_threshold",
        "same change: C1",
    ]
    assert best.outcome == "resolved after 30 h"
    assert best.top_cause == "batching_threshold"
    assert found[2].reasons == ["overlapping slice: category=grocery"]
    assert found[2].outcome == "still open"


def test_later_disjoint_and_unrelated_incidents_are_left_out() -> None:
    earlier = [
        record("INC-LATER", -1, top_cause="batching_threshold"),
        NEW,
        record("INC-RETAIL", 3, cohort="category=retail", top_cause="prep_time_drift"),
        record("INC-EAST", 3, cohort="region=east", metric="on_time_rate"),
    ]

    assert similar_incidents(NEW, earlier, {}) == []


def test_feedback_on_an_earlier_incident_comes_with_it() -> None:
    earlier = [record("INC-OLD", 7, top_cause="batching_threshold")]
    said = Feedback(
        incident_id="INC-OLD",
        verdict="wrong",
        judged_cause="batching_threshold",
        correct_cause="dasher_shortage",
    )

    found = similar_incidents(NEW, earlier, {"INC-OLD": said})

    assert found[0].feedback == "cause wrong, was dasher_shortage"


def test_at_most_the_limit_most_recent_first_among_equals() -> None:
    earlier = [record(f"INC-{n}", n, top_cause="batching_threshold") for n in range(1, 6)]

    found = similar_incidents(NEW, earlier, limit=2)

    assert [s.incident_id for s in found] == ["INC-1", "INC-2"]


def test_an_incident_that_ended_after_the_new_one_was_detected_was_still_open() -> None:
    old = record("INC-OLD", 1, end=DAY + dt.timedelta(days=1))

    assert outcome(old, NEW.detected_at) == "still open"
    assert outcome(old) == "resolved after 48 h"


def test_changes_near_the_start_are_those_logged_before_it_that_touch_the_slice() -> None:
    def change(change_id: str, hours_before: float, **scope: Any) -> SimpleNamespace:
        return SimpleNamespace(
            change_id=change_id, change_time=DAY - dt.timedelta(hours=hours_before), scope=scope
        )

    changes = [
        change("C-BATCHING", 21, category=["grocery"], hours=[18, 19, 20]),
        change("C-RELEASE", 50),
        change("C-RETAIL", 5, category=["retail"]),
        change("C-NIGHT", 5, hours=[2, 3]),
        change("C-OLD", 100),
        change("C-AFTER", -1),
    ]

    near = changes_near(DAY, {"category": ["grocery"], "hour": [18, 19, 20]}, changes)

    assert near == ["C-BATCHING", "C-RELEASE"]
