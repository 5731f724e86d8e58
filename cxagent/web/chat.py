"""The agent's answer as chat messages: tool calls as collapsible steps, citations as links,
then the answer's table (capped) and, for a trend, its chart."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import Any

import gradio as gr

from analytics.metrics import CX_SCORE, METRICS
from cxagent.web import charts
from cxagent.web.escaping import code_block, markdown_answer, markdown_text
from cxagent.web.workbench import Overview

CITATION = re.compile(r"\[(E\d+(?:\s*,\s*E\d+)*)\]")
EVIDENCE_ANCHOR = "#evidence-"
MAX_TABLE_ROWS = 12  # rows of an evidence item's table shown in its step
MAX_ANSWER_ROWS = 15  # rows of an answer's table shown in the chat
ISO_MINUTE = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::00)?$")
# Columns of a table whose rows name a `metric` and hold a change of it (a what-if's deltas).
CHANGE_COLUMNS = ("change", "delta", "90% low", "90% high", "95% low", "95% high")
P_VALUE_COLUMNS = ("p", "q", "p_value", "q_value")


def link_citations(text: str) -> str:
    """`[E3]` -> a link the page's script turns into "open E3 in the evidence inspector"."""

    def links(match: re.Match[str]) -> str:
        ids = [part.strip() for part in match.group(1).split(",")]
        return ", ".join(f"[[{i}]]({EVIDENCE_ANCHOR}{i})" for i in ids)

    return CITATION.sub(links, text)


def _value(figure: dict[str, Any]) -> str:
    value, unit = figure.get("value"), figure.get("unit", "")
    if isinstance(value, float) and unit == "share":
        return f"{value:g} ({100 * value:.1f}%)"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _cell(value: Any) -> str:
    """A value in a Markdown table or line: shown as its text, never as Markdown or HTML."""
    return markdown_text(f"{value:.4g}" if isinstance(value, float) else value)


def evidence_markdown(item: dict[str, Any]) -> str:
    """One evidence item: summary, arguments, figures, SQL and the head of its table."""
    lines = [
        f"**{item['id']} · `{item['tool']}`** ({item.get('seconds', 0):.2f} s)"
        + ("" if item.get("ok", True) else " — **failed**"),
        "",
        _cell(item.get("summary", "")),
        "",
        "Arguments:",
        code_block(json.dumps(item.get("args", {}), default=str), "json"),
    ]
    figures = item.get("figures") or {}
    if figures:
        lines += ["", "| figure | value | unit |", "|---|---|---|"]
        lines += [
            f"| {_cell(name)} | {_cell(_value(figure))} | {_cell(figure.get('unit', ''))} |"
            for name, figure in figures.items()
        ]
    if item.get("sql"):
        lines += ["", "SQL:", code_block(item["sql"], "sql")]
    table = item.get("table") or []
    if table:
        columns = list(table[0])
        head = f", first {MAX_TABLE_ROWS}" if len(table) > MAX_TABLE_ROWS else ""
        lines += [
            "",
            f"Table ({len(table)} rows{head}):",
            "",
            "| " + " | ".join(map(_cell, columns)) + " |",
            "|" + "---|" * len(columns),
        ]
        lines += [
            "| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |"
            for row in table[:MAX_TABLE_ROWS]
        ]
    return "\n".join(lines)


