"""The root-cause investigation end to end on small worlds: the incident is found where the cause
is, the true cause is ranked first, decoys are ruled out, missing data makes a cause untestable."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from analytics.cohorts import where_clause
from analytics.incidents import SERIOUS, cohort_slice
from analytics.ranking import rank as rank_causes_scores
from data.random_scenarios import random_scenario
from data.scenario import Scenario, Scope
from data.warehouse import WAREHOUSE_FILE, build_warehouse
from tools import catalog  # noqa: F401  (registers the tools)
from tools.base import ToolContext, ToolError
from tools.detection import IncidentSummary, SliceSummary
from tools.hypotheses import LIBRARY
from tools.investigation import (
    Investigation,
    PlannedCall,
    Site,
    _assess_hypothesis,
    find_incident,
    investigate,
    investigate_window,
    localize_incident,
)
from tools.report import render_report

ScenarioFactory = Callable[..., Scenario]
WorldFactory = Callable[[Scenario], Path]
Investigate = Callable[..., tuple[Investigation, ToolContext]]

LEADING = ("supported", "weak")


@dataclass(frozen=True)
class SingleCause:
    """A shipped single-cause scenario and what its investigation must find."""

    orders_per_day: int
    min_jaccard: float  # top slice vs the intervention's orders, both inside the incident window


# Measured Jaccards (seeds of the shipped files): 1.0 for all but demand_surge (0.91 at 6000 orders
# a day; the slice where orders per hour rose leads, though the lateness concentrates in its
# convenience and retail orders).
SINGLE_CAUSES: dict[str, SingleCause] = {
    "batching_threshold": SingleCause(3000, 0.9),
    # South retail is 2 stores (~73 orders a day) at 3000 orders a day; hourly detection misses
    # its drift there, and finds it on the onset day at 6000.
    "prep_time_drift": SingleCause(6000, 0.9),
    "dasher_shortage": SingleCause(3000, 0.9),
    "inventory_drop": SingleCause(3000, 0.9),
    "eta_model_bias": SingleCause(3000, 0.9),
    # At 3000 orders a day two evenings of a south surge are too few orders to localize by volume.
    "demand_surge": SingleCause(6000, 0.85),
    # Two evenings of a storm over the north; 3000 orders a day localize it as well.
    "weather_disruption": SingleCause(3000, 0.85),
}


@pytest.fixture(scope="module")
def investigated() -> Iterator[Investigate]:
    """Investigate a world (default: its most severe incident) once per module and incident."""
    contexts: dict[Path, ToolContext] = {}
    done: dict[tuple[Path, str | None], Investigation] = {}

    def run(world: Path, incident_id: str | None = None) -> tuple[Investigation, ToolContext]:
        if world not in contexts:
            contexts[world] = ToolContext(world_dir=world)
        context = contexts[world]
        if (world, incident_id) not in done:
            done[(world, incident_id)] = investigate(context, incident_id=incident_id)
        return done[(world, incident_id)], context

    yield run
    for context in contexts.values():
        context.close()


def _single_cause_world(
    name: str, small_scenario: ScenarioFactory, make_world: WorldFactory
) -> tuple[Scenario, Path]:
    scenario = small_scenario(name, orders_per_day=SINGLE_CAUSES[name].orders_per_day)
    return scenario, make_world(scenario)


def _top_slice(investigation: Investigation) -> SliceSummary:
    assert investigation.slices is not None and investigation.slices.slices, investigation.notes
    return investigation.slices.slices[0]


def _leading_kinds(investigation: Investigation) -> list[str]:
    assert investigation.causes is not None
    return [c.kind for c in investigation.causes.causes if c.status in LEADING]


def _status(investigation: Investigation, kind: str) -> str:
    assert investigation.causes is not None
    return next(c.status for c in investigation.causes.causes if c.kind == kind)


def _consistent_with_scope(filters: dict[str, list], scope: Scope) -> bool:
    """Same region and category filters as the scope; any hours inside the scope's hours."""
    same_places = all(
        sorted(filters.get(name, [])) == sorted(getattr(scope, name) or [])
        for name in ("region", "category")
    )
    hours = set(filters.get("hour", []))
    if scope.hours:
        return same_places and bool(hours) and hours <= set(scope.hours)
    return same_places


