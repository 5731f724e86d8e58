"""The RCA report: Markdown with ranked causes, evidence tables and the numbers behind each."""

from __future__ import annotations

import math

from analytics.metrics import METRICS
from tools.base import EvidenceItem, Ledger
from tools.detection import IncidentSummary
from tools.hypotheses import LIBRARY
from tools.investigation import Investigation
from tools.rca import RankCausesOutput, RankedCause


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _value(value: float, unit: str) -> str:
    if unit == "share":
        return _pct(value)
    if unit == "minutes":
        return f"{value:.1f} min"
    return f"{value:.3g}"


def expected_vs_observed(incident: IncidentSummary) -> tuple[str, str, str] | None:
    """What the incident leads with, expected and observed: the CX score, or where the data
    has none, its primary metric ('Delivery duration', '44.9 min', '54.2 min'); None when
    neither has values."""
    if math.isfinite(incident.cx_expected) and math.isfinite(incident.cx_observed):
        return "CX score", f"{incident.cx_expected:.2f}", f"{incident.cx_observed:.2f}"
    expected, observed = incident.primary_expected, incident.primary_observed
    spec = METRICS.get(incident.primary_metric)
    if spec is None or expected is None or observed is None:
        return None
    return spec.label, _value(expected, spec.unit), _value(observed, spec.unit)


def _driver_row(item: EvidenceItem) -> str:
    figures = item.figures
    unit = item.figures["baseline"].unit
    baseline = _value(float(figures["baseline"].value), "share" if unit == "share" else unit)
    incident = _value(float(figures["incident"].value), "share" if unit == "share" else unit)
    return (
        f"| {figures['baseline'].label} | {baseline} | {incident} | "
        f"{float(figures['relative_change'].value):+.1%} | {float(figures['z'].value):+.1f} | "
        f"{float(figures['specificity'].value):.2f} | {item.id} |"
    )


def _lead(incident: IncidentSummary) -> str:
    found = expected_vs_observed(incident)
    return "" if found is None else f"; {found[0]} {found[1]} expected vs {found[2]} observed"


def _incident(investigation: Investigation, incident: IncidentSummary) -> list[str]:
    """What regressed, when, where and how badly, each line citing the detection."""
    detection_id = investigation.detection_id
    end = f"{incident.end:%Y-%m-%d %H:%M}" if incident.end else "ongoing"
    return [
        f"## Incident {incident.incident_id}",
        "",
        f"- **What**: {incident.primary_metric} regressed; metrics alarming: "
        f"{', '.join(incident.metrics)} [{detection_id}]",
        f"- **When**: from {incident.start:%Y-%m-%d %H:%M} ({end}), detected "
        f"{incident.detected_at:%Y-%m-%d %H:%M} [{detection_id}]",
        f"- **Where**: worst cohort {incident.primary_cohort}{_lead(incident)} [{detection_id}]",
        f"- **Severity**: {incident.severity:g}/100 ({incident.severity_label}), "
        f"{incident.impact_orders:g} order-equivalents of CX lost [{detection_id}]",
        "",
    ]


def _slices(investigation: Investigation) -> list[str]:
    """The slices the change concentrates in, if any were found."""
    found = investigation.slices
    if not (found and found.slices):
        return []
    return [
        f"## Where it concentrates ({found.metric}) [{investigation.slices_id}]",
        "",
        "| slice | baseline | incident | orders | share of change | q-value |",
        "|---|---|---|---|---|---|",
        *(
            f"| {s.description} | {_pct(s.baseline_value)} | {_pct(s.current_value)} | "
            f"{s.orders:,} | {_pct(s.share_of_change)} | {s.q_value:.1e} |"
            for s in found.slices
        ),
        "",
    ]


