"""Root-cause investigation of an incident, driven by the hypothesis library.

The plan is data: for each slice that carries the incident, every hypothesis' drivers, the
change log, a diff-in-diff per logged change overlapping the slice, a SHAP attribution and a
lagged correlation for drivers that moved. The slices come from the incident's slice metric
and from each other metric that alarmed with it, where that one's top slice lies elsewhere (two
causes in two places merge into one incident when they start together). Every step is a tool
call, so every number lands in the evidence ledger; the ranking is the rank_causes tool over what
was measured.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

from analytics.alarms import COHORT_JOIN, data_span
from analytics.cohorts import describe_slice
from analytics.drivers import DRIVERS, missing_requirements
from analytics.incidents import SERIOUS, SLICE_METRIC, cohort_filters, cohort_slice
from analytics.metrics import METRICS, columns_with_data
from analytics.ranking import ShiftVerdict, score, shift_verdict
from data.quality import is_ingested
from data.schema import DAYPARTS
from tools.base import REGISTRY, ToolContext, ToolError
from tools.detection import DetectIncidentsOutput, IncidentSummary, SliceSummary, TopSlicesOutput
from tools.hypotheses import LIBRARY, DriverCheck, Hypothesis
from tools.quality import DataQualityOutput
from tools.rca import (
    ChangeLogOutput,
    DiffInDiffOutput,
    DriverShiftOutput,
    HypothesisTestsModel,
    RankCausesOutput,
    ShapAttributionOutput,
    SliceWindow,
    WorstStretchOutput,
)

MAX_SITES = 2
MAX_OTHER_METRIC_SITES = 2
NEAREST_AFTER = dt.timedelta(hours=24)  # how soon after an asked day an incident may begin
Grain = Literal["hour", "day", "auto"]


@dataclass
class Site:
    """A slice the investigation tests hypotheses in."""

    filters: dict[str, list]
    description: str
    orders: int
    metric: str | None = None  # the share metric localized there (None: the incident's)
    # The worst stretch of the incident window in the site (worst_stretch), where its windowed
    # tests are made, and the evidence id that found it; None: the incident window.
    window: tuple[dt.datetime, dt.datetime] | None = None
    window_id: str | None = None

    def state(self) -> dict[str, Any]:
        """The site as a graph state keeps it (JSON: the window as ISO times)."""
        window = [t.isoformat() for t in self.window] if self.window else None
        return {**vars(self), "window": window}


@dataclass
class Investigation:
    """Everything an RCA found, with the evidence ids of each part."""

    detection: DetectIncidentsOutput
    detection_id: str
    incident: IncidentSummary | None = None
    slices: TopSlicesOutput | None = None
    slices_id: str | None = None
    sites: list[Site] = field(default_factory=list)
    window: tuple[dt.datetime, dt.datetime] | None = None
    changes: ChangeLogOutput | None = None
    changes_id: str | None = None
    did: dict[str, tuple[DiffInDiffOutput, str]] = field(default_factory=dict)
    shap: ShapAttributionOutput | None = None
    shap_id: str | None = None
    drivers: dict[str, tuple[DriverShiftOutput, str]] = field(default_factory=dict)
    causes: RankCausesOutput | None = None
    causes_id: str | None = None
    notes: list[str] = field(default_factory=list)
    library: dict[str, Hypothesis] = field(default_factory=lambda: dict(LIBRARY))
    # Set when no incident, or only low-severity ones, was active on the asked day and one that
    # began soon after it is investigated instead: the id of the scan of the day.
    asked_day_detection_id: str | None = None
    # ... and the most severe incident active on the asked day, when only low-severity ones were.
    asked_day_incident: str | None = None
    # The time the investigation is made as of (None: all the data): windows end there and the
    # incident is the one known then, so nothing later is read.
    as_of: dt.datetime | None = None
    # Per primary driver of `library` that the warehouse cannot test: the 'table.column'
    # requirements it lacks or leaves empty (analytics.drivers.missing_requirements).
    missing_data: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _try(context: ToolContext, name: str, arguments: dict[str, Any]) -> tuple[Any, str] | ToolError:
    try:
        output, item = context.call(name, arguments)
    except ToolError as error:
        return error
    return output, item.id


def _moved(output: DriverShiftOutput, check: DriverCheck) -> bool:
    return _verdict(output, check) == "moved"


def _verdict(output: DriverShiftOutput, check: DriverCheck) -> ShiftVerdict:
    return shift_verdict(output.z, output.p_value, output.effect_size, check.direction)


# How a reason says what the primary driver did ("quoted ETAs got shorter in the slice: no").
_SAID: dict[ShiftVerdict, str] = {
    "moved": "yes", "negligible": "no (significant, but by a negligible amount)", "no": "no",
}  # fmt: skip


def find_incident(
    context: ToolContext,
    incident_id: str | None = None,
    day: dt.date | None = None,
    grain: Grain = "auto",
    as_of: dt.datetime | None = None,
    last_day: dt.date | None = None,
    wanted: Callable[[IncidentSummary], bool] | None = None,
) -> Investigation:
    """Detect incidents and pick the one to investigate: by id, or the most severe active on
    `day` (through `last_day` when a range is asked) that `wanted` accepts (the asked metric and
    cohort; all when None).

    On ingested data the data-quality warnings and the tests adapted to the data are noted."""
    if last_day is not None and day is not None and last_day != day:
        arguments = {"grain": grain, "start": day, "end": last_day, "as_of": as_of}
    else:
        arguments = {"grain": grain, "day": day, "as_of": as_of}
    output, item = context.call("detect_incidents", arguments)
    detection = cast(DetectIncidentsOutput, output)
    investigation = Investigation(
        detection=detection, detection_id=item.id, as_of=detection.as_of if as_of else None
    )
    _adapt_to_data(context, investigation)
    candidates = detection.incidents
    if incident_id:
        candidates = [i for i in candidates if i.incident_id == incident_id]
        if not candidates:
            known = ", ".join(i.incident_id for i in detection.incidents) or "none"
            raise ToolError(f"no incident {incident_id!r}; detected: {known}")
    elif wanted is not None:
        candidates = [i for i in candidates if wanted(i)]
    if candidates:
        investigation.incident = candidates[0]
    if day is not None and not incident_id:
        active = investigation.incident
        if active is None or active.severity_label not in SERIOUS:
            _nearest_after(context, investigation, last_day or day, grain, as_of, wanted)
    return investigation


def _nearest_after(
    context: ToolContext,
    investigation: Investigation,
    day: dt.date,
    grain: Grain,
    as_of: dt.datetime | None,
    wanted: Callable[[IncidentSummary], bool] | None = None,
) -> None:
    """No incident, or only low-severity ones, was active on `day`: investigate the most severe
    medium or high one that began within NEAREST_AFTER of the day's end instead (a drop that
    starts late in a day, or slowly, is often confirmed only after midnight), keeping the day's
    scan's id."""
    output, item = context.call("detect_incidents", {"grain": grain, "as_of": as_of})
    everything = cast(DetectIncidentsOutput, output)
    day_end = dt.datetime.combine(day, dt.time()) + dt.timedelta(days=1)
    later = [
        i
        for i in everything.incidents
        if day_end <= i.start < day_end + NEAREST_AFTER
        and i.severity_label in SERIOUS
        and (wanted is None or wanted(i))
    ]
    if not later:
        return
    active = investigation.incident
    investigation.asked_day_detection_id = investigation.detection_id
    investigation.asked_day_incident = active.incident_id if active else None
    investigation.detection, investigation.detection_id = everything, item.id
    investigation.incident = max(later, key=lambda i: i.severity)
    on_day = (
        f"no incident was active on {day}"
        if active is None
        else f"only low-severity incidents were active on {day} ({active.incident_id})"
    )
    investigation.notes.append(
        f"{on_day} [{investigation.asked_day_detection_id}]; "
        f"investigating {investigation.incident.incident_id}, which began "
        f"{investigation.incident.start:%Y-%m-%d %H:%M} [{item.id}]"
    )


