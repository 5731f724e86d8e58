"""Agent settings from environment variables (documented in the README)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from tools.result_store import ResultStoreSettings


class AgentSettings(ResultStoreSettings):
    """CXAGENT_* variables; OPENAI_API_KEY / OPENAI_BASE_URL are read too. `result_cache`
    (CXAGENT_RESULT_CACHE) is declared with the result store, which reads it itself when a
    world's WorldCache is bound (tools may not import the agent)."""

    model_config = SettingsConfigDict(env_prefix="CXAGENT_", extra="ignore")

    llm: Literal["offline", "openai"] = "offline"
    openai_model: str = "gpt-4o-mini"
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("CXAGENT_OPENAI_BASE_URL", "OPENAI_BASE_URL")
    )
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("CXAGENT_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    llm_timeout_s: float = Field(default=30.0, gt=0, le=600)
    narrative_attempts: int = Field(default=2, ge=1, le=5)  # LLM narrations before the template
    untrusted_text_cap: int = Field(default=200, ge=20, le=2000)  # characters of data text
    # The LLM's tool loop: model turns per answer, wall time, tokens, and what it is shown.
    llm_max_steps: int = Field(default=8, ge=1, le=30)
    llm_time_budget_s: float = Field(default=120.0, gt=0, le=1800)
    llm_max_tokens: int = Field(default=60_000, ge=1_000, le=2_000_000)  # prompt + completion
    llm_tool_rows: int = Field(default=20, ge=1, le=200)  # table rows of a tool result it sees
    llm_history_turns: int = Field(default=3, ge=0, le=20)  # earlier turns quoted in the prompt
    # Conversations (agent/threads.py): threads stored in WORLD/threads.sqlite (the least
    # recently answered beyond this are deleted), and tool contexts held in memory (LRU, and
    # let go after this many idle seconds; the thread stays on disk and reopens when asked).
    max_threads: int = Field(default=500, ge=1, le=1_000_000)
    max_open_threads: int = Field(default=64, ge=1, le=10_000)
    max_idle_thread_s: float = Field(default=1800.0, gt=0, le=7 * 86_400)