def answer_cell(column: str, value: Any, row: dict[str, Any]) -> str:
    """One cell of an answer's table as a reader sees it: shares of a metric column in percent,
    a metric's changes in its unit ('+6.0 pp', '+2.11 points'), counts with separators,
    timestamps without the 'T'.

    >>> answer_cell("on_time_rate", 0.8974, {})
    '89.7%'
    >>> answer_cell("change", 0.06, {"metric": "on_time_rate"})
    '+6.0 pp'
    >>> answer_cell("orders", 33083, {}), answer_cell("start", "2026-01-04T18:00", {})
    ('33,083', '2026-01-04 18:00')
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and column == "metric" and (value in METRICS or value == CX_SCORE):
        return charts.label(value)
    if isinstance(value, str):
        moment = ISO_MINUTE.match(value)
        return _cell(f"{moment[1]} {moment[2]}" if moment else value)
    if not isinstance(value, int | float):
        return _cell(value)
    metric = row.get("metric")
    if column in CHANGE_COLUMNS and isinstance(metric, str):
        scale, unit = charts.change_unit(metric)
        return f"{scale * value:+.{1 if unit == 'pp' else 2}f} {unit}".strip()
    if column in charts.SHARES:
        return f"{100 * value:.1f}%"
    if column in P_VALUE_COLUMNS:
        return f"{value:.3g}"
    if float(value).is_integer():
        return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
    return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.4g}"


def _header(column: str) -> str:
    """A metric column is headed by its label ('On-time rate'), any other by its name."""
    return charts.label(column) if column in METRICS or column == CX_SCORE else column


def answer_table(
    rows: list[dict[str, Any]], limit: int = MAX_ANSWER_ROWS, drawn: bool = False
) -> str:
    """An answer's rows as a Markdown table of at most `limit` rows, saying how many are not
    shown (and that the chart has them all when `drawn`); numeric columns are right-aligned."""
    columns = list(dict.fromkeys(column for row in rows for column in row))
    numeric = {
        column
        for column in columns
        if all(
            isinstance(row.get(column), int | float | None)
            and not isinstance(row.get(column), bool)
            for row in rows
        )
    }
    lines = [
        "| " + " | ".join(_cell(_header(column)) for column in columns) + " |",
        "|" + "".join("---:|" if column in numeric else "---|" for column in columns),
    ]
    lines += [
        "| " + " | ".join(answer_cell(column, row.get(column), row) for column in columns) + " |"
        for row in rows[:limit]
    ]
    if len(rows) > limit:
        hidden = len(rows) - limit
        also = "; the chart draws them all" if drawn else ""
        plural = "s" if hidden > 1 else ""
        lines += [
            "",
            f"*{hidden} more row{plural} not shown (the first {limit} of {len(rows)}){also}.*",
        ]
    return "\n".join(lines)


def answer_messages(result: dict[str, Any], turn: int) -> list[gr.ChatMessage]:
    """The steps of one answer (one collapsed group per node with its tool calls), then the
    cited answer with its table, chart, grounding check and notes."""
    return step_messages(result, turn) + answer_parts(result)


def step_messages(result: dict[str, Any], turn: int) -> list[gr.ChatMessage]:
    """One collapsed message per node that called tools, each call nested in it."""
    evidence = {item["id"]: item for item in result.get("evidence", [])}
    messages: list[gr.ChatMessage] = []
    for step in result.get("trace", []):
        calls = step.get("tool_calls", [])
        if not calls:
            continue
        group = f"t{turn}-{step['node']}"
        tools = ", ".join(dict.fromkeys(call["tool"] for call in calls))
        messages.append(
            gr.ChatMessage(
                role="assistant",
                content=f"{len(calls)} tool call(s): {tools}",
                metadata={
                    "title": f"Step: {step['node'].replace('_', ' ')}",
                    "id": group,
                    "status": "done",
                    "duration": step.get("seconds", 0.0),
                },
            )
        )
        for call in calls:
            item = evidence.get(call["id"], {**call, "args": {}, "figures": {}})
            messages.append(
                gr.ChatMessage(
                    role="assistant",
                    content=evidence_markdown(item),
                    metadata={
                        "title": f"{call['id']} · {call['tool']}",
                        "id": f"t{turn}-{call['id']}",
                        "parent_id": group,
                        "status": "done",
                        "duration": call.get("seconds", 0.0),
                        "log": ("" if call.get("ok", True) else "failed: ")
                        + call.get("summary", "")[:90],
                    },
                )
            )
    return messages


def progress_messages(steps: list[dict[str, Any]], turn: int) -> list[gr.ChatMessage]:
    """An answer still being worked on: one message per node done so far (its tool calls as
    one-line summaries, ids and times), then a pending message naming what runs next."""
    messages: list[gr.ChatMessage] = []
    for step in steps:
        calls = step.get("tool_calls", [])
        if not calls:
            continue
        lines = [
            f"- **{call['id']} · `{call['tool']}`** ({call.get('seconds', 0):.2f} s)"
            + ("" if call.get("ok", True) else " — failed")
            + f": {_cell(call.get('summary', ''))}"
            for call in calls
        ]
        messages.append(
            gr.ChatMessage(
                role="assistant",
                content="\n".join(lines),
                metadata={
                    "title": f"Step: {step['node'].replace('_', ' ')}",
                    "id": f"t{turn}-{step['node']}",
                    "status": "done",
                    "duration": step.get("seconds", 0.0),
                },
            )
        )
    done = ", ".join(step["node"].replace("_", " ") for step in steps) or "nothing yet"
    messages.append(
        gr.ChatMessage(
            role="assistant",
            content=f"{len(steps)} step(s) done: {done}",
            metadata={"title": "Working…", "status": "pending"},
        )
    )
    return messages


def answer_parts(result: dict[str, Any]) -> list[gr.ChatMessage]:
    """The cited answer, then its table; a trend's chart goes between the two, so the
    answer, its chart and its numbers read top to bottom. The grounding footer closes it."""
    grounding = result.get("grounding") or {}
    footer = (
        f"\n\n<sub>Answer kind: {result.get('kind', '?')} · Grounding: "
        f"{grounding.get('grounded', 0)}/{grounding.get('numbers', 0)} numbers traced to cited "
        f"evidence ({'ok' if grounding.get('ok') else 'NOT OK'}); backend "
        f"{result.get('backend', '?')}. Click an [E#] to inspect it.</sub>"
    )
    text = link_citations(markdown_answer(result.get("answer") or "(no answer)"))
    if result.get("experiment_plan"):
        text += "\n\n*An experiment plan is attached: download it on the right.*"
    notes = "".join(f"\n\n> note: {markdown_text(note)}" for note in result.get("notes", []))
    rows = result.get("table") or []
    chart = result.get("chart")
    drawn = bool(chart and rows and chart.get("y") in rows[0])
    table = answer_table(rows, drawn=drawn) if rows else ""
    if drawn:
        figure = charts.answer_trend_figure(rows, chart)
        return [
            gr.ChatMessage(role="assistant", content=text + notes),
            gr.ChatMessage(role="assistant", content=gr.Plot(figure, show_label=False)),
            gr.ChatMessage(role="assistant", content=table + footer),
        ]
    body = text + (f"\n\n{table}" if table else "") + notes + footer
    return [gr.ChatMessage(role="assistant", content=body)]


def _day(moment: dt.datetime, data_end: dt.datetime) -> str:
    """A day as people write it ('Jan 4'), with the year when it is not the data's last year."""
    return f"{moment:%b} {moment.day}" + (
        "" if moment.year == data_end.year else f", {moment.year}"
    )


