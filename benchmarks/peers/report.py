"""The comparison table: cx-agent end to end, cx-agent given the true window and scope, and
each peer on median detection delay, detections, false alarms on null worlds and top-1 cause,
with each peer's ratio to the cx-agent row it compares with (the detection peers: end to end;
the root-cause peers: given the truth, as they are); the cases a peer wins."""

from __future__ import annotations

import math
import statistics

from pydantic import BaseModel

from benchmarks.peers.evaluate import CaseResult, NullResult
from benchmarks.peers.oracle_rca import ORACLE
from evals.scoring import ScenarioScore

OURS = "cx-agent"
LABELS = {OURS: "cx-agent", ORACLE: "cx-agent given the truth"}  # the ratio's reference row


class Row(BaseModel):
    """One line of the table (None: not measured for this peer)."""

    peer: str
    median_delay_h: float | None = None  # misses count as never (inf); None: over half missed
    detected: int | None = None
    cases: int = 0
    false_per_30_days: float | None = None  # mean over the null worlds
    top1: int | None = None
    ratio: float | None = None  # detection: median delay peer / ours; cause: top-1 peer / ours
    against: str | None = None  # the cx-agent row (its peer name) the ratio is taken against


def _median(delays: list[float | None]) -> float | None:
    value = statistics.median([math.inf if d is None else d for d in delays]) if delays else None
    return None if value is None or math.isinf(value) else value


def _ratio(peer: float | None, ours: float | None) -> float | None:
    if peer is None or ours is None or ours == 0:
        return None
    return peer / ours


def build_rows(
    ours: list[ScenarioScore], peers: list[CaseResult], nulls: list[NullResult]
) -> list[Row]:
    """cx-agent's row, cx-agent's given the true window and scope (when measured), then a row
    per detection peer (ratio against cx-agent end to end) and per root-cause peer (against
    cx-agent given the truth, else end to end)."""
    scored = {result.name: result for result in ours if result.top1 is not None}
    cases = [result for result in peers if result.name in scored]
    our_delays = [
        scored[r.name].measured.delay.hours if scored[r.name].measured.delay else None
        for r in cases
    ]
    our_top1 = sum(bool(scored[r.name].top1) for r in cases)
    our_false = statistics.mean(n.ours_per_30_days for n in nulls) if nulls else None
    rows = [
        Row(
            peer=OURS,
            median_delay_h=_median(our_delays),
            detected=sum(d is not None for d in our_delays),
            cases=len(cases),
            false_per_30_days=our_false,
            top1=our_top1,
            ratio=1.0,
            against=OURS,
        )
    ]
    cause_reference, reference_top1 = OURS, our_top1
    if any(ORACLE in r.top1 for r in cases):
        cause_reference, reference_top1 = ORACLE, sum(r.top1.get(ORACLE, False) for r in cases)
        rows.append(
            Row(peer=ORACLE, cases=len(cases), top1=reference_top1, ratio=1.0, against=ORACLE)
        )
    detection = list(dict.fromkeys(name for r in cases for name in r.delays))
    for name in detection:
        delays = [r.delays.get(name) for r in cases]
        rows.append(
            Row(
                peer=name,
                median_delay_h=_median(delays),
                detected=sum(d is not None for d in delays),
                cases=len(cases),
                false_per_30_days=statistics.mean(n.per_30_days[name] for n in nulls)
                if nulls
                else None,
                ratio=_ratio(_median(delays), rows[0].median_delay_h),
                against=OURS,
            )
        )
    for name in dict.fromkeys(name for r in cases for name in r.top1 if name != ORACLE):
        hits = sum(r.top1.get(name, False) for r in cases)
        ratio = _ratio(hits, reference_top1)
        rows.append(
            Row(peer=name, cases=len(cases), top1=hits, ratio=ratio, against=cause_reference)
        )
    return rows


def _cell(value: float | int | None, form: str) -> str:
    return "-" if value is None else format(value, form)


def table(rows: list[Row]) -> list[str]:
    """The table as Markdown lines."""
    lines = [
        "| peer | median detection delay (h) | detected/N | false alarms per 30 days (null) "
        "| top-1 cause | ratio peer/ours | ratio against |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        detected = "-" if row.detected is None else f"{row.detected}/{row.cases}"
        top1 = "-" if row.top1 is None else f"{row.top1}/{row.cases}"
        against = LABELS.get(row.against or "", row.against or "-")
        lines.append(
            f"| {row.peer} | {_cell(row.median_delay_h, '.1f')} | {detected} "
            f"| {_cell(row.false_per_30_days, '.2f')} | {top1} | {_cell(row.ratio, '.2f')} "
            f"| {against} |"
        )
    return lines


def null_lines(nulls: list[NullResult]) -> list[str]:
    """False alarms per null world: each peer's episodes and cx-agent's medium+ incidents."""
    lines = []
    for null in nulls:
        peers = ", ".join(f"{name} {value:.2f}" for name, value in null.per_30_days.items())
        lines.append(
            f"  {null.name} ({null.orders_per_day:,} orders/day, {null.days:.0f} days, "
            f"{null.grain}): {OURS} {null.ours_per_30_days:.2f} ({null.ours_serious} medium+); "
            f"{peers} per 30 days"
        )
    return lines


def wins(ours: list[ScenarioScore], peers: list[CaseResult]) -> list[str]:
    """Every case where a peer detects sooner than cx-agent (or at all) or names the true
    cause where cx-agent does not, end to end or given the true window and scope."""
    scored = {result.name: result for result in ours if result.top1 is not None}
    lines = []
    for result in peers:
        mine = scored.get(result.name)
        if mine is None:
            continue
        delay = mine.measured.delay.hours if mine.measured.delay else None
        for name, found in result.delays.items():
            if found is not None and (delay is None or found < delay):
                ours_text = "no alarm" if delay is None else f"{delay:g} h"
                lines.append(f"  {result.name}: {name} {found:g} h vs {OURS} {ours_text}")
        given = result.top1.get(ORACLE)
        for name, hit in result.top1.items():
            if name == ORACLE or not hit or (mine.top1 and given is not False):
                continue
            line = (
                f"  {result.name}: {name} names {result.causes[name][:1]} vs {OURS} "
                f"{mine.found_causes[:1] or 'no cause'}"
            )
            if given is not None:
                line += f", {LABELS[ORACLE]} {result.causes[ORACLE][:1] or 'no cause'}"
            lines.append(line)
    return lines


def where_ours_detected(ours: list[ScenarioScore], peers: list[CaseResult]) -> str:
    """Top-1 counts on the cases cx-agent detected (where it had an incident window too; the
    root-cause peers are handed the true window and scope on every case)."""
    scored = {
        r.name: r
        for r in ours
        if r.top1 is not None
        and r.measured.delay is not None
        and r.measured.delay.hours is not None
    }
    detected = [r for r in peers if r.name in scored]
    counts = {OURS: sum(bool(scored[r.name].top1) for r in detected)}
    for result in detected:
        for name, hit in result.top1.items():
            counts[name] = counts.get(name, 0) + hit
    shown = ", ".join(f"{name} {hits}" for name, hits in counts.items())
    return f"top-1 on the {len(detected)} cases cx-agent detected: {shown}"
