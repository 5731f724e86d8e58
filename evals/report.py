"""Eval reports: the summary figures over scenarios, the console table, JSON and Markdown."""

from __future__ import annotations

import datetime as dt
import os
import statistics
from pathlib import Path
from typing import Literal

from pydantic import BaseModel
from rich.table import Table

from analytics.incidents import SERIOUS
from evals.proportions import Proportion
from evals.scoring import ScenarioScore
from tools.causes import CAUSES

TARGETS = {
    "top1": "100% on the suite; >= 95% on 50 random scenarios (magnitude >= 0.7)",
    "detection": "median <= 2 h",
    "false_alarms": "none on the null world",
    "grounding": "100%",
    "whatif_coverage": ">= 85% of the scenarios",
    "wall": "<= 10 min for the full suite on 2 cores",
}


class Summary(BaseModel):
    """Figures over all scenarios of a run."""

    scenarios: int
    passed: int
    top1: Proportion  # over scenarios that expect an incident
    top2: Proportion
    detected: Proportion  # an alarm on the cause within the replay horizon
    # Over the scenarios whose causes' exact impact (counterfactual) rates medium or higher:
    # incidents worth a page, apart from causes too small to be one.
    material: int = 0
    material_detected: Proportion | None = None
    material_top1: Proportion | None = None
    small_impact: int = 0  # the others (low severity)
    small_impact_max: float | None = None  # order-equivalents, the largest of the others
    detection_delay_median_h: float | None
    detection_delay_max_h: float | None
    null_worlds: int
    null_false_alarms: int  # medium+ incidents in the scans of null worlds
    null_incidents_reported: int  # null worlds where the agent reported an incident
    grounding: Proportion  # narrative numbers traced to cited evidence
    recommendation_relevant: Proportion
    whatif_coverage: Proportion  # 90% interval holds the exact counterfactual change
    whatif_mean_abs_error: float | None  # CX points
    plan_complete: Proportion
    trajectory_ok: Proportion
    slice_jaccard_median: float | None
    agent_seconds_median: float | None
    wall_seconds: float
    cpu_seconds: float  # summed over scenarios (workers' CPU time, all threads)


class EvalReport(BaseModel):
    """One eval run: how it was run, the summary and every scenario's score."""

    created: str
    command: str
    mode: Literal["suite", "random"]
    backend: str
    model: str | None
    source: str  # the suite directory, or "random N from seed S"
    jobs: int
    cpu_count: int
    load_average: str  # 1, 5 and 15 minute load when the run ended (other work slows it)
    summary: Summary
    cases: list[ScenarioScore]


def _share(results: list[ScenarioScore], value: str) -> Proportion:
    known = [getattr(r, value) for r in results if getattr(r, value) is not None]
    return Proportion.of(sum(bool(v) for v in known), len(known))


def _detected(result: ScenarioScore) -> bool:
    """Whether the as-of replay saw the cause within its horizon."""
    return result.measured.delay is not None and result.measured.delay.hours is not None