def _orders_in_window(
    con: duckdb.DuckDBPyConnection,
    window: tuple[dt.datetime, dt.datetime],
    filters: dict[str, list] | None = None,
    order_ids: list[str] | None = None,
) -> set[str]:
    condition, parameters = where_clause(filters or {})
    if order_ids is not None:
        condition += " AND order_id IN (SELECT unnest(?))"
        parameters.append(order_ids)
    rows = con.execute(
        f"SELECT order_id FROM order_facts WHERE {condition} "
        "AND order_time >= ? AND order_time < ?",
        [*parameters, *window],
    ).fetchall()
    return {row[0] for row in rows}


# --- the demo --------------------------------------------------------------------------------

# The demo's batching change hurts the grocery dinner peak (18:00-20:59) from Jan 4.
DINNER_PEAK = dt.datetime(2026, 1, 4, 18)


def test_demo_incident_is_found_with_its_top_slice_in_the_grocery_dinner_peak(
    small_scenario: ScenarioFactory, make_world: WorldFactory, investigated: Investigate
) -> None:
    investigation, _ = investigated(make_world(small_scenario("demo")))

    assert investigation.incident is not None
    assert DINNER_PEAK <= investigation.incident.start < DINNER_PEAK + dt.timedelta(hours=3)
    top = _top_slice(investigation)
    assert top.filters["category"] == ["grocery"]
    assert set(top.filters["hour"]) <= {18, 19, 20}


def test_demo_ranks_batching_threshold_first_and_prep_time_drift_second(
    small_scenario: ScenarioFactory, make_world: WorldFactory, investigated: Investigate
) -> None:
    investigation, _ = investigated(make_world(small_scenario("demo")))

    assert _leading_kinds(investigation)[:2] == ["batching_threshold", "prep_time_drift"]


def test_lag_test_runs_in_the_demo_grocery_dinner_slice(
    small_scenario: ScenarioFactory, make_world: WorldFactory, investigated: Investigate
) -> None:
    _, context = investigated(make_world(small_scenario("demo")))

    lags = [item for item in context.ledger.items if item.tool == "lagged_correlation"]
    assert lags
    assert [item.summary for item in lags if not item.ok] == []


# --- single-cause scenarios ------------------------------------------------------------------


@pytest.mark.parametrize("name", SINGLE_CAUSES)
def test_single_cause_top_slice_matches_the_intervention_scope_and_orders(
    name: str,
    small_scenario: ScenarioFactory,
    make_world: WorldFactory,
    investigated: Investigate,
) -> None:
    scenario, world = _single_cause_world(name, small_scenario, make_world)
    investigation, context = investigated(world)
    (truth,) = json.loads((world / "truth.json").read_text())["interventions"]

    top = _top_slice(investigation)
    assert _consistent_with_scope(top.filters, scenario.interventions[0].scope), top.filters
    assert investigation.window is not None
    in_slice = _orders_in_window(context.con, investigation.window, filters=top.filters)
    caused = _orders_in_window(context.con, investigation.window, order_ids=truth["order_ids"])
    jaccard = len(in_slice & caused) / len(in_slice | caused)
    assert jaccard >= SINGLE_CAUSES[name].min_jaccard


def test_demand_surge_top_slice_is_where_orders_per_hour_rose(
    small_scenario: ScenarioFactory, make_world: WorldFactory, investigated: Investigate
) -> None:
    _, world = _single_cause_world("demand_surge", small_scenario, make_world)
    investigation, _ = investigated(world)

    top = _top_slice(investigation)
    assert top.volume_change is not None and top.volume_change > 0.3
    assert investigation.slices is not None
    assert investigation.slices.volume_slices[0].filters == top.filters
    assert investigation.sites[0].filters == top.filters