def _adapt_to_data(context: ToolContext, investigation: Investigation) -> None:
    """Hypotheses with fallback tests for missing data; data-quality notes on ingested data."""
    needs = {n for h in LIBRARY.values() for n in h.needs}
    needs |= {n for h in LIBRARY.values() if h.fallback for n in h.fallback.needs}
    present = columns_with_data(context.con, needs)
    for kind, hypothesis in LIBRARY.items():
        investigation.library[kind], note = hypothesis.for_data(present)
        if note:
            investigation.notes.append(note)
    for hypothesis in investigation.library.values():
        driver = hypothesis.primary.driver
        lacking = missing_requirements(context.con, DRIVERS[driver]) if driver in DRIVERS else []
        if lacking:
            investigation.missing_data[driver] = tuple(lacking)
    if is_ingested(context.world_dir):
        found = _try(context, "data_quality", {})
        if not isinstance(found, ToolError):
            report: DataQualityOutput = found[0]
            investigation.notes += [f"data quality [{found[1]}]: {w}" for w in report.warnings]


def localize_incident(
    context: ToolContext,
    investigation: Investigation,
    metric: str | None = None,
    focus: dict[str, list] | None = None,
) -> None:
    """Top slices of the incident (on `metric` when given, else its slice metric); they become
    the sites where hypotheses are tested, narrowed to the `focus` cohort when one was asked."""
    incident = investigation.incident
    assert incident is not None
    end = incident.end or investigation.detection.data_end + dt.timedelta(seconds=1)
    if investigation.as_of is not None:
        end = min(end, investigation.as_of)
    investigation.window = (incident.start, end)
    arguments: dict[str, Any] = {"incident_id": incident.incident_id, "grain": incident.grain}
    if investigation.as_of is not None:
        arguments["as_of"] = investigation.as_of
    if metric is not None and metric != incident.slice_metric:
        arguments["metric"] = metric
    found = _try(context, "top_slices", arguments)
    if isinstance(found, ToolError):
        investigation.notes.append(f"slices: {found}")
        found_slices: list[SliceSummary] = []
    else:
        investigation.slices, investigation.slices_id = found
        found_slices = investigation.slices.slices
    investigation.sites = [
        Site(filters=s.filters, description=s.description, orders=s.orders)
        for s in found_slices[:MAX_SITES]
    ]
    if not investigation.sites:
        cohort = _fallback_cohort(incident)
        filters = _hours_for_dayparts(cohort_slice(cohort))  # the drivers read hours
        investigation.sites = [Site(filters=filters, description=cohort, orders=0)]
        where = (
            "primary cohort" if cohort == incident.primary_cohort
            else "cohort that alarmed" if cohort in incident.cohorts
            else "cohort where the alarms overlap"
        )  # fmt: skip
        investigation.notes.append(f"no significant slice: hypotheses tested on the {where}")
    _add_other_metric_sites(context, investigation)
    if focus:
        _narrow_sites(investigation, focus)
    for site in investigation.sites:
        _find_worst_stretch(context, investigation, site)


