"""The chat runner: one agent per world, each case in a new thread, every turn timed and checked.

A turn is fully correct when its kind is the expected one, it ran the expected tools (the trace of
that turn, not the thread's evidence), every fact holds, and the global checks pass: all its
numbers grounded, no rank_causes unless a diagnosis was asked for and given, and no investigation
for out-of-scope, hostile or impossible-date questions.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import duckdb
from pydantic import BaseModel, Field, computed_field

from agent.service import Agent
from agent.settings import AgentSettings
from data.warehouse import WAREHOUSE_FILE
from evals.chat.cases import INVESTIGATION_TOOLS, LoadedCase, Turn
from evals.chat.facts import FactResult, check_fact

# Asked in a thread of their own before any turn is timed, so turns are timed warm: the world's
# connections, the detection scans and the imports are loaded once, as in a running service.
WARM_UP = ("hi", "were there any incidents?")
ANSWER_EXCERPT_CHARS = 700


class TurnResult(BaseModel):
    """One turn's answer against its expectations."""

    case: str
    world: str
    turn: int  # 0: the thread's first question; later turns are follow-ups
    question: str
    expected_kind: str
    kind: str | None = None
    expected_tools: list[str] = Field(default_factory=list)
    only_tools: bool = False
    tools: list[str] = Field(default_factory=list)  # run in this turn, in order (the trace)
    facts: list[FactResult] = Field(default_factory=list)
    grounding_numbers: int = 0
    grounding_grounded: int = 0
    grounding_ok: bool = False
    ungrounded: list[str] = Field(default_factory=list)  # numbers the checker could not trace
    unasked_diagnosis: bool = False  # rank_causes ran though no diagnosis was asked or given
    investigated: bool = False  # an investigation tool ran where none may
    seconds: float = 0.0
    answer: str = ""  # the first ANSWER_EXCERPT_CHARS characters
    error: str | None = None

    @computed_field
    @property
    def follow_up(self) -> bool:
        return self.turn > 0

    @computed_field
    @property
    def kind_ok(self) -> bool:
        return self.kind == self.expected_kind

    @computed_field
    @property
    def tools_ok(self) -> bool:
        if self.only_tools:
            return set(self.tools) == set(self.expected_tools)
        return set(self.expected_tools) <= set(self.tools)

    @computed_field
    @property
    def facts_ok(self) -> bool:
        return all(fact.ok for fact in self.facts)

    @computed_field
    @property
    def grounded(self) -> bool:
        return self.grounding_ok and self.grounding_grounded == self.grounding_numbers

    @computed_field
    @property
    def correct(self) -> bool:
        return (
            self.error is None
            and self.kind_ok
            and self.tools_ok
            and self.facts_ok
            and self.grounded
            and not self.unasked_diagnosis
            and not self.investigated
        )

    def misses(self) -> list[str]:
        """Each failed check, saying what was expected and what was got."""
        if self.error is not None:
            return [f"error: {self.error.strip().splitlines()[-1]}"]
        found = []
        if not self.kind_ok:
            found.append(f"kind: expected {self.expected_kind}, got {self.kind}")
        if not self.tools_ok:
            relation = "exactly" if self.only_tools else "at least"
            found.append(
                f"tools: expected {relation} {self.expected_tools or 'none'}, got "
                f"{self.tools or 'none'}"
            )
        for fact in self.facts:
            if not fact.ok:
                found.append(
                    f"fact '{fact.label}' ({fact.check}): expected {fact.expected}; {fact.detail}"
                )
        if not self.grounded:
            untraced = f": {', '.join(self.ungrounded)}" if self.ungrounded else ""
            found.append(
                f"grounding: {self.grounding_grounded}/{self.grounding_numbers} numbers grounded "
                f"(ok={self.grounding_ok}){untraced}"
            )
        if self.unasked_diagnosis:
            found.append(f"unasked diagnosis: rank_causes ran in a {self.kind} answer")
        if self.investigated:
            ran = [tool for tool in self.tools if tool in INVESTIGATION_TOOLS]
            found.append(f"investigation where none may run: {ran}")
        return found


