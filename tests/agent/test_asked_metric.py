"""The asked-metric lead of a diagnosis: the metric a question names, read where the incident
is, when another metric leads the incident."""

from __future__ import annotations

import dataclasses
import datetime as dt

import tools.catalog  # noqa: F401  (registers metric_summary)
from agent.nodes import _asked_metric
from agent.question import QuestionPlan
from tools.base import ToolContext
from tools.investigation import find_incident, localize_incident, window_of


def test_an_incident_without_slices_reads_the_asked_metric_in_its_whole_cohort(
    small_scenario, make_world
) -> None:
    """Without slices the cohort comes from the incident's primary cohort ('category=grocery'),
    read as filters of lists like every other cohort (it once read 'category=g/r/o/c/e/r/y')."""
    context = ToolContext(world_dir=make_world(small_scenario("demo")))
    try:
        investigation = find_incident(context, day=dt.date(2026, 1, 4))
        assert investigation.incident is not None
        localize_incident(context, investigation)
        bare = dataclasses.replace(investigation, slices=None, slices_id=None)
        cohort = investigation.incident.primary_cohort
        metric = next(
            m
            for m in ("duration_min", "on_time_rate")
            if m != investigation.incident.primary_metric
        )
        asked = _asked_metric(context, QuestionPlan(kind="diagnose", metric=metric), bare)
        assert asked is not None and asked.metric == metric
        assert asked.where == ("all orders" if cohort == "all" else cohort), asked
        item = context.ledger.get(asked.id)
        assert item.tool == "metric_summary" and item.ok
        start, end = window_of(investigation)
        assert dt.datetime.fromisoformat(str(item.args["start"])) == start
        assert dt.datetime.fromisoformat(str(item.args["end"])) == end
    finally:
        context.close()
