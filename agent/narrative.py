"""The template narrative: the answer written from evidence figures, every number cited.

It is the offline backend's answer and the fallback when an LLM's answer fails the grounding
check. Numbers are formatted from figures exactly as the grounding checker reads them (shares as
percentages at one decimal, minutes at one decimal, CX points at two).
"""

from __future__ import annotations

import datetime as dt
from typing import Any


class _Evidence:
    """Read figures of evidence items (dicts as stored in the agent state)."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = {item["id"]: item for item in items}

    def value(self, evidence_id: str | None, name: str) -> Any:
        if evidence_id is None or evidence_id not in self.items:
            return None
        figure = self.items[evidence_id].get("figures", {}).get(name)
        return None if figure is None else figure["value"]

    def pct(self, evidence_id: str | None, name: str) -> str | None:
        value = self.value(evidence_id, name)
        return None if value is None else f"{100 * float(value):.1f}%"

    def pp(self, evidence_id: str | None, name: str) -> str | None:
        value = self.value(evidence_id, name)
        return None if value is None else f"{100 * float(value):+.1f} pp"

    def fixed(
        self, evidence_id: str | None, name: str, digits: int, sign: bool = False
    ) -> str | None:
        value = self.value(evidence_id, name)
        if value is None:
            return None
        return f"{float(value):{'+' if sign else ''}.{digits}f}"

    def count(self, evidence_id: str | None, name: str) -> str | None:
        value = self.value(evidence_id, name)
        return None if value is None else f"{round(float(value)):,}"

    def date(self, evidence_id: str | None, name: str) -> str | None:
        value = self.value(evidence_id, name)
        if value is None:
            return None
        day = dt.datetime.fromisoformat(str(value)).date()
        return f"{day:%b} {day.day}, {day.year}"

    def when(self, evidence_id: str | None, name: str) -> str | None:
        value = self.value(evidence_id, name)
        if value is None:
            return None
        return dt.datetime.fromisoformat(str(value)).strftime("%Y-%m-%d %H:%M")


def _driver_text(ev: _Evidence, evidence_id: str, label: str, unit: str) -> str:
    if unit == "share":
        before, after = ev.pct(evidence_id, "baseline"), ev.pct(evidence_id, "incident")
    elif unit == "minutes":
        before = f"{ev.fixed(evidence_id, 'baseline', 1)} min"
        after = f"{ev.fixed(evidence_id, 'incident', 1)} min"
    else:
        before, after = ev.fixed(evidence_id, "baseline", 2), ev.fixed(evidence_id, "incident", 2)
    return f"{label.lower()} went from {before} to {after} [{evidence_id}]"


def _incident_lead(facts: dict[str, Any], ev: _Evidence, detect: str | None, key: str) -> str:
    """CX expected vs observed; where the data has no CX score, the primary metric's. Names
    the CX score's missing parts when some are."""
    cohort = facts["primary_cohort"]
    if ev.value(detect, f"{key}.cx_expected") is not None:
        lead = (
            f"CX in {cohort} fell from {ev.fixed(detect, f'{key}.cx_expected', 2)} "
            f"expected to {ev.fixed(detect, f'{key}.cx_observed', 2)} [{detect}]."
        )
    else:
        figure = ev.items.get(detect or "", {}).get("figures", {}).get(f"{key}.primary_expected")
        unit = figure["unit"] if figure else ""
        if unit == "share":
            values = [ev.pct(detect, f"{key}.primary_{n}") for n in ("expected", "observed")]
        elif unit == "minutes":
            values = [f"{ev.fixed(detect, f'{key}.primary_{n}', 1)} min"
                      for n in ("expected", "observed")]  # fmt: skip
        else:
            values = [ev.fixed(detect, f"{key}.primary_{n}", 2) for n in ("expected", "observed")]
        label = figure["label"] if figure and figure.get("label") else "The primary metric"
        where = "the marketplace" if cohort == "all" else cohort
        lead = f"{label} in {where} went from {values[0]} expected to {values[1]} [{detect}]."
    coverage = ev.value(detect, "cx_coverage")
    return f"{lead} {coverage} [{detect}]." if coverage else lead


