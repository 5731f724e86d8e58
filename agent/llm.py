"""LLM backends behind one factory: `offline` (deterministic, no key) and `openai` (any
OpenAI-compatible endpoint). Every LLM step may fail; callers fall back to the offline path."""

from __future__ import annotations

import datetime as dt
import json
import string
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from agent.narrative import template_narrative
from agent.parsing import read_question
from agent.question import KINDS, QuestionPlan
from agent.settings import AgentSettings
from agent.vocabulary import SYNTHETIC, Vocabulary

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"


class LLMFailure(RuntimeError):
    """An LLM step failed (timeout, rate limit, malformed output, refusal); the message says
    which, and the caller answers offline."""


def prompt(name: str, **values: Any) -> str:
    """A prompt template from prompts/ with $placeholders filled."""
    template = string.Template((PROMPTS / f"{name}.md").read_text())
    return template.substitute({key: str(value) for key, value in values.items()})


def untrusted(value: Any, cap: int) -> Any:
    """Data text made safe to quote: strings capped and stripped of control characters."""
    if isinstance(value, str):
        cleaned = "".join(ch for ch in value if ch.isprintable())
        return cleaned if len(cleaned) <= cap else cleaned[:cap] + "…"
    if isinstance(value, dict):
        return {key: untrusted(item, cap) for key, item in value.items()}
    if isinstance(value, list):
        return [untrusted(item, cap) for item in value]
    return value


class Backend(Protocol):
    """What the agent asks of a language model."""

    name: str

    def parse(
        self,
        question: str,
        data_start: dt.date,
        data_end: dt.date,
        previous: QuestionPlan | None = None,
        scope: QuestionPlan | None = None,
        vocabulary: Vocabulary = SYNTHETIC,
    ) -> QuestionPlan: ...

    def narrate(
        self, question: str, facts: dict[str, Any], evidence: list[dict[str, Any]], feedback: str
    ) -> str: ...

    def write_sql(self, plan: str, schema: str) -> list[str]: ...


class OfflineBackend:
    """Deterministic: rule-based reading, the template narrative, SQL from the metric registry."""

    name = "offline"

    def parse(
        self,
        question: str,
        data_start: dt.date,
        data_end: dt.date,
        previous: QuestionPlan | None = None,
        scope: QuestionPlan | None = None,
        vocabulary: Vocabulary = SYNTHETIC,
    ) -> QuestionPlan:
        return read_question(question, data_start, data_end, previous, scope, vocabulary=vocabulary)

    def narrate(
        self, question: str, facts: dict[str, Any], evidence: list[dict[str, Any]], feedback: str
    ) -> str:
        return template_narrative(facts, evidence)

    def write_sql(self, plan: str, schema: str) -> list[str]:
        return []


class DrilldownQueries(BaseModel):
    """SQL queries an LLM proposes for a described question."""

    queries: list[str] = Field(default_factory=list, max_length=5)


class OpenAIBackend:
    """Any OpenAI-compatible chat endpoint through langchain-openai (tool-calling for
    structured output); no retries: a failure falls back to offline at once."""

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

    def parse(
        self,
        question: str,
        data_start: dt.date,
        data_end: dt.date,
        previous: QuestionPlan | None = None,
        scope: QuestionPlan | None = None,
        vocabulary: Vocabulary = SYNTHETIC,
    ) -> QuestionPlan:
        from analytics.cohorts import DIMENSIONS
        from analytics.metrics import CX_SCORE, METRICS
        from tools.actions import ACTIONS

        cap = self.settings.untrusted_text_cap
        earlier = {
            "previous": previous.model_dump(mode="json", exclude={"notes"}) if previous else None,
            "scope": scope.model_dump(mode="json", exclude={"notes"}) if scope else None,
        }
        text = prompt(
            "parse",
            question=untrusted(question, 2000),
            data_start=data_start,
            data_end=data_end,
            kinds=", ".join(KINDS),
            metrics=", ".join([CX_SCORE, *METRICS, "orders"]),
            dimensions=", ".join(DIMENSIONS),
            regions=untrusted(", ".join(vocabulary.regions[:60]), 2000),
            categories=untrusted(", ".join(vocabulary.categories[:120]), 3000),
            actions=", ".join(f"{name} ({spec.signature()})" for name, spec in ACTIONS.items()),
            earlier=json.dumps(untrusted(earlier, cap), default=str),
        )
        structured = self.chat.with_structured_output(QuestionPlan, method="function_calling")
        parsed = self._call("parse", lambda: structured.invoke(text))
        if not isinstance(parsed, QuestionPlan):
            raise LLMFailure("parse: the model returned no structured answer")
        return parsed

    def narrate(
        self, question: str, facts: dict[str, Any], evidence: list[dict[str, Any]], feedback: str
    ) -> str:
        cap = self.settings.untrusted_text_cap
        text = prompt(
            "narrate",
            question=untrusted(question, 2000),
            facts=json.dumps(untrusted(facts, cap), default=str),
            evidence=json.dumps(untrusted(evidence, cap), default=str),
            feedback=feedback,
        )
        reply = self._call("narrate", lambda: self.chat.invoke(text))
        content = getattr(reply, "content", "")
        if not isinstance(content, str) or not content.strip():
            raise LLMFailure("narrate: empty reply")
        return content.strip()

    def write_sql(self, plan: str, schema: str) -> list[str]:
        text = prompt(
            "drilldown",
            question=untrusted(plan, 2000),
            schema=schema,
            max_queries=self.settings.max_drilldowns,
        )
        structured = self.chat.with_structured_output(DrilldownQueries, method="function_calling")
        result = self._call("sql", lambda: structured.invoke(text))
        if not isinstance(result, DrilldownQueries):
            raise LLMFailure("sql: the model returned no structured answer")
        return result.queries[: self.settings.max_drilldowns]


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
