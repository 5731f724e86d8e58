"""Agent settings from environment variables (documented in the README)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class AgentSettings(BaseSettings):
    """CXAGENT_* variables; OPENAI_API_KEY / OPENAI_BASE_URL are read too."""

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
    max_drilldowns: int = Field(default=2, ge=0, le=5)  # extra SQL the LLM may ask for
    untrusted_text_cap: int = Field(default=200, ge=20, le=2000)  # characters of data text