def _find_worst_stretch(context: ToolContext, investigation: Investigation, site: Site) -> None:
    """The site's window: the stretch of the incident window where its metric was worst,
    when one stands out and leaves some of the periods read out (a window of days can hold a
    cause of one afternoon: seed 12064's three-day window and one-day surge); else the incident
    window."""
    assert investigation.incident is not None
    start, end = window_of(investigation)
    metric = site.metric or investigation.incident.slice_metric
    arguments = {
        "filters": site.filters,
        "start": start,
        "end": end,
        "metric": metric,
        "grain": investigation.incident.grain,
    }
    found = _try(context, "worst_stretch", arguments)
    if isinstance(found, ToolError):
        investigation.notes.append(f"worst stretch in {site.description}: {found}")
        return
    stretch: WorstStretchOutput = found[0]
    if stretch.found and stretch.periods < stretch.periods_scanned:
        site.window, site.window_id = (stretch.stretch_start, stretch.stretch_end), found[1]


def _fallback_cohort(incident: IncidentSummary) -> str:
    """Where to test hypotheses when no slice stands out: the cohort where every alarm's cohort
    and the primary cohort hold together (the union of their conditions), when no two of them
    name different groups of one dimension, else the primary cohort. A region x category
    cohort cannot lead an incident, and a shortage in its region is not seen in its category's
    marketplace-wide orders (seed 7016); a marketplace led by its alarms in the west is tested
    in the west (seed 9077); an east lunch surge led by convenience, alarmed in east x
    convenience and in convenience at lunch, is tested in the east's convenience lunches (seed
    15048)."""
    merged = cohort_filters(incident.primary_cohort)
    for name in incident.cohorts:
        for dimension, value in cohort_filters(name).items():
            if merged.setdefault(dimension, value) != value:
                return incident.primary_cohort
    return COHORT_JOIN.join(f"{dimension}={value}" for dimension, value in merged.items()) or "all"