def turn_tools(result: dict[str, Any]) -> list[str]:
    """The tools the answer's turn ran, from its trace (not the thread's evidence ledger)."""
    return [
        call["tool"] for node in result.get("trace") or [] for call in node.get("tool_calls") or []
    ]


def check_turn(
    loaded: LoadedCase,
    index: int,
    turn: Turn,
    result: dict[str, Any],
    seconds: float,
    con: duckdb.DuckDBPyConnection,
) -> TurnResult:
    """A turn's answer checked against its expectations."""
    tools = turn_tools(result)
    grounding = result.get("grounding") or {}
    kind = result.get("kind")
    return TurnResult(
        **_identity(loaded, index, turn),
        kind=kind,
        tools=tools,
        facts=[check_fact(fact, con, result) for fact in turn.facts],
        grounding_numbers=int(grounding.get("numbers") or 0),
        grounding_grounded=int(grounding.get("grounded") or 0),
        grounding_ok=grounding.get("ok") is True,
        ungrounded=[
            f"'{problem.get('text')}' ({problem.get('reason')})"
            for problem in grounding.get("problems") or []
            if isinstance(problem, dict)
        ],
        unasked_diagnosis="rank_causes" in tools
        and (turn.kind != "diagnose" or kind != "diagnose"),
        investigated=turn.investigation_forbidden
        and any(tool in INVESTIGATION_TOOLS for tool in tools),
        seconds=seconds,
        answer=str(result.get("answer") or "")[:ANSWER_EXCERPT_CHARS],
    )


def _identity(loaded: LoadedCase, index: int, turn: Turn) -> dict[str, Any]:
    return {
        "case": loaded.name,
        "world": loaded.world,
        "turn": index,
        "question": turn.question,
        "expected_kind": turn.kind,
        "expected_tools": list(turn.tools),
        "only_tools": turn.only_tools,
    }


def run_world(
    world_dir: Path,
    cases: list[LoadedCase],
    llm: Literal["offline", "openai"] = "offline",
    on_turn: Callable[[TurnResult], None] | None = None,
) -> list[TurnResult]:
    """Run the cases of one world with one agent (warmed up first); a turn that raises is a
    failed turn, and the thread goes on."""
    agent = Agent(world_dir, AgentSettings(llm=llm))
    con = duckdb.connect(str(Path(world_dir) / WAREHOUSE_FILE), read_only=True)
    results = []
    try:
        for question in WARM_UP:
            agent.ask(question, "chat-warm-up")
        for loaded in cases:
            thread = f"chat:{loaded.name}"
            for index, turn in enumerate(loaded.case.turns):
                started = time.perf_counter()
                try:
                    answer = agent.ask(turn.question, thread)
                    seconds = time.perf_counter() - started
                    result = check_turn(loaded, index, turn, answer, seconds, con)
                except Exception:  # a crash is a failed turn, never a lost suite
                    result = TurnResult(
                        **_identity(loaded, index, turn),
                        seconds=time.perf_counter() - started,
                        error=traceback.format_exc(limit=8),
                    )
                results.append(result)
                if on_turn is not None:
                    on_turn(result)
    finally:
        con.close()
        agent.close()
    return results


def run_chat(
    cases: list[LoadedCase],
    worlds: dict[str, Path],
    llm: Literal["offline", "openai"] = "offline",
    on_turn: Callable[[TurnResult], None] | None = None,
) -> list[TurnResult]:
    """Every case on its world (`worlds`: world name -> directory), world by world."""
    results = []
    for world in dict.fromkeys(loaded.world for loaded in cases):
        chosen = [loaded for loaded in cases if loaded.world == world]
        results += run_world(worlds[world], chosen, llm, on_turn)
    return results
