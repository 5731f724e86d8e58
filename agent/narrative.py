"""The template narrative: the answer written from evidence figures, every number cited.

It is the offline backend's answer and the fallback when an LLM's answer fails the grounding
check. Numbers are formatted from figures exactly as the grounding checker reads them (shares as
percentages at one decimal, minutes at one decimal, CX points at two). A figure the evidence
lacks (or holds as NaN) drops the clause that would state it: no sentence prints None.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from agent.facts import CauseFact, Facts, RecommendationFact
from analytics.alarms import scanned_series
from analytics.metrics import METRICS


class _Evidence:
    """Read figures of evidence items (dicts as stored in the agent state)."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = {item["id"]: item for item in items}

    def value(self, evidence_id: str | None, name: str) -> Any:
        """The figure's value; None where it is absent or not a finite number."""
        if evidence_id is None or evidence_id not in self.items:
            return None
        figure = self.items[evidence_id].get("figures", {}).get(name)
        value = None if figure is None else figure["value"]
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    def mentions(self, text: str) -> bool:
        """Whether `text` (an identifier such as 'hour=17-21') occurs in some item, as the
        grounding checker looks for identifiers."""
        pattern = rf"(?<![\w-]){re.escape(text.lower())}(?![\w-])"
        return any(re.search(pattern, json.dumps(item).lower()) for item in self.items.values())

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


def _filled(*values: str | None) -> bool:
    """Whether every formatted value is there (a clause with a missing one is left out)."""
    return all(value is not None for value in values)


def _values(ev: _Evidence, evidence_id: str | None, names: tuple[str, str], unit: str) -> list:
    """Two figures written in their unit ('87.6%', '25.8 min', '0.91'); None where absent."""
    if unit == "share":
        return [ev.pct(evidence_id, name) for name in names]
    if unit == "minutes":
        return [
            None if (v := ev.fixed(evidence_id, name, 1)) is None else f"{v} min" for name in names
        ]
    return [ev.fixed(evidence_id, name, 2) for name in names]


def _driver_text(ev: _Evidence, evidence_id: str, label: str, unit: str) -> str:
    before, after = _values(ev, evidence_id, ("baseline", "incident"), unit)
    if not _filled(before, after):
        return ""
    return f"{label.lower()} went from {before} to {after} [{evidence_id}]"


def _incident_lead(facts: Facts, ev: _Evidence, detect: str | None, key: str) -> str:
    """CX expected vs observed; where the data has no CX score, the primary metric's. Names
    the CX score's missing parts when some are."""
    cohort = facts.primary_cohort or "all"
    where = "the marketplace" if cohort == "all" else cohort
    expected, observed = (ev.fixed(detect, f"{key}.cx_{n}", 2) for n in ("expected", "observed"))
    if _filled(expected, observed):
        # A drop in one metric can come with a steady or better CX score over the window.
        before, after = (ev.value(detect, f"{key}.cx_{n}") for n in ("expected", "observed"))
        verb = "fell" if float(after) < float(before) else "went"
        lead = f"CX in {where} {verb} from {expected} expected to {observed} [{detect}]."
    else:
        figure = ev.items.get(detect or "", {}).get("figures", {}).get(f"{key}.primary_expected")
        names = (f"{key}.primary_expected", f"{key}.primary_observed")
        values = _values(ev, detect, names, figure["unit"] if figure else "")
        metric = ev.value(detect, f"{key}.primary_metric")
        label = (
            figure["label"]
            if figure and figure.get("label")
            else METRICS[metric].label
            if metric in METRICS
            else "CX"
        )
        lead = (
            f"{label} in {where} went from {values[0]} expected to {values[1]} [{detect}]."
            if _filled(*values)
            else f"{label} in {where} regressed [{detect}]."
        )
    coverage = ev.value(detect, "cx_coverage")
    return f"{lead} {coverage} [{detect}]." if coverage else lead


