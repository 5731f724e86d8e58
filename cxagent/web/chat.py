"""The agent's answer as chat messages: tool calls as collapsible steps, citations as links."""

from __future__ import annotations

import json
import re
from typing import Any

import gradio as gr

CITATION = re.compile(r"\[(E\d+(?:\s*,\s*E\d+)*)\]")
EVIDENCE_ANCHOR = "#evidence-"
MAX_TABLE_ROWS = 12


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
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def evidence_markdown(item: dict[str, Any]) -> str:
    """One evidence item: summary, arguments, figures, SQL and the head of its table."""
    lines = [
        f"**{item['id']} · `{item['tool']}`** ({item.get('seconds', 0):.2f} s)"
        + ("" if item.get("ok", True) else " — **failed**"),
        "",
        _cell(item.get("summary", "")),
        "",
        "Arguments:",
        "```json",
        json.dumps(item.get("args", {}), default=str),
        "```",
    ]
    figures = item.get("figures") or {}
    if figures:
        lines += ["", "| figure | value | unit |", "|---|---|---|"]
        lines += [
            f"| {_cell(name)} | {_cell(_value(figure))} | {figure.get('unit', '')} |"
            for name, figure in figures.items()
        ]
    if item.get("sql"):
        lines += ["", "SQL:", "```sql", item["sql"], "```"]
    table = item.get("table") or []
    if table:
        columns = list(table[0])
        head = f", first {MAX_TABLE_ROWS}" if len(table) > MAX_TABLE_ROWS else ""
        lines += [
            "",
            f"Table ({len(table)} rows{head}):",
            "",
            "| " + " | ".join(columns) + " |",
            "|" + "---|" * len(columns),
        ]
        lines += [
            "| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |"
            for row in table[:MAX_TABLE_ROWS]
        ]
    return "\n".join(lines)


def answer_messages(result: dict[str, Any], turn: int) -> list[gr.ChatMessage]:
    """The steps of one answer (one collapsed group per node with its tool calls), then the
    cited answer with the grounding check and any notes."""
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
    grounding = result.get("grounding") or {}
    footer = (
        f"\n\n<sub>Grounding: {grounding.get('grounded', 0)}/{grounding.get('numbers', 0)} "
        f"numbers traced to cited evidence ({'ok' if grounding.get('ok') else 'NOT OK'}); "
        f"backend {result.get('backend', '?')}. Click an [E#] to inspect it.</sub>"
    )
    notes = "".join(f"\n\n> note: {note}" for note in result.get("notes", []))
    plan = "\n\n*An experiment plan is attached: download it on the right.*"
    messages.append(
        gr.ChatMessage(
            role="assistant",
            content=link_citations(result.get("answer") or "(no answer)")
            + (plan if result.get("experiment_plan") else "")
            + notes
            + footer,
        )
    )
    return messages


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
