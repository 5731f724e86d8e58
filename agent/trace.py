"""The trace export: the turn's nodes in order, each with its tool calls in full (arguments,
figures, time, SQL), for `cxagent ask --trace` and the UI's tool-call steps."""

from __future__ import annotations

from typing import Any


def trace_export(result: dict[str, Any]) -> dict[str, Any]:
    """One JSON-friendly document: question-level facts, then every node and its tool calls."""
    evidence = {item["id"]: item for item in result.get("evidence", [])}
    nodes = []
    for step in result.get("trace", []):
        calls = []
        for call in step.get("tool_calls", []):
            item = evidence.get(call["id"], {})
            figures = item.get("figures", {})
            calls.append(
                {
                    "id": call["id"],
                    "tool": call["tool"],
                    "ok": call.get("ok", True),
                    "seconds": call.get("seconds"),
                    "summary": call.get("summary", ""),
                    "args": item.get("args", {}),
                    "figures": {name: figure.get("value") for name, figure in figures.items()},
                    **({"sql": item["sql"]} if item.get("sql") else {}),
                }
            )
        nodes.append({"node": step["node"], "seconds": step.get("seconds"), "tool_calls": calls})
    return {
        "backend": result.get("backend"),
        "grounding": {
            key: result.get("grounding", {}).get(key) for key in ("numbers", "grounded", "ok")
        },
        "notes": result.get("notes", []),
        "seconds": round(sum(node["seconds"] or 0 for node in nodes), 3),
        "nodes": nodes,
    }