@pytest.mark.parametrize("name", SINGLE_CAUSES)
def test_single_cause_is_ranked_first(
    name: str,
    small_scenario: ScenarioFactory,
    make_world: WorldFactory,
    investigated: Investigate,
) -> None:
    _, world = _single_cause_world(name, small_scenario, make_world)
    investigation, _ = investigated(world)

    assert _leading_kinds(investigation)[:1] == [name]


def test_null_world_raises_no_incident_above_low_severity(
    small_scenario: ScenarioFactory, make_world: WorldFactory
) -> None:
    context = ToolContext(world_dir=make_world(small_scenario("null")))
    try:
        detected, _ = context.call("detect_incidents", {})
    finally:
        context.close()

    assert [i.incident_id for i in detected.incidents if i.severity_label != "low"] == []


# --- decoys, two causes, missing data --------------------------------------------------------

DECOYS = ("eta_model_bias", "prep_time_drift")


@pytest.fixture(scope="module")
def decoy_world(small_scenario: ScenarioFactory, make_world: WorldFactory) -> Path:
    """West dinner batching (the real cause) plus logged do-nothing changes in the same slice,
    logged after it and so nearer the incident."""
    real = small_scenario("batching_threshold")
    decoys = [
        {"kind": "eta_model_bias", "onset": "2025-12-29T12:00", "scope": {"region": ["west"]},
         "magnitude": 0.0, "logged": True},
        {"kind": "prep_time_drift", "onset": "2025-12-29T14:00",
         "scope": {"region": ["west"], "hours": [17, 18, 19, 20]}, "magnitude": 0.0,
         "logged": True},
    ]  # fmt: skip
    scenario = Scenario.model_validate(
        {
            **real.model_dump(),
            "name": "decoys",
            "interventions": [*real.model_dump()["interventions"], *decoys],
        }
    )
    return make_world(scenario)


@pytest.mark.parametrize("decoy", DECOYS)
def test_logged_decoy_change_is_not_ranked_first_and_is_ruled_out_or_weak(
    decoy: str, decoy_world: Path, investigated: Investigate
) -> None:
    investigation, _ = investigated(decoy_world)
    truth = json.loads((decoy_world / "truth.json").read_text())["interventions"]
    decoy_change = next(i["change_id"] for i in truth if i["kind"] == decoy)

    assert investigation.changes is not None
    overlapping = [c.change_id for c in investigation.changes.changes if c.overlaps_slice]
    assert decoy_change in overlapping  # the decoy was a lead the investigation had to weigh
    assert _leading_kinds(investigation)[:1] == ["batching_threshold"]
    assert _status(investigation, decoy) in ("ruled_out", "weak")


def test_two_simultaneous_causes_in_different_places_both_lead_the_ranking(
    make_world: WorldFactory, investigated: Investigate
) -> None:
    """East lunch dasher shortage and north grocery inventory drop, from the same hour.

    The product must surface both: either as two incidents each led by its own cause, or as one
    incident whose top two causes are these two.
    """
    scenario = Scenario.model_validate(
        {
            "name": "two_causes", "seed": 21, "start": "2025-12-06", "days": 28,
            "orders_per_day": 3000,
            "interventions": [
                {"kind": "dasher_shortage", "onset": "2025-12-29T00:00",
                 "scope": {"region": ["east"], "hours": [11, 12, 13, 14]}},
                {"kind": "inventory_drop", "onset": "2025-12-29T00:00",
                 "scope": {"region": ["north"], "category": ["grocery"]}, "logged": True},
            ],
        }
    )  # fmt: skip
    world = make_world(scenario)
    first, _ = investigated(world)
    # The incidents worth an investigation (low ones are noise in other corners of the scan).
    incidents = [i for i in first.detection.incidents if i.severity_label in SERIOUS][:2]
    if len(incidents) == 1:
        leading = set(_leading_kinds(first)[:2])
    else:
        leading = {
            kind
            for incident in incidents
            for kind in _leading_kinds(investigated(world, incident.incident_id)[0])[:1]
        }

    assert leading == {"dasher_shortage", "inventory_drop"}