def _ranked_causes(causes: RankCausesOutput, causes_id: str | None) -> list[str]:
    return [
        f"## Ranked causes [{causes_id}]",
        "",
        "| rank | cause | status | confidence | share of change explained | evidence |",
        "|---|---|---|---|---|---|",
        *(
            f"| {rank} | {cause.kind} | {cause.status.replace('_', ' ')} | "
            f"{cause.confidence:.2f} | {_pct(cause.impact_share)} | {', '.join(cause.evidence)} |"
            for rank, cause in enumerate(causes.causes, start=1)
        ),
        "",
    ]


def _cause_evidence(cause: RankedCause, ledger: Ledger) -> list[str]:
    """A supported or weak cause: its mechanism, driver table and other tests' summaries."""
    hypothesis = LIBRARY[cause.kind]
    lines = [f"### {cause.kind}: {hypothesis.title}", "", hypothesis.mechanism, ""]
    drivers = [ledger.get(e) for e in cause.evidence if ledger.get(e).tool == "driver_shift"]
    if drivers:
        lines += [
            "| driver | baseline | incident | change | z | specificity | evidence |",
            "|---|---|---|---|---|---|---|",
            *(_driver_row(item) for item in drivers),
            "",
        ]
    for evidence_id in cause.evidence:
        item = ledger.get(evidence_id)
        if item.tool in ("diff_in_diff", "lagged_correlation", "change_log"):
            lines.append(f"- {item.summary} [{item.id}]")
    return [*lines, ""]


def _ruled_out_and_untestable(causes: RankCausesOutput) -> list[str]:
    """The causes ruled out, then those not testable, each with its reasons."""
    lines: list[str] = []
    for heading, status in (("Ruled out", "ruled_out"), ("Not testable", "not_testable")):
        listed = [c for c in causes.causes if c.status == status]
        if listed:
            reasons = (f"- **{c.kind}**: {'; '.join(c.reasons)}" for c in listed)
            lines += [f"## {heading}", "", *reasons, ""]
    return lines


def _logged_changes(investigation: Investigation) -> list[str]:
    """Each logged change's difference-in-differences event study."""
    if not investigation.did:
        return []
    lines = ["## Logged changes near the incident", ""]
    for change_id, (did, evidence_id) in investigation.did.items():
        lines += [
            f"**{change_id} {did.name}** — {did.summary} [{evidence_id}]",
            "",
            "| day vs change | effect | 95% CI |",
            "|---|---|---|",
            *(
                f"| {int(row['day']):+d} | {100 * row['estimate']:+.1f} pp | "
                f"{100 * row['ci_low']:+.1f} to {100 * row['ci_high']:+.1f} pp |"
                for row in did.event_study
            ),
            "",
        ]
    return lines


def _evidence(ledger: Ledger) -> list[str]:
    return [
        "## Evidence",
        "",
        "| id | tool | summary | seconds |",
        "|---|---|---|---|",
        *(
            f"| {item.id} | {item.tool} | {item.summary} | {item.seconds:.2f} |"
            for item in ledger.items
        ),
        "",
    ]


def render_report(investigation: Investigation, ledger: Ledger) -> str:
    """Markdown RCA report; every number in it is a figure of the cited evidence item."""
    detection = investigation.detection
    lines = ["# Root-cause analysis", ""]
    incident = investigation.incident
    if incident is None:
        lines.append(
            f"No incident found in {detection.series_scanned} series "
            f"(data {detection.data_start:%Y-%m-%d} to {detection.data_end:%Y-%m-%d}) "
            f"[{investigation.detection_id}]."
        )
        return "\n".join(lines) + "\n"
    lines += [*_incident(investigation, incident), *_slices(investigation)]
    causes = investigation.causes
    if causes is None:
        return "\n".join(lines) + "\n"
    lines += _ranked_causes(causes, investigation.causes_id)
    for cause in causes.causes:
        if cause.status in ("supported", "weak"):
            lines += _cause_evidence(cause, ledger)
    lines += [*_ruled_out_and_untestable(causes), *_logged_changes(investigation)]
    if investigation.notes:
        lines += ["## Notes", "", *(f"- {note}" for note in investigation.notes), ""]
    return "\n".join([*lines, *_evidence(ledger)])
