"""LLM backends behind one factory: `offline` (deterministic, no key) and `openai` (any
OpenAI-compatible endpoint). Every LLM step may fail; callers fall back to the offline path."""

from __future__ import annotations

import functools
import json
import re
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agent.facts import Facts
from agent.narrative import template_narrative
from agent.settings import AgentSettings

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"


class LLMFailure(RuntimeError):
    """An LLM step failed (timeout, rate limit, malformed output, refusal); the message says
    which, and the caller answers offline."""


def prompt(name: str, **values: Any) -> str:
    """A prompt template from prompts/ with $placeholders filled."""
    template = string.Template((PROMPTS / f"{name}.md").read_text())
    return template.substitute({key: str(value) for key, value in values.items()})


_DELIMITER = re.compile(r"<\s*/?\s*data\b", re.IGNORECASE)


def untrusted(value: Any, cap: int) -> Any:
    """Data text made safe to quote: strings capped, stripped of control characters, and unable
    to open or close the <data> delimiter it is quoted in."""
    if isinstance(value, str):
        cleaned = "".join(ch for ch in value if ch.isprintable())
        cleaned = _DELIMITER.sub("[data", cleaned)
        return cleaned if len(cleaned) <= cap else cleaned[:cap] + "…"
    if isinstance(value, dict):
        return {key: untrusted(item, cap) for key, item in value.items()}
    if isinstance(value, list):
        return [untrusted(item, cap) for item in value]
    return value


@dataclass
class Usage:
    """Tokens an answer spent on the LLM, summed over its calls."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0

    def add(self, reply: Any) -> None:
        metadata = getattr(reply, "usage_metadata", None) or {}
        self.prompt_tokens += int(metadata.get("input_tokens", 0) or 0)
        self.completion_tokens += int(metadata.get("output_tokens", 0) or 0)
        self.calls += 1

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class MalformedCall(ValueError):
    """A tool call the model got wrong (unknown tool, arguments that do not validate): it goes
    back to the model as an error once, then the answer falls back to the offline path."""


@dataclass
class LoopLimits:
    """Bounds of one answer's tool loop."""

    max_steps: int
    time_budget_s: float
    max_tokens: int


@dataclass
class LoopResult:
    """The model's final answer and what the loop did to get there."""

    text: str
    steps: int
    calls: list[str] = field(default_factory=list)  # tool names, in order


Executor = Callable[[str, dict[str, Any]], str]  # tool name, arguments -> the result shown


class Backend(Protocol):
    """What the agent asks of a language model."""

    name: str

    def narrate(
        self,
        question: str,
        facts: Facts,
        evidence: list[dict[str, Any]],
        feedback: str,
        usage: Usage | None = None,
    ) -> str: ...

    def run_tools(
        self,
        messages: list[tuple[str, str]],
        schemas: list[dict[str, Any]],
        execute: Executor,
        limits: LoopLimits,
        usage: Usage,
    ) -> LoopResult: ...


class OfflineBackend:
    """Deterministic: the template narrative; no tool loop (the planner answers offline)."""

    name = "offline"

    def narrate(
        self,
        question: str,
        facts: Facts,
        evidence: list[dict[str, Any]],
        feedback: str,
        usage: Usage | None = None,
    ) -> str:
        return template_narrative(facts, evidence)

    def run_tools(
        self,
        messages: list[tuple[str, str]],
        schemas: list[dict[str, Any]],
        execute: Executor,
        limits: LoopLimits,
        usage: Usage,
    ) -> LoopResult:
        raise LLMFailure("the offline backend has no tool loop; its planner answers instead")