def test_primary_driver_tool_error_other_than_missing_data_is_not_testable_never_ruled_out() -> (
    None
):
    hypothesis = LIBRARY["demand_surge"]
    site = Site(filters={"region": ["west"]}, description="region=west", orders=100)
    call = PlannedCall(
        "driver_shift", {"driver": hypothesis.primary.driver}, "surge", 0, hypothesis.kind,
        "primary",
    )  # fmt: skip
    failure = ToolError("too few rows for orders_per_hour in the slice")

    tests = _assess_hypothesis(hypothesis, site, [(call, failure)])
    (scored,) = rank_causes_scores([tests.to_tests()])

    assert scored.status == "not_testable"
    assert scored.reasons[0].startswith("not tested: orders_per_hour could not be measured")
    assert "too few rows" in "; ".join(scored.reasons)


@pytest.mark.parametrize(("effect_size", "status"), [(-0.024, "ruled_out"), (-0.3, "supported")])
def test_a_significant_but_negligible_primary_move_rules_the_cause_out(
    effect_size: float, status: str
) -> None:
    """Seed 14028: quotes 0.3 min shorter over a marketplace-wide incident (z -2.6, p 0.009,
    d -0.024) named an ETA model regression at confidence 0.63. A move below the negligible
    effect size does not count; the same test with a small effect (d -0.3) does."""
    from tools.rca import DriverShiftOutput

    hypothesis = LIBRARY["eta_model_bias"]
    site = Site(filters={}, description="all", orders=35_000)
    call = PlannedCall(
        "driver_shift", {"driver": "quoted_min"}, "quotes", 0, hypothesis.kind, "primary"
    )
    shift = DriverShiftOutput(
        summary="Quoted ETA: 44 -> 43.7", driver="quoted_min", label="Quoted ETA",
        unit="minutes", baseline=44.0, incident=43.74, delta=-0.26, relative_change=-0.006,
        z=-2.6, p_value=0.00886, effect_size=effect_size, specificity=1.0, timing=1.0,
        baseline_n=140_000, incident_n=35_000,
    )  # fmt: skip

    tests = _assess_hypothesis(hypothesis, site, [(call, (shift, "E19"))])
    tests.explained_share = 0.9
    (scored,) = rank_causes_scores([tests.to_tests()])

    assert scored.status == status
    negligible = (
        "quoted ETAs got shorter in the slice: no (significant, but by a negligible amount)"
    )
    assert (scored.reasons[0] == f"{negligible} [E19]") == (status == "ruled_out")


def test_primary_driver_lacking_data_lists_each_missing_column_read_from_the_data() -> None:
    """The columns come from the warehouse check, not the failed call's message: two columns
    are two entries, and the ranking names both."""
    hypothesis = LIBRARY["inventory_drop"]
    site = Site(filters={"region": ["south"]}, description="region=south", orders=100)
    call = PlannedCall(
        "driver_shift", {"driver": hypothesis.primary.driver}, "stock", 0, hypothesis.kind,
        "primary",
    )  # fmt: skip
    failure = ToolError("driver_shift: the call was refused")
    missing = ("items.missing_flag", "items.substituted_flag")

    tests = _assess_hypothesis(hypothesis, site, [(call, failure)], missing)
    (scored,) = rank_causes_scores([tests.to_tests()])

    assert tests.missing == list(missing) and tests.untested is None
    assert scored.status == "not_testable"
    assert scored.reasons[0] == "not testable: missing items.missing_flag, items.substituted_flag"


