"""Chat suite reports: figures per question kind, the targets, the console table, JSON and
Markdown, and every failing turn with what was expected and what was got."""

from __future__ import annotations

import datetime as dt
import os
import statistics
from pathlib import Path

from pydantic import BaseModel
from rich.table import Table

from agent.question import KINDS
from evals.chat.runner import TurnResult
from evals.proportions import Proportion

TARGET_CORRECT = 0.90  # share of turns fully correct (kind, tools, facts, global checks)
TARGET_GROUNDED = 1.0  # share of answer numbers traced to cited evidence
TARGET_UNASKED_DIAGNOSES = 0  # answers that ran rank_causes though no diagnosis was asked
TARGET_INVESTIGATIONS = 0  # off-topic, hostile or impossible-date questions that investigated
# Warm median seconds per kind (reported, not asserted); follow-ups have one target of their own.
LATENCY_TARGETS: dict[str, float] = {
    "lookup": 1.0, "rank": 1.0, "compare": 1.0, "trend": 1.0, "incidents": 1.0, "changes": 1.0,
    "explain": 0.3,
}  # fmt: skip
FOLLOW_UP_TARGET = 0.3
FOLLOW_UPS = "follow-ups"
COLUMNS = (
    "kind", "questions", "fully correct", "kind acc", "tools acc", "facts acc", "median s",
    "max s", "target s",
)  # fmt: skip


class KindRow(BaseModel):
    """Figures of the turns of one expected kind (or of all follow-ups, or of all turns)."""

    kind: str
    questions: int
    correct: int
    kind_ok: int
    tools_ok: int
    facts_ok: int
    with_facts: int  # turns that have facts to check
    median_seconds: float | None
    max_seconds: float | None
    target_seconds: float | None

    def cells(self) -> list[str]:
        def share(hits: int, n: int) -> str:
            return f"{hits}/{n} ({hits / n:.0%})" if n else "-"

        def seconds(value: float | None) -> str:
            return "-" if value is None else f"{value:.2f}"

        return [
            self.kind,
            str(self.questions),
            share(self.correct, self.questions),
            share(self.kind_ok, self.questions),
            share(self.tools_ok, self.questions),
            share(self.facts_ok, self.with_facts),
            seconds(self.median_seconds),
            seconds(self.max_seconds),
            "-" if self.target_seconds is None else f"<= {self.target_seconds:g}",
        ]


class ChatSummary(BaseModel):
    """The run's figures and whether it met its targets."""

    turns: int
    cases: int
    correct: Proportion
    grounding: Proportion  # numbers grounded over numbers in all answers
    turns_grounded: Proportion
    unasked_diagnoses: int
    investigations: int  # turns that investigated where none may
    errors: int
    rows: list[KindRow]  # per kind, then follow-ups, then all
    shortfalls: list[str]  # targets missed (empty: the suite met them)
    slow: list[str]  # latency targets missed (reported, not asserted)


class ChatReport(BaseModel):
    """One chat suite run: how it was run, the summary and every turn."""

    created: str
    command: str
    backend: str
    worlds: dict[str, str]  # world name -> directory
    cpu_count: int
    load_average: str
    wall_seconds: float
    summary: ChatSummary
    turns: list[TurnResult]


def _row(kind: str, turns: list[TurnResult], target: float | None) -> KindRow:
    seconds = [t.seconds for t in turns if t.error is None]
    checked = [t for t in turns if t.facts]
    return KindRow(
        kind=kind,
        questions=len(turns),
        correct=sum(t.correct for t in turns),
        kind_ok=sum(t.kind_ok for t in turns),
        tools_ok=sum(t.tools_ok for t in turns),
        facts_ok=sum(t.facts_ok for t in checked),
        with_facts=len(checked),
        median_seconds=statistics.median(seconds) if seconds else None,
        max_seconds=max(seconds) if seconds else None,
        target_seconds=target,
    )


def summarize(turns: list[TurnResult]) -> ChatSummary:
    """Figures per kind and overall, and the targets missed."""
    rows = [
        _row(kind, [t for t in turns if t.expected_kind == kind], LATENCY_TARGETS.get(kind))
        for kind in KINDS
        if any(t.expected_kind == kind for t in turns)
    ]
    rows.append(_row(FOLLOW_UPS, [t for t in turns if t.follow_up], FOLLOW_UP_TARGET))
    rows.append(_row("all", turns, None))
    correct = Proportion.of(sum(t.correct for t in turns), len(turns))
    grounding = Proportion.of(
        sum(t.grounding_grounded for t in turns), sum(t.grounding_numbers for t in turns)
    )
    unasked = sum(t.unasked_diagnosis for t in turns)
    investigations = sum(t.investigated for t in turns)
    shortfalls = []
    if (correct.rate or 0.0) < TARGET_CORRECT:
        shortfalls.append(f"fully correct {correct.rate or 0.0:.1%} < {TARGET_CORRECT:.0%}")
    if grounding.n and (grounding.rate or 0.0) < TARGET_GROUNDED:
        shortfalls.append(f"grounding {grounding.rate:.1%} < {TARGET_GROUNDED:.0%}")
    if unasked > TARGET_UNASKED_DIAGNOSES:
        shortfalls.append(f"{unasked} unasked diagnosis(es) (target {TARGET_UNASKED_DIAGNOSES})")
    if investigations > TARGET_INVESTIGATIONS:
        shortfalls.append(
            f"{investigations} investigation(s) on out-of-scope, hostile or impossible-date "
            f"questions (target {TARGET_INVESTIGATIONS})"
        )
    slow = [
        f"{row.kind}: median {row.median_seconds:.2f} s > {row.target_seconds:g} s"
        for row in rows
        if row.target_seconds is not None
        and row.median_seconds is not None
        and row.median_seconds > row.target_seconds
    ]
    return ChatSummary(
        turns=len(turns),
        cases=len({(t.world, t.case) for t in turns}),
        correct=correct,
        grounding=grounding,
        turns_grounded=Proportion.of(sum(t.grounded for t in turns), len(turns)),
        unasked_diagnoses=unasked,
        investigations=investigations,
        errors=sum(t.error is not None for t in turns),
        rows=rows,
        shortfalls=shortfalls,
        slow=slow,
    )