class OpenAIBackend:
    """Any OpenAI-compatible chat endpoint through langchain-openai: the tool loop (native
    function calling) and re-narration; no retries: a failure falls back to offline at once."""

    name = "openai"

    def __init__(self, settings: AgentSettings) -> None:
        from langchain_openai import ChatOpenAI

        if settings.openai_api_key is None and settings.openai_base_url is None:
            raise LLMFailure("CXAGENT_LLM=openai needs OPENAI_API_KEY or CXAGENT_OPENAI_BASE_URL")
        self.settings = settings
        self.chat = ChatOpenAI(
            model=settings.openai_model,
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key or "not-needed",  # local servers ignore it
            timeout=settings.llm_timeout_s,
            max_retries=0,
            temperature=0,
        )

    def _call(self, step: str, function: Any) -> Any:
        try:
            return function()
        except Exception as error:  # every provider failure becomes a fallback, never a crash
            raise LLMFailure(f"{step}: {_describe(error)}") from None

    def narrate(
        self,
        question: str,
        facts: Facts,
        evidence: list[dict[str, Any]],
        feedback: str,
        usage: Usage | None = None,
    ) -> str:
        cap = self.settings.untrusted_text_cap
        text = prompt(
            "narrate",
            question=untrusted(question, 2000),
            facts=json.dumps(untrusted(facts.state(), cap), default=str),
            evidence=json.dumps(untrusted(evidence, cap), default=str),
            feedback=feedback,
        )
        reply = self._call("narrate", lambda: self.chat.invoke(text))
        if usage is not None:
            usage.add(reply)
        content = getattr(reply, "content", "")
        if not isinstance(content, str) or not content.strip():
            raise LLMFailure("narrate: empty reply")
        return content.strip()

    def run_tools(
        self,
        messages: list[tuple[str, str]],
        schemas: list[dict[str, Any]],
        execute: Executor,
        limits: LoopLimits,
        usage: Usage,
    ) -> LoopResult:
        return _loop(self.chat, messages, schemas, execute, limits, usage, self._call)


def _loop(
    chat: Any,
    messages: list[tuple[str, str]],
    schemas: list[dict[str, Any]],
    execute: Executor,
    limits: LoopLimits,
    usage: Usage,
    call: Callable[[str, Callable[[], Any]], Any],
) -> LoopResult:
    """The model calls tools until it answers in text: each call executed (validated and
    recorded by `execute`), its result sent back; a malformed call is returned as an error once,
    the second ends the loop; the step cap, time budget and token cap end it too."""
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

    kinds = {"system": SystemMessage, "human": HumanMessage, "ai": AIMessage}
    history: list[Any] = [kinds[role](content=text) for role, text in messages]
    bound = chat.bind_tools(
        [{"type": "function", "function": schema} for schema in schemas], tool_choice="auto"
    )
    started, malformed, calls = time.monotonic(), 0, []
    for step in range(1, limits.max_steps + 1):
        if time.monotonic() - started > limits.time_budget_s:
            raise LLMFailure(f"tool loop: over its time budget of {limits.time_budget_s:g} s")
        reply = call("tool loop", functools.partial(bound.invoke, history))
        usage.add(reply)
        if usage.total > limits.max_tokens:
            raise LLMFailure(f"tool loop: over its budget of {limits.max_tokens:,} tokens")
        history.append(reply)
        refusal = (getattr(reply, "additional_kwargs", None) or {}).get("refusal")
        if refusal:
            raise LLMFailure(f"tool loop: the model refused ({str(refusal)[:120]})")
        answers: list[tuple[str, str]] = []
        for bad in getattr(reply, "invalid_tool_calls", None) or []:
            malformed += 1
            answers.append((bad.get("id") or "", f"error: malformed tool call: {bad.get('error')}"))
        for request in reply.tool_calls:
            calls.append(request["name"])
            try:
                answers.append((request["id"], execute(request["name"], request["args"])))
            except MalformedCall as error:
                malformed += 1
                answers.append((request["id"], f"error: {error}"))
        if malformed > 1:
            raise LLMFailure("tool loop: malformed tool calls twice")
        if answers:
            history.extend(ToolMessage(content=text, tool_call_id=i) for i, text in answers)
            continue
        content = reply.content if isinstance(reply.content, str) else ""
        if not content.strip():
            raise LLMFailure("tool loop: an empty answer")
        return LoopResult(text=content.strip(), steps=step, calls=calls)
    raise LLMFailure(f"tool loop: no answer within {limits.max_steps} steps")


def _describe(error: Exception) -> str:
    name = type(error).__name__
    status = getattr(error, "status_code", None)
    if status == 429 or "RateLimit" in name:
        return "rate limited (HTTP 429)"
    if "Timeout" in name:
        return "timed out"
    if status is not None:
        return f"HTTP {status} from the endpoint"
    if "Connection" in name:
        return "cannot reach the endpoint"
    return f"{name}: {str(error)[:200]}"


def make_backend(settings: AgentSettings | None = None) -> tuple[Backend, list[str]]:
    """The configured backend, or offline with a note saying why."""
    settings = settings or AgentSettings()
    if settings.llm == "offline":
        return OfflineBackend(), []
    try:
        return OpenAIBackend(settings), []
    except LLMFailure as error:
        return OfflineBackend(), [f"LLM unavailable ({error}); answered offline"]