def test_a_failure_whose_message_reads_not_testable_is_untested_when_the_data_is_there() -> None:
    hypothesis = LIBRARY["demand_surge"]
    site = Site(filters={"region": ["west"]}, description="region=west", orders=100)
    call = PlannedCall(
        "driver_shift", {"driver": hypothesis.primary.driver}, "surge", 0, hypothesis.kind,
        "primary",
    )  # fmt: skip
    failure = ToolError("one hour is not testable: missing variance")

    tests = _assess_hypothesis(hypothesis, site, [(call, failure)])

    assert tests.missing == []
    assert tests.untested == "orders_per_hour could not be measured in region=west"


def test_world_without_inventory_events_makes_inventory_drop_not_testable_naming_the_table(
    small_scenario: ScenarioFactory,
    make_world: WorldFactory,
    investigated: Investigate,
    tmp_path: Path,
) -> None:
    source = make_world(small_scenario("inventory_drop"))
    world = tmp_path / "world"
    shutil.copytree(source, world, ignore=shutil.ignore_patterns(WAREHOUSE_FILE))
    (world / "inventory_events.parquet").unlink()
    build_warehouse(world)

    investigation, context = investigated(world)

    assert investigation.causes is not None
    inventory = next(c for c in investigation.causes.causes if c.kind == "inventory_drop")
    assert inventory.status == "not_testable"
    missing = investigation.missing_data["in_stock_prob"]
    assert "inventory_events.in_stock_prob" in missing
    assert all(column.startswith("inventory_events.") for column in missing)
    assert inventory.reasons[0] == f"not testable: missing {', '.join(missing)}"
    not_testable = render_report(investigation, context.ledger).split("## Not testable", 1)[1]
    assert "inventory_events" in not_testable.split("\n## ", 1)[0]


def test_without_slices_a_crossed_primary_cohort_is_tested_as_its_own_filters(
    small_scenario: ScenarioFactory, make_world: WorldFactory
) -> None:
    """No slice found (here: top_slices refuses an unknown incident id), the hypotheses are tested
    on the primary cohort: 'region=south,category=convenience' is two filters, not a region
    named 'south,category=convenience'."""
    context = ToolContext(world_dir=make_world(small_scenario("demo")))
    investigation = find_incident(context)
    assert investigation.incident is not None
    investigation.incident = investigation.incident.model_copy(
        update={"incident_id": "no-such-incident",
                "primary_cohort": "region=south,category=convenience"}
    )  # fmt: skip

    localize_incident(context, investigation)
    context.close()

    site = investigation.sites[0]
    assert site.filters == {"region": ["south"], "category": ["convenience"]}
    assert site.description == "region=south,category=convenience"


SOUTH_CONVENIENCE = {"region": ["south"], "category": ["convenience"]}


@pytest.mark.parametrize(
    ("primary", "cohorts", "tested"),
    [
        ("region=south", ["region=south,category=convenience"], SOUTH_CONVENIENCE),
        ("region=south", ["region=south", "region=south,category=convenience"], SOUTH_CONVENIENCE),
        ("all", ["all", "region=south"], {"region": ["south"]}),
        ("region=south", ["region=south,category=convenience", "category=grocery"],
         {"region": ["south"]}),
        ("region=south", ["region=north,category=convenience"], {"region": ["south"]}),
        ("region=south", ["region=south"], {"region": ["south"]}),
        ("category=convenience", ["all", "category=convenience", "region=east",
                                  "category=convenience,daypart=lunch",
                                  "region=east,category=convenience"],
         {"category": ["convenience"], "hour": [11, 12, 13, 14, 15], "region": ["east"]}),
    ],
)  # fmt: skip
def test_without_slices_the_cohort_where_the_alarms_overlap_is_tested(
    small_scenario: ScenarioFactory,
    make_world: WorldFactory,
    primary: str,
    cohorts: list[str],
    tested: dict[str, list[str]],
) -> None:
    """No slice found, the hypotheses are tested in the narrowest cohort the alarms were raised
    in when the primary cohort and every other alarmed cohort hold it (random seed 7016: a
    central lunch shortage alarmed only in central x convenience, led by category=convenience,
    whose marketplace-wide dashers did not move; seed 9077: a west dinner shortage alarmed in
    the west and the marketplace, led by the marketplace; seed 15048: an east lunch surge led by
    convenience, alarmed in east x convenience and in convenience at lunch, whose convenience
    orders marketplace-wide hardly rose); alarms in cohorts that name different groups of one
    dimension keep the primary. A daypart is tested as its hours (dasher supply is by hour)."""
    context = ToolContext(world_dir=make_world(small_scenario("demo")))
    investigation = find_incident(context)
    assert investigation.incident is not None
    investigation.incident = investigation.incident.model_copy(
        update={"incident_id": "no-such-incident", "primary_cohort": primary, "cohorts": cohorts}
    )

    localize_incident(context, investigation)
    context.close()

    assert investigation.sites[0].filters == tested
    expected = "primary cohort"
    if tested != cohort_slice(primary):
        overlap = "hour" in tested  # no alarm was raised in that cohort itself
        expected = "cohort where the alarms overlap" if overlap else "cohort that alarmed"
    assert any(note.endswith(f"tested on the {expected}") for note in investigation.notes)