def _narrow_sites(investigation: Investigation, focus: dict[str, list]) -> None:
    """Each site intersected with the asked cohort (a site disjoint from it is dropped); the
    asked cohort itself when none is left."""
    focus = _hours_for_dayparts(focus)
    narrowed = []
    for site in investigation.sites:
        site_filters = _hours_for_dayparts(site.filters)
        if not _disjoint(site_filters, focus):
            filters = {**focus, **site_filters}
            for name in site_filters.keys() & focus.keys():
                filters[name] = [v for v in site_filters[name] if v in focus[name]]
            narrowed.append(Site(filters, describe_slice(filters), site.orders, site.metric))
    if not narrowed:
        description = describe_slice(focus)
        narrowed = [Site(dict(focus), description, 0)]
        investigation.notes.append(
            f"the incident's slices lie outside {description}: hypotheses tested there as asked"
        )
    investigation.sites = narrowed


def _add_other_metric_sites(context: ToolContext, investigation: Investigation) -> None:
    """A site for each other alarming share metric (by CX weight) whose top slice is disjoint
    from every site so far, up to MAX_OTHER_METRIC_SITES."""
    incident = investigation.incident
    assert incident is not None
    names = {SLICE_METRIC.get(name, name) for name in incident.metrics} - {incident.slice_metric}
    others = sorted(
        (name for name in names if name in METRICS and not METRICS[name].square),
        key=lambda name: (-METRICS[name].cx_weight, name),
    )
    added = 0
    for name in others:
        if added == MAX_OTHER_METRIC_SITES:
            break
        arguments = {"incident_id": incident.incident_id, "grain": incident.grain, "metric": name}
        found = _try(context, "top_slices", arguments)
        if isinstance(found, ToolError) or not found[0].slices:
            continue
        top = found[0].slices[0]
        if all(_disjoint(top.filters, site.filters) for site in investigation.sites):
            site = Site(top.filters, top.description, top.orders, metric=name)
            investigation.sites.append(site)
            added += 1


def _hours_for_dayparts(filters: dict[str, list]) -> dict[str, list]:
    """Dayparts written as their hours, so 'dinner' meets a slice of hours 18-20 (and drivers
    measured by hour, such as dasher supply, stay testable)."""
    if "daypart" not in filters:
        return dict(filters)
    hours = sorted({h for part in filters["daypart"] for h in _daypart_hours(str(part))})
    rest = {name: values for name, values in filters.items() if name != "daypart"}
    if "hour" in rest:
        hours = [h for h in rest["hour"] if h in hours]
    return {**rest, "hour": hours}


def _daypart_hours(daypart: str) -> list[int]:
    start, end = DAYPARTS[daypart]
    return list(range(start, end)) if end > start else [*range(start, 24), *range(0, end)]


def _disjoint(first: dict[str, list], second: dict[str, list]) -> bool:
    """Whether two slices share no order: some dimension both filter has no common value."""
    return any(not set(first[name]) & set(second[name]) for name in first.keys() & second.keys())


def window_of(investigation: Investigation) -> tuple[dt.datetime, dt.datetime]:
    """The incident window of an investigation that has localized its incident."""
    assert investigation.window is not None, "the incident is not localized yet"
    return investigation.window