def _asked_day_lead(facts: Facts, ev: _Evidence) -> str:
    """Why the incident investigated began after the asked day: none was active on it, or only
    low-severity ones (the most severe named, with its severity when the day's scan holds it)."""
    asked, low, day = facts.asked_day_detect, facts.asked_day_incident, facts.question_day
    if low is None:
        return (
            f"No incident was active on {day} [{asked}]; the nearest began within a day after it."
        )
    severity = ev.fixed(asked, f"{low}.severity", 1)
    rated = f", severity {severity} out of 100" if severity is not None else ""
    return (
        f"Only low-severity incidents were active on {day} (the most severe: {low}{rated}) "
        f"[{asked}]; a medium or high one began within a day after it."
    )


def _asked_metric_lead(facts: Facts, ev: _Evidence) -> str:
    """The metric the question named, where the incident concentrates, during it against the
    days before ('Delivery duration in category=grocery, hour=18-20 was 52.8 min during the
    incident against 46.4 min over the 14 days before'); '' when it was not read."""
    asked = facts.asked_metric
    if asked is None:
        return ""
    item, metric = asked.id, asked.metric
    figure = ev.items.get(item, {}).get("figures", {}).get(f"{metric}.value")
    names = (f"{metric}.value", f"{metric}.baseline")
    during, before = _values(ev, item, names, figure["unit"] if figure else "")
    starts = [ev.value(item, name) for name in ("baseline_start", "window_start")]
    if not _filled(during, before, *starts):
        return ""
    first, last = (dt.datetime.fromisoformat(str(start)) for start in starts)
    days = (last - first).days  # the baseline's length, read from the tool's own figures
    return (
        f"{METRICS[metric].label} in {asked.where} was {during} during the incident against "
        f"{before} over the {days} days before [{item}]."
    )


def template_narrative(facts: Facts, evidence: list[dict[str, Any]]) -> str:
    """The answer, built only from figures of the cited evidence items."""
    if facts.text:  # an answer handler's own template
        return facts.text
    ev = _Evidence(evidence)
    detect = facts.detect
    if not facts.incident:
        scanned = ev.count(detect, "series_scanned")
        day = facts.question_day
        where = f" on {day}" if day else ""
        if scanned is None:
            return f"No CX regression found{where} [{detect}]."
        return (
            f"No CX regression found{where}: {scanned_series(scanned, 'stayed within')} [{detect}]."
        )
    key = facts.incident
    asked = facts.asked_day_detect
    parts = [_asked_day_lead(facts, ev)] if asked and facts.question_day else []
    began, detected = ev.when(detect, f"{key}.start"), ev.when(detect, f"{key}.detected_at")
    severity = ev.fixed(detect, f"{key}.severity", 1)
    ended, status = ev.when(detect, f"{key}.end"), ev.value(detect, f"{key}.status")
    over = {"ended": f"ended at {ended}" if ended else None,
            "open": "is still open at the end of the data"}.get(str(status))  # fmt: skip
    timing = [
        *([f"began {began}"] if began else []),
        *([f"was detected at {detected}"] if detected else []),
        *([over] if over else []),  # whether it is over: 'is it fixed?' is answered here
    ]
    listed = f"{', '.join(timing[:-1])} and {timing[-1]}" if len(timing) > 1 else "".join(timing)
    sentence = f"Incident {key}" + (f" {listed}" if timing else " was found")
    if severity is not None:
        sentence += f", severity {severity} out of 100"
    asked_metric = _asked_metric_lead(facts, ev)
    parts += [*([asked_metric] if asked_metric else [])]
    parts += [f"{_incident_lead(facts, ev, detect, key)} {sentence} [{detect}]."]
    if facts.severity_label == "low":
        parts.append(
            "Its severity is low: a change this small also shows up by chance in quiet weeks, "
            "so treat it as noise unless a cause below is supported."
        )
    slices = facts.slices
    before, after = ev.pct(slices, "slice1.baseline_value"), ev.pct(slices, "slice1.current_value")
    orders = ev.count(slices, "slice1.orders")
    if slices and facts.top_slice and _filled(before, after, orders):
        parts.append(
            f"It concentrates in {facts.top_slice}, where the {facts.slice_metric_label} "
            f"went from {before} to {after} over {orders} orders [{slices}]."
        )
    stretch = facts.stretch
    first, last = ev.when(stretch, "stretch_start"), ev.when(stretch, "stretch_end")
    if stretch and _filled(first, last):
        parts.append(
            f"Its causes were tested from {first} to {last}, where the "
            f"{facts.slice_metric_label} was worst [{stretch}]."
        )
    focus = facts.focus
    if focus:
        # An asked cohort no tool read (hours 17-21) is not named; nor is a site no tool did.
        if ev.mentions(focus.asked):
            parts.append(
                f"As asked about {focus.asked}, the causes below were tested in {focus.site}."
            )
        elif ev.mentions(focus.site):
            parts.append(
                f"The causes below were tested in {focus.site}, the incident's slice "
                "within the cohort asked about."
            )
        else:
            parts.append("The causes below were tested within the cohort asked about.")
    rank = facts.rank
    causes = facts.causes
    for position, cause in enumerate(causes[:2]):
        parts.append(_cause_text(ev, rank, cause, position) + ".")
    if rank and not causes:
        parts.append(f"No hypothesis of the library is supported by the evidence [{rank}].")
    if facts.ruled_out:
        parts.append(f"Ruled out: {', '.join(facts.ruled_out)} [{rank}].")
    for missing in facts.not_testable:
        parts.append(f"Not testable: {missing.kind} ({missing.reason}) [{rank}].")
    parts += _recommendation_texts(ev, facts.recommend, facts.recommendations)
    plan = facts.plan
    if plan:
        parts.append(f"The experiment plan to test it is attached [{plan}].")
    return " ".join(parts)