def test_an_investigation_as_of_a_time_reads_nothing_after_it(small_scenario, make_world) -> None:
    world = make_world(small_scenario("demo"))
    as_of = dt.datetime(2026, 1, 4, 21)
    context = ToolContext(world_dir=world)
    investigation = investigate(context, day=as_of.date(), as_of=as_of)
    context.close()

    assert investigation.incident is not None and investigation.as_of == as_of
    assert investigation.incident.detected_at <= as_of
    assert investigation.window is not None and investigation.window[1] <= as_of
    ends = [
        dt.datetime.fromisoformat(str(item.args[key]))
        for item in context.ledger.items
        for key in ("end", "as_of")
        if item.args.get(key) and item.ok
    ]
    assert ends and max(ends) <= as_of
    slices = [i for i in context.ledger.items if i.tool == "top_slices"]
    assert slices and all(i.args.get("as_of") for i in slices)


def test_a_window_shorter_than_a_day_is_compared_with_the_same_hours_before_it(
    small_scenario: ScenarioFactory, make_world: WorldFactory
) -> None:
    """Six dinner hours of the demo world given as the window: every driver shift compares them
    with hours 17-22 of the days before (their hours join the slice), so the dinner peak's own
    prep time is not read as a drift; a two-day window is compared with whole days."""
    from tools.rca import DriverShiftInput

    world = make_world(small_scenario("demo"))
    evening = dt.datetime(2026, 1, 4, 17)
    windows = {
        (evening, evening + dt.timedelta(hours=6)): {"region": ["north"], "hour": [*range(17, 23)]},
        (evening, evening + dt.timedelta(days=2)): {"region": ["north"]},
    }
    for (start, end), expected in windows.items():
        context = ToolContext(world_dir=world)
        try:
            investigate_window(context, start, end, {"region": ["north"]}, "on_time_rate")
        finally:
            context.close()
        shifts = [
            DriverShiftInput.model_validate(item.args)
            for item in context.ledger.items
            if item.tool == "driver_shift"
        ]
        assert shifts and all(shift.filters == expected for shift in shifts)
        assert all((shift.start, shift.end) == (start, end) for shift in shifts)


def _asked_about(
    make_world: WorldFactory,
    seed: int,
    day: dt.date,
    run: Callable[..., Investigation],
) -> Investigation:
    """`run` (find_incident or investigate) on random scenario `seed` at 10,000 orders a day,
    asked about `day`."""
    context = ToolContext(world_dir=make_world(random_scenario(seed, orders_per_day=10_000)))
    try:
        return run(context, day=day)
    finally:
        context.close()