def build_report(
    turns: list[TurnResult],
    wall_seconds: float,
    *,
    command: str,
    backend: str,
    worlds: dict[str, Path],
) -> ChatReport:
    """The report of a run."""
    return ChatReport(
        created=dt.datetime.now().isoformat(timespec="seconds"),
        command=command,
        backend=backend,
        worlds={name: str(path) for name, path in worlds.items()},
        cpu_count=os.cpu_count() or 1,
        load_average=" ".join(f"{load:.1f}" for load in os.getloadavg()),
        wall_seconds=wall_seconds,
        summary=summarize(turns),
        turns=turns,
    )


def console_table(report: ChatReport) -> Table:
    """The per-kind table for the terminal."""
    table = Table(title=f"cxagent eval --suite chat ({report.backend})", padding=(0, 1))
    for column in COLUMNS:
        table.add_column(column, no_wrap=True)
    for row in report.summary.rows:
        style = "bold" if row.kind in ("all", FOLLOW_UPS) else None
        table.add_row(*row.cells(), style=style)
    return table


def summary_lines(report: ChatReport) -> list[str]:
    """The headline figures and the verdict, one per line."""
    s = report.summary
    lines = [
        f"fully correct: {s.correct.text()} of {s.turns} turns in {s.cases} conversations "
        f"(target >= {TARGET_CORRECT:.0%})",
        f"grounding: {s.grounding.text()} numbers; turns fully grounded "
        f"{s.turns_grounded.hits}/{s.turns_grounded.n}",
        f"unasked diagnoses: {s.unasked_diagnoses}; investigations on out-of-scope, hostile or "
        f"impossible-date questions: {s.investigations}; turns that raised: {s.errors}",
        f"latency (warm, per turn): {'; '.join(s.slow) if s.slow else 'every target met'} "
        "(reported, not asserted)",
        f"wall time: {report.wall_seconds:.0f} s on {report.cpu_count} cores (load average "
        f"{report.load_average})",
        "verdict: "
        + ("met every target" if not s.shortfalls else "UNDER TARGET: " + "; ".join(s.shortfalls)),
    ]
    return lines


def failing_lines(report: ChatReport) -> list[str]:
    """One line per failing turn: where, the question, and each miss."""
    return [
        f"{t.world}/{t.case}#{t.turn} {t.question!r}: " + " | ".join(t.misses())
        for t in report.turns
        if not t.correct
    ]


def markdown(report: ChatReport) -> str:
    """The report as Markdown: how it was run, the figures, the table, the failing turns."""
    lines = [
        "# cxagent eval: chat suite",
        "",
        f"`{report.command}` · {report.created} · backend {report.backend} · worlds "
        + ", ".join(f"{name} ({path})" for name, path in report.worlds.items()),
        "",
        *[f"- {line}" for line in summary_lines(report)],
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *["| " + " | ".join(row.cells()) + " |" for row in report.summary.rows],
        "",
        "## Failing turns",
        "",
    ]
    failing = [t for t in report.turns if not t.correct]
    for turn in failing:
        lines += [
            f"### {turn.world}/{turn.case}#{turn.turn}: {turn.question}",
            "",
            *[f"- {miss}" for miss in turn.misses()],
            f"- answer ({turn.kind}, {turn.seconds:.2f} s): "
            + turn.answer.replace("\n", " ").replace("|", "/"),
            "",
        ]
    if not failing:
        lines += ["none", ""]
    lines += [
        "## Targets",
        "",
        f"- fully correct >= {TARGET_CORRECT:.0%}; grounding {TARGET_GROUNDED:.0%}; unasked "
        f"diagnoses {TARGET_UNASKED_DIAGNOSES}; investigations on out-of-scope, hostile or "
        f"impossible-date questions {TARGET_INVESTIGATIONS}",
        "- warm median seconds (reported): "
        + ", ".join(f"{kind} <= {target:g}" for kind, target in LATENCY_TARGETS.items())
        + f", follow-ups <= {FOLLOW_UP_TARGET:g}",
    ]
    return "\n".join(lines) + "\n"


def write_reports(report: ChatReport, json_path: Path, markdown_path: Path) -> None:
    """Write the report as JSON and Markdown."""
    for path in (json_path, markdown_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(report.model_dump_json(indent=2))
    markdown_path.write_text(markdown(report))