def summarize(results: list[ScenarioScore], wall_seconds: float) -> Summary:
    """The run's figures (scenarios that failed to run count as misses)."""
    with_incident = [r for r in results if r.expected_causes]
    nulls = [r for r in results if not r.expected_causes]
    delays = [r.measured.delay for r in with_incident if r.measured.delay is not None]
    hours = [d.hours for d in delays if d.hours is not None]
    checks = [r.measured.whatif for r in results if r.measured.whatif is not None]
    jaccards = [r.measured.slice_jaccard for r in with_incident]
    agent_seconds = [r.timings.agent for r in results if r.error is None]
    impacts = [(r, r.measured.exact_impact) for r in with_incident if r.measured.exact_impact]
    material = [r for r, impact in impacts if impact.severity_label in SERIOUS]
    small = [impact.impact_orders for _, impact in impacts if impact.severity_label not in SERIOUS]
    material_detected = material_top1 = None
    if impacts:
        material_detected = Proportion.of(sum(map(_detected, material)), len(material))
        material_top1 = Proportion.of(sum(bool(r.top1) for r in material), len(material))
    return Summary(
        material=len(material),
        material_detected=material_detected,
        material_top1=material_top1,
        small_impact=len(small),
        small_impact_max=max(small) if small else None,
        scenarios=len(results),
        passed=sum(r.passed for r in results),
        top1=Proportion.of(sum(bool(r.top1) for r in with_incident), len(with_incident)),
        top2=Proportion.of(sum(bool(r.top2) for r in with_incident), len(with_incident)),
        detected=Proportion.of(len(hours), len(with_incident)),
        detection_delay_median_h=statistics.median(hours) if hours else None,
        detection_delay_max_h=max(hours) if hours else None,
        null_worlds=len(nulls),
        null_false_alarms=sum(
            r.measured.false_alarms.serious for r in nulls if r.measured.false_alarms
        ),
        null_incidents_reported=sum(r.incident is not None for r in nulls),
        grounding=Proportion.of(
            sum(r.grounding_grounded for r in results), sum(r.grounding_numbers for r in results)
        ),
        recommendation_relevant=_share(results, "recommendation_relevant"),
        whatif_coverage=Proportion.of(sum(c.covered for c in checks), len(checks)),
        whatif_mean_abs_error=statistics.mean(abs(c.error) for c in checks) if checks else None,
        plan_complete=_share(results, "plan_complete"),
        trajectory_ok=Proportion.of(
            sum(r.checks.get("trajectory", False) for r in results), len(results)
        ),
        slice_jaccard_median=statistics.median(j or 0.0 for j in jaccards) if jaccards else None,
        agent_seconds_median=statistics.median(agent_seconds) if agent_seconds else None,
        wall_seconds=wall_seconds,
        cpu_seconds=sum(r.timings.cpu for r in results),
    )


def build_report(
    results: list[ScenarioScore],
    wall_seconds: float,
    *,
    command: str,
    mode: Literal["suite", "random"],
    backend: str,
    model: str | None,
    source: str,
    jobs: int,
) -> EvalReport:
    """The report of a run."""
    return EvalReport(
        created=dt.datetime.now().isoformat(timespec="seconds"),
        command=command,
        mode=mode,
        backend=backend,
        model=model,
        source=source,
        jobs=jobs,
        cpu_count=os.cpu_count() or 1,
        load_average=" ".join(f"{load:.1f}" for load in os.getloadavg()),
        summary=summarize(results, wall_seconds),
        cases=results,
    )


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:g} h"


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _mark(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "NO")


def _filters(filters: dict | None) -> str:
    if not filters:
        return "-"
    parts = []
    for key, values in filters.items():
        values = values if isinstance(values, list) else [values]
        if key in ("hour", "hours") and len(values) > 2:
            parts.append(f"{key}={min(values)}-{max(values)}")
        else:
            parts.append(f"{key}={'/'.join(str(v) for v in values)}")
    return " ".join(parts)


def _simulated(result: ScenarioScore) -> str:
    check = result.measured.whatif
    if check is None:
        return "-"
    return f"{check.estimate:+.2f} [{check.low:+.2f},{check.high:+.2f}]"


def _exact(result: ScenarioScore) -> str:
    check = result.measured.whatif
    if check is None:
        return "-"
    return f"{check.exact:+.2f} {'in' if check.covered else 'OUT'}"


COLUMNS = (
    "scenario", "expected", "found (top 2)", "top-1", "delay", "slice J", "grounded",
    "top action", "what-if CX [90%]", "exact CX", "plan", "s", "result",
)  # fmt: skip
NO_WRAP = ("scenario", "top action", "what-if CX [90%]", "exact CX")


def _kinds(kinds: list[str]) -> str:
    return ", ".join(CAUSES[kind].short if kind in CAUSES else kind for kind in kinds)


def rows(report: EvalReport) -> list[list[str]]:
    """One row of cells per scenario (cause kinds by their short names, `CauseSpec.short`)."""
    table = []
    for r in report.cases:
        expected = _kinds(r.expected_causes) or "no incident"
        found = _kinds(r.found_causes[:2]) or ("no incident" if r.incident is None else "-")
        table.append(
            [
                r.name,
                expected,
                found,
                _mark(r.top1),
                _hours(r.measured.delay.hours if r.measured.delay else None),
                _number(r.measured.slice_jaccard),
                f"{r.grounding_grounded}/{r.grounding_numbers}",
                r.top_action or "-",
                _simulated(r),
                _exact(r),
                f"{r.plan_sections}/9" if r.plan_complete is not None else "-",
                f"{r.timings.total:.0f}",
                "pass" if r.passed else "MISS",
            ]
        )
    return table