def _serious(investigation: Investigation) -> IncidentSummary:
    incident = investigation.incident
    assert incident is not None
    assert incident.severity_label in SERIOUS
    return incident


def test_a_day_with_only_a_low_severity_blip_investigates_the_serious_incident_after_it(
    make_world: WorldFactory,
) -> None:
    """Random scenario 4019 (10,000 orders a day): dashers online in the north at 17-20 h cut
    to 60% from Dec 28 17:00. On Dec 28 only a low-severity blip elsewhere was active; the
    shortage's medium incident was confirmed from Dec 29 17:00. Asked about Dec 28, the
    investigation takes the shortage's incident and says why, naming the blip."""
    investigation = _asked_about(make_world, 4019, dt.date(2025, 12, 28), find_incident)
    incident = _serious(investigation)
    assert incident.primary_cohort == "region=north"
    assert incident.start.date() == dt.date(2025, 12, 29)
    blip = investigation.asked_day_incident
    assert blip is not None and blip != incident.incident_id
    assert investigation.notes[-1].startswith(
        f"only low-severity incidents were active on 2025-12-28 ({blip})"
    )


def test_a_slow_inventory_drop_asked_about_on_its_onset_day_is_investigated_whole(
    make_world: WorldFactory,
) -> None:
    """Random scenario 5082 (10,000 orders a day): the inventory feed of west x retail drops
    from Dec 27 10:00 (logged). Its alarms begin Dec 28 09:00, all in that crossed cohort, with
    a 4-hour lull on Dec 29: the drop was two incidents, the first (begun within a day of the
    asked day) rated low, the second too late to be taken. Asked about Dec 27, the whole drop
    is one serious incident from Dec 28 09:00, and inventory is its leading cause."""
    investigation = _asked_about(make_world, 5082, dt.date(2025, 12, 27), investigate)
    incident = _serious(investigation)
    assert incident.start == dt.datetime(2025, 12, 28, 9)
    assert incident.end is None or incident.end > dt.datetime(2025, 12, 29, 14)
    assert investigation.causes is not None
    assert investigation.causes.causes[0].kind == "inventory_drop"


def test_a_one_day_surge_in_a_longer_incident_is_tested_where_the_slice_was_worst(
    make_world: WorldFactory,
) -> None:
    """Random scenario 12064 (10,000 orders a day): north lunch orders +47% on Dec 27 only. The
    incident runs from Dec 27 11:00 to Dec 30 23:00; over all of it the slice's (north, hours
    13-14) orders per hour rose 9% (2 of its 8 hours held the surge), too little to stand out,
    and a dasher shortage was named. The drivers are tested in the slice's worst stretch, the
    two surge hours, and the surge leads."""
    from tools.rca import DriverShiftInput

    context = ToolContext(world_dir=make_world(random_scenario(12064, orders_per_day=10_000)))
    try:
        investigation = investigate(context, day=dt.date(2025, 12, 27))
    finally:
        context.close()
    incident = _serious(investigation)
    assert (incident.start, incident.end) == (
        dt.datetime(2025, 12, 27, 11), dt.datetime(2025, 12, 30, 23),
    )  # fmt: skip
    site = investigation.sites[0]
    assert site.filters == {"region": ["north"], "hour": [13, 14]}
    assert site.window == (dt.datetime(2025, 12, 27, 13), dt.datetime(2025, 12, 27, 15))
    (stretch,) = [item for item in context.ledger.items if item.tool == "worst_stretch"]
    assert (stretch.figures["stretch_start"].value, stretch.figures["stretch_end"].value) == (
        "2025-12-27T13:00", "2025-12-27T15:00",
    )  # fmt: skip
    shifts = [
        DriverShiftInput.model_validate(item.args)
        for item in context.ledger.items
        if item.tool == "driver_shift"
    ]
    assert shifts and all((shift.start, shift.end) == site.window for shift in shifts)
    assert investigation.causes is not None
    assert investigation.causes.causes[0].kind == "demand_surge"