def _cause_text(ev: _Evidence, rank: str | None, cause: CauseFact, position: int) -> str:
    """'Most likely cause: ... (confidence 0.56) [E21]; its driver, change and diff-in-diff.'"""
    lead = "Most likely cause" if position == 0 else "Also contributing"
    confidence = ev.fixed(rank, cause.kind + ".confidence", 2)
    sentence = f"{lead}: {cause.title.lower()}" + (
        f" (confidence {confidence})" if confidence is not None else ""
    )
    sentence += f" [{rank}]"
    if cause.primary:
        label, unit = cause.primary_label or cause.kind, cause.primary_unit or ""
        driver = _driver_text(ev, cause.primary, label, unit)
        sentence += f"; {driver}" if driver else ""
    change = cause.change
    changed_at = change and ev.when(change.evidence, change.change_id + ".change_time")
    if change and changed_at:
        sentence += f"; {change.name} was changed at {changed_at} [{change.evidence}]"
    did = cause.did
    estimate, low, high = (ev.pp(did, name) for name in ("estimate", "ci_low", "ci_high"))
    if did and _filled(estimate, low, high):
        sentence += (
            f", and in that change's scope the {cause.did_outcome} moved {estimate} against "
            f"comparable orders (95% interval {low} to {high}) [{did}]"
        )
    for against in cause.against:
        refuted = _driver_text(ev, against.evidence, against.label, against.unit)
        sentence += f"; but {against.why}: {refuted}" if refuted else ""
    return sentence


def _recommendation_texts(
    ev: _Evidence, recommend: str | None, recommendations: Sequence[RecommendationFact]
) -> list[str]:
    """The top recommendation with its CX gain, interval and cost, and the alternative."""
    if not recommend or not recommendations:
        return []
    texts = []
    top = recommendations[0]
    gain, low, high = (
        ev.fixed(recommend, f"{top.action}.{name}", 2, sign=True)
        for name in ("cx_gain", "cx_gain_low", "cx_gain_high")
    )
    cost = ev.fixed(recommend, f"{top.action}.cost_usd_per_order", 2)
    if _filled(gain, low, high, cost):
        texts.append(
            f"Recommended: {top.title[0].lower() + top.title[1:]}, worth {gain} CX points "
            f"(90% interval {low} to {high}) at ${cost} per order [{recommend}]."
        )
    if len(recommendations) > 1:
        other = recommendations[1]
        gain = ev.fixed(recommend, f"{other.action}.cx_gain", 2, sign=True)
        if gain is not None:
            texts.append(
                f"Alternative: {other.title[0].lower() + other.title[1:]}, worth {gain} "
                f"CX points [{recommend}]."
            )
    return texts
