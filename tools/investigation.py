"""Root-cause investigation of an incident, driven by the hypothesis library.

The plan is data: for each slice that carries the incident, every hypothesis' drivers, the
change log, a diff-in-diff per logged change overlapping the slice, a SHAP attribution and a
lagged correlation for drivers that moved. Every step is a tool call, so every number lands in
the evidence ledger; the ranking is the rank_causes tool over what was measured.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from analytics.metrics import METRICS
from analytics.ranking import RULE_OUT_P, score
from tools.base import ToolContext, ToolError
from tools.detection import DetectIncidentsOutput, IncidentSummary, SliceSummary, TopSlicesOutput
from tools.hypotheses import LIBRARY, DriverCheck, Hypothesis
from tools.rca import (
    ChangeLogOutput,
    DiffInDiffOutput,
    DriverShiftOutput,
    HypothesisTestsModel,
    RankCausesOutput,
    ShapAttributionOutput,
)

MAX_SITES = 2
Grain = Literal["hour", "day"]


@dataclass
class Site:
    """A slice the investigation tests hypotheses in."""

    filters: dict[str, list]
    description: str
    orders: int


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


def _try(context: ToolContext, name: str, arguments: dict[str, Any]) -> tuple[Any, str] | ToolError:
    try:
        output, item = context.call(name, arguments)
    except ToolError as error:
        return error
    return output, item.id


def _moved(output: DriverShiftOutput, check: DriverCheck) -> bool:
    return output.p_value < RULE_OUT_P and output.z * check.direction > 0


def find_incident(
    context: ToolContext,
    incident_id: str | None = None,
    day: dt.date | None = None,
    grain: Grain = "hour",
    as_of: dt.datetime | None = None,
) -> Investigation:
    """Detect incidents and pick the one to investigate (by id, or the most severe on `day`)."""
    detection, item = context.call("detect_incidents", {"grain": grain, "day": day, "as_of": as_of})
    investigation = Investigation(detection=detection, detection_id=item.id)
    candidates = detection.incidents
    if incident_id:
        candidates = [i for i in candidates if i.incident_id == incident_id]
        if not candidates:
            known = ", ".join(i.incident_id for i in detection.incidents) or "none"
            raise ToolError(f"no incident {incident_id!r}; detected: {known}")
    if candidates:
        investigation.incident = candidates[0]
    return investigation


def localize_incident(context: ToolContext, investigation: Investigation) -> None:
    """Top slices of the incident; they become the sites where hypotheses are tested."""
    incident = investigation.incident
    assert incident is not None
    end = incident.end or investigation.detection.data_end + dt.timedelta(seconds=1)
    investigation.window = (incident.start, end)
    found = _try(
        context, "top_slices", {"incident_id": incident.incident_id, "grain": incident.grain}
    )
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
        dimension, _, cohort = incident.primary_cohort.partition("=")
        filters = {dimension: [cohort]} if cohort else {}
        investigation.sites = [Site(filters=filters, description=incident.primary_cohort, orders=0)]
        investigation.notes.append("no significant slice: hypotheses tested on the primary cohort")


def _window_arguments(investigation: Investigation, site: Site) -> dict[str, Any]:
    start, end = investigation.window  # type: ignore[misc]
    return {"filters": site.filters, "start": start, "end": end}


def _test_site(
    context: ToolContext, investigation: Investigation, site: Site, metric: str
) -> dict[str, HypothesisTestsModel]:
    """Measure every hypothesis in one site."""
    window = _window_arguments(investigation, site)
    changes = _try(context, "change_log", {"around": window["start"], "filters": site.filters})
    change_rows: list = []
    change_id = None
    if not isinstance(changes, ToolError):
        investigation.changes, change_id = changes
        investigation.changes_id = investigation.changes_id or change_id
        change_rows = [c for c in changes[0].changes if c.overlaps_slice]
    did_results: dict[str, tuple[DiffInDiffOutput, str]] = {}
    for change in change_rows:
        if not change.scope:
            continue  # marketplace-wide change: no control group
        found = _try(context, "diff_in_diff", {"change_id": change.change_id, "metric": metric})
        if isinstance(found, ToolError):
            investigation.notes.append(f"diff-in-diff {change.change_id}: {found}")
            continue
        did_results[change.change_id] = found
        investigation.did[change.change_id] = found
    shap = _try(context, "shap_attribution", {**window, "metric": metric})
    shap_output, shap_id = (None, None) if isinstance(shap, ToolError) else shap
    if isinstance(shap, ToolError):
        investigation.notes.append(f"SHAP attribution: {shap}")
    elif investigation.shap is None:
        investigation.shap, investigation.shap_id = shap_output, shap_id

    measured = {}
    for kind, hypothesis in LIBRARY.items():
        measured[kind] = _test_hypothesis(
            context, investigation, hypothesis, site, window, metric,
            change_rows, change_id, did_results, shap_output, shap_id,
        )  # fmt: skip
    return measured


def _test_hypothesis(
    context: ToolContext,
    investigation: Investigation,
    hypothesis: Hypothesis,
    site: Site,
    window: dict[str, Any],
    metric: str,
    change_rows: list,
    change_id: str | None,
    did_results: dict[str, tuple[DiffInDiffOutput, str]],
    shap: ShapAttributionOutput | None,
    shap_id: str | None,
) -> HypothesisTestsModel:
    tests = HypothesisTestsModel(
        kind=hypothesis.kind, expected_direction=hypothesis.primary.direction
    )
    primary = _try(context, "driver_shift", {**window, "driver": hypothesis.primary.driver})
    if isinstance(primary, ToolError):
        message = str(primary)
        if "not testable" in message:
            tests.missing = [message.split("missing ", 1)[-1]]
        tests.reasons.append(f"{hypothesis.primary.driver}: {message}")
        return tests
    output, evidence_id = primary
    investigation.drivers[f"{site.description}|{hypothesis.primary.driver}"] = primary
    tests.evidence.append(evidence_id)
    tests.primary_z, tests.primary_p = output.z, output.p_value
    tests.primary_effect, tests.primary_specificity = output.effect_size, output.specificity
    tests.primary_timing = output.timing
    moved = _moved(output, hypothesis.primary)
    tests.reasons.append(f"{hypothesis.primary.why}: {'yes' if moved else 'no'} [{evidence_id}]")
    if not moved:
        return tests  # ruled out: no need to spend more tests
    for check, bucket in [(c, tests.supporting) for c in hypothesis.supporting] + [
        (c, tests.refuting) for c in hypothesis.refuting
    ]:
        found = _try(context, "driver_shift", {**window, "driver": check.driver})
        if isinstance(found, ToolError):
            continue
        investigation.drivers[f"{site.description}|{check.driver}"] = found
        result = _moved(found[0], check)
        bucket.append(result)
        tests.evidence.append(found[1])
        if bucket is tests.refuting and result:
            tests.reasons.append(f"refuted in part: {check.why} [{found[1]}]")
    if shap is not None and shap_id is not None:
        tests.explained_share = shap.by_cause.get(hypothesis.kind, 0.0)
        tests.evidence.append(shap_id)
    for change in change_rows:
        if change.name in hypothesis.change_names:
            tests.logged_change = True
            if change_id:
                tests.evidence.append(change_id)
            tests.reasons.append(
                f"logged change {change.change_id} ({change.name}) overlaps the slice"
            )
            if change.change_id in did_results:
                did, did_id = did_results[change.change_id]
                tests.evidence.append(did_id)
                tests.did_significant = (
                    did.p_value < 0.05 and did.estimate > 0 and did.pre_trend_ok is not False
                )
    if hypothesis.primary.driver in METRICS:
        lag = _try(
            context,
            "lagged_correlation",
            {**window, "driver": hypothesis.primary.driver, "metric": metric},
        )
        if not isinstance(lag, ToolError):
            tests.evidence.append(lag[1])
    tests.orders_affected = site.orders
    tests.evidence = list(dict.fromkeys(tests.evidence))
    return tests


def investigate(
    context: ToolContext,
    incident_id: str | None = None,
    day: dt.date | None = None,
    grain: Grain = "hour",
    as_of: dt.datetime | None = None,
) -> Investigation:
    """Detect, localize and test every hypothesis; rank the causes."""
    investigation = find_incident(context, incident_id, day, grain, as_of)
    if investigation.incident is None:
        return investigation
    localize_incident(context, investigation)
    metric = investigation.incident.slice_metric
    best: dict[str, HypothesisTestsModel] = {}
    for site in investigation.sites:
        for kind, tests in _test_site(context, investigation, site, metric).items():
            current = best.get(kind)
            if current is None or _strength(tests) > _strength(current):
                best[kind] = tests
    ranked, item = context.call(
        "rank_causes", {"hypotheses": [t.model_dump() for t in best.values()]}
    )
    investigation.causes, investigation.causes_id = ranked, item.id
    return investigation


def _strength(tests: HypothesisTestsModel) -> tuple[int, float]:
    scored = score(tests.to_tests())
    order = {"supported": 3, "weak": 2, "ruled_out": 1, "not_testable": 0}
    return order[scored.status], scored.confidence