def _window_arguments(investigation: Investigation, site: Site) -> dict[str, Any]:
    """The windowed tools' slice and window. A window shorter than a day is compared with the
    same hours of the day before it (its hours join the filters, unless the site names hours):
    the dinner peak's prep time or quotes are not a shift against the whole day's."""
    start, end = site.window or window_of(investigation)
    filters = dict(site.filters)
    if "hour" not in filters and end - start < dt.timedelta(days=1):
        hours = int((end - start) / dt.timedelta(hours=1))
        filters["hour"] = sorted({(start + dt.timedelta(hours=h)).hour for h in range(hours)})
    return {"filters": filters, "start": start, "end": end}


@dataclass(frozen=True)
class PlannedCall:
    """One tool call of the test plan, and what it tests."""

    tool: str
    args: dict[str, Any]
    purpose: str
    site: int
    hypothesis: str | None = None
    role: str = "shared"  # primary, supporting, refuting, lag or shared


def plan_tests(investigation: Investigation) -> list[PlannedCall]:
    """The hypothesis library as a tool plan: per site, the change log, a SHAP attribution and
    every hypothesis' drivers (diff-in-diffs follow from the change log when it is read)."""
    assert investigation.incident is not None
    plan = []
    for index, site in enumerate(investigation.sites):
        metric = site.metric or investigation.incident.slice_metric
        window = _window_arguments(investigation, site)
        plan.append(
            PlannedCall(
                "change_log",
                {"around": window["start"], "filters": site.filters},
                f"changes logged near the incident in {site.description}",
                index,
            )
        )
        plan.append(
            PlannedCall(
                "shap_attribution",
                {**window, "metric": metric},
                f"which drivers moved {metric} in {site.description}",
                index,
            )
        )
        for kind, hypothesis in investigation.library.items():
            checks = [(hypothesis.primary, "primary")]
            checks += [(c, "supporting") for c in hypothesis.supporting]
            checks += [(c, "refuting") for c in hypothesis.refuting]
            for check, role in checks:
                plan.append(
                    PlannedCall(
                        "driver_shift",
                        {**window, "driver": check.driver},
                        f"{kind}: {check.why}",
                        index,
                        kind,
                        role,
                    )
                )
            if hypothesis.primary.driver in METRICS:
                plan.append(
                    PlannedCall(
                        "lagged_correlation",
                        {**window, "driver": hypothesis.primary.driver, "metric": metric},
                        f"{kind}: does {hypothesis.primary.driver} lead {metric}?",
                        index,
                        kind,
                        "lag",
                    )
                )
    return plan  # fmt: skip


Result = tuple[Any, str] | ToolError


def gather(
    context: ToolContext, investigation: Investigation, plan: list[PlannedCall]
) -> list[tuple[PlannedCall, Result]]:
    """Run the plan; each logged change that overlaps a site adds its diff-in-diff."""
    assert investigation.incident is not None
    results: list[tuple[PlannedCall, Result]] = []
    for call in plan:
        result = _try(context, call.tool, call.args)
        results.append((call, result))
        if isinstance(result, ToolError) and call.tool == "shap_attribution":
            call, result = _shap_over_the_window(context, investigation, call, result, results)
        if isinstance(result, ToolError):
            if call.role == "shared":
                investigation.notes.append(f"{call.tool}: {result}")
            continue
        if call.tool == "change_log":
            investigation.changes, investigation.changes_id = result
            metric = investigation.sites[call.site].metric or investigation.incident.slice_metric
            for change in result[0].changes:
                if not (change.overlaps_slice and change.scope):
                    continue  # marketplace-wide changes have no control group
                did_call = PlannedCall(
                    "diff_in_diff", {"change_id": change.change_id, "metric": metric},
                    f"did {change.name} move {metric} in its scope?", call.site,
                )  # fmt: skip
                did = _try(context, did_call.tool, did_call.args)
                results.append((did_call, did))
                if isinstance(did, ToolError):
                    investigation.notes.append(f"diff-in-diff {change.change_id}: {did}")
                else:
                    investigation.did[change.change_id] = did
        elif call.tool == "shap_attribution" and investigation.shap is None:
            investigation.shap, investigation.shap_id = result
        elif call.tool == "driver_shift":
            site = investigation.sites[call.site]
            investigation.drivers[f"{site.description}|{call.args['driver']}"] = result
    return results