def template_narrative(facts: dict[str, Any], evidence: list[dict[str, Any]]) -> str:
    """The answer, built only from figures of the cited evidence items."""
    if facts.get("text"):  # an answer handler's own template
        return str(facts["text"])
    ev = _Evidence(evidence)
    detect = facts.get("detect")
    if not facts.get("incident"):
        scanned = ev.count(detect, "series_scanned")
        day = facts.get("question_day")
        where = f" on {day}" if day else ""
        return (
            f"No CX regression found{where}: {scanned} metric series (marketplace, each region, "
            f"each category) stayed within their seasonal baselines [{detect}]."
        )
    key = facts["incident"]
    asked = facts.get("asked_day_detect")
    parts = (
        [
            f"No incident was active on {facts['question_day']} [{asked}]; the nearest began "
            "within a day after it."
        ]
        if asked and facts.get("question_day")
        else []
    )
    parts += [
        f"{_incident_lead(facts, ev, detect, key)} Incident {key} "
        f"began {ev.when(detect, f'{key}.start')} and was detected at "
        f"{ev.when(detect, f'{key}.detected_at')}, severity "
        f"{ev.fixed(detect, f'{key}.severity', 1)} out of 100 [{detect}]."
    ]
    if facts.get("severity_label") == "low":
        parts.append(
            "Its severity is low: a change this small also shows up by chance in quiet weeks, "
            "so treat it as noise unless a cause below is supported."
        )
    slices = facts.get("slices")
    if slices and ev.value(slices, "slice1.orders") is not None:
        parts.append(
            f"It concentrates in {facts['top_slice']}, where the {facts['slice_metric_label']} "
            f"went from {ev.pct(slices, 'slice1.baseline_value')} to "
            f"{ev.pct(slices, 'slice1.current_value')} over {ev.count(slices, 'slice1.orders')} "
            f"orders [{slices}]."
        )
    focus = facts.get("focus")
    if focus:
        parts.append(
            f"As asked about {focus['asked']}, the causes below were tested in {focus['site']}."
        )
    rank = facts.get("rank")
    causes = facts.get("causes", [])
    for position, cause in enumerate(causes[:2]):
        lead = "Most likely cause" if position == 0 else "Also contributing"
        sentence = (
            f"{lead}: {cause['title'].lower()} (confidence "
            f"{ev.fixed(rank, cause['kind'] + '.confidence', 2)}) [{rank}]"
        )
        if cause.get("primary"):
            sentence += "; " + _driver_text(
                ev, cause["primary"], cause["primary_label"], cause["primary_unit"]
            )
        change = cause.get("change")
        if change:
            sentence += (
                f"; {change['name']} was changed at "
                f"{ev.when(change['evidence'], change['change_id'] + '.change_time')} "
                f"[{change['evidence']}]"
            )
        did = cause.get("did")
        if did:
            sentence += (
                f", and in that change's scope the {cause['did_outcome']} moved "
                f"{ev.pp(did, 'estimate')} against comparable orders (95% interval "
                f"{ev.pp(did, 'ci_low')} to {ev.pp(did, 'ci_high')}) [{did}]"
            )
        parts.append(sentence + ".")
    if rank and not causes:
        parts.append(f"No hypothesis of the library is supported by the evidence [{rank}].")
    if facts.get("ruled_out"):
        parts.append(f"Ruled out: {', '.join(facts['ruled_out'])} [{rank}].")
    for missing in facts.get("not_testable", []):
        parts.append(f"Not testable: {missing['kind']} ({missing['reason']}) [{rank}].")
    recommend = facts.get("recommend")
    recommendations = facts.get("recommendations", [])
    if recommend and recommendations:
        top = recommendations[0]
        action = top["action"]
        parts.append(
            f"Recommended: {top['title'][0].lower() + top['title'][1:]}, worth "
            f"{ev.fixed(recommend, action + '.cx_gain', 2, sign=True)} CX points (90% interval "
            f"{ev.fixed(recommend, action + '.cx_gain_low', 2, sign=True)} to "
            f"{ev.fixed(recommend, action + '.cx_gain_high', 2, sign=True)}) at "
            f"${ev.fixed(recommend, action + '.cost_usd_per_order', 2)} per order [{recommend}]."
        )
        if len(recommendations) > 1:
            other = recommendations[1]
            parts.append(
                f"Alternative: {other['title'][0].lower() + other['title'][1:]}, worth "
                f"{ev.fixed(recommend, other['action'] + '.cx_gain', 2, sign=True)} CX points "
                f"[{recommend}]."
            )
    plan = facts.get("plan")
    if plan:
        parts.append(f"The experiment plan to test it is attached [{plan}].")
    return " ".join(parts)