def test_a_surge_led_by_a_category_is_found_in_its_region_and_hours(
    make_world: WorldFactory,
) -> None:
    """Random scenario 15048 (10,000 orders a day): east orders at hours 11-14 up from Dec 28
    11:00 for three days. The incident is led by convenience (on-time), where its alarms were
    raised. Its window once ran to Dec 30 12:00, read from the recovery of a cohort that raised
    no alarm; none of its slices was then significant and the hypotheses were tested where the
    alarms overlap (east x convenience at lunch), the surge at 0.80. Led from the start by an
    alarmed cohort, the window ends at 08:00 and the slice finder names the surge's own corner,
    the east at hours 11-14."""
    context = ToolContext(world_dir=make_world(random_scenario(15048, orders_per_day=10_000)))
    try:
        investigation = investigate(context, day=dt.date(2025, 12, 28))
    finally:
        context.close()
    assert investigation.incident is not None
    assert investigation.incident.primary_cohort == "category=convenience"
    assert investigation.incident.end == dt.datetime(2025, 12, 30, 8)
    assert investigation.sites[0].filters == {"region": ["east"], "hour": [11, 12, 13, 14]}
    assert investigation.causes is not None
    assert investigation.causes.causes[0].kind == "demand_surge"
    assert investigation.causes.causes[0].status == "supported"


def test_shap_too_thin_in_the_stretch_is_made_over_the_incident_window(
    small_scenario: ScenarioFactory, make_world: WorldFactory
) -> None:
    """The demo at 800 orders a day: the worst stretch of north grocery dinners (3 hours) holds
    30 orders, too few for the SHAP model; it is fitted over the incident window instead, and
    the driver shifts stay in the stretch."""
    context = ToolContext(world_dir=make_world(small_scenario("demo", orders_per_day=800)))
    try:
        investigation = investigate(context, day=dt.date(2026, 1, 4))
    finally:
        context.close()
    site = investigation.sites[0]
    assert site.window is not None and investigation.window is not None
    shaps = [item for item in context.ledger.items if item.tool == "shap_attribution"]
    assert [item.ok for item in shaps] == [False, True]
    assert dt.datetime.fromisoformat(str(shaps[0].args["start"])) == site.window[0]
    assert dt.datetime.fromisoformat(str(shaps[1].args["start"])) == investigation.window[0]
    assert investigation.shap is not None and investigation.shap_id == shaps[1].id
    assert any(note.endswith("attributed over the incident window instead")
               for note in investigation.notes)  # fmt: skip
    shifts = [item for item in context.ledger.items if item.tool == "driver_shift"]
    assert all(
        dt.datetime.fromisoformat(str(item.args["start"])) == site.window[0] for item in shifts
    )


def test_fewer_dashers_for_fewer_orders_is_a_shortage_refuted_in_part(
    make_world: WorldFactory,
) -> None:
    """Random seed 5040 (10,000 orders a day), the whole marketplace on Christmas Day 15-21 h:
    online dashers are 0.70 of usual for the hour, and the orders 0.74. The shortage's
    refuting check (orders per hour down with the dashers) holds: its confidence is halved to
    weak, and the check's driver_shift item travels with the cause (the answer's "but ...")."""
    context = ToolContext(world_dir=make_world(random_scenario(5040, orders_per_day=10_000)))
    try:
        christmas = dt.datetime(2025, 12, 25, 15)
        investigation = investigate_window(
            context, christmas, christmas + dt.timedelta(hours=6), {}, "cancellation_rate"
        )
    finally:
        context.close()
    assert investigation.causes is not None
    (shortage,) = [c for c in investigation.causes.causes if c.kind == "dasher_shortage"]
    assert shortage.status == "weak" and shortage.confidence < 0.5
    (refuting,) = shortage.refuted_by
    item = context.ledger.get(refuting)
    assert item.tool == "driver_shift" and item.args["driver"] == "orders_per_hour"
    assert item.figures["incident"].value < 0.85
