"""Chat case files: questions in threads, each turn with its expected kind, tools and facts.

A case file (YAML) names its world, a scenario of evals/scenarios, and lists cases; a case is
one conversation (a new thread): one question, or a question and its follow-ups.

```yaml
world: demo
cases:
  - name: lookup_grocery_on_time_yesterday
    turns:
      - question: what was the on-time rate in grocery yesterday?
        kind: lookup
        tools: [metric_summary]        # must run in this turn (more may run)
        facts:
          - label: grocery on-time rate on Jan 4
            sql: SELECT {on_time_rate} FROM order_facts
                 WHERE category = 'grocery' AND day = DATE '2026-01-04'
            format: share
```
`only_tools: true` makes `tools` the exact set the turn may run (none when empty); `tags` mark
questions that must run no investigation (hostile, off_topic, nonsense, impossible_date,
outside_data). Facts: evals/chat/facts.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent.question import Kind
from data.scenario import Scenario, ScenarioError, load_scenario
from evals.chat.facts import Fact
from evals.suite import EXPECTED_SUFFIX, SUITE_DIR
from tools.catalog import REGISTRY

CASES_DIR = Path(__file__).parent / "cases"
INVESTIGATION_TOOLS = ("detect_incidents", "top_slices", "rank_causes")
Tag = Literal["hostile", "off_topic", "nonsense", "greeting", "impossible_date", "outside_data"]
NO_INVESTIGATION_TAGS = frozenset(
    {"hostile", "off_topic", "nonsense", "impossible_date", "outside_data"}
)


class ChatSuiteError(ValueError):
    """A case file that cannot be used; the message names the file and the problem."""


class Turn(BaseModel):
    """One question of a thread and what its answer must be."""

    model_config = ConfigDict(extra="forbid")

    question: str
    kind: Kind
    tools: list[str] = Field(default_factory=list)  # tools this turn must run (a subset)
    only_tools: bool = False  # True: the turn runs exactly `tools`, no other
    facts: list[Fact] = Field(default_factory=list)
    tags: list[Tag] = Field(default_factory=list)
    note: str = ""  # why the expectation is what it is, where that is not obvious

    @field_validator("tools")
    @classmethod
    def _known_tools(cls, tools: list[str]) -> list[str]:
        unknown = [tool for tool in tools if tool not in REGISTRY]
        if unknown:
            raise ValueError(f"unknown tools {unknown}; known: {', '.join(sorted(REGISTRY))}")
        return tools

    @property
    def investigation_forbidden(self) -> bool:
        """Off-topic, hostile and impossible-date questions run no investigation."""
        return self.kind == "out_of_scope" or bool(NO_INVESTIGATION_TAGS & set(self.tags))


class ChatCase(BaseModel):
    """One conversation: its turns run in order in a new thread."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    note: str = ""
    turns: list[Turn] = Field(min_length=1)


class CaseFile(BaseModel):
    """A case file: the world its cases run on, and the cases."""

    model_config = ConfigDict(extra="forbid")

    world: str
    cases: list[ChatCase] = Field(min_length=1)


@dataclass(frozen=True)
class LoadedCase:
    """A case with the world it runs on and the file it came from."""

    world: str
    case: ChatCase
    source: str

    @property
    def name(self) -> str:
        return self.case.name


def world_scenario(world: str) -> Scenario:
    """The scenario a case file's `world` names (a file of evals/scenarios)."""
    return load_scenario(SUITE_DIR / f"{world}.yaml")


def _where(location: tuple[Any, ...], raw: Any) -> str:
    """'cases[3] (name).turns[0].kind' for a validation error's location."""
    parts: list[str] = []
    node = raw
    for step in location:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            node = None
        if isinstance(step, int) and parts:
            named = node.get("name") if isinstance(node, dict) else None
            parts[-1] += f"[{step}]" + (f" ({named})" if named else "")
        else:
            parts.append(str(step))
    return ".".join(parts) or "(top level)"


def load_case_file(path: Path) -> list[LoadedCase]:
    """The cases of one file; ChatSuiteError names the file and each bad field."""
    try:
        raw = yaml.safe_load(path.read_text())
        parsed = CaseFile.model_validate(raw)
    except yaml.YAMLError as error:
        raise ChatSuiteError(f"{path}: not valid YAML: {error}") from None
    except ValidationError as error:
        problems = "; ".join(f"{_where(e['loc'], raw)}: {e['msg']}" for e in error.errors())
        raise ChatSuiteError(f"{path}: invalid chat cases: {problems}") from None
    try:
        world_scenario(parsed.world)
    except ScenarioError:
        scenarios = [
            p.stem for p in SUITE_DIR.glob("*.yaml") if not p.name.endswith(EXPECTED_SUFFIX)
        ]
        known = ", ".join(sorted(scenarios))
        raise ChatSuiteError(f"{path}: unknown world {parsed.world!r}; known: {known}") from None
    return [LoadedCase(parsed.world, case, str(path)) for case in parsed.cases]


def load_chat_suite(
    directory: Path = CASES_DIR, names: list[str] | None = None
) -> list[LoadedCase]:
    """Every case of the directory's case files (or the named ones), in file order."""
    directory = Path(directory)
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise ChatSuiteError(f"{directory} holds no case files (*.yaml)")
    cases: list[LoadedCase] = []
    seen: dict[str, str] = {}
    for path in paths:
        for loaded in load_case_file(path):
            if loaded.name in seen:
                raise ChatSuiteError(
                    f"{path}: case {loaded.name!r} is also in {seen[loaded.name]}; names are unique"
                )
            seen[loaded.name] = str(path)
            cases.append(loaded)
    if names:
        unknown = [name for name in names if name not in seen]
        if unknown:
            raise ChatSuiteError(f"no chat cases {unknown} in {directory}")
        cases = [loaded for loaded in cases if loaded.name in names]
    return cases