def example_questions(overview: Overview) -> list[str]:
    """One question of each kind, about days the served world holds: the most severe
    incident's day (or the data's last day), the day before it, the change logged last before
    it; nothing the overview has not already computed."""
    detection = overview.detection
    start, end = detection.data_start, detection.data_end
    incident = detection.incidents[0] if detection.incidents else None
    focus = incident.start if incident else end
    other = focus - dt.timedelta(days=1)
    if other < start:
        other = focus + dt.timedelta(days=1)
    earlier = [change.change_time for change in overview.changes if change.change_time <= focus]
    changed = max(earlier, default=None)
    _, _, value = incident.primary_cohort.partition("=") if incident else ("", "", "")
    cohort = f"{value} " if value and "," not in value else ""
    return [
        f"why did CX drop on {_day(focus, end)}?",
        "which regions were worst for on-time last week?",
        "show CX by day for the last two weeks",
        f"compare {cohort}on-time on {_day(focus, end)} with {_day(other, end)}",
        "were there any incidents in the last two weeks?",
        f"what changed on {_day(changed, end)}?" if changed else "what changed last week?",
        "what if we add a 3 minute ETA buffer?",
        "how did you compute the on-time rate?",
        "give me the SQL for cancellations by region last week",
    ]


# Clicking a citation link opens the cited item in the evidence inspector (event delegation,
# so links in messages rendered later work too).
CITATION_SCRIPT = """
<script>
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest('a[href^="ANCHOR"]');
  if (!link) return;
  event.preventDefault();
  event.stopPropagation();
  const id = link.getAttribute("href").slice(ANCHOR_LENGTH);
  const field = document.querySelector("#evidence-id textarea, #evidence-id input");
  if (!field) return;
  field.value = id;
  field.dispatchEvent(new Event("input", { bubbles: true }));
  setTimeout(() => document.querySelector("#evidence-open")?.click(), 50);
}, true);
</script>
""".replace("ANCHOR_LENGTH", str(len(EVIDENCE_ANCHOR))).replace("ANCHOR", EVIDENCE_ANCHOR)
