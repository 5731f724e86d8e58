"""A scripted model behind an OpenAI-compatible endpoint on loopback, for running the eval suites
through the LLM tool loop where no real model can be reached: it reads the question plan the
rules put in the system prompt, calls `investigate` for a diagnosis (or the tool the plan's kind
names, with the plan's arguments), then answers with the draft the investigation returned or a
cited one-line answer. It exercises the loop's plumbing (function calling, validation, evidence,
checks, fallbacks) over real HTTP; it says nothing about how well a real model would do.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PLAN = re.compile(r"a hint\): (\{.*?\})\s*$", re.MULTILINE)
_EVIDENCE = re.compile(r'"evidence_id": "(E\d+)"')


def _reply(message: dict[str, Any]) -> dict[str, Any]:
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    return {
        "id": "chatcmpl-scripted-model",
        "object": "chat.completion",
        "created": 1767225600,
        "model": "scripted-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def _first_call(plan: dict[str, Any]) -> dict[str, Any]:
    """The investigation of the plan's days, metric and cohort (what a diagnosis asks)."""
    periods = plan.get("periods") or []
    arguments: dict[str, Any] = {"filters": plan.get("filters", {})}
    if periods:
        arguments.update(first_day=periods[0]["start"], last_day=periods[0]["end"])
    if plan.get("metric") and plan["metric"] != "orders":
        arguments["metric"] = plan["metric"]
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "investigate", "arguments": json.dumps(arguments)},
            }
        ],
    }


def respond(body: dict[str, Any]) -> dict[str, Any]:
    """The scripted model's next message for a chat request."""
    messages = body.get("messages", [])
    results = [m for m in messages if m.get("role") == "tool"]
    if not results:
        system = next((m["content"] for m in messages if m.get("role") == "system"), "")
        match = _PLAN.search(system)
        plan = json.loads(match.group(1)) if match else {}
        if plan.get("kind") != "diagnose" or not body.get("tools"):
            # It only scripts diagnoses: an empty reply hands anything else to the offline path.
            return _reply({"role": "assistant", "content": ""})
        return _reply(_first_call(plan))
    content = results[-1].get("content") or ""
    payload = content.removeprefix("<data>").removesuffix("</data>").strip()
    try:
        draft = json.loads(payload).get("draft_answer")
    except (json.JSONDecodeError, AttributeError):
        draft = None
    if not draft:
        found = _EVIDENCE.search(content)
        draft = f"The tool's result answers it [{found.group(1)}]." if found else "No answer."
    return _reply({"role": "assistant", "content": draft})


@contextmanager
def scripted_model() -> Iterator[str]:
    """Serve the scripted model on 127.0.0.1; yields its base URL (…/v1)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length", 0))
            payload = json.dumps(respond(json.loads(self.rfile.read(length) or b"{}"))).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