def _shap_over_the_window(
    context: ToolContext,
    investigation: Investigation,
    call: PlannedCall,
    failed: ToolError,
    results: list[tuple[PlannedCall, Result]],
) -> tuple[PlannedCall, Result]:
    """A SHAP attribution that failed in a site's worst stretch (a few hours of a small
    marketplace hold too few orders for a model) made again over the incident window."""
    site = investigation.sites[call.site]
    if site.window is None:
        return call, failed
    wider = replace(site, window=None, window_id=None)
    again = replace(call, args={**call.args, **_window_arguments(investigation, wider)})
    result = _try(context, again.tool, again.args)
    results.append((again, result))
    if not isinstance(result, ToolError):
        investigation.notes.append(
            f"shap_attribution in the worst stretch: {failed}; attributed over the incident "
            "window instead"
        )
    return again, result


def assess(
    investigation: Investigation, results: list[tuple[PlannedCall, Result]]
) -> list[HypothesisTestsModel]:
    """What each hypothesis' tests showed, in the best site for it."""
    best: dict[str, HypothesisTestsModel] = {}
    for index, site in enumerate(investigation.sites):
        in_site = [(call, result) for call, result in results if call.site == index]
        for kind, hypothesis in investigation.library.items():
            missing = investigation.missing_data.get(hypothesis.primary.driver, ())
            tests = _assess_hypothesis(hypothesis, site, in_site, missing)
            current = best.get(kind)
            if current is None or _strength(tests) > _strength(current):
                best[kind] = tests
    return list(best.values())


def _assess_hypothesis(
    hypothesis: Hypothesis,
    site: Site,
    results: list[tuple[PlannedCall, Result]],
    missing: tuple[str, ...] = (),
) -> HypothesisTestsModel:
    """What the tests of `hypothesis` showed in `site`; `missing`: the requirements its primary
    driver lacks in the warehouse (a failed primary call then failed for want of data)."""
    tests = HypothesisTestsModel(
        kind=hypothesis.kind, expected_direction=hypothesis.primary.direction
    )
    mine = [(c, r) for c, r in results if c.hypothesis == hypothesis.kind]
    primary = next((r for c, r in mine if c.role == "primary"), None)
    if primary is None or isinstance(primary, ToolError):
        if primary is not None and missing:
            tests.missing = list(missing)
        else:  # the data is there but the test failed: untested, never ruled out
            driver = hypothesis.primary.driver
            tests.untested = f"{driver} could not be measured in {site.description}"
            tests.reasons.append(f"{driver}: {primary if primary is not None else 'not run'}")
        return tests
    output, evidence_id = primary
    tests.evidence.append(evidence_id)
    tests.primary_z, tests.primary_p = output.z, output.p_value
    tests.primary_effect, tests.primary_specificity = output.effect_size, output.specificity
    tests.primary_timing = output.timing
    verdict = _verdict(output, hypothesis.primary)
    tests.reasons.append(f"{hypothesis.primary.why}: {_SAID[verdict]} [{evidence_id}]")
    if verdict != "moved":
        return tests
    checks = {c.driver: c for c in (*hypothesis.supporting, *hypothesis.refuting)}
    for call, result in mine:
        if call.role not in ("supporting", "refuting") or isinstance(result, ToolError):
            continue
        check = checks[call.args["driver"]]
        held = _moved(result[0], check)
        (tests.supporting if call.role == "supporting" else tests.refuting).append(held)
        tests.evidence.append(result[1])
        if call.role == "refuting" and held:
            tests.reasons.append(f"refuted in part: {check.why} [{result[1]}]")
            tests.refuted_by.append(result[1])
    shared = {c.tool: r for c, r in results if c.hypothesis is None and c.tool != "diff_in_diff"}
    shap = shared.get("shap_attribution")
    if shap is not None and not isinstance(shap, ToolError):
        tests.explained_share = shap[0].by_cause.get(hypothesis.kind, 0.0)
        tests.evidence.append(shap[1])
    changes = shared.get("change_log")
    if changes is not None and not isinstance(changes, ToolError):
        dids = {
            c.args["change_id"]: r
            for c, r in results
            if c.tool == "diff_in_diff" and not isinstance(r, ToolError)
        }
        for change in changes[0].changes:
            if not change.overlaps_slice or change.name not in hypothesis.change_names:
                continue
            tests.logged_change = True
            tests.evidence.append(changes[1])
            tests.reasons.append(
                f"logged change {change.change_id} ({change.name}) overlaps the slice"
            )
            if change.change_id in dids:
                did, did_id = dids[change.change_id]
                tests.evidence.append(did_id)
                tests.did_significant = (
                    did.p_value < 0.05 and did.estimate > 0 and did.pre_trend_ok is not False
                )
    lag = next((r for c, r in mine if c.role == "lag"), None)
    if lag is not None and not isinstance(lag, ToolError):
        tests.evidence.append(lag[1])
    tests.orders_affected = site.orders
    tests.evidence = list(dict.fromkeys(tests.evidence))
    return tests