def summary_lines(report: EvalReport) -> list[str]:
    """The headline figures, one per line."""
    s = report.summary
    lines = [
        f"passed: {s.passed}/{s.scenarios} scenarios",
        f"top-1 cause: {s.top1.text()}; top-2: {s.top2.text()}",
        f"detection delay (as-of hourly replay): median {_hours(s.detection_delay_median_h)}, "
        f"max {_hours(s.detection_delay_max_h)}; detected {s.detected.text()}",
    ]
    if s.material_detected is not None and s.material_top1 is not None:
        rest = (
            f"; the other {s.small_impact} cost at most {_number(s.small_impact_max)} "
            "order-equivalents (low severity)"
            if s.small_impact
            else ""
        )
        lines.append(
            f"of the {s.material} whose causes' exact impact (counterfactual world) rates medium "
            f"or higher: detected {s.material_detected.text()}, top-1 {s.material_top1.text()}"
            + rest
        )
    if s.null_worlds:
        lines.append(
            f"false alarms on {s.null_worlds} null world(s): {s.null_false_alarms} medium+ "
            f"incident(s) in the scan; the agent reported an incident in "
            f"{s.null_incidents_reported}"
        )
    lines += [
        f"grounding: {s.grounding.text()} narrative numbers traced to cited evidence",
        f"top recommendation addresses the true cause: {s.recommendation_relevant.text()}",
        f"what-if 90% interval covers the exact counterfactual: {s.whatif_coverage.text()}; "
        f"mean |error| {_number(s.whatif_mean_abs_error)} CX points",
        f"experiment plan complete: {s.plan_complete.text()}; node path as expected: "
        f"{s.trajectory_ok.text()}",
        f"slice Jaccard vs true orders: median {_number(s.slice_jaccard_median)}",
        f"wall time: {s.wall_seconds:.0f} s ({report.jobs} process(es) on {report.cpu_count} "
        f"cores; load average {report.load_average}); CPU {s.cpu_seconds:.0f} s over the "
        f"workers; agent median {_number(s.agent_seconds_median, 1)} s per scenario",
    ]
    return lines


def console_table(report: EvalReport) -> Table:
    """The scenario table for the terminal."""
    title = f"cxagent eval ({report.mode}, {report.backend}"
    title += f" {report.model})" if report.model else ")"
    table = Table(title=title, show_lines=False, padding=(0, 1))
    for column in COLUMNS:
        table.add_column(column, overflow="fold", no_wrap=column in NO_WRAP)
    for cells in rows(report):
        style = None if cells[-1] == "pass" else "red"
        table.add_row(*cells, style=style)
    return table


def misses(report: EvalReport) -> list[str]:
    """Each failed check of each scenario, as a line."""
    lines = []
    for r in report.cases:
        for miss in r.misses:
            lines.append(f"{r.name}: {miss}")
        if r.error:
            lines.append(f"{r.name}: error: {r.error.strip().splitlines()[-1]}")
    return lines


def markdown(report: EvalReport) -> str:
    """The report as Markdown: how it was run, the figures, the table and the misses."""
    lines = [
        f"# cxagent eval: {report.mode}",
        "",
        f"`{report.command}` · {report.created} · backend {report.backend}"
        + (f" ({report.model})" if report.model else "")
        + f" · {report.source}",
        "",
        *[f"- {line}" for line in summary_lines(report)],
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *[
            "| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |"
            for cells in rows(report)
        ],
        "",
    ]
    found = misses(report)
    lines += ["## Misses", ""] + ([f"- {m}" for m in found] if found else ["none"]) + [""]
    lines += ["## Targets", ""] + [f"- {name}: {text}" for name, text in TARGETS.items()]
    return "\n".join(lines) + "\n"


def write_reports(report: EvalReport, json_path: Path, markdown_path: Path) -> None:
    """Write the report as JSON and Markdown."""
    for path in (json_path, markdown_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(report.model_dump_json(indent=2))
    markdown_path.write_text(markdown(report))