def rank(
    context: ToolContext, investigation: Investigation, tests: list[HypothesisTestsModel]
) -> None:
    """Score and rank the hypotheses (the rank_causes tool)."""
    ranked, item = context.call("rank_causes", {"hypotheses": [t.model_dump() for t in tests]})
    investigation.causes, investigation.causes_id = cast(RankCausesOutput, ranked), item.id


def investigate(
    context: ToolContext,
    incident_id: str | None = None,
    day: dt.date | None = None,
    grain: Grain = "auto",
    as_of: dt.datetime | None = None,
) -> Investigation:
    """Detect, localize and test every hypothesis; rank the causes."""
    investigation = find_incident(context, incident_id, day, grain, as_of)
    if investigation.incident is None:
        return investigation
    localize_incident(context, investigation)
    results = gather(context, investigation, plan_tests(investigation))
    rank(context, investigation, assess(investigation, results))
    return investigation


def investigate_window(
    context: ToolContext,
    start: dt.datetime,
    end: dt.datetime,
    filters: dict[str, list],
    metric: str,
    baseline_days: int | None = None,
) -> Investigation:
    """Test every hypothesis in one given slice over [start, end) and rank the causes, with no
    detection or localization (a benchmark's oracle: the true window and scope are handed over).

    The hypotheses adapt to the data as in `investigate`; the plan, its tool calls, the
    assessment and the rank_causes ranking are `investigate`'s. `metric`: the share metric the
    SHAP attribution and lagged correlations read (an incident's slice metric);
    `baseline_days`: the days before `start` the windowed calls compare with (None: the tools'
    default). The incident is a stand-in named "given", and `detection_id` is empty."""
    span = data_span(context.con)
    incident = IncidentSummary(
        incident_id="given", grain="hour", start=start, end=end, detected_at=start,
        detection_delay_hours=0.0, metrics=[metric], cohorts=[],
        primary_metric=metric, primary_cohort=describe_slice(filters), slice_metric=metric,
        impact_orders=0.0, severity=0.0, severity_label="given", peak_z=0.0,
        cx_expected=math.nan, cx_observed=math.nan,
    )  # fmt: skip
    detection = DetectIncidentsOutput(
        summary="window and scope given: no detection", grain="hour", as_of=end,
        data_start=span.first, data_end=span.last, series_scanned=0, alarms=0,
        incidents=[incident],
    )  # fmt: skip
    investigation = Investigation(detection=detection, detection_id="", incident=incident)
    _adapt_to_data(context, investigation)
    investigation.window = (start, end)
    investigation.sites = [Site(dict(filters), describe_slice(filters), 0, metric)]
    plan = plan_tests(investigation)
    if baseline_days is not None:
        plan = [
            replace(call, args={**call.args, "baseline_days": baseline_days})
            if issubclass(REGISTRY[call.tool].input_model, SliceWindow)
            else call
            for call in plan
        ]
    results = gather(context, investigation, plan)
    rank(context, investigation, assess(investigation, results))
    return investigation


def _strength(tests: HypothesisTestsModel) -> tuple[int, float]:
    scored = score(tests.to_tests())
    order = {"supported": 3, "weak": 2, "ruled_out": 1, "not_testable": 0}
    return order[scored.status], scored.confidence
